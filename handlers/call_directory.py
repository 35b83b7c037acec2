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


async def contact_created(services: Services, request: Any, outcome: Any, meta: dict[str, Any]) -> None:
    name = " ".join(filter(None, [request.first_name, request.last_name]))
    phones = [p.phone for p in request.phones]
    try:
        if phones and name:
            await services.directory.add_contact(phones, name, outcome.resource_id, None)
        call_id = meta.get("call")
        if isinstance(call_id, str) and call_id:
            await refresh_parent(services, call_id)
    except Exception:  # the contact exists: a name not shown is no reason to say otherwise
        log.exception("directory.contact_not_recorded")


async def service_group_created(services: Services, request: Any, outcome: Any) -> None:
    try:
        await services.directory.name_service(outcome.resource_id, str(request.display_name), "service_group")
    except Exception:
        log.exception("directory.service_not_recorded")
