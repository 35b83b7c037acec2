"""How a call looks in Slack: Block Kit with a one-line text fallback that says the same
(notifications and screen readers show the text). Names come from the bot's directory,
CINNOX's codes are said in words, and the start time first shown never changes."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import phonenumbers

from bot.mrkdwn import escape
from bot.relay.events import CallEvent, Party
from bot.store.call_notes import Callback, CallSummary
from bot.store.directory import Names

METADATA_TYPE = "cinnox_call"
#: Buttons on a call's parent (their action_ids are contract: design.md).
SAVE_CONTACT = "call.save_contact"
ROUTE = "call.route"
CALLBACK = "call.callback"
CALLBACK_DONE = "call.callback_done"

#: ``ended``: over, but whether anybody answered is not known (CINNOX's call log has not
#: said); ``answered`` / ``missed``: the call log says.
State = Literal["ringing", "ended", "answered", "missed"]
Direction = Literal["incoming", "outgoing", "internal"]


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class CallCard:
    """Everything a call's parent message shows."""

    call_id: str
    start: CallEvent
    started_at: float  # when the CallStart arrived: shown from the first post on, never changed
    state: State = "ringing"
    seconds: float | None = None
    callback: Callback | None = None
    names: Names = field(default_factory=Names)

    @classmethod
    def of(cls, call: CallSummary, names: Names) -> CallCard:
        assert call.start_event is not None
        start = CallEvent.model_validate(call.start_event)
        outcome = call.outcome
        state: State = "ringing"
        seconds = call.measured
        if outcome is not None:
            state, seconds = ("missed" if outcome.missed else "answered"), outcome.seconds
        elif call.state == "ended":
            state = "ended"
        return cls(call.call_id, start, call.started_at or 0.0, state, seconds, call.callback, names)

    @property
    def direction(self) -> Direction:
        return direction(self.start)

    @property
    def to_call_back(self) -> bool:
        """Only an unanswered incoming call is a missed call somebody should call back."""
        return self.state == "missed" and self.direction == "incoming"


def metadata(event: CallEvent) -> dict[str, Any]:
    """Slack message metadata naming the event, so a resumed delivery can find its post."""
    return {"event_type": METADATA_TYPE,
            "event_payload": {"event_id": event.key, "call_id": event.id, "status": event.status}}


def event_id_of(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != METADATA_TYPE:
        return None
    return (meta.get("event_payload") or {}).get("event_id")


# --- numbers and names ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def e164(number: str | None) -> str | None:
    """The number in E.164 when it is a valid international number, else None. CINNOX sends
    numbers without their "+"; one is added only when the result is a valid number, so a
    local number is never given a country it does not belong to."""
    parsed = _parsed(number)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)
def phone(number: str | None) -> str | None:
    """The number as people write it (``+852 9123 4567``), or as CINNOX sent it."""
    if not number:
        return None
    parsed = _parsed(number)
    if parsed is None:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _parsed(number: str | None) -> phonenumbers.PhoneNumber | None:
    if not number:
        return None
    digits = number.strip()
    candidate = digits if digits.startswith("+") else "+" + digits
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def direction(start: CallEvent) -> Direction:
    """From the parties (design.md): a caller with an EID is a staff member calling out,
    internal when every callee is staff too; any other call comes in."""
    if start.caller is None or not start.caller.eid:
        return "incoming"
    if start.callees and all(p.eid for p in start.callees):
        return "internal"
    return "outgoing"


def named(p: Party | None, names: Names) -> str | None:
    """The party's name when the bot knows one (a staff member, a saved contact)."""
    if p is None:
        return None
    member = names.staff.get(p.eid) if p.eid else None
    return member.name if member else names.contacts.get(e164(p.number) or "")


def party(p: Party | None, names: Names | None = None, role: str = "caller") -> str:
    """A caller or callee in words, escaped for mrkdwn: name and number where known."""
    names = names or Names()
    if p is None or (not p.eid and not p.number):
        return f"unknown {role}"
    number = phone(p.number)
    member = names.staff.get(p.eid) if p.eid else None
    name = member.name if member else names.contacts.get(e164(p.number) or "")
    if member and member.extension and not number:
        number = f"ext {member.extension}"
    if name and number:
        return escape(f"{name} ({number})")
    if name:
        return escape(name)
    if number:
        return escape(number)
    return "a staff member"  # not yet in the staff list copy: its EID would mean nothing to anyone


