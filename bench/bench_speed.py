"""Issue 13: the bot's webhook ingest and Slack acks against yardsticks, under wrk.

Every server runs in a process of its own, the bot as ``python -m bot serve`` with its
logging (INFO, JSON lines to a file), metrics, authorization and audit on. wrk drives each
for a few seconds with 50 connections; the servers take turns within a round, over several
rounds, and the medians are printed (the machine is shared: a noisy moment hurts every
server of its round alike). Ratios are taken within each round, then the median of those.

Webhook ingest: each request is a new call event (Lua numbers them); the bot and the naive
receiver answer 200 only once the event is committed. Yardsticks: a bare aiohttp handler
(parse and answer) and a naive aiosqlite receiver (one commit per event). With a
PostgreSQL server (TEST_POSTGRES_URL, or one that .ci/postgres starts), the bot is
measured on PostgreSQL too.

Acks: the same signed ``/contact help`` command and ``contact`` view submissions to a
minimal stock Bolt AsyncApp (acking each with the answer the bot gives it) and to a bot
process of its own (not the ingest's, which is busy relaying the bench's call events)
(BOT_ALLOWED_USERS set: the submission goes through authorization and validation; this
bot has no CINNOX, so nothing can be created and the answer is the kept form saying so, its
audit row and response_url line after it). Each round's submissions come from modals not
seen before (a repeated view ID would be a double click) and carry the running Slack
emulator's response_url.

Footprint: cold start (process start to /readyz answering 200) and idle RSS of the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.common import figure, free_port, heading, ms
from bench.wrk import WrkResult, ensure_wrk, write_signed, wrk
from bot.sandbox.postgres import temporary_database
from bot.sandbox.signing import signature, signed_headers
from bot.sandbox.stack import BOT_TOKEN, SIGNING_SECRET, SandboxStack

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
CONNECTIONS = 50
WEBHOOK_TOKEN = "bench-webhook-token-0123456789"
USER = "U0BENCH"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    name: str
    url: str
    proc: asyncio.subprocess.Process
    log: Any = None

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Runs:
    results: dict[str, list[WrkResult]] = field(default_factory=dict)
    #: CPU seconds the server's process (all its threads) spent per request, per turn
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, result: WrkResult, cpu_seconds: float) -> None:
        self.results.setdefault(name, []).append(result)
        self.cpu.setdefault(name, []).append(cpu_seconds / max(result.requests, 1))

    def cpu_per_request(self, name: str) -> float:
        return statistics.median(self.cpu[name])

    def cpu_ratio(self, ours: str, theirs: str) -> float:
        """The median over rounds of theirs' CPU per request / ours (> 1: ours costs less)."""
        return statistics.median(b / a for a, b in zip(self.cpu[ours], self.cpu[theirs], strict=True))

    def rate(self, name: str) -> float:
        return statistics.median(r.throughput for r in self.results[name])

    def p99(self, name: str) -> float:
        return statistics.median(r.p99 for r in self.results[name])

    def p50(self, name: str) -> float:
        return statistics.median(r.p50 for r in self.results[name])

    def ratios(self, ours: str, theirs: str) -> list[float]:
        """Each round's ours / theirs (measured next to each other)."""
        pairs = zip(self.results[ours], self.results[theirs], strict=True)
        return [a.throughput / b.throughput for a, b in pairs]

    def ratio(self, ours: str, theirs: str) -> float:
        """The median over rounds of ours / theirs."""
        return statistics.median(self.ratios(ours, theirs))

    def spread(self, ours: str, theirs: str) -> str:
        """The rounds' ratios, lowest to highest: how much the machine moved under the median."""
        ratios = self.ratios(ours, theirs)
        return f"rounds {min(ratios):.2f}-{max(ratios):.2f}x"


# --- processes ------------------------------------------------------------------------------


async def _spawn(*args: str, env: dict[str, str] | None = None,
                 stderr: Any = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        env={**os.environ, **(env or {})}, cwd=ROOT)


@contextlib.asynccontextmanager
async def yardstick(kind: str, *args: str) -> AsyncIterator[Server]:
    port = free_port()
    proc = await _spawn(sys.executable, "-m", "bench.yardsticks", kind, str(port), *args)
    assert proc.stdout is not None and proc.stdin is not None
    if (await proc.stdout.readline()).strip() != b"ready":
        raise SystemExit(f"bench: the {kind} yardstick did not start")
    try:
        yield Server(kind, f"http://127.0.0.1:{port}", proc)
    finally:
        proc.stdin.close()
        await proc.wait()


