"""The yardsticks, each a server in a process of its own (as the bot is), so that the bench
compares servers, not processes sharing one core's event loop.

``python -m bench.yardsticks bare|naive|bolt <port> [<slack api url> | <sqlite file>]``
prints ``ready`` once listening, and serves until stdin closes.

- bare: a bare aiohttp handler. The webhook route parses the JSON and answers 200; the
  Slack route parses the form and answers an ephemeral message. It stores nothing.
- naive: the webhook a first version would be: aiosqlite, one transaction per event (an
  INSERT OR IGNORE, so duplicates are stored once, and its COMMIT, one event at a time as
  SQLite takes one writer at a time) before the 200, on the same SQLite settings as the bot
  (WAL, synchronous=NORMAL); 400 when the JSON or its id/status is bad.
- bolt: a minimal stock Bolt AsyncApp (process_before_response, as the bot) that verifies
  the signature and acks ``/contact`` and the ``contact`` view submission with the answers
  the bot gives them (``python -m bench.yardsticks bolt <port> <slack api url> <answers.json>``:
  ``{"command": ack kwargs, "view": ack kwargs}``, read from the bot by the bench), through
  Bolt's own ``ack()``: the same answer for the same request, not an empty 200.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"


def bare() -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response({"code": 0})

    async def slack(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response({"response_type": "ephemeral", "text": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks/cinnox/{token}", webhook)
    app.router.add_post("/slack/events", slack)
    return app


async def naive(path: str) -> web.Application:
    import aiosqlite

    db = await aiosqlite.connect(path)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, payload TEXT NOT NULL, "
                     "received_at REAL NOT NULL)")
    await db.commit()
    one_at_a_time = asyncio.Lock()  # else two events could share a commit

    async def webhook(request: web.Request) -> web.Response:
        try:
            message = json.loads(await request.read())["message"]
            key = f"{message['id']}:{message['status']}"
        except (ValueError, KeyError, TypeError):
            return web.json_response({"code": 400, "message": "bad event"}, status=400)
        async with one_at_a_time:
            await db.execute("INSERT OR IGNORE INTO events (key, payload, received_at) VALUES (?, ?, "
                             "julianday('now'))", (key, json.dumps(message)))
            await db.commit()
        return web.json_response({"code": 0})

    async def close(_: web.Application) -> None:
        await db.close()

    app = web.Application()
    app.router.add_post("/webhooks/cinnox/{token}", webhook)
    app.on_cleanup.append(close)
    return app


def bolt(slack_api_url: str, answers_file: str) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url),
                   signing_secret=SIGNING_SECRET, process_before_response=True)

    answers = json.loads(Path(answers_file).read_text())

    @app.command("/contact")
    async def command(ack: Any) -> None:
        await ack(**answers["command"])

    @app.view("contact")
    async def submission(ack: Any) -> None:
        await ack(**answers["view"])

    async def handler(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handler)
    return web_app


async def main(kind: str, port: int, arg: str, more: str) -> None:
    app = {"bare": lambda: bare(), "bolt": lambda: bolt(arg, more)}.get(kind)
    web_app = await naive(arg) if kind == "naive" else app() if app else None
    if web_app is None:
        raise SystemExit(f"unknown yardstick {kind!r}")
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), *[*sys.argv[3:], "", ""][:2]))
