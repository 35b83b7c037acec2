"""Several replicas on one PostgreSQL: two ``python -m bot serve`` processes share one
database, as a Procfile ``web`` scaled to two would. CINNOX's events reach them through a
load balancer; one replica is killed (SIGKILL) mid-burst; PostgreSQL itself restarts
mid-burst. Every event acknowledged reaches Slack exactly once, threaded in its channel.

The two-process run prints its figures (``pytest -s``) and appends them as a JSON line to
the file named by REPLICA_FIGURES, when set."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.relay.messages import event_ids_in, rollup_block_id
from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.slack_user import SlackUser
from tests.flow import eventually, eventually_async
from tests.pg_server import private_postgres
from tests.processes import free_port, start_serve, tail

pytestmark = pytest.mark.slow

TOKEN = "replicas-webhook-token"
SECRET = "replicas-signing-secret"
BOT_TOKEN = "xoxb-replicas"
DEFAULT_CHANNEL = "C0DEFAULT"
TAKEOVER_BOUND = 10.0  # seconds: the promise for a dead replica's deliveries


# --- the pieces: replicas, CINNOX behind a load balancer, what Slack shows --------------------

@dataclass
class Replica:
    name: str
    port: int
    log: Path
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, cwd: Path) -> None:
        self.proc = await start_serve(cwd, self.port, log=self.log, **self.env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def user(self, slack: SlackEmulator, http: aiohttp.ClientSession, user_id: str) -> SlackUser:
        return SlackUser(f"{self.url}/slack/events", SECRET, slack, http, user_id=user_id)


@contextlib.asynccontextmanager
async def replicas(tmp_path: Path, slack: SlackEmulator, database_url: str, count: int = 2
                   ) -> AsyncIterator[list[Replica]]:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": slack.url + "/api/", "CALL_EVENTS_CHANNEL": DEFAULT_CHANNEL,
           "CINNOX_WEBHOOK_TOKEN": TOKEN, "RELAY_CHANNEL_RATE": "100", "SLACK_UPDATE_PER_MINUTE": "6000",
           "CALL_END_GRACE_SECONDS": "300", "DATABASE_URL": database_url}
    # These tests are about replicas, not Slack's limits: their workspace takes what the
    # replicas are told they may send (the emulator's own limits have their own tests).
    slack.limits.set_rate("chat.postMessage", 100.0, 100.0)
    slack.limits.set_rate("chat.update", 100.0, 100.0)
    started = [Replica(name, free_port(), tmp_path / f"{name}.log", env) for name in "AB"[:count]]
    try:
        await asyncio.gather(*(r.start(tmp_path) for r in started))  # both migrate at once
        yield started
    except BaseException:
        for r in started:  # what each replica said, to see why
            print(f"--- replica {r.name} log tail ---\n{tail(r.log, 3000)}")
        raise
    finally:
        await asyncio.gather(*(r.stop() for r in started))


@dataclass
class Cinnox:
    """CINNOX sending call events through a load balancer: each request goes to the next
    replica in turn; one that cannot be reached or answers 503 gets the event sent again
    (after its Retry-After) to the next. An event counts as acknowledged on its 200."""

    http: aiohttp.ClientSession
    targets: list[Replica]
    acked: int = 0
    failed_over: int = 0  # requests a dead replica did not answer
    retry_after: list[str | None] = field(default_factory=list)  # one per 503
    _turn: itertools.count = field(default_factory=itertools.count)

    async def send(self, body: dict[str, Any]) -> None:
        while True:
            replica = self.targets[next(self._turn) % len(self.targets)]
            try:
                async with self.http.post(f"{replica.url}/webhooks/cinnox/{TOKEN}", json=body) as resp:
                    if resp.status == 200:
                        self.acked += 1
                        return
                    assert resp.status == 503, f"{resp.status}: {await resp.text()}"
                    self.retry_after.append(resp.headers.get("Retry-After"))
                    await asyncio.sleep(float(resp.headers.get("Retry-After") or 1))
            except aiohttp.ClientError:
                self.failed_over += 1

    async def send_all(self, bodies: list[dict[str, Any]], concurrency: int = 8) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)

        async def worker() -> None:
            while not queue.empty():
                await self.send(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def burst(calls: list[tuple[str, str]], duplicates: int, seed: int) -> list[dict[str, Any]]:
    """Each call's CallStart then, a little later, its CallEnd (the two interleaved across
    calls, as live traffic is), and ``duplicates`` of them sent again later (CINNOX retries)."""
    rng = random.Random(seed)
    timed: list[tuple[float, dict[str, Any]]] = []
    for n, (call, service) in enumerate(calls):
        timed.append((n, call_start(call, service)))
        timed.append((n + rng.uniform(0.5, 12), call_end(call, service)))
    timed += [(at + rng.uniform(1, 40), body) for at, body in rng.sample(timed, duplicates)]
    return [body for _, body in sorted(timed, key=lambda pair: pair[0])]


def event_id(message: Any) -> str | None:
    return (message.metadata or {}).get("event_payload", {}).get("event_id")


def posted_events(slack: SlackEmulator) -> collections.Counter[str]:
    """Every event each post shows: a call's own message or reply one, a roll-up (or its
    thread reply) each of its calls'."""
    return collections.Counter(e for m in slack.all_posts() for e in event_ids_in({"metadata": m.metadata}))


