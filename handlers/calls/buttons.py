"""The buttons on a call's message (and on the App Home): save the caller as a contact,
route the call's service, take a missed call's call-back. Each acks at once and works
after; none goes through the relay, so a click never holds a call delivery back."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.relay import messages
from bot.relay.cards import refresh_parent
from bot.services import Services
from handlers.calls import routing as call_route
from handlers.calls.app_home import publish
from handlers.calls.clicks import may_provision, tell
from handlers.forms.provisioning import Form, not_configured

log = structlog.get_logger(__name__)


def register(app: AsyncApp, services: Services, forms: list[Form]) -> None:
    contact_form = next(form for form in forms if form.callback_id == "contact")

    @app.action(messages.SAVE_CONTACT)
    async def save_contact(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        services.background.spawn(_save_contact(services, contact_form, body, action, client),
                                  name="call.save_contact")

    @app.action(messages.ROUTE)
    async def route(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        services.background.spawn(_route(services, body, action, client), name="call.route")

    @app.action(messages.CALLBACK)
    async def take_callback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.background.spawn(_take(services, body, str(action.get("value", ""))), name="call.callback")

    @app.action(messages.CALLBACK_DONE)
    async def callback_done(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.background.spawn(_done(services, body, str(action.get("value", ""))), name="call.callback")


async def _save_contact(services: Services, form: Form, body: dict[str, Any], action: dict[str, Any],
                        client: Any) -> None:
    if not await may_provision(services, body, "contact.create"):
        return
    if services.cinnox is None:
        await tell(services, body, not_configured("cinnox"))
        return
    try:
        data = json.loads(action.get("value") or "{}")
    except ValueError:
        data = {}
    phone = messages.e164(str(data.get("phone") or ""))
    meta = {"call": str(data.get("call") or "")[:128], "response_url": body.get("response_url", ""),
            "channel_id": (body.get("channel") or {}).get("id", ""), "sub": ""}
    view = form.view(meta, {"phones.0.phone": phone, "phones.0.type": "Mobile"} if phone else {})
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as exc:
        log.warning("views.open_failed", error=exc.response.get("error"))


async def _route(services: Services, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
    if not await may_provision(services, body, "call_events.route"):
        return
    meta = call_route.meta_for_button(str(action.get("value") or ""))
    await call_route.open_form(services, client, body["trigger_id"], meta)


async def _take(services: Services, body: dict[str, Any], call_id: str) -> None:
    user = body["user"]["id"]
    taken = await services.call_notes.take_callback(call_id, user, time.time())
    if taken.user_id != user:
        when, _ = messages.clock(taken.taken_at, "{time}")
        state = "called back" if taken.done_at else f"has been calling back since {when}"
        await tell(services, body, f":telephone_receiver: <@{taken.user_id}> {state}: no need to call too.")
        return
    await services.access.record(user, "call.callback", "ok", resource_id=call_id)
    await _show(services, body, call_id)


async def _done(services: Services, body: dict[str, Any], call_id: str) -> None:
    user = body["user"]["id"]
    if not await services.call_notes.finish_callback(call_id, user, time.time()):
        holder = await services.call_notes.callback(call_id)
        who = f"<@{holder.user_id}>" if holder else "the person calling back"
        await tell(services, body, f"Only {who} can mark this call-back done.")
        return
    await services.access.record(user, "call.callback_done", "ok", resource_id=call_id)
    await _show(services, body, call_id)


async def _show(services: Services, body: dict[str, Any], call_id: str) -> None:
    await refresh_parent(services, call_id)
    if (body.get("view") or {}).get("type") == "home":
        await publish(services, services.slack, body["user"]["id"])
