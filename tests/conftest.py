"""Shared fixtures: the sandbox stack on loopback, and a real PostgreSQL database when one
is available (CI always provides one: REQUIRE_POSTGRES=1)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.postgres import temporary_database
from bot.sandbox.stack import SandboxStack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SandboxStack]:
    async with SandboxStack(tmp_path) as running:
        yield running


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    async with fresh_postgres_database() as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not")
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (bash .ci/run does)")
    async with temporary_database(base, "bot_test") as url:
        yield url
