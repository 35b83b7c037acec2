"""The registry of every surface the bot can render, built the way the bot builds them:
each form in each state, kept forms, results, the route form, App Home full and empty,
call messages in every state, the command answers (help, status, routes). One test
(tests/test_views_are_valid.py) checks them all against slack_sdk's Block Kit models and
the emulator's rules, and checks that no form, message builder or command is missing here.

To add yours: ``VIEWS`` (name → a function returning a view), ``MESSAGES`` (name → a
function returning a ``Message``), or, when building it needs the running bot (its store),
``LIVE_VIEWS`` / ``LIVE_MESSAGES`` (name → an async function of the ``SandboxStack``).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import refusal_view
from bot.providers.cinnox import CustomFieldType, DestinationType
from bot.providers.yeastar import SMS_PROVIDERS
from bot.relay.events import CallEvent, Party
from bot.relay.messages import (
    ROLLUP_CALLS,
    CallCard,
    Message,
    call_end_reply,
    call_parent,
    orphan_end,
    rollup,
    rollup_ends,
    rollup_fits,
)
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.stack import SandboxStack
from bot.store.call_notes import Callback
from bot.store.directory import Names, StaffMember
from handlers.calls import app_home, call_events, deliveries, routing, subscription
from handlers.commands import COMMANDS, usage_answer
from handlers.forms import provisioning
from handlers.forms.contact import ContactForm
from handlers.forms.message_channel import MessageChannelForm
from handlers.forms.provisioning import MAX_ROWS, Failure, Form, Outcome
from handlers.forms.service_group import ServiceGroupForm
from handlers.forms.sip_endpoint import SipEndpointForm

View = dict[str, Any]
VIEWS: dict[str, Callable[[], View]] = {}
MESSAGES: dict[str, Callable[[], Message]] = {}
LIVE_VIEWS: dict[str, Callable[[SandboxStack], Awaitable[View]]] = {}
LIVE_MESSAGES: dict[str, Callable[[SandboxStack], Awaitable[Message]]] = {}

CONTACT = ContactForm()
SERVICE_GROUP = ServiceGroupForm()
SIP_ENDPOINT = SipEndpointForm("rd-sandbox")
MESSAGE_CHANNEL = MessageChannelForm()
FORMS: list[Form] = [CONTACT, SERVICE_GROUP, SIP_ENDPOINT, MESSAGE_CHANNEL]


def _every_contact_row() -> View:
    values: dict[str, Any] = {"firstName": "Ada", "phones.0.phone": "+85294667788", "addresses.0.country": "HK",
                              "language": "en", "socialContacts.0.key": "WhatsApp"}
    for index, kind in enumerate(CustomFieldType.__args__):
        values[f"customField.{index}.type"] = kind
    return CONTACT.prefilled_view(values)


def _contact_at_most_rows() -> View:
    rows = dict.fromkeys(CONTACT.rows, MAX_ROWS)
    return CONTACT.view({"rows": rows})


def _outcome() -> Outcome:
    return Outcome("ec-1", "External contact *Ada Lovelace* created in CINNOX.",
                   [("ID", "ec-1"), ("Phone", "+85294667788")])


def _register() -> None:
    VIEWS["refusal"] = lambda: refusal_view("U0OUTSIDER")
    MESSAGES["call_end_reply"] = lambda: call_end_reply(1_764_000_000.0, 95, bye_reason="NORMAL_CLEARING",
                                                        release_party="callee")
    MESSAGES["call_end_reply.missed"] = lambda: call_end_reply(1_764_000_000.0, 0, missed=True)
    MESSAGES["call_end_reply.unknown_length"] = lambda: call_end_reply(1_764_000_000.0, None)
    MESSAGES["orphan_end"] = lambda: orphan_end(CallEvent.model_validate(call_end("c-9")["message"]),
                                                1_764_000_000.0)
    for state, card in _call_cards().items():
        MESSAGES[f"call_parent.{state}"] = lambda card=card: call_parent(card)
    for state, cards in _rollups().items():
        MESSAGES[f"rollup.{state}"] = lambda cards=cards: rollup(cards)
    MESSAGES["rollup_ends"] = lambda: rollup_ends(_rollups()["every_state"][:5])
    for command in COMMANDS:
        MESSAGES[f"help{command}"] = lambda command=command: _answer(usage_answer(command, "help"))
        MESSAGES[f"unknown{command}"] = lambda command=command: _answer(usage_answer(command, "frobnicate"))
    VIEWS["contact.empty"] = lambda: CONTACT.view({})
    VIEWS["contact.every_row_kind"] = _every_contact_row
    VIEWS["contact.most_rows"] = _contact_at_most_rows
    VIEWS["contact.kept"] = lambda: CONTACT.kept_view(
        {}, {"firstName": "Ada", "phones.0.phone": "+85294667788"},
        Failure("CINNOX said: invalid phone format. Correct the value and submit again.",
                {"phones.0.phone": "CINNOX: invalid phone format."}))
    VIEWS["contact.kept_full"] = lambda: CONTACT.kept_view(
        {"rows": dict.fromkeys(CONTACT.rows, MAX_ROWS)}, {}, Failure("CINNOX said: no.", {}))
    VIEWS["contact.prefilled_from_call"] = lambda: CONTACT.prefilled_view(
        {"phones.0.phone": "+85294667788"}, {"call_id": "7f3a9c"})
    for form in FORMS:
        name = form.callback_id
        VIEWS[f"{name}.progress"] = lambda form=form: provisioning.progress_view(form, {})
        VIEWS[f"{name}.result"] = lambda form=form: provisioning.result_view(
            form, {"response_url": "https://hooks.example/1"}, _outcome(), {"name": "x", "password": "••••••"},
            {"name": "x"})
        VIEWS[f"{name}.request"] = lambda form=form: provisioning.request_view(form, {"name": "x" * 4000})
        VIEWS[f"{name}.request_too_long"] = lambda form=form: provisioning.request_view(form, None)
        VIEWS[f"{name}.message"] = lambda form=form: provisioning.message_view(form, {}, ":x: Not created.")
        VIEWS[f"{name}.probably_created"] = lambda form=form: provisioning.probably_created_view(
            form, {}, ":white_check_mark: *Probably created.*", {"name": "x"})
        VIEWS[f"{name}.maybe_created"] = lambda form=form: form.kept_view({}, {}, provisioning.Failure(
            "It may or may not have been created.", headline="Maybe created.", icon=":warning:",
            look_up="Support SMS", maybe_created=True))
    types: tuple[str, ...] = DestinationType.__args__
    for n in range(len(types) + 1):
        for chosen in itertools.combinations(types, n):
            VIEWS[f"service_group.types={'+'.join(chosen) or 'none'}"] = (
                lambda chosen=chosen: SERVICE_GROUP.view({}, {"types": list(chosen)}))
    VIEWS["service_group.kept"] = lambda: SERVICE_GROUP.kept_view(
        {}, {"displayName": "Sales", "types": ["PHONE", "STAFF"], "staffTargets": ["s-1"],
             "supportLanguages": ["en", "*"], "supportLocations": ["HK", "US-CA"]},
        Failure("CINNOX said: displayName is duplicated.",
                {"displayName": "CINNOX: displayName is duplicated."}))
    VIEWS["sip_endpoint.empty"] = lambda: SIP_ENDPOINT.view({})
    VIEWS["sip_endpoint.no_default_domain"] = lambda: SipEndpointForm(None).view({})
    VIEWS["sip_endpoint.kept"] = lambda: SIP_ENDPOINT.kept_view(
        {}, {"domainId": "rd-sandbox", "name": "jsmith", "credentials.password": "secret"},
        Failure("Bandwidth said: no.", {"name": "Bandwidth: no."}))
    for sub in ("", "sms", "whatsapp", "facebook"):
        VIEWS[f"message_channel.sub={sub or 'none'}"] = lambda sub=sub: MESSAGE_CHANNEL.view({"sub": sub})
    for channel in (*SMS_PROVIDERS, "whatsapp", "facebook"):
        VIEWS[f"message_channel.channel={channel}"] = lambda channel=channel: MESSAGE_CHANNEL.view(
            {"sub": ""}, {"channel": channel})
        VIEWS[f"message_channel.kept.{channel}"] = lambda channel=channel: MESSAGE_CHANNEL.kept_view(
            {"sub": ""}, {"channel": channel, "name": "SMS", "account_data.auth_token": "x"},
            Failure("Yeastar said: no.", {"name": "Yeastar: no."}))
    VIEWS["message_channel.most_dids"] = lambda: MESSAGE_CHANNEL.view(
        {"sub": "sms", "rows": {"dids": MAX_ROWS}}, {"channel": "twilio"})



def _answer(body: dict[str, Any] | None) -> Message:
    assert body is not None
    return Message(body["text"], body.get("blocks") or [])


def _call_cards() -> dict[str, CallCard]:
    start = CallEvent.model_validate(call_start("c-1", "svc-sales", caller="85291234567",
                                                callees=("85261234567", "85261110000"))["message"])
    known = Names(contacts={"+85291234567": "Ada Lovelace"}, services={"svc-sales": "Sales hotline"})
    at = 1_764_000_000.0
    taken, done = Callback("U0ADA", at + 60), Callback("U0ADA", at + 60, at + 120)
    staff = start.model_copy(update={"caller": Party(number="85261112222", eid="e-1")})
    return {
        "ringing": CallCard("c-1", start, at),
        "ringing.known_names": CallCard("c-1", start, at, names=known),
        "ringing.staff_caller": CallCard("c-1", staff, at, names=Names(
            staff={"e-1": StaffMember("e-1", "Grace Hopper", "1001")})),
        "ended": CallCard("c-1", start, at, "ended", 95.0),
        "ended.unknown_length": CallCard("c-1", start, at, "ended"),
        "missed": CallCard("c-1", start, at, "missed", 0.0),
        "missed.calling_back": CallCard("c-1", start, at, "missed", 0.0, taken),
        "missed.called_back": CallCard("c-1", start, at, "missed", 0.0, done, known),
    }


def _rollups() -> dict[str, list[CallCard]]:
    """A busy channel's roll-up: every call ringing; each state a call can end in; as many
    missed calls (each with its buttons) as one roll-up holds."""
    cards = _call_cards()
    at = 1_764_000_000.0

    def call(n: int, state: str = "ringing") -> CallCard:
        card = cards[state]
        start = card.start.model_copy(update={"id": f"c-{n}"})
        return CallCard(f"c-{n}", start, at + n, card.state, card.seconds, card.callback, card.names)

    ended = ["ended", "ended.unknown_length", "missed", "missed.calling_back", "missed.called_back",
             "ringing.staff_caller", "ringing.known_names"]
    return {
        "ringing": [call(n) for n in range(3)],
        "every_state": [call(n, state) for n, state in enumerate(ended)],
        "one_call": [call(0, "missed")],
        "full": (full := [call(n, "missed") for n in range(ROLLUP_CALLS)])[: rollup_fits(full)],
        "full.all_called_back": [call(n, "missed.called_back") for n in range(rollup_fits(full))],
    }


async def _home(stack: SandboxStack, user: str = "U0ADMIN") -> View:
    return {"type": "home", "blocks": await app_home.home_blocks(stack.services, user)}


async def _full_home(stack: SandboxStack) -> View:
    """Calls in progress, missed and ended, routes, a given-up delivery, recent actions."""
    from tests.flow import eventually_async

    services = stack.services
    for n in range(15):
        await services.relay.set_route(f"svc-{n}", f"C0ROUTE{n}", "U0ADMIN")
    stack.slack.add_channel("C0GONE", "gone", member=False)
    await services.relay.set_route("svc-gone", "C0GONE", "U0ADMIN")
    stack.cinnox.record_call("c-missed", 0, bye_reason="NO_ANSWER")
    await stack.webhook(call_start("c-live", caller="85261110000"))
    await stack.webhook(call_start("c-missed", caller="85291234567"))
    await stack.webhook(call_end("c-missed"))
    await stack.webhook(call_start("c-gone", "svc-gone"))
    await eventually_async(services.outbox.failed_count)
    await services.access.record("U0ADMIN", "contact.create", "ok", resource_id="ec-1", detail="Ada")
    return await _home(stack)


async def _status(stack: SandboxStack) -> Message:
    text = await call_events._status(stack.services)
    return Message(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
                          *await deliveries.given_up_blocks(stack.services, limit=10)])


def _register_live() -> None:
    LIVE_VIEWS["app_home.empty"] = _home
    LIVE_VIEWS["app_home.full"] = _full_home
    LIVE_VIEWS["app_home.notice"] = _home_with_notice
    LIVE_VIEWS["app_home.subscribed"] = _subscribed_home
    LIVE_VIEWS["call_route.empty"] = lambda stack: routing.form_view(stack.services, {})
    LIVE_VIEWS["call_route.for_a_service"] = lambda stack: routing.form_view(
        stack.services, {"service": "svc-1"})
    LIVE_VIEWS["call_route.problem"] = lambda stack: routing.form_view(
        stack.services, {}, {"service_id": "svc-1", "channel": "C0X"},
        problem="I'm not a member of <#C0X> yet.")
    LIVE_MESSAGES["call_events.status"] = _status
    LIVE_MESSAGES["call_events.routes"] = lambda stack: _text(routing.routes_text(stack.services))


async def _subscribed_home(stack: SandboxStack) -> View:
    import json

    await stack.services.store.set_setting(subscription.SUBSCRIPTION_SETTING, json.dumps({"enabled": True}))
    return await _home(stack)


async def _home_with_notice(stack: SandboxStack) -> View:
    return {"type": "home", "blocks": await app_home.home_blocks(stack.services, "U0ADMIN", "Done.")}


async def _text(text: Awaitable[str]) -> Message:
    return Message(await text, [])


_register()
_register_live()


def _register_imports() -> None:
    """The CSV import's modals and messages (handlers/forms/csv_import.py, bot/imports/progress.py)."""
    from collections import Counter

    from bot.imports import progress
    from bot.store.imports import Job
    from handlers.forms import csv_import
    from handlers.forms.csv_rows import Checked, Problem

    many = Checked(700, problems=[Problem(n, "Phone number", "must start with \"+\" " + "x" * 200)
                                  for n in range(2, 602)], unknown_columns=["nickname", "notes"])
    job = Job("j1", "contact", "U0ADMIN", "C0OPS", "team.csv", "running", 500, 0.0, 1.0, "1.0", None, False)
    for spec in (csv_import.contact_import(CONTACT), csv_import.sip_endpoint_import(SIP_ENDPOINT)):
        name = spec.callback_id
        VIEWS[f"{name}.pick"] = lambda spec=spec: csv_import.pick_view(spec, {"channel_id": "C0OPS"})
        VIEWS[f"{name}.pick_from_home"] = lambda spec=spec: csv_import.pick_view(spec, {}, "Pick a file.")
        VIEWS[f"{name}.preview"] = lambda spec=spec: csv_import.preview_view(spec, "team.csv", many, {})
        VIEWS[f"{name}.preview_nothing"] = lambda spec=spec: csv_import.preview_view(
            spec, "team.csv", Checked(1, problems=[Problem(2, "Row", "x")]), {})
        VIEWS[f"{name}.message"] = lambda spec=spec: csv_import.message_view(spec, "The file is empty.", {})
        VIEWS[f"{name}.started"] = lambda spec=spec: csv_import.started_view(spec, 5000, "C0OPS", 1.0)
        VIEWS[f"{name}.template"] = lambda spec=spec: csv_import.template_view(spec)
        MESSAGES[f"{name}.running"] = lambda spec=spec: Message(*progress.running_message(
            job, spec, Counter(created=10, failed=2, ready=488), 1.0))
        MESSAGES[f"{name}.final"] = lambda spec=spec: Message(*progress.final_message(
            job, spec, Counter(created=10, failed=2, invalid=3, cancelled=485)))


_register_imports()
