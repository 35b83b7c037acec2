"""Where a server's time goes: py-spy samples it while wrk drives one kind of request, and
the samples of the event loop's thread are summed by what they were doing.

``python -m bench.profile [seconds] [target]`` (``make profile``: the webhook ingest on
SQLite). Targets: ``sqlite`` and ``postgresql`` (the bot's webhook ingest on that store),
``command`` and ``view`` (the bot acking ``/contact help`` and contact view submissions, as
``bench speed`` sends them), and the yardsticks ``bare`` (webhook), ``bolt-command`` and
``bolt-view``. ``PROFILE_TOP=n`` also lists the n functions the thread was in most. Needs py-spy
(a dev dependency) and the right to trace a process of one's own (root, or
``kernel.yama.ptrace_scope`` 0). py-spy leaves out samples of a thread that is waiting
(in epoll, or for the GIL), so the shares are of the CPU time of the event loop's thread;
the time per request is that share of the thread's CPU time (from /proc) per request served.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.bench_speed import (
    WEBHOOK_TOKEN,
    Server,
    bot_answers,
    contact_view,
    cpu_seconds,
    postgres_base,
    signed_file,
    slack_emulator,
    slash_bodies,
    submission_bodies,
    the_bot,
    yardstick,
)
from bench.wrk import ensure_wrk, wrk
from bot.sandbox.postgres import temporary_database

TARGETS = ("sqlite", "postgresql", "command", "view", "bare", "bolt-command", "bolt-view")

#: (what the time was spent on, path fragments of the frames that do it), innermost first:
#: a sample counts for the first kind that one of its frames, from the innermost out, shows.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("logging (structlog, redaction, JSON lines)", ("structlog/", "bot/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/", "bot/metrics.py")),
    ("event validation and payload (pydantic)", ("pydantic/", "pydantic_core/", "bot/relay/events.py")),
    ("JSON decoding", ("orjson", "json/")),
    ("store: driver, SQLAlchemy, outbox", ("sqlalchemy/", "aiosqlite/", "asyncpg/", "sqlite3/",
                                          "bot/store/")),
    ("relay: delivering to Slack", ("bot/relay/relay.py", "bot/relay/messages.py", "bot/relay/cards.py",
                                    "bot/store/directory.py", "bot/store/call_notes.py")),
    ("Slack Web API client (slack_sdk)", ("slack_sdk/",)),
    ("forms, handlers, authorization, audit", ("handlers/", "bot/app.py", "bot/access.py",
                                               "bot/background.py")),
    ("Bolt: signature, dispatch, listeners", ("slack_bolt/", "bot/slack_request.py")),
    ("ingest: group commit, thread hand-over", ("bot/relay/ingest.py", "concurrent/futures/", "threading.py")),
    ("webhook handler and middleware", ("bot/webhook.py", "bot/server.py", "bench/yardsticks.py")),
    ("aiohttp: HTTP parsing, routing, responses", ("aiohttp/", "multidict/", "yarl/")),
    ("event loop and sockets (asyncio)", ("asyncio/", "selectors.py", "socket.py")),
]


def kind_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for kind, fragments in KINDS:
            if any(fragment in frame for fragment in fragments):
                return kind
    return "other"


def main_thread_stacks(raw: Path) -> collections.Counter[tuple[str, ...]]:
    """Samples of the main thread by stack (outermost frame first), from py-spy's raw
    (collapsed stacks) output."""
    stacks: collections.Counter[tuple[str, ...]] = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames and "MainThread" in frames[0] and count.isdigit():
            stacks[tuple(frames[1:])] += int(count)
    return stacks


def by_kind(stacks: collections.Counter[tuple[str, ...]]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for frames, count in stacks.items():
        counts[kind_of(list(frames))] += count
    return counts


def by_function(stacks: collections.Counter[tuple[str, ...]]) -> collections.Counter[str]:
    """Samples by the innermost frame's function (its own time), line numbers dropped."""
    counts: collections.Counter[str] = collections.Counter()
    for frames, count in stacks.items():
        if frames:
            name, _, where = frames[-1].partition(" (")
            counts[f"{name} ({where.rsplit(':', 1)[0]})"] += count
    return counts