@contextlib.asynccontextmanager
async def slack_emulator() -> AsyncIterator[str]:
    proc = await _spawn(sys.executable, "-m", "bench.slack_process", "100")
    assert proc.stdout is not None and proc.stdin is not None
    url = (await proc.stdout.readline()).decode().strip()
    try:
        yield url + "/api/"
    finally:
        proc.stdin.close()
        await proc.wait()


def bot_env(port: int, database_url: str, slack_api: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": slack_api, "HOST": "127.0.0.1", "PORT": str(port),
        "DATABASE_URL": database_url, "CINNOX_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "CALL_EVENTS_CHANNEL": "C0CALLS", "BOT_ALLOWED_USERS": USER,
        "LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "PUBLIC_BASE_URL": "https://bot.example.com",
    }


@contextlib.asynccontextmanager
async def the_bot(name: str, database_url: str, slack_api: str,
                  workdir: Path) -> AsyncIterator[tuple[Server, float]]:
    """The bot as ``python -m bot serve``; yields it and its cold start (s to ready)."""
    port = free_port()
    log = (workdir / f"{name}.log").open("wb")
    started = time.perf_counter()
    proc = await _spawn(sys.executable, "-m", "bot", "serve", env=bot_env(port, database_url, slack_api),
                        stderr=log)
    url = f"http://127.0.0.1:{port}"
    cold = await _ready(url + "/readyz", proc, started)
    try:
        yield Server(name, url, proc, log), cold
    finally:
        proc.terminate()
        await proc.wait()
        log.close()


async def _ready(url: str, proc: asyncio.subprocess.Process, started: float) -> float:
    async with aiohttp.ClientSession() as session:
        while proc.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            await asyncio.sleep(0.005)
    raise SystemExit(f"bench: the bot exited ({proc.returncode}) before it was ready")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time (user + system) of the process, or of one of its threads."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(server: Server, longest: float = 20.0) -> None:
    """Wait until the server's work after the answers (the bot's background tasks, the
    relay) is done, so the next server's turn does not pay for it."""
    deadline = time.monotonic() + longest
    last = cpu_seconds(server.pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = cpu_seconds(server.pid)
        if now - last < 0.25 * 0.1:
            return
        last = now


# --- PostgreSQL ------------------------------------------------------------------------------


async def postgres_base() -> tuple[str | None, str]:
    """(server URL, how it was found) or (None, why not)."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"], "TEST_POSTGRES_URL"
    script = ROOT / ".ci" / "postgres"
    if script.exists():
        done = await asyncio.to_thread(subprocess.run, ["bash", str(script)], capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines and lines[-1].startswith("postgresql://"):
            return lines[-1], ".ci/postgres"
        return None, f".ci/postgres failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None, "no TEST_POSTGRES_URL"


# --- requests ---------------------------------------------------------------------------------


def slash_bodies(n: int) -> list[str]:
    return [f"token=x&team_id=T0SANDBOX&channel_id=C0OPS&user_id={USER}&user_name=bench&command=%2Fcontact"
            f"&text=help&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fr&trigger_id={i}.bench&api_app_id=A0"
            for i in range(n)]


async def contact_view() -> dict[str, Any]:
    """The bot's own /contact modal, as it opens it (from an in-process sandbox)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with SandboxStack(Path(tmp), log_level="ERROR") as stack:
            return await stack.user().open_modal("/contact")


def submission_bodies(view: dict[str, Any], n: int, slack_api: str) -> list[str]:
    """``n`` submissions of ``view``, each from a modal of its own (a view ID not seen before:
    call once per round). Their response_url is the running Slack emulator's, as a real one
    is Slack's (the modal's own was the in-process sandbox's, closed since)."""
    from bot.sandbox.slack_user import state_values

    values = state_values(view, {"firstName": "Ada", "lastName": "Bench", "phones.0.type": "Mobile",
                                 "phones.0.phone": "+85294667788", "level": "Primary"})
    meta = {**json.loads(view.get("private_metadata") or "{}"),
            "response_url": slack_api.removesuffix("/api/") + "/response/bench"}
    view = {**view, "private_metadata": json.dumps(meta, separators=(",", ":"))}
    run = uuid.uuid4().hex[:6]
    out = []
    for i in range(n):
        payload = {"type": "view_submission", "team": {"id": "T0SANDBOX"}, "api_app_id": "A0",
                   "user": {"id": USER, "team_id": "T0SANDBOX"}, "trigger_id": f"{i}.bench",
                   "view": {**view, "id": f"V{run}{i:05d}", "state": {"values": values}}}
        out.append(urlencode({"payload": json.dumps(payload)}))
    return out


async def bot_answers(bot: Server, view: dict[str, Any], slack_api: str, path: Path) -> Path:
    """What the bot answers the bench's ``/contact help`` and contact view submission, as
    ``ack()`` keyword arguments, in a file for the stock Bolt yardstick: both give the same
    answer to the same request."""
    answers: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for kind, body in (("command", slash_bodies(1)[0]), ("view", submission_bodies(view, 1, slack_api)[0])):
            headers = signed_headers(SIGNING_SECRET, body)
            async with session.post(bot.url + "/slack/events", data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"bench: the bot answered the {kind} with {resp.status}")
                answers[kind] = json.loads(await resp.read())
    await asyncio.to_thread(path.write_text, json.dumps(answers))
    return path


def signed_file(path: Path, bodies: list[str]) -> Path:
    """Signed now: Slack (and Bolt) refuse a timestamp over 5 minutes old."""
    ts = int(time.time())
    return write_signed(path, [(str(ts), signature(SIGNING_SECRET, body, ts), body) for body in bodies])


# --- the run ------------------------------------------------------------------------------------


def checked(name: str, result: WrkResult) -> WrkResult:
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"bench: {name}: {result.non_2xx} answers other than 2xx and "
                         f"{result.socket_errors} socket errors under load")
    return result


