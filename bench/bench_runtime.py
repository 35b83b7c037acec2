"""Issue 3: slash-command ack latency at a steady 200 req/s (an open-loop generator: a
request starts on time whatever the answers do). Three servers on loopback, measured the
same way in one run: a bare aiohttp handler, a minimal stock Bolt AsyncApp that only acks,
and this bot. (Throughput under wrk is in bench_speed.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.common import LoadResult, figure, heading, load, ms, serving
from bot.sandbox.signing import signed_headers
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.stack import BOT_TOKEN, SIGNING_SECRET, SandboxStack

DURATION = 3.0


def command_requests(command: str, text: str, n: int = 200) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        body = (f"token=x&team_id=T0SANDBOX&channel_id=C0OPS&user_id=U0BENCH&command="
                f"{command.replace('/', '%2F')}&text={text}&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fr"
                f"&trigger_id={i}.t&api_app_id=A0")
        out.append({"body": body, "headers": signed_headers(SIGNING_SECRET, body)})
    return out


@asynccontextmanager
async def bare_aiohttp() -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response({"response_type": "ephemeral", "text": "ok"})

    async with serving("/slack/events", handler) as url:
        yield url


@asynccontextmanager
async def stock_bolt(slack: SlackEmulator) -> AsyncIterator[str]:
    bolt = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.url + "/api/"),
                    signing_secret=SIGNING_SECRET)

    @bolt.command("/contact")
    async def ack_only(ack: Any) -> None:
        await ack()

    async def handler(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async with serving("/slack/events", handler) as url:
        yield url


@asynccontextmanager
async def this_bot() -> AsyncIterator[str]:
    with TemporaryDirectory() as tmp:
        async with SandboxStack(Path(tmp), providers=False, log_level="ERROR") as stack:
            yield stack.url + "/slack/events"


async def steady(url: str, requests: list[dict[str, Any]]) -> LoadResult:
    result = await load(url, requests, mode="open", duration=DURATION, rate=200)
    check(result)
    return result


def check(result: LoadResult) -> None:
    bad = {k: v for k, v in result.statuses.items() if k != "200"}
    if bad:
        raise SystemExit(f"non-200 answers during the bench: {json.dumps(bad)}")


async def run() -> None:
    heading("Slash-command ack latency (issue 3): steady 200 req/s")
    requests = command_requests("/contact", "help")
    latency: dict[str, LoadResult] = {}
    async with SlackEmulator(bot_token=BOT_TOKEN) as slack, bare_aiohttp() as bare_url, \
            stock_bolt(slack) as stock_url, this_bot() as our_url:
        for name, url in {"bare": bare_url, "stock": stock_url, "ours": our_url}.items():
            latency[name] = await steady(url, requests)
    names = {"bare": "bare aiohttp handler", "stock": "minimal stock Bolt AsyncApp", "ours": "this bot"}
    for key, name in names.items():
        figure(f"{name}: ack p50 / p99 at 200 req/s",
               f"{ms(latency[key].percentile(50))} / {ms(latency[key].percentile(99))}")
    p99 = latency["ours"].percentile(99)
    figure("this bot ack p99 at 200 req/s", ms(p99), "target <= 10 ms", p99 <= 0.010)
