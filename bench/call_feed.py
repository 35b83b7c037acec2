"""Issue 24: the call feed under load, against the Slack emulator enforcing Slack's limits
(chat.postMessage about 1 a second per channel with bursts of 3, chat.update Tier 3 per
workspace, 429 + Retry-After). Calls start at a steady rate and end 8 s later; each
call's first appearance in the channel (its own message, or its line in a roll-up) and
the first time it shows ended (its line or parent edited, or its reply posted) are read
from the emulator's record of every post and edit, with the emulator's clock."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import figure, percentile
from bot.relay import messages
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.stack import SandboxStack

CALL_LENGTH = 8.0
RINGING = "ringing or in progress"


@dataclass
class Seen:
    visible: dict[str, float]  # call -> when first shown
    ended: dict[str, float]  # call -> when first shown ended
    places: dict[str, int]  # call -> top-level messages showing it


def seen(slack: SlackEmulator, channels: list[str]) -> Seen:
    visible: dict[str, float] = {}
    ended: dict[str, float] = {}
    places: dict[str, int] = {}
    for channel in channels:
        for m in slack.messages.get(channel, []):
            if m.thread_ts not in (None, m.ts):  # a reply: its CallEnd shown in the thread
                for key in messages.event_ids_in({"metadata": m.metadata}):
                    if key.endswith(":CallEnd"):
                        call = key.rsplit(":", 1)[0]
                        ended[call] = min(ended.get(call, float("inf")), m.versions[0][0])
                continue
            keys = messages.event_ids_in({"metadata": m.metadata})
            for key in keys:
                call = key.rsplit(":", 1)[0]
                places[call] = places.get(call, 0) + 1
            rolled = len(keys) != 1 or m.metadata.get("event_type") == messages.ROLLUP_METADATA_TYPE  # type: ignore[union-attr]
            for at, blocks in m.versions:
                for key in keys:
                    call = key.rsplit(":", 1)[0]
                    text = _text_of(blocks, messages.rollup_block_id(call) if rolled else None)
                    if text is None:
                        continue
                    visible[call] = min(visible.get(call, float("inf")), at)
                    if RINGING not in text:
                        ended[call] = min(ended.get(call, float("inf")), at)
    return Seen(visible, ended, places)


def _text_of(blocks: list[dict[str, object]], block_id: str | None) -> str | None:
    if block_id is None:
        return str(blocks)
    for block in blocks:
        if block.get("block_id") == block_id:
            return str(block)
    return None


async def scenario(name: str, rate: float, seconds: float, channels: int = 1) -> bool:
    """``rate`` calls a second into each of ``channels`` channels for ``seconds``."""
    names = [f"C0FEED{n:02d}" for n in range(channels)]
    with TemporaryDirectory() as tmp:
        async with SandboxStack(Path(tmp), providers=False, log_level="ERROR") as stack:
            slack = stack.slack
            for n, channel in enumerate(names):
                await stack.services.relay.set_route(f"svc-{n}", channel, "U0BENCH")
            started: dict[str, float] = {}
            ending: dict[str, float] = {}
            calls = int(rate * seconds)
            run = uuid.uuid4().hex[:8]
            t0 = time.time()

            async def one(n: int, channel_no: int) -> None:
                call_id = f"{run}-{channel_no}-{n}"
                await asyncio.sleep(max(0.0, t0 + n / rate - time.time()))
                started[call_id] = time.time()
                status, _ = await stack.webhook(call_start(call_id, f"svc-{channel_no}",
                                                           caller=f"8529123{n % 10000:04d}"))
                assert status == 200
                await asyncio.sleep(max(0.0, started[call_id] + CALL_LENGTH - time.time()))
                ending[call_id] = time.time()
                status, _ = await stack.webhook(call_end(call_id, f"svc-{channel_no}"))
                assert status == 200

            before = len(slack.requests)
            await asyncio.gather(*(one(n, c) for n in range(calls) for c in range(channels)))
            deadline = time.time() + 120
            while time.time() < deadline:
                shown = seen(slack, names)
                if len(shown.ended) >= len(started):
                    break
                await asyncio.sleep(0.5)
            shown = seen(slack, names)
            writes = [r for r in slack.requests[before:]
                      if r.path.endswith(("chat.postMessage", "chat.update"))]
            refused = sum(slack.rate_limited.values())
            refused_by = ", ".join(f"{m} {n}" for m, n in slack.rate_limited.most_common() if n)
            asked = len(slack.requests) - before
    to_visible = [shown.visible[c] - started[c] for c in started if c in shown.visible]
    to_ended = [shown.ended[c] - ending[c] for c in ending if c in shown.ended]
    lost = len(started) - len(to_visible)
    doubled = sum(1 for c in started if shown.places.get(c, 0) > 1)
    not_ended = len(ending) - len(to_ended)
    total = len(started)
    p95v, p95e = percentile(to_visible, 95), percentile(to_ended, 95)
    figure(f"{name}: CallStart -> visible p50/p95/max",
           f"{percentile(to_visible, 50):.2f}/{p95v:.2f}/{max(to_visible):.2f} s", "p95 <= 5 s", p95v <= 5)
    figure(f"{name}: CallEnd -> shown ended p50/p95/max",
           f"{percentile(to_ended, 50):.2f}/{p95e:.2f}/{max(to_ended):.2f} s", "p95 <= 10 s", p95e <= 10)
    figure(f"{name}: Slack writes per call (posts + edits)", f"{len(writes) / total:.2f}")
    refusals = f"{refused} / {asked}" + (f" ({refused_by})" if refused else "")
    figure(f"{name}: 429s received / Slack calls", refusals, "<= 1%", refused <= 0.01 * asked)
    figure(f"{name}: calls lost / doubled / never shown ended", f"{lost} / {doubled} / {not_ended}",
           "0 / 0 / 0", lost == doubled == not_ended == 0)
    return p95v <= 5 and p95e <= 10


async def quiet_latency() -> None:
    """At 0.2 calls a second: per-call messages and replies as before, p50 CallStart -> posted."""
    with TemporaryDirectory() as tmp:
        async with SandboxStack(Path(tmp), providers=False, log_level="ERROR") as stack:
            latencies = []
            for n in range(12):
                sent = time.time()
                await stack.webhook(call_start(f"quiet-{n}"))
                while not stack.slack.channel_messages("C0CALLS")[n:]:
                    await asyncio.sleep(0.002)
                latencies.append(stack.slack.channel_messages("C0CALLS")[n].versions[0][0] - sent)
                await stack.webhook(call_end(f"quiet-{n}"))
                await asyncio.sleep(5.0)
            tops = stack.slack.channel_messages("C0CALLS")
            replies = sum(len(stack.slack.thread("C0CALLS", m.ts)) for m in tops)
            rolled = sum(m.metadata.get("event_type") == messages.ROLLUP_METADATA_TYPE  # type: ignore[union-attr]
                         for m in tops)
    p50 = percentile(latencies, 50)
    figure("0.2 calls/s: CallStart -> its own message, p50", f"{p50 * 1000:.1f} ms", "<= 50 ms", p50 <= 0.05)
    figure("0.2 calls/s: messages / thread replies / roll-ups", f"{len(tops)} / {replies} / {rolled}",
           "12 / 12 / 0", len(tops) == replies == 12 and rolled == 0)
