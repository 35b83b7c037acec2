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


async def redraw_rollup(services: Services, channel_id: str, ts: str) -> None:
    """Edit a roll-up to show its calls as the store has them, in the workspace's budget."""
    cards = await rollup_cards(services, channel_id, ts)
    if cards:
        message = messages.rollup(cards)
        await slack_budget.take(services, "chat.update")
        await services.slack.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)


async def refresh_parent(services: Services, call_id: str) -> bool:
    """Show the call's parent as the store now has it (after a click: a name saved, a
    call-back taken). Through the bot's own client, not a relay lane, so that deliveries
    never wait for it. False when the call has no parent message (any more).

    The relay may record the call's end between this read and this update: the store is
    read again after each update and the parent redrawn while what it shows is stale, so
    the last write always carries the call's current state."""
    shown: tuple[str, str] | None = None
    for _ in range(5):  # bounded: each pass only follows a change the store recorded meanwhile
        call = await services.call_notes.summary(call_id)
        card = await card_for(services, call_id)
        if card is None or call is None or not call.channel_id or not call.parent_ts:
            return shown is not None
        where = await services.outbox.call(call_id) if services.outbox is not None else None
        if where is not None and where.rollup:  # a line of a roll-up: the roll-up is redrawn
            parent = messages.rollup(await rollup_cards(services, call.channel_id, call.parent_ts) or [card])
        else:
            parent = messages.call_parent(card)
        drawn = (parent.text, repr(parent.blocks))
        if drawn == shown:
            return True
        try:
            await slack_budget.take(services, "chat.update")
            await services.slack.chat_update(channel=call.channel_id, ts=call.parent_ts, text=parent.text,
                                             blocks=parent.blocks)
        except SlackApiError as exc:
            log.info("call.parent_refresh_failed", call_id=call_id, error=exc.response.get("error"))
            return False
        shown = drawn
    return True
