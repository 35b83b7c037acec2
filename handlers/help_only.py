"""Commands whose forms are not wired yet answer with their usage."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers.commands import COMMANDS
from handlers.usage import usage_answer


def register(app: AsyncApp, services: Services, skip: set[str] | frozenset[str] = frozenset()) -> None:
    for name in COMMANDS:
        if name not in skip:
            app.command(name)(_answer_usage)


async def _answer_usage(ack: Any, command: dict[str, Any]) -> None:
    name = command["command"]
    answer = usage_answer(name, command.get("text", "")) or usage_answer(name, "help")
    await ack(**answer)  # type: ignore[arg-type]
