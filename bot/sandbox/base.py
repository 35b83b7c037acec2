"""What every local stand-in shares: serving on loopback, recording, fault injection.

A subclass adds its routes in ``setup_routes``. Faults apply before the route runs:
``inject`` queues exact answers for the next matching requests, ``fail_ratio`` answers a
random share of requests with 429 / 500, ``latency`` delays every (or one path's) answer.
A 5xx fault can also come *after* the route ran (``after=True``, or ``fail_after`` of the
random ones): the request took effect but the client saw an error, as when a server
fails while answering.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, form dict, or raw text

    def json(self) -> Any:
        return self.body


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path_prefix: str = ""
    remaining: int = 1
    delay: float = 0.0  # seconds to wait before answering (a timeout, seen from the client)
    after: bool = False  # answer so only once the route has done its work


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeService:
    """Base of every simulator and emulator here."""

    name = "service"

    def __init__(self, *, seed: int | None = None) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self.latency: float = 0.0
        self.path_latency: dict[str, float] = {}
        self.fail_ratio: float = 0.0
        self.fail_statuses: tuple[int, ...] = (429, 500)
        #: the share of random 5xx (and 200-with-an-error) faults that strike after the route ran
        self.fail_after: float = 0.0
        self._random = random.Random(seed)
        self.app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024**2)
        self.setup_routes(self.app.router)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- to override -------------------------------------------------------------------
    def setup_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def fault_response(self, fault: Fault) -> web.StreamResponse:
        """How an injected fault looks in this service's error shape."""
        body = fault.body if fault.body is not None else {"error": f"injected {fault.status}"}
        return web.json_response(body, status=fault.status, headers=fault.headers)

    def random_fault(self, status: int) -> Fault:
        headers = {"Retry-After": "1"} if status == 429 else {}
        return Fault(status=status, headers=headers)

    # --- fault injection ---------------------------------------------------------------
    def inject(
        self,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        path_prefix: str = "",
        count: int = 1,
        delay: float = 0.0,
        after: bool = False,
    ) -> None:
        self._faults.append(Fault(status, body, dict(headers or {}), path_prefix, count, delay, after))

    def clear_faults(self) -> None:
        self._faults.clear()
        self.fail_ratio = 0.0
        self.fail_after = 0.0
        self.latency = 0.0
        self.path_latency.clear()

    def calls(self, path_suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    # --- serving -----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server: Any = site._server
        bound = server.sockets[0].getsockname()
        self.url = f"http://{host}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._record(request)
        delay = self.path_latency.get(request.path, self.latency)
        for prefix, seconds in self.path_latency.items():
            if request.path.startswith(prefix):
                delay = seconds
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault(request.path)
        if fault is None:
            return await handler(request)
        if fault.after:
            await handler(request)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        return self.fault_response(fault)

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if path.startswith(fault.path_prefix) or fault.path_prefix in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        if self.fail_ratio and self._random.random() < self.fail_ratio:
            fault = self.random_fault(self._random.choice(self.fail_statuses))
            failed_inside = fault.status >= 500 or fault.status == 200  # 200: an error in the body
            fault.after = failed_inside and self._random.random() < self.fail_after
            return fault
        return None

    async def _record(self, request: web.Request) -> None:
        raw = await request.read()
        body: Any = None
        if raw:
            ctype = request.content_type
            if ctype == "application/x-www-form-urlencoded":
                body = dict((await request.post()).items())
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
