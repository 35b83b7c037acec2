"""Running CSV imports: each job's rows created one at a time at the provider's pace, each
row's outcome stored before the next is sent, the progress message kept current, and the
result file posted at the end.

Exactly once: a row is claimed (``sending``) before its create is sent and finished in the
store when the answer comes. A row found ``sending`` when a job is taken over (its replica
died), or whose create timed out or lost its connection, may have reached the provider: it
is never sent again as it is. Where the provider has a documented read (Bandwidth lists a
domain's endpoints; names are unique in a domain) it is looked up: found → created, with its
ID; not there → sent again. Where there is none (CINNOX contacts) it is ``unknown``, and the
result file says so.

A job belongs to the replica holding its lease (renewed every ``lease / 3`` s); a replica
that loses it stops after its row in flight, whose outcome write is fenced anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic
import structlog

from bot.imports import progress, result
from bot.imports.pacer import Pacer
from bot.providers.errors import ProviderError, RateLimitedError, UnavailableError
from bot.services import Services
from bot.store.imports import ImportRow, ImportStore, Job

log = structlog.get_logger(__name__)

#: Seconds a replica holds a job without renewing it (after a crash, the job waits this long).
LEASE = 10.0
#: How often the runner looks for jobs to take over (a new job wakes it at once).
SCAN_EVERY = 2.0
#: A draft nobody started is deleted (with its passwords) after this many seconds.
DRAFT_TTL = 3600.0
#: Seconds a stopping replica waits for its rows in flight.
STOP_WITHIN = 20.0
#: How long to wait when the provider could not be reached (nothing was sent).
UNREACHABLE_WAIT = 5.0


class CannotCheck(Exception):
    """The provider has no documented read to tell whether a create took effect."""


class ImportKind(Protocol):
    """What the runner needs to know of one kind of import (contacts, SIP endpoints)."""

    @property
    def name(self) -> str:
        """The job's kind: contact | sip_endpoint."""

    @property
    def provider(self) -> str:
        """cinnox | bandwidth"""

    noun: str  # "contact"
    plural: str  # "contacts"

    def validate(self, data: dict[str, Any]) -> Any:
        """The provider request for a row's data (pydantic.ValidationError when it is not one)."""

    async def create(self, services: Services, request: Any) -> str:
        """Create it; the new resource's ID."""

    async def find(self, services: Services, request: Any) -> str | None:
        """The ID of the resource a lost create may have made, None when it is not there;
        CannotCheck when the provider offers no way to tell."""