def shown_ended(message: Any, call: str) -> bool:
    """The call's line in a roll-up, or its own message, shows it ended."""
    line = [b for b in message.blocks if b.get("block_id") == rollup_block_id(call)]
    return "ringing or in progress" not in str(line or message.blocks)


def threads_complete(slack: SlackEmulator, calls: list[tuple[str, str]], channel_of: dict[str, str]) -> bool:
    """Every call is shown in its channel (its own message, or a roll-up's line), ended."""
    tops = {e: m for m in slack.all_posts() if m.thread_ts in (None, m.ts)
            for e in event_ids_in({"metadata": m.metadata})}
    for call, service in calls:
        top = tops.get(f"{call}:CallStart")
        if top is None or top.channel != channel_of[service] or not shown_ended(top, call):
            return False
    return True


def assert_each_event_once_in_its_thread(slack: SlackEmulator, calls: list[tuple[str, str]],
                                         channel_of: dict[str, str]) -> tuple[int, int]:
    """(posted twice, lost): both must be 0. A call is shown once, in one top-level message
    (its own, or a roll-up's line), ended; its end, when posted (a reply in per-call mode, a
    roll-up's thread reply when Slack's edits were spent), is posted once, in that thread."""
    posted = posted_events(slack)
    starts = {f"{call}:CallStart" for call, _ in calls}
    twice = sum(n - 1 for n in posted.values() if n > 1)
    lost = len(starts - set(posted))
    assert twice == 0, f"posted more than once: {[e for e, n in posted.items() if n > 1][:10]}"
    assert lost == 0, f"never posted: {sorted(starts - set(posted))[:10]}"
    for call, service in calls:
        [top] = [m for m in slack.all_posts() if f"{call}:CallStart" in event_ids_in({"metadata": m.metadata})]
        assert top.channel == channel_of[service] and top.thread_ts is None
        assert shown_ended(top, call), f"{call} never shown ended"
        for reply in slack.thread(top.channel, top.ts):
            assert set(event_ids_in({"metadata": reply.metadata})) <= {
                f"{c}:CallEnd" for c, _ in calls}, "a thread holds its calls' ends only"
    return twice, lost


async def outbox_rows(database_url: str, keys: list[str] | None = None) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        if keys is None:
            return await conn.fetch("SELECT event_key, state, attempts FROM outbox WHERE state = 'sending'")
        return await conn.fetch("SELECT event_key, state, attempts FROM outbox WHERE event_key = ANY($1)", keys)
    finally:
        await conn.close()


