"""A busy channel: when per-call messages would fall behind Slack's one post a second, its
calls are shown as roll-ups (one message per short window, one line per call, edited as
the calls end); each call once, in one place, nothing left out."""

from __future__ import annotations

import copy
from pathlib import Path

from bot.relay import cards, messages
from bot.relay.events import CALL_END, CALL_START
from bot.relay.pacing import Lane
from bot.relay.planner import Plan
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import Message
from bot.sandbox.stack import SandboxStack
from bot.store.outbox import Delivery
from tests.flow import eventually

CALLS = "C0CALLS"


def shown(stack: SandboxStack, channel: str = CALLS) -> dict[str, list[str]]:
    """Each CallStart the channel shows -> the top-level messages showing it."""
    out: dict[str, list[str]] = {}
    for m in stack.slack.channel_messages(channel):
        for key in messages.event_ids_in({"metadata": m.metadata}):
            out.setdefault(key, []).append(m.ts)
    return out


def line(stack: SandboxStack, call_id: str, channel: str = CALLS) -> tuple[Message, str] | None:
    """The roll-up showing the call, and the call's line in it."""
    for m in stack.slack.channel_messages(channel):
        for block in m.blocks:
            if block.get("block_id") == messages.rollup_block_id(call_id):
                return m, block["text"]["text"]
    return None


def ended_where_shown(stack: SandboxStack, call_id: str, where: dict[str, list[str]]) -> bool:
    """The call's roll-up line, or its own message, shows it ended."""
    found = line(stack, call_id)
    if found:
        return "ringing or in progress" not in found[1]
    [top] = [m for m in stack.slack.channel_messages(CALLS) if m.ts == where[f"{call_id}:CallStart"][0]]
    return "ringing or in progress" not in str(top.blocks)


async def test_a_burst_into_one_channel_is_rolled_up_each_call_once_with_its_number(
        stack: SandboxStack) -> None:
    calls = [f"burst-{n}" for n in range(12)]
    for call_id in calls:
        await stack.webhook(call_start(call_id, caller="85291234567"))
    await eventually(lambda: len(shown(stack)) == len(calls), timeout=30)
    where = shown(stack)
    assert all(len(where[f"{c}:CallStart"]) == 1 for c in calls), "each call in exactly one message"
    tops = stack.slack.channel_messages(CALLS)
    assert len(tops) < len(calls) / 2, "a busy channel is not one message per call"
    rolled = [c for c in calls if line(stack, c)]
    assert len(rolled) >= len(calls) - 3, "after the first calls, the channel is rolled up"
    for call_id in rolled:
        _, text = line(stack, call_id)  # type: ignore[misc]
        assert "+852 9123 4567" in text and "ringing or in progress" in text

    for call_id in calls:
        await stack.webhook(call_end(call_id))

    def all_ended() -> bool:
        return all((found := line(stack, c)) and "ringing" not in found[1] for c in rolled)

    await eventually(all_ended, timeout=60)
    for call_id in rolled:
        rollup, text = line(stack, call_id)  # type: ignore[misc]
        assert "ended" in text and messages.UNKNOWN_OUTCOME in text, "no call log: the outcome is unknown"
        assert not stack.slack.thread(CALLS, rollup.ts), "a roll-up's line carries the outcome: no replies"
    await eventually(lambda: stack.services.metrics.outbox_depth._value.get() == 0)
    assert sorted(shown(stack)) == sorted(f"{c}:CallStart" for c in calls), "nothing posted twice or left out"


