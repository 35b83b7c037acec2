"""/contact: the modal, its inline errors, and the request CINNOX receives."""

from __future__ import annotations

import pytest

from bot.sandbox.stack import SandboxStack
from tests.flow import add_row, block, block_ids, eventually, open_modal, submit_and_wait, view_text

FULL = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "level": "Secondary",
    "type": "Customer",
    "phones.0.type": "Mobile",
    "phones.0.phone": "+85294667788",
    "emails.0.type": "Work",
    "emails.0.email": "ada@example.com",
    "company": "Analytical Engines Ltd",
    "jobTitle": "Engineer",
    "team": "Research",
    "group": "VIP",
    "language": "en",
    "birthDate": "1985-12-10",
    "addresses.0.street": "1 Queen's Road",
    "addresses.0.city": "Hong Kong",
    "addresses.0.state": "HK Island",
    "addresses.0.zipcode": "000000",
    "addresses.0.country": "HK",
    "socialContacts.0.key": "WhatsApp",
    "socialContacts.0.value": "WhatsApp+85294667788",
}


def contact_posts(stack: SandboxStack) -> list:
    return stack.cinnox.calls("/management/create_externalcontact")


async def test_contact_opens_a_modal_with_a_block_per_api_field(stack: SandboxStack) -> None:
    view = await open_modal(stack.user(), "/contact")
    assert view["callback_id"] == "contact"
    ids = block_ids(view)
    for path in ("firstName", "lastName", "level", "type", "phones.0.type", "phones.0.phone",
                 "emails.0.email", "company", "language", "birthDate", "addresses.0.country",
                 "socialContacts.0.key", "socialContacts.0.value"):
        assert path in ids
    assert block(view, "birthDate")["element"]["type"] == "datepicker"
    assert block(view, "level")["element"]["type"] == "static_select"
    assert block(view, "company")["optional"] is True
    assert all(block(view, i)["element"]["action_id"] == "value" for i in ids)


