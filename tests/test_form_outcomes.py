"""What a person gets back from each of the four forms: a refusal (400) or a provider that is
down (5xx) leaves the same form open with every value they typed (secrets excepted) and the
reason at the top; submitting again creates exactly once; a success shows what was made,
"Create another like this" (prefilled) and "Show request" (secrets masked)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.base import FakeService
from bot.sandbox.slack_user import SlackUser, state_values
from bot.sandbox.stack import SandboxStack
from handlers import modal
from handlers.contact import ContactForm
from tests.flow import add_row, block, block_ids, changed, eventually, eventually_async, open_modal, view_text

SECRET = "Zebra-Horse-913"


async def contact_form(user: SlackUser) -> dict[str, Any]:
    return await open_modal(user, "/contact")


async def service_group_form(user: SlackUser) -> dict[str, Any]:
    view = await open_modal(user, "/service-group")
    return await changed(user, view, "types", {"types": ["PHONE"]})


async def sip_endpoint_form(user: SlackUser) -> dict[str, Any]:
    return await open_modal(user, "/sip-endpoint")


async def message_channel_form(user: SlackUser) -> dict[str, Any]:
    view = await open_modal(user, "/message-channel", "sms")
    return await changed(user, view, "channel", {"channel": "twilio"})


@dataclass
class Case:
    name: str
    open: Callable[[SlackUser], Awaitable[dict[str, Any]]]
    values: dict[str, Any]
    secrets: tuple[str, ...]
    provider: str  # the simulator's attribute on the stack
    create_path: str
    refusal: dict[str, Any]  # the provider's answer refusing the create
    refusal_status: int
    refusal_words: str
    refused_field: str | None  # the block the refusal names
    unique: tuple[str, ...] = ()


CASES = [
    Case("contact", contact_form,
         {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines",
          "phones.0.phone": "+85294667788", "phones.0.type": "Work", "emails.0.email": "ada@example.com",
          "language": "en", "birthDate": "1985-12-10"},
         (), "cinnox", "/management/create_externalcontact",
         {"code": 6451000, "message": "invalid phone format"}, 400, "invalid phone format", "phones.0.phone"),
    Case("service_group", service_group_form,
         {"displayName": "Sales HK", "supportLanguages": ["en"], "supportLocations": ["HK"],
          "types": ["PHONE"], "phoneTargets": "+85294667788\n+14155550100"},
         (), "cinnox", "/destination",
         {"code": 6451000, "message": "displayName is duplicated"}, 400, "displayName is duplicated",
         "displayName", unique=("displayName",)),
    Case("sip_endpoint", sip_endpoint_form,
         {"name": "jsmith_mobile", "description": "John's phone", "credentials.password": SECRET},
         ("credentials.password",), "bandwidth", "/endpoints",
         {"category": "bad-request", "code": "invalid-name", "message": "The endpoint name is not allowed",
          "details": [{"name": "name", "value": "jsmith_mobile"}]}, 400, "endpoint name is not allowed", "name",
         unique=("name",)),
    Case("message_channel", message_channel_form,
         {"name": "Support SMS", "channel": "twilio", "webhook_url_type": "nat",
          "account_data.account_sid": "AC123", "account_data.auth_token": SECRET, "send_rate": "5"},
         ("account_data.auth_token",), "yeastar", "/message_channel/create",
         {"errcode": 40003, "errmsg": "FAILURE"}, 200, "already exists", "name",
         unique=("name",)),
]
IDS = [c.name for c in CASES]


def sim(stack: SandboxStack, case: Case) -> FakeService:
    service: FakeService = getattr(stack, case.provider)
    return service


def fault_prefix(case: Case) -> str:
    """Faults hit the create itself (not Yeastar's token request before it)."""
    return "/openapi/v1.0/message_channel/create" if case.provider == "yeastar" else ""


def creates(stack: SandboxStack, case: Case) -> list[Any]:
    return [r for r in sim(stack, case).calls(case.create_path) if r.method == "POST"]


def shown(view: dict[str, Any]) -> dict[str, Any]:
    """What Slack would submit if the person touched nothing: the values the form shows."""
    return modal.state_by_path({"state": {"values": state_values(view, {})}})


def same(typed: Any, seen: Any) -> bool:
    return sorted(typed) == sorted(seen or []) if isinstance(typed, list) else str(typed) == str(seen)


async def answer_of(user: SlackUser, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Submit and return the view the person ends up with (inline or after views.update)."""
    reply = await user.submit(view, values)
    assert reply.status == 200 and reply.json["response_action"] == "update", reply.text
    return await eventually(lambda: "Creating" not in view_text(v := user.slack.views[view["id"]]) and v)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("failure", ["refused", "down"])
async def test_a_failed_create_keeps_every_value_and_shows_the_reason(
    stack: SandboxStack, case: Case, failure: str
) -> None:
    if failure == "refused":
        sim(stack, case).inject(case.refusal_status, body=case.refusal, path_prefix=fault_prefix(case))
        words = case.refusal_words
    else:
        sim(stack, case).inject(503 if case.provider != "bandwidth" else 500,
                                body={"message": "upstream unavailable"}, path_prefix=fault_prefix(case))
        words = "may or may not have been created"
    user = stack.user()
    kept = await answer_of(user, await case.open(user), case.values)
    text = view_text(kept)
    assert "Not created" in text and words in text, text
    assert kept["submit"]["text"] == "Try again"
    values = shown(kept)
    for block_id, typed in case.values.items():
        if block_id in case.secrets:
            assert values.get(block_id) in (None, ""), f"{block_id}: a secret came back to Slack"
            assert "again" in block(kept, block_id)["hint"]["text"]
        else:
            assert same(typed, values.get(block_id)), f"{block_id}: {typed!r} → {values.get(block_id)!r}"
    if failure == "refused" and case.refused_field:
        at_field = kept["blocks"][kept["blocks"].index(block(kept, case.refused_field)) + 1]
        assert at_field["type"] == "context" and words in json.dumps(at_field), at_field
    assert SECRET not in json.dumps(stack.slack.views)
    [line] = await eventually(user.responses)
    assert "Not created" in line["text"] and "still open" in line["text"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_submitting_the_kept_form_again_creates_exactly_once(stack: SandboxStack, case: Case) -> None:
    sim(stack, case).inject(case.refusal_status, body=case.refusal, path_prefix=fault_prefix(case))
    user = stack.user()
    view = await case.open(user)
    await answer_of(user, view, case.values)
    assert len(creates(stack, case)) == 1
    kept = user.slack.views[view["id"]]
    again = {block_id: value for block_id, value in case.values.items() if block_id in case.secrets}
    # A double click on "Try again": both reach the bot, one create is sent.
    first, second = await asyncio.gather(user.submit(kept, again), user.submit(kept, again))
    assert first.status == second.status == 200
    await eventually(lambda: "created" in view_text(user.slack.views[view["id"]]))
    await asyncio.sleep(0.3)
    assert len(creates(stack, case)) == 2, "one refused, one created"
    [entry_ok, entry_failed] = await stack.services.store.recent_audit()
    assert (entry_ok.outcome, entry_failed.outcome) == ("ok", "failed")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_result_offers_another_like_it_and_the_request_sent(stack: SandboxStack, case: Case) -> None:
    user = stack.user()
    view = await case.open(user)
    result = await answer_of(user, view, case.values)
    text = view_text(result)
    assert "created" in text
    buttons = {e["action_id"]: e for b in result["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"form.create_another", "form.show_request"}

    pushed_before = len(user.slack.views)
    await user.click(result, "form.show_request")
    request_view = await eventually(lambda: len(user.slack.views) > pushed_before and user.last_view())
    shown_request = view_text(request_view)
    [sent] = creates(stack, case)
    for key in ("name", "displayName", "firstName"):
        if key in sent.body:
            assert json.dumps(sent.body[key]) in shown_request
    assert SECRET not in shown_request and "••••••" in shown_request if case.secrets else True

    before = user.slack.views[view["id"]]["hash"]
    await user.click(result, "form.create_another")
    again = await eventually(
        lambda: user.slack.views[view["id"]]["hash"] != before and user.slack.views[view["id"]])
    assert again["submit"]["text"] == "Create"
    values = shown(again)
    for block_id, typed in case.values.items():
        if block_id in case.secrets or block_id in case.unique:
            assert values.get(block_id) in (None, ""), block_id
        else:
            assert same(typed, values.get(block_id)), f"{block_id}: {typed!r} → {values.get(block_id)!r}"
    # ... and it creates a second one when submitted with the names it needs.
    fill = {k: v for k, v in case.values.items() if k in case.secrets}
    fill.update({k: f"{case.values[k]}2" for k in case.unique})
    second = await answer_of(user, again, fill)
    assert "created" in view_text(second) and len(creates(stack, case)) == 2


async def test_a_slow_provider_is_answered_creating_then_the_outcome_replaces_it(stack: SandboxStack) -> None:
    stack.cinnox.path_latency["/v1/api/apps/"] = 2.5
    user = stack.user()
    view = await open_modal(user, "/contact")
    reply = await user.submit(view, {"firstName": "Ada"})
    assert "Creating" in view_text(reply.json["view"])
    await eventually(lambda: "created" in view_text(user.slack.views[view["id"]]))


async def test_a_contact_with_only_a_phone_number_is_created(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    result = await answer_of(user, view, {"phones.0.phone": "+85294667788"})
    assert "+85294667788" in view_text(result) and "created" in view_text(result)
    [sent] = stack.cinnox.calls("/management/create_externalcontact")
    assert sent.body["phones"] == [{"type": "Mobile", "phone": "+85294667788"}]
    assert "firstName" not in sent.body and "emails" not in sent.body


async def test_a_row_can_be_removed_and_the_rows_after_it_move_up(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    view = await add_row(user, view, "phones")
    view = await add_row(user, view, "phones")
    typed = {"phones.0.phone": "+14155550100", "phones.1.phone": "+442071838750",
             "phones.2.phone": "+85294667788", "phones.2.type": "Home"}
    before = user.slack.views[view["id"]]["hash"]
    await user.click(view, "remove_row", value="phones.1", block_id="remove.phones.1", values=typed)
    view = await eventually(
        lambda: user.slack.views[view["id"]]["hash"] != before and user.slack.views[view["id"]])
    assert [i for i in block_ids(view) if i.startswith("phones.")] == [
        "phones.0.phone", "phones.0.type", "phones.1.phone", "phones.1.type"]
    values = shown(view)
    assert (values["phones.0.phone"], values["phones.1.phone"], values["phones.1.type"]) == (
        "+14155550100", "+85294667788", "Home")


async def test_a_contact_opened_prefilled_by_another_module_carries_its_metadata(stack: SandboxStack) -> None:
    from handlers.contact import ContactForm

    view = ContactForm().prefilled_view({"phones.0.phone": "+85294667788"}, {"call_id": "7f3a9c"})
    assert block(view, "phones.0.phone")["element"]["initial_value"] == "+85294667788"
    assert json.loads(view["private_metadata"])["call_id"] == "7f3a9c"
    view = ContactForm().prefilled_view({"phones.1.phone": "+14155550100"})
    assert "phones.1.phone" in block_ids(view)


async def test_an_error_in_a_one_per_line_list_names_the_line(stack: SandboxStack) -> None:
    user = stack.user()
    view = await service_group_form(user)
    reply = await user.submit(view, {"displayName": "Sales", "types": ["PHONE"],
                                     "supportLanguages": ["en"], "supportLocations": ["HK"],
                                     "phoneTargets": "+85294667788\n+14155550100\n012345"})
    assert reply.json["errors"]["phoneTargets"].startswith("Line 3: ")


async def test_an_empty_sip_password_says_what_to_enter(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sip_endpoint_form(user)
    reply = await user.submit(view, {"name": "jsmith"})
    assert reply.json["errors"] == {"credentials.password": "Enter the SIP password."}


async def test_a_form_submitted_after_its_provider_was_unset_comes_back_with_its_values(
        tmp_path: Path) -> None:
    """The form was opened while CINNOX was set up; by the time it is submitted it is not."""
    async with SandboxStack(tmp_path, providers=False) as stack:
        user = stack.user()
        await user.command("/contact")  # the command's response_url, as when the form opened
        view = {**ContactForm().view({"response_url": user.last_response_url}), "id": "V0LATE", "hash": "h0"}
        stack.slack.replace_view("V0LATE", {k: v for k, v in view.items() if k != "id"})
        reply = await user.submit(view, {"firstName": "Ada", "phones.0.phone": "+85294667788"})
        answer = reply.json["view"]
        text = view_text(answer)
        assert "Not created" in text and "isn't set up on this bot yet" in text and "CINNOX_APP_TOKEN" in text
        assert shown(answer)["firstName"] == "Ada" and shown(answer)["phones.0.phone"] == "+85294667788"
        [line] = await eventually(user.responses)  # the outcome in one line too, and its audit row
        assert "Not created" in line["text"] and "isn't set up" in line["text"]
        assert line["response_type"] == "ephemeral" and line["replace_original"] is False  # to them, added
        [entry] = await eventually_async(lambda: stack.services.store.recent_audit(limit=5))
        assert (entry.action, entry.outcome) == ("contact.create", "failed")
        assert entry.detail == "Ada; not configured"
