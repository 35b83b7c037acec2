"""python -m bot serve | check | manifest | demo"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from urllib.parse import urlsplit

import structlog

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("serve", help="run the bot (HTTP, webhook, Socket Mode when SLACK_APP_TOKEN is set)")
    sub.add_parser("check", help="validate configuration and reach Slack and each provider")
    manifest = sub.add_parser("manifest", help="print the Slack app manifest (JSON)")
    mode = manifest.add_mutually_exclusive_group()
    mode.add_argument("--socket-mode", action="store_true", help="for Socket Mode (no public URL; the default)")
    mode.add_argument("--url", help="public https base URL for HTTP mode, e.g. https://bot.example.com")
    sub.add_parser("demo", help="the sandbox: a scripted session against local Slack and providers")
    args = parser.parse_args(argv)

    if args.verb == "manifest":
        from bot.manifest import build_manifest

        if args.url and (not args.url.startswith("https://") or not urlsplit(args.url).hostname):
            print("--url must be an https:// URL with a host, e.g. https://bot.example.com "
                  "(Slack only calls https URLs).", file=sys.stderr)
            return 2
        print(json.dumps(build_manifest(url=args.url, socket_mode=not args.url), indent=2))
        return 0
    if args.verb == "demo":
        from bot.sandbox.demo import run_demo

        return asyncio.run(run_demo())

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.effective_log_format)
    if args.verb == "check":
        return asyncio.run(_check(settings))
    return asyncio.run(_serve(settings))


async def _check(settings: Settings) -> int:
    from bot.check import run_checks

    lines = await run_checks(settings)
    for line in lines:
        print(line)
    return 1 if any(line.state == "unreachable" for line in lines) else 0


async def _serve(settings: Settings) -> int:
    from bot.runtime import Runtime, StartupError

    log = structlog.get_logger("bot")
    if not settings.configured("slack"):
        print(
            "Configuration error: " + " and ".join(settings.missing("slack"))
            + " must be set to serve Slack (try `python -m bot demo` without them).",
            file=sys.stderr,
        )
        return 2
    for part in ("cinnox", "bandwidth", "yeastar"):
        if not settings.configured(part):
            log.warning("provider.disabled", provider=part, missing=settings.missing(part))
    runtime = Runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before starting: a SIGTERM then still drains
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except StartupError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        await runtime.stop()
        return 1
    # What start-up made (modules, models, the app) lives as long as the process: frozen, the
    # collector no longer walks it. A request allocates thousands of containers that die with
    # it (a modal's submission parses into ~1,000) and, under load, outlive a few awaits:
    # collected every 700 allocations they were walked, promoted and walked again.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    await stop.wait()
    log.info("shutdown.requested")
    await runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