async def test_a_full_valid_contact_makes_exactly_the_documented_request(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    outcome = await submit_and_wait(user, view, FULL)
    [sent] = contact_posts(stack)
    assert sent.body == {
        "firstName": "Ada", "lastName": "Lovelace", "level": "Secondary", "type": "Customer",
        "phones": [{"type": "Mobile", "phone": "+85294667788"}],
        "emails": [{"type": "Work", "email": "ada@example.com"}],
        "company": "Analytical Engines Ltd", "jobTitle": "Engineer", "team": "Research",
        "group": "VIP", "language": "en", "birthDate": "10/12/1985",
        "addresses": [{"street": "1 Queen's Road", "city": "Hong Kong", "state": "HK Island",
                       "zipcode": "000000", "country": "HK"}],
        "socialContacts": [{"key": "WhatsApp", "value": "WhatsApp+85294667788"}],
    }
    assert "created" in outcome and "Ada Lovelace" in outcome
    [ephemeral] = await eventually(user.responses)
    assert ephemeral["response_type"] == "ephemeral" and "created" in ephemeral["text"]
    [entry] = await stack.services.store.recent_audit()
    assert (entry.action, entry.outcome, entry.user_id) == ("contact.create", "ok", "U0ADMIN")
    assert entry.resource_id and entry.resource_id in outcome


@pytest.mark.parametrize(
    ("values", "block_id", "words"),
    [
        ({"phones.0.phone": "94667788"}, "phones.0.phone", "+"),
        ({"phones.0.phone": "+852"}, "phones.0.phone", "phone"),
        ({"emails.0.email": "not-an-email"}, "emails.0.email", "email"),
        ({"birthDate": "2999-01-01"}, "birthDate", "future"),
        ({"socialContacts.0.key": "WhatsApp", "socialContacts.0.value": "x" * 101},
         "socialContacts.0.value", "100"),
        ({"addresses.0.country": "ZZ"}, "addresses.0.country", "ISO 3166"),
        ({"language": "xx"}, "language", "ISO 639-1"),
        ({"level": "Quaternary"}, "level", "Primary"),
        ({"firstName": "", "lastName": ""}, "firstName", "name"),
    ],
)
async def test_each_documented_rule_errors_inline_and_sends_nothing(
    stack: SandboxStack, values: dict[str, str], block_id: str, words: str
) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    reply = await user.submit(view, {"firstName": "Ada", **values})
    answer = reply.json
    assert answer["response_action"] == "errors"
    assert block_id in answer["errors"], answer["errors"]
    assert words.lower() in answer["errors"][block_id].lower()
    assert answer["errors"][block_id].endswith(".")
    assert contact_posts(stack) == []


async def test_add_another_phone_adds_a_row_and_keeps_what_was_typed(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    view = await add_row(user, {**view, "state": {}}, "phones")
    assert {"phones.0.phone", "phones.1.phone", "phones.1.type"} <= set(block_ids(view))
    await submit_and_wait(user, view, {"firstName": "Ada", "phones.0.type": "Work",
                                       "phones.0.phone": "+14155550100", "phones.1.type": "Home",
                                       "phones.1.phone": "+442071838750"})
    [sent] = contact_posts(stack)
    assert sent.body["phones"] == [{"type": "Work", "phone": "+14155550100"},
                                   {"type": "Home", "phone": "+442071838750"}]


async def test_an_error_in_the_second_row_points_at_the_second_row(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    view = await add_row(user, view, "phones")
    reply = await user.submit(view, {"firstName": "Ada", "phones.1.type": "Home",
                                     "phones.1.phone": "12345"})
    assert list(reply.json["errors"]) == ["phones.1.phone"]


@pytest.mark.parametrize(
    ("status", "body", "expect"),
    [
        (400, {"code": 6451000, "message": "invalid phone format"}, "invalid phone format"),
        (409, {"code": 409, "message": "contact already exists"}, "already exists"),
        (500, {"code": 6451001, "message": "internal service error"}, "did not answer"),
    ],
)
async def test_provider_failures_reach_the_user_as_clear_outcomes(
    stack: SandboxStack, status: int, body: dict, expect: str
) -> None:
    stack.cinnox.inject(status, body=body, path_prefix="/v1/api/apps/")
    user = stack.user()
    view = await open_modal(user, "/contact")
    outcome = await submit_and_wait(user, view, {"firstName": "Ada"})
    assert "Not created" in outcome and expect in outcome
    assert "Traceback" not in outcome
    [ephemeral] = await eventually(user.responses)
    assert expect in ephemeral["text"]
    [entry] = await stack.services.store.recent_audit()
    assert entry.outcome == "failed"


async def test_a_double_clicked_submit_creates_once(stack: SandboxStack) -> None:
    import asyncio

    stack.cinnox.latency = 0.2
    user = stack.user()
    view = await open_modal(user, "/contact")
    first, second = await asyncio.gather(user.submit(view, {"firstName": "Ada"}),
                                         user.submit(view, {"firstName": "Ada"}))
    assert first.status == second.status == 200
    await eventually(lambda: "created" in view_text(stack.slack.views[view["id"]]))
    await asyncio.sleep(0.3)
    assert len(contact_posts(stack)) == 1


async def test_a_disabled_provider_says_what_to_configure(tmp_path) -> None:
    async with SandboxStack(tmp_path, providers=False) as stack:
        reply = await stack.user().command("/contact")
        assert "CINNOX_BASE_URL" in reply.json["text"] and "isn't configured" in reply.json["text"]
        assert stack.slack.views == {}


async def test_language_and_country_pickers_search_iso_lists(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    assert block(view, "language")["element"]["type"] == "external_select"
    languages = (await user.suggest(view, "language", "english")).json["options"]
    assert languages[0]["value"] == "en"
    countries = (await user.suggest(view, "addresses.0.country", "hong kong")).json["options"]
    assert [o["value"] for o in countries] == ["HK"]
    by_code = (await user.suggest(view, "addresses.0.country", "de")).json["options"]
    assert by_code[0]["value"] == "DE"


async def test_a_late_second_click_does_not_leave_the_modal_on_creating(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    await submit_and_wait(user, view, {"firstName": "Ada"})
    again = await user.submit(view, {"firstName": "Ada"})  # Slack shows "Creating…" again
    assert again.status == 200
    await eventually(lambda: "created" in view_text(stack.slack.views[view["id"]]))
    assert len(contact_posts(stack)) == 1


async def test_add_another_stops_before_the_form_outgrows_slacks_100_blocks(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    for list_field in ("addresses", "emails", "phones", "socialContacts", "customField"):
        while f"add.{list_field}" in [b.get("block_id") for b in view["blocks"]]:
            view = await add_row(user, view, list_field)
    assert len(view["blocks"]) <= 100
    ids = block_ids(view)
    assert "addresses.9.street" in ids, "a list grows to its 10 rows while there is room"
    for list_field in ("phones", "emails", "socialContacts", "customField"):
        assert any(i.startswith(f"{list_field}.") for i in ids), f"{list_field} rows were cut off"
