"""The App Home tab as the console: the call-event subscription, calls in progress and
the last ones, missed calls nobody has taken, the routing, given-up deliveries, buttons
that open each form, this user's recent actions in words, and which providers work.

Refreshed whenever it is opened, and pushed to the people who opened it in the last ten
minutes when a call starts or ends (at most once every few seconds)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import slack_budget
from bot.config import PROVIDERS
from bot.mrkdwn import code, escape, verbatim
from bot.providers.errors import ProviderError
from bot.relay import messages
from bot.relay.cards import names_for
from bot.relay.events import CallEvent
from bot.services import Services
from bot.store.call_notes import CallSummary
from bot.store.db import AuditEntry
from handlers.calls.deliveries import delivery_summary, given_up_blocks, nowhere_to_go
from handlers.calls.routing import routes_blocks
from handlers.calls.subscription import SUBSCRIPTION_SETTING
from handlers.commands import COMMANDS
from handlers.forms import modal
from handlers.forms.modal import confirm_dialog
from handlers.forms.provisioning import not_configured

log = structlog.get_logger(__name__)

TITLES = {"cinnox": "CINNOX", "bandwidth": "Bandwidth", "yeastar": "Yeastar P-Series"}
PING_TTL = 60.0  # seconds a reachability answer is reused, so opening Home stays quick
#: People who opened the Home this recently get it pushed when a call starts or ends.
WATCHING_FOR = 600.0
#: At most one push round this often (views.publish is rate-limited per workspace).
PUSH_EVERY = 3.0
#: Each Create button's action_id is this plus "." and its form's callback_id: Slack
#: refuses a block whose action_ids repeat. The listener matches them all.
OPEN_FORM = "home.open_form"
OPEN_FORM_ACTION = re.compile(r"^home\.open_form\.[a-z_]+$")
#: (label, form callback_id) of the buttons that open each form.
FORMS = (("New service group", "service_group"), ("New contact", "contact"),
         ("New SIP endpoint", "sip_endpoint"), ("New message channel", "message_channel"),
         ("Route a service's calls", "call_route"))
#: what the Unsubscribe button's confirmation says
STOP_WORDS = ("CINNOX will stop sending calls to this bot: no new call messages in any channel until "
              "someone subscribes again.")
#: (label, callback_id) of the buttons that open the CSV imports.
IMPORTS = (("Import contacts from CSV", "contact_import"),
           ("Import SIP endpoints from CSV", "sip_endpoint_import"))
_OUTCOME_ICON = {"ok": ":white_check_mark:", "failed": ":x:", "denied": ":no_entry:",
                 "invalid": ":pencil2:", "started": ":hourglass:", "unconfirmed": ":white_check_mark:",
                 "found": ":white_check_mark:"}
#: audit action → (what was tried, what was done)
ACTIONS = {
    "contact.create": ("create a CINNOX contact", "Created the CINNOX contact"),
    "service_group.create": ("create a CINNOX service group", "Created the CINNOX service group"),
    "sip_endpoint.create": ("create a Bandwidth SIP endpoint", "Created the Bandwidth SIP endpoint"),
    "message_channel.create": ("create a Yeastar message channel", "Created the Yeastar message channel"),
    "call_events.subscribe": ("subscribe to CINNOX call events", "Subscribed to CINNOX call events"),
    "call_events.unsubscribe": ("unsubscribe from CINNOX call events", "Unsubscribed from CINNOX call events"),
    "call_events.route": ("route a service's calls", "Routed the calls of"),
    "call_route.create": ("route a service's calls", "Routed the calls of"),
    "call_events.unroute": ("remove a route", "Removed the route of"),
    "call_events.retry": ("retry a call notification", "Retried a call notification"),
    "call.callback": ("take a call-back", "Took the call-back of"),
    "call.callback_done": ("finish a call-back", "Called back"),
}
#: actions whose resource is a CINNOX service ID, or a call ID
_ON_SERVICE = {"call_events.route", "call_route.create", "call_events.unroute"}
_ON_CALL = {"call.callback", "call.callback_done"}
#: the forms' creates: their audit detail is "<name>[; <why it failed>]"
_FORM_CREATES = {"contact.create", "service_group.create", "sip_endpoint.create", "message_channel.create"}


class Reachability:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, str]] = {}

    async def status(self, services: Services, provider: str) -> str:
        client: Any = services.provider(provider)
        if client is None:
            return f":white_circle: not configured — {not_configured(provider)}"
        cached = self._cache.get(provider)
        if cached and time.monotonic() - cached[0] < PING_TTL:
            return cached[1]
        try:
            await asyncio.wait_for(client.ping(), 5)
            text = ":large_green_circle: configured and reachable"
        except ProviderError as exc:
            text = f":red_circle: configured but failing — {escape(exc.message)}"
        except TimeoutError:
            text = ":red_circle: configured but not answering"
        self._cache[provider] = (time.monotonic(), text)
        return text


_reachability: dict[int, Reachability] = {}  # one per running bot (tests run several)


def reachability(services: Services) -> Reachability:
    return _reachability.setdefault(id(services), Reachability())


class HomePusher:
    """Pushes the Home to its recent viewers when calls change, coalescing bursts."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._running = False  # a push round is under way
        self._again = False  # calls changed while it published: one more round after it
        self._next_look = 0.0  # nobody was watching: do not ask the store again before this

    def poke(self) -> None:
        if self.services.background.closing or time.monotonic() < self._next_look:
            return
        if self._running:
            self._again = True
            return
        self._running = True
        self.services.background.spawn(self._push(), name="home.push")

    async def _push(self) -> None:
        """Rounds one after another, never side by side: each publish waits for its turn in
        the workspace's views.publish budget, so many viewers make a round long, and
        overlapping rounds would pile up behind it."""
        try:
            while True:
                if not await self.services.call_notes.home_visitors(time.time() - WATCHING_FOR):
                    self._next_look = time.monotonic() + PUSH_EVERY
                    return
                await asyncio.sleep(PUSH_EVERY)  # calls changing together are pushed together
                self._again = False
                for user in await self.services.call_notes.home_visitors(time.time() - WATCHING_FOR):
                    await publish(self.services, self.services.slack, user)
                if not self._again:
                    return
        finally:
            self._running = False


