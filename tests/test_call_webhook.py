"""POST /webhooks/cinnox/{token}: what CINNOX gets back, and what is stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.stack import SandboxStack
from bot.store import tables
from tests.flow import eventually, eventually_async


async def metrics_text(stack: SandboxStack) -> str:
    assert stack.http is not None
    async with stack.http.get(stack.url + "/metrics") as resp:
        return await resp.text()


async def stored_events(stack: SandboxStack) -> int:
    async with stack.services.store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(tables.outbox))).scalar() or 0)


async def test_challenge_is_echoed_in_the_documented_envelope(stack: SandboxStack) -> None:
    status, body = await stack.webhook({"challenge": "abc-123"})
    assert (status, body) == (200, {"code": 0, "result": {"challenge": "abc-123"}})


async def test_cinnox_subscription_handshake_reaches_the_bot(stack: SandboxStack) -> None:
    # The simulator challenges the URL it is given, as CINNOX does before subscribing: by
    # default, through the bot's PUBLIC_BASE_URL.
    reply = await stack.user().command("/call-events", "subscribe")
    assert reply.status == 200

    async def challenged() -> bool:
        return 'bot_webhook_requests_total{answer="challenge"} 1.0' in await metrics_text(stack)

    await eventually_async(challenged)
    assert stack.cinnox.subscription["enabled"] is True


async def test_wrong_token_is_404_and_stores_nothing(stack: SandboxStack) -> None:
    status, _ = await stack.webhook(call_start("c1"), token="not-the-token")
    assert status == 404
    assert await stored_events(stack) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""], ids=["broken", "not-utf8", "empty"])
async def test_malformed_json_is_400_with_a_reason(stack: SandboxStack, raw: bytes) -> None:
    status, body = await stack.webhook(raw)
    assert status == 400
    assert body["message"] == "malformed JSON"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message": {"status": "CallStart", "serviceId": "s"}}, "message.id"),
        ({"message": {"id": "c1", "status": "CallRinging", "serviceId": "s"}}, "message.status"),
        ({"message": {"id": "", "status": "CallEnd", "serviceId": "s"}}, "message.id"),
        ({"message": {"id": "   ", "status": "CallEnd", "serviceId": "s"}}, "message.id"),
        ({"message": {"id": "x" * 129, "status": "CallEnd", "serviceId": "s"}}, "message.id"),
        ({"message": {"id": "c\u00001", "status": "CallEnd", "serviceId": "s"}}, "message.id: must not"),
        ({"message": {"id": "c1", "status": "CallEnd", "serviceId": "s\u0000"}}, "message.serviceId"),
        ({"event": "something else"}, "message"),
        ([1, 2, 3], "JSON object"),
    ],
    ids=["no-id", "unknown-status", "empty-id", "blank-id", "id-too-long",
         "nul-in-id", "nul-in-service", "no-message", "array"],
)
async def test_an_event_that_cannot_be_keyed_is_400_naming_the_field(
    stack: SandboxStack, body: object, reason: str
) -> None:
    status, answer = await stack.webhook(body)
    assert status == 400
    assert reason in answer["message"]
    assert await stored_events(stack) == 0


async def test_body_over_64_kib_is_413(stack: SandboxStack) -> None:
    body = call_start("c1")
    body["padding"] = "x" * (64 * 1024)
    status, _ = await stack.webhook(body)
    assert status == 413
    assert await stored_events(stack) == 0


async def test_an_event_is_stored_before_the_200_and_a_duplicate_once(stack: SandboxStack) -> None:
    for _ in range(3):
        status, body = await stack.webhook(call_start("c1"))
        assert (status, body) == (200, {"code": 0})
    status, _ = await stack.webhook(call_end("c1"))
    assert status == 200
    async with stack.services.store.engine.connect() as conn:
        keys = sorted(r.event_key for r in await conn.execute(select(tables.outbox.c.event_key)))
    assert keys == ["c1:CallEnd", "c1:CallStart"]


async def test_numbers_sent_as_json_numbers_are_kept_whole(stack: SandboxStack) -> None:
    status, _ = await stack.webhook(call_start("c1", caller="85291234567"))
    assert status == 200
    async with stack.services.store.engine.connect() as conn:
        payload = (await conn.execute(select(tables.outbox.c.payload))).scalar()
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert payload["caller"]["number"] == "85291234567"


async def test_webhook_answers_are_counted_in_metrics(stack: SandboxStack) -> None:
    await stack.webhook(call_start("c1"))
    await stack.webhook(b"nope")
    text = await metrics_text(stack)
    assert 'bot_webhook_requests_total{answer="stored"} 1.0' in text
    assert 'bot_webhook_requests_total{answer="bad_json"} 1.0' in text
    # the route is labelled by its pattern, never with the secret token
    assert stack.services.webhook_token not in text


async def test_a_withheld_caller_and_a_call_end_with_stray_parties_are_still_taken(stack: SandboxStack) -> None:
    start = {"message": {"id": "c9", "status": "CallStart", "serviceId": "s",
                         "caller": {"number": "anonymous"}, "callees": [{"number": "+852 6123 4567"}]}}
    end = {"message": {"id": "c9", "status": "CallEnd", "serviceId": "s", "caller": {}}}
    assert (await stack.webhook(start))[0] == 200
    assert (await stack.webhook(end))[0] == 200
    assert await stored_events(stack) == 2


@pytest.mark.parametrize(
    "message",
    [
        {"caller": "me", "callees": [{"number": 85261234567}]},
        {"callees": [{"number": 85261234567}]},
        {"caller": {"number": 85291234567}, "callees": []},
        {"caller": {}, "callees": [{"eid": "e1"}]},
        {"caller": {"number": 852.5}, "callees": [{"eid": "e1"}]},
        {"caller": {"number": -85291234567}, "callees": [{}]},
        {},
    ],
    ids=["caller-not-object", "no-caller", "no-callees", "caller-nobody", "number-fraction",
         "number-negative", "no-parties"],
)
async def test_a_call_start_is_taken_whatever_its_parties_look_like(stack: SandboxStack, message: dict) -> None:
    body = {"message": {"id": "c1", "status": "CallStart", "serviceId": "s", **message}}
    status, _ = await stack.webhook(body)
    assert status == 200
    assert await stored_events(stack) == 1


async def test_ids_sent_as_numbers_or_no_service_id_are_stored_relayed_and_counted(stack: SandboxStack) -> None:
    # The document types id and serviceId as String and marks nothing required; refused,
    # the call would be lost (nothing says CINNOX sends it again).
    start = {"message": {"id": 12345, "status": "CallStart", "serviceId": 77,
                         "caller": {"number": 85291234567}}}
    end = {"message": {"id": 12345, "status": "CallEnd"}}
    assert (await stack.webhook(start))[0] == 200
    assert (await stack.webhook(end))[0] == 200
    async with stack.services.store.engine.connect() as conn:
        keys = sorted(r.event_key for r in await conn.execute(select(tables.outbox.c.event_key)))
    assert keys == ["12345:CallEnd", "12345:CallStart"]
    nameless = {"message": {"id": "c-77", "status": "CallStart", "caller": {"number": "85291234567"}}}
    assert (await stack.webhook(nameless))[0] == 200
    parent = await eventually(lambda: [m for m in stack.slack.channel_messages("C0CALLS")
                                       if "unknown service" in m.text])
    assert "+852 9123 4567" in parent[0].text
    text = await metrics_text(stack)
    assert 'bot_webhook_normalised_total{normalised="id_number"} 2.0' in text
    assert 'bot_webhook_normalised_total{normalised="serviceId_number"} 1.0' in text
    assert 'bot_webhook_normalised_total{normalised="serviceId_missing"} 2.0' in text
