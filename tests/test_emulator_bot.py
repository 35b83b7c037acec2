"""The bot passes the strict Slack emulator: the App Home Slack takes and its Create
buttons, a Home Slack refuses said as an error, one follow-up per slash command, the
response_url's five posts kept for what matters, permanent errors given up at once, and
chat.update / views.publish paced by one workspace budget across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest

from bot import slack_budget
from bot.check import run_checks
from bot.relay.relay import PERMANENT
from bot.sandbox.calls import call_start
from bot.sandbox.stack import SandboxStack
from bot.store.db import Store
from handlers.calls.app_home import FORMS, HOME_REFUSED
from tests.conftest import fresh_postgres_database
from tests.flow import eventually, eventually_async, open_modal, view_text


async def test_slack_takes_the_home_and_each_create_button_opens_its_form(stack: SandboxStack) -> None:
    user = stack.user()
    await user.open_home()
    home = await eventually(lambda: stack.slack.home_views.get("U0ADMIN"))
    buttons = [e for b in home["blocks"] if b.get("block_id") == "forms" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [f"home.open_form.{form_id}" for _, form_id in FORMS]
    for button in buttons:
        before = len(stack.slack.views)
        await user.click(home, button["action_id"], value=button["value"], block_id="forms")
        opened = await eventually(lambda before=before: len(stack.slack.views) > before and user.last_view())
        assert opened["callback_id"] == button["value"]


REFUSAL = {"ok": False, "error": "invalid_arguments", "response_metadata": {
    "messages": ["[ERROR] action_id already exists [json-pointer:/view/blocks/9/elements/1/action_id]"]}}


async def test_a_home_slack_refuses_is_an_error_in_status_and_in_check(stack: SandboxStack) -> None:
    stack.slack.inject(200, body=REFUSAL, path_prefix="/api/views.publish")
    user = stack.user()
    await user.open_home()
    await eventually_async(lambda: stack.services.store.get_setting(HOME_REFUSED))
    await user.command("/call-events", "status")
    [status] = await eventually(user.responses)
    assert ":x: *App Home:* Slack refused the App Home (invalid_arguments: action_id already exists" \
        in status["text"]
    lines = await run_checks(stack.settings())
    [home] = [line for line in lines if line.part == "app home"]
    assert home.state == "unreachable" and "this is a bug in the bot" in home.detail

    await user.open_home()  # Slack takes it again: the error goes away
    await eventually(lambda: stack.slack.home_views.get("U0ADMIN"))
    await eventually_async(lambda: _cleared(stack))
    await user.command("/call-events", "status")
    [status] = await eventually(user.responses)
    assert "App Home" not in status["text"]


async def _cleared(stack: SandboxStack) -> bool:
    return not await stack.services.store.get_setting(HOME_REFUSED)


async def test_every_try_of_a_form_reaches_the_person_and_the_response_url_serves_once(
        stack: SandboxStack) -> None:
    refusal = {"code": 6451000, "message": "phone: invalid phone format"}
    failed = ":x: Could not create the external contact Ada."  # the line every try posts
    create = f"/v1/api/apps/{stack.cinnox.app_id}/management/create_externalcontact"
    stack.cinnox.inject(400, body=refusal, path_prefix=create, count=6)
    user = stack.user()
    view = await open_modal(user, "/contact")
    for _ in range(6):  # "Try again" six times: more than a response_url takes
        await user.submit(user.slack.views[view["id"]], {"firstName": "Ada", "phones.0.phone": "+85294667788"})
        await eventually(lambda: "invalid phone" in view_text(user.slack.views[view["id"]]))
    lines = await eventually(lambda: len(stack.slack.ephemerals) == 5 and stack.slack.ephemerals)
    [first] = stack.slack.shown_for(user.last_response_url)
    assert first["text"].startswith(failed) and len(user.responses()) == 1
    assert all(line["text"].startswith(failed) and line["user"] == "U0ADMIN"
               and line["channel"] == "C0OPS" for line in lines)


@pytest.mark.parametrize("error", ["metadata_too_large", "msg_blocks_too_long", "invalid_blocks_format",
                                   "restricted_action_read_only_channel",
                                   "restricted_action_thread_only_channel", "cannot_reply_to_message"])
async def test_an_error_slack_will_always_give_is_given_up_at_the_first_try(stack: SandboxStack,
                                                                            error: str) -> None:
    assert error in PERMANENT
    stack.slack.inject(200, body={"ok": False, "error": error}, path_prefix="/api/chat.postMessage")
    await stack.webhook(call_start("c-perm"))
    await eventually_async(stack.services.outbox.failed_count)
    [(delivery, why)] = await stack.services.outbox.given_up()
    assert why == error and delivery.attempts == 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_one_workspace_budget_spaces_calls_across_replicas(tmp_path: Path, database: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'bot.db'}" if database == "sqlite"
               else await stack.enter_async_context(fresh_postgres_database()))
        replicas = [await Store.open(url), await Store.open(url)]
        for store in replicas:
            stack.push_async_callback(store.close)
        now = 1_000.0  # every call at the same moment, from both replicas, some side by side
        slots = sorted(await asyncio.gather(*(slack_budget.reserve(replicas[n % 2], "views.publish", 90, now)
                                              for n in range(40))))
    interval = 60.0 / 90
    assert slots[:slack_budget.BURST] == [now] * slack_budget.BURST  # a short burst goes at once
    later = slots[slack_budget.BURST - 1:]
    assert all(b - a == pytest.approx(interval) for a, b in itertools.pairwise(later))
    # in any minute, no more than Slack's Tier 4 (100) however many replicas ask
    assert sum(1 for s in slots if s < now + 60) <= 100


def confirm_of(home: dict[str, Any], action_id: str) -> dict[str, Any]:
    [button] = [b["accessory"] for b in home["blocks"]
                if (b.get("accessory") or {}).get("action_id") == action_id]
    return dict(button["confirm"])


async def test_buttons_that_stop_notifications_ask_first(stack: SandboxStack) -> None:
    user = stack.user()
    await user.command("/call-events", "subscribe")
    await eventually(user.responses)
    await stack.services.relay.set_route("svc-sales", "C0SALES", "U0ADMIN")
    await user.open_home()
    home = await eventually(lambda: stack.slack.home_views.get("U0ADMIN"))  # Slack took the dialogs
    unsubscribe = confirm_of(home, "call_events.unsubscribe")
    assert unsubscribe["title"]["text"] == "Stop call events?" and unsubscribe["style"] == "danger"
    assert "no new call messages" in unsubscribe["text"]["text"]
    remove = confirm_of(home, "call_events.unroute")
    assert (remove["title"]["text"], remove["confirm"]["text"], remove["deny"]["text"]) == (
        "Remove this route?", "Remove", "Cancel")
    assert remove["text"]["text"] == ("Calls of *svc-sales* will go to <#C0CALLS> instead, "
                                      "from the next call on.")


async def test_an_outcome_that_lands_before_slack_shows_creating_is_not_overwritten(
        stack: SandboxStack) -> None:
    stack.cinnox.path_latency["/v1/api/apps/"] = 1.6  # the outcome comes just after "Creating…" is sent
    user = stack.user()
    view = await open_modal(user, "/contact")
    reply = await user.submit(view, {"firstName": "Ada"}, applied_after=1.0)  # Slack applies it late
    assert "Creating" in view_text(reply.json["view"])
    await asyncio.gather(*user.late_answers)  # "Creating…" is shown now, over the outcome
    await eventually(lambda: "created" in view_text(user.slack.views[view["id"]]))  # and the outcome again


async def test_a_route_checked_before_slack_shows_checking_still_shows_its_outcome(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/call-events", "route")
    await user.submit(view, {"service_id": "svc-x", "channel": "C0SALES"}, applied_after=0.5)
    await asyncio.gather(*user.late_answers)  # "Checking…" shown now, after the quick check
    await eventually(lambda: "now go to <#C0SALES>" in view_text(user.slack.views[view["id"]]))
