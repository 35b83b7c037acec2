"""CSV import jobs and their rows.

A job is a ``draft`` from the preview until the person clicks "Import": the rows the file
had, checked, wait in the store (a draft nobody started is deleted, with its passwords).
``running`` jobs are run by one replica at a time: the one holding its lease
(``owner``, ``lease_until``), renewed while it runs, so that after a crash another replica
(or the same one, restarted) takes it over within one lease.

A row is ``ready`` until claimed; claiming makes it ``sending`` and raises its ``attempts``
(the claim's fence: every later write of the row checks it, so a replica that lost the job
cannot overwrite the row's outcome). A row found ``sending`` when a job is taken over may
have reached the provider: the runner checks it before anything is sent again. A finished
row (``created``, ``failed``, ``unknown``, ``cancelled``) has its ``secret`` deleted in the
same write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from bot.store import tables
from bot.store.db import Store, rows_changed

j = tables.import_jobs
r = tables.import_rows

#: A row's outcome, final: its secret is gone.
FINISHED = ("created", "failed", "unknown", "cancelled")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    user_id: str
    channel_id: str
    file_name: str
    state: str
    total: int
    created_at: float
    started_at: float | None
    message_ts: str | None
    cancelled_by: str | None
    result_posted: bool

    @classmethod
    def of(cls, row: Row[Any]) -> Job:
        return cls(row.id, row.kind, row.user_id, row.channel_id, row.file_name, row.state, row.total,
                   row.created_at, row.started_at, row.message_ts, row.cancelled_by, bool(row.result_posted))


@dataclass(frozen=True)
class ImportRow:
    job_id: str
    row_no: int
    state: str
    data: dict[str, Any] | None
    secret: dict[str, Any] | None
    cells: dict[str, str]
    label: str
    resource_id: str | None
    error: str | None
    attempts: int

    @classmethod
    def of(cls, row: Row[Any]) -> ImportRow:
        return cls(row.job_id, row.row_no, row.state, row.data, row.secret, row.cells or {}, row.label,
                   row.resource_id, row.error, row.attempts)

    def request_data(self) -> dict[str, Any]:
        """The request as the form built it, its secrets back in."""
        data = dict(self.data or {})
        for path, value in (self.secret or {}).items():
            _put(data, path.split("."), value)
        return data


@dataclass(frozen=True)
class NewRow:
    row_no: int
    state: str  # ready | invalid
    cells: dict[str, str]
    label: str = ""
    data: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None
    error: str | None = None


class ImportStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- drafts and starting --------------------------------------------------------------

    async def add_draft(self, job_id: str, *, kind: str, user_id: str, channel_id: str, file_name: str,
                        rows: list[NewRow], now: float) -> None:
        def write(conn: Connection) -> None:
            conn.execute(j.insert().values(
                id=job_id, kind=kind, user_id=user_id, channel_id=channel_id, file_name=file_name[:255],
                state="draft", total=len(rows), created_at=now, lease_until=0.0, result_posted=False))
            if rows:
                conn.execute(r.insert(), [
                    {"job_id": job_id, "row_no": row.row_no, "state": row.state, "data": row.data,
                     "secret": row.secret, "cells": row.cells, "label": row.label[:200], "error": row.error,
                     "attempts": 0} for row in rows])

        await self.store.write(write)

    async def start(self, job_id: str, user_id: str, now: float) -> bool:
        """The draft becomes a running job; False when it is not a draft (any more)."""
        started = (update(j).where(j.c.id == job_id, j.c.state == "draft", j.c.user_id == user_id)
                   .values(state="running", started_at=now))
        return await self.store.write(rows_changed, started) == 1

    async def drop_draft(self, job_id: str) -> bool:
        """Delete a draft nobody started, its rows (and their passwords) with it."""
        def write(conn: Connection) -> bool:
            gone = conn.execute(delete(j).where(j.c.id == job_id, j.c.state == "draft")).rowcount
            if gone:
                conn.execute(delete(r).where(r.c.job_id == job_id))
            return bool(gone)

        return await self.store.write(write)

    async def drop_drafts_before(self, before: float) -> int:
        def write(conn: Connection) -> int:
            old = [row.id for row in conn.execute(
                select(j.c.id).where(j.c.state == "draft", j.c.created_at < before))]
            if old:
                conn.execute(delete(r).where(r.c.job_id.in_(old)))
                conn.execute(delete(j).where(j.c.id.in_(old)))
            return len(old)

        return await self.store.write(write)

    # --- jobs -------------------------------------------------------------------------------

    async def job(self, job_id: str) -> Job | None:
        def read(conn: Connection) -> Job | None:
            row = conn.execute(select(j).where(j.c.id == job_id)).first()
            return None if row is None else Job.of(row)

        return await self.store.read(read)

    async def claimable(self, owner: str, now: float) -> list[str]:
        """Running jobs nobody holds (or this replica holds), and finished ones whose result
        was not posted yet."""
        query = select(j.c.id).where(
            j.c.state.in_(["running", "done", "cancelled"]), j.c.result_posted.is_(False),
            (j.c.lease_until < now) | (j.c.owner == owner)).order_by(j.c.created_at)

        def read(conn: Connection) -> list[str]:
            return [row.id for row in conn.execute(query)]

        return await self.store.read(read)

    async def claim(self, job_id: str, owner: str, now: float, lease_until: float) -> Job | None:
        """Take the job (its lease ran out, or it is ours); None when another replica has it."""
        claim = (update(j).where(j.c.id == job_id, j.c.result_posted.is_(False),
                                 (j.c.lease_until < now) | (j.c.owner == owner))
                 .values(owner=owner, lease_until=lease_until))
        if await self.store.write(rows_changed, claim) != 1:
            return None
        return await self.job(job_id)

    async def renew(self, job_id: str, owner: str, lease_until: float) -> bool:
        """False when the job is no longer ours."""
        renew = update(j).where(j.c.id == job_id, j.c.owner == owner).values(lease_until=lease_until)
        return await self.store.write(rows_changed, renew) == 1

    async def release(self, job_id: str, owner: str) -> None:
        """Let another replica (or this one, restarted) take the job at once."""
        await self.store.write(rows_changed, update(j).where(j.c.id == job_id, j.c.owner == owner)
                               .values(owner=None, lease_until=0.0))

    async def set_message(self, job_id: str, ts: str) -> None:
        await self.store.write(rows_changed, update(j).where(j.c.id == job_id).values(message_ts=ts))

    async def request_cancel(self, job_id: str, user_id: str) -> bool:
        """Ask the job to stop after its row in flight; False when it is not running."""
        ask = (update(j).where(j.c.id == job_id, j.c.state == "running", j.c.cancelled_by.is_(None))
               .values(cancelled_by=user_id))
        return await self.store.write(rows_changed, ask) == 1

    async def finish(self, job_id: str, state: str, now: float) -> None:
        """The job ends (``done`` or ``cancelled``): rows never sent are ``cancelled``."""
        def write(conn: Connection) -> None:
            conn.execute(update(r).where(r.c.job_id == job_id, r.c.state == "ready")
                         .values(state="cancelled", secret=None, finished_at=now))
            conn.execute(update(j).where(j.c.id == job_id, j.c.state == "running")
                         .values(state=state, finished_at=now))

        await self.store.write(write)

    async def result_posted(self, job_id: str) -> None:
        await self.store.write(rows_changed, update(j).where(j.c.id == job_id).values(
            result_posted=True, owner=None, lease_until=0.0))

    # --- rows ---------------------------------------------------------------------------------

    async def counts(self, job_id: str) -> Counter[str]:
        query = select(r.c.state, func.count()).where(r.c.job_id == job_id).group_by(r.c.state)

        def read(conn: Connection) -> Counter[str]:
            return Counter({row[0]: int(row[1]) for row in conn.execute(query)})

        return await self.store.read(read)

    async def rows(self, job_id: str, state: str | None = None, limit: int | None = None) -> list[ImportRow]:
        query = select(r).where(r.c.job_id == job_id)
        if state is not None:
            query = query.where(r.c.state == state)
        query = query.order_by(r.c.row_no).limit(limit)

        def read(conn: Connection) -> list[ImportRow]:
            return [ImportRow.of(row) for row in conn.execute(query)]

        return await self.store.read(read)

    async def claim_row(self, row: ImportRow) -> ImportRow | None:
        """``ready`` → ``sending``; None when the row changed since it was read."""
        claim = (update(r).where(r.c.job_id == row.job_id, r.c.row_no == row.row_no, r.c.state == "ready",
                                 r.c.attempts == row.attempts)
                 .values(state="sending", attempts=row.attempts + 1))
        if await self.store.write(rows_changed, claim) != 1:
            return None
        return ImportRow(row.job_id, row.row_no, "sending", row.data, row.secret, row.cells, row.label,
                         None, None, row.attempts + 1)

    async def finish_row(self, row: ImportRow, state: str, now: float, *, resource_id: str | None = None,
                         error: str | None = None) -> bool:
        """The claimed row's outcome (its secret deleted); False when the claim was lost."""
        assert state in FINISHED
        done = (update(r).where(*_claimed(row))
                .values(state=state, resource_id=resource_id, error=error, secret=None, finished_at=now))
        return await self.store.write(rows_changed, done) == 1

    async def unclaim_row(self, row: ImportRow) -> bool:
        """The claimed row was not sent (refused before the provider acted): ``ready`` again."""
        back = update(r).where(*_claimed(row)).values(state="ready")
        return await self.store.write(rows_changed, back) == 1


def _claimed(row: ImportRow) -> tuple[Any, ...]:
    return (r.c.job_id == row.job_id, r.c.row_no == row.row_no, r.c.state == "sending",
            r.c.attempts == row.attempts)


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    if len(parts) == 1:
        node[parts[0]] = value
    else:
        _put(node.setdefault(parts[0], {}), parts[1:], value)
