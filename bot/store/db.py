"""Opening the store, and the small operations the runtime needs (settings, audit).

The relay's outbox operations live in ``bot/store/outbox.py``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.store import migrations, tables
from bot.store.appender import MAX_ROWS, SqliteAppender, multi_row_sql

#: Seconds to wait for PostgreSQL to accept a connection.
CONNECT_TIMEOUT = 5.0

P = ParamSpec("P")
T = TypeVar("T")
#: An audit row (at, user_id, action, outcome, resource_id, detail) and its caller's future
_PendingAudit = tuple[tuple[Any, ...], "asyncio.Future[None]"]


def async_url(url: str) -> str:
    """`sqlite:///x.db` → `sqlite+aiosqlite:///x.db`; `postgresql://` → `postgresql+asyncpg://`."""
    if url.startswith("sqlite://") and "+" not in url.split("://")[0]:
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def dialect_insert(is_sqlite: bool) -> Any:
    """The dialect's ``insert`` (the one with ON CONFLICT). PostgreSQL's is imported only
    when used: it costs a SQLite bot ~0.1 s of its cold start."""
    if is_sqlite:
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    from sqlalchemy.dialects import postgresql

    return postgresql.insert


async def upsert(store: Store, table: Table, key: str, values: dict[str, Any]) -> None:
    """Insert the row, or update the one with the same ``key`` (safe when replicas race)."""
    insert = dialect_insert(store.is_sqlite)(table).values(**values)
    statement = insert.on_conflict_do_update(index_elements=[key],
                                             set_={k: v for k, v in values.items() if k != key})
    await store.write(rows_changed, statement)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user_id: str
    action: str
    outcome: str
    resource_id: str | None
    detail: str | None


class _SqliteThreads:
    """A SQLite file's reads and writes in one hand-over each: a thread that writes and
    one that reads, each with a connection of its own, running whole functions of
    SQLAlchemy Core statements. (aiosqlite hands every step over to its thread and back
    through the event loop: check-out, each statement, commit, reset; under load each
    hand-over waits for a turn of the loop, and a write held the writer lock through all
    of them.) Writes asked for while one runs are committed together next (group commit),
    each in a savepoint of its own, so one that raises is undone alone."""

    def __init__(self, path: str) -> None:
        # The driver's own transaction handling breaks SAVEPOINT: it is turned off, and
        # each transaction is begun here (SQLAlchemy's recipe for pysqlite).
        self.engine: Engine = create_engine(f"sqlite:///{path}", pool_size=2, max_overflow=0,
                                            connect_args={"timeout": 30, "isolation_level": None})
        event.listen(self.engine, "connect", sqlite_pragmas)
        event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        self.queue: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self.flusher: asyncio.Task[None] | None = None

    def write(self, calls: list[Callable[[Connection], Any]]) -> list[tuple[bool, Any]]:
        """Each call's (True, result) or (False, exception), all in one transaction."""
        with self.engine.begin() as conn:
            if len(calls) == 1:  # its own transaction is its savepoint
                return [(True, calls[0](conn))]
            # Savepoints through the driver: SQLAlchemy's nested transactions cost more
            # than the statements they guard.
            driver = conn.connection.driver_connection
            assert driver is not None
            outcomes: list[tuple[bool, Any]] = []
            for call in calls:
                driver.execute("SAVEPOINT one")
                try:
                    outcomes.append((True, call(conn)))
                except Exception as exc:
                    driver.execute("ROLLBACK TO one")
                    outcomes.append((False, exc))
                driver.execute("RELEASE one")
        return outcomes

    def read(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return fn(conn)

    def close(self) -> None:
        self.writer.shutdown()
        self.reader.shutdown()
        self.engine.dispose()


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        url = engine.url
        path = url.database if self.is_sqlite and not url.query else None
        file = path if path and path != ":memory:" else None
        self._threads = _SqliteThreads(file) if file else None
        #: Rows of the outbox and the audit log, appended without a SQLAlchemy transaction
        self.appender = SqliteAppender(file, self.writer, sqlite_pragmas) if file else None
        self._audit_pending: list[_PendingAudit] = []
        self._audit_writer: asyncio.Task[None] | None = None

    async def write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(conn, ...)`` as one write transaction (undone when it raises). On a SQLite
        file: committed by the writer thread, with the writes asked for meanwhile; else on
        one of the engine's connections."""
        def call(conn: Connection) -> T:
            return fn(conn, *args, **kwargs)

        threads = self._threads
        if threads is None:
            async with self.transaction() as conn:
                return await conn.run_sync(call)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        threads.queue.append((call, done))
        if threads.flusher is None or threads.flusher.done():
            threads.flusher = loop.create_task(self._flush(threads), name="store.flush",
                                               context=contextvars.Context())
        return await done

    async def _flush(self, threads: _SqliteThreads) -> None:
        loop = asyncio.get_running_loop()
        while threads.queue:
            async with self.writer():
                batch, threads.queue = threads.queue, []
                try:
                    outcomes = await loop.run_in_executor(threads.writer, threads.write, [c for c, _ in batch])
                except Exception as exc:  # the transaction failed as a whole
                    outcomes = [(False, exc)] * len(batch)
                except asyncio.CancelledError:  # the loop is closing: nobody is left waiting
                    for _, done in batch:
                        done.cancel()
                    raise
            for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
                if done.cancelled():
                    continue
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(conn, ...)`` reading the store: on a SQLite file in one hand-over to its
        reader thread."""
        def call(conn: Connection) -> T:
            return fn(conn, *args, **kwargs)

        if self._threads is None:
            async with self.engine.connect() as conn:
                return await conn.run_sync(call)
        threads = self._threads
        return await asyncio.get_running_loop().run_in_executor(threads.reader, threads.read, call)

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[None]:
        """Held while writing outside ``transaction`` (SQLite: one writer at a time)."""
        if self._sqlite_writer is None:
            yield
        else:
            async with self._sqlite_writer:
                yield

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. SQLite takes one writer at a time: two of ours colliding
        would wait in SQLite's busy handler, which sleeps up to 100 ms at a go; queueing
        here instead costs nothing."""
        if self._sqlite_writer is None:
            async with self.engine.begin() as conn:
                yield conn
        else:
            async with self._sqlite_writer, self.engine.begin() as conn:
                yield conn

    @classmethod
    async def open(cls, url: str) -> Store:
        """Create the database (and its folder) if needed and bring the schema up to date."""
        full = async_url(url)
        parsed = make_url(full)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            kwargs["poolclass"] = NullPool if parsed.database in (None, "", ":memory:") else None
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        else:
            # When PostgreSQL restarts, the pool's connections die with it: pre-ping finds
            # that out at checkout and opens a new one, so the bot recovers by itself. Until
            # the server is back, a connection attempt fails within CONNECT_TIMEOUT, so the
            # webhook answers 503 promptly instead of hanging.
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True,
                          connect_args={"timeout": CONNECT_TIMEOUT})
        engine = create_async_engine(full, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        store = cls(engine)
        async with engine.begin() as conn:
            await conn.run_sync(migrations.upgrade)
        return store

    async def close(self) -> None:
        if self.appender is not None:
            await self.appender.close()
        if self._threads is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._threads.close)
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def schema_version(self) -> int:
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrations.current_version)

    # --- settings ------------------------------------------------------------------------

    async def get_setting(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            row = await conn.execute(select(tables.settings.c.value).where(tables.settings.c.key == key))
            return row.scalar()

    async def set_setting(self, key: str, value: str) -> None:
        now = datetime.now(UTC)
        async with self.transaction() as conn:
            updated = await conn.execute(
                tables.settings.update()
                .where(tables.settings.c.key == key)
                .values(value=value, updated_at=now)
            )
            if updated.rowcount == 0:
                await conn.execute(tables.settings.insert().values(key=key, value=value, updated_at=now))

    async def setting_or_create(self, key: str, make: Any) -> str:
        """The stored value, or ``make()`` stored first (first writer wins across replicas)."""
        existing = await self.get_setting(key)
        if existing is not None:
            return existing
        try:
            async with self.transaction() as conn:
                await conn.execute(
                    tables.settings.insert().values(key=key, value=make(), updated_at=datetime.now(UTC))
                )
        except IntegrityError:  # another replica inserted first; read theirs
            pass
        value = await self.get_setting(key)
        assert value is not None
        return value

    # --- modal submissions (a double-clicked submit creates once) --------------------------

    async def claim_submission(self, key: str, user_id: str) -> bool:
        """True for the first claim of ``key``; False when it was already claimed."""
        claim = (dialect_insert(self.is_sqlite)(tables.submissions)
                 .values(key=key, at=datetime.now(UTC), user_id=user_id, state="started")
                 .on_conflict_do_nothing(index_elements=["key"]))
        return await self.write(rows_changed, claim) == 1

    async def submission(self, key: str) -> tuple[str, str | None] | None:
        """(state, result) of a claimed submission, None when unknown."""
        query = select(tables.submissions.c.state, tables.submissions.c.result).where(
            tables.submissions.c.key == key)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.state, row.result)

    async def finish_submission(self, key: str, state: str, result: str | None = None) -> None:
        await self.write(rows_changed, tables.submissions.update().where(tables.submissions.c.key == key)
                         .values(state=state, result=result))

    # --- audit ---------------------------------------------------------------------------

    async def audit(
        self,
        *,
        user_id: str,
        action: str,
        outcome: str,
        resource_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """One row of the audit log, stored when this returns. Rows asked for while a batch
        is being written share the next batch: one INSERT for all of them."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        row = (datetime.now(UTC), user_id, action, outcome, resource_id, (detail or None) and detail[:1000])
        self._audit_pending.append((row, done))
        if self._audit_writer is None or self._audit_writer.done():
            self._audit_writer = loop.create_task(self._write_audit(), name="store.audit",
                                                   context=contextvars.Context())
        await done

    async def _write_audit(self) -> None:
        while self._audit_pending:
            batch, self._audit_pending = self._audit_pending[:MAX_ROWS], self._audit_pending[MAX_ROWS:]
            await self._insert_audit(batch)

    async def _insert_audit(self, batch: list[_PendingAudit]) -> None:
        rows = [row for row, _ in batch]
        try:
            if self.appender is not None:
                await self.appender.add(_audit_sql(len(rows)),
                                        [v for at, *rest in rows for v in (_sqlite_datetime(at), *rest)])
            else:
                await self.write(_insert_audit, [dict(zip(_AUDIT_COLUMNS, row, strict=True)) for row in rows])
        except Exception as exc:
            if len(batch) > 1 and is_data_error(exc):  # one refused row must not lose the others
                for one in batch:
                    await self._insert_audit([one])
                return
            outcomes: list[BaseException | None] = [exc]
        else:
            outcomes = [None] * len(batch)
        for (_, done), error in zip(batch, outcomes, strict=True):
            if done.done():  # its caller was cancelled
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    async def recent_audit(self, limit: int = 10, user_id: str | None = None) -> list[AuditEntry]:
        t = tables.audit_log
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                AuditEntry(r.at, r.user_id, r.action, r.outcome, r.resource_id, r.detail)
                for r in rows
            ]


#: Built once: building ``insert().values(...)`` for each row cost the event loop more than
#: the row's write.
_AUDIT_INSERT = tables.audit_log.insert()
_AUDIT_COLUMNS = ("at", "user_id", "action", "outcome", "resource_id", "detail")


def _as_sqlalchemy_stores_it_on_sqlite(column: Any) -> Callable[[Any], Any]:
    """The column's values as SQLAlchemy binds them on SQLite (a datetime as its text), for
    rows written without SQLAlchemy and read back with it."""
    dialect = sqlite_dialect.dialect()
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    return process


_sqlite_datetime = _as_sqlalchemy_stores_it_on_sqlite(tables.audit_log.c.at)


_SQLITE_AUDIT_INSERT = f"INSERT INTO audit_log ({', '.join(_AUDIT_COLUMNS)})"


def _audit_sql(rows: int) -> str:
    return multi_row_sql(_SQLITE_AUDIT_INSERT, "(?, ?, ?, ?, ?, ?)", rows)


def _insert_audit(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_AUDIT_INSERT, rows)


def is_data_error(exc: Exception) -> bool:
    """The database refused the data (a constraint, a value it cannot store), as opposed
    to being unreachable or locked: retrying the rows one by one is worth it."""
    return isinstance(exc, DBAPIError) and not isinstance(
        exc, OperationalError | InterfaceError) and not exc.connection_invalidated


def rows_changed(conn: Connection, statement: Any) -> int:
    """Run one statement, for ``Store.write``: how many rows it inserted or changed."""
    return int(conn.execute(statement).rowcount)


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
