"""No token, password or secret reaches a log line; each line names its own request."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from bot.logs import configure_logging, register_secret
from bot.sandbox.calls import call_start
from bot.sandbox.slack import SlackEmulator
from tests.flow import eventually
from tests.processes import free_port, start_serve


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]):
    configure_logging("DEBUG", "json")

    def read() -> list[dict[str, object]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield read
    structlog.reset_defaults()


def test_secret_fields_and_values_come_out_redacted(json_lines) -> None:
    register_secret("configured-app-secret-123")
    log = structlog.get_logger("t")
    log.info(
        "provider.call",
        password="hunter2",
        api_token="tok-123",
        headers={"Authorization": "Bearer abc.def.ghi", "User-Agent": "bot"},
        url="https://pbx.example.com/openapi/v1.0/x?access_token=SECRETTOKEN&page=1",
        note="bot token xoxb-1111-2222-abcd and configured-app-secret-123 leaked",
        user_id="U123",
    )
    [line] = json_lines()
    text = json.dumps(line)
    leaked = ("hunter2", "tok-123", "abc.def.ghi", "SECRETTOKEN", "xoxb-1111", "configured-app-secret-123")
    for secret in leaked:
        assert secret not in text
    assert line["password"] == "[redacted]" and line["api_token"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "User-Agent": "bot"}
    assert line["user_id"] == "U123" and "page=1" in str(line["url"])


def test_bound_request_context_is_on_every_line(json_lines) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1", slack_user="U9", slack_kind="/contact")
    try:
        log = structlog.get_logger("t")
        log.info("one")
        log.warning("two")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = json_lines()
    assert [line["event"] for line in lines] == ["one", "two"]
    assert all(line["request_id"] == "r-1" and line["slack_user"] == "U9" for line in lines)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_secret_in_an_exception_or_a_library_log_comes_out_redacted(
        capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    import logging

    configure_logging("DEBUG", fmt)
    try:
        try:
            raise RuntimeError("upstream said: password=hunter2 with xoxb-9999-8888-leak")
        except RuntimeError:
            structlog.get_logger("t").exception("relay.crashed")
            logging.getLogger("aiohttp.client").error("request failed", exc_info=True)
        logging.getLogger("slack_bolt.App").warning("retrying with Bearer abc.def.ghi")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "relay.crashed" in err and "request failed" in err and "retrying with" in err
    assert err.count("RuntimeError") >= 2, "the tracebacks are still there"
    for secret in ("hunter2", "xoxb-9999", "abc.def.ghi"):
        assert secret not in err


def test_secrets_inside_text_come_out_redacted(json_lines) -> None:
    structlog.get_logger("t").warning(
        "provider.echo",
        body='{"password": "hunter2", "api_key": "AK123", "name": "Ada"}',
        header="Authorization: Token tk9f8e7d6c5b4a",
        dsn="postgresql://bot:pg-pass-123@db.internal:5432/bot",
        note="Token expired; retrying",
    )
    [line] = json_lines()
    text = json.dumps(line)
    for secret in ("hunter2", "AK123", "tk9f8e7d6c5b4a", "pg-pass-123"):
        assert secret not in text
    assert "Ada" in text and "db.internal" in text and line["note"] == "Token expired; retrying"



async def test_a_calls_log_lines_carry_no_other_requests_id(tmp_path: Path) -> None:
    """The ingest's writer and the relay's lanes serve many webhook requests: their lines
    (a commit, a delivery) must not carry the ID of whichever request happened to start them.
    (A bot process of its own: its JSON log, whatever this process's loggers were set to.)"""
    log = tmp_path / "bot.log"
    async with SlackEmulator(bot_token="xoxb-log") as slack:
        port = free_port()
        proc = await start_serve(tmp_path, port, log, SLACK_BOT_TOKEN="xoxb-log", SLACK_SIGNING_SECRET="s",
                                 SLACK_API_URL=slack.url + "/api/", CALL_EVENTS_CHANNEL="C0CALLS",
                                 CINNOX_WEBHOOK_TOKEN="log-test-token", LOG_LEVEL="INFO",
                                 DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}")
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{port}/webhooks/cinnox/log-test-token"
                for n, request_id in enumerate(("rq-first", "rq-second")):
                    async with http.post(url, json=call_start(f"call-{n}"),
                                         headers={"X-Request-ID": request_id}) as resp:
                        assert resp.status == 200

            def lines() -> list[dict[str, Any]]:
                return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]

            def both_delivered() -> bool:
                return {line.get("call_id") for line in lines() if line["event"] == "relay.delivered"} == {
                    "call-0", "call-1"}

            await eventually(both_delivered, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    committed = [line for line in lines() if line["event"] == "ingest.committed"]
    delivered = [line for line in lines() if line["event"] == "relay.delivered"]
    assert committed, "the commits are logged"
    assert not [line for line in committed + delivered if "request_id" in line]
