"""Running ``python -m bot`` as a separate process, as an operator (or a crash) would."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def bot_env(**values: str) -> dict[str, str]:
    """A clean environment: no stray SLACK_/CINNOX_/... variables from the machine."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_serve(cwd: Path, port: int, log: Path | None = None, **env: str) -> asyncio.subprocess.Process:
    """``python -m bot serve`` on ``port``, returned once /readyz answers 200. Its output
    goes to ``log`` (appended) when given: a pipe nobody reads would stall a busy bot."""
    output: Any = asyncio.subprocess.PIPE if log is None else log.open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=cwd,
        env=bot_env(HOST="127.0.0.1", PORT=str(port), LOG_FORMAT="json", **env),
        stdout=output, stderr=output)
    if log is not None:
        output.close()  # the child has its own copy
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientConnectionError:
                pass
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
    proc.kill()
    _, err = await proc.communicate()
    pytest.fail(f"serve never became ready:\n{(err.decode() if log is None else tail(log))[-2000:]}")


def tail(log: Path, size: int = 2000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else ""
