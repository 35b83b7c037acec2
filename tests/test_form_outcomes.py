"""What a person gets back from each of the four forms: a refusal (400) or a provider that is
down (5xx) leaves the same form open with every value they typed (secrets excepted) and the
reason at the top; submitting again creates exactly once; a success shows what was made,
"Create another like this" (prefilled) and "Show request" (secrets masked)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.base import FakeService
from bot.sandbox.slack_user import SlackUser, state_values
from bot.sandbox.stack import SandboxStack
from handlers.forms import modal
from handlers.forms.contact import ContactForm
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
        words, headline = case.refusal_words, "Could not create the"
    else:
        sim(stack, case).inject(503 if case.provider != "bandwidth" else 500,
                                body={"message": "upstream unavailable"}, path_prefix=fault_prefix(case))
        words, headline = "may or may not have been created", "Maybe created."
    user = stack.user()
    kept = await answer_of(user, await case.open(user), case.values)
    text = view_text(kept)
    assert headline in text and words in text, text
    assert "console" not in text, "no advice a Slack user cannot follow"
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
    assert headline in line["text"] and "still open" in line["text"]


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
    from handlers.forms.contact import ContactForm

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


# --- what is known when the provider could not be reached, or did not answer -------------------


def closed_port() -> str:
    """A loopback address nothing listens on: connecting is refused, nothing is sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_a_refused_connection_says_nothing_was_sent_and_to_try_again(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        stack.overrides["bandwidth_base_url"] = closed_port()
        await stack.restart_bot()
        user = stack.user()
        kept = await answer_of(user, await sip_endpoint_form(user),
                               {"name": "alice", "credentials.password": SECRET})
        text = view_text(kept)
        assert "Could not create the SIP endpoint alice." in text
        assert ("Could not reach Bandwidth (connection refused): nothing was sent, so nothing was created."
                in text)
        assert "Submit to try again" in text
        assert "may " not in text.split("\n")[0] and "console" not in text
        [line] = await eventually(user.responses)
        assert "nothing was sent" in line["text"] and "submit it again to retry" in line["text"]


async def test_a_timeout_says_it_may_exist_and_whom_to_ask(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, provider_timeout=0.5) as stack:
        stack.cinnox.inject(200, path_prefix="/management/create_externalcontact", delay=3, after=True,
                            body={"code": 0, "result": {"id": "late"}})
        user = stack.user()
        kept = await answer_of(user, await contact_form(user), {"firstName": "Ada", "lastName": "Lovelace"})
        text = view_text(kept)
        assert text.startswith(":warning: *Maybe created.* CINNOX did not answer in time, so the external "
                               "contact *Ada Lovelace* may or may not have been created."), text
        assert "ask someone who manages your CINNOX account whether it is there" in text
        assert "Submit only once you know it was not created." in json.dumps(kept["blocks"])
        assert "console" not in text and "nothing was sent" not in text
        [line] = await eventually(user.responses)
        assert "Maybe created." in line["text"] and "retry" not in line["text"]
        assert len(stack.cinnox.calls("/management/create_externalcontact")) == 1, "never re-sent"


@pytest.mark.parametrize("created", [True, False], ids=["it-was-created", "it-was-not"])
async def test_a_timed_out_channel_is_looked_for_from_slack(tmp_path: Path, created: bool) -> None:
    """Yeastar's channel list is a documented read: the kept form offers the check."""
    async with SandboxStack(tmp_path, provider_timeout=0.5) as stack:
        stack.yeastar.inject(200, path_prefix="/openapi/v1.0/message_channel/create", delay=1.5, after=created,
                             body={"errcode": 0, "errmsg": "SUCCESS", "id": 99})
        user = stack.user()
        view = await message_channel_form(user)
        values = {**CASES[3].values, "name": "Night SMS"}
        kept = await answer_of(user, view, values)
        assert ("Click *Look for it in Yeastar* to ask Yeastar whether it has one named *Night SMS*"
                in view_text(kept))
        if created:
            await eventually(lambda: any(c["name"] == "Night SMS" for c in stack.yeastar.channels.values()))
        else:
            await asyncio.sleep(1.6)  # the stalled answer is over: nothing more can come of it
        before = user.slack.views[view["id"]]["hash"]
        await user.click(kept, "form.look_up", value="Night SMS", block_id="look_up",
                         values={"account_data.auth_token": SECRET})
        after = await eventually(
            lambda: user.slack.views[view["id"]]["hash"] != before and user.slack.views[view["id"]])
        text = view_text(after)
        if created:
            [channel_id] = [i for i, c in stack.yeastar.channels.items() if c["name"] == "Night SMS"]
            assert f"*Created.* Yeastar has the message channel *Night SMS* (ID `{channel_id}`)" in text
            assert "submit" not in after
        else:
            assert ("Yeastar has no message channel named *Night SMS*: it was not created. "
                    "Submit to try again.") in text
            assert after["submit"]["text"] == "Try again" and shown(after)["name"] == "Night SMS"
        assert len(creates(stack, CASES[3])) == 1


@pytest.mark.parametrize("provider", ["cinnox", "bandwidth"])
async def test_a_create_accepted_without_its_new_id_is_probably_created(stack: SandboxStack,
                                                                       provider: str) -> None:
    """CINNOX 200 without ``id``, Bandwidth 201 without ``Location``: it exists; no second one."""
    if provider == "cinnox":
        stack.cinnox.inject(200, path_prefix="/management/create_externalcontact", after=True,
                            body={"code": 0, "result": {}})
        case, values, subject = CASES[0], {"firstName": "Ada"}, "the external contact *Ada*"
    else:
        stack.bandwidth.inject(201, path_prefix="/endpoints", after=True, body={})
        case, values, subject = CASES[2], {"name": "alice", "credentials.password": SECRET}, \
            "the SIP endpoint *alice*"
    user = stack.user()
    result = await answer_of(user, await case.open(user), values)
    text = view_text(result)
    title = "CINNOX" if provider == "cinnox" else "Bandwidth"
    assert text.startswith(f":white_check_mark: *Probably created.* {title} accepted {subject} but did not say "
                           f"its new ID"), text
    assert ("Do not submit it again: that would create a second one." if provider == "cinnox" else
            "There is no need to submit it again: Bandwidth would refuse the name, now taken.") in text
    assert "Not created" not in text and "submit" not in result, "no invitation to a duplicate"
    buttons = [e["action_id"] for b in result["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["form.show_request"]
    [line] = await eventually(user.responses)
    assert "Probably created." in line["text"]
    [entry] = await eventually_async(lambda: stack.services.store.recent_audit(limit=5))
    assert entry.outcome == "unconfirmed"


# --- error sentences ----------------------------------------------------------------------------


async def test_a_form_error_names_the_field_by_its_label_in_a_sentence(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["PHONE", "STAFF"]})
    reply = await user.submit(view, {"types": ["PHONE", "STAFF"]})
    assert reply.json["errors"] == {
        "displayName": "Enter the service group name.",
        "supportLanguages": "Choose at least one supported language.",
        "supportLocations": "Choose at least one supported location.",
    }
    reply = await user.submit(view, {"displayName": "Sales", "supportLanguages": ["en"],
                                     "supportLocations": ["HK"], "types": ["PHONE", "STAFF"]})
    assert reply.json["errors"] == {"phoneTargets": "Phone numbers needs at least one number.",
                                    "staffTargets": "Staff needs at least one person."}

    view = await open_modal(user, "/message-channel", "whatsapp")
    reply = await user.submit(view, {"dids.0.did_number": "+85294667788"})
    errors = reply.json["errors"]
    assert errors["name"] == "Enter the channel name."
    assert errors["webhook_url_type"] == "Choose the webhook URL domain."
    assert errors["account_data.access_token"] == "Enter the access token."
    assert errors["dids.0.destination_type"] == "Choose the destination type."
    for sentence in errors.values():
        assert "is required" not in sentence and "account_data" not in sentence.lower(), sentence

    view = await open_modal(user, "/message-channel", "sms")
    view = await changed(user, view, "channel", {"channel": "apidaze"})
    reply = await user.submit(view, {"name": "A", "channel": "apidaze", "webhook_url_type": "nat",
                                     "accompanying_msg": "file", "account_data.api_key": "k"})
    assert reply.json["errors"] == {"account_data.api_secret": "API secret is required for an Apidaze channel."}


async def test_the_route_form_without_known_services_requires_the_id_and_says_where_to_find_it(
        stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/call-events", "route")
    assert "service" not in block_ids(view), "no service known yet: nothing to pick"
    service_id = block(view, "service_id")
    assert service_id["optional"] is False and service_id["label"]["text"] == "Service ID"
    assert "call message shows it" in service_id["hint"]["text"]
    reply = await user.submit(view, {"channel": "C0CALLS"})
    assert reply.json["errors"] == {"service_id": "Enter the service ID."}


async def test_a_form_opened_from_app_home_promises_no_message_it_cannot_post(stack: SandboxStack) -> None:
    """From App Home there is no command, so no response_url: the result is in the window and the Home."""
    user = stack.user()
    await user.open_home()
    home = await eventually(lambda: stack.slack.home_views.get(user.user_id))
    [(block_id, button)] = [(b["block_id"], e) for b in home["blocks"] if b["type"] == "actions"
                            for e in b["elements"] if e.get("value") == "contact"]
    opened = len(stack.slack.views)
    await user.click(home, button["action_id"], value="contact", block_id=block_id)
    view = await eventually(lambda: len(stack.slack.views) > opened and user.last_view())
    stack.cinnox.path_latency["/v1/api/apps/"] = 2.5
    reply = await user.submit(view, {"firstName": "Ada"})
    waiting = view_text(reply.json["view"])
    assert "Creating" in waiting and "channel where you typed" not in waiting
    assert "under *Your recent actions* in this app's Home" in waiting
    await eventually(lambda: "created" in view_text(user.slack.views[view["id"]]))


# --- lengths and escaping -------------------------------------------------------------------------


async def test_every_text_input_has_a_length_limit(stack: SandboxStack) -> None:
    """The document's limit where it gives one, a sensible one where it is silent."""
    user = stack.user()
    contact = await contact_form(user)
    contact = await add_row(user, contact, "customField")
    views = [contact, await service_group_form(user), await sip_endpoint_form(user),
             await message_channel_form(user), await open_modal(user, "/message-channel", "whatsapp")]
    limits: dict[str, int] = {}
    for view in views:
        for b in view["blocks"]:
            if b["type"] == "input" and b["element"]["type"] == "plain_text_input":
                assert "max_length" in b["element"], f"{view['callback_id']}: {b['block_id']} has no limit"
                limits[f"{view['callback_id']}:{b['block_id']}"] = b["element"]["max_length"]
    assert limits["service_group:displayName"] == 40 and limits["message_channel:name"] == 127  # documented
    assert limits["message_channel:phone_number_id"] == 31
    assert limits["message_channel:business_account_id"] == 500
    assert limits["contact:customField.0.value"] == 500
    assert limits["contact:firstName"] == 100 and limits["contact:company"] == 200  # sensible
    assert limits["sip_endpoint:name"] == 64


async def test_what_a_person_typed_is_shown_as_typed_never_as_formatting(stack: SandboxStack) -> None:
    from bot.mrkdwn import verbatim

    user = stack.user()
    typed = "*VIP* _ada_ ~x~ `y`"
    result = await answer_of(user, await contact_form(user), {"firstName": typed})
    headline = result["blocks"][0]["text"]["text"].split("\n")[0]
    assert headline == f":white_check_mark: External contact *{verbatim(typed)}* created in CINNOX."
    name = headline.removeprefix(":white_check_mark: External contact *").removesuffix("* created in CINNOX.")
    assert not set("*_~`") & set(re.sub(r"<!date\^00000000\^\{_\}\|.>", "", name)), "no bare mark"


async def test_a_long_result_is_cut_between_items_and_says_so(stack: SandboxStack) -> None:
    numbers = [f"+8529466{n:04d}" for n in range(260)]
    user = stack.user()
    result = await answer_of(user, await service_group_form(user), {
        "displayName": "Many", "supportLanguages": ["en"], "supportLocations": ["HK"], "types": ["PHONE"],
        "phoneTargets": "\n".join(numbers)})
    text = result["blocks"][0]["text"]["text"]
    assert len(text) <= 3000 and "created in CINNOX" in text
    shown = re.findall(r"\+\d+", text.split("Phone numbers:")[1])
    assert shown == numbers[:len(shown)] and 0 < len(shown) < len(numbers), "whole numbers only, in order"
    assert f"… and {len(numbers) - len(shown)} more (see *Show request*)" in text
    assert re.search(r"ID:\* `[0-9a-f]+`", text), "the ID is whole"


async def test_recent_actions_name_what_was_created_first(stack: SandboxStack) -> None:
    user = stack.user()
    await answer_of(user, await contact_form(user), {"firstName": "Ada", "lastName": "Lovelace"})
    stack.cinnox.inject(400, body={"code": 6451000, "message": "invalid phone format"},
                        path_prefix="/management/create_externalcontact")
    await answer_of(user, await contact_form(user), {"firstName": "Grace", "phones.0.phone": "+85294667788"})
    [new_id] = [e.resource_id for e in await stack.services.store.recent_audit() if e.resource_id]
    await user.open_home()
    text = await eventually(lambda: (t := json.dumps(stack.slack.home_views.get(user.user_id) or {}))
                            and "Grace" in t and t)
    assert f"Created the CINNOX contact *Ada Lovelace* (ID `{new_id}`)" in text
    assert "Could not create the CINNOX contact *Grace*: invalid phone format" in text


# --- pickers ------------------------------------------------------------------------------------


async def test_a_picker_that_fails_says_why_and_its_notice_is_no_choice(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sip_endpoint_form(user)
    stack.bandwidth.inject(401, path_prefix="/domains", count=5)
    reply = await user.suggest(view, "domainId", "")
    [notice] = reply.json["options"]
    assert notice["text"]["text"] == "⚠ Bandwidth refused the bot's credentials: tell whoever runs it"
    stack.bandwidth.clear_faults()
    stack.bandwidth.inject(400, path_prefix="/domains", count=5,
                           body={"category": "bad-request", "code": "invalid-size",
                                 "message": "size is too big"})
    [notice] = (await user.suggest(view, "domainId", "")).json["options"]
    assert notice["text"]["text"] == "⚠ Bandwidth: size is too big"
    reply = await user.submit(view, {"domainId": notice["value"], "name": "alice",
                                     "credentials.password": SECRET})
    assert "notice, not a choice" in reply.json["errors"]["domainId"]
    assert creates(stack, CASES[2]) == []


# --- wording of the forms -----------------------------------------------------------------------


async def test_the_kept_form_mentions_secrets_only_when_it_has_them(stack: SandboxStack) -> None:
    notes = {}
    for case in (CASES[0], CASES[2]):
        sim(stack, case).inject(case.refusal_status, body=case.refusal, path_prefix=fault_prefix(case))
        user = stack.user()
        kept = await answer_of(user, await case.open(user), case.values)
        [note] = [b["elements"][0]["text"] for b in kept["blocks"][:3] if b["type"] == "context"]
        notes[case.name] = note
    assert notes["contact"] == "Everything you typed is still here. Submit to try again."
    assert "passwords and secrets excepted: type them again" in notes["sip_endpoint"]


async def test_rows_are_labelled_once_each_can_be_removed_and_a_full_list_says_so(stack: SandboxStack) -> None:
    user = stack.user()
    view = await add_row(user, await message_channel_form(user), "dids")
    labels = {b["block_id"]: b["label"]["text"] for b in view["blocks"] if b["type"] == "input"}
    assert (labels["dids.1.did_number"], labels["dids.1.destination_type"], labels["dids.1.members"]) == (
        "DID number 2", "Destination type (DID number 2)", "Members (DID number 2)")
    removes = [e["text"]["text"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"] == "remove_row"]
    assert removes == ["Remove DID 1", "Remove DID 2"]

    view = await contact_form(user)
    for _ in range(9):
        view = await add_row(user, view, "phones")
    [after_phones] = [view["blocks"][i + 1] for i, b in enumerate(view["blocks"])
                      if b.get("block_id") == "add.phones"]
    assert "add_row" not in json.dumps(block(view, "add.phones"))
    assert after_phones == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "That is the most this form takes: 10 phones."}]}


async def test_a_search_puts_exact_and_prefix_matches_first(stack: SandboxStack) -> None:
    user = stack.user()
    view = await service_group_form(user)
    options = (await user.suggest(view, "supportLocations", "califor")).json["options"]
    assert options[0]["value"] == "US-CA", [o["text"]["text"] for o in options]
    options = (await user.suggest(view, "supportLanguages", "eng")).json["options"]
    assert options[0]["value"] == "en"


async def test_an_unknown_sub_command_is_quoted_as_typed(stack: SandboxStack) -> None:
    reply = await stack.user().command("/message-channel", "sm`s <!here>")
    assert reply.json["text"].startswith("I don't know `/message-channel sm\u02cbs`.")


async def test_a_channel_accepted_without_its_id_is_found_in_yeastars_list(stack: SandboxStack) -> None:
    """Yeastar's channel list is a documented read: the bot reads the new ID back from it."""
    stack.yeastar.inject(200, path_prefix="/openapi/v1.0/message_channel/create", after=True,
                         body={"errcode": 0, "errmsg": "SUCCESS"})
    user = stack.user()
    result = await answer_of(user, await message_channel_form(user), CASES[3].values)
    [channel_id] = [i for i, c in stack.yeastar.channels.items() if c["name"] == "Support SMS"]
    assert view_text(result).startswith(
        f":white_check_mark: *Created.* Yeastar accepted the message channel *Support SMS* without saying its "
        f"new ID; its list shows it with the ID `{channel_id}`.")
    assert "submit" not in result and len(creates(stack, CASES[3])) == 1