def py_spy() -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("bench.profile: py-spy is needed (pip install py-spy; it is in the dev extras)")
    return spy


async def target(stack: contextlib.AsyncExitStack, name: str, work: Path,
                 slack_api: str) -> tuple[Server, str, str, str]:
    """The server to profile and what wrk sends it: (server, url, script, script argument)."""
    hook = f"/webhooks/cinnox/{WEBHOOK_TOKEN}"
    if name == "bare":
        server = await stack.enter_async_context(yardstick("bare"))
    elif name.startswith("bolt-"):
        async with the_bot("answers", f"sqlite:///{work / 'answers.db'}", slack_api, work) as (bot, _):
            answers = await bot_answers(bot, await contact_view(), slack_api, work / "answers.json")
        server = await stack.enter_async_context(yardstick("bolt", slack_api, str(answers)))
    else:
        url = f"sqlite:///{work / 'bot.db'}"
        if name == "postgresql":
            base, how = await postgres_base()
            if base is None:
                raise SystemExit(f"bench.profile: no PostgreSQL ({how})")
            url = await stack.enter_async_context(temporary_database(base, "bot_profile"))
        server, _ = await stack.enter_async_context(the_bot("bot", url, slack_api, work))
    if name in ("sqlite", "postgresql", "bare"):
        return server, server.url + hook, "webhook", "profile"
    if name.endswith("command"):
        bodies = slash_bodies(500)
    else:
        bodies = submission_bodies(await contact_view(), 20_000, slack_api)
    return server, server.url + "/slack/events", "signed", str(signed_file(work / "signed.txt", bodies))


async def profile(seconds: float, name: str) -> None:
    spy = py_spy()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bot-profile-") as tmp:
        work = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            slack_api = await stack.enter_async_context(slack_emulator())
            server, url, script, argument = await target(stack, name, work, slack_api)
            warm = argument if script == "signed" else "warmup"
            await wrk(url, script, warm, seconds=2)
            raw = work / "samples.txt"
            spy_proc = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(server.pid), "--format", "raw", "--output", str(raw),
                "--threads", "--nonblocking", "--rate", "250", "--duration", str(int(seconds) + 2),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            await asyncio.sleep(1.0)
            cpu_before, process_before = cpu_seconds(server.pid, thread=server.pid), cpu_seconds(server.pid)
            result = await wrk(url, script, argument, seconds=seconds)
            cpu = cpu_seconds(server.pid, thread=server.pid) - cpu_before
            process = cpu_seconds(server.pid) - process_before
            _, err = await spy_proc.communicate()
            if not raw.exists():
                raise SystemExit(f"bench.profile: py-spy recorded nothing ({err.decode().strip()[-300:]})")
            stacks = main_thread_stacks(raw)
            if os.environ.get("PROFILE_RAW"):  # the samples themselves, for a closer look
                shutil.copy(raw, os.environ["PROFILE_RAW"])
    counts = by_kind(stacks)
    total = sum(counts.values()) or 1
    per_request = cpu / max(result.requests, 1)
    print(f"{name}: wrk 50 connections for {seconds:g} s: "
          f"{result.throughput:,.0f} req/s, p99 {result.p99 * 1000:.1f} ms"
          + (f", {result.non_2xx} answers not 2xx" if result.non_2xx else ""))
    print(f"Event loop thread: {cpu / result.seconds:.0%} busy, {per_request * 1e6:.0f} us of CPU per request "
          f"(the whole process: {process / max(result.requests, 1) * 1e6:.0f} us); "
          f"in Python (py-spy, {total} samples):")
    for kind, count in counts.most_common():
        print(f"  {count / total:6.1%}  {count / total * per_request * 1e6:5.0f} us/request  {kind}")
    top = int(os.environ.get("PROFILE_TOP", "0"))
    if top:
        print(f"The {top} functions the thread was in most (own time):")
        for function, count in by_function(stacks).most_common(top):
            print(f"  {count / total:6.1%}  {count / total * per_request * 1e6:5.0f} us/request  {function}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen = arguments[1] if len(arguments) > 1 else "sqlite"
    if chosen not in TARGETS:
        raise SystemExit(f"bench.profile: the target is one of {', '.join(TARGETS)}")
    asyncio.run(profile(float(arguments[0]) if arguments else 8.0, chosen))
