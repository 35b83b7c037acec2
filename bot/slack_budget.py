"""Slack's per-workspace rate budgets, shared by every task and every replica.

``chat.update`` (Tier 3, about 50 a minute) and ``views.publish`` (Tier 4, about 100 a
minute) are limited per workspace, not per channel or per user: the relay's lanes, the
call buttons and the App Home all draw on the same budget, on every replica. Each call
first reserves the next free moment in the store (one row per method, updated in one
transaction), then waits for it, so that together they stay within Slack's rate and a
429 stays the exception. A short burst is allowed after a quiet while, as Slack allows.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.services import Services
from bot.store import tables
from bot.store.db import Store

#: calls that may go at once after a quiet while
BURST = 5


async def reserve(store: Store, method: str, per_minute: int, now: float | None = None,
                  within: float | None = None) -> float | None:
    """The moment (epoch seconds) this call may go; the slot is taken. With ``within``:
    only a slot at most that many seconds away is taken, else None (nothing taken)."""
    interval = 60.0 / per_minute
    now = time.time() if now is None else now
    table = tables.slack_budgets
    async with store.transaction() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(table).values(method=method, next_at=0.0).on_conflict_do_nothing())
        query = select(table.c.next_at).where(table.c.method == method)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        next_at = float((await conn.execute(query)).scalar() or 0.0)
        slot = max(next_at, now - (BURST - 1) * interval)
        if within is not None and slot > now + within:
            return None
        await conn.execute(table.update().where(table.c.method == method).values(next_at=slot + interval))
    return max(slot, now)


async def take(services: Services, method: str) -> None:
    """Wait for this call's turn in ``method``'s workspace budget (SLACK_UPDATE_PER_MINUTE,
    SLACK_PUBLISH_PER_MINUTE)."""
    await take_within(services, method, None)


async def take_within(services: Services, method: str, within: float | None) -> bool:
    """``take``, when a turn comes within ``within`` seconds; False (nothing taken) when not."""
    settings = services.settings
    per_minute = (settings.slack_update_per_minute if method == "chat.update"
                  else settings.slack_publish_per_minute)
    slot = await reserve(services.store, method, per_minute, within=within)
    if slot is None:
        return False
    wait = slot - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
    return True