def service(service_id: str | None, names: Names | None = None, *, labelled: bool = True) -> str:
    """The service by name; without one, its ID (``service x``, or ```x``` in a field
    already labelled Service)."""
    if not service_id:
        return "unknown service"
    name = (names or Names()).services.get(service_id)
    if name:
        return escape(name)
    return f"service {escape(service_id)}" if labelled else f"`{escape(service_id)}`"


def duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# --- CINNOX's codes in words ----------------------------------------------------------------------

#: byeReason: CINNOX reports SIP / Q.850 hang-up causes by name.
BYE_REASONS = {
    "NORMAL_CLEARING": "normal hang-up",
    "NORMAL_UNSPECIFIED": "normal hang-up",
    "USER_BUSY": "the line was busy",
    "NO_ANSWER": "nobody answered",
    "NO_USER_RESPONSE": "the phone did not respond",
    "ORIGINATOR_CANCEL": "the caller hung up before it was answered",
    "CALL_REJECTED": "the call was rejected",
    "UNALLOCATED_NUMBER": "the number does not exist",
    "INVALID_NUMBER_FORMAT": "the number was incomplete",
    "NORMAL_TEMPORARY_FAILURE": "a temporary network failure",
    "NETWORK_OUT_OF_ORDER": "the network was out of order",
    "DESTINATION_OUT_OF_ORDER": "the phone called was out of order",
    "SUBSCRIBER_ABSENT": "the person called was unreachable",
    "RECOVERY_ON_TIMER_EXPIRE": "the call timed out",
    "ALLOTTED_TIMEOUT": "the call reached its time limit",
    "MEDIA_TIMEOUT": "the audio was lost",
    "LOSE_RACE": "it was answered elsewhere",
    "PICKED_OFF": "it was picked up on another phone",
    "MANAGER_REQUEST": "an administrator ended it",
    "BLIND_TRANSFER": "it was transferred",
    "ATTENDED_TRANSFER": "it was transferred",
    "SERVICE_UNAVAILABLE": "the service was unavailable",
}
#: releaseParty: who ended the call.
RELEASE_PARTIES = {
    "CALLER": "the caller", "CALLEE": "the person called", "SYSTEM": "the system",
    "STAFF": "the staff member", "AGENT": "the staff member", "CUSTOMER": "the caller",
}


def in_words(code: str | None, table: dict[str, str]) -> str | None:
    """A CINNOX code in words; one the bot does not know is ``other (CODE)``."""
    if not code or not code.strip():
        return None
    key = code.strip().upper().replace("-", "_").replace(" ", "_")
    return table.get(key) or f"other ({escape(code.strip()[:60])})"


def hang_up(bye_reason: str | None, release_party: str | None, *, caller: str | None = None,
            callee: str | None = None, missed: bool = False) -> str | None:
    """Who hung up and why, in a sentence (no full stop). ``caller`` / ``callee``: their names,
    when known, said instead of "the caller" / "the person called". On a missed call,
    "nobody answered" is said already and not again."""
    who, why = in_words(release_party, RELEASE_PARTIES), in_words(bye_reason, BYE_REASONS)
    if missed and why == BYE_REASONS["NO_ANSWER"]:
        return None
    if who == RELEASE_PARTIES["CALLEE"] and callee:
        who = escape(callee)
    elif who == RELEASE_PARTIES["CALLER"] and caller and not (why and why.startswith(who)):
        who = escape(caller)
    if who and why and why.startswith(who):  # "the caller hung up before it was answered"
        who = None
    if who and why:
        return f"{who[0].upper()}{who[1:]} hung up: {why}"
    if who:
        return f"{who[0].upper()}{who[1:]} hung up"
    return f"{why[0].upper()}{why[1:]}" if why else None


# --- Block Kit pieces ---------------------------------------------------------------------------


def clock(epoch: float, style: str = "{date_short_pretty} {time_secs}") -> tuple[str, str]:
    """(Slack date token shown in the reader's time zone, UTC fallback for the text)."""
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(epoch)}^{style}|{fallback}>", fallback


def _fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    # Slack refuses a field over 2,000 characters (a call with many callees could reach it).
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": _cap(f"*{k}*\n{v}", 2000)}
                                          for k, v in pairs]}


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cap(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cap(text, 3000)}]}


