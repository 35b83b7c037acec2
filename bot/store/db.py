"""Opening the store, and the small operations the runtime needs (settings, audit).

The relay's outbox operations live in ``bot/store/outbox.py``."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, select, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.store import migrations, tables

#: Seconds to wait for PostgreSQL to accept a connection.
CONNECT_TIMEOUT = 5.0


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
    async with store.transaction() as conn:
        await conn.execute(statement)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user_id: str
    action: str
    outcome: str
    resource_id: str | None
    detail: str | None


class _SqliteBatches:
    """Small writes on a SQLite file (a submission's claim and outcome, an audit row), done
    together: whatever waits while the writer is busy goes in the next transaction, on a
    connection of its own in a thread of its own. A batch costs the event loop one
    hand-over and SQLite one commit; through aiosqlite and SQLAlchemy each write costs
    several (check-out, execute, commit, reset), each waiting its turn on a busy loop. A
    write's caller resumes once its batch is committed."""

    def __init__(self, path: str, store: Store) -> None:
        self.path = path
        self.store = store
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="store-writes")
        self._conn: sqlite3.Connection | None = None
        self._waiting: list[tuple[str, tuple[Any, ...], asyncio.Future[int]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def execute(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement in the next batch; its rowcount once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._waiting.append((sql, params, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self.store.writer():
                    results = await loop.run_in_executor(
                        self._thread, self._write, [(sql, params) for sql, params, _ in batch])
            except asyncio.CancelledError:
                for _, _, done in batch:
                    done.cancel()
                raise
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(_as_sqlalchemy(exc))
                continue
            for (_, _, done), result in zip(batch, results, strict=True):
                if done.done():  # its caller gave up waiting; the write stands
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(_as_sqlalchemy(result))
                else:
                    done.set_result(result)

    def _write(self, batch: list[tuple[str, tuple[Any, ...]]]) -> list[int | BaseException]:
        conn = self._connection()
        try:
            with conn:  # one transaction: committed, or rolled back on an error
                return [conn.execute(sql, params).rowcount for sql, params in batch]
        except sqlite3.Error:
            if len(batch) == 1:
                raise
        # One statement failed, so none was kept: each again on its own, for its own outcome.
        out: list[int | BaseException] = []
        for sql, params in batch:
            try:
                with conn:
                    out.append(conn.execute(sql, params).rowcount)
            except sqlite3.Error as exc:
                out.append(exc)
        return out

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            sqlite_pragmas(self._conn, None)
        return self._conn

    async def close(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown()


def _as_sqlalchemy(exc: BaseException) -> BaseException:
    """A driver error as SQLAlchemy raises it (callers catch IntegrityError and the like)."""
    if isinstance(exc, sqlite3.Error):
        return DBAPIError.instance(None, None, exc, sqlite3.Error)
    return exc


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        path = engine.url.database if self.is_sqlite and not engine.url.query else None
        self._batches = _SqliteBatches(path, self) if path and path != ":memory:" else None
        self._at = _bind(tables.audit_log.c.at.type, engine.dialect)

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
        if self._batches is not None:
            await self._batches.close()
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
        if self._batches is not None:
            return await self._batches.execute(
                "INSERT INTO submissions (key, at, user_id, state) VALUES (?, ?, ?, 'started') "
                "ON CONFLICT (key) DO NOTHING", (key, self._at(datetime.now(UTC)), user_id)) == 1
        try:
            async with self.transaction() as conn:
                await conn.execute(tables.submissions.insert().values(
                    key=key, at=datetime.now(UTC), user_id=user_id, state="started"))
        except IntegrityError:
            return False
        return True

    async def submission(self, key: str) -> tuple[str, str | None] | None:
        """(state, result) of a claimed submission, None when unknown."""
        query = select(tables.submissions.c.state, tables.submissions.c.result).where(
            tables.submissions.c.key == key)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.state, row.result)

    async def finish_submission(self, key: str, state: str, result: str | None = None) -> None:
        if self._batches is not None:
            await self._batches.execute("UPDATE submissions SET state = ?, result = ? WHERE key = ?",
                                        (state, result, key))
            return
        async with self.transaction() as conn:
            await conn.execute(tables.submissions.update().where(tables.submissions.c.key == key)
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
        detail = (detail or None) and detail[:1000]
        if self._batches is not None:
            await self._batches.execute(
                "INSERT INTO audit_log (at, user_id, action, outcome, resource_id, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self._at(datetime.now(UTC)), user_id, action, outcome, resource_id, detail))
            return
        async with self.transaction() as conn:
            await conn.execute(
                tables.audit_log.insert().values(
                    at=datetime.now(UTC),
                    user_id=user_id,
                    action=action,
                    outcome=outcome,
                    resource_id=resource_id,
                    detail=detail,
                )
            )

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


def _bind(column_type: Any, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy would store a value of ``column_type`` (SQLite: a datetime as text)."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
