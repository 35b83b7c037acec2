"""Only what is known about a call is said: without CINNOX's call log the outcome is
unknown (never answered), the log is asked again later, and the direction comes from the
parties. Calls go in through the real webhook, out through the relay to the Slack emulator."""

from __future__ import annotations

import copy
from pathlib import Path

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually, eventually_async
from tests.test_app_home import home_text, wait_for
from tests.test_call_actions import actions, parent_of, valid
from tests.test_call_relay import CALLS, ended


def call_log_asks(stack: SandboxStack, call_id: str) -> int:
    return sum(1 for r in stack.cinnox.calls("/data/call-log") if r.query.get("callId") == call_id)


async def test_a_call_the_call_log_does_not_know_yet_is_ended_not_answered_then_shown_missed(
        tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_log_recheck_seconds=0.3) as stack:
        # CINNOX writes this call's log late: every ask finds nothing until the test has seen
        # the "not known yet" messages (a fixed count of empty asks raced slow machines).
        stack.cinnox.record_call("c-late", 0, bye_reason="NO_ANSWER", release_party="system",
                                 late=1_000_000)
        await stack.webhook(call_start("c-late", caller="85291234567"))
        await stack.webhook(call_end("c-late"))
        first = copy.copy(await eventually(lambda: ended(stack, CALLS, "c-late")))
        [reply] = stack.slack.thread(CALLS, first.ts)
        assert first.text.startswith("Call from +852 9123 4567 ended · ")
        assert "not known whether anybody answered" in first.text
        assert ":white_check_mark:" not in str(first.blocks) and "answered, " not in first.text
        assert "call.callback" not in actions(first)
        assert reply.text.startswith("Call ended after ") and reply.text.endswith(
            "Whether anybody answered is not known yet.")
        valid(first.blocks)
        asks_before_written = call_log_asks(stack, "c-late")
        stack.cinnox.write_call_log_now("c-late")

        missed = await eventually(lambda: (m := parent_of(stack, "c-late")) and m.text.startswith("Missed call")
                                  and m, timeout=10)
        assert missed.text == "Missed call from +852 9123 4567 · service svc-support"
        assert "call.callback" in actions(missed), "now known missed: a call-back is offered"
        [reply] = stack.slack.thread(CALLS, missed.ts)
        await eventually(lambda: stack.slack.thread(CALLS, missed.ts)[0].text.startswith("Missed call"))
        [reply] = stack.slack.thread(CALLS, missed.ts)
        assert reply.text.startswith("Missed call: nobody answered. It ended at ")
        assert "hung up" not in reply.text, "nobody answered is said once"
        assert call_log_asks(stack, "c-late") == asks_before_written + 1, "asked until it answered"
        valid(missed.blocks)
        valid(reply.blocks)


async def test_a_call_log_that_never_answers_is_asked_a_bounded_number_of_times_and_home_says_unknown(
        tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_log_recheck_seconds=0.05) as stack:
        await stack.webhook(call_start("c-silent", caller="85291234567"))
        await stack.webhook(call_end("c-silent"))
        await eventually(lambda: ended(stack, CALLS, "c-silent"))
        relay = stack.services.relay
        await eventually(lambda: call_log_asks(stack, "c-silent") >= 2)
        await eventually(lambda: not relay.call_log.watching, timeout=15)
        assert call_log_asks(stack, "c-silent") == 1 + 6, "the first ask, then six more with backoff"
        assert (await stack.services.call_notes.summary("c-silent")).outcome is None

        await stack.user("U0ADMIN").open_home()
        text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
        recent = text.split("*Last 20 calls*")[1]
        assert "ended, " in recent and "not known whether anybody answered" in recent
        assert "answered, " not in recent.replace("anybody answered", "")


async def test_an_empty_call_log_answer_is_unknown_not_answered(stack: SandboxStack) -> None:
    stack.cinnox.inject(200, body={"code": 0, "result": []}, path_prefix="/data/call-log", count=50)
    await stack.webhook(call_start("c-empty"))
    await stack.webhook(call_end("c-empty"))
    parent = await eventually(lambda: ended(stack, CALLS, "c-empty"))
    assert "not known whether anybody answered" in parent.text
    assert await eventually_async(lambda: stack.services.call_notes.summary("c-empty"))
    assert (await stack.services.call_notes.summary("c-empty")).outcome is None


