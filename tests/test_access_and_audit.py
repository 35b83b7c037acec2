"""BOT_ALLOWED_USERS guards provisioning; every attempt is audited."""

from __future__ import annotations

from pathlib import Path

from bot.access import refusal
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually_async


async def test_a_user_outside_the_allowlist_is_refused_politely_and_audited(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0ALLOWED") as stack:
        reply = await stack.user("U0OUTSIDER").command("/call-events", "subscribe")
        assert reply.status == 200
        assert reply.json == {"response_type": "ephemeral", "text": refusal("U0OUTSIDER")}
        assert "U0OUTSIDER" in reply.json["text"] and "BOT_ALLOWED_USERS" in reply.json["text"]
        # written after the ack (the refusal does not wait for it)
        [entry] = await eventually_async(stack.services.store.recent_audit)
        assert (entry.user_id, entry.action, entry.outcome) == ("U0OUTSIDER", "call_events.subscribe", "denied")


async def test_help_is_open_to_everyone(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0ALLOWED") as stack:
        reply = await stack.user("U0OUTSIDER").command("/contact", "help")
        assert "Usage" in reply.json["text"]
        assert await stack.services.store.recent_audit() == []


async def test_a_modal_submission_from_outside_the_allowlist_is_refused(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0ALLOWED") as stack:
        view = {"id": "V1", "type": "modal", "callback_id": "contact", "blocks": [],
                "title": {"type": "plain_text", "text": "x"}}
        reply = await stack.user("U0OUTSIDER").submit(view, {})
        assert reply.json["response_action"] == "update"
        assert refusal("U0OUTSIDER") in reply.json["view"]["blocks"][0]["text"]["text"]
        [entry] = await eventually_async(stack.services.store.recent_audit)
        assert (entry.action, entry.outcome) == ("contact.create", "denied")


async def test_an_allowed_user_is_not_refused(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0A, U0ALLOWED") as stack:
        reply = await stack.user("U0ALLOWED").command("/call-events", "help")
        assert reply.json["text"] != refusal("U0ALLOWED")
        reply = await stack.user("U0ALLOWED").command("/contact", "")
        assert reply.json is None or reply.json.get("text") != refusal("U0ALLOWED")


async def test_showing_the_call_event_status_and_routes_is_open_to_everyone(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, bot_allowed_users="U0ALLOWED") as stack:
        outsider = stack.user("U0OUTSIDER")
        for text in ("status", "routes"):
            reply = await outsider.command("/call-events", text)
            assert reply.status == 200 and (reply.json or {}).get("text") != refusal("U0OUTSIDER")
        refused = await outsider.command("/call-events", "route svc-1 C0X")
        assert refused.json["text"] == refusal("U0OUTSIDER")
        assert await stack.services.outbox.routes() == {}
