"""How a call looks in Slack: Block Kit with a readable text fallback (notifications and
screen readers show the text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from bot.mrkdwn import escape
from bot.relay.events import CallEvent, Party

METADATA_TYPE = "cinnox_call"


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]


def metadata(event: CallEvent) -> dict[str, Any]:
    """Slack message metadata naming the event, so a resumed delivery can find its post."""
    return {"event_type": METADATA_TYPE,
            "event_payload": {"event_id": event.key, "call_id": event.id, "status": event.status}}


def event_id_of(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != METADATA_TYPE:
        return None
    return (meta.get("event_payload") or {}).get("event_id")


def phone(number: str | None) -> str | None:
    if not number:
        return None
    candidate = number if number.startswith("+") else "+" + number
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def party(p: Party | None) -> str:
    if p is None:
        return "unknown"
    number = phone(p.number)
    if number and p.eid:
        return escape(f"{number} (staff {p.eid})")
    return escape(number or (f"staff {p.eid}" if p.eid else "unknown"))


def duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _clock(epoch: float) -> tuple[str, str]:
    """(Slack date token shown in the reader's time zone, UTC fallback for the text)."""
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time_secs}}|{fallback}>", fallback


def _fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    # Slack refuses a field over 2,000 characters (a call with many callees could reach it).
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": _cap(f"*{k}*\n{v}", 2000)}
                                          for k, v in pairs]}


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def call_parent(start: CallEvent, started_at: float, *, ended: str | None = None) -> Message:
    """The thread's parent: who called whom; ``ended`` = the duration once the call is over."""
    caller = party(start.caller)
    callees = ", ".join(party(p) for p in start.callees) or "unknown"
    service = escape(start.service_id or "—")
    when, when_text = _clock(started_at)
    headline = f":telephone_receiver: Call ended · {ended}" if ended else ":telephone_receiver: Call started"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        _fields(("Caller", caller), ("Callee" if len(start.callees) < 2 else "Callees", callees),
                ("Service", f"`{service}`"), ("Started", when)),
        _context(f"Call ID `{escape(start.id)}`"),
    ]
    state = f"ended after {ended}" if ended else "started"
    text = f"Call {state}: {caller} → {callees} (service {service}), started {when_text}"
    return Message(text, blocks)


def call_end_reply(end: CallEvent, ended_at: float, seconds: float | None,
                   hangup: str | None = None) -> Message:
    when, when_text = _clock(ended_at)
    length = duration(seconds) if seconds is not None else "unknown"
    pairs = [("Duration", length), ("Ended", when)]
    if hangup:
        pairs.append(("Hang-up", escape(hangup)))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*:checkered_flag: Call ended*"}},
        _fields(*pairs),
    ]
    return Message(f"Call ended after {length}, at {when_text}", blocks)


def orphan_end(end: CallEvent, ended_at: float) -> Message:
    """A CallEnd whose CallStart never arrived within the grace period."""
    when, when_text = _clock(ended_at)
    service, call_id = escape(end.service_id or "—"), escape(end.id)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*:checkered_flag: Call ended*"}},
        _fields(("Service", f"`{service}`"), ("Ended", when)),
        _context(f"Call ID `{call_id}` · its start was not received, so the duration is unknown"),
    ]
    text = f"Call {call_id} ended (service {service}) at {when_text}; its start was not received"
    return Message(text, blocks)
