"""Helpers for driving modals the way a person does, and waiting (bounded) for the bot's
after-ack work to show up in the Slack emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.sandbox.slack_user import SlackUser

T = TypeVar("T")


async def eventually(predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll until ``predicate`` returns something truthy (no timing assertion: a bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("the expected Slack state never appeared")
        await asyncio.sleep(0.01)


async def eventually_async(check: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """``eventually`` for a check that has to await (e.g. a store query)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        if loop.time() > deadline:
            raise AssertionError("the expected state never appeared")
        await asyncio.sleep(0.02)
    return result


async def open_modal(user: SlackUser, command: str, text: str = "") -> dict[str, Any]:
    return await user.open_modal(command, text)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def view_text(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if "text" in b and isinstance(b["text"], dict))


async def submit_and_wait(user: SlackUser, view: dict[str, Any], values: dict[str, Any]) -> str:
    """Submit; the answer is the outcome itself (a quick provider) or "Creating…", which the
    outcome replaces later; return the outcome view's text."""
    reply = await user.submit(view, values)
    assert reply.status == 200, reply.text
    answer = reply.json
    assert answer and answer["response_action"] == "update", answer
    if "Creating" not in view_text(answer["view"]):
        return view_text(answer["view"])
    view_id = view["id"]
    return await eventually(
        lambda: (t := view_text(user.slack.views[view_id])) and "Creating" not in t and t)


async def changed(
    user: SlackUser, view: dict[str, Any], block_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """A dispatch_action input changed: return the re-rendered view."""
    before = user.slack.views[view["id"]]["hash"]
    reply = await user.click(view, "value", block_id=block_id, values=values)
    assert reply.status == 200
    await eventually(lambda: user.slack.views[view["id"]]["hash"] != before)
    return user.slack.views[view["id"]]


async def add_row(user: SlackUser, view: dict[str, Any], list_field: str) -> dict[str, Any]:
    before = user.slack.views[view["id"]]["hash"]
    reply = await user.click(view, "add_row", value=list_field, block_id=f"add.{list_field}")
    assert reply.status == 200
    await eventually(lambda: user.slack.views[view["id"]]["hash"] != before)
    return user.slack.views[view["id"]]
