"""Slack requests reach the bot only when signed as Slack signs them."""

from __future__ import annotations

import time

import pytest

from bot.sandbox.signing import signed_headers
from bot.sandbox.stack import SIGNING_SECRET, SandboxStack
from handlers.commands import COMMANDS
from tests.flow import eventually


async def test_signed_command_reaches_its_handler(stack: SandboxStack) -> None:
    reply = await stack.user().command("/contact", "help")
    assert reply.status == 200
    assert reply.json["response_type"] == "ephemeral"
    assert "/contact" in reply.json["text"] and "external contact" in reply.json["text"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="unsigned"),
        pytest.param("wrong-secret", id="wrong-secret"),
        pytest.param("stale", id="older-than-5-minutes"),
    ],
)
async def test_bad_signature_is_401_and_reaches_nothing(tmp_path, headers) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0SOMEONE") as stack:
        user = stack.user("U0STRANGER")
        body = user.command_body("/call-events", "subscribe")
        if headers == "wrong-secret":
            headers = signed_headers("not-the-secret", body)
        elif headers == "stale":
            headers = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 301)
        reply = await user.post(body, headers=headers)
        assert reply.status == 401
        # Nothing ran: no audit entry (the allowlist would have written one), no Slack call.
        assert await stack.services.store.recent_audit() == []
        assert [r.path for r in stack.slack.requests if r.path != "/api/auth.test"] == []


async def test_tampered_body_is_401(stack: SandboxStack) -> None:
    user = stack.user()
    body = user.command_body("/contact", "help")
    headers = signed_headers(SIGNING_SECRET, body)
    reply = await user.post(body.replace("help", "hel"), headers=headers)
    assert reply.status == 401


@pytest.mark.parametrize("command", list(COMMANDS))
async def test_every_command_answers_help_and_unknown_subcommands(stack, command) -> None:
    user = stack.user()
    helped = await user.command(command, "help")
    assert helped.status == 200 and "Usage" in helped.json["text"]
    unknown = await user.command(command, "frobnicate")
    assert unknown.status == 200
    assert "don't know" in unknown.json["text"] and "Usage" in unknown.json["text"]
    assert unknown.json["response_type"] == "ephemeral"


async def test_usage_placeholders_read_as_text_not_as_broken_channel_links(stack) -> None:
    reply = await stack.user().command("/call-events", "")  # bare: just the usage
    text = reply.json["text"]
    assert "don't know" not in text
    assert "`/call-events route &lt;serviceId&gt; &lt;#channel&gt;` — send one service's calls" in text
    assert "<#channel>" not in text


async def test_a_requests_workspace_goes_with_that_requests_slack_calls_only(stack: SandboxStack) -> None:
    """A handler's Slack calls name the workspace its request came from (Bolt's client per
    request); the bot's own client, which later requests and the relay use, names none."""
    user = stack.user()
    await user.open_modal("/contact")
    [opened] = stack.slack.calls("/views.open")
    assert opened.body["team_id"] == "T0SANDBOX"

    await user.command("/call-events", "route svc-y <#C0SALES|sales>")
    [checked] = await eventually(lambda: stack.slack.calls("/conversations.info"))
    assert "team_id" not in {**checked.query, **(checked.body or {})}