def button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value[:2000],
                           "text": {"type": "plain_text", "text": label[:75], "emoji": True}}
    if style:
        out["style"] = style
    return out


# --- the messages -------------------------------------------------------------------------------


_HEADLINE_OF = {"incoming": "Incoming call", "outgoing": "Outgoing call", "internal": "Internal call"}
#: What the bot can say about a call it does not know the outcome of.
UNKNOWN_OUTCOME = "not known whether anybody answered"


def call_parent(card: CallCard) -> Message:
    """The thread's parent: the call's state, who called whom, the service, the start time,
    and what can be done about it."""
    start, names = card.start, card.names
    caller = party(start.caller, names, "caller")
    callees = ", ".join(party(p, names, "callee") for p in start.callees) or "unknown callee"
    where = service(start.service_id, names)
    when, _ = clock(card.started_at)
    length = duration(card.seconds) if card.seconds is not None else "duration unknown"
    kind = card.direction
    # "Outgoing call from Ada Lovelace (ext 1001) to +852 6123 4567"; an incoming call
    # names its caller only (its callee is this team's line).
    who = f"from {caller}" if kind == "incoming" else f"from {caller} to {callees}"
    if card.state == "missed" and kind == "incoming":
        headline, text = ":no_entry: *Missed call* · nobody answered", f"Missed call {who} · {where}"
    elif card.state == "missed":
        headline, text = (f":heavy_multiplication_x: *{_HEADLINE_OF[kind]}, not answered*",
                          f"{_HEADLINE_OF[kind]} {who} was not answered · {where}")
    elif card.state == "answered":
        headline = f":white_check_mark: *Call ended* · {length}"
        text = (f"Call {who} ended after {length} · {where}" if kind == "incoming"
                else f"{_HEADLINE_OF[kind]} {who} ended after {length} · {where}")
    elif card.state == "ended":
        headline = f":checkered_flag: *Ended* · {length} · {UNKNOWN_OUTCOME}"
        text = (f"Call {who} ended · {length} · {UNKNOWN_OUTCOME} · {where}" if kind == "incoming"
                else f"{_HEADLINE_OF[kind]} {who} ended · {length} · {UNKNOWN_OUTCOME} · {where}")
    else:
        headline, text = (f":telephone_receiver: *{_HEADLINE_OF[kind]}* · ringing or in progress",
                          f"{_HEADLINE_OF[kind]} {who} · {where}")
    pairs = [("Caller", caller), ("Callee" if len(start.callees) < 2 else "Callees", callees),
             ("Service", service(start.service_id, names, labelled=False)), ("Started", when)]
    blocks = [_section(headline), _fields(*pairs)]
    blocks += _callback_blocks(card)
    actions = _buttons(card)
    if actions:
        blocks.append({"type": "actions", "block_id": "call", "elements": actions})
    ids = f"Call ID `{escape(card.call_id)}`"
    if start.service_id and start.service_id in names.services:  # else it is the Service shown
        ids += f" · service ID `{escape(start.service_id)}`"
    if card.state == "ended":
        ids = "CINNOX's call log has not said yet whether anybody answered · " + ids
    blocks.append(_context(ids))
    callback = card.callback
    if card.to_call_back and callback is not None:
        text += f" · <@{callback.user_id}> " + ("called back" if callback.done_at else "is calling back")
    return Message(_cap(text, 3000), blocks)


def _callback_blocks(card: CallCard) -> list[dict[str, Any]]:
    callback = card.callback
    if not card.to_call_back or callback is None:
        return []
    if callback.done_at is not None:
        when, _ = clock(callback.done_at, "{time}")
        return [_section(f":white_check_mark: <@{callback.user_id}> called back ({when})")]
    when, _ = clock(callback.taken_at, "{time}")
    return [_section(f":telephone_receiver: <@{callback.user_id}> is calling back (since {when})")]


def _buttons(card: CallCard) -> list[dict[str, Any]]:
    out = []
    if card.to_call_back:
        if card.callback is None:
            out.append(button("I'll call back", CALLBACK, card.call_id, "primary"))
        elif card.callback.done_at is None:
            out.append(button("Mark call-back done", CALLBACK_DONE, card.call_id))
    caller = card.start.caller
    number = e164(caller.number) if caller else None
    known = number in card.names.contacts or bool(caller and caller.eid and caller.eid in card.names.staff)
    if number and not known:
        out.append(button("Save caller as contact", SAVE_CONTACT,
                          json.dumps({"call": card.call_id, "phone": number}, separators=(",", ":"))))
    if card.start.service_id:
        out.append(button("Route this service", ROUTE,
                          json.dumps({"call": card.call_id, "service": card.start.service_id},
                                     separators=(",", ":"))))
    return out


