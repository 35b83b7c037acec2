"""Call events relayed into Slack as threads: what a team watching the channel sees."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import Message
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually, eventually_async
from tests.test_call_actions import command_outcome

CALLS = "C0CALLS"  # the stack's CALL_EVENTS_CHANNEL


def parents(stack: SandboxStack, channel: str = CALLS) -> list[Message]:
    return stack.slack.channel_messages(channel)


def event_ids(messages: list[Message]) -> list[str]:
    return [m.metadata["event_payload"]["event_id"] for m in messages if m.metadata]


def started_token(message: Message) -> str:
    """The Slack date token in the parent's "Started" field."""
    fields = [f["text"] for b in message.blocks for f in b.get("fields", [])]
    [field] = [f for f in fields if f.startswith("*Started*")]
    return field


def ended(stack: SandboxStack, channel: str, call_id: str) -> Message | None:
    """The call's parent once it is updated and has its reply."""
    for parent in parents(stack, channel):
        has_reply = bool(stack.slack.thread(channel, parent.ts))
        if event_ids([parent]) == [f"{call_id}:CallStart"] and parent.edits and has_reply:
            return parent
    return None


async def test_call_start_posts_who_called_whom_then_call_end_threads_and_updates(stack: SandboxStack) -> None:
    await stack.webhook(call_start("call-1", "svc-support", caller="85291234567", callees=("85261234567",)))
    parent = (await eventually(lambda: parents(stack)))[0]
    assert parent.text == "Incoming call from +852 9123 4567 · service svc-support"
    assert "+852 6123 4567" in str(parent.blocks)
    assert parent.metadata == {"event_type": "cinnox_call", "event_payload": {
        "event_id": "call-1:CallStart", "call_id": "call-1", "status": "CallStart"}}
    assert parent.blocks, "Block Kit, with the text as fallback"

    await stack.webhook(call_end("call-1", "svc-support"))
    parent = await eventually(lambda: ended(stack, CALLS, "call-1"))
    [reply] = stack.slack.thread(CALLS, parent.ts)
    assert reply.text.startswith("Call ended after")
    assert "ended · " in parent.text and "not known whether anybody answered" in parent.text, \
        "no call log answer: the outcome is unknown"
    assert len(parents(stack)) == 1, "the end is in the thread, not a new message"


async def test_duration_comes_from_the_cinnox_call_log_when_it_has_the_call(stack: SandboxStack) -> None:
    import datetime as dt

    end = dt.datetime(2026, 11, 20, 9, 30, 5, tzinfo=dt.UTC)
    stack.cinnox.record_call("call-2", 125, end=end, bye_reason="NORMAL_CLEARING", release_party="callee")
    await stack.webhook(call_start("call-2"))
    [first] = await eventually(lambda: parents(stack))
    started = started_token(first)
    await stack.webhook(call_end("call-2"))
    parent = await eventually(lambda: ended(stack, CALLS, "call-2"))
    [reply] = stack.slack.thread(CALLS, parent.ts)
    assert "2 min 05 s" in reply.text and "at 2026-11-20 09:30:05 UTC" in reply.text
    assert "2 min 05 s" in parent.text
    assert started_token(parent) == started, "the start time first shown never changes"
    shown = reply.text + str(reply.blocks) + parent.text + str(parent.blocks)
    assert "The person called hung up: normal hang-up" in shown
    assert "NORMAL_CLEARING" not in shown and "callee" not in shown, "CINNOX's codes are said in words"


async def test_duplicate_deliveries_post_once(stack: SandboxStack) -> None:
    for _ in range(3):
        await stack.webhook(call_start("call-3"))
    for _ in range(3):
        await stack.webhook(call_end("call-3"))
    parent = await eventually(lambda: ended(stack, CALLS, "call-3"))
    await stack.webhook(call_start("call-3"))  # a late duplicate, after delivery
    await stack.webhook(call_end("call-3"))
    await eventually(lambda: stack.services.metrics.outbox_depth._value.get() == 0)
    assert len(parents(stack)) == 1
    assert len(stack.slack.thread(CALLS, parent.ts)) == 1


async def test_call_end_before_call_start_still_threads(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_end_grace_seconds=30) as stack:
        await stack.webhook(call_end("call-4"))
        await stack.webhook(call_start("call-4"))
        parent = await eventually(lambda: ended(stack, CALLS, "call-4"))
        assert len(parents(stack)) == 1
        assert stack.slack.thread(CALLS, parent.ts)[0].text.startswith("Call ended")


