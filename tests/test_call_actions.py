"""Calls people can act on: names from the directory, the call.save_contact / call.route /
call.callback buttons, the call_route form. Every click is a signed block_actions request
from the call's message into the real /slack/events route."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.access import refusal
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import Message
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack
from tests.flow import block, changed, eventually, eventually_async, submit_and_wait

CALLS = "C0CALLS"


def valid(blocks: list[dict[str, Any]]) -> None:
    """Slack's own models accept every block (slack_sdk raises on what Slack refuses)."""
    for b in blocks:
        parsed = Block.parse(b)
        assert parsed is not None, b
        parsed.validate_json()


def valid_view(view: dict[str, Any]) -> None:
    keep = {k: v for k, v in view.items() if k in ("type", "callback_id", "title", "submit", "close", "blocks",
                                                   "private_metadata", "external_id")}
    View(**keep).validate_json()
    valid(view["blocks"])


async def command_outcome(user: SlackUser, command: str, text: str) -> str:
    """What the person reads in the end: the answer itself when the bot was quick, else
    the one message that follows its "…" line (bounded wait)."""
    reply = await user.command(command, text)
    said = str(reply.json["text"])
    if not said.startswith(":hourglass_flowing_sand:"):
        return said
    [later] = await eventually(user.responses)
    assert later["replace_original"] is False, "a command's response_url cannot replace its answer"
    return str(later["text"])


