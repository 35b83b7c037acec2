"""A fresh, empty PostgreSQL database on a given server, dropped afterwards: what the store
tests and the bench run the bot against."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def temporary_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """Create ``<prefix>_<random>`` on the server of ``server_url`` (a role with CREATEDB) and
    yield its URL; drop it (closing its connections) on the way out."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await _drop(admin, name)
        finally:
            await admin.close()


async def _drop(admin: Any, name: str, tries: int = 50) -> None:
    """DROP … WITH (FORCE) ends our own sessions, but a role without pg_signal_backend may
    not end an autovacuum worker that came to the new database: it leaves within moments,
    so the drop is tried again (a bounded number of times)."""
    import asyncpg

    for attempt in range(tries):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.1)
