"""The relay's coordinator: one lane per channel, channels in parallel, the two events of a
call in order. It finds work (webhook kicks, a sweep for retries, grace periods and rows
left by a restart), claims each delivery with a lease and fences its writes; how a call is
shown is per_call's (and rollup's), how Slack is written to is sender's, the budgets pacing's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.relay import messages
from bot.relay.call_log import CallLogWatch
from bot.relay.cards import names_for
from bot.relay.events import CALL_END, CALL_START, CallEvent
from bot.relay.ingest import Ingest
from bot.relay.nowhere import FIX, NO_CHANNEL, PROBLEM, nowhere_to_post
from bot.relay.pacing import Lane, SlackClock
from bot.relay.planner import END_HOLD, Plan
from bot.relay.rollup import RollUps
from bot.relay.sender import UNKNOWN_ERROR_ATTEMPTS, Attempt
from bot.relay.slack_calls import PERMANENT, relay_client, relay_session
from bot.services import Services
from bot.store.directory import Names
from bot.store.outbox import OPEN, Delivery, LeaseLost, Outbox

__all__ = ["LEASE", "PERMANENT", "Relay"]

log = structlog.get_logger(__name__)

#: Delivered events are kept this long (for duplicates CINNOX might still send), then pruned.
KEEP_DELIVERED = 7 * 86400.0
PRUNE_EVERY = 3600.0
#: Seconds a claimed delivery stays claimed without renewal. The replica working on it
#: renews it every third of that (and before each Slack write), so a dead replica's
#: deliveries are taken over within one lease, while a live one keeps them however long
#: Slack makes it wait.
LEASE = 5.0
#: A lane busy with a batch of rows reads again this often when new work came in
#: meanwhile, so a dead replica's deliveries (older rows) are not left behind a long batch.
REREAD_AFTER = 0.5
#: A busy channel's lane looks at its rows again at least this often.
POLL_BUSY = 0.5


class Relay(RollUps):
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
        self._plans: dict[str, Plan] = {}
        self._stale: dict[tuple[str, str, str | None], None] = {}
        self._redrawing: asyncio.Task[None] | None = None
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
        tasks = [t for lane in self._lanes.values() for t in (lane.task, lane.ending) if t is not None]
        if self._redrawing is not None:
            tasks.append(self._redrawing)
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
                if self._plan(lane).choose(lane, rows):
                    wait = await self._busy_turn(lane, rows)
                    if wait is None:
                        return
                    if wait > 0:
                        await asyncio.sleep(wait)
                    continue
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

    async def _busy_turn(self, lane: Lane, rows: list[Delivery]) -> float | None:
        """A busy channel's turn: a roll-up of the calls that started in the last window once
        it has gathered them, the ends that came in shown on their lines (beside, in a task of
        their own: an edit may wait for the workspace's budget, a post must not). Returns the
        seconds until the next turn, None when the store failed."""
        plan, now = self._plan(lane), time.time()
        starts = [d for d in rows if d.kind == CALL_START]
        ends = [d for d in rows if d.kind == CALL_END]
        waits = [POLL_BUSY]
        if ends:
            due_at = ends[0].received_at + END_HOLD
            if lane.ending is not None and not lane.ending.done():
                pass  # the ends being shown are not claimed yet: looked at again next turn
            elif now >= due_at:
                lane.ending = asyncio.get_running_loop().create_task(
                    self._rollup_ends(lane, ends), name=f"ends:{lane.channel}")
            else:
                waits.append(due_at - now)
        if starts:
            busy = sum(p.rollup for p in self._plans.values())
            update_interval = 60.0 / self.services.settings.slack_update_per_minute
            due_at = starts[0].received_at + plan.hold(busy, update_interval)
            if len(starts) >= messages.ROLLUP_CALLS or now >= due_at:
                with structlog.contextvars.bound_contextvars(channel=lane.channel, event="rollup"):
                    try:
                        await self._rollup_starts(lane, starts[: messages.ROLLUP_CALLS])
                    except LeaseLost:
                        log.warning("relay.lease_lost")
                    except Exception:
                        log.exception("relay.delivery_store_failed")
                        return None
                return 0.0
            waits.append(due_at - now)
        return max(0.0, min(waits))

    def _plan(self, lane: Lane) -> Plan:
        plan = self._plans.get(lane.channel)
        if plan is None:
            fresh = self.services.settings.call_feed_fresh_seconds
            plan = self._plans[lane.channel] = Plan(fresh, lane.interval)
        return plan

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


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A look-up nobody may wait for: its failure is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel these tasks and wait for them to end (a delivery's own keeper included), so
    that none outlives the relay and writes to a closed session or store."""
    running = [t for t in tasks if t is not None and not t.done()]
    for t in running:
        t.cancel()
    await asyncio.gather(*running, return_exceptions=True)
