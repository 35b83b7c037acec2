"""The Block Kit rules Slack enforces on a view, checked by the emulator so that a view
Slack would refuse fails in the tests and the demo too, not only in a real workspace.
(https://api.slack.com/reference/surfaces/views, .../block-kit/blocks, .../composition-objects)"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_files import file_input_problems

SELECTS = ("static_select", "multi_static_select", "radio_buttons", "checkboxes")


def view_problems(view: dict[str, Any]) -> list[str]:
    """Why Slack would refuse ``view`` (empty when it would take it)."""
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"type must be modal or home, not {kind!r}"]
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return ["blocks is required"]
    if len(blocks) > 100:
        problems.append(f"{len(blocks)} blocks: at most 100")
    if kind == "modal":
        if not isinstance(view.get("title"), dict):
            problems.append("title is required")
        for key in ("title", "submit", "close"):
            text = (view.get(key) or {}).get("text", "")
            if len(text) > 24:
                problems.append(f"{key} {text!r}: at most 24 characters")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata: at most 3,000 characters")
    if len(view.get("callback_id") or "") > 255:
        problems.append("callback_id: at most 255 characters")
    seen: set[str] = set()
    for block in blocks:
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                problems.append(f"block_id {block_id!r} appears twice")
            if len(block_id) > 255:
                problems.append(f"block_id {block_id[:40]!r}…: at most 255 characters")
            seen.add(block_id)
        if block.get("type") == "input":
            problems += _input_problems(block, kind)
    return problems


def errors_problems(view: dict[str, Any], errors: dict[str, str]) -> list[str]:
    """A ``response_action: errors`` answer may only name the view's input blocks."""
    inputs = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    return [f"errors name {key!r}, which is not an input block of the view"
            for key in errors if key not in inputs]


def _input_problems(block: dict[str, Any], surface: str) -> list[str]:
    where = f"input {block.get('block_id')!r}"
    problems: list[str] = []
    if (block.get("element") or {}).get("type") == "file_input":
        problems += file_input_problems(block["element"], where, surface)
    if len((block.get("label") or {}).get("text", "")) > 2000:
        problems.append(f"{where}: label over 2,000 characters")
    if len((block.get("hint") or {}).get("text", "")) > 2000:
        problems.append(f"{where}: hint over 2,000 characters")
    element = block.get("element") or {}
    if not element.get("action_id"):
        problems.append(f"{where}: its element needs an action_id")
    if len((element.get("placeholder") or {}).get("text", "")) > 150:
        problems.append(f"{where}: placeholder over 150 characters")
    if element.get("type") == "plain_text_input":
        limit = element.get("max_length", 3000)
        if len(element.get("initial_value") or "") > limit:
            problems.append(f"{where}: initial_value longer than max_length")
    if element.get("type") in SELECTS:
        options = element.get("options") or []
        if len(options) > 100:
            problems.append(f"{where}: {len(options)} options, at most 100")
        values = []
        for option in options:
            text, value = option.get("text", {}).get("text", ""), option.get("value", "")
            values.append(value)
            if len(text) > 75 or len(value) > 150:
                problems.append(f"{where}: option {text[:30]!r}… over 75 characters (text) or 150 (value)")
        chosen = [element["initial_option"]] if element.get("initial_option") else element.get(
            "initial_options") or []
        for option in chosen:
            if option.get("value") not in values or option not in options:
                problems.append(f"{where}: an initial option is not one of its options")
    return problems
