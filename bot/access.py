"""Who may provision, and the audit of every attempt: one place for both."""

from __future__ import annotations

import structlog

from bot.metrics import Metrics
from bot.store import Store

log = structlog.get_logger("bot.audit")

REFUSAL = (
    "Sorry, you're not on this bot's list of people who can create things. "
    "Your Slack user ID is {user}: ask whoever runs the bot to add it to BOT_ALLOWED_USERS."
)


def refusal(user_id: str) -> str:
    """What a person outside BOT_ALLOWED_USERS reads: their own ID and what to ask for."""
    return REFUSAL.format(user=user_id or "unknown")


class Access:
    def __init__(self, allowed: frozenset[str] | None, store: Store, metrics: Metrics) -> None:
        self.allowed = allowed
        self.store = store
        self.metrics = metrics

    def may_provision(self, user_id: str) -> bool:
        return self.allowed is None or user_id in self.allowed

    async def record(
        self,
        user_id: str,
        action: str,
        outcome: str,
        *,
        resource_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Write one attempt to the audit table and the log."""
        await self.store.audit(
            user_id=user_id, action=action, outcome=outcome, resource_id=resource_id, detail=detail
        )
        self.metrics.provider_calls.inc(action, outcome)
        log.info("audit", audit_user=user_id, action=action, outcome=outcome,
                 resource_id=resource_id, detail=detail)
