"""A modal's outcome shown in place of the answer its submission got ("Creating…",
"Checking…"), without Slack putting that answer back over it."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError

from bot.services import Services

log = structlog.get_logger(__name__)

#: An outcome that landed before Slack applied the submission's answer is checked this many
#: times, this often (Slack applies an answer within its 3 s).
PENDING_CHECKS, PENDING_CHECK_EVERY = 8, 0.5


async def update_after_answer(services: Services, view_id: str, submitted_hash: str,
                              view: dict[str, Any]) -> None:
    """Slack may apply a submission's ``response_action: update`` after a views.update sent
    meanwhile, and overwrite it. With the view's ``hash`` Slack refuses the update once the
    answer took its place (hash_conflict: nothing is pending, so update over it), and an
    update taken before it is checked again until Slack's wait is over."""
    known = submitted_hash
    for _ in range(PENDING_CHECKS):
        try:
            answer = await services.slack.views_update(view_id=view_id, view=view, hash=known or None)
        except SlackApiError as exc:
            if exc.response.get("error") == "hash_conflict" and known:
                known = ""  # the answer (or a newer view) is there: nothing is pending
                continue
            log.info("views.update_failed", error=exc.response.get("error"))  # closed meanwhile
            return
        if not known:
            return
        known = str((answer.get("view") or {}).get("hash") or "")
        await asyncio.sleep(PENDING_CHECK_EVERY)
