"""Issue 6: call events. CallStart received → Slack message posted on loopback; a
1,000-event backlog over 10 channels against the per-channel rate the Slack emulator
allows (rolled up: issue 24). Issue 24: the call feed at steady rates (bench/call_feed.py).
(Webhook ingest under load is in bench_speed.)"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bench import call_feed
from bench.common import figure, heading, ms, percentile
from bot.relay import messages
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.stack import BOT_TOKEN, SandboxStack

DURATION = 3.0
ROUNDS = 3
JSON_HEADERS = {"Content-Type": "application/json"}


def webhook_requests(n: int) -> list[dict[str, Any]]:
    """``n`` distinct events (half starts, half ends), so none is a duplicate."""
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(n // 2):
        for body in (call_start(f"{run}-{i}", f"svc-{i % 10}"), call_end(f"{run}-{i}", f"svc-{i % 10}")):
            out.append({"body": json.dumps(body), "headers": JSON_HEADERS})
    return out


@asynccontextmanager
async def bot(**settings: Any) -> AsyncIterator[SandboxStack]:
    with TemporaryDirectory() as tmp:
        async with SandboxStack(Path(tmp), providers=False, log_level="ERROR", **settings) as stack:
            yield stack


async def bench_latency() -> None:
    """Events spread over 20 routed channels, so no channel is rate limited."""
    async with bot() as stack:
        for n in range(20):
            await stack.services.relay.set_route(f"svc-{n}", f"C0LAT{n:02d}", "U0BENCH")
        sent: dict[str, float] = {}
        for i in range(100):
            call_id = f"lat-{i}"
            sent[call_id] = time.time()
            status, _ = await stack.webhook(call_start(call_id, f"svc-{i % 20}"))
            assert status == 200
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 30
        while len(stack.slack.all_posts()) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        latencies = [float(m.ts) - sent[m.metadata["event_payload"]["call_id"]]
                     for m in stack.slack.all_posts() if m.metadata]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    figure("CallStart received -> message posted: p50 / p99", f"{ms(p50)} / {ms(p99)}",
           "target p50 <= 50 ms", p50 <= 0.050)


@asynccontextmanager
async def remote_slack(channel_rate: float) -> AsyncIterator[AsyncWebClient]:
    """The emulator in its own process; yields a client to read what it holds."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.slack_process", str(channel_rate),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    url = (await proc.stdout.readline()).decode().strip()
    try:
        yield AsyncWebClient(token=BOT_TOKEN, base_url=url + "/api/")
    finally:
        proc.stdin.close()
        await proc.wait()


class Posted:
    """The calls shown in ``channels`` (their own messages, or lines of roll-ups) and when
    each message was posted, read as the backlog drains: each look asks Slack only for the
    messages from the newest one seen on. (Reading the whole channels every half second cost
    the bot's event loop a quarter of its time, decoding thousands of messages, and the
    bench measured its own reading.)"""

    def __init__(self, slack: AsyncWebClient, channels: list[str]) -> None:
        self.slack = slack
        self.seen: dict[str, dict[str, int]] = {channel: {} for channel in channels}  # ts -> calls shown

    async def look(self) -> tuple[int, list[float]]:
        """(calls shown, the ts of every message showing them)."""
        for channel, seen in self.seen.items():
            newest = max(seen, key=float, default="0")
            try:
                page = await self.slack.conversations_history(channel=channel, oldest=newest, limit=1000,
                                                              include_all_metadata=True)
            except SlackApiError as exc:  # the bench's own reads are Tier 3 too
                await asyncio.sleep(float(exc.response.headers.get("Retry-After", 1)))
                continue
            seen.update({str(m["ts"]): len(messages.event_ids_in(m)) for m in page["messages"]})
        return (sum(n for seen in self.seen.values() for n in seen.values()),
                [float(ts) for seen in self.seen.values() for ts in seen])


async def bench_backlog(per_channel_rate: float = 10.0, channels: int = 10, events: int = 1000) -> None:
    """A backlog (as after an outage) is a busy channel too: its calls are rolled up, so the
    figure is how soon every call is shown, against what one message per call would need."""
    names = [f"C0Q{n:02d}" for n in range(channels)]
    async with remote_slack(per_channel_rate) as slack:
        api = str(slack.base_url)
        async with bot(slack_api_url=api, relay_channel_rate=per_channel_rate) as stack:
            for n, channel in enumerate(names):
                await stack.services.relay.set_route(f"svc-{n}", channel, "U0BENCH")
            run = uuid.uuid4().hex[:8]
            sent = time.time()
            await asyncio.gather(*(stack.webhook(call_start(f"{run}-{i}", f"svc-{i % channels}"))
                                   for i in range(events)))
            deadline = time.monotonic() + events / (channels * per_channel_rate) * 3 + 30
            posted = Posted(slack, names)
            while (shown := await posted.look())[0] < events and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
            refused = stack.services.metrics.delivery_failures.labels("ratelimited")._value.get()
    calls, stamps = shown
    if calls < events:
        figure("backlog shown", f"{calls} of {events}", "all", False)
        return
    per_call = (events / channels - 1) / per_channel_rate  # one message a call, each channel at its rate
    figure(f"{events}-event backlog over {channels} channels: every call shown after",
           f"{max(stamps) - sent:.1f} s", f"one message a call: >= {per_call:.1f} s")
    figure("messages posted for them", f"{len(stamps)}", f"one message a call: {events}")
    figure("posts refused with 429 along the way", f"{refused:.0f}")


#: seconds of load per rate, as the issue asks
FEED_SECONDS = 60.0


async def bench_call_feed() -> None:
    heading(f"Call feed (issue 24): calls into one channel for {FEED_SECONDS:.0f} s each, ended after "
            f"{call_feed.CALL_LENGTH:.0f} s, Slack's limits enforced")
    await call_feed.quiet_latency()
    for rate in (0.2, 1.0, 2.0, 5.0):
        await call_feed.scenario(f"{rate:g} calls/s", rate, FEED_SECONDS)
    await call_feed.scenario("10 channels x 1 call/s", 1.0, FEED_SECONDS, channels=10)


async def run() -> None:
    heading("Call events (issue 6): delivery latency; backlog drain")
    await bench_latency()
    await bench_backlog()
    await bench_call_feed()
