"""The App Home's Create buttons: each opens its form (the route form among them), for the
people BOT_ALLOWED_USERS lets create, once the form's provider is set up."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.services import Services
from handlers.calls import routing
from handlers.calls.app_home import OPEN_FORM_ACTION
from handlers.calls.clicks import may_provision, tell
from handlers.forms.provisioning import Form, not_configured

log = structlog.get_logger(__name__)


def register(app: AsyncApp, services: Services, forms: list[Form]) -> None:
    by_id = {form.callback_id: form for form in forms}

    @app.action(OPEN_FORM_ACTION)
    async def open_form(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        services.background.spawn(_open_form(services, by_id, body, str(action.get("value", "")), client),
                                  name="home.open_form")


async def _open_form(services: Services, forms: dict[str, Form], body: dict[str, Any], form_id: str,
                     client: Any) -> None:
    action = "call_events.route" if form_id == "call_route" else f"{form_id}.create"
    if form_id not in forms and form_id != "call_route":
        return
    if not await may_provision(services, body, action):
        return
    if form_id == "call_route":
        await routing.open_form(services, client, body["trigger_id"], {})
        return
    form = forms[form_id]
    if services.provider(form.provider) is None:
        await tell(services, body, not_configured(form.provider))
        return
    try:
        await client.views_open(trigger_id=body["trigger_id"],
                                view=form.view({"response_url": "", "channel_id": "", "sub": ""}))
    except SlackApiError as exc:
        log.warning("views.open_failed", error=exc.response.get("error"))