def actions(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def parent_of(stack: SandboxStack, call_id: str, channel: str = CALLS) -> Message | None:
    return next((m for m in stack.slack.channel_messages(channel)
                 if (m.metadata or {}).get("event_payload", {}).get("call_id") == call_id), None)


async def new_view(stack: SandboxStack, before: int) -> dict[str, Any]:
    await eventually(lambda: len(stack.slack.views) > before)
    return list(stack.slack.views.values())[-1]


async def test_a_call_from_a_number_saved_through_contact_names_the_contact(stack: SandboxStack) -> None:
    user = stack.user()
    view = await user.open_modal("/contact")
    outcome = await submit_and_wait(user, view, {"firstName": "Grace", "lastName": "Hopper",
                                                 "phones.0.type": "Mobile", "phones.0.phone": "+85294667788"})
    assert "created" in outcome
    await stack.webhook(call_start("c-known", caller="85294667788"))
    parent = await eventually(lambda: parent_of(stack, "c-known"))
    assert parent.text == "Incoming call from Grace Hopper (+852 9466 7788) · service svc-support"
    assert "call.save_contact" not in actions(parent), "a known contact is not offered for saving"
    valid(parent.blocks)


async def test_a_number_saved_without_a_name_is_known_and_not_offered_again(stack: SandboxStack) -> None:
    user = stack.user()
    view = await user.open_modal("/contact")
    outcome = await submit_and_wait(user, view, {"phones.0.type": "Mobile", "phones.0.phone": "+85294660011"})
    assert "created" in outcome
    await stack.webhook(call_start("c-bare", caller="85294660011"))
    parent = await eventually(lambda: parent_of(stack, "c-bare"))
    assert parent.text == "Incoming call from +852 9466 0011 · service svc-support"
    assert "call.save_contact" not in actions(parent), "a saved number is not offered for saving again"
    valid(parent.blocks)


async def test_save_contact_opens_the_form_prefilled_and_the_message_then_shows_the_name(
        stack: SandboxStack) -> None:
    await stack.webhook(call_start("c-new", caller="85291234567"))
    parent = await eventually(lambda: parent_of(stack, "c-new"))
    assert "call.save_contact" in actions(parent)
    user = stack.user()
    before = len(stack.slack.views)
    reply = await user.click_message(parent, "call.save_contact")
    assert reply.status == 200
    form = await new_view(stack, before)
    assert form["callback_id"] == "contact"
    assert block(form, "phones.0.phone")["element"]["initial_value"] == "+85291234567"
    valid_view(form)
    outcome = await submit_and_wait(user, form, {"firstName": "Ada", "lastName": "Lovelace"})
    assert "created" in outcome
    assert stack.cinnox.contacts and list(stack.cinnox.contacts.values())[-1]["phones"] == [
        {"type": "Mobile", "phone": "+85291234567"}]
    named = await eventually(lambda: (m := parent_of(stack, "c-new")) and "Ada Lovelace" in m.text and m)
    assert named.text == "Incoming call from Ada Lovelace (+852 9123 4567) · service svc-support"
    assert "call.save_contact" not in actions(named)
    valid(named.blocks)

    await stack.webhook(call_start("c-again", caller="85291234567"))
    later = await eventually(lambda: parent_of(stack, "c-again"))
    assert later.text.startswith("Incoming call from Ada Lovelace (+852 9123 4567)")


async def test_saving_the_caller_answers_at_once_when_slack_is_slow_and_the_end_still_shows(
        stack: SandboxStack) -> None:
    await stack.webhook(call_start("c-slow", caller="85291230000"))
    parent = await eventually(lambda: parent_of(stack, "c-slow"))
    user = stack.user()
    before = len(stack.slack.views)
    await user.click_message(parent, "call.save_contact")
    form = await new_view(stack, before)
    stack.slack.path_latency["/api/chat.update"] = 2.0  # longer than the form waits for its answer
    reply = await user.submit(form, {"firstName": "Alan", "lastName": "Turing"})
    assert "created" in str(reply.json["view"]["blocks"]), "the form's answer does not wait on chat.update"
    await stack.webhook(call_end("c-slow"))
    ended = await eventually(lambda: (m := parent_of(stack, "c-slow")) and "ended" in m.text
                             and "Alan Turing" in m.text and m, timeout=15)
    assert ended.text.startswith("Call from Alan Turing (+852 9123 0000) ended")
    stack.slack.path_latency.clear()


async def test_call_route_routes_the_service_from_the_next_call(stack: SandboxStack) -> None:
    stack.slack.add_channel("C0SALES", "sales")
    await stack.webhook(call_start("c-1", "svc-sales"))
    parent = await eventually(lambda: parent_of(stack, "c-1"))
    user = stack.user()
    before = len(stack.slack.views)
    await user.click_message(parent, "call.route")
    form = await new_view(stack, before)
    assert form["callback_id"] == "call_route"
    channel = block(form, "channel")["element"]
    assert channel["type"] in ("conversations_select", "channels_select") and channel["action_id"] == "value"
    valid_view(form)
    reply = await user.submit(form, {"channel": "C0SALES", "name": "Sales hotline"})
    assert reply.json["response_action"] == "update"
    done = await eventually(lambda: "now go to" in str(stack.slack.views[form["id"]]["blocks"])
                            and stack.slack.views[form["id"]])
    assert "Sales hotline" in str(done["blocks"])
    valid_view(done)

    await stack.webhook(call_start("c-2", "svc-sales"))
    routed = await eventually(lambda: parent_of(stack, "c-2", "C0SALES"))
    assert routed.text == "Incoming call from +852 9123 4567 · Sales hotline"
    assert parent_of(stack, "c-2") is None


async def test_the_route_form_says_how_to_invite_the_bot_and_keeps_the_choice(stack: SandboxStack) -> None:
    stack.slack.add_channel("C0PRIV", "private-sales", member=False)
    stack.slack.add_channel("C0OLD", "old-sales", archived=True)
    user = stack.user()
    form = await user.open_modal("/call-events", "route")
    assert form["callback_id"] == "call_route"
    valid_view(form)
    await user.submit(form, {"service_id": "svc-x", "channel": "C0PRIV"})
    again = await eventually(lambda: "not a member" in str(stack.slack.views[form["id"]]["blocks"])
                             and stack.slack.views[form["id"]])
    assert "/invite" in str(again["blocks"])
    assert block(again, "service_id")["element"]["initial_value"] == "svc-x"
    assert block(again, "channel")["element"]["initial_conversation"] == "C0PRIV"
    valid_view(again)
    await user.submit(again, {"channel": "C0OLD"})
    await eventually(lambda: "archived" in str(stack.slack.views[form["id"]]["blocks"]))
    assert await stack.services.outbox.routes() == {}


async def test_routes_list_names_and_unroute_removes_a_route(stack: SandboxStack) -> None:
    user = stack.user()
    form = await user.open_modal("/call-events", "route")
    await user.submit(form, {"service_id": "svc-sales", "name": "Sales hotline", "channel": "C0SALES"})
    await eventually(lambda: stack.services.relay.routes.get("svc-sales") == "C0SALES")
    picker = await user.open_modal("/call-events", "route")
    options = block(picker, "service")["element"]["options"]
    assert [o["text"]["text"] for o in options] == ["Sales hotline (svc-sales)"]
    await user.command("/call-events", "routes")
    [listing] = await eventually(user.responses)
    assert "*Sales hotline* (`svc-sales`) → <#C0SALES>" in listing["text"]
    assert "go to <#C0CALLS> again" in await command_outcome(user, "/call-events", "unroute svc-sales")
    assert await stack.services.outbox.routes() == {}


async def test_the_route_form_comes_back_when_the_channel_cannot_be_checked(stack: SandboxStack) -> None:
    user = stack.user()
    form = await user.open_modal("/call-events", "route")
    stack.slack.inject(200, body=["not", "an", "answer"], path_prefix="/api/conversations.info")
    await user.submit(form, {"service_id": "svc-x", "name": "X line", "channel": "C0SALES"})
    again = await eventually(lambda: "couldn't check the channel" in str(stack.slack.views[form["id"]])
                             and stack.slack.views[form["id"]])
    assert "Submit again in a moment" in str(again["blocks"])
    assert block(again, "service_id")["element"]["initial_value"] == "svc-x"
    assert block(again, "name")["element"]["initial_value"] == "X line"
    assert block(again, "channel")["element"]["initial_conversation"] == "C0SALES"
    valid_view(again)
    assert await stack.services.outbox.routes() == {}


async def test_route_by_command_checks_the_channel_first_and_says_what_to_do(stack: SandboxStack) -> None:
    stack.slack.add_channel("C0PRIV", "private-sales", member=False)
    stack.slack.add_channel("C0OLD", "old-sales", archived=True)
    user = stack.user()
    answer = await command_outcome(user, "/call-events", "route svc-x <#C0PRIV|private-sales>")
    assert answer.startswith(":x: I did not route `svc-x`. I'm not a member of <#C0PRIV> yet"), answer
    assert "/invite" in answer
    answer = await command_outcome(user, "/call-events", "route svc-x <#C0OLD|old-sales>")
    assert "<#C0OLD> is archived" in answer
    assert await stack.services.outbox.routes() == {}
    failed = [(e.action, e.outcome) for e in await stack.services.store.recent_audit()]
    assert failed.count(("call_events.route", "failed")) == 2


async def test_route_by_command_answers_at_once_when_slack_is_slow_then_says_the_outcome(
        stack: SandboxStack) -> None:
    stack.slack.path_latency["/api/conversations.info"] = 2.0  # longer than the command waits
    user = stack.user()
    reply = await user.command("/call-events", "route svc-y <#C0SALES|sales>")
    assert reply.json["text"] == ":hourglass_flowing_sand: Checking that I can post in <#C0SALES>…"
    [answer] = await eventually(user.responses)
    assert answer["replace_original"] is False  # the one follow-up, under "Checking…"
    assert answer["text"] == ":white_check_mark: Calls of `svc-y` now go to <#C0SALES>, from the next call on."
    assert await stack.services.outbox.routes() == {"svc-y": "C0SALES"}


async def test_a_missed_calls_call_back_is_taken_once(stack: SandboxStack) -> None:
    stack.cinnox.record_call("c-missed", 0, bye_reason="NO_ANSWER", release_party="caller")
    await stack.webhook(call_start("c-missed", caller="85291234567"))
    await stack.webhook(call_end("c-missed"))
    parent = copy.copy(await eventually(lambda: (m := parent_of(stack, "c-missed")) and m.edits and m))
    assert parent.text.startswith("Missed call from +852 9123 4567")
    assert "call.callback" in actions(parent)
    [reply] = stack.slack.thread(CALLS, parent.ts)
    assert reply.text.startswith("Missed call: nobody answered")
    valid(parent.blocks)
    valid(reply.blocks)

    first, second = stack.user("U0FIRST"), stack.user("U0SECOND")
    await first.click_message(parent, "call.callback")
    taken = copy.copy(await eventually(
        lambda: (m := parent_of(stack, "c-missed")) and "is calling back" in m.text and m))
    assert "<@U0FIRST> is calling back" in taken.text
    assert actions(taken)[0] == "call.callback_done"
    await second.click_message(parent, "call.callback")  # from the message as it was on their screen
    [told] = await eventually(second.responses)
    assert "<@U0FIRST> has been calling back" in told["text"]
    assert "<@U0FIRST> is calling back" in parent_of(stack, "c-missed").text
    await second.click_message(taken, "call.callback_done")
    [refused] = await eventually(second.responses)
    assert refused["text"] == "Only <@U0FIRST> can mark this call-back done."
    await first.click_message(taken, "call.callback_done")
    done = await eventually(lambda: (m := parent_of(stack, "c-missed")) and "called back" in m.text and m)
    assert "call.callback_done" not in actions(done)
    valid(done.blocks)
    entries = [(e.user_id, e.action) for e in await stack.services.store.recent_audit(20)]
    assert entries.count(("U0FIRST", "call.callback")) == 1 and ("U0SECOND", "call.callback") not in entries


async def test_no_cinnox_code_appears_raw(stack: SandboxStack) -> None:
    stack.cinnox.record_call("c-codes", 42, bye_reason="USER_BUSY", release_party="callee")
    stack.cinnox.record_call("c-odd", 42, bye_reason="WEIRD_CAUSE_9", release_party="robot")
    for call_id in ("c-codes", "c-odd"):
        await stack.webhook(call_start(call_id))
        await stack.webhook(call_end(call_id))
    for call_id in ("c-codes", "c-odd"):
        await eventually(lambda c=call_id: (m := parent_of(stack, c)) and stack.slack.thread(CALLS, m.ts))
    codes = stack.slack.thread(CALLS, parent_of(stack, "c-codes").ts)[0]
    odd = stack.slack.thread(CALLS, parent_of(stack, "c-odd").ts)[0]
    assert "The person called hung up: the line was busy" in codes.text
    assert "USER_BUSY" not in codes.text + str(codes.blocks) and "callee" not in codes.text
    assert "Other (robot) hung up: other (WEIRD_CAUSE_9)" in odd.text


async def test_a_call_start_with_parties_missing_shows_unknown_caller_and_callee(stack: SandboxStack) -> None:
    await stack.webhook({"message": {"id": "c-bare", "status": "CallStart", "serviceId": "svc-support",
                                     "callees": [{}]}})
    await stack.webhook({"message": {"id": "c-local", "status": "CallStart", "serviceId": "svc-support",
                                     "caller": {"number": 94667788}, "callees": [{"number": 85261234567}]}})
    bare = await eventually(lambda: parent_of(stack, "c-bare"))
    assert bare.text == "Incoming call from unknown caller · service svc-support"
    assert "unknown callee" in str(bare.blocks)
    local = await eventually(lambda: parent_of(stack, "c-local"))
    assert local.text.startswith("Incoming call from 94667788 ·"), "never a + that may name the wrong country"
    assert "call.save_contact" not in actions(local)


async def test_staff_are_named_from_cinnoxs_staff_list(stack: SandboxStack) -> None:
    await stack.runtime.staff_sync.refresh()
    body = call_start("c-staff2")
    body["message"]["callees"] = [{"eid": "staff-0002"}]
    await stack.webhook(body)
    parent = await eventually(lambda: parent_of(stack, "c-staff2"))
    assert "Alan Turing (ext 1002)" in str(parent.blocks) and "staff-0002" not in str(parent.blocks)


async def test_a_service_group_created_through_the_bot_names_its_calls(stack: SandboxStack) -> None:
    user = stack.user()
    view = await user.open_modal("/service-group")
    view = await changed(user, view, "types", {"types": ["TRUNK"]})
    outcome = await submit_and_wait(user, view, {"displayName": "Sales HK", "supportLanguages": ["en"],
                                                 "supportLocations": ["HK"], "types": ["TRUNK"],
                                                 "trunkTargets": "+85230001234"})
    assert "created" in outcome
    [service_id] = stack.cinnox.destinations
    await stack.webhook(call_start("c-sales", service_id))
    parent = await eventually(lambda: parent_of(stack, "c-sales"))
    assert parent.text == "Incoming call from +852 9123 4567 · Sales HK"


async def test_the_staff_list_is_read_at_start_so_a_first_call_names_the_staff(stack: SandboxStack) -> None:
    await eventually_async(stack.services.directory.staff_refreshed_at)  # read in the background at start
    body = call_start("c-s1")
    body["message"]["callees"] = [{"eid": "staff-0004"}, {"eid": "eid-not-in-the-list"}]
    await stack.webhook(body)
    parent = await eventually(lambda: parent_of(stack, "c-s1"))
    assert "Katherine Johnson (ext 1004)" in str(parent.blocks)
    assert "a staff member" in str(parent.blocks), "an EID the list does not know is not shown raw"
    assert "eid-not-in-the-list" not in str(parent.blocks) + parent.text
    assert len(stack.cinnox.calls("/contacts/staffcontact-list")) == 1, "read once, not per call"


async def test_provisioning_buttons_honour_the_allowlist_with_an_audit_trail(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, bot_allowed_users="U0ADMIN") as stack:
        await stack.webhook(call_start("c-1"))
        parent = await eventually(lambda: parent_of(stack, "c-1"))
        stranger = stack.user("U0STRANGER")
        before = len(stack.slack.views)
        for action in ("call.save_contact", "call.route"):
            await stranger.click_message(parent, action)
            [told] = await eventually(stranger.responses)
            assert told["text"] == refusal("U0STRANGER"), "their own ID, and what to ask for"
            assert "U0STRANGER" in told["text"]
        assert len(stack.slack.views) == before, "no form opened"
        entries = [(e.action, e.outcome) for e in await stack.services.store.recent_audit()]
        assert ("contact.create", "denied") in entries and ("call_events.route", "denied") in entries