def call_end_reply(ended_at: float, seconds: float | None, *, missed: bool = False, known: bool = True,
                   bye_reason: str | None = None, release_party: str | None = None,
                   start: CallEvent | None = None, names: Names | None = None) -> Message:
    """The reply in the call's thread: how it ended, in words. ``known``: CINNOX's call log
    said how the call went (else only its end is known, and ``seconds`` were measured
    between the two events)."""
    when, when_text = clock(ended_at)
    names = names or Names()
    kind = direction(start) if start is not None else "incoming"
    callees = start.callees if start is not None else []
    how = hang_up(bye_reason, release_party, missed=missed,
                  caller=named(start.caller, names) if start is not None else None,
                  callee=named(callees[0], names) if len(callees) == 1 else None)
    then = f" {how}." if how else ""
    pairs: list[tuple[str, str]]
    if known and missed and kind == "incoming":
        headline, pairs = ":no_entry: *Missed call*", [("Outcome", "Nobody answered"), ("Ended", when)]
        text = f"Missed call: nobody answered. It ended at {when_text}.{then}"
    elif known and missed:
        headline, pairs = ":heavy_multiplication_x: *Not answered*", [("Outcome", "Nobody answered"),
                                                                      ("Ended", when)]
        text = f"Not answered: the call ended at {when_text} before anybody picked up.{then}"
    else:
        length = duration(seconds) if seconds is not None else "unknown"
        pairs = [("Duration", length), ("Ended", when)]
        if known:
            headline = ":checkered_flag: *Call ended*"
            text = (f"Call ended after {length}, at {when_text}." if seconds is not None
                    else f"Call ended at {when_text}; its duration is unknown.") + then
        else:
            headline = ":checkered_flag: *Ended*"
            pairs.append(("Outcome", "Not known yet whether anybody answered"))
            text = (f"Call ended after {length}, at {when_text}." if seconds is not None
                    else f"Call ended at {when_text}; its duration is unknown.")
            text += " Whether anybody answered is not known yet."
    if how:
        pairs.append(("Hang-up", how))
    return Message(text, [_section(headline), _fields(*pairs)])


def orphan_end(end: CallEvent, ended_at: float, names: Names | None = None) -> Message:
    """A CallEnd whose CallStart never arrived within the grace period."""
    when, when_text = clock(ended_at)
    where, call_id = service(end.service_id, names), escape(end.id)
    blocks = [
        _section(":checkered_flag: *Call ended*"),
        _fields(("Service", service(end.service_id, names, labelled=False)), ("Ended", when)),
        _context(f"Call ID `{call_id}` · its start was not received, so the caller and the "
                 "duration are unknown"),
    ]
    text = f"Call {call_id} ended ({where}) at {when_text}; its start was not received."
    return Message(text, blocks)


# --- roll-ups: a busy channel's calls, one line each ----------------------------------------------

ROLLUP_METADATA_TYPE = "cinnox_call_rollup"
#: Calls one roll-up lists: two blocks each at most (its line, its buttons), within Slack's
#: 50 blocks a message with the roll-up's own two.
ROLLUP_CALLS = 20
#: Characters of blocks a roll-up starts with at most: Slack refuses a message's blocks past
#: about 13,000 (``msg_blocks_too_long``), and its lines grow as their calls end.
ROLLUP_CHARS = 9_000


def rollup_fits(cards: list[CallCard]) -> int:
    """How many of ``cards`` (the first ones, one at least) one roll-up takes."""
    size = len(json.dumps(rollup(cards[:1]).blocks, separators=(",", ":")))
    taken = 1
    for card in cards[1:ROLLUP_CALLS]:
        size += len(json.dumps(_rollup_blocks(card), separators=(",", ":"))) + 1
        if size > ROLLUP_CHARS:
            break
        taken += 1
    return taken


def rollup_metadata(event_ids: list[str]) -> dict[str, Any]:
    """A roll-up's metadata (or its thread reply's) names the events it shows, so that a
    resumed delivery finds them."""
    return {"event_type": ROLLUP_METADATA_TYPE, "event_payload": {"event_ids": event_ids}}


