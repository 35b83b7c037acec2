"""The Block Kit rules Slack enforces on a view, checked by the emulator so that a view
Slack would refuse fails in the tests and the demo too, not only in a real workspace.
(https://api.slack.com/reference/surfaces/views, .../block-kit/blocks, .../composition-objects)"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_files import file_input_problems
from bot.sandbox.slack_rules import VIEW_BLOCKS, blocks_problems

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
    problems += blocks_problems(blocks, VIEW_BLOCKS, "/view/blocks")
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
    if len(view.get("external_id") or "") > 255:
        problems.append("external_id: at most 255 characters")
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "input":
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
    element = block.get("element") or {}
    if not element.get("action_id"):
        problems.append(f"{where}: its element needs an action_id")
    if element.get("type") == "plain_text_input":
        limit = element.get("max_length", 3000)
        if len(element.get("initial_value") or "") > limit:
            problems.append(f"{where}: initial_value longer than max_length")
    if element.get("type") in SELECTS:
        options = element.get("options") or []
        chosen = [element["initial_option"]] if element.get("initial_option") else element.get(
            "initial_options") or []
        for option in chosen:
            if option not in options:
                problems.append(f"{where}: an initial option is not one of its options")
    return problems
