"""The whole sandbox on loopback: the Slack emulator, the three provider simulators and a
real running bot wired to them. The demo, the tests and the benchmarks all start this."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.base import FakeService
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.slack_user import SlackUser

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"


def _simulators() -> dict[str, FakeService]:
    from bot.sandbox.bandwidth_sim import BandwidthSimulator
    from bot.sandbox.cinnox_sim import CinnoxSimulator
    from bot.sandbox.yeastar_sim import YeastarSimulator

    return {"cinnox": CinnoxSimulator(), "bandwidth": BandwidthSimulator(),
            "yeastar": YeastarSimulator()}


class SandboxStack:
    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        providers: bool = True,
        database_url: str | None = None,
        slack: SlackEmulator | None = None,
        **settings: Any,
    ) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="bot-sandbox-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.with_providers = providers
        self.database_url = database_url or f"sqlite:///{self.workdir / 'bot.db'}"
        self.overrides = settings
        # the emulator posts as fast per channel as the relay is told to pace itself
        self.slack = slack or SlackEmulator(bot_token=BOT_TOKEN,
                                            channel_rate=settings.get("relay_channel_rate"))
        self.sims: dict[str, FakeService] = {}
        self.runtime: Runtime | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def cinnox(self) -> Any:
        return self.sims["cinnox"]

    @property
    def bandwidth(self) -> Any:
        return self.sims["bandwidth"]

    @property
    def yeastar(self) -> Any:
        return self.sims["yeastar"]

    @property
    def url(self) -> str:
        assert self.runtime is not None
        return self.runtime.url

    @property
    def services(self) -> Any:
        assert self.runtime is not None and self.runtime.services is not None
        return self.runtime.services

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_app_token": None,
            "slack_api_url": self.slack.url + "/api/",
            "host": "127.0.0.1",
            "port": 0,
            "database_url": self.database_url,
            "public_base_url": "https://bot.example.com",
            "call_events_channel": "C0CALLS",
            "bot_allowed_users": None,
            "log_format": "console",
            "cinnox_base_url": None, "cinnox_app_id": None, "cinnox_app_token": None,
            "bandwidth_base_url": None, "bandwidth_user_id": None,
            "bandwidth_api_token": None, "bandwidth_api_secret": None,
            "bandwidth_domain_id": None,
            "yeastar_base_url": None, "yeastar_client_id": None, "yeastar_client_secret": None,
            "cinnox_webhook_token": None,
        }
        if self.sims:
            c, b, y = self.cinnox, self.bandwidth, self.yeastar
            values.update(
                cinnox_base_url=c.url, cinnox_app_id=c.app_id, cinnox_app_token=c.app_token,
                bandwidth_base_url=b.url, bandwidth_user_id=b.user_id,
                bandwidth_api_token=b.api_token, bandwidth_api_secret=b.api_secret,
                bandwidth_domain_id=next(iter(b.domains)),
                yeastar_base_url=y.url, yeastar_client_id=y.client_id,
                yeastar_client_secret=y.client_secret,
            )
        values.update(self.overrides)
        return Settings(_env_file=None, **values)

    async def start(self) -> SandboxStack:
        if not self.slack.url:
            await self.slack.start()
        if self.with_providers:
            self.sims = _simulators()
            for sim in self.sims.values():
                await sim.start()
        self.runtime = Runtime(self.settings())
        await self.runtime.start()
        self._route_public_url()
        if self.slack.manifest is None:  # the app as `python -m bot manifest` describes it
            from bot.manifest import build_manifest

            socket_mode = bool(self.settings().slack_app_token)
            self.slack.manifest = build_manifest(url=None if socket_mode else self.url,
                                                 socket_mode=socket_mode)
        if self.services.cinnox is not None:
            await self._staff_list_read()
        self.http = aiohttp.ClientSession()
        return self

    def _route_public_url(self) -> None:
        """CINNOX's challenge to PUBLIC_BASE_URL reaches this bot on loopback."""
        base = self.runtime.settings.public_base_url if self.runtime is not None else None
        if self.sims and base:
            self.cinnox.reaches[base] = self.url

    async def _staff_list_read(self) -> None:
        """Wait (bounded) for the bot's start-up read of CINNOX's staff list, so that what a
        test or the demo does next (a fault it injects, a call it plays) never meets it."""
        for _ in range(500):
            if await self.services.directory.staff_refreshed_at() is not None:
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.runtime is not None:
            await self.runtime.stop()
        for sim in self.sims.values():
            await sim.stop()
        await self.slack.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def restart_bot(self) -> None:
        """Stop the bot and start it again on the same database and fakes."""
        assert self.runtime is not None
        await self.runtime.stop()
        self.runtime = Runtime(self.settings())
        await self.runtime.start()
        self._route_public_url()

    async def __aenter__(self) -> SandboxStack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def webhook_url(self) -> str:
        """The bot's CINNOX webhook, reachable on loopback (PUBLIC_BASE_URL is not)."""
        return f"{self.url}/webhooks/cinnox/{self.services.webhook_token}"

    async def webhook(self, body: Any, *, token: str | None = None) -> tuple[int, Any]:
        """POST a CINNOX notification (a dict, or raw bytes/str) as CINNOX would."""
        assert self.http is not None
        url = self.webhook_url if token is None else f"{self.url}/webhooks/cinnox/{token}"
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        async with self.http.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json(content_type=None)

    def user(self, user_id: str = "U0ADMIN", channel_id: str = "C0OPS") -> SlackUser:
        assert self.http is not None
        return SlackUser(self.url + "/slack/events", SIGNING_SECRET, self.slack, self.http,
                         user_id=user_id, channel_id=channel_id)