async def run() -> None:
    ensure_wrk()
    pg_base, pg_how = await postgres_base()
    heading(f"Speed (issue 13): wrk, {CONNECTIONS} connections, {SECONDS:g} s per turn, servers "
            f"interleaved over {ROUNDS} rounds, medians; each server in its own process "
            f"({os.cpu_count()} cores, shared with whatever else runs)")
    view = await contact_view()
    runs = Runs()
    colds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as tmp:
        work = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            slack_api = await stack.enter_async_context(slack_emulator())
            async with the_bot("cold", f"sqlite:///{work / 'cold.db'}", slack_api, work) as (_, cold):
                colds.append(cold)  # with the two below, a median of three
            bot, cold = await stack.enter_async_context(
                the_bot("bot-sqlite", f"sqlite:///{work / 'bot.db'}", slack_api, work))
            colds.append(cold)
            # The acks get a bot of their own: the ingest bot spends the whole run relaying
            # the tens of thousands of events the bench sent it (at the emulator's rate limit),
            # a backlog stock Bolt does not have.
            bot_acks, cold = await stack.enter_async_context(
                the_bot("bot-acks", f"sqlite:///{work / 'acks.db'}", slack_api, work))
            colds.append(cold)
            await asyncio.sleep(2.0)
            idle_rss = rss_mb(bot.pid)
            bot_pg: Server | None = None
            if pg_base:
                try:
                    pg_url = await stack.enter_async_context(temporary_database(pg_base, "bot_bench"))
                    bot_pg, _ = await stack.enter_async_context(
                        the_bot("bot-postgres", pg_url, slack_api, work))
                except Exception as exc:
                    pg_how = f"could not be used ({type(exc).__name__}: {exc})"
                    bot_pg = None
            bare = await stack.enter_async_context(yardstick("bare"))
            naive = await stack.enter_async_context(yardstick("naive", str(work / "naive.db")))
            answers = await bot_answers(bot_acks, view, slack_api, work / "answers.json")
            bolt = await stack.enter_async_context(yardstick("bolt", slack_api, str(answers)))
            hook = f"/webhooks/cinnox/{WEBHOOK_TOKEN}"
            webhook_targets = [("bare", bare), ("naive", naive), ("bot-sqlite", bot)]
            if bot_pg is not None:
                webhook_targets.append(("bot-postgres", bot_pg))
            ack_targets = [("bolt-command", bolt, "command"), ("bot-command", bot_acks, "command"),
                           ("bolt-view", bolt, "view"), ("bot-view", bot_acks, "view")]
            commands = slash_bodies(500)
            for number in range(ROUNDS):
                print(f"  round {number + 1} of {ROUNDS}...", flush=True)
                run_id = uuid.uuid4().hex[:8]
                # Every other round in the reverse order: no server always goes first (or right
                # after the same one) in a round.
                for name, server in alternated(webhook_targets, number):
                    used = cpu_seconds(server.pid)
                    result = await wrk(server.url + hook, "webhook", f"{run_id}{name[:5]}",
                                       connections=CONNECTIONS, seconds=SECONDS)
                    runs.add(name, checked(name, result), cpu_seconds(server.pid) - used)
                    await settle(server)
                signed = {"command": signed_file(work / "command.txt", commands),
                          "view": signed_file(work / "view.txt", submission_bodies(view, 2000, slack_api))}
                for name, server, kind in alternated(ack_targets, number):
                    used = cpu_seconds(server.pid)
                    result = await wrk(server.url + "/slack/events", "signed", str(signed[kind]),
                                       connections=CONNECTIONS, seconds=SECONDS)
                    runs.add(name, checked(name, result), cpu_seconds(server.pid) - used)
                    await settle(server)
            loaded_rss = rss_mb(bot.pid)
    report(runs, colds, idle_rss, loaded_rss, pg_how if bot_pg is None else None)


