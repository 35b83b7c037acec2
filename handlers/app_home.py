"""The App Home tab: which providers work, the commands, the last actions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from bot.config import PROVIDERS
from bot.mrkdwn import escape
from bot.providers.errors import ProviderError
from bot.services import Services
from handlers import modal
from handlers.call_events import delivery_summary
from handlers.commands import COMMANDS
from handlers.provisioning import not_configured

log = structlog.get_logger(__name__)

TITLES = {"cinnox": "CINNOX", "bandwidth": "Bandwidth", "yeastar": "Yeastar P-Series"}
PING_TTL = 60.0  # seconds a reachability answer is reused, so opening Home stays quick
_OUTCOME_ICON = {"ok": ":white_check_mark:", "failed": ":x:", "denied": ":no_entry:",
                 "invalid": ":pencil2:", "started": ":hourglass:"}


class Reachability:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, str]] = {}

    async def status(self, services: Services, provider: str) -> str:
        client: Any = services.provider(provider)
        if client is None:
            return f":white_circle: not configured — {not_configured(provider)}"
        cached = self._cache.get(provider)
        if cached and time.monotonic() - cached[0] < PING_TTL:
            return cached[1]
        try:
            await asyncio.wait_for(client.ping(), 5)
            text = ":large_green_circle: configured and reachable"
        except ProviderError as exc:
            text = f":red_circle: configured but failing — {escape(exc.message)}"
        except TimeoutError:
            text = ":red_circle: configured but not answering"
        self._cache[provider] = (time.monotonic(), text)
        return text


def register(app: AsyncApp, services: Services) -> None:
    reachability = Reachability()

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        services.background.spawn(publish(services, reachability, client, event["user"]),
                                  name="home.publish")


async def publish(services: Services, reachability: Reachability, client: Any, user: str) -> None:
    statuses = await asyncio.gather(*(reachability.status(services, p) for p in PROVIDERS))
    blocks: list[dict[str, Any]] = [modal.header("Telephony ops"), modal.section("*Providers*")]
    blocks += [modal.section(f"*{TITLES[p]}*  {s}") for p, s in zip(PROVIDERS, statuses, strict=True)]
    if services.outbox is not None:
        summary = await delivery_summary(services)
        blocks += [modal.section("*Call events*"), modal.context(" · ".join(summary))]
    blocks += [modal.divider(), modal.section("*Commands*")]
    blocks += [modal.section(f"`{c.synopsis}`\n{c.description}") for c in COMMANDS.values()]
    blocks += [modal.divider(), modal.section("*Last actions*")]
    entries = await services.store.recent_audit(10)
    if not entries:
        blocks.append(modal.context("Nothing yet."))
    for entry in entries:
        icon = _OUTCOME_ICON.get(entry.outcome, "•")
        resource = f" → `{escape(entry.resource_id)}`" if entry.resource_id else ""
        fallback = f"{entry.at:%Y-%m-%d %H:%M} UTC"
        when = f"<!date^{int(entry.at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
        blocks.append(modal.context(f"{icon} {when} <@{entry.user_id}> {entry.action} "
                                    f"*{entry.outcome}*{resource}"))
    if services.access.allowed is None:
        blocks.append(modal.context(":warning: Everyone in the workspace may provision: "
                                    "set BOT_ALLOWED_USERS to restrict it."))
    await client.views_publish(user_id=user, view={"type": "home", "blocks": blocks[:100]})
