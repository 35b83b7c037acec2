"""/service-group: targets follow the chosen types; the staff and location pickers; the
request CINNOX receives."""

from __future__ import annotations

import pytest

from bot.sandbox.stack import SandboxStack
from tests.flow import block, block_ids, changed, open_modal, submit_and_wait


def destination_posts(stack: SandboxStack) -> list:
    return [r for r in stack.cinnox.calls("/destination") if r.method == "POST"]


async def test_targets_appear_and_disappear_with_the_chosen_types(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    assert view["callback_id"] == "service_group"
    assert {"displayName", "supportLanguages", "supportLocations", "types"} <= set(block_ids(view))
    assert not {"phoneTargets", "staffTargets", "trunkTargets"} & set(block_ids(view))
    assert block(view, "types")["dispatch_action"] is True

    view = await changed(user, view, "types", {"types": ["PHONE", "STAFF"]})
    assert {"phoneTargets", "staffTargets"} <= set(block_ids(view))
    assert "trunkTargets" not in block_ids(view)
    assert block(view, "staffTargets")["element"]["type"] == "multi_external_select"

    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    assert "trunkTargets" in block_ids(view)
    assert not {"phoneTargets", "staffTargets"} & set(block_ids(view))


async def test_staff_picker_is_fed_by_cinnox_staff_list(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["STAFF"]})
    reply = await user.suggest(view, "staffTargets", "")
    options = reply.json["options"]
    assert options and all(o["value"] and o["text"]["text"] for o in options)
    assert stack.cinnox.calls("/contacts/staffcontact-list")


async def test_location_picker_offers_all_countries_and_states(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    everything = (await user.suggest(view, "supportLocations", "")).json["options"]
    assert everything[0]["value"] == "*"
    states = [o["value"] for o in (await user.suggest(view, "supportLocations", "california")).json["options"]]
    assert "US-CA" in states


async def test_a_valid_service_group_makes_exactly_the_documented_request(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["PHONE", "TRUNK"]})
    outcome = await submit_and_wait(user, view, {
        "displayName": "Sales HK", "supportLanguages": ["en", "zh"],
        "supportLocations": ["HK", "US-CA"], "types": ["PHONE", "TRUNK"],
        "phoneTargets": "+85294667788\n+14155550100", "trunkTargets": "+85230001234",
    })
    [sent] = destination_posts(stack)
    assert sent.body == {
        "displayName": "Sales HK", "supportLanguages": ["en", "zh"],
        "supportLocations": ["HK", "US-CA"], "types": ["PHONE", "TRUNK"],
        "phoneTargets": ["+85294667788", "+14155550100"], "trunkTargets": ["+85230001234"],
    }
    assert "Sales HK" in outcome and "created" in outcome


async def test_a_name_that_looks_like_a_mention_is_shown_not_sent_as_one(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    outcome = await submit_and_wait(user, view, {
        "displayName": "R&D <!here>", "supportLanguages": ["en"], "supportLocations": ["*"],
        "types": ["TRUNK"], "trunkTargets": "+85230001234",
    })
    [sent] = destination_posts(stack)
    assert sent.body["displayName"] == "R&D <!here>"  # CINNOX gets the name as typed
    assert "R&amp;D &lt;!here&gt;" in outcome  # Slack shows it, and pings nobody
    assert "<!here>" not in outcome


@pytest.mark.parametrize(
    ("values", "block_id", "words"),
    [
        ({"displayName": "x" * 41}, "displayName", "40"),
        ({"displayName": ""}, "displayName", "Enter the service group name."),
        ({"types": []}, "types", ""),
        ({"types": ["PHONE"], "phoneTargets": ""}, "phoneTargets", "Phone numbers needs at least one number."),
        ({"types": ["PHONE"], "phoneTargets": "+85294667788\n0294667788"}, "phoneTargets", "country code"),
        ({"types": ["STAFF"]}, "staffTargets", "Staff needs at least one person."),
        ({"supportLanguages": []}, "supportLanguages", ""),
    ],
)
async def test_each_rule_errors_inline_and_sends_nothing(stack, values, block_id, words) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    chosen = values.get("types", ["PHONE"])
    if chosen:
        view = await changed(user, view, "types", {"types": chosen})
    base = {"displayName": "Sales", "supportLanguages": ["en"], "supportLocations": ["HK"],
            "types": ["PHONE"], "phoneTargets": "+85294667788"}
    reply = await user.submit(view, {**base, **values})
    errors = reply.json["errors"]
    assert block_id in errors, errors
    assert words in errors[block_id]
    assert destination_posts(stack) == []


async def test_submitting_before_the_targets_appear_points_at_the_types_choice(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")  # PHONE is chosen, but the form has not adapted yet
    reply = await user.submit(view, {"displayName": "Sales", "supportLanguages": ["en"],
                                     "supportLocations": ["HK"], "types": ["PHONE"]})
    errors = reply.json["errors"]
    assert "Phone numbers" in errors["types"] and "displayName" not in errors
    assert destination_posts(stack) == []


async def test_a_staff_list_slower_than_slacks_three_seconds_answers_why(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["STAFF"]})
    stack.cinnox.path_latency["/v1/api/apps/sandbox-app/contacts"] = 5.0
    reply = await user.suggest(view, "staffTargets", "")  # CINNOX would answer after 5 s: too late
    assert reply.status == 200
    assert [o["text"]["text"] for o in reply.json["options"]] == [
        "⚠ CINNOX did not answer in time: type again to retry"]


async def test_staff_picker_leaves_out_suspended_staff_and_marks_the_not_activated(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["STAFF"]})
    options = (await user.suggest(view, "staffTargets", "")).json["options"]
    labels = {o["value"]: o["text"]["text"] for o in options}
    assert "staff-0005" not in labels  # Suspended
    assert labels["staff-0003"].endswith("(not activated yet)")
    assert "(not activated" not in labels["staff-0001"]


