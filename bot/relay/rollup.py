"""Roll-ups: a busy channel's calls, one message per short window, one line per call,
edited as the calls end.

The calls of a roll-up are claimed together (one transaction, each row leased and fenced
as a per-call delivery is), posted as one message whose metadata names every CallStart in
it, and recorded together. A replica that died after the post leaves the rows ``sending``:
the next claim looks for their keys in the channel first, so a call is never posted twice.
Ends are shown by editing the message that shows the call (a roll-up line, or the parent
of a call shown on its own before the channel got busy): one edit for all the calls of a
message that ended meanwhile, then recorded together. No thread reply is posted in this
mode: the line carries the outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from bot import slack_budget
from bot.relay import messages
from bot.relay.call_log import CallTiming
from bot.relay.cards import card_for, names_for, redraw, rollup_cards
from bot.relay.pacing import Lane
from bot.relay.per_call import PerCall
from bot.relay.sender import UNKNOWN_ERROR_ATTEMPTS, Attempt
from bot.relay.slack_calls import error_code
from bot.store.outbox import OPEN, Call, Delivery, LeaseLost

log = structlog.get_logger(__name__)


#: Seconds a busy channel's ends may wait for an edit before they are said in the thread.
EDIT_WAIT = 1.0
#: A deferred edit failing (the store or Slack down) is tried this many times (its thread
#: says how its calls ended meanwhile).
REDRAW_TRIES = 8


class RollUps(PerCall):
    """A busy channel's deliveries, in batches."""

    _stale: dict[tuple[str, str, str | None], None]  # roll-ups to edit when the budget allows, oldest first
    _redrawing: asyncio.Task[None] | None

    async def _rollup_starts(self, lane: Lane, rows: Sequence[Delivery]) -> None:
        """Show these CallStarts (at most ``ROLLUP_CALLS``) in one roll-up."""
        lease_until = time.time() + self.lease
        claimed = await self.outbox.claim_many(rows, lease_until)
        if not claimed:
            return  # another replica has them
        was = {d.id: d.state for d in rows}
        a = Attempt(claimed[0], lease_until, uncertain=any(was[d.id] == "sending" for d in claimed),
                    batch=tuple(claimed[1:]))
        await self._in_hand(a, self._post_rollup(lane, a, claimed))

    async def _post_rollup(self, lane: Lane, a: Attempt, claimed: list[Delivery]) -> None:
        found: dict[str, tuple[str, bool]] = {}
        if a.uncertain:  # an earlier claim may have posted some of them
            looked = await self._find_many(lane.channel, [d.key for d in claimed],
                                           min(d.received_at for d in claimed))
            if looked is None:
                await self._retry_all(a, "could not finish looking for an earlier post", uncertain=True)
                return
            found = looked
            a.uncertain = False
        fresh = [d for d in claimed if d.key not in found]
        shown = [(d, *found[d.key]) for d in claimed if d.key in found]
        ts = None
        if fresh:
            names = await names_for(self.services, *(d.event for d in fresh))
            cards = [messages.CallCard(d.call_id, d.event, d.received_at, names=names) for d in fresh]
            fits = messages.rollup_fits(cards)
            if fits < len(cards):  # the rest go in the next roll-up
                later = {d.id for d in fresh[fits:]}
                await self.outbox.release([d for d in claimed if d.id in later])
                claimed = [d for d in claimed if d.id not in later]
                a.delivery, a.batch = claimed[0], tuple(claimed[1:])
                fresh, cards = fresh[:fits], cards[:fits]
            message = messages.rollup(cards)
            answer = await self._write(lane, a, "chat_postMessage", text=message.text, blocks=message.blocks,
                                       metadata=messages.rollup_metadata([d.key for d in fresh]))
            ts = str(answer["ts"])
            shown += [(d, ts, True) for d in fresh]
        calls, released = await self.outbox.started_many(shown, lane.channel, time.time())
        for d in claimed:
            self._delivered(d)
        self.kick(released)
        if ts is not None and any(c.state == "ended" for c in calls):
            # A CallEnd given up waiting was delivered on its own meanwhile: its line shows it.
            await self._best_effort(self._redraw_current(lane, a, ts))

    async def _redraw_current(self, lane: Lane, a: Attempt, ts: str) -> None:
        await self._drawn_last(lane.channel, ts, await self._redraw(lane, a, ts, {}, rolled=True), None)

    async def _rollup_ends(self, lane: Lane, rows: Sequence[Delivery]) -> bool:
        """Show these CallEnds on their calls' lines or parents: one edit per message. Ends
        that cannot go this way (their CallStart not shown yet, not received, elsewhere)
        take the per-call path. False when the store failed."""
        try:
            states = await self.outbox.start_states([d.call_id for d in rows])
            calls = await self.outbox.calls_of([d.call_id for d in rows])
            ready, alone = [], []
            for d in rows:
                call = calls.get(d.call_id)
                if states.get(d.call_id) in OPEN:
                    await self.outbox.postpone(d, time.time() + self.lease)  # its start releases it
                elif call is not None and call.parent_ts and call.channel_id == lane.channel \
                        and not d.posted_ts:  # (a reply posted already: the per-call path finishes it)
                    ready.append(d)
                else:
                    alone.append(d)
            for d in alone:
                await self._deliver(lane, d)
            if not ready:
                return True
            lease_until = time.time() + self.lease
            claimed = await self.outbox.claim_many(ready, lease_until)
            if claimed:
                was = {d.id: d.state for d in ready}  # "sending": an earlier claim may have replied
                a = Attempt(claimed[0], lease_until, uncertain=any(was[d.id] == "sending" for d in claimed),
                            batch=tuple(claimed[1:]))
                await self._in_hand(a, self._show_ends(lane, a, claimed, calls))
        except LeaseLost:
            log.warning("relay.lease_lost")
        except Exception:
            log.exception("relay.delivery_store_failed")
            return False
        return True

    async def _show_ends(self, lane: Lane, a: Attempt, claimed: list[Delivery], calls: dict[str, Call]) -> None:
        timings = await asyncio.gather(*(self._timing(d, calls[d.call_id]) for d in claimed))
        for d, found in zip(claimed, timings, strict=True):
            if found.known:  # else the outcome stays unknown: never recorded as answered
                await self.services.call_notes.record_outcome(d.call_id, found.outcome)
        by_message: dict[tuple[str, bool], dict[str, CallTiming]] = {}
        for d, found in zip(claimed, timings, strict=True):
            call = calls[d.call_id]
            by_message.setdefault((str(call.parent_ts), call.rollup), {})[d.call_id] = found
        # Whether an earlier claim of these ends may have replied: as claimed. (The first
        # reply this attempt posts makes the attempt uncertain, but says nothing about the
        # other messages' threads: looking there cost a Tier 3 read per message, and with
        # 10 busy channels those reads alone went past Slack's limit.)
        earlier = a.uncertain
        shown_in: dict[str, str] = {}  # call -> the message showing it ended
        later: list[tuple[str, str | None]] = []  # messages to edit once the ends are recorded
        edited: list[tuple[str, int | None, str | None]] = []  # (ts, its draw's version, call)
        for (ts, rolled), ended in by_message.items():
            if not await slack_budget.take_within(self.services, "chat.update", EDIT_WAIT):
                # Slack's edits are spent for a while (busy channels share them): the ends
                # are said in the message's thread now, the message edited when a turn comes.
                rows = [d for d in claimed if d.call_id in ended]
                reply_ts = await self._reply_ends(lane, a, ts, ended, [d.key for d in rows], rolled=rolled,
                                                  earlier=earlier)
                later.append((ts, None if rolled else next(iter(ended))))
                shown_in.update(dict.fromkeys(ended, reply_ts))
            else:
                version = await self._redraw(lane, a, ts, ended, rolled=rolled, turn_taken=True)
                shown_in.update(dict.fromkeys(ended, ts))
                edited.append((ts, version, None if rolled else next(iter(ended))))
        await self.outbox.ended_many([(d, shown_in[d.call_id]) for d in claimed], lane.channel, time.time())
        for ts, call_id in later:
            self._redraw_later(lane.channel, ts, call_id)
        for ts, version, call_id in edited:
            await self._drawn_last(lane.channel, ts, version, call_id)
        for d, found in zip(claimed, timings, strict=True):
            self._delivered(d)
            if not found.known:
                self.call_log.watch(d.call_id, d.received_at, None)

    async def _redraw(self, lane: Lane, a: Attempt, ts: str, ended: dict[str, CallTiming], *,
                      rolled: bool, turn_taken: bool = False) -> int | None:
        """Edit the message at ``ts`` (a roll-up, else a call's parent) as the store has it,
        with ``ended``'s calls shown ended (their ends are recorded after this edit, so that
        a crash between the two edits again). The draw's version (None: nothing drawn)."""
        version = await self.outbox.begin_draw(lane.channel, ts)
        if rolled:
            cards = await rollup_cards(self.services, lane.channel, ts)
        else:
            card = await card_for(self.services, next(iter(ended))) if ended else None
            cards = [card] if card is not None else []
        cards = [_ended(card, ended.get(card.call_id)) for card in cards]
        if not cards:
            return None
        message = messages.rollup(cards) if rolled else messages.call_parent(cards[0])
        try:
            await self._write(lane, a, "chat_update", turn_taken=turn_taken, ts=ts, text=message.text,
                              blocks=message.blocks)
        except SlackApiError as exc:
            if error_code(exc) != "message_not_found":  # the message was deleted: fine
                raise
            return None
        return version

    async def _reply_ends(self, lane: Lane, a: Attempt, ts: str, ended: dict[str, CallTiming],
                          keys: list[str], *, rolled: bool, earlier: bool) -> str:
        """The roll-up's thread reply saying which of its calls ended (found where an
        earlier claim posted it, else posted now). ``earlier``: an earlier claim may have."""
        if earlier:
            page = await self.services.slack.conversations_replies(
                channel=lane.channel, ts=ts, include_all_metadata=True, limit=200)
            for m in (page.get("messages") or [])[1:]:
                if set(messages.event_ids_in(m)) & set(keys):
                    return str(m["ts"])
        shown = (await rollup_cards(self.services, lane.channel, ts) if rolled
                 else [c for c in [await card_for(self.services, next(iter(ended)))] if c is not None])
        cards = [_ended(c, ended[c.call_id]) for c in shown if c.call_id in ended]
        reply = messages.rollup_ends(cards)
        answer = await self._write(lane, a, "chat_postMessage", thread_ts=ts, text=reply.text,
                                   blocks=reply.blocks, metadata=messages.rollup_metadata(keys))
        return str(answer["ts"])

    def _redraw_later(self, channel: str, ts: str, call_id: str | None) -> None:
        """Edit the roll-up (or the call's parent) when the workspace's budget gives a turn:
        each once, as it then stands, however many of its calls ended meanwhile."""
        self._stale[(channel, ts, call_id)] = None
        if self._redrawing is None or self._redrawing.done():
            self._redrawing = asyncio.get_running_loop().create_task(self._redraw_stale(), name="rollup:redraw")

    async def _redraw_stale(self) -> None:
        tries: dict[tuple[str, str, str | None], int] = {}
        while self._stale and not self._stopping:
            channel, ts, call_id = key = next(iter(self._stale))
            del self._stale[key]
            try:
                await redraw(self.services, channel, ts, call_id=call_id)
            except Exception as exc:  # the store or Slack failing: tried again a few times
                tries[key] = tries.get(key, 0) + 1
                log.warning("relay.rollup_redraw_failed", error=type(exc).__name__, tries=tries[key])
                if tries[key] < REDRAW_TRIES:
                    self._stale[key] = None
                    await asyncio.sleep(min(30.0, 2.0 ** tries[key]))

    # --- a batch in hand ---------------------------------------------------------------------------

    async def _in_hand(self, a: Attempt, work: Any) -> None:
        """Run ``work`` with the batch's lease kept, its failures sorted as a delivery's are."""
        keeper = asyncio.get_running_loop().create_task(self._keep_leased(a), name=f"lease:{a.delivery.key}")
        try:
            await work
        except SlackApiError as exc:
            for d in (a.delivery, *a.batch):
                await self._slack_failed(replace(a, delivery=d, batch=()), exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.services.metrics.delivery_failures.labels("connection").inc()
            await self._retry_all(a, f"Slack unreachable ({type(exc).__name__})", uncertain=True)
        except (LeaseLost, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("relay.delivery_crashed")
            self.services.metrics.delivery_failures.labels("internal").inc()
            if a.delivery.attempts >= UNKNOWN_ERROR_ATTEMPTS and not a.uncertain:
                for d in (a.delivery, *a.batch):
                    await self.outbox.fail(d, "internal error")
            else:
                await self._retry_all(a, "internal error", uncertain=True)
        finally:
            a.finished = True
            if not a.renewing.locked():
                keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _retry_all(self, a: Attempt, error: str, *, uncertain: bool) -> None:
        for d in (a.delivery, *a.batch):
            await self._retry(replace(a, delivery=d, batch=()), error, uncertain=uncertain)

    async def _find_many(self, channel: str, keys: list[str],
                         since: float) -> dict[str, tuple[str, bool]] | None:
        """Where earlier attempts posted these CallStarts: key -> (ts, in a roll-up). None
        when the look could not finish."""
        wanted, found, cursor = set(keys), {}, None
        for _ in range(10):
            page = await self.services.slack.conversations_history(
                channel=channel, oldest=f"{since - 300:.6f}", include_all_metadata=True, limit=200,
                cursor=cursor)
            for m in page.get("messages") or []:
                ids = messages.event_ids_in(m)
                rolled = (m.get("metadata") or {}).get("event_type") == messages.ROLLUP_METADATA_TYPE
                found.update({key: (str(m["ts"]), rolled) for key in ids if key in wanted})
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found
        return None

    async def _best_effort(self, work: Any) -> None:
        try:
            await work
        except Exception as exc:
            log.warning("relay.parent_update_failed", error=type(exc).__name__)


def _ended(card: messages.CallCard, found: CallTiming | None) -> messages.CallCard:
    """The card as it will be once ``found`` (its end, just delivered) is recorded."""
    if found is None or card.state not in ("ringing", "ended"):
        return card
    if found.known:
        return replace(card, state="missed" if found.missed else "answered", seconds=found.seconds)
    return replace(card, state="ended", seconds=found.seconds if found.seconds is not None else card.seconds)