def register(app: AsyncApp, services: Services) -> None:
    if services.relay is not None:
        services.relay.on_call_change = HomePusher(services).poke

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        services.background.spawn(_opened(services, client, event["user"]), name="home.publish")


async def _opened(services: Services, client: Any, user: str) -> None:
    await services.call_notes.home_opened(user, time.time())
    await publish(services, client, user)


#: Slack's last refusal of the Home ({"error", "messages", "at"}), shown by `bot check`
#: and `/call-events status`; removed once Slack takes it again.
HOME_REFUSED = "slack_home_refused"
#: Slack's answers that are about the Home itself (not the moment or the connection)
_REFUSALS = frozenset({"invalid_arguments", "invalid_blocks", "invalid_blocks_format", "not_allowed_token_type",
                       "missing_scope", "invalid_auth", "not_authed", "account_inactive", "token_revoked"})


async def publish(services: Services, client: Any, user: str, *, notice: str | None = None) -> None:
    await slack_budget.take(services, "views.publish")  # Tier 4, shared by the workspace
    blocks = (await home_blocks(services, user, notice))[:100]  # as it is once its turn came
    try:
        await client.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if error not in _REFUSALS:
            log.warning("home.publish_failed", error=error)
            return
        said = list((exc.response.get("response_metadata") or {}).get("messages") or [])[:5]
        log.error("home.refused", error=error, messages=said)
        await services.store.set_setting(HOME_REFUSED, json.dumps(
            {"error": error, "messages": said, "at": time.time()}))
        _home_refused[id(services)] = True
        return
    if _home_refused.get(id(services), True):  # unknown at start: look once
        if await services.store.get_setting(HOME_REFUSED) not in (None, ""):
            await services.store.set_setting(HOME_REFUSED, "")
        _home_refused[id(services)] = False


