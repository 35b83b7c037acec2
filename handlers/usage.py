"""`help` and unknown sub-commands: every command answers them the same way."""

from __future__ import annotations

from typing import Any

from bot.mrkdwn import code
from handlers.commands import COMMANDS, is_help, split


def usage_answer(command: str, text: str, known: tuple[str, ...] = ("",)) -> dict[str, Any] | None:
    """The ephemeral usage message when ``text`` asks for help or names an unknown
    sub-command (``known`` lists the accepted ones, "" = none given); else None."""
    spec = COMMANDS[command]
    sub, _ = split(text)
    if is_help(text) or (not sub and "" not in known):
        return {"response_type": "ephemeral", "text": spec.help_text}
    if sub not in known:
        return {
            "response_type": "ephemeral",
            "text": f"I don't know {code(f'{command} {sub}')}.\n\n{spec.help_text}",
        }
    return None
