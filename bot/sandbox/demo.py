"""`python -m bot demo` (and `make run` without Slack credentials): the bot against local
Slack and provider stand-ins, a scripted session, and what a person would see."""

from __future__ import annotations

import re
import sys
from typing import Any

from bot.logs import configure_logging
from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS


def _plain(text: str) -> str:
    """Slack mrkdwn as a terminal shows it."""
    return re.sub(r"[*`]", "", text)


def say(line: str = "") -> None:
    print(line, flush=True)


def show_reply(who: str, typed: str, answer: dict[str, Any] | None) -> None:
    say(f"{who}> {typed}")
    text = (answer or {}).get("text", "")
    for line in _plain(text).splitlines():
        say(f"    │ {line}")
    say()


async def run_demo() -> int:
    configure_logging("WARNING", "console")
    say("Telephony chat-ops bot — sandbox demo")
    say("(local Slack Web API emulator and CINNOX / Bandwidth / Yeastar simulators on loopback)")
    say()
    async with SandboxStack(providers=_providers_available()) as stack:
        user = stack.user("U0DEMO")
        say(f"Bot listening on {stack.url} (Slack requests are signed exactly as Slack signs them)")
        say()
        for name in COMMANDS:
            reply = await user.command(name, "help")
            if reply.status != 200:
                say(f"{name} help → HTTP {reply.status}")
                return 1
            show_reply("ops", f"{name} help", reply.json)
        say("Demo finished: every command answered.")
    return 0


def _providers_available() -> bool:
    try:
        import bot.sandbox.bandwidth_sim
        import bot.sandbox.cinnox_sim
        import bot.sandbox.yeastar_sim  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    import asyncio

    sys.exit(asyncio.run(run_demo()))
