"""What the bot adds to a call beyond where its messages are (``outbox.py``): how it ended
(answered, missed), who took its call-back, and the lists the App Home shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.exc import IntegrityError

from bot.store import tables
from bot.store.db import Store, upsert

calls = tables.calls
outcomes = tables.call_outcomes
callbacks = tables.call_callbacks
visits = tables.home_visits

#: A call with no CallEnd after this long is not listed as in progress any more.
IN_PROGRESS_FOR = 4 * 3600.0


@dataclass(frozen=True)
class Outcome:
    missed: bool
    seconds: float | None
    ended_at: float
    bye_reason: str | None = None
    release_party: str | None = None


@dataclass(frozen=True)
class Callback:
    user_id: str
    taken_at: float
    done_at: float | None = None


@dataclass(frozen=True)
class CallSummary:
    """One call as the App Home and its message show it."""

    call_id: str
    service_id: str | None
    channel_id: str | None
    parent_ts: str | None
    started_at: float | None
    state: str
    start_event: dict[str, Any] | None
    #: None until CINNOX's call log said how the call went
    outcome: Outcome | None
    callback: Callback | None
    ended_at: float | None = None  # when its CallEnd arrived

    @classmethod
    def of(cls, row: Row[Any]) -> CallSummary:
        outcome = None if row.outcome_ended_at is None else Outcome(
            bool(row.missed), row.seconds, row.outcome_ended_at, row.bye_reason, row.release_party)
        callback = None if row.user_id is None else Callback(row.user_id, row.taken_at, row.done_at)
        return cls(row.call_id, row.service_id, row.channel_id, row.parent_ts, row.started_at, row.state,
                   row.start_event, outcome, callback, row.ended_at)

    @property
    def measured(self) -> float | None:
        """Seconds between the call's two events as received (ringing included): how long
        it lasted, whether or not anybody answered. None when the end came first."""
        if self.started_at is None or self.ended_at is None or self.ended_at < self.started_at:
            return None
        return self.ended_at - self.started_at


class CallNotes:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- how a call ended ---------------------------------------------------------------------

    async def record_outcome(self, call_id: str, outcome: Outcome) -> None:
        values = {"missed": outcome.missed, "seconds": outcome.seconds, "ended_at": outcome.ended_at,
                  "bye_reason": outcome.bye_reason and outcome.bye_reason[:128],
                  "release_party": outcome.release_party and outcome.release_party[:128]}
        await upsert(self.store, outcomes, "call_id", {"call_id": call_id, **values})

    # --- call-backs ---------------------------------------------------------------------------

    async def take_callback(self, call_id: str, user_id: str, now: float) -> Callback:
        """The call-back as it now stands: taken by ``user_id``, unless someone was first."""
        try:
            async with self.store.transaction() as conn:
                await conn.execute(callbacks.insert().values(call_id=call_id, user_id=user_id, taken_at=now))
        except IntegrityError:
            pass
        found = await self.callback(call_id)
        assert found is not None
        return found

    async def finish_callback(self, call_id: str, user_id: str, now: float) -> bool:
        """Mark the call-back done; only its taker can. False when it is not theirs."""
        async with self.store.transaction() as conn:
            done = await conn.execute(callbacks.update().where(
                callbacks.c.call_id == call_id, callbacks.c.user_id == user_id).values(done_at=now))
        return bool(done.rowcount)

    async def callback(self, call_id: str) -> Callback | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(callbacks).where(callbacks.c.call_id == call_id))).first()
        return None if row is None else Callback(row.user_id, row.taken_at, row.done_at)

    # --- reading calls ------------------------------------------------------------------------

    def _summaries(self) -> Any:
        return (select(calls, outcomes.c.missed, outcomes.c.seconds,
                       outcomes.c.ended_at.label("outcome_ended_at"), outcomes.c.bye_reason,
                       outcomes.c.release_party,
                       callbacks.c.user_id, callbacks.c.taken_at, callbacks.c.done_at)
                .select_from(calls.outerjoin(outcomes, outcomes.c.call_id == calls.c.call_id)
                             .outerjoin(callbacks, callbacks.c.call_id == calls.c.call_id)))

    async def summary(self, call_id: str) -> CallSummary | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._summaries().where(calls.c.call_id == call_id))).first()
        return None if row is None else CallSummary.of(row)

    async def in_message(self, channel_id: str, ts: str) -> list[CallSummary]:
        """The calls a roll-up message shows, in the order they started."""
        query = (self._summaries().where(calls.c.channel_id == channel_id, calls.c.parent_ts == ts)
                 .order_by(calls.c.started_at, calls.c.call_id))
        async with self.engine.connect() as conn:
            return [CallSummary.of(row) for row in await conn.execute(query)]

    async def recent(self, limit: int = 20) -> list[CallSummary]:
        query = (self._summaries().where(calls.c.start_event.is_not(None))
                 .order_by(calls.c.started_at.desc()).limit(limit))
        async with self.engine.connect() as conn:
            return [CallSummary.of(row) for row in await conn.execute(query)]

    async def in_progress(self, now: float, limit: int = 10) -> list[CallSummary]:
        query = (self._summaries().where(calls.c.state == "started", calls.c.start_event.is_not(None),
                                         calls.c.started_at >= now - IN_PROGRESS_FOR)
                 .order_by(calls.c.started_at.desc()).limit(limit))
        async with self.engine.connect() as conn:
            return [CallSummary.of(row) for row in await conn.execute(query)]

    def _to_call_back(self) -> Any:
        # Only an unanswered incoming call (its caller no staff member: no EID) is to be
        # called back; design.md.
        caller_eid = calls.c.start_event["caller"]["eid"].as_string()
        return (outcomes.c.missed.is_(True), callbacks.c.user_id.is_(None), calls.c.start_event.is_not(None),
                or_(caller_eid.is_(None), caller_eid == ""))

    async def missed_not_taken(self, limit: int = 10) -> list[CallSummary]:
        query = (self._summaries().where(*self._to_call_back())
                 .order_by(calls.c.started_at.desc()).limit(limit))
        async with self.engine.connect() as conn:
            return [CallSummary.of(row) for row in await conn.execute(query)]

    async def missed_not_taken_count(self) -> int:
        query = (select(func.count()).select_from(
            calls.join(outcomes, outcomes.c.call_id == calls.c.call_id)
            .outerjoin(callbacks, callbacks.c.call_id == calls.c.call_id)).where(*self._to_call_back()))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)

    async def without_outcome(self, ended_since: float) -> list[tuple[str, float, str | None]]:
        """Calls ended since then whose outcome CINNOX's call log has not told yet:
        (call ID, when its CallEnd arrived, the ts of its reply in the thread)."""
        ends = tables.outbox
        reply = (ends.c.call_id == calls.c.call_id) & (ends.c.kind == "CallEnd")
        query = (select(calls.c.call_id, calls.c.ended_at, ends.c.posted_ts)
                 .select_from(calls.outerjoin(outcomes, outcomes.c.call_id == calls.c.call_id)
                              .outerjoin(ends, reply))
                 .where(calls.c.state == "ended", calls.c.ended_at >= ended_since,
                        calls.c.parent_ts.is_not(None), outcomes.c.call_id.is_(None)))
        async with self.engine.connect() as conn:
            return [(row.call_id, row.ended_at, row.posted_ts) for row in await conn.execute(query)]

    # --- App Home visitors ------------------------------------------------------------------

    async def home_opened(self, user_id: str, now: float) -> None:
        await upsert(self.store, visits, "user_id", {"user_id": user_id, "opened_at": now})

    async def home_visitors(self, since: float) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(visits.c.user_id).where(visits.c.opened_at >= since))
            return [row.user_id for row in rows]
