"""What every bench shares: running the load generator in its own process, percentiles,
and printing figures as ratios against a baseline measured in the same run."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class LoadResult:
    count: int
    elapsed: float
    latencies: list[float]
    statuses: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, int(p * 10) - 1)]


async def load(url: str, requests: list[dict[str, Any]], *, mode: str, duration: float,
               concurrency: int = 50, rate: float = 200.0, limit: int | None = None,
               warmup: int = 20) -> LoadResult:
    """Run bench/load.py in a separate process against ``url``."""
    job = {"url": url, "requests": requests, "mode": mode, "duration": duration,
           "concurrency": concurrency, "rate": rate, "limit": limit, "warmup": warmup}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(json.dumps(job).encode())
    data = json.loads(out)
    return LoadResult(data["count"], data["elapsed"], data["latencies"], data["statuses"])


@asynccontextmanager
async def serving(path: str, handler: Handler) -> AsyncIterator[str]:
    """A one-route aiohttp server on loopback (a baseline); yields the route's URL."""
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def figure(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    print(f"  {name:<58} {value:>16}   {target}{verdict}", flush=True)


def heading(title: str) -> None:
    print(f"\n== {title}", flush=True)
