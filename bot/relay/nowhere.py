"""Calls with nowhere to go: no CALL_EVENTS_CHANNEL and no service routed to a channel.
Said, with how to fix it, wherever someone looks: `/call-events subscribe` and `status`,
the App Home, `python -m bot check` and the log line at start."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from bot.store import tables
from bot.store.db import Store

PROBLEM = "calls have nowhere to go: CALL_EVENTS_CHANNEL is not set and no service is routed to a channel"
FIX = ("set CALL_EVENTS_CHANNEL to a channel ID and restart the bot, or send a service's calls "
       "to a channel with `/call-events route <serviceId> <#channel>`")
#: The error a call event is given up with when it had no channel (the relay's sweep).
NO_CHANNEL = "no channel: set CALL_EVENTS_CHANNEL or use /call-events route"


def nowhere_to_post(default_channel: str | None, routes: dict[str, str]) -> bool:
    return not default_channel and not routes


async def unposted(store: Store) -> int:
    """Call events not posted for want of a channel: waiting for one, or given up."""
    o = tables.outbox
    query = select(func.count()).select_from(o).where(or_(
        (o.c.channel_id.is_(None)) & o.c.state.in_(tables.OUTBOX_OPEN),
        (o.c.state == "failed") & (o.c.last_error == NO_CHANNEL)))
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar() or 0)


def sentence(unposted_events: int) -> str:
    """The problem, how to fix it, and what it has cost so far (mrkdwn)."""
    several = unposted_events != 1
    count = ("No call event has been lost to it yet." if unposted_events == 0 else
             f"{unposted_events} call event{'s' if several else ''} could not be posted for want of a "
             f"channel: Retry {'them' if several else 'it'} (App Home, `/call-events status`) once fixed.")
    return f":warning: *{PROBLEM[0].upper()}{PROBLEM[1:]}.* To fix it, {FIX}. {count}"
