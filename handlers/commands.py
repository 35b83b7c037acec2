"""The slash commands: names, what they do and their usage, in one table. The manifest,
the App Home and every command's `help` read it, so they never disagree; `help` and unknown
sub-commands are answered the same way by every command (``usage_answer``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bot.mrkdwn import code, escape


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # ≤ 100 characters (manifest limit)
    usage_hint: str
    usage: tuple[str, ...]  # one line per form, shown by `help`
    provider: str  # the provider it needs
    read_only: tuple[str, ...] = ()  # sub-commands that change nothing: open to every member

    @cached_property  # every `help` answers it: built once (the dataclass is frozen)
    def help_text(self) -> str:
        lines = [f"*{self.name}* — {self.description}", "", "*Usage*"]
        for line in (*self.usage, f"{self.name} help — this message"):
            form, _, what = line.partition(" — ")
            # Escaped: Slack would read "<#channel>" as a (broken) channel link.
            lines.append(f"• `{escape(form)}` — {what}")
        return "\n".join(lines)

    @property
    def synopsis(self) -> str:
        """``/call-events subscribe|…``, escaped for mrkdwn."""
        return escape(f"{self.name} {self.usage_hint}")


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "/service-group",
            "Create a CINNOX destination (service group)",
            "[help]",
            ("/service-group — open the form to create a service group",),
            "cinnox",
        ),
        Command(
            "/contact",
            "Create a CINNOX external contact",
            "[import|help]",
            ("/contact — open the form to create an external contact",
             "/contact import — create many from a CSV file: checked first, then created with progress"),
            "cinnox",
        ),
        Command(
            "/sip-endpoint",
            "Create a Bandwidth SIP endpoint on a domain",
            "[import|help]",
            ("/sip-endpoint — open the form to create a SIP endpoint",
             "/sip-endpoint import — create many from a CSV file: checked first, then created with progress"),
            "bandwidth",
        ),
        Command(
            "/message-channel",
            "Create a Yeastar message channel (SMS, WhatsApp, Facebook)",
            "[sms|whatsapp|facebook|help]",
            (
                "/message-channel — choose the kind of channel in the form",
                "/message-channel sms — an SMS channel (12 SMS providers)",
                "/message-channel whatsapp — a WhatsApp channel",
                "/message-channel facebook — a Facebook channel",
            ),
            "yeastar",
        ),
        Command(
            "/call-events",
            "Relay CINNOX call events into Slack threads",
            "subscribe|unsubscribe|status|route [<serviceId> <#channel>]|unroute <serviceId>|routes",
            (
                "/call-events subscribe — point CINNOX call events at this bot",
                "/call-events unsubscribe — stop CINNOX call events",
                "/call-events status — subscription, routing, backlog, given-up notifications (with Retry)",
                "/call-events route — a form: pick a service and a channel for its calls",
                "/call-events route <serviceId> <#channel> — send one service's calls to a channel",
                "/call-events unroute <serviceId> — send its calls to the default channel again",
                "/call-events routes — list the routing",
            ),
            "cinnox",
            read_only=("status", "routes"),
        ),
    )
}


def split(text: str) -> tuple[str, list[str]]:
    """``"route S1 <#C1|ops>"`` → ``("route", ["S1", "<#C1|ops>"])``; sub-command lower-cased."""
    words = (text or "").split()
    if not words:
        return "", []
    return words[0].lower(), words[1:]


def changes_nothing(command: str, text: str) -> bool:
    """``help``, or a sub-command that only shows: BOT_ALLOWED_USERS does not guard them."""
    spec = COMMANDS.get(command)
    return is_help(text) or (spec is not None and split(text)[0] in spec.read_only)


def is_help(text: str) -> bool:
    sub, _ = split(text)
    return sub in ("help", "-h", "--help", "?")


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
