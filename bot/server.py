"""The aiohttp application: every route in one table, and the middleware that gives each
request an ID, its log context and its metrics."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import describe
from bot.services import SERVICES, Services
from bot.slack_request import to_aiohttp_response, to_bolt_request
from bot.webhook import cinnox_webhook

log = structlog.get_logger(__name__)

BOLT = web.AppKey("bolt", AsyncApp)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Request IDs: this process's random prefix and a count (16 hex digits, as uuid4()[:16] was,
# without a system call per request).
_ID_PREFIX = os.urandom(4).hex()
_id_count = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_count) & 0xFFFFFFFF:08x}"


def build_web_app(services: Services, bolt: AsyncApp) -> web.Application:
    app = web.Application(middlewares=[observe], client_max_size=1024**2)
    app[SERVICES] = services
    app[BOLT] = bolt
    app.add_routes([
        web.post("/slack/events", slack_events),
        web.post("/webhooks/cinnox/{token}", cinnox_webhook),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
    ])
    return app


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-ID") or new_request_id()
    # aiohttp runs each request in a task of its own, with a copy of the server's context:
    # what a request binds ends with it, nothing to clear first.
    structlog.contextvars.bind_contextvars(request_id=request_id)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception:
        log.exception("http.unhandled", route=route)
        raise
    finally:
        request.app[SERVICES].metrics.http_answered(route, request.method, status,
                                                    time.perf_counter() - started)


async def slack_events(request: web.Request) -> web.StreamResponse:
    """Every Slack request; Bolt verifies the signature (401 when wrong, missing or stale)."""
    started = time.perf_counter()
    bolt_request = await to_bolt_request(request)
    bolt_response = await request.app[BOLT].async_dispatch(bolt_request)
    kind = describe(bolt_request.body)[0] if bolt_response.status != 401 else "rejected"
    request.app[SERVICES].metrics.slack_answered(kind, bolt_response.status, time.perf_counter() - started)
    if bolt_response.status == 401:
        log.warning("slack.signature_rejected")
    return await to_aiohttp_response(bolt_response)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if services.background.closing:
        return web.json_response({"status": "shutting down"}, status=503)
    if not await services.store.ping():
        return web.json_response({"status": "store unreachable"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
