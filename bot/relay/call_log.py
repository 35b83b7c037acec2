"""How a call went, from CINNOX's call log: asked when the call's CallEnd is delivered and,
while the log has not said, again later (a bounded number of times, each wait twice the
last), updating the call's parent and its reply in the thread once it says.

Until the log says, the outcome is unknown: never shown as answered. A missing or empty
answer is no answer (the log's call-ID filter is unverified: providers-notes.md), and so is
an entry without a duration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from slack_sdk.errors import SlackApiError

from bot.relay import messages
from bot.relay.cards import names_for, refresh_parent
from bot.relay.events import CallEvent
from bot.services import Services
from bot.store.call_notes import Outcome
from bot.store.directory import Names

log = structlog.get_logger(__name__)

#: Seconds the call log may take to answer: a nicety, never worth holding the channel's
#: other calls back for.
CALL_LOG_TIMEOUT = 5.0
#: Looks again after the CallEnd: ``first`` seconds, then each wait twice the last.
RECHECKS = 6


@dataclass(frozen=True)
class CallTiming:
    seconds: float | None
    ended_at: float
    missed: bool = False  # CINNOX's call log says nobody answered
    bye_reason: str | None = None
    release_party: str | None = None
    known: bool = False  # CINNOX's call log said how the call went

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.missed, self.seconds, self.ended_at, self.bye_reason, self.release_party)


def recheck_offsets(first: float, count: int = RECHECKS) -> list[float]:
    """Seconds after the CallEnd of each look again: first, 3 x first, 7 x first, ... (backoff)."""
    return [first * (2 ** n - 1) for n in range(1, count + 1)]


async def timing(services: Services, call_id: str, measured: CallTiming) -> CallTiming:
    """The call log's word on the call when it has one, else ``measured`` (outcome unknown)."""
    cinnox = services.cinnox
    if cinnox is None:
        return measured
    try:
        entry = await asyncio.wait_for(cinnox.get_call_log(call_id), CALL_LOG_TIMEOUT)
    except Exception as exc:  # any trouble with the call log: the outcome stays unknown
        log.info("relay.call_log_unavailable", error=type(exc).__name__)
        return measured
    if entry is None or entry.call_duration is None:
        return measured
    ended_at = _epoch(entry.call_end_time) or measured.ended_at
    return CallTiming(float(entry.call_duration), ended_at, missed=entry.call_duration == 0,
                      bye_reason=entry.bye_reason, release_party=entry.release_party, known=True)


class CallLogWatch:
    """Looks again at the call log for calls whose outcome it had not told."""

    def __init__(self, services: Services, first: float, on_change: Callable[[], None] | None = None) -> None:
        self.services = services
        self.offsets = recheck_offsets(first)
        self.on_change = on_change
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def watching(self) -> list[str]:
        """The calls whose outcome is still being looked for."""
        return list(self._tasks)

    def watch(self, call_id: str, ended_at: float, reply_ts: str | None) -> None:
        if call_id in self._tasks or self.services.cinnox is None:
            return
        task = asyncio.get_running_loop().create_task(self._follow(call_id, ended_at, reply_ts),
                                                      name=f"call_log:{call_id}")
        self._tasks[call_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(call_id, None))

    async def resume(self) -> None:
        """After a restart: the calls still inside their looking-again window."""
        if self.services.cinnox is None:
            return
        for call_id, ended_at, reply_ts in await self.services.call_notes.without_outcome(
                time.time() - self.offsets[-1]):
            self.watch(call_id, ended_at, reply_ts)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, call_id: str, ended_at: float, reply_ts: str | None) -> None:
        for offset in self.offsets:
            wait = ended_at + offset - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if await self._look(call_id, reply_ts):
                    return
            except Exception as exc:  # the store or Slack failing: the next look may do
                log.warning("relay.call_log_recheck_failed", call_id=call_id, error=type(exc).__name__)
        log.info("relay.call_log_silent", call_id=call_id, looks=len(self.offsets))

    async def _look(self, call_id: str, reply_ts: str | None) -> bool:
        """True once the call's outcome is known (now, or by someone else meanwhile)."""
        call = await self.services.call_notes.summary(call_id)
        if call is None or call.outcome is not None or call.start_event is None:
            return True
        found = await timing(self.services, call_id, CallTiming(call.measured, call.ended_at or time.time()))
        if not found.known:
            return False
        await self.services.call_notes.record_outcome(call_id, found.outcome)
        log.info("relay.call_log_answered_late", call_id=call_id, missed=found.missed)
        if reply_ts and call.channel_id:
            start = CallEvent.model_validate(call.start_event)
            reply = end_reply(found, start, await names_for(self.services, start))
            try:
                await self.services.slack.chat_update(channel=call.channel_id, ts=reply_ts, text=reply.text,
                                                      blocks=reply.blocks)
            except SlackApiError as exc:
                log.info("relay.reply_update_failed", error=exc.response.get("error"))
        await refresh_parent(self.services, call_id)
        if self.on_change is not None:
            self.on_change()
        return True


def end_reply(found: CallTiming, start: CallEvent | None, names: Names) -> messages.Message:
    return messages.call_end_reply(found.ended_at, found.seconds, missed=found.missed, known=found.known,
                                   bye_reason=found.bye_reason, release_party=found.release_party,
                                   start=start, names=names)


def _epoch(rfc3339: str | None) -> float | None:
    if not rfc3339:
        return None
    try:
        moment = datetime.fromisoformat(rfc3339)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