async def test_option_labels_are_words_and_the_values_sent_are_the_apis(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    labels = {o["value"]: o["text"]["text"] for o in block(view, "types")["element"]["options"]}
    assert labels == {"PHONE": "Phone numbers", "STAFF": "Staff", "TRUNK": "Trunks"}


async def test_language_tags_and_country_plus_state_locations_are_accepted(stack: SandboxStack) -> None:
    # The document allows "language codes" from CINNOX's own list and locations written
    # "countries/regions + states": zh-TW, yue and US+CA are CINNOX's to refuse, not the bot's.
    user = stack.user()
    view = await open_modal(user, "/service-group")
    offered = (await user.suggest(view, "supportLanguages", "zh-Hant-TW")).json["options"]
    assert offered[0]["value"] == "zh-Hant-TW", "a code the picker lacks can be chosen as typed"
    regional = (await user.suggest(view, "supportLanguages", "taiwan")).json["options"]
    assert "zh-TW" in [o["value"] for o in regional]
    typed = (await user.suggest(view, "supportLocations", "US+CA")).json["options"]
    assert typed[0]["value"] == "US+CA"
    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    outcome = await submit_and_wait(user, view, {
        "displayName": "Cantonese line", "supportLanguages": ["zh-TW", "yue", "zh-Hant-TW"],
        "supportLocations": ["US+CA", "HK"], "types": ["TRUNK"], "trunkTargets": "+85230001234",
    })
    assert "created" in outcome
    [sent] = destination_posts(stack)
    assert sent.body["supportLanguages"] == ["zh-TW", "yue", "zh-Hant-TW"]
    assert sent.body["supportLocations"] == ["US+CA", "HK"]


async def test_a_language_that_is_no_code_at_all_is_still_refused(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    reply = await user.submit(view, {"displayName": "X", "supportLanguages": ["English please"],
                                     "supportLocations": ["U.S."], "types": ["TRUNK"],
                                     "trunkTargets": "+85230001234"})
    errors = reply.json["errors"]
    assert "language code" in errors["supportLanguages"] and "US+CA" in errors["supportLocations"]
    assert destination_posts(stack) == []


async def test_a_doubtful_phone_target_is_warned_about_once_then_created(stack: SandboxStack) -> None:
    # "With country code" is all the document asks: +852 1234 is CINNOX's to refuse, not ours.
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["PHONE", "TRUNK"]})
    values = {"displayName": "Odd numbers", "supportLanguages": ["en"], "supportLocations": ["*"],
              "types": ["PHONE", "TRUNK"], "phoneTargets": "+85294667788\n+852 1234",
              "trunkTargets": "85230001234\n+44 1"}
    warned = (await user.submit(view, values)).json["errors"]
    assert warned["phoneTargets"].startswith("⚠️ Line 2: +8521234 has the wrong length")
    assert "Submit again" in warned["phoneTargets"]
    assert "trunkTargets" not in warned, "a SIP trunk number need not be a public number"
    assert destination_posts(stack) == []
    outcome = await submit_and_wait(user, view, values)
    assert "created" in outcome
    [sent] = destination_posts(stack)
    assert sent.body["phoneTargets"] == ["+85294667788", "+8521234"]
    assert sent.body["trunkTargets"] == ["85230001234", "+441"]


async def test_a_changed_form_is_checked_again(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["PHONE"]})
    values = {"displayName": "Twice", "supportLanguages": ["en"], "supportLocations": ["*"],
              "types": ["PHONE"], "phoneTargets": "+852 1234"}
    assert "phoneTargets" in (await user.submit(view, values)).json["errors"]
    again = (await user.submit(view, {**values, "phoneTargets": "+852 12345"})).json["errors"]
    assert "+85212345" in again["phoneTargets"]
    assert destination_posts(stack) == []


async def test_all_beside_other_codes_is_a_warning_not_a_refusal(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/service-group")
    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    values = {"displayName": "Everyone", "supportLanguages": ["*", "en"], "supportLocations": ["HK", "XX"],
              "types": ["TRUNK"], "trunkTargets": "+85230001234"}
    warned = (await user.submit(view, values)).json["errors"]
    assert "already means all languages" in warned["supportLanguages"]
    assert "XX is in no ISO 3166 list" in warned["supportLocations"]
    await submit_and_wait(user, view, values)
    [sent] = destination_posts(stack)
    assert (sent.body["supportLanguages"], sent.body["supportLocations"]) == (["*", "en"], ["HK", "XX"])