def record_figures(figures: dict[str, Any]) -> None:
    print("\nreplica figures: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    target = os.environ.get("REPLICA_FIGURES")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps(figures) + "\n")


# --- the tests ---------------------------------------------------------------------------------

async def test_a_replica_killed_mid_burst_loses_and_duplicates_nothing(pg_url: str, tmp_path: Path) -> None:
    """1,000 events for 500 calls over 10 services and 5 channels, plus 100 duplicates,
    sent alternately to two replicas; A is SIGKILLed half-way and restarted later."""
    channels = [f"C0CALLS{n}" for n in range(5)]
    services = [f"svc-{n}" for n in range(10)]
    channel_of = {service: channels[n % 5] for n, service in enumerate(services)}
    calls = [(f"call-{n:03d}", services[n % 10]) for n in range(500)]
    bodies = burst(calls, duplicates=100, seed=14)

    async with SlackEmulator(bot_token=BOT_TOKEN) as slack, aiohttp.ClientSession() as http:
        # Slack takes a moment to post: the killed replica has posts in flight, some of
        # which land after it died, unknown to it. Its successor must find them.
        slack.path_latency["/api/chat.postMessage"] = 0.05
        async with replicas(tmp_path, slack, pg_url) as (a, b):
            # Routes set through either replica apply on both, at once.
            for n, service in enumerate(services):
                replica = (a, b)[n % 2]
                reply = await replica.user(slack, http, "U0OPS").command(
                    "/call-events", f"route {service} {channel_of[service]}")
                assert reply.status == 200 and "now go to" in reply.text, reply.text

            cinnox = Cinnox(http, [a, b])
            burst_started = time.monotonic()
            sending = asyncio.create_task(cinnox.send_all(bodies))
            await eventually(lambda: cinnox.acked >= len(bodies) // 2 or sending.done(), timeout=120)

            async def a_has_work_in_hand() -> bool:  # B holds at most one per channel
                return len(await outbox_rows(pg_url)) > len(channels) or sending.done()

            await eventually_async(a_has_work_in_hand, timeout=30)
            assert not sending.done(), "the burst ended before the kill: nothing proved"
            a.kill()
            killed_at = time.monotonic()
            acked_at_kill = cinnox.acked
            held = {row["event_key"]: row["attempts"] for row in await outbox_rows(pg_url)}
            await a.proc.wait()  # type: ignore[union-attr]

            # Each delivery in hand at the kill is finished by B (its own) or taken over
            # by B (A's: claimed again, a higher attempt), within the bound.
            taken_over: dict[str, float] = {}

            async def settled() -> bool:
                rows = await outbox_rows(pg_url, list(held))
                for row in rows:
                    if row["attempts"] > held[row["event_key"]]:
                        taken_over.setdefault(row["event_key"], time.monotonic() - killed_at)
                return all(row["event_key"] in taken_over or row["state"] == "done" for row in rows)

            await eventually_async(settled, timeout=TAKEOVER_BOUND - (time.monotonic() - killed_at))
            assert taken_over, "A held no delivery when it was killed: nothing proved"

            await a.start(tmp_path)  # A comes back and shares the rest of the work
            restarted_at = time.monotonic() - killed_at
            await asyncio.wait_for(sending, 240)
            await eventually(lambda: threads_complete(slack, calls, channel_of), timeout=240)
            completed_at = time.monotonic()
            await asyncio.sleep(0.5)  # a late duplicate would show up now

        twice, lost = assert_each_event_once_in_its_thread(slack, calls, channel_of)
        assert cinnox.acked == len(bodies)
        record_figures({
            "test": "replica_killed", "events": len(calls) * 2, "duplicates_sent": len(bodies) - len(calls) * 2,
            "requests_acked": cinnox.acked, "acked_at_kill": acked_at_kill,
            "kill_at_s": round(killed_at - burst_started, 1),
            "failed_over": cinnox.failed_over, "held_by_dead": len(taken_over),
            "takeover_s": round(max(taken_over.values()), 2), "restarted_after_s": round(restarted_at, 1),
            "all_in_slack_after_s": round(completed_at - burst_started, 1),
            "posted_twice": twice, "lost": lost,
        })


async def test_both_replicas_serve_slack_from_one_store(pg_url: str, tmp_path: Path) -> None:
    """A route set on one replica is listed, audited and applied by the other at once."""
    async with SlackEmulator(bot_token=BOT_TOKEN) as slack, aiohttp.ClientSession() as http:
        async with replicas(tmp_path, slack, pg_url) as (a, b):
            ann, bo = a.user(slack, http, "U0ANN"), b.user(slack, http, "U0BO")
            assert (await ann.command("/call-events", "route svc-ann C0ANN")).status == 200
            # At once, a call of Ann's service reaches B: it goes to Ann's channel.
            cinnox = Cinnox(http, [b])
            await cinnox.send(call_start("call-1", "svc-ann"))
            assert (await bo.command("/call-events", "route svc-bo C0BO")).status == 200

            for user in (ann, bo):  # each replica lists both routes
                await user.command("/call-events", "routes")
                listed = await eventually(lambda u=user: u.responses())
                assert "svc-ann` → <#C0ANN>" in listed[0]["text"]
                assert "svc-bo` → <#C0BO>" in listed[0]["text"]

            # Each person's App Home, opened on the other replica, shows what they did on theirs.
            elsewhere = ((b.user(slack, http, "U0ANN"), "svc-ann"), (a.user(slack, http, "U0BO"), "svc-bo"))
            for user, service in elsewhere:
                await user.open_home()
                home = await eventually(lambda u=user: slack.home_views.get(u.user_id))
                actions = [e.get("text", "") for block in home["blocks"] for e in block.get("elements", [])]
                assert any(f"Routed the calls of `{service}`" in t for t in actions), actions

            [parent] = await eventually(
                lambda: [m for m in slack.all_posts() if event_id(m) == "call-1:CallStart"])
            assert parent.channel == "C0ANN", "B routed the call as if Ann's route did not exist"


async def test_postgresql_restarting_mid_burst_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """PostgreSQL crashes and comes back while events pour in: meanwhile the webhook answers
    503 with Retry-After and /readyz says the store is unreachable; afterwards both replicas
    recover by themselves (same processes) and every event is in Slack once."""
    calls = [(f"call-{n:03d}", "svc-1") for n in range(150)]
    bodies = burst(calls, duplicates=20, seed=15)
    async with private_postgres() as pg, SlackEmulator(bot_token=BOT_TOKEN) as slack, \
            aiohttp.ClientSession() as http:
        slack.path_latency["/api/chat.postMessage"] = 0.02
        async with replicas(tmp_path, slack, pg.url()) as (a, b):
            pids = [a.proc.pid, b.proc.pid]  # type: ignore[union-attr]
            cinnox = Cinnox(http, [a, b])
            sending = asyncio.create_task(cinnox.send_all(bodies, concurrency=4))
            await eventually(lambda: cinnox.acked >= len(bodies) // 3 or sending.done(), timeout=120)
            assert not sending.done(), "the burst ended before the restart: nothing proved"

            await pg.stop("immediate")  # as if it crashed
            stopped_at, acked_at_stop = time.monotonic(), cinnox.acked
            await eventually(lambda: cinnox.retry_after, timeout=30)
            for replica in (a, b):
                async with http.get(f"{replica.url}/readyz") as resp:
                    assert resp.status == 503 and "store" in (await resp.json())["status"]
            await asyncio.sleep(2)  # a restart takes a moment; the burst goes on meanwhile
            await pg.start()
            restarted_at, posted_at_restart = time.monotonic(), len(posted_events(slack))
            await eventually(lambda: len(posted_events(slack)) > posted_at_restart, timeout=30)
            resumed_at = time.monotonic()

            await asyncio.wait_for(sending, 240)
            for replica in (a, b):
                async def ready(r: Replica = replica) -> bool:
                    async with http.get(f"{r.url}/readyz") as resp:
                        return resp.status == 200
                await eventually_async(ready, timeout=30)
            await eventually(lambda: threads_complete(slack, calls, {"svc-1": DEFAULT_CHANNEL}), timeout=180)
            completed_at = time.monotonic()
            await asyncio.sleep(0.5)  # a late duplicate would show up now
            assert [a.proc.pid, b.proc.pid] == pids and a.proc.returncode is None  # type: ignore[union-attr]
            assert b.proc.returncode is None  # type: ignore[union-attr]

        assert cinnox.retry_after and all(value == "5" for value in cinnox.retry_after)
        assert cinnox.acked == len(bodies)
        twice, lost = assert_each_event_once_in_its_thread(slack, calls, {"svc-1": DEFAULT_CHANNEL})
        record_figures({
            "test": "postgresql_restart", "events": len(calls) * 2, "requests_acked": cinnox.acked,
            "acked_at_stop": acked_at_stop, "postgres_down_s": round(restarted_at - stopped_at, 1),
            "answered_503": len(cinnox.retry_after),
            "relay_resumed_after_restart_s": round(resumed_at - restarted_at, 1),
            "all_in_slack_after_restart_s": round(completed_at - restarted_at, 1),
            "posted_twice": twice, "lost": lost,
        })


async def test_a_live_replica_keeps_its_delivery_while_slack_is_slow(pg_url: str, tmp_path: Path) -> None:
    """Slack takes longer than a lease to answer the post: the replica posting renews its
    lease meanwhile, so the other replica never takes the delivery over and posts it again."""
    from bot.relay.relay import LEASE
    from bot.sandbox.stack import SandboxStack

    slack = SlackEmulator()  # the sandbox's token
    slack.path_latency["/api/chat.postMessage"] = LEASE * 1.5
    async with SandboxStack(tmp_path / "a", providers=False, database_url=pg_url, slack=slack) as a, \
            SandboxStack(tmp_path / "b", providers=False, database_url=pg_url, slack=slack):
        assert (await a.webhook(call_start("call-slow")))[0] == 200

        async def delivered() -> list[asyncpg.Record]:
            return [r for r in await outbox_rows(pg_url, ["call-slow:CallStart"]) if r["state"] == "done"]

        [row] = await eventually_async(delivered, timeout=30)
        assert row["attempts"] == 1, "the other replica took the delivery over"
        assert [event_id(m) for m in slack.all_posts()] == ["call-slow:CallStart"]