async def test_a_missed_call_in_a_roll_up_keeps_its_call_back_and_taking_it_updates_its_line(
        stack: SandboxStack) -> None:
    calls = [f"miss-{n}" for n in range(8)]
    for call_id in calls[:4]:
        stack.cinnox.record_call(call_id, 0, bye_reason="NO_ANSWER", release_party="caller")
    for call_id in calls:
        await stack.webhook(call_start(call_id, caller="85291234567"))
    await eventually(lambda: len(shown(stack)) == len(calls), timeout=30)
    missed = next(c for c in calls[:4] if line(stack, c))
    await stack.webhook(call_end(missed))
    rollup, text = await eventually(lambda: (f := line(stack, missed)) and "nobody answered" in f[1] and f)
    assert text.startswith(":no_entry: *Missed call* from +852 9123 4567")
    block_id = messages.rollup_block_id(missed) + ".actions"
    actions = next(b for b in rollup.blocks if b.get("block_id") == block_id)
    assert [e["action_id"] for e in actions["elements"]] == [messages.CALLBACK, messages.SAVE_CONTACT]
    assert actions["elements"][0]["value"] == missed

    await stack.user("U0FIRST").click_message(copy.copy(rollup), messages.CALLBACK, actions["block_id"])
    _, taken = await eventually(lambda: (f := line(stack, missed)) and "is calling back" in f[1] and f)
    assert "<@U0FIRST> is calling back" in taken
    others = [line(stack, c) for c in calls if c != missed and line(stack, c)]
    assert all("calling back" not in text for _, text in others), "only that call's line changed"


