"""Where the bot's webhook ingest spends its time: py-spy samples the bot while wrk drives
the webhook, and the samples of the event loop's thread are summed by what they were doing.

``python -m bench.profile [seconds] [sqlite|postgresql]`` (``make profile``). Needs py-spy
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

from bench.bench_speed import WEBHOOK_TOKEN, cpu_seconds, postgres_base, slack_emulator, the_bot
from bench.wrk import ensure_wrk, wrk
from bot.sandbox.postgres import temporary_database

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
                                    "slack_sdk/", "bot/store/directory.py", "bot/store/call_notes.py")),
    ("ingest: group commit, thread hand-over", ("bot/relay/ingest.py", "concurrent/futures/", "threading.py")),
    ("webhook handler and middleware", ("bot/webhook.py", "bot/server.py")),
    ("aiohttp: HTTP parsing, routing, responses", ("aiohttp/", "multidict/", "yarl/")),
    ("event loop and sockets (asyncio)", ("asyncio/", "selectors.py", "socket.py")),
]


def kind_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for kind, fragments in KINDS:
            if any(fragment in frame for fragment in fragments):
                return kind
    return "other"


def summarize(raw: Path) -> collections.Counter[str]:
    """Samples of the main thread by kind, from py-spy's raw (collapsed stacks) output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or "MainThread" not in frames[0] or not count.isdigit():
            continue
        counts[kind_of(frames[1:])] += int(count)
    return counts


def py_spy() -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("bench.profile: py-spy is needed (pip install py-spy; it is in the dev extras)")
    return spy


async def profile(seconds: float, store: str) -> None:
    spy = py_spy()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bot-profile-") as tmp:
        work = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            slack_api = await stack.enter_async_context(slack_emulator())
            url = f"sqlite:///{work / 'bot.db'}"
            if store == "postgresql":
                base, how = await postgres_base()
                if base is None:
                    raise SystemExit(f"bench.profile: no PostgreSQL ({how})")
                url = await stack.enter_async_context(temporary_database(base, "bot_profile"))
            bot, _ = await stack.enter_async_context(the_bot("bot", url, slack_api, work))
            hook = f"{bot.url}/webhooks/cinnox/{WEBHOOK_TOKEN}"
            await wrk(hook, "webhook", "warmup", seconds=2)
            raw = work / "samples.txt"
            spy_proc = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(bot.pid), "--format", "raw", "--output", str(raw),
                "--threads", "--nonblocking", "--rate", "250", "--duration", str(int(seconds) + 2),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            await asyncio.sleep(1.0)
            cpu_before = cpu_seconds(bot.pid, thread=bot.pid)
            result = await wrk(hook, "webhook", "profile", seconds=seconds)
            cpu = cpu_seconds(bot.pid, thread=bot.pid) - cpu_before
            _, err = await spy_proc.communicate()
            if not raw.exists():
                raise SystemExit(f"bench.profile: py-spy recorded nothing ({err.decode().strip()[-300:]})")
            counts = summarize(raw)
            if os.environ.get("PROFILE_RAW"):  # the samples themselves, for a closer look
                shutil.copy(raw, os.environ["PROFILE_RAW"])
    total = sum(counts.values()) or 1
    per_request = cpu / max(result.requests, 1)
    print(f"Webhook ingest on {store}, wrk 50 connections for {seconds:g} s: "
          f"{result.throughput:,.0f} req/s, p99 {result.p99 * 1000:.1f} ms")
    print(f"Event loop thread: {cpu / result.seconds:.0%} busy, {per_request * 1e6:.0f} us of CPU per request; "
          f"in Python (py-spy, {total} samples):")
    for kind, count in counts.most_common():
        print(f"  {count / total:6.1%}  {count / total * per_request * 1e6:5.0f} us/request  {kind}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(profile(float(arguments[0]) if arguments else 8.0,
                        arguments[1] if len(arguments) > 1 else "sqlite"))