@dataclass
class _Running:
    task: asyncio.Task[None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class ImportRunner:
    def __init__(self, services: Services, kinds: dict[str, ImportKind], *, lease: float = LEASE,
                 rates: dict[str, float | None] | None = None) -> None:
        self.services = services
        self.kinds = kinds
        self.store = ImportStore(services.store)
        self.lease = lease
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"
        self.pacer = Pacer(rates or {"bandwidth": services.settings.bandwidth_rate, "cinnox": None})
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._scan(), name="imports.scan")

    def wake(self) -> None:
        """A job was started: look for it now."""
        self._wake.set()

    async def stop(self) -> None:
        """Each job stops after its row in flight; their leases are let go, so that the next
        start (or another replica) resumes them at once."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for running in self._running.values():
            running.stop.set()
        tasks = [running.task for running in self._running.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_WITHIN)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- finding jobs ----------------------------------------------------------------------------

    async def _scan(self) -> None:
        last_prune = 0.0
        while not self._closing:
            try:
                now = time.time()
                if now - last_prune > 60:
                    last_prune = now
                    await self.store.drop_drafts_before(now - DRAFT_TTL)
                for job_id in await self.store.claimable(self.owner, now):
                    if job_id not in self._running and not self._closing:
                        job = await self.store.claim(job_id, self.owner, now, now + self.lease)
                        if job is None:
                            continue
                        kind = self.kinds.get(job.kind)
                        if kind is None or self.services.provider(kind.provider) is None:
                            # Not set up on this replica: left for one where it is (or for
                            # this one once it is configured), rather than failing every row.
                            await self.store.release(job_id, self.owner)
                            continue
                        self._running[job_id] = _Running(asyncio.get_running_loop().create_task(
                            self._guarded(job), name=f"imports.job.{job_id}"))
            except Exception as exc:  # the store unreachable: look again later
                log.warning("imports.scan_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SCAN_EVERY)
            self._wake.clear()

    async def _guarded(self, job: Job) -> None:
        structlog.contextvars.bind_contextvars(import_job=job.id, import_kind=job.kind)
        stop = self._running[job.id].stop
        renewer = asyncio.get_running_loop().create_task(self._renew(job.id, stop))
        try:
            await JobRun(self, job, stop).run()
        except Exception:
            log.exception("imports.job_failed")
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.store.release(job.id, self.owner)
            self._running.pop(job.id, None)

    async def _renew(self, job_id: str, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                if not await self.store.renew(job_id, self.owner, time.time() + self.lease):
                    log.warning("imports.lease_lost")
                    stop.set()
                    return
            except Exception as exc:  # a store hiccup: the lease still has two thirds left
                log.warning("imports.renew_failed", error=type(exc).__name__)


class JobRun:
    """One replica's run of one job, from where the store says it stands."""

    def __init__(self, runner: ImportRunner, job: Job, stop: asyncio.Event) -> None:
        self.runner, self.job, self.stop = runner, job, stop
        self.services = runner.services
        self.store = runner.store
        self.kind = runner.kinds[job.kind]
        self.progress = progress.Progress(self.services, self.store, job, self.kind,
                                          lambda: len(runner._running))

    async def run(self) -> None:
        job = self.job
        if job.state == "running":
            await self.progress.show()
            for row in await self.store.rows(job.id, "sending"):
                await self._settle_uncertain(row)
            finished = await self._rows()
            if not finished:
                return  # stopping or lost the lease: the next owner carries on
        await self._finish()

    async def _rows(self) -> bool:
        """Create ready rows until none is left (True), or until told to stop (False)."""
        while not self.stop.is_set():
            job = await self.store.job(self.job.id)
            if job is None or job.state != "running":
                return True
            if job.cancelled_by:
                await self.store.finish(job.id, "cancelled", time.time())
                return True
            (row,) = await self.store.rows(job.id, "ready", limit=1) or (None,)
            if row is None:
                await self.store.finish(job.id, "done", time.time())
                return True
            await self.runner.pacer.wait(self.kind.provider)
            claimed = await self.store.claim_row(row)
            if claimed is not None:
                await self._send(claimed)
                await self.progress.tick()
        return False

    async def _send(self, row: ImportRow) -> None:
        try:
            request = self.kind.validate(row.request_data())
        except pydantic.ValidationError as exc:  # a model changed since the preview
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            await self.store.finish_row(row, "failed", time.time(), error=f"{where}: {first['msg']}.")
            return
        try:
            new_id = await self.kind.create(self.services, request)
        except RateLimitedError as exc:
            self.runner.pacer.hold(self.kind.provider, exc.retry_after or UNREACHABLE_WAIT)
            await self.store.unclaim_row(row)
        except UnavailableError as exc:
            if _nothing_sent(exc):
                self.runner.pacer.hold(self.kind.provider, UNREACHABLE_WAIT)
                await self.store.unclaim_row(row)
            else:
                log.info("imports.create_uncertain", row=row.row_no, status=exc.status)
                await self._settle_uncertain(row, request)
        except ProviderError as exc:
            await self.store.finish_row(row, "failed", time.time(), error=said(exc))
        except Exception:
            log.exception("imports.create_failed", row=row.row_no)
            await self.store.finish_row(row, "failed", time.time(),
                                        error="Something went wrong inside the bot; its log has the details.")
        else:
            await self.store.finish_row(row, "created", time.time(), resource_id=new_id)

    async def _settle_uncertain(self, row: ImportRow, request: Any = None) -> None:
        """A create that may have reached the provider: look it up, never send it blindly."""
        try:
            request = request if request is not None else self.kind.validate(row.request_data())
            await self.runner.pacer.wait(self.kind.provider)
            found = await self.kind.find(self.services, request)
        except CannotCheck:
            await self.store.finish_row(row, "unknown", time.time(), error=(
                f"The bot lost {_title(self.kind.provider)}'s answer, and {_title(self.kind.provider)} "
                f"has no way to look it up: check whether it was created before importing this row again."))
            return
        except (ProviderError, pydantic.ValidationError) as exc:
            log.info("imports.check_failed", row=row.row_no, error=type(exc).__name__)
            await self.store.finish_row(row, "unknown", time.time(), error=(
                f"The bot lost {_title(self.kind.provider)}'s answer and could not look it up: "
                f"check whether it was created before importing this row again."))
            return
        if found is not None:
            await self.store.finish_row(row, "created", time.time(), resource_id=found)
        else:  # it is not there: the create never took effect
            await self.store.unclaim_row(row)

    async def _finish(self) -> None:
        job = await self.store.job(self.job.id)
        if job is None or job.result_posted:
            return
        rows = await self.store.rows(job.id)
        await self.progress.final(job, rows)
        if await result.post(self.services, job, rows, self.kind):
            await self.store.result_posted(job.id)


def said(exc: ProviderError) -> str:
    """The provider's own words, as one sentence for the result file."""
    message = exc.message.strip()
    return f"{exc.provider_title} said: {message}{'' if message.endswith(('.', '!', '?')) else '.'}"


def _nothing_sent(exc: UnavailableError) -> bool:
    """The connection was refused: the request never left."""
    return exc.status is None and exc.message.startswith("could not connect")


def _title(provider: str) -> str:
    return {"cinnox": "CINNOX", "bandwidth": "Bandwidth"}.get(provider, provider)

