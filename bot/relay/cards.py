"""A call's parent message rebuilt from the store (its call, how it ended, its call-back,
the directory's names): the relay uses it when a call ends, the buttons when someone acts
on a call. Reads the store only, never a provider."""

from __future__ import annotations

import structlog
from slack_sdk.errors import SlackApiError

from bot import slack_budget
from bot.relay import messages
from bot.relay.events import CallEvent
from bot.services import Services
from bot.store.directory import Names

log = structlog.get_logger(__name__)


async def names_for(services: Services, event: CallEvent, *more: CallEvent) -> Names:
    """The names these calls' messages show, in one read."""
    events = [event, *more]
    parties = [p for e in events for p in [e.caller, *e.callees] if p is not None]
    return await services.directory.names(
        phones=[n for p in parties if (n := messages.e164(p.number))],
        eids=[p.eid for p in parties if p.eid],
        service_ids=[e.service_id for e in events if e.service_id])


async def rollup_cards(services: Services, channel_id: str, ts: str) -> list[messages.CallCard]:
    """The calls of the roll-up at ``ts`` as it shows them now (from the store)."""
    calls = [c for c in await services.call_notes.in_message(channel_id, ts) if c.start_event is not None]
    if not calls:
        return []
    starts = [CallEvent.model_validate(c.start_event) for c in calls]
    names = await names_for(services, *starts)
    return [messages.CallCard.of(c, names) for c in calls]


async def card_for(services: Services, call_id: str) -> messages.CallCard | None:
    """The call as its parent shows it now; None when it has no parent message."""
    call = await services.call_notes.summary(call_id)
    if call is None or call.start_event is None or not call.parent_ts:
        return None
    start = CallEvent.model_validate(call.start_event)
    return messages.CallCard.of(call, await names_for(services, start))


async def drawn(services: Services, channel_id: str, ts: str, call_id: str | None) -> messages.Message | None:
    """The message at ``ts`` as the store has it: a roll-up (``call_id`` None, or a line of
    one), else ``call_id``'s parent. None when there is nothing to show there."""
    if call_id is not None:
        where = await services.outbox.call(call_id) if services.outbox is not None else None
        if where is None or not where.rollup:
            card = await card_for(services, call_id)
            return messages.call_parent(card) if card is not None else None
    cards = await rollup_cards(services, channel_id, ts)
    return messages.rollup(cards) if cards else None


async def redraw(services: Services, channel_id: str, ts: str, *, call_id: str | None = None,
                 begun: int | None = None, passes: int = 5) -> bool:
    """Show the message at ``ts`` (a roll-up, or ``call_id``'s parent) as the store has it,
    in the workspace's edit budget. False when there is nothing to show there.

    Editors of one message race (lanes, replicas, the redraw of a spent budget, a click) and
    Slack keeps the edit that lands last, perhaps the one drawn first. So each draw begins a
    new version of the message in the store, and an editor that finds a version begun after
    its own draws again: the last edit always carries the store's latest state. ``begun``:
    the version the caller's own edit was drawn at (then only a newer one is drawn)."""
    outbox = services.outbox
    version = begun
    for _ in range(passes):  # bounded: each pass follows another editor's draw
        if version is not None and (outbox is None or await outbox.draw_version(channel_id, ts) == version):
            return True
        version = await outbox.begin_draw(channel_id, ts) if outbox is not None else 0
        message = await drawn(services, channel_id, ts, call_id)
        if message is None:
            return False
        await slack_budget.take(services, "chat.update")
        await services.slack.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)
    return True


async def refresh_parent(services: Services, call_id: str) -> bool:
    """Show the call's parent (or its roll-up) as the store now has it (after a click: a
    name saved, a call-back taken). Through the bot's own client, not a relay lane, so
    that deliveries never wait for it. False when the call has no parent message (any
    more), or Slack refused the edit."""
    call = await services.call_notes.summary(call_id)
    if call is None or not call.channel_id or not call.parent_ts:
        return False
    try:
        return await redraw(services, call.channel_id, call.parent_ts, call_id=call_id)
    except SlackApiError as exc:
        log.info("call.parent_refresh_failed", call_id=call_id, error=exc.response.get("error"))
        return False
