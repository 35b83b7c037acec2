"""/message-channel: the form follows the chosen channel, Yeastar gets exactly the documented
body (Base64 where the document says so), and typed credentials never show up again."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from bot.sandbox.slack_user import SlackUser, state_values
from bot.sandbox.stack import SandboxStack
from tests.flow import add_row, block, block_ids, changed, eventually, open_modal, submit_and_wait

SECRET = "Sup3r-Secret-Value"

# From the document (../shared/api-docs/yeastar-create-message-channel.txt), written out
# here rather than read from the bot's own table.
DOCUMENTED_KEYS = {
    "general": ["api_key", "api_secret", "api_verify_url", "api_send_url"],
    "athena": ["api_key", "api_secret", "api_verify_url", "api_send_url"],
    "ixica": ["api_key", "api_secret", "api_verify_url", "api_send_url"],
    "vetta": ["api_key", "api_secret", "api_verify_url", "api_send_url"],
    "apidaze": ["api_key", "api_secret"],
    "bandwidth": ["application_id", "account_id", "username", "password"],
    "flowroute": ["access_key", "secret_key"],
    "siptrunk": ["access_key", "secret_key"],
    "skyetel": ["sid_key", "secret_key"],
    "telnyx": ["api_key", "public_key"],
    "twilio": ["account_sid", "auth_token"],
    "voicemeup": ["username", "auth_token"],
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def creates(stack: SandboxStack) -> list[Any]:
    return stack.yeastar.calls("/message_channel/create")


def account_blocks(view: dict[str, Any]) -> list[str]:
    return [b.removeprefix("account_data.") for b in block_ids(view) if b.startswith("account_data.")]


async def sms_form(user: SlackUser, provider: str) -> dict[str, Any]:
    view = await open_modal(user, "/message-channel", "sms")
    return await changed(user, view, "channel", {"channel": provider})


async def test_without_a_subcommand_the_form_starts_with_the_channel_choice(stack: SandboxStack) -> None:
    view = await open_modal(stack.user(), "/message-channel")
    assert view["callback_id"] == "message_channel"
    channel = block(view, "channel")
    assert channel["dispatch_action"] is True
    values = [o["value"] for o in channel["element"]["options"]]
    assert sorted(values) == sorted([*DOCUMENTED_KEYS, "whatsapp", "facebook"])
    assert account_blocks(view) == []
    assert block(view, "name")["optional"] is False
    assert block(view, "send_rate")["optional"] is True


@pytest.mark.parametrize("provider", list(DOCUMENTED_KEYS))
async def test_choosing_an_sms_provider_shows_exactly_its_account_fields(
    stack: SandboxStack, provider: str
) -> None:
    view = await sms_form(stack.user(), provider)
    assert sorted(account_blocks(view)) == sorted(DOCUMENTED_KEYS[provider])
    assert block(view, "accompanying_msg")["optional"] is (provider != "apidaze"), "every SMS channel has it"
    optional = {k for k in account_blocks(view) if block(view, f"account_data.{k}")["optional"]}
    general_like = "api_verify_url" in DOCUMENTED_KEYS[provider]
    assert optional == ({"api_secret", "api_verify_url"} if general_like else set())


async def test_switching_provider_replaces_the_account_fields(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "twilio")
    view = await changed(user, view, "channel", {"channel": "telnyx", "name": "Kept"})
    assert account_blocks(view) == ["api_key", "public_key"]
    assert block(view, "name")["element"]["initial_value"] == "Kept"


async def test_a_full_sms_channel_sends_the_documented_body(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "general")
    view = await add_row(user, view, "dids")
    assert "dids.1.did_number" in block_ids(view) and "dids.1.members" in block_ids(view)
    outcome = await submit_and_wait(user, view, {
        "name": "Docs-General SMS Channel", "channel": "general", "webhook_url_type": "nat",
        "account_data.api_key": "myAPIKey456", "account_data.api_secret": "mySuperSecret123",
        "account_data.api_verify_url": "https://api.example.com/auth/verify",
        "account_data.api_send_url": "https://api.example.com/message/send",
        "send_rate": "2", "auto_close_session": "1", "session_expired_time": "5",
        "dids.0.did_number": "+1234567890", "dids.0.destination_type": "extension",
        "dids.0.destination_id": "137", "dids.0.members": ["extension:137", "ext_group:4"],
        "dids.1.did_number": "+1234567891", "dids.1.destination_type": "queue",
    })
    [sent] = creates(stack)
    assert sent.body == {
        "name": "Docs-General SMS Channel", "webhook_url_type": "nat", "channel": "general",
        "account_data": [
            {"k": "api_key", "v": "bXlBUElLZXk0NTY="},  # the document's own example values
            {"k": "api_secret", "v": "bXlTdXBlclNlY3JldDEyMw=="},
            {"k": "api_verify_url", "v": "https://api.example.com/auth/verify"},
            {"k": "api_send_url", "v": "https://api.example.com/message/send"},
        ],
        "send_rate": 2, "auto_close_session": 1, "session_expired_time": 5,
        "dids": [
            {"did_number": "+1234567890", "destination_type": "extension", "destination_id": "137",
             "members": [{"type": "extension", "value": "137"}, {"type": "ext_group", "value": "4"}]},
            {"did_number": "+1234567891", "destination_type": "queue"},
        ],
    }
    assert "SMS channel *Docs-General SMS Channel* created" in outcome
    channel_id = str(next(iter(stack.yeastar.channels)))
    assert f"Channel ID:* `{channel_id}`" in outcome


async def test_apidaze_needs_the_accompanying_message(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "apidaze")
    values = {"name": "Apidaze", "channel": "apidaze", "webhook_url_type": "fqdn",
              "account_data.api_key": "k", "account_data.api_secret": SECRET}
    reply = await user.submit(view, values)
    assert "Apidaze" in reply.json["errors"]["accompanying_msg"]
    assert creates(stack) == []
    await submit_and_wait(user, view, {**values, "accompanying_msg": "See the attached file"})
    [sent] = creates(stack)
    assert sent.body["accompanying_msg"] == "See the attached file"
    assert sent.body["account_data"] == [{"k": "api_key", "v": b64("k")}, {"k": "api_secret", "v": b64(SECRET)}]


async def test_a_whatsapp_channel_sends_the_documented_body(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/message-channel", "whatsapp")
    assert "channel" not in block_ids(view)
    assert account_blocks(view) == ["access_token", "app_secret"]
    await submit_and_wait(user, view, {
        "name": "Docs-WhatsApp Channel", "webhook_url_type": "fqdn",
        "account_data.access_token": "mySuperSecret123", "account_data.app_secret": "myAPIKey456",
        "phone_number_id": "3546573434879", "business_account_id": "3456789890",
        "dids.0.did_number": "+15567778888", "dids.0.destination_type": "queue", "dids.0.destination_id": "4",
        "auto_close_session": "1", "session_expired_time": "5",
    })
    [sent] = creates(stack)
    assert sent.body == {
        "name": "Docs-WhatsApp Channel", "webhook_url_type": "fqdn", "channel": "whatsapp",
        "account_data": [{"k": "access_token", "v": "bXlTdXBlclNlY3JldDEyMw=="},
                         {"k": "app_secret", "v": "bXlBUElLZXk0NTY="}],
        "phone_number_id": "3546573434879", "business_account_id": "MzQ1Njc4OTg5MA==",
        "dids": [{"did_number": "+15567778888", "destination_type": "queue", "destination_id": "4"}],
        "auto_close_session": 1, "session_expired_time": 5,
    }


async def test_a_facebook_channel_sends_the_page_name_plain_and_has_no_members(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/message-channel", "facebook")
    assert account_blocks(view) == ["access_token", "app_secret", "page_name"]
    assert "dids.0.members" not in block_ids(view)
    await submit_and_wait(user, view, {
        "name": "Docs-Facebook Channel", "webhook_url_type": "fqdn",
        "account_data.access_token": "mySuperSecret123", "account_data.app_secret": "myAPIKey456",
        "account_data.page_name": "test-facebook-page",
        "dids.0.did_number": "12345678901234", "dids.0.destination_type": "queue", "dids.0.destination_id": "4",
    })
    [sent] = creates(stack)
    assert sent.body["channel"] == "facebook"
    assert sent.body["account_data"] == [
        {"k": "access_token", "v": "bXlTdXBlclNlY3JldDEyMw=="}, {"k": "app_secret", "v": "bXlBUElLZXk0NTY="},
        {"k": "page_name", "v": "test-facebook-page"}]
    assert sent.body["dids"] == [{"did_number": "12345678901234", "destination_type": "queue",
                                  "destination_id": "4"}]


VALID_TWILIO = {"name": "SMS", "channel": "twilio", "webhook_url_type": "nat",
                "account_data.account_sid": "AC1", "account_data.auth_token": SECRET}
VALID_WHATSAPP = {"name": "WA", "webhook_url_type": "fqdn", "account_data.access_token": SECRET,
                  "account_data.app_secret": SECRET, "phone_number_id": "35465", "business_account_id": "345"}


@pytest.mark.parametrize(
    ("sub", "channel", "values", "block_id", "words"),
    [
        ("sms", "twilio", {**VALID_TWILIO, "name": "x" * 128}, "name", "127"),
        ("sms", "twilio", {**VALID_TWILIO, "account_data.auth_token": ""}, "account_data.auth_token",
         "required"),
        ("sms", "general", {"name": "G", "channel": "general", "webhook_url_type": "nat",
                            "account_data.api_key": "k", "account_data.api_send_url": "http://plain.example.com"},
         "account_data.api_send_url", "https"),
        ("sms", "twilio", {**VALID_TWILIO, "dids.0.did_number": "+15551234567",
                           "dids.0.destination_type": "extension", "dids.0.members": ["boss:7"]},
         "dids.0.members", "extension"),
        ("sms", "twilio", {**VALID_TWILIO, "dids.0.did_number": "+15551234567"},
         "dids.0.destination_type", "Choose the destination type."),
        ("whatsapp", None, {**VALID_WHATSAPP, "phone_number_id": "9" * 32}, "phone_number_id", "31"),
        ("whatsapp", None, {**VALID_WHATSAPP, "business_account_id": "b" * 400}, "business_account_id", "500"),
        ("whatsapp", None, {**VALID_WHATSAPP, "dids.0.did_number": "5567778888",
                            "dids.0.destination_type": "queue"}, "dids.0.did_number", "country code"),
        ("sms", None, {"name": "No provider", "webhook_url_type": "nat"}, "channel",
         "Choose the SMS provider."),
    ],
    ids=["name-127", "missing-secret", "send-url-https", "member-type", "destination-type",
         "phone-number-id-31", "business-account-500", "whatsapp-e164", "no-provider"],
)
async def test_each_rule_errors_inline_and_nothing_reaches_yeastar(
    stack: SandboxStack, sub: str, channel: str | None, values: dict[str, str], block_id: str, words: str
) -> None:
    user = stack.user()
    view = await (sms_form(user, channel) if channel else open_modal(user, "/message-channel", sub))
    reply = await user.submit(view, values)
    errors = reply.json["errors"]
    assert block_id in errors and words.lower() in errors[block_id].lower(), errors
    assert SECRET not in json.dumps(errors)
    assert creates(stack) == []


async def test_a_duplicate_name_is_yeastars_own_message(stack: SandboxStack) -> None:
    user = stack.user()
    for expect in ("created", "Could not create the message channel"):
        view = await sms_form(user, "twilio")
        outcome = await submit_and_wait(user, view, VALID_TWILIO)
        assert expect in outcome
    assert "already exists" in outcome
    [ephemeral] = await eventually(user.responses)
    assert "already exists" in ephemeral["text"]


async def test_yeastar_down_or_slow_gives_a_clear_outcome(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, provider_timeout=1) as stack:
        user = stack.user()
        stack.yeastar.inject(500, path_prefix="/openapi/v1.0/message_channel/create")
        outcome = await submit_and_wait(user, await sms_form(user, "twilio"), VALID_TWILIO)
        assert "Maybe created" in outcome
        stack.yeastar.inject(200, path_prefix="/openapi/v1.0/message_channel/create", delay=3,
                             body={"errcode": 0, "errmsg": "SUCCESS", "id": 9})
        outcome = await submit_and_wait(user, await sms_form(user, "twilio"), VALID_TWILIO)
        assert "Maybe created" in outcome
        assert "Traceback" not in outcome and "Error(" not in outcome


async def test_typed_credentials_never_appear_in_views_messages_audit_or_logs(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "twilio")
    with structlog.testing.capture_logs() as logs:
        # a re-render after typing the secret (choosing the same provider again) keeps it out
        view = await changed(user, view, "channel", {**VALID_TWILIO})
        assert "initial_value" not in block(view, "account_data.auth_token")["element"]
        await submit_and_wait(user, view, {**VALID_TWILIO, "name": "Secret-check"})
        await eventually(user.responses)
    [sent] = creates(stack)
    assert {"k": "auth_token", "v": b64(SECRET)} in sent.body["account_data"]
    seen = json.dumps([stack.slack.views, user.responses(), [str(e) for e in logs],
                       [str(e) for e in await stack.services.store.recent_audit()]])
    assert SECRET not in seen and b64(SECRET) not in seen


@pytest.mark.parametrize("text", ["help", "telegram"])
async def test_help_and_an_unknown_kind_answer_with_the_usage(stack: SandboxStack, text: str) -> None:
    reply = await stack.user().command("/message-channel", text)
    answer = reply.json["text"]
    assert "/message-channel whatsapp" in answer
    assert ("I don't know" in answer) == (text == "telegram")
    assert stack.slack.views == {}


async def test_submitting_without_a_provider_points_at_the_provider_choice(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/message-channel", "sms")
    reply = await user.submit(view, {"name": "Support SMS"})
    errors = reply.json["errors"]
    assert "channel" in errors and "name" not in errors
    assert stack.yeastar.calls("/message_channel/create") == []


async def test_a_secret_reaches_yeastar_exactly_as_typed(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "twilio")
    await submit_and_wait(user, view, {**VALID_TWILIO, "account_data.auth_token": f" {SECRET} "})
    [sent] = creates(stack)
    assert {"k": "auth_token", "v": b64(f" {SECRET} ")} in sent.body["account_data"]


async def test_numbers_the_document_does_not_bound_are_sent_and_a_zero_rate_is_warned_about(
    stack: SandboxStack
) -> None:
    user = stack.user()
    view = await sms_form(user, "twilio")
    await submit_and_wait(user, view, {**VALID_TWILIO, "send_rate": "5000", "session_expired_time": "3650"})
    [sent] = creates(stack)
    assert (sent.body["send_rate"], sent.body["session_expired_time"]) == (5000, 3650)
    view = await sms_form(user, "twilio")
    zero = {**VALID_TWILIO, "name": "Zero", "send_rate": "0"}
    warned = (await user.submit(view, zero)).json["errors"]
    assert warned["send_rate"].startswith("⚠️") and "no messages" in warned["send_rate"]
    assert len(creates(stack)) == 1
    await submit_and_wait(user, view, zero)
    assert creates(stack)[-1].body["send_rate"] == 0


async def test_members_typed_with_several_ids_on_a_line_become_one_member_each(stack: SandboxStack) -> None:
    user = stack.user()
    view = await sms_form(user, "twilio")
    offered = (await user.suggest(view, "dids.0.members", "extension 137, 138")).json["options"]
    assert [o["value"] for o in offered[:2]] == ["extension:137", "extension:138"]
    await submit_and_wait(user, view, {
        **VALID_TWILIO, "dids.0.did_number": "+15551234567", "dids.0.destination_type": "extension",
        "dids.0.destination_id": "137", "dids.0.members": [o["value"] for o in offered[:2]]})
    [sent] = creates(stack)
    assert sent.body["dids"][0]["members"] == [
        {"type": "extension", "value": "137"}, {"type": "extension", "value": "138"}]


async def test_destinations_and_members_are_chosen_by_name_from_the_pbx(stack: SandboxStack) -> None:
    # The document points to Get Menu Options for these IDs: nobody in Slack can see them.
    user = stack.user()
    view = await sms_form(user, "twilio")
    assert block(view, "dids.0.destination_id")["element"]["type"] == "external_select"
    assert block(view, "dids.0.members")["element"]["type"] == "multi_external_select"
    chosen = {"dids.0.destination_type": "queue"}
    filled = {**view, "state": {"values": state_values(view, chosen)}}
    queues = (await user.suggest(filled, "dids.0.destination_id", "")).json["options"]
    assert [o["text"]["text"] for o in queues] == ["SMS support"]
    filled = {**view, "state": {"values": state_values(view, {"dids.0.destination_type": "extension"})}}
    people = (await user.suggest(filled, "dids.0.destination_id", "ada")).json["options"]
    assert people[0]["text"]["text"] == "1001-Ada Lovelace"
    by_id = (await user.suggest(filled, "dids.0.destination_id", "137")).json["options"]
    assert [o["text"]["text"] for o in by_id] == ["1001-Ada Lovelace"]
    found = (await user.suggest(view, "dids.0.members", "hong")).json["options"]
    assert [o["text"]["text"] for o in found] == ["Organization · Head office › Hong Kong branch"]
    groups = (await user.suggest(view, "dids.0.members", "sales")).json["options"]
    picked = {"dids.0.did_number": "+15551234567", "dids.0.destination_type": "extension",
              "dids.0.destination_id": people[0]["value"],
              "dids.0.members": [groups[0]["value"], found[0]["value"]]}
    # Shown again (another DID row added), the picks still read as names.
    before = user.slack.views[view["id"]]["hash"]
    await user.click(view, "add_row", value="dids", block_id="add.dids", values={**VALID_TWILIO, **picked})
    view = await eventually(lambda: (v := user.slack.views[view["id"]])["hash"] != before and v)
    destination = block(view, "dids.0.destination_id")["element"]["initial_option"]
    assert destination["text"]["text"] == "1001-Ada Lovelace"
    assert [o["text"]["text"] for o in block(view, "dids.0.members")["element"]["initial_options"]] == [
        "Extension group · Sales", "Organization · Head office › Hong Kong branch"]
    await submit_and_wait(user, view, {**VALID_TWILIO, **picked})
    [sent] = creates(stack)
    assert sent.body["dids"][0] == {
        "did_number": "+15551234567", "destination_type": "extension", "destination_id": "137",
        "members": [{"type": "ext_group", "value": "2"}, {"type": "organization", "value": "5"}]}


async def test_a_whatsapp_number_in_e164_that_libphonenumber_doubts_is_warned_about_then_sent(
    stack: SandboxStack
) -> None:
    user = stack.user()
    view = await open_modal(user, "/message-channel", "whatsapp")
    values = {**VALID_WHATSAPP, "dids.0.did_number": "+888 1234", "dids.0.destination_type": "queue"}
    warned = (await user.submit(view, values)).json["errors"]
    assert warned["dids.0.did_number"].startswith("⚠️ +8881234 has the wrong length")
    assert creates(stack) == []
    await submit_and_wait(user, view, values)
    [sent] = creates(stack)
    assert sent.body["dids"][0]["did_number"] == "+8881234"


@pytest.mark.parametrize(
    ("errcode", "words", "advice", "at_field"),
    [(40003, "already exists on the PBX", "Choose another name", "name"),
     (60002, "reached one of its limits", "Remove a channel you no longer use", None),
     (40002, "without saying which", "exists on the PBX", None)],
    ids=["duplicate", "limit", "parameter"])
async def test_a_yeastar_refusal_reads_as_a_sentence_with_advice_at_the_field_its_code_names(
    stack: SandboxStack, errcode: int, words: str, advice: str, at_field: str | None
) -> None:
    # Yeastar's errmsg is "FAILURE": what happened comes from the documented errcode, and so
    # does the field; no word of the message picks one (a duplicate once landed under
    # "SMS provider").
    stack.yeastar.inject(200, body={"errcode": errcode, "errmsg": "FAILURE"},
                         path_prefix="/openapi/v1.0/message_channel/create")
    user = stack.user()
    outcome = await submit_and_wait(user, await sms_form(user, "twilio"), VALID_TWILIO)
    assert "Could not create" in outcome and words in outcome and advice in outcome
    assert "FAILURE" not in outcome
    kept = user.slack.views[next(iter(user.slack.views))]
    warned = [kept["blocks"][i - 1]["block_id"] for i, b in enumerate(kept["blocks"])
              if b["type"] == "context" and ":warning:" in b["elements"][0]["text"]]
    assert warned == ([at_field] if at_field else [])
