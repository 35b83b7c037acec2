"""The call-event outbox, the calls it threads and the serviceId → channel routing.

Row states: ``pending`` (never tried, or known not to have reached Slack), ``sending``
(claimed; a post may have reached Slack, so a retry first looks for it), ``done`` and
``failed`` (a permanent Slack error, kept for ``/call-events status``). A claimed row's
``next_attempt_at`` is its lease: short, and renewed by the replica while the delivery is in
hand, so when that replica dies the row comes due again within one lease. Its ``claims``
(raised by every claim, never lowered) with its ``attempts`` (the tries since it was last
given up, for the backoff) are the claim's fencing token: every write of a claimed delivery
checks them, so a replica whose lease ran out (and was taken over) cannot overwrite the new
owner's work, even after a "Retry" started the attempts again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select

from bot.relay.events import CallEvent
from bot.store import tables
from bot.store.appender import MAX_ROWS, multi_row_sql
from bot.store.db import Store, dialect_insert, rows_changed, upsert

OPEN = tables.OUTBOX_OPEN
o = tables.outbox
c = tables.calls
r = tables.call_routes


@dataclass(frozen=True)
class Delivery:
    """An outbox row, as the relay works on it."""

    id: int
    key: str
    call_id: str
    kind: str
    payload: dict[str, Any]
    received_at: float
    state: str
    attempts: int
    claims: int
    channel_id: str | None
    posted_ts: str | None

    @functools.cached_property
    def event(self) -> CallEvent:
        return CallEvent.model_validate(self.payload)

    @classmethod
    def of(cls, row: Row[Any]) -> Delivery:
        return cls(row.id, row.event_key, row.call_id, row.kind, row.payload, row.received_at,
                   row.state, row.attempts, row.claims, row.channel_id, row.posted_ts)


class LeaseLost(Exception):
    """Another replica took the delivery over after this one's lease ran out."""


@dataclass(frozen=True)
class Call:
    call_id: str
    service_id: str | None
    channel_id: str | None
    parent_ts: str | None
    started_at: float | None
    ended_at: float | None
    state: str
    start_event: dict[str, Any] | None
    rollup: bool = False  # a line of the roll-up at ``parent_ts``, not a message of its own

    @classmethod
    def of(cls, row: Row[Any]) -> Call:
        return cls(row.call_id, row.service_id, row.channel_id, row.parent_ts, row.started_at,
                   row.ended_at, row.state, row.start_event, bool(row.rollup))


_INGEST_COLUMNS = "event_key, call_id, kind, payload, received_at, channel_id, state, attempts, next_attempt_at"


#: The ingest on PostgreSQL: the whole batch as one array per column, in one statement and
#: one round trip (its own transaction). A service's route as stored now wins over the
#: channel the replica had cached: another replica may have just changed it.
_POSTGRES_INGEST_SQL = f"""
INSERT INTO outbox ({_INGEST_COLUMNS})
SELECT u.event_key, u.call_id, u.kind, u.payload::json, u.received_at,
       COALESCE(r.channel_id, u.channel_id), 'pending', 0, 0.0
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[])
     WITH ORDINALITY AS u(event_key, call_id, kind, payload, received_at, channel_id, service_id, n)
LEFT JOIN call_routes r ON r.service_id = u.service_id
ORDER BY u.n
ON CONFLICT (event_key) DO NOTHING"""


MAX_BATCH = MAX_ROWS  # events per ingest transaction


