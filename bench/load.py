"""A load generator in its own process (so it does not share the servers' event loop).

Reads one JSON job on stdin, prints one JSON result on stdout:
  {"url", "requests": [{"body", "headers"}...], "mode": "closed"|"open",
   "concurrency", "duration", "rate"}
closed: ``concurrency`` clients send back-to-back for ``duration`` s (throughput).
open: requests start at a fixed ``rate`` per second for ``duration`` s, whatever the
answers do (latency at a steady rate, no coordinated omission).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

import aiohttp


async def _one(session: aiohttp.ClientSession, url: str, req: dict[str, Any],
               latencies: list[float], statuses: dict[int, int]) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, data=req["body"].encode(), headers=req["headers"]) as resp:
            await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
    except aiohttp.ClientError:
        statuses[0] = statuses.get(0, 0) + 1
        return
    latencies.append(time.perf_counter() - started)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    url, requests = job["url"], job["requests"]
    cycle = itertools.cycle(requests)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for req in requests[: job.get("warmup", 20)]:  # warm up connections and the server
            await _one(session, url, req, [], {})
        started = time.perf_counter()
        deadline = started + job["duration"]
        budget = job.get("limit") or 10**12  # total requests, across clients
        if job["mode"] == "closed":
            async def client() -> None:
                nonlocal budget
                while time.perf_counter() < deadline and budget > 0:
                    budget -= 1
                    await _one(session, url, next(cycle), latencies, statuses)

            await asyncio.gather(*(client() for _ in range(job["concurrency"])))
        else:
            interval = 1.0 / job["rate"]
            tasks = []
            n = 0
            while True:
                due = started + n * interval
                if due >= deadline:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(_one(session, url, next(cycle), latencies, statuses)))
                n += 1
            await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {"count": len(latencies), "elapsed": elapsed, "latencies": latencies,
            "statuses": {str(k): v for k, v in statuses.items()}}


if __name__ == "__main__":
    result = asyncio.run(run(json.load(sys.stdin)))
    json.dump(result, sys.stdout)
