"""Keeps the directory's copy of CINNOX's staff list (names for the EIDs in call events)
fresh: read in the background, never while a call is being delivered. It is read once at
start (so that each staff member's first call already shows their name), then whenever a
call names a staff member the copy does not know, at most once a minute, and at least once
per TTL. The minute holds for failed reads too: a list CINNOX refuses (404, say) is not
asked for again for every call; after a failure it is read again after a minute, then
after two, four, ... (at most the TTL)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from bot.providers.cinnox import MAX_STAFF_PAGE
from bot.services import Services
from bot.store.directory import StaffMember

log = structlog.get_logger(__name__)

#: Seconds the copy is trusted; also how often it is read again.
STAFF_TTL = 3600.0
#: The soonest the list is read again after a read.
MIN_INTERVAL = 60.0
#: Pages read at most (500 staff a page).
MAX_PAGES = 40


class StaffSync:
    def __init__(self, services: Services, ttl: float = STAFF_TTL) -> None:
        self.services = services
        self.ttl = ttl
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._asked_at = 0.0  # when this replica last asked CINNOX (answered or not)

    def start(self) -> None:
        if self.services.cinnox is not None:
            self.services.directory.on_unknown_staff = self.refresh_soon
            self._task = asyncio.get_running_loop().create_task(self._run(), name="staff_sync")

    def refresh_soon(self) -> None:
        """Read the list again now (an EID the copy does not know turned up)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        wait: float | None = 0.0  # at once: the first read is at start
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            self._wake.clear()
            try:
                last = max(self._asked_at, await self.services.directory.staff_refreshed_at() or 0.0)
                if time.time() - last < MIN_INTERVAL:  # asked for too soon: once the minute is up
                    wait = last + MIN_INTERVAL - time.time()
                    continue
                self._asked_at = time.time()  # before asking: a failure counts as a read
                await self.refresh()
                failures, wait = 0, self.ttl
            except Exception as exc:  # CINNOX or the store unreachable: the old copy serves
                failures += 1
                wait = min(self.ttl, MIN_INTERVAL * 2 ** (failures - 1))
                log.warning("staff_sync.failed", error=type(exc).__name__, retry_in=round(wait))

    async def refresh(self) -> int:
        """Read every page of the staff list and replace the copy; returns how many."""
        cinnox = self.services.cinnox
        assert cinnox is not None
        members: list[StaffMember] = []
        for page in range(MAX_PAGES):
            staff = await cinnox.list_staff(limit=MAX_STAFF_PAGE, offset=page * MAX_STAFF_PAGE)
            for s in staff:
                name = s.display_name or " ".join(filter(None, [s.first_name, s.last_name])) or s.id
                members.append(StaffMember(s.id, name, s.extension_number))
            if len(staff) < MAX_STAFF_PAGE:
                break
        count = await self.services.directory.replace_staff(members, time.time())
        log.info("staff_sync.refreshed", staff=count)
        return count
