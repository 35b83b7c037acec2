"""A 1,000-row SIP endpoint import against the Bandwidth simulator, which allows ``RATE``
requests per second (429 with X-RateLimit-Reset beyond it, as Bandwidth answers): the bot
(``python -m bot serve``, BANDWIDTH_RATE=RATE) should create at >= 90% of that rate, keep
its memory flat (RSS growth <= 20 MB) and go on acking other commands quickly (p99 <= 50 ms)
while the import runs."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp

from bench.bench_runtime import command_requests
from bench.bench_speed import _ready, _spawn, rss_mb
from bench.common import figure, free_port, heading, load, ms
from bot.sandbox.bandwidth_sim import BandwidthSimulator
from bot.sandbox.slack import TEAM, SlackEmulator
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import BOT_TOKEN, SIGNING_SECRET

ROWS = 1000
RATE = 20.0  # requests per second the simulator allows (Bandwidth documents about 1)
ACK_SECONDS = 20.0


def sip_csv(rows: int) -> str:
    return "name,credentials.password,description\n" + "".join(
        f"bench{i:05d},pw-{i:06d}-secret,Bench phone {i}\n" for i in range(rows))


async def run() -> None:
    heading(f"CSV import: {ROWS:,} SIP endpoints, the Bandwidth simulator allowing {RATE:g} requests/s")
    with TemporaryDirectory() as tmp:
        async with (SlackEmulator(bot_token=BOT_TOKEN) as slack,
                    BandwidthSimulator(rate_limit=int(RATE)) as bandwidth,
                    aiohttp.ClientSession() as http):
            port = free_port()
            env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_APP_TOKEN": "",
                   "SLACK_API_URL": slack.url + "/api/", "HOST": "127.0.0.1", "PORT": str(port),
                   "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bot.db'}", "LOG_LEVEL": "WARNING",
                   "LOG_FORMAT": "json", "BANDWIDTH_BASE_URL": bandwidth.url,
                   "BANDWIDTH_USER_ID": bandwidth.user_id, "BANDWIDTH_API_TOKEN": bandwidth.api_token,
                   "BANDWIDTH_API_SECRET": bandwidth.api_secret, "BANDWIDTH_DOMAIN_ID": "rd-sandbox",
                   "BANDWIDTH_RATE": str(RATE)}
            with (Path(tmp) / "bot.log").open("wb") as log:
                proc = await _spawn(sys.executable, "-m", "bot", "serve", env=env, stderr=log)
                url = f"http://127.0.0.1:{port}"
                await _ready(url + "/readyz", proc, time.perf_counter())
                try:
                    await _measure(slack, bandwidth, http, proc, url)
                finally:
                    proc.terminate()
                    await proc.wait()


async def _measure(slack: SlackEmulator, bandwidth: BandwidthSimulator, http: aiohttp.ClientSession,
                   proc: asyncio.subprocess.Process, url: str) -> None:
    endpoints = bandwidth.endpoints["rd-sandbox"]
    user = SlackUser(url + "/slack/events", SIGNING_SECRET, slack, http)
    rss_start = rss_mb(proc.pid)
    view = await user.open_modal("/sip-endpoint", "import")
    picked = slack.files.add("bench.csv", sip_csv(ROWS)).as_json(slack.url, TEAM)
    await user.submit(view, {"file": [picked]})
    preview = await _until(lambda: (v := slack.views[view["id"]]).get("submit") and v, 60)
    rss_before = rss_mb(proc.pid)
    await user.submit(preview, {})
    first = await _until(lambda: endpoints and time.perf_counter(), 30)
    peak = [rss_before]

    async def sample() -> None:
        while True:
            peak.append(rss_mb(proc.pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.get_running_loop().create_task(sample())
    acks = await load(url + "/slack/events", command_requests("/sip-endpoint", "help"), mode="open",
                      duration=ACK_SECONDS, rate=20)
    last = await _until(lambda: len(endpoints) >= ROWS and time.perf_counter(), ROWS / RATE * 3 + 60)
    parent = slack.channel_messages(user.channel_id)[0]
    await _until(lambda: slack.files.shared_in(user.channel_id, parent.ts), 60)
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    rss_after = rss_mb(proc.pid)
    rate = (len(endpoints) - 1) / (last - first)
    growth = max([*peak, rss_after]) - rss_before
    figure("endpoints created (each once)", f"{len(endpoints):,}", f"{ROWS:,}", len(endpoints) == ROWS)
    figure("create rate", f"{rate:.1f}/s", f"target >= {0.9 * RATE:.1f}/s (90% of {RATE:g})",
           rate >= 0.9 * RATE)
    figure("RSS growth while importing (peak - before)", f"{growth:.1f} MB", "target <= 20 MB", growth <= 20)
    figure("RSS: start / before import / after", f"{rss_start:.0f} / {rss_before:.0f} / {rss_after:.0f} MB")
    p99 = acks.percentile(99)
    figure("other commands' ack p99 while importing", ms(p99), "target <= 50 ms", p99 <= 0.050)
    figure("other commands' ack p50", ms(acks.percentile(50)), f"{acks.count} acks")


async def _until(check: Callable[[], Any], within: float) -> Any:
    deadline = time.perf_counter() + within
    while not (found := check()):
        if time.perf_counter() > deadline:
            raise SystemExit("bench: the import did not get there in time")
        await asyncio.sleep(0.02)
    return found
