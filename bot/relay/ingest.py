"""Stores webhook events before the webhook answers 200, many per transaction.

Each request waits for the commit that holds its event (so a 200 always means stored), but
requests arriving while a commit is running share the next one: under load one SQLite
fsync serves a whole batch instead of one event.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable

import structlog

from bot.relay.events import CallEvent
from bot.store.db import is_data_error
from bot.store.outbox import MAX_BATCH, Outbox

log = structlog.get_logger(__name__)

Pending = tuple[CallEvent, float, "asyncio.Future[None]"]


class Ingest:
    def __init__(self, outbox: Outbox, route: Callable[[CallEvent], str | None],
                 on_stored: Callable[[Iterable[str]], None]) -> None:
        self.outbox = outbox
        self.route = route
        self.on_stored = on_stored
        self._pending: list[Pending] = []
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    def store(self, event: CallEvent, received_at: float) -> asyncio.Future[None]:
        """A future done once ``event`` is durably stored (a duplicate is stored once).
        (A plain function: a coroutine here would be one more frame to resume per request.)"""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, received_at, done))
        self._arrived.set()
        self._idle.clear()
        if self._writer is None or self._writer.done():
            # Not in this request's context: the writer serves every request after it, and its log
            # lines (and the relay lanes it starts) would carry this one's request ID.
            self._writer = loop.create_task(self._write(), name="ingest", context=contextvars.Context())
        return done

    async def close(self) -> None:
        if self._writer is not None:
            idle = asyncio.ensure_future(self._idle.wait())
            await asyncio.wait([idle, self._writer], return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        """Commit whatever has arrived, as soon as the previous commit is done: the batch
        is every event that came in meanwhile (no timer: an event alone is not kept waiting)."""
        while True:
            await self._arrived.wait()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                if await self._commit(batch):
                    # One event the store refuses must not fail the others sharing its
                    # commit: each is stored (or refused) on its own. (When the store is
                    # down, the batch fails at once instead: 503s, and CINNOX sends again.)
                    for item in batch:
                        await self._commit([item])
            finally:
                if not self._pending:
                    self._arrived.clear()
                    self._idle.set()

    async def _commit(self, batch: list[Pending]) -> bool:
        """Store ``batch`` in one transaction and answer its requests. True, with the
        requests left unanswered, when the store refused the data of a batch of several:
        the caller then stores each event on its own."""
        rows = [(event, at, self.route(event)) for event, at, _ in batch]
        try:
            await self.outbox.add_many(rows)
        except Exception as exc:
            log.error("ingest.store_failed", events=len(batch), error=type(exc).__name__)
            if len(batch) > 1 and is_data_error(exc):
                return True
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return False
        for _, _, done in batch:
            if not done.done():
                done.set_result(None)
        # One string, not a list: redaction looks through it once, not once per event.
        log.info("ingest.committed", count=len(batch), events=" ".join(event.key for event, _, _ in batch))
        self.on_stored({channel for _, _, channel in rows if channel})
        return False

