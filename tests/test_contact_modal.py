"""/contact: the modal, its inline errors, and the request CINNOX receives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack
from tests.flow import add_row, block, block_ids, changed, eventually, open_modal, submit_and_wait, view_text

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


async def full_form(user: SlackUser) -> dict[str, Any]:
    view = await open_modal(user, "/contact")
    view = await add_row(user, view, "addresses")
    return await add_row(user, view, "socialContacts")


def can_add(view: dict[str, Any], list_field: str) -> bool:
    return any(e["action_id"] == "add_row" and e.get("value") == list_field
               for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])


async def test_contact_opens_in_sections_with_one_phone_and_one_email(stack: SandboxStack) -> None:
    view = await open_modal(stack.user(), "/contact")
    assert view["callback_id"] == "contact"
    headings = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headings[:6] == ["Name and company", "Phones", "Emails", "Addresses", "Social", "Custom fields"]
    ids = block_ids(view)
    for path in ("firstName", "lastName", "level", "type", "phones.0.type", "phones.0.phone",
                 "emails.0.email", "emails.0.type", "company", "language", "birthDate"):
        assert path in ids
    assert not [i for i in ids if i.split(".")[0] in ("addresses", "socialContacts", "customField")]
    assert ids.index("phones.0.phone") < ids.index("phones.0.type")
    assert block(view, "phones.0.type")["element"]["initial_option"]["value"] == "Mobile"
    assert block(view, "emails.0.type")["element"]["initial_option"]["value"] == "Work"
    assert block(view, "emails.0.email")["element"]["type"] == "email_text_input"
    assert block(view, "birthDate")["element"]["type"] == "datepicker"
    assert block(view, "level")["element"]["type"] == "static_select"
    assert all(block(view, i)["optional"] is True for i in ids)
    assert all(block(view, i)["element"]["action_id"] == "value" for i in ids)
    buttons = {e["text"]["text"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {"➕ Add an address", "➕ Add a social profile", "➕ Add a custom field", "Remove phone"} <= buttons
    assert "addresse " not in json.dumps(view)


async def test_a_full_valid_contact_makes_exactly_the_documented_request(stack: SandboxStack) -> None:
    user = stack.user()
    view = await full_form(user)
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
        ({"socialContacts.0.key": "WhatsApp", "socialContacts.0.value": "x" * 101},
         "socialContacts.0.value", "100"),
        ({"addresses.0.country": "ZZ"}, "addresses.0.country", "ISO 3166"),
        ({"language": "xx"}, "language", "ISO 639-1"),
        ({"level": "Quaternary"}, "level", "Primary"),
    ],
)
async def test_each_documented_rule_errors_inline_and_sends_nothing(
    stack: SandboxStack, values: dict[str, str], block_id: str, words: str
) -> None:
    user = stack.user()
    view = await full_form(user)
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
        text = reply.json["text"]
        assert "CINNOX_BASE_URL" in text and "ask whoever runs the bot" in text.lower()
        assert stack.slack.views == {}


async def test_language_and_country_pickers_search_iso_lists(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/contact")
    assert block(view, "language")["element"]["type"] == "external_select"
    languages = (await user.suggest(view, "language", "english")).json["options"]
    assert languages[0]["value"] == "en"
    countries = (await user.suggest(view, "addresses.0.country", "hong kong")).json["options"]
    assert [(o["value"], o["text"]["text"]) for o in countries] == [("HK", "Hong Kong (HK)")]
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
        while can_add(view, list_field):
            view = await add_row(user, view, list_field)
    # Room is kept for a refusal's sentences: the kept form must fit too.
    assert len(view["blocks"]) <= 95
    ids = block_ids(view)
    assert "addresses.9.street" in ids, "a list grows to its 10 rows while there is room"
    for list_field in ("phones", "emails"):
        assert any(i.startswith(f"{list_field}.") for i in ids), f"{list_field} rows were cut off"
    assert ids[-1] == "birthDate", "the last section is still there"


async def test_a_custom_fields_value_input_follows_its_type(stack: SandboxStack) -> None:
    user = stack.user()
    view = await add_row(user, await open_modal(user, "/contact"), "customField")
    view = await add_row(user, view, "customField")
    assert block(view, "customField.0.value")["element"]["type"] == "plain_text_input"
    chosen = {"customField.0.type": "FieldTypeBoolean", "customField.1.type": "FieldTypeDate"}
    view = await changed(user, view, "customField.0.type", chosen)
    assert block(view, "customField.0.value")["element"]["type"] == "checkboxes"
    assert block(view, "customField.1.value")["element"]["type"] == "datetimepicker"
    labels = [o["text"]["text"] for o in block(view, "customField.0.type")["element"]["options"]]
    assert "Picklist" in labels and "FieldTypePicklist" not in labels
    await submit_and_wait(user, view, {"firstName": "Ada", **chosen, "customField.0.name": "VIP",
                                       "customField.0.value": ["true"], "customField.1.name": "Since",
                                       "customField.1.value": 1714555800})
    [sent] = contact_posts(stack)
    assert sent.body["customField"] == [
        {"type": "FieldTypeBoolean", "name": "VIP", "value": "true"},
        {"type": "FieldTypeDate", "name": "Since", "value": "2024-05-01T09:30:00Z"}]


async def test_a_contact_with_nothing_to_find_it_by_is_warned_about_then_created(stack: SandboxStack) -> None:
    # The document requires none of name, phone and email: the bot's rule is a warning.
    user = stack.user()
    view = await full_form(user)
    values = {"company": "Acme"}
    warned = (await user.submit(view, values)).json["errors"]
    assert list(warned) == ["firstName"]
    assert warned["firstName"].startswith("⚠️ No name, phone or email")
    assert contact_posts(stack) == []
    outcome = await submit_and_wait(user, view, values)
    assert "created" in outcome
    [sent] = contact_posts(stack)
    assert sent.body == {"company": "Acme", "level": "Primary", "type": "Lead"}


async def test_a_refused_contact_with_custom_fields_names_them_as_the_likely_cause(stack: SandboxStack) -> None:
    user = stack.user()
    view = await add_row(user, await open_modal(user, "/contact"), "customField")
    stack.cinnox.inject(400, path_prefix=f"/v1/api/apps/{stack.cinnox.app_id}/management/",
                        body={"code": 6451000, "message": "bad parameter"})
    outcome = await submit_and_wait(user, view, {"firstName": "Ada", "customField.0.type": "FieldTypeText",
                                                 "customField.0.name": "Tier", "customField.0.value": "Gold"})
    assert "Could not create" in outcome and "custom fields may be why" in outcome
    kept = user.slack.views[view["id"]]
    after_type = kept["blocks"][kept["blocks"].index(block(kept, "customField.0.type")) + 1]
    assert "Likely cause" in after_type["elements"][0]["text"]
    assert block(kept, "customField.0.name")["element"]["initial_value"] == "Tier"


async def test_a_number_calls_will_never_be_matched_to_is_warned_about(stack: SandboxStack) -> None:
    # +1 556 777 8888 is a possible number but not a valid one: the call messages would never
    # recognise it as this contact's. CINNOX's document asks no more than "+" and the country code.
    user = stack.user()
    view = await full_form(user)
    values = {"firstName": "Ada", "phones.0.phone": "+1 556 777 8888"}
    warned = (await user.submit(view, values)).json["errors"]
    assert warned["phones.0.phone"].startswith("⚠️ +15567778888 is not a number in use")
    assert "will not show this contact" in warned["phones.0.phone"]
    assert contact_posts(stack) == []
    await submit_and_wait(user, view, values)
    [sent] = contact_posts(stack)
    assert sent.body["phones"] == [{"type": "Mobile", "phone": "+15567778888"}]


async def test_what_the_document_allows_but_looks_wrong_is_a_warning_not_a_refusal(stack: SandboxStack) -> None:
    user = stack.user()
    view = await full_form(user)
    values = {"firstName": "Ada", "birthDate": "2999-01-01", "emails.0.email": "ada@localhost"}
    warned = (await user.submit(view, values)).json["errors"]
    assert "future" in warned["birthDate"] and "no dot" in warned["emails.0.email"]
    await submit_and_wait(user, view, values)
    [sent] = contact_posts(stack)
    assert (sent.body["birthDate"], sent.body["emails"][0]["email"]) == ("01/01/2999", "ada@localhost")