_home_refused: dict[int, bool] = {}  # per running bot: whether the store holds a refusal


async def home_refusal(services: Services) -> str | None:
    """Slack's last refusal of the App Home in a sentence, or None while it takes it."""
    return refusal_sentence(await services.store.get_setting(HOME_REFUSED))


def refusal_sentence(stored: str | None) -> str | None:
    if not stored:
        return None
    refused = json.loads(stored)
    detail = "; ".join(str(m).removeprefix("[ERROR] ") for m in refused.get("messages") or [])
    return (f"Slack refused the App Home ({refused.get('error')}{': ' + detail if detail else ''}), so "
            "nobody sees it: this is a bug in the bot. Tell whoever runs it (the log has `home.refused`).")


async def home_blocks(services: Services, user: str, notice: str | None = None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [modal.header("Telephony ops")]
    if notice:
        blocks.append(modal.section(notice))
    # Buttons that would refuse this person are not shown to them (BOT_ALLOWED_USERS).
    may_act = services.access.may_provision(user)
    if services.outbox is not None:
        blocks += await _call_blocks(services, may_act)
    if may_act:
        blocks += [modal.divider(), modal.section("*Create*"),
                   {"type": "actions", "block_id": "forms", "elements": [
                       messages.button(label, f"{OPEN_FORM}.{form_id}", form_id) for label, form_id in FORMS]},
                   {"type": "actions", "block_id": "imports", "elements": [  # handlers/forms/csv_import.py
                       messages.button(label, f"home.import.{callback_id}", callback_id)
                       for label, callback_id in IMPORTS]}]
    else:
        blocks += [modal.divider(), modal.context(
            f"You can take call-backs here. Creating things, routing calls and the subscription are "
            f"for the people in BOT_ALLOWED_USERS: ask an admin to add your ID ({escape(user)}).")]
    statuses = await asyncio.gather(*(reachability(services).status(services, p) for p in PROVIDERS))
    blocks += [modal.divider(), modal.section("*Providers*")]
    blocks += [modal.section(f"*{TITLES[p]}*  {s}") for p, s in zip(PROVIDERS, statuses, strict=True)]
    blocks += [modal.divider(), modal.section("*Your recent actions*")]
    entries = await services.store.recent_audit(8, user_id=user)
    labels = await _resource_labels(services, entries)
    blocks += [modal.context(_in_words(e, labels.get((e.action, e.resource_id or ""))))
               for e in entries] or [modal.context("Nothing yet.")]
    blocks += [modal.divider(), modal.context("Commands: " + " · ".join(
        f"`{c.synopsis}`" for c in COMMANDS.values()))]
    if services.access.allowed is None:
        blocks.append(modal.context(":warning: Everyone in the workspace may provision: "
                                    "set BOT_ALLOWED_USERS to restrict it."))
    return blocks


async def _call_blocks(services: Services, may_act: bool = True) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [modal.divider()]
    blocks.append(await _subscription_block(services, may_act))
    nowhere = await nowhere_to_go(services)
    if nowhere:
        blocks.append(modal.section(nowhere))
    blocks.append(modal.context(" · ".join(await delivery_summary(services))))
    blocks += await given_up_blocks(services, limit=5, actions=may_act)
    notes = services.call_notes
    live, missed, recent = (await notes.in_progress(time.time()), await notes.missed_not_taken(MISSED_SHOWN),
                            await notes.recent(20))
    blocks.append(modal.section("*Calls in progress*"))
    blocks += (_line_sections([await _call_line(services, c) for c in live])
               or [modal.context("None right now.")])
    blocks += await _missed_blocks(services, missed)
    blocks.append(modal.section("*Last 20 calls*"))
    blocks += (_line_sections([await _call_line(services, c) for c in recent])
               or [modal.context("No calls yet.")])
    blocks += await routes_blocks(services, actions=may_act)
    return blocks


#: Missed calls listed with their button (the count says how many there are in all).
MISSED_SHOWN = 5


async def _missed_blocks(services: Services, missed: list[CallSummary]) -> list[dict[str, Any]]:
    """Missed incoming calls nobody is calling back: how many, and each with its age."""
    if not missed:
        return [modal.section("*Missed calls nobody has taken*"),
                modal.context("None: no missed call is waiting for a call-back.")]
    count = await services.call_notes.missed_not_taken_count()
    title = f"*Missed calls nobody has taken: {count}*"
    if count > len(missed):
        title += f" (the {len(missed)} latest below)"
    blocks = [modal.section(title)]
    for call in missed:
        ago, _ = messages.clock(call.started_at or 0.0, "{ago}")
        block = modal.section(f"{await _call_line(services, call)} · {ago}")
        block["accessory"] = messages.button("I'll call back", messages.CALLBACK, call.call_id, "primary")
        blocks.append(block)
    return blocks


#: A section's text is at most 3,000 characters (Slack refuses more).
SECTION_TEXT_MAX = 3000


def _line_sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines in as few sections as fit, each under Slack's limit, so that none is cut off."""
    sections: list[str] = []
    for line in lines:
        line = line[:SECTION_TEXT_MAX]
        if sections and len(sections[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    return [modal.section(text) for text in sections]


async def _subscription_block(services: Services, may_act: bool = True) -> dict[str, Any]:
    if services.cinnox is None:
        return modal.section(f"*Call events* — {not_configured('cinnox')}")
    stored = await services.store.get_setting(SUBSCRIPTION_SETTING)
    enabled = bool(stored and json.loads(stored).get("enabled"))
    if enabled:
        block = modal.section("*Call events* — :large_green_circle: CINNOX sends call events to this bot.")
        button = {**messages.button("Unsubscribe", "call_events.unsubscribe", "unsubscribe"),
                  "confirm": confirm_dialog("Stop call events?", STOP_WORDS, "Unsubscribe")}
    elif stored is None:  # never subscribed from this bot: CINNOX may have been set up by hand
        block = modal.section("*Call events* — :grey_question: subscription unknown: this bot has not "
                              "subscribed CINNOX itself, so it cannot tell whether CINNOX sends calls here.")
        button = messages.button("Subscribe", "call_events.subscribe", "subscribe", "primary")
    else:
        block = modal.section("*Call events* — :white_circle: not subscribed: CINNOX sends no calls here.")
        button = messages.button("Subscribe", "call_events.subscribe", "subscribe", "primary")
    if may_act:
        block["accessory"] = button
    return block


async def _call_line(services: Services, call: CallSummary) -> str:
    assert call.start_event is not None
    start = CallEvent.model_validate(call.start_event)
    names = await names_for(services, start)
    when, _ = messages.clock(call.started_at or 0.0, "{date_short_pretty} {time}")
    caller = messages.party(start.caller, names, "caller")
    where = messages.service(start.service_id, names)
    outcome = call.outcome
    kind = messages.direction(start)
    if kind != "incoming":
        callees = ", ".join(messages.party(p, names, "callee") for p in start.callees) or "unknown callee"
        caller = f"{kind} call, {caller} → {callees}"
    if outcome is None and call.state != "ended":
        state = ":telephone_receiver: in progress"
    elif outcome is None:
        length = messages.duration(call.measured) if call.measured is not None else "duration unknown"
        state = f":checkered_flag: ended, {length}, {messages.UNKNOWN_OUTCOME}"
    elif outcome.missed and kind != "incoming":
        state = ":heavy_multiplication_x: not answered"
    elif outcome.missed:
        state = ":no_entry: missed"
        if call.callback is not None:
            taker = f"<@{call.callback.user_id}>"
            state += f", {taker} " + ("called back" if call.callback.done_at else "calling back")
    else:
        length = messages.duration(outcome.seconds) if outcome.seconds is not None else "duration unknown"
        state = f":white_check_mark: answered, {length}"
    return f"{when} · {caller} · {where} · {state}"


async def _resource_labels(services: Services, entries: list[AuditEntry]) -> dict[tuple[str, str], str]:
    """What an action was about, in words where the bot knows them: a service by its name,
    a call-back by its caller (``{(action, resource_id): words}``)."""
    labels: dict[tuple[str, str], str] = {}
    service_names = await services.directory.service_names()
    for entry in entries:
        key = (entry.action, entry.resource_id or "")
        if entry.action in _ON_SERVICE and entry.resource_id in service_names:
            labels[key] = f"*{escape(service_names[entry.resource_id])}*"
        elif entry.action in _ON_CALL and entry.resource_id and key not in labels:
            call = await services.call_notes.summary(entry.resource_id)
            if call is not None and call.start_event is not None:
                start = CallEvent.model_validate(call.start_event)
                caller = messages.party(start.caller, await names_for(services, start), "caller")
                labels[key] = f"the missed call from {caller}"
    return labels


def _form_words(entry: AuditEntry, done: str) -> str | None:
    """A form's create, its name first: "Created the CINNOX contact *Ada* (ID `c1`)",
    "Could not create the Bandwidth SIP endpoint *alice on d1*: …" (None: not a form's)."""
    if entry.action not in _FORM_CREATES or entry.outcome not in ("ok", "failed", "unconfirmed", "found"):
        return None
    name, _, reason = (entry.detail or "").partition("; ")
    what = done.removeprefix("Created ") + (f" *{verbatim(name)}*" if name else "")
    the_id = f" (ID {code(entry.resource_id)})" if entry.resource_id else ""
    if entry.outcome == "ok":
        return f"Created {what}{the_id}"
    if entry.outcome == "found":
        return f"Found {what}{the_id}: an attempt that seemed to fail had created it"
    if entry.outcome == "unconfirmed":
        return f"Probably created {what} (its new ID was not given)"
    return f"Could not create {what}" + (f": {escape(reason.split(': ', 1)[-1])[:300]}" if reason else "")


def _in_words(entry: AuditEntry, label: str | None = None) -> str:
    tried, done = ACTIONS.get(entry.action, (entry.action.replace("_", " ").replace(".", ": "),) * 2)
    icon = _OUTCOME_ICON.get(entry.outcome, "•")
    when = f"<!date^{int(entry.at.timestamp())}^{{date_short_pretty}} {{time}}|{entry.at:%Y-%m-%d %H:%M} UTC>"
    form = _form_words(entry, done)
    if form is not None:
        return f"{icon} {when} {form}"
    if label:
        resource = f" {label}"
    elif entry.action in _ON_CALL and entry.resource_id:
        resource = f" call `{escape(entry.resource_id)}`"
    else:
        resource = f" `{escape(entry.resource_id)}`" if entry.resource_id else ""
    detail = escape((entry.detail or "").split(": ", 1)[-1])[:300]
    if detail.startswith("→ ") and " " not in detail[2:]:  # a route's channel ID
        detail = f"to <#{detail[2:]}>"
    if entry.outcome == "ok":
        sentence = f"{done}{resource}" + (f" ({detail})" if detail else "")
    elif entry.outcome == "denied":
        sentence = f"Not allowed to {tried}: you are not in BOT_ALLOWED_USERS"
    elif entry.outcome == "invalid":
        sentence = f"The form to {tried} had fields to fix" + (f": {detail}" if detail else "")
    elif entry.outcome == "started":
        sentence = f"Started to {tried}"
    else:
        sentence = f"Could not {tried}" + (f": {detail}" if detail else "")
    return f"{icon} {when} {sentence}"
