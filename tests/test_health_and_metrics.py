"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from bot.sandbox.stack import SandboxStack


async def test_healthz_and_readyz_answer(stack: SandboxStack) -> None:
    assert stack.http is not None
    async with stack.http.get(stack.url + "/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with stack.http.get(stack.url + "/readyz") as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ready"


async def test_readyz_fails_when_the_store_is_unreachable(stack: SandboxStack) -> None:
    assert stack.http is not None
    await stack.services.store.engine.dispose()
    # Point the engine at a path that cannot be opened: readiness must say so.
    from sqlalchemy.ext.asyncio import create_async_engine

    stack.services.store.engine = create_async_engine("sqlite+aiosqlite:////nonexistent/dir/x.db")
    async with stack.http.get(stack.url + "/readyz") as resp:
        assert resp.status == 503 and "store" in (await resp.json())["status"]


async def test_metrics_count_requests_per_route_and_per_command(stack: SandboxStack) -> None:
    assert stack.http is not None
    await stack.user().command("/sip-endpoint", "help")
    async with stack.http.get(stack.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert 'bot_http_requests_total{method="POST",route="/slack/events",status="200"} 1.0' in text
    assert 'bot_slack_requests_total{kind="/sip-endpoint",status="200"} 1.0' in text
    assert 'bot_slack_ack_seconds_count{kind="/sip-endpoint"} 1.0' in text
    assert 'bot_http_request_seconds_bucket{le="0.01",route="/slack/events"}' in text
