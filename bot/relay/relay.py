"""Delivers the outbox to Slack: one lane per channel, paced to Slack's per-channel limit,
channels in parallel, the two events of a call in order.

Why the relay retries itself instead of using slack-sdk's retry handlers for its writes:
a 5xx or a dropped connection after ``chat.postMessage`` may mean the message *was*
posted, so a blind re-send could duplicate it. The row is kept as ``sending`` and the next
attempt first looks for the event's metadata in the channel. A 429 is unambiguous (nothing
was posted): the lane waits Retry-After and sends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_budget
from bot.relay import messages
from bot.relay.call_log import CallLogWatch, CallTiming, end_reply, timing
from bot.relay.cards import card_for, names_for
from bot.relay.events import CALL_END, CALL_START, CallEvent
from bot.relay.ingest import Ingest
from bot.relay.nowhere import FIX, NO_CHANNEL, PROBLEM, nowhere_to_post
from bot.services import Services
from bot.store.directory import Names
from bot.store.outbox import OPEN, Call, Delivery, LeaseLost, Outbox

log = structlog.get_logger(__name__)

#: Slack errors that retrying cannot fix: recorded, shown in status, not retried. From the
#: error lists of chat.postMessage and chat.update (docs.slack.dev/reference/methods/…).
PERMANENT = frozenset({
    # the channel, the thread or the message
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "restricted_action_thread_locked",
    "cannot_reply_to_message", "thread_not_found", "cant_update_message", "edit_window_closed",
    "duplicate_channel_not_found", "duplicate_message_not_found", "messages_tab_disabled",
    # what was sent
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long",
    "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "metadata_must_be_sent_from_app", "too_many_attachments", "attachment_payload_limit_exceeded",
    "as_user_not_supported", "invalid_arguments", "invalid_arg_name", "invalid_array_arg",
    "invalid_charset", "invalid_form_data", "invalid_post_type", "missing_post_type",
    # the token and the workspace
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "not_allowed_token_type", "no_permission", "ekm_access_denied",
    "team_access_not_granted", "access_denied", "org_login_required", "enterprise_is_restricted",
    "two_factor_setup_required", "is_inactive",
})
#: Slack's answers that it failed inside: the request may or may not have taken effect.
TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
#: Delivered events are kept this long (for duplicates CINNOX might still send), then pruned.
KEEP_DELIVERED = 7 * 86400.0
PRUNE_EVERY = 3600.0
#: Unknown error codes (and the relay's own failures) are retried this many times before
#: the row is given up.
UNKNOWN_ERROR_ATTEMPTS = 5
#: Seconds one Slack call may take. slack-sdk ignores its own ``timeout`` when given a
#: session, so the session carries it.
SLACK_TIMEOUT = 10.0
#: Seconds a claimed delivery stays claimed without renewal. The replica working on it
#: renews it every third of that (and before each Slack write), so a dead replica's
#: deliveries are taken over within one lease, while a live one keeps them however long
#: Slack makes it wait.
LEASE = 5.0
#: A lane busy with a batch of rows reads again this often when new work came in
#: meanwhile, so a dead replica's deliveries (older rows) are not left behind a long batch.
REREAD_AFTER = 0.5


def relay_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT))


def relay_client(token: str, base_url: str, session: aiohttp.ClientSession) -> AsyncWebClient:
    # No retry handlers: see the module docstring. (The default would re-send on a dropped
    # connection.) One session, so connections to Slack are kept alive between messages.
    return AsyncWebClient(token=token, base_url=base_url, timeout=int(SLACK_TIMEOUT), retry_handlers=[],
                          session=session)


@dataclass
class Attempt:
    """One claimed delivery while it is being worked on."""

    delivery: Delivery  # as claimed: its ``attempts`` fences every write
    lease_until: float  # as this replica last wrote it
    #: a post may be in the channel (an earlier attempt's, or one this attempt sent that
    #: Slack did not confirm): look before posting again. Cleared once a look found nothing.
    uncertain: bool
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one renewal at a time
    finished: bool = False  # its lease needs no more renewing


class SlackClock:
    """When Slack took a message, on this process's clock: a posted message's ``ts`` is
    Slack's time of taking it. This process's clock is Slack's plus an offset that is at
    most (the answer's arrival - ts) for every post: the least of those is kept, let up as
    time passes faster than clocks drift apart (NTP slews a clock by at most 0.5 ms/s)."""

    DRIFT = 0.001  # seconds per second the bound is let up

    def __init__(self) -> None:
        self.offset = math.inf  # local - Slack, at most this
        self._since = 0.0  # when ``offset`` was last set

    def taken_at(self, ts: str | None, answered: float) -> float:
        """The latest moment (local, monotonic) at which Slack can have taken the message."""
        try:
            slack_time = float(ts or "")
        except ValueError:
            return answered
        relaxed = self.offset + (answered - self._since) * self.DRIFT
        self.offset, self._since = min(relaxed, answered - slack_time), answered
        return slack_time + self.offset

    def forget(self) -> None:
        """Slack refused a post as too early: learn the offset again."""
        self.offset = math.inf


class Lane:
    """One channel's deliveries, one at a time, paced to ``rate`` messages per second."""

    def __init__(self, channel: str, rate: float) -> None:
        self.channel = channel
        self.interval = 1.0 / rate
        self.dirty = False  # kicked while looking for work: look again
        self.task: asyncio.Task[None] | None = None
        self._next_at = 0.0
        self._paused_until = 0.0

    async def pace(self, paced: bool = True) -> None:
        """Wait for this channel's next slot (``paced``) or only for a Retry-After pause."""
        wait = (self._next_at if paced else self._paused_until) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def sent(self, paced: bool = True, *, started: float = 0.0, taken_at: float | None = None) -> None:
        """Slack counts the interval from when it took the previous message: ``taken_at``
        when its ``ts`` told (never before the request was sent), else as late as its answer.
        Counting from the request instead would risk a 429, and a whole second of
        Retry-After, on every bit of jitter; counting from the answer loses its way back."""
        if paced:
            self._next_at = max(started, taken_at if taken_at is not None else time.monotonic()) + self.interval

    def pause(self, seconds: float) -> None:
        self._paused_until = time.monotonic() + seconds
        self._next_at = max(self._next_at, self._paused_until)


class Relay:
    def __init__(
        self,
        services: Services,
        outbox: Outbox,
        *,
        channel_rate: float = 1.0,
        grace: float = 30.0,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        lease: float = LEASE,
        poll: float = 5.0,
    ) -> None:
        settings = services.settings
        assert settings.slack_bot_token is not None
        self.services = services
        self.outbox = outbox
        self.ingest = Ingest(outbox, route=self.channel_for, on_stored=self.kick)
        self._token = settings.slack_bot_token.get_secret_value()
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self.channel_rate = channel_rate
        self.grace = grace
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.lease = lease
        self.poll = poll
        self.routes: dict[str, str] = {}
        self._routes_changed = 0  # this replica's route changes so far
        self._lanes: dict[str, Lane] = {}
        self._slack_clock = SlackClock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_prune = 0.0
        #: called (without waiting) when a call starts or ends in Slack: the App Home follows
        self.on_call_change: Callable[[], None] | None = None
        self.call_log = CallLogWatch(services, settings.call_log_recheck_seconds, on_change=self._call_changed)

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.services.store.is_sqlite:
            await self.outbox.expire_leases()
        self.routes = await self.outbox.routes()
        if nowhere_to_post(self.services.settings.call_events_channel, self.routes):
            log.warning("relay.nowhere_to_post", problem=PROBLEM, fix=FIX)
        self._session = relay_session()
        self._client = relay_client(self._token, self.services.settings.slack_api_url, self._session)
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="relay")
        try:
            await self.call_log.resume()
        except Exception as exc:  # the calls of before the restart stay unknown: no reason not to start
            log.warning("relay.call_log_resume_failed", error=type(exc).__name__)

    async def stop(self, wait: float = 5.0) -> None:
        """Finish the message being sent in each channel (bounded); the rest stays stored."""
        await self.ingest.close()
        self._stopping = True
        await self.call_log.stop()
        self._wake.set()
        if self._task is not None:
            await self._task
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=wait)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # --- routing -----------------------------------------------------------------------------

    def channel_for(self, event: CallEvent) -> str | None:
        """Decided when the event is stored: the service's route, else CALL_EVENTS_CHANNEL."""
        routed = self.routes.get(event.service_id) if event.service_id is not None else None
        return routed or self.services.settings.call_events_channel

    async def set_route(self, service_id: str, channel: str, user_id: str) -> None:
        await self.outbox.set_route(service_id, channel, user_id)
        self.routes[service_id] = channel
        self._routes_changed += 1

    async def remove_route(self, service_id: str) -> bool:
        self.routes.pop(service_id, None)
        removed = await self.outbox.remove_route(service_id)
        self.routes.pop(service_id, None)  # a read of the store may have brought it back meanwhile
        self._routes_changed += 1
        return removed

    async def _reread_routes(self) -> None:
        """The routing as stored (another replica may have changed it), unless this one
        changed it while the store was read: that read may predate the change."""
        changed = self._routes_changed
        routes = await self.outbox.routes()
        if changed == self._routes_changed:
            self.routes = routes

    async def retry(self, d: Delivery) -> bool:
        """Deliver a given-up event again, where its service is routed now."""
        channel = self.channel_for(d.event)
        if not await self.outbox.retry_given_up(d.id, channel):
            return False
        if channel:
            self.kick([channel])
        return True

    # --- scheduling --------------------------------------------------------------------------

    def kick(self, channels: Iterable[str]) -> None:
        """New work for these channels: start their lanes (a running lane looks again)."""
        for channel in channels:
            lane = self._lane(channel)
            lane.dirty = True
            if (lane.task is None or lane.task.done()) and not self._stopping:
                lane.task = asyncio.get_running_loop().create_task(  # serves many requests: none's context
                    self._drain(lane), name=f"lane:{channel}", context=contextvars.Context())

    async def _watch(self) -> None:
        """Finds work nobody kicked: rows left by a restart, retries and grace periods that
        come due, routes changed by another replica."""
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self._sweep()
            except Exception:  # the store being briefly unreachable must not end the relay
                log.exception("relay.sweep_failed")
                wait = self.poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _sweep(self) -> float:
        now = time.time()
        outbox = self.outbox
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            pruned = await outbox.prune(now - KEEP_DELIVERED)
            if pruned:
                log.info("relay.pruned", events=pruned)
        await self._reread_routes()
        self.services.metrics.outbox_depth.set(await outbox.depth())
        unrouted = await outbox.fail_unrouted(NO_CHANNEL, ends_received_before=now - self.grace)
        if unrouted:
            self.services.metrics.delivery_failures.labels("no_channel").inc(unrouted)
            log.warning("relay.no_channel", events=unrouted)
        self.kick(await outbox.due_channels(now))
        next_due = await outbox.next_due_after(now)
        wake_at = min(now + self.poll, next_due if next_due is not None else math.inf)
        return max(0.0, wake_at - time.time())

    async def _drain(self, lane: Lane) -> None:
        """The lane's due rows in order. Once a CallStart is in the channel, the next row is
        taken on while the post is being recorded (the two writes share a commit); at most
        one delivery is being recorded so, and a CallEnd waits for it (it may be its call's)."""
        recording: asyncio.Task[bool] | None = None
        task: asyncio.Task[bool] | None = None
        try:
            while not self._stopping:
                if recording is not None:
                    finished, recording = recording, None
                    if not await finished:
                        return
                lane.dirty = False
                try:
                    rows = await self.outbox.due_for(lane.channel, time.time())
                except Exception:  # the store is unreachable: the sweep kicks this lane again
                    log.exception("relay.lane_read_failed", channel=lane.channel)
                    return
                if not rows:
                    if lane.dirty:
                        continue
                    return
                read_at = time.monotonic()
                for d in rows:
                    if self._stopping:
                        return
                    if lane.dirty and time.monotonic() - read_at > REREAD_AFTER:
                        break
                    if recording is not None and d.kind == CALL_END:
                        finished, recording = recording, None
                        if not await finished:
                            return
                    posted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    task = asyncio.get_running_loop().create_task(self._deliver_in_lane(lane, d, posted),
                                                                  name=f"deliver:{d.key}")
                    either: list[asyncio.Future[Any]] = [task, posted]
                    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                    posted.cancel()
                    if recording is not None:
                        finished, recording = recording, None
                        if not await finished:
                            return
                    if not task.done():
                        recording = task
                    elif not task.result():
                        return
        except asyncio.CancelledError:  # the relay is stopping and its wait ran out
            await _cancel(task, recording)
            raise
        finally:
            if recording is not None and not recording.done():
                try:
                    await recording
                except asyncio.CancelledError:
                    await _cancel(recording)
                    raise

    async def _deliver_in_lane(self, lane: Lane, d: Delivery, posted: asyncio.Future[None]) -> bool:
        """Deliver one row; False when the store failed (the lane stops: the sweep or the
        row's lease brings the row back)."""
        with structlog.contextvars.bound_contextvars(call_id=d.call_id, event=d.kind, channel=lane.channel):
            try:
                await self._deliver(lane, d, posted)
            except LeaseLost:
                log.warning("relay.lease_lost")  # another replica has it now
            except Exception:
                # The store failed (reading before the claim, or recording an
                # outcome): the row comes due again, by the sweep or its lease.
                log.exception("relay.delivery_store_failed")
                return False
        return True

    # --- delivery ------------------------------------------------------------------------------

    async def _deliver(self, lane: Lane, d: Delivery, posted: asyncio.Future[None] | None = None) -> None:
        """``posted`` is set once a CallStart is in the channel, before it is recorded."""
        if d.kind == CALL_END and not await self._end_may_go(lane, d):
            return
        lease_until = time.time() + self.lease
        names: asyncio.Task[Names] | None = None
        if d.kind == CALL_START:  # looked up while the row is claimed: one wait for both
            names = asyncio.get_running_loop().create_task(names_for(self.services, d.event))
            names.add_done_callback(_retrieved)
        taken = None
        try:
            taken = await self.outbox.claim_with_call(d, lease_until, with_call=d.kind == CALL_START)
        finally:
            if taken is None and names is not None:
                names.cancel()
        if taken is None:
            return  # another replica took it
        claimed, call = taken
        attempt = Attempt(claimed, lease_until, uncertain=d.state == "sending")
        keeper = asyncio.get_running_loop().create_task(self._keep_leased(attempt), name=f"lease:{d.key}")
        try:
            if names is not None:
                await self._start(lane, attempt, call, await names, posted)
            else:
                await self._end(lane, attempt)
        except SlackApiError as exc:
            await self._slack_failed(attempt, exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.services.metrics.delivery_failures.labels("connection").inc()
            await self._retry(attempt, f"Slack unreachable ({type(exc).__name__})", uncertain=True)
        except (LeaseLost, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("relay.delivery_crashed")
            self.services.metrics.delivery_failures.labels("internal").inc()
            # Given up only when nothing can have been posted: a failure after the post
            # (the store, say) is retried until the post is recorded.
            if claimed.attempts >= UNKNOWN_ERROR_ATTEMPTS and not attempt.uncertain:
                await self.outbox.fail(claimed, "internal error")
            else:
                await self._retry(attempt, "internal error", uncertain=True)
        finally:
            attempt.finished = True  # the keeper stops at its next turn, or now when idle:
            if not attempt.renewing.locked():  # never cut in the middle of its transaction
                keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)  # it does not outlive the delivery

    async def _end_may_go(self, lane: Lane, d: Delivery) -> bool:
        """A call's CallEnd goes after its CallStart, in the parent's channel; without a
        CallStart it waits the grace period, then goes on its own."""
        start = await self.outbox.start_state(d.call_id)
        if start in OPEN:  # delivering the CallStart makes this row due again
            await self.outbox.postpone(d, time.time() + self.lease)
            return False
        call = await self.outbox.call(d.call_id) if start is not None else None
        if call is not None and call.parent_ts and call.channel_id and call.channel_id != lane.channel:
            await self.outbox.postpone(d, 0.0, channel_id=call.channel_id)  # re-routed mid-call
            self.kick([call.channel_id])
            return False
        if start is None and time.time() < d.received_at + self.grace:
            await self.outbox.postpone(d, d.received_at + self.grace)
            self._wake.set()  # the sweep wakes up when the grace period ends
            return False
        return True

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
        await self._show_ended(lane, a, call, timing.seconds)
        await self.outbox.ended(d, lane.channel, reply_ts, time.time())
        self._delivered(d)
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
            await self._show_ended(lane, Attempt(d, math.inf, uncertain=False), call)
        except Exception as exc:
            log.warning("relay.parent_update_failed", error=type(exc).__name__)

    async def _show_ended(self, lane: Lane, a: Attempt, call: Call, measured: float | None = None) -> None:
        """Edit the call's parent message to show the call ended (missed, or its duration),
        with the start time it showed from the first."""
        assert call.parent_ts is not None and call.start_event is not None
        card = await card_for(self.services, call.call_id)
        if card is None:
            return
        if card.state == "ringing":  # recorded as ended by this delivery, read before it committed
            card = replace(card, state="ended", seconds=card.seconds if card.seconds is not None else measured)
        parent = messages.call_parent(card)
        if call.channel_id and call.channel_id != lane.channel:
            lane = self._lane(call.channel_id)
        try:
            await self._write(lane, a, "chat_update", ts=call.parent_ts, text=parent.text, blocks=parent.blocks)
        except SlackApiError as exc:
            if _error_code(exc) != "message_not_found":  # the parent was deleted: fine
                raise

    async def _timing(self, d: Delivery, call: Call) -> CallTiming:
        """CINNOX's call log when it has the call (its duration and end, whether anybody
        answered, who hung up and why), else the time between the two events with the
        outcome unknown (the duration unknown too when the CallEnd came first)."""
        measured = CallTiming(None, d.received_at)
        if call.started_at is not None and d.received_at >= call.started_at:
            measured = CallTiming(d.received_at - call.started_at, d.received_at)
        return await timing(self.services, d.call_id, measured)

    def _call_changed(self) -> None:
        if self.on_call_change is not None:
            self.on_call_change()

    def _delivered(self, d: Delivery) -> None:
        latency = time.time() - d.received_at
        self.services.metrics.delivery_latency.observe(latency)
        log.info("relay.delivered", latency_ms=round(latency * 1000, 1))
        if self.on_call_change is not None:
            self.on_call_change()

    def _lane(self, channel: str) -> Lane:
        lane = self._lanes.get(channel)
        if lane is None:
            lane = self._lanes[channel] = Lane(channel, self.channel_rate)
        return lane

    # --- Slack ---------------------------------------------------------------------------------

    async def _write(self, lane: Lane, a: Attempt, method: str, **kwargs: Any) -> Any:
        """One Slack write; waits out 429s (nothing was posted) and sends again. Posts are
        paced per channel; chat.update is limited per workspace, not per channel: it waits
        for its turn in the workspace's budget (``slack_budget``). The lease is renewed
        before each try, so a long wait never lets another replica take the delivery over
        while this one may still post."""
        paced = method == "chat_postMessage"
        while True:
            await lane.pace(paced)
            if method == "chat_update":  # the workspace's budget, shared with every replica
                await slack_budget.take(self.services, "chat.update")
            await self._hold(a)
            looked = a.uncertain
            a.uncertain = a.uncertain or paced  # once sent, a post may be in the channel
            started = time.monotonic()
            try:
                answer = await getattr(self._client, method)(channel=lane.channel, **kwargs)
            except SlackApiError as exc:
                if not _may_have_acted(exc):
                    a.uncertain = looked
                lane.sent(paced, started=started)
                if exc.response.status_code != 429 or self._stopping:
                    raise
                if paced:
                    self._slack_clock.forget()
                retry_after = _retry_after(exc.response.headers)
                self.services.metrics.delivery_failures.labels("ratelimited").inc()
                log.info("relay.rate_limited", method=method, retry_after=retry_after)
                lane.pause(retry_after)
                continue
            if paced:
                ts = answer.get("ts")
                lane.sent(started=started, taken_at=self._slack_clock.taken_at(
                    ts if isinstance(ts, str) else None, time.monotonic()))
            return answer

    async def _hold(self, a: Attempt) -> None:
        """Before a write: a lease with at least two thirds of it left, so that the write
        lands well before another replica could take the delivery over, even if this one
        cannot renew it meanwhile."""
        if a.lease_until - time.time() < self.lease * 2 / 3:
            await self._renew(a)

    async def _renew(self, a: Attempt) -> None:
        async with a.renewing:
            lease_until = time.time() + self.lease
            await self.outbox.renew(a.delivery, a.lease_until, lease_until)
            a.lease_until = lease_until

    async def _keep_leased(self, a: Attempt) -> None:
        """While the delivery is in hand (Slack slow, a 429 waited out, a channel searched),
        renew its lease every third of it. Ends when the delivery is no longer ours."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if a.finished:
                return
            try:
                await self._renew(a)
            except LeaseLost:
                return  # recorded meanwhile, or taken over: the next fenced write will say
            except Exception as exc:  # the store unreachable: the lease may run out
                log.warning("relay.lease_not_renewed", error=type(exc).__name__)
            if a.finished:  # the delivery ended while this renewed: it is waiting for this
                return

    async def _find(self, a: Attempt, channel: str, event_id: str, received_at: float) -> str | None:
        """When an earlier attempt may have posted the event: the ts of the top-level
        message carrying ``event_id`` in its metadata, if any. Until this has looked
        through the channel the attempt stays uncertain, whatever fails on the way."""
        if not a.uncertain:
            return None
        cursor = None
        for _ in range(10):
            page = await self.services.slack.conversations_history(
                channel=channel, oldest=f"{received_at - 300:.6f}", include_all_metadata=True,
                limit=200, cursor=cursor)
            found = _with_event(page.get("messages") or [], event_id)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if found or not cursor:
                a.uncertain = found is not None
                return found
        return None

    async def _find_reply(self, channel: str, parent_ts: str, event_id: str) -> str | None:
        page = await self.services.slack.conversations_replies(
            channel=channel, ts=parent_ts, include_all_metadata=True, limit=200)
        return _with_event((page.get("messages") or [])[1:], event_id)

    async def _slack_failed(self, a: Attempt, exc: SlackApiError) -> None:
        error, status = _error_code(exc), exc.response.status_code
        self.services.metrics.delivery_failures.labels(error).inc()
        # 5xx, Slack's own internal errors and 429 (only seen here when stopping) are Slack's
        # trouble: retried as long as it takes. An error code we do not know is retried a
        # few times, then given up.
        transient = status >= 500 or status == 429 or error in TRANSIENT
        if error in PERMANENT or (not transient and a.delivery.attempts >= UNKNOWN_ERROR_ATTEMPTS):
            log.warning("relay.gave_up", error=error)
            await self.outbox.fail(a.delivery, error)
            return
        log.info("relay.will_retry", error=error)
        await self._retry(a, error, uncertain=_may_have_acted(exc))

    async def _retry(self, a: Attempt, error: str, *, uncertain: bool) -> None:
        """Try again after a backoff. The next attempt looks for the message first when this
        one may have posted it, or when an earlier one may have and this one could not look."""
        attempts = a.delivery.attempts
        backoff = min(self.retry_cap, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        await self.outbox.retry_later(a.delivery, time.time() + backoff, error,
                                      uncertain=uncertain or a.uncertain)
        self._wake.set()  # the sweep learns of the earlier due time


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A look-up nobody may wait for: its failure is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def _may_have_acted(exc: SlackApiError) -> bool:
    """A 5xx, or Slack saying it failed inside: the message may be in the channel."""
    return exc.response.status_code >= 500 or _error_code(exc) in TRANSIENT


def _error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer was not Slack's JSON."""
    data = exc.response.data
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"HTTP {exc.response.status_code}")


def _with_event(found: list[dict[str, Any]], event_id: str) -> str | None:
    return next((str(m["ts"]) for m in found if messages.event_id_of(m) == event_id), None)


def _retry_after(headers: Any) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(raw))
    return 1.0


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel these tasks and wait for them to end (a delivery's own keeper included), so
    that none outlives the relay and writes to a closed session or store."""
    running = [t for t in tasks if t is not None and not t.done()]
    for t in running:
        t.cancel()
    await asyncio.gather(*running, return_exceptions=True)
