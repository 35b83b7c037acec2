"""Every view the bot can show and every message's blocks, built the way the bot builds
them, so one test can check them all against slack_sdk's own Block Kit models.

To add yours, append to ``VIEWS`` (name → a function returning a view) or ``MESSAGES``
(name → a function returning a message's blocks), e.g. from the module that owns them:
``VIEWS["app_home"] = lambda: app_home.home_view(...)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from bot.app import refusal_view
from bot.providers.cinnox import CustomFieldType, DestinationType
from bot.providers.yeastar import SMS_PROVIDERS
from bot.relay.messages import call_end_reply
from handlers import provisioning
from handlers.contact import ContactForm
from handlers.message_channel import MessageChannelForm
from handlers.provisioning import MAX_ROWS, Failure, Form, Outcome
from handlers.service_group import ServiceGroupForm
from handlers.sip_endpoint import SipEndpointForm

View = dict[str, Any]
VIEWS: dict[str, Callable[[], View]] = {}
MESSAGES: dict[str, Callable[[], list[dict[str, Any]]]] = {}

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
                                                        release_party="callee").blocks
    MESSAGES["call_end_reply.missed"] = lambda: call_end_reply(1_764_000_000.0, 0, missed=True).blocks
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


_register()


def _register_imports() -> None:
    """The CSV import's modals and messages (handlers/csv_import.py, bot/imports/progress.py)."""
    from collections import Counter

    from bot.imports import progress
    from bot.store.imports import Job
    from handlers import csv_import
    from handlers.csv_rows import Checked, Problem

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
        MESSAGES[f"{name}.running"] = lambda spec=spec: progress.running_message(
            job, spec, Counter(created=10, failed=2, ready=488), 1.0)[1]
        MESSAGES[f"{name}.final"] = lambda spec=spec: progress.final_message(
            job, spec, Counter(created=10, failed=2, invalid=3, cancelled=485))[1]


_register_imports()
