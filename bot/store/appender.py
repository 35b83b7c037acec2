"""Rows appended to a SQLite file by a connection and a thread of their own: a batch of
rows is one multi-row INSERT, one step of SQLite in autocommit, so a batch costs the event
loop one hand-over, queued behind the store's writer lock as every other write is.

Not ``Store.write``: its SQLAlchemy transaction (check-out, BEGIN, a savepoint and an
``execute`` per write, COMMIT) holds the GIL in the writer thread, time the event loop waits
for. Under wrk the webhook ingest served ~20% more this way, and contact view submissions
(each with its audit row, rows of submissions made together sharing a statement) ~15% more.
SQLite's own checkpoints (every ~4 MB of WAL) run in this thread after a commit: beside a
steady stream of writes they would never catch up, and the WAL would grow without bound.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any

import sqlalchemy.exc

#: Rows per statement (the callers' batches are cut to it).
MAX_ROWS = 256
#: Statements kept prepared: each batch size of a few INSERTs
_STATEMENTS = 4 * MAX_ROWS


@functools.lru_cache(maxsize=_STATEMENTS)
def multi_row_sql(insert: str, row: str, rows: int, tail: str = "") -> str:
    """``insert VALUES row, row, … tail`` with ``rows`` rows: one statement per batch size,
    each prepared once (the appender's connection keeps them all)."""
    return f"{insert} VALUES {', '.join([row] * rows)} {tail}".rstrip()


class SqliteAppender:
    def __init__(self, path: str, writer: Callable[[], AbstractAsyncContextManager[None]],
                 on_connect: Callable[[sqlite3.Connection, Any], None]) -> None:
        self.path = path
        self.writer = writer
        self.on_connect = on_connect
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="store-append")
        self._conn: sqlite3.Connection | None = None

    async def add(self, sql: str, values: list[Any]) -> None:
        """Run ``sql`` (from ``multi_row_sql``) with ``values``, every row's in order; an
        error is raised as SQLAlchemy would raise it (callers tell data errors apart)."""
        loop = asyncio.get_running_loop()
        async with self.writer():
            try:
                await loop.run_in_executor(self._thread, self._write, sql, values)
            except sqlite3.Error as exc:
                raise sqlalchemy.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    def _write(self, sql: str, values: list[Any]) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None,
                                         cached_statements=_STATEMENTS)
            self.on_connect(self._conn, None)
        self._conn.execute(sql, values)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown()