def _append(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The ingest on an in-memory SQLite (tests), as the appender writes it to a file."""
    conn.exec_driver_sql(_sqlite_batch_sql(len(rows)), tuple(value for row in rows for value in row))


def _sqlite_batch_sql(rows: int) -> str:
    """The ingest INSERT of ``rows`` rows in one statement (an ``executemany`` steps, and
    lets go of the GIL and waits to take it back, once per row)."""
    return multi_row_sql(_SQLITE_INGEST_INSERT, "(?, ?, ?, ?, ?, ?, 'pending', 0, 0.0)", rows,
                         "ON CONFLICT (event_key) DO NOTHING")


_SQLITE_INGEST_INSERT = f"INSERT INTO outbox ({_INGEST_COLUMNS})"


def _as_claimed(row_id: Any, state: Any, attempts: Any, claims: Any) -> Any:
    """The fence: the row is as a claim left it (values, or parameters bound later)."""
    return (o.c.id == row_id) & (o.c.state == state) & (o.c.attempts == attempts) & (o.c.claims == claims)


def _fenced(*also: Any, **values: Any) -> Any:
    """An update of a claimed delivery, built once: its row only while it is as claimed
    (bound by ``_fence``). The relay's hot path runs these, as building a statement
    costs more than running it."""
    fence = _as_claimed(bindparam("f_id"), bindparam("f_state"), bindparam("f_attempts"), bindparam("f_claims"))
    return o.update().where(fence, *also).values(**values)


def _fence(delivery: Delivery, **values: Any) -> dict[str, Any]:
    return {"f_id": delivery.id, "f_state": delivery.state, "f_attempts": delivery.attempts,
            "f_claims": delivery.claims, **values}


def _bound(table: Any, *columns: str) -> dict[str, Any]:
    """``column: bindparam("v_column")`` for each column, typed as the column."""
    return {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}


_CLAIM = _fenced(**_bound(o, "attempts", "claims", "next_attempt_at"), state="sending")
_RENEW = _fenced(o.c.next_attempt_at == bindparam("held_until"), **_bound(o, "next_attempt_at"))
_DONE = _fenced(**_bound(o, "posted_ts", "delivered_at"), state="done", last_error=None)
_CALL = select(c).where(c.c.call_id == bindparam("call_id"))
# ``state || ''``: no index serves that term, so the call's index is the only one to use.
# (SQLite keeps no statistics: given ``state = 'pending'``, it would at times search by state,
# through every event waiting: 47 ms at 200k, each time a CallStart was posted, the
# webhook's commits waiting behind it.)
_RELEASE_END = (o.update()
                .where(o.c.call_id == bindparam("b_call_id"), o.c.kind == "CallEnd",
                       o.c.state.concat("") == "pending")
                .values(next_attempt_at=0.0).returning(o.c.channel_id))


@functools.cache
def _due_for(limit: int) -> Any:
    return (select(o).where(o.c.channel_id == bindparam("channel"), tables.outbox_open,
                            o.c.next_attempt_at <= bindparam("now")).order_by(o.c.id).limit(limit))


def _due_channels() -> Any:
    channels = (select(func.min(o.c.channel_id).label("id")).where(o.c.channel_id.is_not(None))
                .cte("channels", recursive=True))
    following = select(func.min(o.c.channel_id)).where(o.c.channel_id > channels.c.id).scalar_subquery()
    channels = channels.union_all(select(following).where(channels.c.id.is_not(None)))
    due = (select(o.c.id).where(o.c.channel_id == channels.c.id, tables.outbox_open,
                                o.c.next_attempt_at <= bindparam("now")).exists())
    return select(channels.c.id).where(channels.c.id.is_not(None), due)


_DUE_CHANNELS = _due_channels()


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self._insert = dialect_insert(store.is_sqlite)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._call_started = self._upsert_call_statement("service_id", "channel_id", "parent_ts", "started_at",
                                                         "start_event", "rollup")
        self._call_ended = self._upsert_call_statement("service_id", "channel_id", "ended_at", "state")

    # --- ingest ----------------------------------------------------------------------------

    async def add_many(self, events: Sequence[tuple[CallEvent, float, str | None]]) -> None:
        """Store (event, received_at, channel) rows in one statement; a duplicate (same call
        ID and status) is ignored. On PostgreSQL it is its own transaction, one round trip,
        and a service's route as stored now wins over ``channel``."""
        rows = [(e.key, e.id, e.status, e.model_dump_json(by_alias=True, exclude_none=True), at, channel)
                for e, at, channel in events]
        if self.store.appender is not None:
            return await self.store.appender.add(_sqlite_batch_sql(len(rows)), [v for row in rows for v in row])
        if self.store.is_sqlite:  # in memory (tests): no file for a connection of its own
            return await self.store.write(_append, rows)
        columns = [list(column) for column in zip(*rows, strict=True)]
        columns.append([e.service_id for e, _, _ in events])
        async with self._autocommit.connect() as conn:
            await conn.exec_driver_sql(_POSTGRES_INGEST_SQL, tuple(columns))

    # --- the relay's reads ---------------------------------------------------------------------

    async def due_for(self, channel: str, now: float, limit: int = 50) -> list[Delivery]:
        """One channel's rows to deliver now, oldest first."""
        def read(conn: Connection) -> list[Delivery]:
            return [Delivery.of(row) for row in conn.execute(_due_for(limit), {"channel": channel, "now": now})]

        return await self.store.read(read)

    async def due_channels(self, now: float) -> list[str]:
        """The channels with rows to deliver now: each channel's ID is found by an index
        step from the one before, and asked whether it has a due row (a DISTINCT over the
        due rows read the whole backlog: 34 ms at 200k rows)."""
        async with self.engine.connect() as conn:
            return [row.id for row in await conn.execute(_DUE_CHANNELS, {"now": now})]

    async def next_due_after(self, now: float) -> float | None:
        """When the next row waiting for a retry or a grace period comes due."""
        query = select(func.min(o.c.next_attempt_at)).where(o.c.state.in_(OPEN), o.c.next_attempt_at > now)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def depth(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                select(func.count()).select_from(o).where(o.c.state.in_(OPEN)))).scalar() or 0)

    async def start_state(self, call_id: str) -> str | None:
        """The state of the call's CallStart row, None when it has not arrived."""
        query = select(o.c.state).where(o.c.call_id == call_id, o.c.kind == "CallStart")

        def read(conn: Connection) -> str | None:
            return conn.execute(query).scalar()

        return await self.store.read(read)

    async def call(self, call_id: str) -> Call | None:
        return await self.store.read(_call, call_id)

    async def last_error(self) -> tuple[str, str, float] | None:
        """(error, channel, received_at) of the newest delivery that failed or is retrying."""
        query = (select(o.c.last_error, o.c.channel_id, o.c.received_at)
                 .where(o.c.last_error.is_not(None), o.c.state != "done").order_by(o.c.id.desc()).limit(1))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row.last_error, row.channel_id or "", row.received_at) if row else None

    async def failed_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                select(func.count()).select_from(o).where(o.c.state == "failed"))).scalar() or 0)

    # --- the relay's writes --------------------------------------------------------------------

    async def claim(self, delivery: Delivery, lease_until: float) -> Delivery | None:
        """Take the row for delivery: the claimed delivery, or None when someone else has it."""
        claimed = await self.claim_with_call(delivery, lease_until, with_call=False)
        return None if claimed is None else claimed[0]

    async def claim_with_call(self, delivery: Delivery, lease_until: float,
                              with_call: bool = True) -> tuple[Delivery, Call | None] | None:
        """``claim``, and the call as it stands (read in the same transaction)."""
        def write(conn: Connection) -> tuple[int, Call | None]:
            taken = conn.execute(_CLAIM, _fence(delivery, v_attempts=delivery.attempts + 1,
                                                v_claims=delivery.claims + 1,
                                                v_next_attempt_at=lease_until)).rowcount
            return taken, (_call(conn, delivery.call_id) if taken == 1 and with_call else None)

        taken, call = await self.store.write(write)
        if taken != 1:
            return None
        claimed = replace(delivery, state="sending", attempts=delivery.attempts + 1, claims=delivery.claims + 1)
        return claimed, call

    async def renew(self, delivery: Delivery, held_until: float, lease_until: float) -> None:
        """Extend a claimed delivery's lease from ``held_until`` (the end this replica last
        set) to ``lease_until``. LeaseLost when it is no longer ours, or when its outcome was
        recorded meanwhile (a renewal racing the outcome must not postpone a retry)."""
        def write(conn: Connection) -> None:
            _check_owned(conn.execute(_RENEW, _fence(delivery, held_until=held_until,
                                                     v_next_attempt_at=lease_until)), delivery)

        await self.store.write(write)

    async def renew_many(self, deliveries: Sequence[Delivery], held_until: float, lease_until: float) -> None:
        """``renew`` for rows claimed together, in one transaction: all, or LeaseLost."""
        def write(conn: Connection) -> None:
            for d in deliveries:
                _check_owned(conn.execute(_RENEW, _fence(d, held_until=held_until,
                                                         v_next_attempt_at=lease_until)), d)

        await self.store.write(write)

    async def expire_leases(self) -> None:
        """Make interrupted deliveries due now. Only for a single replica (SQLite): with
        several, another replica may still be working on them until their lease ends."""
        async with self.store.transaction() as conn:
            await conn.execute(o.update().where(o.c.state == "sending").values(next_attempt_at=0.0))

    async def record_reply(self, delivery: Delivery, ts: str) -> None:
        """The CallEnd reply is in the thread; only the parent's update is left."""
        await self.store.write(_owned_update, delivery, posted_ts=ts)

    async def started(self, delivery: Delivery, channel_id: str, ts: str,
                      delivered_at: float) -> tuple[Call, list[str]]:
        """A CallStart is posted: remember its thread, close the row, in one transaction.
        Returns the call as it now stands (a CallEnd delivered meanwhile shows in its state)
        and the channels of the CallEnd now free to go."""
        event = delivery.event

        def write(conn: Connection) -> tuple[Call, list[str]]:
            # The call's row first, in ``ended`` too: one lock order, no deadlock between them.
            call = self._upsert_call(conn, self._call_started, delivery.call_id, service_id=event.service_id,
                                     channel_id=channel_id, parent_ts=ts, started_at=delivery.received_at,
                                     start_event=delivery.payload, rollup=False)
            _done(conn, delivery, ts, delivered_at)
            return call, _release_end(conn, delivery)

        return await self.store.write(write)

    async def ended(self, delivery: Delivery, channel_id: str, ts: str, delivered_at: float) -> Call:
        """A CallEnd is delivered (in its thread, or on its own): the call is over. Returns
        the call as it now stands (a CallStart posted meanwhile shows in its parent_ts)."""
        service_id = delivery.event.service_id

        def write(conn: Connection) -> Call:
            call = self._upsert_call(conn, self._call_ended, delivery.call_id, service_id=service_id,
                                     channel_id=channel_id, ended_at=delivery.received_at, state="ended")
            _done(conn, delivery, ts, delivered_at)
            return call

        return await self.store.write(write)

    # --- batches (a busy channel's roll-ups): one transaction each --------------------------------

    async def claim_many(self, deliveries: Sequence[Delivery], lease_until: float) -> list[Delivery]:
        """Claim these rows in one transaction; the ones taken (another replica may hold some)."""
        def write(conn: Connection) -> list[Delivery]:
            taken = []
            for d in deliveries:
                if conn.execute(_CLAIM, _fence(d, v_attempts=d.attempts + 1, v_claims=d.claims + 1,
                                                v_next_attempt_at=lease_until)).rowcount == 1:
                    taken.append(replace(d, state="sending", attempts=d.attempts + 1, claims=d.claims + 1))
            return taken

        return await self.store.write(write)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give back claimed rows known not to be in Slack: due again now."""
        def write(conn: Connection) -> None:
            for d in deliveries:
                _owned_update(conn, d, state="pending", next_attempt_at=0.0)

        await self.store.write(write)

    async def started_many(self, shown: Sequence[tuple[Delivery, str, bool]], channel_id: str,
                           delivered_at: float) -> tuple[list[Call], list[str]]:
        """CallStarts shown ((delivery, ts of the message showing it, in a roll-up?)): their
        calls and rows recorded in one transaction, all or none (LeaseLost when any row is no
        longer ours). Returns the calls as they now stand and the channels of CallEnds freed."""
        def write(conn: Connection) -> tuple[list[Call], list[str]]:
            calls, released = [], []
            for d, ts, rollup in shown:
                calls.append(self._upsert_call(
                    conn, self._call_started, d.call_id, service_id=d.event.service_id, channel_id=channel_id,
                    parent_ts=ts, started_at=d.received_at, start_event=d.payload, rollup=rollup))
                _done(conn, d, ts, delivered_at)
                released += _release_end(conn, d)
            return calls, released

        return await self.store.write(write)

    async def ended_many(self, shown: Sequence[tuple[Delivery, str]], channel_id: str,
                         delivered_at: float) -> None:
        """CallEnds shown on their call's line or parent (no reply of their own), recorded
        in one transaction, all or none."""
        def write(conn: Connection) -> None:
            for d, ts in shown:
                self._upsert_call(conn, self._call_ended, d.call_id, service_id=d.event.service_id,
                                  channel_id=channel_id, ended_at=d.received_at, state="ended")
                _done(conn, d, ts, delivered_at)

        await self.store.write(write)

    async def calls_of(self, call_ids: Sequence[str]) -> dict[str, Call]:
        """These calls as they stand, in one read."""
        query = select(c).where(c.c.call_id.in_(list(call_ids)))

        def read(conn: Connection) -> dict[str, Call]:
            return {row.call_id: Call.of(row) for row in conn.execute(query)}

        return await self.store.read(read) if call_ids else {}

    async def start_states(self, call_ids: Sequence[str]) -> dict[str, str]:
        """The state of each call's CallStart row (absent: it has not arrived)."""
        query = select(o.c.call_id, o.c.state).where(o.c.call_id.in_(list(call_ids)), o.c.kind == "CallStart")

        def read(conn: Connection) -> dict[str, str]:
            return {row.call_id: row.state for row in conn.execute(query)}

        return await self.store.read(read) if call_ids else {}

    async def retry_later(self, delivery: Delivery, at: float, error: str, *, uncertain: bool) -> None:
        """Try again at ``at``; ``uncertain`` = the post may have reached Slack."""
        await self.store.write(_owned_update, delivery, state="sending" if uncertain else "pending",
                               next_attempt_at=at, last_error=error)

    async def fail(self, delivery: Delivery, error: str) -> None:
        def write(conn: Connection) -> None:
            _owned_update(conn, delivery, state="failed", last_error=error)
            _release_end(conn, delivery)

        await self.store.write(write)

    # --- racing edits of one message ------------------------------------------------------

    async def begin_draw(self, channel_id: str, ts: str) -> int:
        """A new version of the message at ``ts`` is about to be drawn from the store: its
        number (read the store after this, so the draw is at least as new as the version)."""
        d = tables.message_draws
        insert = self._insert(d).values(channel_id=channel_id, ts=ts, version=1, drawn_at=time.time())
        statement = insert.on_conflict_do_update(
            index_elements=["channel_id", "ts"],
            set_={"version": d.c.version + 1, "drawn_at": insert.excluded.drawn_at}).returning(d.c.version)

        def write(conn: Connection) -> int:
            return int(conn.execute(statement).scalar_one())

        return await self.store.write(write)

    async def draw_version(self, channel_id: str, ts: str) -> int:
        """The version of the message's newest draw (0: never drawn this way)."""
        d = tables.message_draws
        query = select(d.c.version).where(d.c.channel_id == channel_id, d.c.ts == ts)

        def read(conn: Connection) -> int:
            return int(conn.execute(query).scalar() or 0)

        return await self.store.read(read)

    async def prune(self, before: float) -> int:
        """Forget delivered events received before ``before`` (and their calls): the table
        stays small, and CINNOX does not resend a days-old event."""
        async with self.store.transaction() as conn:
            # Delivered: only those have ``delivered_at`` (and its index).
            gone = await conn.execute(o.delete().where(o.c.delivered_at.is_not(None), o.c.received_at < before))
            await conn.execute(c.delete().where(c.c.ended_at < before))
            await conn.execute(tables.message_draws.delete().where(tables.message_draws.c.drawn_at < before))
        return int(gone.rowcount or 0)

    async def fail_unrouted(self, error: str, ends_received_before: float) -> int:
        """Give up the events that have no channel to go to; returns how many. A CallEnd
        first takes its CallStart's channel; one whose CallStart has not come yet is given
        up only once it was received before ``ends_received_before`` (its grace period)."""
        start = o.alias("start")
        start_channel = (select(start.c.channel_id)
                         .where(start.c.call_id == o.c.call_id, start.c.kind == "CallStart",
                                start.c.channel_id.is_not(None))
                         .limit(1).scalar_subquery())
        unrouted = (o.c.channel_id.is_(None), o.c.state.in_(OPEN))
        async with self.store.transaction() as conn:
            await conn.execute(o.update().where(*unrouted, o.c.kind == "CallEnd")
                               .values(channel_id=start_channel))
            failed = await conn.execute(
                o.update().where(*unrouted, (o.c.kind != "CallEnd") | (o.c.received_at < ends_received_before))
                .values(state="failed", last_error=error))
        return int(failed.rowcount or 0)

    async def postpone(self, delivery: Delivery, until: float, channel_id: str | None = None) -> None:
        """Not deliverable yet (its CallStart comes first); optionally to another channel."""
        values: dict[str, Any] = {"next_attempt_at": until}
        if channel_id is not None:
            values["channel_id"] = channel_id
        await self.store.write(rows_changed, o.update().where(_unchanged(delivery)).values(**values))

    # --- routing -----------------------------------------------------------------------------

    async def set_route(self, service_id: str, channel_id: str, user_id: str) -> None:
        await upsert(self.store, r, "service_id", {"service_id": service_id, "channel_id": channel_id,
                                                   "updated_by": user_id, "updated_at": datetime.now(UTC)})

    async def remove_route(self, service_id: str) -> bool:
        """Stop routing the service (its calls go to CALL_EVENTS_CHANNEL); False when it had none."""
        async with self.store.transaction() as conn:
            gone = await conn.execute(r.delete().where(r.c.service_id == service_id))
        return bool(gone.rowcount)

    async def given_up(self, limit: int = 10) -> list[tuple[Delivery, str]]:
        """The newest deliveries Slack refused for good, with the error, for a "Retry"."""
        query = select(o).where(o.c.state == "failed").order_by(o.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [(Delivery.of(row), row.last_error or "") for row in await conn.execute(query)]

    async def retry_given_up(self, row_id: int, channel_id: str | None) -> bool:
        """Deliver a given-up event again (to ``channel_id``, its route now); False when it
        is not given up (any more)."""
        async with self.store.transaction() as conn:
            again = await conn.execute(o.update().where(o.c.id == row_id, o.c.state == "failed").values(
                state="pending", attempts=0, next_attempt_at=0.0, channel_id=channel_id))
        return bool(again.rowcount)

    async def routes(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(r.c.service_id, r.c.channel_id).order_by(r.c.service_id))
            return {row.service_id: row.channel_id for row in rows}


    def _upsert_call_statement(self, *columns: str) -> Any:
        """Insert the call with these columns, or update them (the statement, built once)."""
        values = _bound(c, *columns)
        statement = self._insert(c).values(**{"state": "started", **_bound(c, "call_id"), **values})
        return statement.on_conflict_do_update(index_elements=["call_id"], set_=values).returning(c)

    @staticmethod
    def _upsert_call(conn: Connection, statement: Any, call_id: str, **values: Any) -> Call:
        """Insert or update the call; the row as it stands after (concurrent upserts of one
        call are serialized by the row lock, so each sees what the other wrote)."""
        bound = {f"v_{name}": value for name, value in values.items()}
        return Call.of(conn.execute(statement, {"v_call_id": call_id, **bound}).one())


def _unchanged(delivery: Delivery) -> Any:
    """The row is as ``delivery`` read it: nobody has claimed it since."""
    return _as_claimed(delivery.id, delivery.state, delivery.attempts, delivery.claims)


def _call(conn: Connection, call_id: str) -> Call | None:
    row = conn.execute(_CALL, {"call_id": call_id}).first()
    return None if row is None else Call.of(row)


def _check_owned(updated: Any, delivery: Delivery) -> None:
    if updated.rowcount != 1:
        raise LeaseLost(delivery.key)


def _owned_update(conn: Connection, delivery: Delivery, *also: Any, **values: Any) -> None:
    """Update a delivery this replica claimed; LeaseLost (rolling back the transaction)
    when another replica has claimed it since (or a condition in ``also`` fails)."""
    _check_owned(conn.execute(o.update().where(_unchanged(delivery), *also).values(**values)), delivery)


def _release_end(conn: Connection, delivery: Delivery) -> list[str]:
    """A CallStart is settled: its CallEnd, if waiting, may go now. Returns its channels.
    (Only a pending one: a CallEnd in ``sending`` may be leased by a replica posting it.)"""
    if delivery.kind != "CallStart":
        return []
    released = conn.execute(_RELEASE_END, {"b_call_id": delivery.call_id})
    return [row.channel_id for row in released if row.channel_id]


def _done(conn: Connection, delivery: Delivery, ts: str, delivered_at: float) -> None:
    _check_owned(conn.execute(_DONE, _fence(delivery, v_posted_ts=ts, v_delivered_at=delivered_at)), delivery)
