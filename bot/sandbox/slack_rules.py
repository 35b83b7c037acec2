"""Block Kit rules Slack checks on every surface (modal, App Home, message, ephemeral
message, response_url message), and on message metadata, each answered as Slack words it:
``[ERROR] <what> [json-pointer:<where>]``. Sources are in the table of
``bot/sandbox/slack.py``."""

from __future__ import annotations

import json
from typing import Any

#: blocks a surface holds (Block Kit "Blocks": 50 in a message, 100 in a modal or Home)
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
#: a message's top-level text (Slack truncates, then refuses, past 40,000 characters)
MESSAGE_TEXT = 40_000
#: a message's blocks, serialized: undocumented, Slack answers msg_blocks_too_long past
#: about 13,000 characters (slackapi/bolt-js#2509); the emulator refuses past this.
MESSAGE_BLOCKS_CHARS = 13_000
#: message metadata, serialized; Slack answers metadata_too_large past its (unpublished) size
METADATA_CHARS = 8_000

_STYLES = ("primary", "danger")
_SELECTS = ("static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow")


def blocks_problems(blocks: Any, limit: int, root: str = "/blocks") -> list[str]:
    """Why Slack would refuse these blocks on one surface (empty when it takes them)."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{root}]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{root}]")
    seen: set[str] = set()
    for n, block in enumerate(blocks):
        where = f"{root}/{n}"
        if not isinstance(block, dict):
            problems.append(f"[ERROR] must be an object [json-pointer:{where}]")
            continue
        problems += _unique(block, "block_id", seen, where)
        problems += _block(block, where)
    return problems


def _block(block: dict[str, Any], where: str) -> list[str]:
    kind = block.get("type")
    problems: list[str] = []
    elements: list[tuple[dict[str, Any], str]] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"[ERROR] must provide text or fields [json-pointer:{where}]")
        if "text" in block:
            problems += _text(block["text"], 3000, f"{where}/text")
        fields = block.get("fields") or []
        if len(fields) > 10:
            problems.append(f"[ERROR] no more than 10 items allowed [json-pointer:{where}/fields]")
        for i, text in enumerate(fields):
            problems += _text(text, 2000, f"{where}/fields/{i}")
        if isinstance(block.get("accessory"), dict):
            elements.append((block["accessory"], f"{where}/accessory"))
    elif kind == "header":
        problems += _text(block.get("text"), 150, f"{where}/text", plain=True)
    elif kind == "context":
        items = block.get("elements") or []
        if not 1 <= len(items) <= 10:
            problems.append(f"[ERROR] must provide 1 to 10 items [json-pointer:{where}/elements]")
        for i, item in enumerate(items):
            if item.get("type") in ("plain_text", "mrkdwn"):
                problems += _text(item, 3000, f"{where}/elements/{i}")
    elif kind == "actions":
        items = block.get("elements") or []
        if not 1 <= len(items) <= 25:
            problems.append(f"[ERROR] must provide 1 to 25 items [json-pointer:{where}/elements]")
        elements += [(e, f"{where}/elements/{i}") for i, e in enumerate(items)]
    elif kind == "input":
        problems += _text(block.get("label"), 2000, f"{where}/label", plain=True)
        if "hint" in block:
            problems += _text(block["hint"], 2000, f"{where}/hint", plain=True)
        if isinstance(block.get("element"), dict):
            elements.append((block["element"], f"{where}/element"))
    action_ids: set[str] = set()
    for element, at in elements:
        problems += _unique(element, "action_id", action_ids, at)
        problems += element_problems(element, at)
    return problems


def _unique(item: dict[str, Any], key: str, seen: set[str], where: str) -> list[str]:
    """A block_id among the surface's, an action_id among its block's: once, 255 at most."""
    value = item.get(key)
    if value is None:
        return []
    problems = _length(value, 255, f"{where}/{key}")
    if value in seen:
        problems.append(f"[ERROR] {key} already exists [json-pointer:{where}/{key}]")
    seen.add(value)
    return problems


def element_problems(element: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    kind = element.get("type")
    if kind == "button":
        problems += _text(element.get("text"), 75, f"{where}/text", plain=True)
        problems += _length(element.get("value"), 2000, f"{where}/value")
        problems += _length(element.get("url"), 3000, f"{where}/url")
        if "style" in element and element["style"] not in _STYLES:
            problems.append(f"[ERROR] must be one of primary, danger [json-pointer:{where}/style]")
    if "placeholder" in element:
        problems += _text(element["placeholder"], 150, f"{where}/placeholder", plain=True)
    if kind in _SELECTS:
        options = element.get("options") or []
        if len(options) > 100:
            problems.append(f"[ERROR] no more than 100 items allowed [json-pointer:{where}/options]")
        for i, option in enumerate(options):
            problems += _text(option.get("text"), 75, f"{where}/options/{i}/text")
            problems += _length(option.get("value"), 150, f"{where}/options/{i}/value")
    if "confirm" in element:
        problems += confirm_problems(element["confirm"], f"{where}/confirm")
    return problems


def confirm_problems(confirm: Any, where: str) -> list[str]:
    """A confirmation dialog: title (100), text (300), confirm and deny (30 each), all
    required, title/confirm/deny plain_text; style primary or danger."""
    if not isinstance(confirm, dict):
        return [f"[ERROR] must be an object [json-pointer:{where}]"]
    problems = _text(confirm.get("title"), 100, f"{where}/title", plain=True)
    problems += _text(confirm.get("text"), 300, f"{where}/text")
    problems += _text(confirm.get("confirm"), 30, f"{where}/confirm", plain=True)
    problems += _text(confirm.get("deny"), 30, f"{where}/deny", plain=True)
    if "style" in confirm and confirm["style"] not in _STYLES:
        problems.append(f"[ERROR] must be one of primary, danger [json-pointer:{where}/style]")
    return problems


def _text(text: Any, limit: int, where: str, *, plain: bool = False) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in (("plain_text",) if plain
                                                             else ("plain_text", "mrkdwn")):
        kinds = "plain_text" if plain else "plain_text or mrkdwn"
        return [f"[ERROR] must be a {kinds} text object [json-pointer:{where}]"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{where}/text]"]
    return _length(value, limit, f"{where}/text")


def _length(value: Any, limit: int, where: str) -> list[str]:
    if isinstance(value, str) and len(value) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}]"]
    return []


def metadata_error(metadata: Any) -> str | None:
    """Slack's error for a message's metadata: a JSON object with a string ``event_type``
    and an object ``event_payload``, within Slack's size."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return "invalid_metadata_format"
    if not isinstance(metadata, dict):
        return "invalid_metadata_format"
    if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"] \
            or not isinstance(metadata.get("event_payload"), dict):
        return "invalid_metadata_schema"
    if len(json.dumps(metadata, separators=(",", ":"))) > METADATA_CHARS:
        return "metadata_too_large"
    return None


def message_error(text: Any, blocks: Any, *, blocks_given: bool) -> tuple[str, list[str]] | None:
    """Slack's answer to a message it refuses: (error, [ERROR] messages), else None."""
    if blocks_given:
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return "invalid_blocks_format", []
        if not isinstance(blocks, list):
            return "invalid_blocks_format", []
        problems = blocks_problems(blocks, MESSAGE_BLOCKS)
        if problems:
            return "invalid_blocks", problems
        if len(json.dumps(blocks, separators=(",", ":"))) > MESSAGE_BLOCKS_CHARS:
            return "msg_blocks_too_long", []
    if not text and not blocks:
        return "no_text", []
    if isinstance(text, str) and len(text) > MESSAGE_TEXT:
        return "msg_too_long", []
    return None
