"""A click on the console (a call's message, the App Home, a status message): who may use
it, and the answer only the clicker sees."""

from __future__ import annotations

from typing import Any

from bot.access import refusal
from bot.services import Services
from handlers.calls.app_home import publish
from handlers.forms.provisioning import respond_ephemeral


async def tell(services: Services, body: dict[str, Any], text: str) -> None:
    """An answer only the clicker sees: ephemeral under the message, or at the top of
    their App Home when the click came from there."""
    user = body["user"]["id"]
    url = body.get("response_url")
    if url:
        await respond_ephemeral(services, url, text)
        return
    if (body.get("view") or {}).get("type") == "home":
        await publish(services, services.slack, user, notice=text)


async def may_provision(services: Services, body: dict[str, Any], action: str) -> bool:
    """BOT_ALLOWED_USERS guards these buttons as it guards the slash commands, with the
    same audit trail."""
    user = body["user"]["id"]
    if services.access.may_provision(user):
        return True
    await services.access.record(user, action, "denied", detail="not in BOT_ALLOWED_USERS")
    await tell(services, body, refusal(user))
    return False