def staff_call(call_id: str, eid: str, *callees: dict[str, object]) -> dict[str, object]:
    body = call_start(call_id)
    body["message"]["caller"] = {"eid": eid}
    body["message"]["callees"] = list(callees) or [{"number": 85261234567}]
    return body


async def test_a_staff_member_calling_out_is_an_outgoing_call_and_unanswered_is_no_missed_call(
        stack: SandboxStack) -> None:
    stack.cinnox.record_call("c-out", 0, bye_reason="NO_ANSWER", release_party="system")
    await stack.webhook(staff_call("c-out", "staff-0001"))
    ringing = await eventually(lambda: parent_of(stack, "c-out"))
    assert ringing.text == "Outgoing call from Ada Lovelace (ext 1001) to +852 6123 4567 · service svc-support"
    assert "*Outgoing call*" in str(ringing.blocks) and "Incoming" not in str(ringing.blocks)

    await stack.webhook(call_end("c-out"))
    over = await eventually(lambda: ended(stack, CALLS, "c-out"))
    assert over.text == ("Outgoing call from Ada Lovelace (ext 1001) to +852 6123 4567 was not answered"
                         " · service svc-support")
    assert "Missed" not in over.text + str(over.blocks)
    assert "call.callback" not in actions(over), "nobody is to call back an unanswered outgoing call"
    [reply] = stack.slack.thread(CALLS, over.ts)
    assert reply.text.startswith("Not answered: ") and "Missed" not in reply.text
    valid(over.blocks)

    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    missed = text.split("*Missed calls")[1].split("*Last 20 calls*")[0]
    assert "Ada Lovelace" not in missed and "[I'll call back]" not in missed
    assert "not answered" in text.split("*Last 20 calls*")[1]


async def test_a_staff_member_calling_staff_is_an_internal_call(stack: SandboxStack) -> None:
    await stack.webhook(staff_call("c-int", "staff-0001", {"eid": "staff-0002"}))
    parent = await eventually(lambda: parent_of(stack, "c-int"))
    assert parent.text == ("Internal call from Ada Lovelace (ext 1001) to Alan Turing (ext 1002)"
                           " · service svc-support")


async def test_the_end_of_a_call_names_who_hung_up_and_never_says_after_unknown(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_end_grace_seconds=30) as stack:
        await stack.runtime.staff_sync.refresh()
        stack.cinnox.record_call("c-named", 65, bye_reason="NORMAL_CLEARING", release_party="callee")
        body = call_start("c-named")
        body["message"]["callees"] = [{"eid": "staff-0002"}]
        await stack.webhook(body)
        await stack.webhook(call_end("c-named"))
        parent = await eventually(lambda: ended(stack, CALLS, "c-named"))
        [reply] = stack.slack.thread(CALLS, parent.ts)
        assert reply.text.endswith(". Alan Turing hung up: normal hang-up."), reply.text
        assert "The person called" not in reply.text + str(reply.blocks)

        await stack.webhook(call_end("c-first"))  # the end before its start: no duration to tell
        await stack.webhook(call_start("c-first"))
        first = await eventually(lambda: ended(stack, CALLS, "c-first"))
        [reply] = stack.slack.thread(CALLS, first.ts)
        assert "after unknown" not in reply.text
        assert reply.text.startswith("Call ended at ") and reply.text.endswith(".")
        assert "its duration is unknown" in reply.text


async def test_the_call_log_is_still_asked_again_after_a_restart(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_log_recheck_seconds=1.0) as stack:
        stack.cinnox.record_call("c-restart", 0, bye_reason="NO_ANSWER", late=2)
        await stack.webhook(call_start("c-restart"))
        await stack.webhook(call_end("c-restart"))
        await eventually(lambda: ended(stack, CALLS, "c-restart"))
        await stack.restart_bot()  # the watch of the bot that delivered the end is gone with it
        missed = await eventually(lambda: (m := parent_of(stack, "c-restart"))
                                  and m.text.startswith("Missed call") and m, timeout=15)
        assert "call.callback" in actions(missed)