async def test_a_call_end_that_came_first_has_no_made_up_duration(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_end_grace_seconds=30) as stack:
        await stack.webhook(call_end("call-4b"))
        await asyncio.sleep(0.2)  # the start arrives later than the end: no duration between them
        await stack.webhook(call_start("call-4b"))
        parent = await eventually(lambda: ended(stack, CALLS, "call-4b"))
        [reply] = stack.slack.thread(CALLS, parent.ts)
        assert "duration unknown" in parent.text and "0 s" not in reply.text


async def test_a_post_answered_500_is_not_posted_again_even_when_the_look_back_is_rate_limited(
        stack: SandboxStack) -> None:
    # The message reaches the channel but Slack answers 500; the relay's look for it is then
    # refused with 429 more often than slack-sdk retries. The next attempt must still look.
    stack.slack.inject(500, path_prefix="/api/chat.postMessage", after=True)
    stack.slack.inject(429, headers={"Retry-After": "0"}, path_prefix="/api/conversations.history", count=4)
    await stack.webhook(call_start("call-9"))
    await eventually(lambda: stack.services.metrics.outbox_depth._value.get() == 0 and
                     not stack.slack._faults and parents(stack), timeout=30)
    assert event_ids(parents(stack)) == ["call-9:CallStart"]


async def test_a_reply_posted_but_answered_with_an_error_is_found_and_not_posted_again(
        stack: SandboxStack) -> None:
    await stack.webhook(call_start("call-11"))
    await eventually(lambda: parents(stack))
    # The reply lands but Slack answers 500; on the next try the parent's update fails
    # with Slack's internal_error (HTTP 200) before the try after that succeeds.
    stack.slack.inject(500, path_prefix="/api/chat.postMessage", after=True)
    stack.slack.inject(200, path_prefix="/api/chat.update")
    await stack.webhook(call_end("call-11"))
    parent = await eventually(lambda: ended(stack, CALLS, "call-11"), timeout=30)
    await eventually(lambda: stack.services.metrics.outbox_depth._value.get() == 0, timeout=30)
    assert len(stack.slack.thread(CALLS, parent.ts)) == 1


async def test_a_call_end_follows_its_call_when_its_own_service_has_no_channel(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_events_channel=None, call_end_grace_seconds=0.3) as stack:
        await command_outcome(stack.user(), "/call-events", "route svc-a C0A")
        await stack.webhook(call_start("call-10", "svc-a"))
        await eventually(lambda: parents(stack, "C0A"))
        await stack.webhook(call_end("call-10", "svc-transferred"))  # no route, no default channel
        parent = await eventually(lambda: ended(stack, "C0A", "call-10"), timeout=20)
        assert len(stack.slack.thread("C0A", parent.ts)) == 1


async def test_call_end_without_its_start_is_posted_alone_after_the_grace_period(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_end_grace_seconds=0.3) as stack:
        await stack.webhook(call_end("call-5", "svc-support"))
        [alone] = await eventually(lambda: parents(stack))
        assert "call-5" in alone.text and "start was not received" in alone.text
        assert event_ids([alone]) == ["call-5:CallEnd"]
        # The start arriving late still gets a parent, shown as already ended.
        await stack.webhook(call_start("call-5", "svc-support"))
        late = await eventually(lambda: [m for m in parents(stack) if "CallStart" in str(m.metadata)])
        assert "ended" in late[0].text


async def test_calls_go_to_the_channel_routed_for_their_service(stack: SandboxStack) -> None:
    routed = await command_outcome(stack.user(), "/call-events", "route svc-sales <#C0SALES|sales>")
    assert routed == ":white_check_mark: Calls of `svc-sales` now go to <#C0SALES>, from the next call on."
    await stack.webhook(call_start("call-6", "svc-sales"))
    await stack.webhook(call_start("call-7", "svc-other"))
    await stack.webhook(call_end("call-6", "svc-sales"))
    await eventually(lambda: ended(stack, "C0SALES", "call-6"))
    await eventually(lambda: parents(stack, CALLS))
    assert event_ids(parents(stack, "C0SALES")) == ["call-6:CallStart"]
    assert event_ids(parents(stack, CALLS)) == ["call-7:CallStart"]

    user = stack.user()
    await user.command("/call-events", "routes")
    [listing] = await eventually(user.responses)
    assert "`svc-sales` → <#C0SALES>" in listing["text"]


