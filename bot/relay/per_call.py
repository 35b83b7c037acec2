"""Per-call messages: a call's parent post when it starts, the reply in its thread and the
parent edited when it ends, a CallEnd on its own when its start never came."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import replace

import structlog
from slack_sdk.errors import SlackApiError

from bot.relay import messages
from bot.relay.call_log import CallLogWatch, CallTiming, end_reply, timing
from bot.relay.cards import card_for, names_for
from bot.relay.events import CallEvent
from bot.relay.pacing import Lane
from bot.relay.sender import Attempt, Sender
from bot.relay.slack_calls import error_code
from bot.store.directory import Names
from bot.store.outbox import Call, Delivery

log = structlog.get_logger(__name__)


class PerCall(Sender):
    """One message per call (its thread for the end), as long as the channel keeps up."""

    call_log: CallLogWatch

    def kick(self, channels: Iterable[str]) -> None:
        raise NotImplementedError

    def _delivered(self, d: Delivery) -> None:
        raise NotImplementedError

    def _lane(self, channel: str) -> Lane:
        raise NotImplementedError

    async def _deliver(self, lane: Lane, d: Delivery, posted: asyncio.Future[None] | None = None) -> None:
        raise NotImplementedError

    async def _redraw(self, lane: Lane, a: Attempt, ts: str, ended: dict[str, CallTiming], *,
                      rolled: bool, turn_taken: bool = False) -> int | None:
        raise NotImplementedError

    def _redraw_later(self, channel: str, ts: str, call_id: str | None) -> None:
        raise NotImplementedError

    async def _drawn_last(self, channel: str, ts: str, version: int | None, call_id: str | None) -> None:
        """After an edit drawn at ``version`` (and what it showed recorded): another editor
        that began a draw since may have had its edit land first, or overwritten this one
        with what it read before the record; then the message is drawn again from the
        store, when the workspace's edit budget allows (bot/relay/cards.py: redraw)."""
        if version is not None and await self.outbox.draw_version(channel, ts) != version:
            self._redraw_later(channel, ts, call_id)

    async def _start(self, lane: Lane, a: Attempt, known: Call | None, names: Names,
                     posted: asyncio.Future[None] | None) -> None:
        """``known``: the call as it stood when the delivery was claimed."""
        d, event = a.delivery, a.delivery.event
        ended = known is not None and known.state == "ended"
        card = messages.CallCard(d.call_id, event, d.received_at, "ended" if ended else "ringing", names=names)
        ts = await self._post_once(lane, a, messages.call_parent(card))
        if ts is None:
            return
        if posted is not None and not posted.done():
            posted.set_result(None)
        call, released = await self.outbox.started(d, lane.channel, ts, time.time())
        self._delivered(d)
        self.kick(released)  # its CallEnd, if waiting (perhaps in another lane), may go now
        if not ended and call.state == "ended":
            # A CallEnd given up waiting was delivered on its own meanwhile: this parent
            # shows the call ended too. (Of the two, the one that commits last sees the other.)
            await self._settle_race(lane, d, call)

    async def _end(self, lane: Lane, a: Attempt) -> None:
        d, event = a.delivery, a.delivery.event
        call = await self.outbox.call(d.call_id)
        if call is None or not call.parent_ts or call.start_event is None:
            await self._orphan_end(lane, a)
            return
        timing = await self._timing(d, call)
        if call.rollup:  # a line of a roll-up: the line carries the outcome, no thread reply
            if timing.known:
                await self.services.call_notes.record_outcome(d.call_id, timing.outcome)
            version = await self._redraw(lane, a, call.parent_ts, {d.call_id: timing}, rolled=True)
            await self.outbox.ended(d, lane.channel, call.parent_ts, time.time())
            self._delivered(d)
            await self._drawn_last(lane.channel, call.parent_ts, version, None)
            if not timing.known:
                self.call_log.watch(d.call_id, d.received_at, None)
            return
        reply_ts = d.posted_ts
        if reply_ts is None and a.uncertain:
            # In the thread, or on its own: an earlier attempt may have posted it alone.
            reply_ts = (await self._find_reply(lane.channel, call.parent_ts, event.key)
                        or await self._find(a, lane.channel, event.key, d.received_at))
            if reply_ts is not None:
                await self.outbox.record_reply(d, reply_ts)
            elif a.uncertain:
                await self._retry(a, "could not finish looking for an earlier post", uncertain=True)
                return
        if reply_ts is None:
            start = CallEvent.model_validate(call.start_event)
            reply = end_reply(timing, start, await names_for(self.services, start))
            answer = await self._write(lane, a, "chat_postMessage", thread_ts=call.parent_ts, text=reply.text,
                                       blocks=reply.blocks, metadata=messages.metadata(event))
            reply_ts = str(answer["ts"])
            await self.outbox.record_reply(d, reply_ts)
        if timing.known:  # else the outcome stays unknown: never recorded as answered
            await self.services.call_notes.record_outcome(d.call_id, timing.outcome)
        version = await self._show_ended(lane, a, call, timing.seconds)
        await self.outbox.ended(d, lane.channel, reply_ts, time.time())
        self._delivered(d)
        await self._drawn_last(str(call.channel_id or lane.channel), call.parent_ts, version, call.call_id)
        if not timing.known:
            self.call_log.watch(d.call_id, d.received_at, reply_ts)

    async def _orphan_end(self, lane: Lane, a: Attempt) -> None:
        d, event = a.delivery, a.delivery.event
        names = await self.services.directory.names(service_ids=[event.service_id] if event.service_id else [])
        ts = await self._post_once(lane, a, messages.orphan_end(event, d.received_at, names))
        if ts is None:
            return
        call = await self.outbox.ended(d, lane.channel, ts, time.time())
        self._delivered(d)
        if call.parent_ts and call.start_event is not None:  # its CallStart was posted meanwhile
            await self._settle_race(lane, d, call)

    async def _post_once(self, lane: Lane, a: Attempt, message: messages.Message) -> str | None:
        """The ts of the event's top-level message: found where an earlier attempt posted
        it, else posted now. None when the look could not finish (retried later)."""
        d = a.delivery
        ts = await self._find(a, lane.channel, d.key, d.received_at)
        if ts is not None:
            return ts
        if a.uncertain:
            await self._retry(a, "could not finish looking for an earlier post", uncertain=True)
            return None
        answer = await self._write(lane, a, "chat_postMessage", text=message.text, blocks=message.blocks,
                                   metadata=messages.metadata(d.event))
        return str(answer["ts"])

    async def _settle_race(self, lane: Lane, d: Delivery, call: Call) -> None:
        """After a delivery is recorded: show the parent ended, the call's other event having
        been delivered alongside, each unaware of the other. Best effort: the event is
        delivered already."""
        try:
            version = await self._show_ended(lane, Attempt(d, math.inf, uncertain=False), call)
            assert call.parent_ts is not None
            await self._drawn_last(str(call.channel_id or lane.channel), call.parent_ts, version, call.call_id)
        except Exception as exc:
            log.warning("relay.parent_update_failed", error=type(exc).__name__)

    async def _show_ended(self, lane: Lane, a: Attempt, call: Call,
                          measured: float | None = None) -> int | None:
        """Edit the call's parent message to show the call ended (missed, or its duration),
        with the start time it showed from the first. The draw's version (None: not drawn)."""
        assert call.parent_ts is not None and call.start_event is not None
        version = await self.outbox.begin_draw(str(call.channel_id or lane.channel), call.parent_ts)
        card = await card_for(self.services, call.call_id)
        if card is None:
            return None
        if card.state == "ringing":  # recorded as ended by this delivery, read before it committed
            card = replace(card, state="ended", seconds=card.seconds if card.seconds is not None else measured)
        parent = messages.call_parent(card)
        if call.channel_id and call.channel_id != lane.channel:
            lane = self._lane(call.channel_id)
        try:
            await self._write(lane, a, "chat_update", ts=call.parent_ts, text=parent.text, blocks=parent.blocks)
        except SlackApiError as exc:
            if error_code(exc) != "message_not_found":  # the parent was deleted: fine
                raise
            return None
        return version

    async def _timing(self, d: Delivery, call: Call) -> CallTiming:
        """CINNOX's call log when it has the call (its duration and end, whether anybody
        answered, who hung up and why), else the time between the two events with the
        outcome unknown (the duration unknown too when the CallEnd came first)."""
        measured = CallTiming(None, d.received_at)
        if call.started_at is not None and d.received_at >= call.started_at:
            measured = CallTiming(d.received_at - call.started_at, d.received_at)
        return await timing(self.services, d.call_id, measured)
