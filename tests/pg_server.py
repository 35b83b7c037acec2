"""A private PostgreSQL server for one test: its own data directory and port, so the test
may stop and start it (a crash, a restart) without touching the machine's shared server.

It needs PostgreSQL's server programs (``initdb``, ``pg_ctl``), which ``bash .ci/run``
installs. PostgreSQL refuses to run as root: under root the server runs as the
``postgres`` user, in a directory it owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.processes import free_port

SERVER_USER = "postgres"


def server_programs() -> Path | None:
    """The folder holding initdb and pg_ctl: PG_BINDIR, the PATH, or Debian's layout."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class PostgresServer:
    def __init__(self, bindir: Path, folder: Path, port: int, as_user: list[str]) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self._as_user = as_user

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    async def _run(self, program: str, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self._as_user, str(self.bindir / program), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            log = (self.folder / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{out.decode(errors='replace')}\n{tail}")

    async def init(self) -> None:
        await self._run("initdb", "-D", str(self.data), "-U", SERVER_USER, "--auth=trust",
                        "-E", "UTF8", "--no-sync", "--no-instructions")

    async def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.folder} -c fsync=off -c max_connections=100")
        await self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60",
                        "-l", str(self.folder / "server.log"), "-o", options)

    async def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: as if the server crashed (the next
        start recovers from its write-ahead log)."""
        await self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", "60", "-m", mode)


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PostgresServer]:
    """A running private server, stopped and deleted afterwards. Skipped (failed under
    REQUIRE_POSTGRES) when PostgreSQL's server programs are not installed."""
    bindir = server_programs()
    if bindir is None:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("REQUIRE_POSTGRES is set but initdb / pg_ctl are not installed")
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("running as root needs runuser to start PostgreSQL as its own user")
        shutil.chown(folder, SERVER_USER, SERVER_USER)
        as_user = [runuser, "-u", SERVER_USER, "--"]
    server = PostgresServer(bindir, folder, free_port(), as_user)
    try:
        await server.init()
        await server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            await server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
