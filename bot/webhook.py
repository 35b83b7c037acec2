"""``POST /webhooks/cinnox/{token}``: the challenge handshake and call events.

Answers (design.md): challenge → 200 ``{"code":0,"result":{"challenge":…}}``; an event →
200 only once it is stored (IDs sent as numbers are taken as text, an event without
serviceId is taken for an unknown service; both counted in
``bot_webhook_normalised_total``); bad JSON, or a body that cannot be a call event (no id,
an unknown status) → 400 with the reason; over 64 KiB → 413;
a wrong token → 404. Bad input never gets a 5xx; only an unreachable store does (503),
so that CINNOX sends the event again.
"""

from __future__ import annotations

import hmac
import json
import re
import time

import orjson
import structlog
from aiohttp import web

from bot.relay.events import BadEvent, challenge_of, parse_event
from bot.services import SERVICES, Services

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
#: Seconds CINNOX is asked to wait before sending again while the store is unreachable.
STORE_RETRY_AFTER = "5"


STORED = orjson.dumps({"code": 0})  # the answer to nearly every request: encoded once


def answer(services: Services, status: int, body: dict[str, object] | bytes, label: str) -> web.Response:
    services.metrics.webhook_answered(label)
    encoded = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=encoded, status=status, content_type="application/json")


async def cinnox_webhook(request: web.Request) -> web.Response:
    received_at = time.time()
    services = request.app[SERVICES]
    token = request.match_info.get("token", "")
    if not services.webhook_token or not hmac.compare_digest(token.encode(), services.webhook_token.encode()):
        return answer(services, 404, {"code": 404, "message": "not found"}, "wrong_token")
    raw = await _read_limited(request)
    if raw is None:
        return answer(services, 413, {"code": 413, "message": f"body over {MAX_BODY // 1024} KiB"}, "too_large")
    try:
        body = _decode(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return answer(services, 400, {"code": 400, "message": "malformed JSON"}, "bad_json")
    challenge = challenge_of(body)
    if challenge is not None:
        log.info("webhook.challenge")
        return answer(services, 200, {"code": 0, "result": {"challenge": challenge}}, "challenge")
    try:
        event, normalised = parse_event(body)
    except BadEvent as exc:
        log.info("webhook.rejected", reason=exc.reason)
        return answer(services, 400, {"code": 400, "message": exc.reason}, "bad_schema")
    assert services.relay is not None
    try:
        await services.relay.ingest.store(event, received_at)
    except Exception:
        log.exception("webhook.store_failed", call_id=event.id)
        unavailable = answer(services, 503, {"code": 503, "message": "temporarily unavailable"}, "store_failed")
        unavailable.headers["Retry-After"] = STORE_RETRY_AFTER
        return unavailable
    for what in normalised:
        services.metrics.webhook_normalised(what)
    # At INFO the batch's line says it ("ingest.committed", with every event's key): a JSON
    # line per event would cost more than storing it.
    log.debug("webhook.stored", call_id=event.id, status=event.status)
    return answer(services, 200, STORED, "stored")


_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _decode(raw: bytes) -> object:
    """The JSON body: orjson (several times faster), and ``json`` where the two would differ:
    what orjson refuses and ``json`` takes (NaN, 1e400), and a body with a number too long
    for 64 bits, which orjson reads as a float (a phone number sent as a number is kept whole)."""
    if _LONG_NUMBER.search(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


async def _read_limited(request: web.Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY (read no further than that)."""
    if request.content_length is not None:
        return None if request.content_length > MAX_BODY else await request.read()
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return None
    return b"".join(chunks)