def load_figures(runs: Runs, key: str) -> str:
    return (f"p50 {ms(runs.p50(key))}, p99 {ms(runs.p99(key))}, "
            f"CPU {runs.cpu_per_request(key) * 1e6:,.0f} us/request")


def alternated(targets: list[Any], number: int) -> list[Any]:
    return targets if number % 2 == 0 else targets[::-1]


def report(runs: Runs, colds: list[float], idle_rss: float, loaded_rss: float, pg_missing: str | None) -> None:
    print("  Webhook ingest (each request a new call event):")
    names = {"bare": "bare aiohttp handler (parse, answer)",
             "naive": "naive aiosqlite receiver (commit per event)",
             "bot-sqlite": "this bot, SQLite (200 after the commit)",
             "bot-postgres": "this bot, PostgreSQL (200 after the commit)"}
    for key, name in names.items():
        if key in runs.results:
            figure(name, f"{runs.rate(key):,.0f} req/s", load_figures(runs, key))
    if pg_missing:
        figure("this bot, PostgreSQL", "not measured", pg_missing)
    ratio = runs.ratio("bot-sqlite", "bare")
    # The bare handler's rate is a floor on what wrk can drive: far above the bot's, the
    # bot's figures are the bot's, not the generator's.
    figure("wrk's headroom: it drove the bare handler at", f"{1 / ratio:.1f}x the bot's rate",
           "the generator is not the bottleneck", 1 / ratio >= 1.5)
    figure("bot (SQLite) / bare aiohttp", f"{ratio:.2f}x",
           f"target >= 0.5x ({runs.spread('bot-sqlite', 'bare')}; CPU per request: "
           f"{runs.cpu_ratio('bot-sqlite', 'bare'):.2f}x)", ratio >= 0.5)
    ratio = runs.ratio("bot-sqlite", "naive")
    figure("bot (SQLite) / naive receiver", f"{ratio:.2f}x",
           f"target >= 2x ({runs.spread('bot-sqlite', 'naive')}; CPU per request: "
           f"{runs.cpu_ratio('bot-sqlite', 'naive'):.2f}x)", ratio >= 2.0)
    p99 = runs.p99("bot-sqlite")
    figure("bot (SQLite) ingest p99", ms(p99), "target <= 15 ms", p99 <= 0.015)
    # The relay posts one message a second per channel: the events of the earlier rounds
    # all wait to be relayed, as after a long Slack outage. Its reads must not go through them.
    turns = runs.results["bot-sqlite"]
    waiting = sum(turn.requests for turn in turns[:-1])
    figure(f"  its p99 in the last round ({waiting:,} events waiting)", ms(turns[-1].p99))
    if "bot-postgres" in runs.results:
        ratio = runs.ratio("bot-postgres", "bare")
        figure("bot (PostgreSQL) / bare aiohttp", f"{ratio:.2f}x")
        figure("bot (PostgreSQL) ingest p99", ms(runs.p99("bot-postgres")))
    print("  Slack acks (signed requests; the bot with authorization, audit, metrics, logging):")
    for key, name in {"bolt-command": "stock Bolt: `/contact help`", "bot-command": "this bot: `/contact help`",
                      "bolt-view": "stock Bolt: contact view_submission",
                      "bot-view": "this bot: contact view_submission"}.items():
        figure(name, f"{runs.rate(key):,.0f} req/s", load_figures(runs, key))
    for kind in ("command", "view"):
        ratio = runs.ratio(f"bot-{kind}", f"bolt-{kind}")
        figure(f"bot / stock Bolt: {'slash command' if kind == 'command' else 'view_submission'}",
               f"{ratio:.2f}x",
               f"target >= 1.0x ({runs.spread(f'bot-{kind}', f'bolt-{kind}')}; CPU per request: "
               f"{runs.cpu_ratio(f'bot-{kind}', f'bolt-{kind}'):.2f}x)",
               ratio >= 1.0)
    print("  Footprint:")
    cold = statistics.median(colds)
    figure(f"cold start, process start to /readyz 200 (median of {len(colds)})", f"{cold:.2f} s",
           "target <= 1.5 s", cold <= 1.5)
    figure("idle RSS after start", f"{idle_rss:.0f} MB", "target <= 90 MB", idle_rss <= 90)
    figure("RSS after the bench's load", f"{loaded_rss:.0f} MB")

