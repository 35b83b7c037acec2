"""What the provisioning forms teach the call messages: a contact created through the bot
(from /contact or a call's "Save caller as contact" button) names its numbers, a service
group created through the bot names its service. The call it was saved from is shown
again with the name."""

from __future__ import annotations

from typing import Any

import structlog

from bot.relay.cards import refresh_parent
from bot.services import Services

log = structlog.get_logger(__name__)


def contact_name(request: Any) -> str:
    """What call messages call the contact: its name, else its company, else its first
    email; empty when it has none of these (the number alone is then shown, but the
    caller is known and not offered for saving again)."""
    name = " ".join(filter(None, [request.first_name, request.last_name]))
    emails = [e.email for e in getattr(request, "emails", None) or []]
    return name or (getattr(request, "company", None) or "").strip() or (emails[0] if emails else "")


async def contact_created(services: Services, request: Any, outcome: Any, meta: dict[str, Any]) -> None:
    phones = [p.phone for p in request.phones]
    try:
        if phones:
            await services.directory.add_contact(phones, contact_name(request), outcome.resource_id, None)
    except Exception:  # the contact exists: a name not shown is no reason to say otherwise
        log.exception("directory.contact_not_recorded")
        return
    call_id = meta.get("call")
    if isinstance(call_id, str) and call_id:
        # The form's answer never waits on Slack: the call's message is redrawn after it.
        services.background.spawn(refresh_parent(services, call_id), name="call.parent_refresh")


async def service_group_created(services: Services, request: Any, outcome: Any) -> None:
    try:
        await services.directory.name_service(outcome.resource_id, str(request.display_name), "service_group")
    except Exception:
        log.exception("directory.service_not_recorded")