async def test_every_event_arrives_once_in_thread_order_when_slack_fails_30_percent(tmp_path: Path) -> None:
    # Per-call messages throughout (the retries' backoff would make the channel late, and
    # roll it up: tests/test_call_rollups.py covers that mode under failures).
    async with SandboxStack(tmp_path, relay_channel_rate=50, call_feed_fresh_seconds=3600) as stack:
        await command_outcome(stack.user(), "/call-events", "route svc-b C0CALLSB")
        stack.slack.fail_ratio = 0.3  # on every Slack method: 429 (Retry-After), 500, or
        stack.slack.fail_statuses = (429, 500, 200)  # 200 {"ok": false, "error": "internal_error"}
        stack.slack.fail_after = 0.5  # half the failures come after the message was posted
        calls = [(f"call-{n}", "svc-b" if n % 2 else "svc-a") for n in range(12)]
        for call_id, service in calls:
            await stack.webhook(call_start(call_id, service))
        for call_id, service in calls:
            await stack.webhook(call_end(call_id, service))
        for call_id, service in calls:
            channel = "C0CALLSB" if service == "svc-b" else CALLS
            await eventually(lambda c=call_id, ch=channel: ended(stack, ch, c), timeout=90)
        stack.slack.fail_ratio = 0.0
        for channel in (CALLS, "C0CALLSB"):
            tops = parents(stack, channel)
            assert sorted(event_ids(tops)) == sorted(f"{c}:CallStart" for c, s in calls
                                                     if (s == "svc-b") == (channel == "C0CALLSB"))
            for parent in tops:
                [reply] = stack.slack.thread(channel, parent.ts)  # exactly one, in the thread
                call_id = parent.metadata["event_payload"]["call_id"]
                assert event_ids([reply]) == [f"{call_id}:CallEnd"]
                assert float(reply.ts) > float(parent.ts)