def event_ids_in(message: dict[str, Any]) -> list[str]:
    """The events a message shows: a call's own message one, a roll-up each of its calls'."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") == ROLLUP_METADATA_TYPE:
        ids = (meta.get("event_payload") or {}).get("event_ids")
        return [str(i) for i in ids] if isinstance(ids, list) else []
    one = event_id_of(message)
    return [one] if one else []


def rollup_block_id(call_id: str) -> str:
    return f"call.{call_id}"


def rollup(cards: list[CallCard]) -> Message:
    """A busy channel's calls of a short window, one section per call (with its buttons
    beside it when it has any), each line edited as its call ends."""
    first, last = min(c.started_at for c in cards), max(c.started_at for c in cards)
    since, _ = clock(first, "{time_secs}")
    until, _ = clock(last, "{time_secs}")
    count = f"{len(cards)} call" + ("s" if len(cards) != 1 else "")
    span = f"started {since}" if len(cards) == 1 else f"started between {since} and {until}"
    blocks: list[dict[str, Any]] = [_section(f":telephone_receiver: *{count}* {span}")]
    for card in cards:
        blocks += _rollup_blocks(card)
    lines = [rollup_line(card)[1] for card in cards]
    blocks.append(_context("Calls come in faster than one message each can keep up with, so they are "
                           "listed together here; each line changes as its call ends."))
    return Message(_cap(f"{count}: " + "; ".join(lines), 3000), blocks)


def _rollup_blocks(card: CallCard) -> list[dict[str, Any]]:
    """A call's line, and its buttons (call back, save the caller) when it has any."""
    out = [{**_section(rollup_line(card)[0]), "block_id": rollup_block_id(card.call_id)}]
    actions = [b for b in _buttons(card) if b["action_id"] != ROUTE]
    if actions:
        out.append({"type": "actions", "block_id": f"{rollup_block_id(card.call_id)}.actions",
                    "elements": actions})
    return out


def rollup_line(card: CallCard) -> tuple[str, str]:
    """(mrkdwn line, plain fallback) for one call of a roll-up: the same words as its
    own message would say, on one line."""
    start, names = card.start, card.names
    caller = party(start.caller, names, "caller")
    callees = ", ".join(party(p, names, "callee") for p in start.callees) or "unknown callee"
    where = service(start.service_id, names)
    when, _ = clock(card.started_at, "{time_secs}")
    kind = card.direction
    who = f"from {caller} to {callees}"
    length = duration(card.seconds) if card.seconds is not None else "duration unknown"
    if card.state == "missed" and kind == "incoming":
        emoji, head, outcome = ":no_entry:", "Missed call", "nobody answered"
    elif card.state == "missed":
        emoji, head, outcome = ":heavy_multiplication_x:", _HEADLINE_OF[kind], "not answered"
    elif card.state == "answered":
        emoji, head, outcome = ":white_check_mark:", _HEADLINE_OF[kind], f"ended after {length}"
    elif card.state == "ended":
        emoji, head, outcome = ":checkered_flag:", _HEADLINE_OF[kind], f"ended · {length} · {UNKNOWN_OUTCOME}"
    else:
        emoji, head, outcome = ":telephone_receiver:", _HEADLINE_OF[kind], "ringing or in progress"
    callback = card.callback
    if card.to_call_back and callback is not None:
        outcome += f" · <@{callback.user_id}> " + ("called back" if callback.done_at else "is calling back")
    line = f"{emoji} *{head}* {who} · {where} · {when} · {outcome}"
    return line, f"{head} {who} · {where} · {outcome}"


def rollup_ends(cards: list[CallCard]) -> Message:
    """In a roll-up's thread, when Slack's edit budget would keep its lines waiting: the
    calls of the roll-up that just ended, one line each (the roll-up's lines follow)."""
    count = f"{len(cards)} call" + ("s" if len(cards) != 1 else "") + " ended"
    blocks = [_section(f":checkered_flag: *{count}*")]
    blocks += [{**_section(rollup_line(card)[0]), "block_id": rollup_block_id(card.call_id)} for card in cards]
    return Message(_cap(f"{count}: " + "; ".join(rollup_line(card)[1] for card in cards), 3000), blocks)
