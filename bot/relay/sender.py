"""A claimed delivery's Slack writes: paced, its lease held while it waits, 429s waited
out, an earlier attempt's post looked for before posting again, failures sorted into
given up and retried later."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.relay.pacing import Lane, SlackClock, take_update
from bot.relay.slack_calls import PERMANENT, TRANSIENT, error_code, may_have_acted, retry_after, with_event
from bot.services import Services
from bot.store.outbox import Delivery, LeaseLost, Outbox

log = structlog.get_logger(__name__)

#: Unknown error codes (and the relay's own failures) are retried this many times before
#: the row is given up.
UNKNOWN_ERROR_ATTEMPTS = 5


@dataclass
class Attempt:
    """One claimed delivery while it is being worked on."""

    delivery: Delivery  # as claimed: its ``attempts`` fences every write
    lease_until: float  # as this replica last wrote it
    #: a post may be in the channel (an earlier attempt's, or one this attempt sent that
    #: Slack did not confirm): look before posting again. Cleared once a look found nothing.
    uncertain: bool
    #: the rows claimed with it, worked on as one (a roll-up's calls): leased and fenced together
    batch: tuple[Delivery, ...] = ()
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one renewal at a time
    finished: bool = False  # its lease needs no more renewing


class Sender:
    """The relay's Slack writes for claimed deliveries (the base of its delivery parts)."""

    services: Services
    outbox: Outbox
    lease: float
    retry_base: float
    retry_cap: float
    _client: AsyncWebClient | None
    _slack_clock: SlackClock
    _stopping: bool
    _wake: asyncio.Event

    async def _write(self, lane: Lane, a: Attempt, method: str, *, turn_taken: bool = False,
                     **kwargs: Any) -> Any:
        """One Slack write; waits out 429s (nothing was posted) and sends again. Posts are
        paced per channel; chat.update is limited per workspace, not per channel: it waits
        for its turn in the workspace's budget (``slack_budget``). The lease is renewed
        before each try, so a long wait never lets another replica take the delivery over
        while this one may still post."""
        paced = method == "chat_postMessage"
        while True:
            await lane.pace(paced, reply="thread_ts" in kwargs)
            if method == "chat_update" and not turn_taken:  # the workspace's budget, every replica's
                await take_update(self.services)
            turn_taken = False  # a try after a 429 waits for a turn of its own
            await self._hold(a)
            looked = a.uncertain
            a.uncertain = a.uncertain or paced  # once sent, a post may be in the channel
            started = time.monotonic()
            try:
                answer = await getattr(self._client, method)(channel=lane.channel, **kwargs)
            except SlackApiError as exc:
                if not may_have_acted(exc):
                    a.uncertain = looked
                lane.sent(paced, started=started)
                if exc.response.status_code != 429 or self._stopping:
                    raise
                if paced:
                    self._slack_clock.forget()
                pause = retry_after(exc.response.headers)
                self.services.metrics.delivery_failures.labels("ratelimited").inc()
                log.info("relay.rate_limited", method=method, retry_after=pause)
                lane.pause(pause)
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
            if a.batch:
                await self.outbox.renew_many([a.delivery, *a.batch], a.lease_until, lease_until)
            else:
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
            found = with_event(page.get("messages") or [], event_id)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if found or not cursor:
                a.uncertain = found is not None
                return found
        return None

    async def _find_reply(self, channel: str, parent_ts: str, event_id: str) -> str | None:
        page = await self.services.slack.conversations_replies(
            channel=channel, ts=parent_ts, include_all_metadata=True, limit=200)
        return with_event((page.get("messages") or [])[1:], event_id)

    async def _slack_failed(self, a: Attempt, exc: SlackApiError) -> None:
        error, status = error_code(exc), exc.response.status_code
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
        await self._retry(a, error, uncertain=may_have_acted(exc))

    async def _retry(self, a: Attempt, error: str, *, uncertain: bool) -> None:
        """Try again after a backoff. The next attempt looks for the message first when this
        one may have posted it, or when an earlier one may have and this one could not look."""
        attempts = a.delivery.attempts
        backoff = min(self.retry_cap, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        await self.outbox.retry_later(a.delivery, time.time() + backoff, error,
                                      uncertain=uncertain or a.uncertain)
        self._wake.set()  # the sweep learns of the earlier due time