async def test_a_channel_the_bot_cannot_post_in_is_recorded_and_shown_in_status(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        stack.slack.add_channel(CALLS, "calls", member=False)
        await stack.webhook(call_start("call-8"))
        await eventually_async(stack.services.outbox.failed_count)
        user = stack.user()
        await user.command("/call-events", "status")
        [status] = await eventually(user.responses)
        assert "I'm not a member of that channel: invite me there" in status["text"]
        assert "not_in_channel" not in str(status), "Slack's code is said in words"
        posts = [r for r in stack.slack.requests if r.path == "/api/chat.postMessage"]
        assert len(posts) == 1, "a permanent error is not retried"
        [retry] = [b["accessory"] for b in status["blocks"] if b.get("accessory", {}).get("action_id")
                   == "call_events.retry"]
        assert "The call from +852 9123 4567 (start, received <!date^" in str(status["blocks"])
        assert "call-8" not in str(status["blocks"])

        stack.slack.channels[CALLS].is_member = True  # someone invited the bot
        status_message = Message(CALLS, "1.0", status["text"], status["blocks"])  # the ephemeral answer
        await user.click_message(status_message, "call_events.retry")  # a button beside the failure
        [told] = await eventually(user.responses)
        assert "Sending that call notification again" in told["text"]
        assert event_ids(await eventually(lambda: parents(stack))) == ["call-8:CallStart"]
        assert retry["text"]["text"] == "Retry"


async def test_subscribe_points_cinnox_at_this_bot_and_status_shows_it(stack: SandboxStack) -> None:
    user = stack.user()
    reply = await user.command("/call-events", "subscribe")
    assert "Asking CINNOX" in reply.json["text"]
    [answer] = await eventually(user.responses)
    assert "now sends call events" in answer["text"]
    assert answer["replace_original"] is False, "a command's response_url cannot replace 'Asking CINNOX…'"
    token = stack.services.webhook_token
    assert stack.cinnox.subscription["url"] == f"https://bot.example.com/webhooks/cinnox/{token}"
    assert stack.cinnox.subscription["enabled"] is True

    await user.command("/call-events", "status")
    [status] = await eventually(user.responses)
    assert "Subscribed" in status["text"]
    assert "nothing waiting" in status["text"]
    assert token not in status["text"], "the webhook token is a secret"

    await user.command("/call-events", "unsubscribe")
    [answer] = await eventually(user.responses)
    assert "no longer" in answer["text"]
    assert stack.cinnox.subscription["enabled"] is False
    entries = [(e.action, e.outcome) for e in await stack.services.store.recent_audit()]
    assert ("call_events.subscribe", "ok") in entries and ("call_events.unsubscribe", "ok") in entries


async def test_subscribe_reports_cinnox_refusing(stack: SandboxStack) -> None:
    stack.cinnox.inject(400, body={"code": 6451000, "message": "url: bad parameter"})
    user = stack.user()
    await user.command("/call-events", "subscribe")
    [answer] = await eventually(user.responses)
    assert answer["text"].startswith(":x: CINNOX did not change the subscription")
    assert "bad parameter" in answer["text"]


async def test_subscribe_that_cinnox_answers_enabled_false_is_reported_as_failed(stack: SandboxStack) -> None:
    stack.cinnox.refuse_subscription = True
    user = stack.user()
    await user.command("/call-events", "subscribe")
    [answer] = await eventually(user.responses)
    assert answer["text"].startswith(":x: CINNOX did not take the subscription")
    entries = [(e.action, e.outcome) for e in await stack.services.store.recent_audit()]
    assert ("call_events.subscribe", "failed") in entries


async def test_an_answer_that_does_not_say_enabled_is_not_a_subscription(stack: SandboxStack) -> None:
    token = stack.services.webhook_token
    stack.cinnox.inject(200, body={"code": 0, "result": {
        "url": f"https://bot.example.com/webhooks/cinnox/{token}", "updatedAt": "2026-11-07T00:00:00.000Z"}})
    user = stack.user()
    await user.command("/call-events", "subscribe")
    [answer] = await eventually(user.responses)
    assert "did not take the subscription (it did not say whether it is on)" in answer["text"]
    await user.command("/call-events", "status")
    [status] = await eventually(user.responses)
    assert "Unsubscribed" in status["text"] and "<!date^" in status["text"]


async def test_an_answer_without_this_bots_url_is_not_a_subscription(stack: SandboxStack) -> None:
    stack.cinnox.inject(200, body={"code": 0, "result": {"enabled": True,
                                                         "updatedAt": "2026-11-07T00:00:00.000Z"}})
    user = stack.user()
    await user.command("/call-events", "subscribe")
    [answer] = await eventually(user.responses)
    assert "did not take the subscription (it did not say which URL it sends to)" in answer["text"]
    await user.command("/call-events", "status")
    [status] = await eventually(user.responses)
    assert "Unsubscribed" in status["text"]
    entries = [(e.action, e.outcome) for e in await stack.services.store.recent_audit()]
    assert ("call_events.subscribe", "failed") in entries


async def test_route_needs_a_service_and_a_channel(stack: SandboxStack) -> None:
    reply = await stack.user().command("/call-events", "route svc-1")
    assert "Usage: `/call-events route" in reply.json["text"]
    assert await stack.services.outbox.routes() == {}


async def test_relay_metrics_show_depth_latency_and_failures(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        stack.slack.inject(500, path_prefix="/api/chat.postMessage")
        await stack.webhook(call_start("call-9"))
        await eventually(lambda: parents(stack), timeout=30)
        await eventually(lambda: stack.services.metrics.delivery_latency._sum.get() > 0)
        assert stack.http is not None
        async with stack.http.get(stack.url + "/metrics") as resp:
            text = await resp.text()
        assert "bot_relay_delivery_seconds_count 1.0" in text
        assert 'bot_relay_delivery_failures_total{reason="internal_error"} 1.0' in text
        assert "bot_outbox_depth" in text


async def test_postgresql_store_threads_calls_and_posts_duplicates_once(tmp_path: Path, pg_url: str) -> None:
    async with SandboxStack(tmp_path, database_url=pg_url) as stack:
        for _ in range(2):
            await stack.webhook(call_start("call-pg"))
            await stack.webhook(call_end("call-pg"))
        parent = await eventually(lambda: ended(stack, CALLS, "call-pg"))
        assert len(parents(stack)) == 1
        assert len(stack.slack.thread(CALLS, parent.ts)) == 1


async def test_a_rate_limited_channel_waits_its_retry_after_while_others_keep_posting(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, relay_channel_rate=100) as stack:
        await stack.services.relay.set_route("svc-b", "C0CALLSB", "U0ADMIN")
        stack.slack.hold(CALLS, 2.0)  # channel A answers 429 + Retry-After: 2
        for n in range(4):
            await stack.webhook(call_start(f"a-{n}", "svc-a"))
            await stack.webhook(call_start(f"b-{n}", "svc-b"))
        await eventually(lambda: len(parents(stack)) == 4 and len(parents(stack, "C0CALLSB")) == 4, timeout=30)
        assert stack.services.metrics.delivery_failures.labels("ratelimited")._value.get() > 0
        first_a = min(float(m.ts) for m in parents(stack))
        assert all(float(m.ts) < first_a for m in parents(stack, "C0CALLSB")), \
            "channel B waited for channel A's Retry-After"
        assert sorted(event_ids(parents(stack))) == [f"a-{n}:CallStart" for n in range(4)]
        assert sorted(event_ids(parents(stack, "C0CALLSB"))) == [f"b-{n}:CallStart" for n in range(4)]


async def test_stopping_while_slack_makes_a_channel_wait_leaves_no_delivery_running(tmp_path: Path) -> None:
    """SIGTERM while a channel waits out a long Retry-After: the relay's stop gives up on the
    wait after its 5 s, and nothing of that delivery lives on to write to a closed session or
    store (the events stay stored and go after the restart)."""
    async with SandboxStack(tmp_path, relay_channel_rate=100) as stack:
        stack.slack.hold(CALLS, 20.0)  # 429 + Retry-After: 20
        for n in range(2):
            await stack.webhook(call_start(f"a-{n}", "svc-a"))
        refused = stack.services.metrics.delivery_failures.labels("ratelimited")
        await eventually(lambda: refused._value.get() > 0, timeout=10)
        assert await stack.services.outbox.depth() == 2
        runtime, stack.runtime = stack.runtime, None
        assert runtime is not None
        await runtime.stop()  # what SIGTERM does in `python -m bot serve`
        left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(("deliver:", "lease:"))]
        assert left == []


async def test_delivered_events_older_than_a_week_are_pruned_and_others_kept(stack: SandboxStack) -> None:
    from sqlalchemy import select

    from bot.relay.events import CallEvent
    from bot.store import tables

    outbox, table = stack.services.outbox, tables.outbox
    long_ago = 1_000_000.0
    async with stack.services.store.engine.begin() as conn:  # stored long ago, settled since
        for call_id, state in (("old-done", "done"), ("old-failed", "failed")):
            event = CallEvent.model_validate({"id": call_id, "status": "CallStart"})
            await conn.execute(table.insert().values(
                event_key=event.key, call_id=call_id, kind=event.status, payload=event.payload(),
                received_at=long_ago, state=state, attempts=1, next_attempt_at=0.0,
                delivered_at=long_ago + 1 if state == "done" else None))  # as the relay records a delivery
    await stack.webhook(call_start("new"))
    await eventually(lambda: parents(stack))

    assert await outbox.prune(before=long_ago + 1) == 1
    async with stack.services.store.engine.connect() as conn:
        kept = sorted((await conn.execute(select(table.c.call_id))).scalars())
    assert kept == ["new", "old-failed"]  # a failure stays for /call-events status


async def test_a_call_with_fifty_callees_still_posts_within_slacks_block_limits(stack: SandboxStack) -> None:
    body = call_start("call-big")
    body["message"]["callees"] = [{"number": f"{n:02d}" + "7" * 60} for n in range(50)]
    await stack.webhook(body)
    [parent] = await eventually(lambda: parents(stack))
    fields = [f["text"] for b in parent.blocks for f in b.get("fields", [])]
    assert max(len(text) for text in fields) == 2000  # cut to Slack's limit, not refused
    assert parent.text == "Incoming call from +852 9123 4567 · service svc-support"  # one line


async def test_caller_and_service_text_cannot_ping_the_channel(stack: SandboxStack) -> None:
    body = call_start("call-esc", "<!channel>")
    body["message"]["caller"] = {"eid": "a&b<@U1>"}  # a staff member the bot has no name for
    await stack.webhook(body)
    [parent] = await eventually(lambda: parents(stack))
    shown = parent.text + str([b for b in parent.blocks if b["type"] != "actions"])  # values are not shown
    assert "&lt;!channel&gt;" in shown and "a staff member" in shown
    assert "<!channel>" not in shown and "<@U1>" not in shown
