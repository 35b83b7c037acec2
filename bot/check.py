"""`python -m bot check`: for Slack and each provider, configured / missing / reachable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import slack_client
from bot.config import PROVIDERS, Settings
from bot.providers.errors import ProviderError
from bot.runtime import provider_clients


@dataclass
class Line:
    part: str
    state: str  # reachable | unreachable | missing
    detail: str

    def __str__(self) -> str:
        mark = {"reachable": "ok  ", "unreachable": "FAIL", "missing": "--  "}[self.state]
        return f"{mark} {self.part:<10} {self.detail}"


async def run_checks(settings: Settings, timeout: float = 10.0) -> list[Line]:
    lines: list[Line] = []
    if settings.configured("slack"):
        assert settings.slack_bot_token is not None
        client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        try:
            auth = await asyncio.wait_for(client.auth_test(), timeout)
            lines.append(Line("slack", "reachable", f"configured, reachable (team {auth.get('team')}, "
                                                      f"bot {auth.get('user')})"))
        except Exception as exc:
            reason = getattr(getattr(exc, "response", None), "get", lambda _k: None)("error")
            lines.append(Line("slack", "unreachable",
                              f"configured, unreachable: {reason or type(exc).__name__}"))
        finally:
            await client.session.close() if client.session else None
    else:
        lines.append(Line("slack", "missing", "missing " + ", ".join(settings.missing("slack"))))
    lines += await _home_check(settings)
    clients = provider_clients(settings)
    for part in PROVIDERS:
        provider: Any = clients.get(part)
        if provider is None:
            lines.append(Line(part, "missing",
                              "disabled; missing " + ", ".join(settings.missing(part))))
            continue
        try:
            await asyncio.wait_for(provider.ping(), timeout)
            lines.append(Line(part, "reachable", "configured, reachable"))
        except ProviderError as exc:
            lines.append(Line(part, "unreachable", f"configured, unreachable: {exc.message}"))
        except TimeoutError:
            lines.append(Line(part, "unreachable", "configured, unreachable: no answer in time"))
        finally:
            await provider.close()
    lines.append(await _calls_line(settings, configured=clients.get("cinnox") is not None, timeout=timeout))
    return lines


async def _calls_line(settings: Settings, *, configured: bool, timeout: float) -> Line:
    """Whether CINNOX's calls have somewhere to go in Slack: CALL_EVENTS_CHANNEL, else a route."""
    from bot.relay.nowhere import FIX, PROBLEM, nowhere_to_post, unposted
    from bot.store.db import Store
    from bot.store.outbox import Outbox

    if settings.call_events_channel:
        return Line("calls", "reachable", f"go to {settings.call_events_channel} (CALL_EVENTS_CHANNEL) "
                                          "unless a service is routed elsewhere")
    try:
        store = await asyncio.wait_for(Store.open(settings.database_url), timeout)
        try:
            routes, lost = await Outbox(store).routes(), await unposted(store)
        finally:
            await store.close()
    except Exception as exc:
        return Line("calls", "unreachable", f"CALL_EVENTS_CHANNEL is not set and the routes could not be read "
                                            f"({type(exc).__name__}); set CALL_EVENTS_CHANNEL")
    if not nowhere_to_post(settings.call_events_channel, routes):
        return Line("calls", "reachable", f"{len(routes)} service(s) routed; other services' calls have "
                                          "nowhere to go until CALL_EVENTS_CHANNEL is set")
    waiting = f"; {lost} call event(s) not posted so far" if lost else ""
    # A bot without CINNOX receives no calls: then it is only said, not a failure.
    return Line("calls", "unreachable" if configured else "missing", f"{PROBLEM}; {FIX}{waiting}")
async def _home_check(settings: Settings) -> list[Line]:
    """Slack's last refusal of the App Home, as the running bot recorded it in the store."""
    from bot.store.db import Store
    from handlers.calls.app_home import HOME_REFUSED, refusal_sentence

    url = settings.database_url
    if url.startswith("sqlite") and not await asyncio.to_thread(Path(url.split("///", 1)[-1]).exists):
        return []  # the bot never ran here: nothing recorded
    try:
        store = await Store.open(url)
    except Exception as exc:
        return [Line("store", "unreachable", f"cannot open the database: {type(exc).__name__}")]
    try:
        sentence = refusal_sentence(await store.get_setting(HOME_REFUSED))
    finally:
        await store.close()
    return [Line("app home", "unreachable", sentence)] if sentence else []