async def test_a_backlog_after_slack_was_down_is_shown_in_roll_ups(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        stack.slack.limits.hold("chat.postMessage", CALLS, 8)  # Slack answers 429 for 8 s
        calls = [f"late-{n}" for n in range(6)]
        for call_id in calls:
            await stack.webhook(call_start(call_id))
            await stack.webhook(call_end(call_id))
        await eventually(lambda: len(shown(stack)) == len(calls)
                         and stack.services.metrics.outbox_depth._value.get() == 0, timeout=60)
        tops = stack.slack.channel_messages(CALLS)
        assert len(tops) <= 2, "the backlog is caught up at once, not one a second"
        for call_id in calls:
            [ts] = shown(stack)[f"{call_id}:CallStart"]
            [top] = [m for m in tops if m.ts == ts]
            found = line(stack, call_id)
            assert "ended" in (found[1] if found else top.text), "each call shown ended where it is shown"
            assert not stack.slack.thread(CALLS, ts), "a busy channel's ends are on their lines, not replies"


def _row(n: int, at: float, kind: str = CALL_START) -> Delivery:
    return Delivery(n, f"c-{n}:{kind}", f"c-{n}", kind, {}, at, "pending", 0, 0, CALLS, None)


def test_a_channel_goes_back_to_per_call_messages_once_calls_slow_down() -> None:
    plan, lane = Plan(fresh=4.0, interval=1.0), Lane(CALLS, 1.0)
    now = 1_000.0
    assert not plan.choose(lane, [_row(1, now)], now), "a lone call: per-call messages"
    burst = [_row(n, now + n * 0.2) for n in range(2, 30)]  # 5 calls a second
    assert plan.choose(lane, burst[:10], now + 2), "they would fall behind: roll-ups"
    assert plan.choose(lane, [_row(40, now + 6, CALL_END)], now + 6), "still busy: the rate is recent"
    calm = now + 6 + 20
    assert not plan.choose(lane, [_row(50, calm)], calm), "calm again: per-call messages"


async def test_when_slacks_edits_are_spent_a_roll_ups_ends_are_said_in_its_thread_then_its_lines_follow(
        tmp_path: Path) -> None:
    from bot import slack_budget

    async with SandboxStack(tmp_path, slack_update_per_minute=20) as stack:
        calls = [f"spent-{n}" for n in range(8)]
        for call_id in calls:
            await stack.webhook(call_start(call_id))
        await eventually(lambda: len(shown(stack)) == len(calls), timeout=30)
        rolled = [c for c in calls if line(stack, c)]
        for _ in range(8):  # other channels (or replicas) took the next edits
            await slack_budget.reserve(stack.services.store, "chat.update", 20)
        for call_id in rolled:
            await stack.webhook(call_end(call_id))
        rollup, _ = line(stack, rolled[0])  # type: ignore[misc]
        [reply] = await eventually(lambda: stack.slack.thread(CALLS, rollup.ts), timeout=30)
        assert reply.text.startswith(f"{len(rolled)} calls ended")
        assert all(f"call.{c}" in str(reply.blocks) for c in rolled), "each ended call said once in the thread"
        assert "ringing" in line(stack, rolled[0])[1], "the line waits for the workspace's next edit"  # type: ignore[index]
        await eventually(lambda: all("ringing" not in line(stack, c)[1] for c in rolled), timeout=90)  # type: ignore[index]
        assert len(stack.slack.thread(CALLS, rollup.ts)) == 1


async def test_a_busy_channel_shows_every_call_once_when_slack_fails_30_percent(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        stack.slack.fail_ratio = 0.3  # on every Slack method: 429 (Retry-After), 500, or
        stack.slack.fail_statuses = (429, 500, 200)  # 200 {"ok": false, "error": "internal_error"}
        stack.slack.fail_after = 0.5  # half the failures come after the message was posted or edited
        calls = [f"flaky-{n}" for n in range(16)]
        for call_id in calls:
            await stack.webhook(call_start(call_id))
        for call_id in calls:
            await stack.webhook(call_end(call_id))

        def all_shown_ended() -> bool:
            where = shown(stack)
            return len(where) == len(calls) and all(ended_where_shown(stack, c, where) for c in calls)

        await eventually(all_shown_ended, timeout=120)
        stack.slack.fail_ratio = 0.0
        where = shown(stack)
        assert sorted(where) == sorted(f"{c}:CallStart" for c in calls)
        assert all(len(tss) == 1 for tss in where.values()), "each call in exactly one message"
        assert any(line(stack, c) for c in calls), "the burst was rolled up"
        ends = [key for m in stack.slack.all_posts() if m.thread_ts not in (None, m.ts)
                for key in messages.event_ids_in({"metadata": m.metadata})]
        assert len(ends) == len(set(ends)), "no end said twice"


async def test_an_edit_drawn_before_a_call_ended_but_landing_after_it_is_drawn_again(
        stack: SandboxStack) -> None:
    """Editors of one roll-up race (lanes, replicas, a click, a deferred redraw) and Slack
    keeps the edit that lands last: one drawn before a call's end was recorded must not
    leave the call shown ringing (seen with two replicas: an ended line set back to
    'ringing' 10 ms later, for good)."""
    calls = [f"race-{n}" for n in range(12)]
    for call_id in calls:
        await stack.webhook(call_start(call_id, caller="85291234567"))
    await eventually(lambda: len(shown(stack)) == len(calls), timeout=30)
    rolled = [c for c in calls if line(stack, c)]
    assert rolled, "a burst is rolled up"
    first = rolled[0]
    rollup, _ = line(stack, first)  # type: ignore[misc]
    outbox = stack.services.outbox
    assert outbox is not None

    # A slow editor begins its draw while the call is still ringing...
    slow_version = await outbox.begin_draw(CALLS, rollup.ts)
    stale = await cards.drawn(stack.services, CALLS, rollup.ts, None)
    assert stale is not None
    # ...the relay shows the call ended meanwhile...
    await stack.webhook(call_end(first))
    await eventually(lambda: "ringing or in progress" not in line(stack, first)[1], timeout=15)  # type: ignore[index]
    # ...and the slow edit lands last, setting the line back.
    await stack.services.slack.chat_update(channel=CALLS, ts=rollup.ts, text=stale.text, blocks=stale.blocks)
    assert "ringing or in progress" in line(stack, first)[1]  # type: ignore[index]

    # The slow editor finds a draw begun after its own: it draws again, from the store.
    assert await cards.redraw(stack.services, CALLS, rollup.ts, begun=slow_version)
    assert "ringing or in progress" not in line(stack, first)[1]  # type: ignore[index]

    edits = len([r for r in stack.slack.requests if r.path.endswith("chat.update")])
    assert await cards.redraw(stack.services, CALLS, rollup.ts,
                              begun=await outbox.draw_version(CALLS, rollup.ts))
    assert len([r for r in stack.slack.requests if r.path.endswith("chat.update")]) == edits, \
        "nobody drew since: no edit"
