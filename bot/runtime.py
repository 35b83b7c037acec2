"""A running bot: store, clients, Bolt app, HTTP server, Socket Mode; started and stopped
as one. ``python -m bot serve``, the demo, the tests and the benches all use it."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import make_url

from bot.access import Access
from bot.app import build_bolt_app, slack_client, slack_session
from bot.config import Settings
from bot.logs import redact_text, register_secret
from bot.metrics import Metrics
from bot.relay.relay import Relay
from bot.server import build_web_app
from bot.services import Services
from bot.staff_sync import StaffSync
from bot.store import Store
from bot.store.outbox import Outbox

log = structlog.get_logger(__name__)

WEBHOOK_TOKEN_SETTING = "cinnox_webhook_token"


def provider_clients(settings: Settings) -> dict[str, Any]:
    """A client for each configured provider; unconfigured ones are left out (disabled)."""
    clients: dict[str, Any] = {}
    if settings.configured("cinnox"):
        from bot.providers.cinnox import CinnoxClient

        assert settings.cinnox_base_url and settings.cinnox_app_id and settings.cinnox_app_token
        clients["cinnox"] = CinnoxClient(
            settings.cinnox_base_url, settings.cinnox_app_id,
            settings.cinnox_app_token.get_secret_value(), timeout=settings.provider_timeout,
        )
    if settings.configured("bandwidth"):
        from bot.providers.bandwidth import BandwidthClient

        assert settings.bandwidth_base_url and settings.bandwidth_user_id
        assert settings.bandwidth_api_token and settings.bandwidth_api_secret
        clients["bandwidth"] = BandwidthClient(
            settings.bandwidth_base_url, settings.bandwidth_user_id,
            settings.bandwidth_api_token.get_secret_value(),
            settings.bandwidth_api_secret.get_secret_value(), timeout=settings.provider_timeout,
        )
    if settings.configured("yeastar"):
        from bot.providers.yeastar import YeastarClient

        assert settings.yeastar_base_url and settings.yeastar_client_id
        assert settings.yeastar_client_secret
        clients["yeastar"] = YeastarClient(
            settings.yeastar_base_url, settings.yeastar_client_id,
            settings.yeastar_client_secret.get_secret_value(), timeout=settings.provider_timeout,
        )
    return clients


def register_settings_secrets(settings: Settings) -> None:
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            register_secret(value.get_secret_value())
    register_secret(make_url(settings.database_url).password)


class StartupError(Exception):
    """The bot cannot start; the message is one sentence naming what to fix."""


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.bolt: AsyncApp | None = None
        self._runner: web.AppRunner | None = None
        self._socket_mode: Any = None
        self.staff_sync: StaffSync | None = None
        self._slack_session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self, *, serve_http: bool = True) -> None:
        settings = self.settings
        register_settings_secrets(settings)
        if settings.allowed_users is None:
            log.warning("access.everyone_may_provision",
                        hint="set BOT_ALLOWED_USERS to a comma-separated list of Slack user IDs")
        try:
            store = await Store.open(settings.database_url)
        except Exception as exc:
            raise StartupError(f"DATABASE_URL: the database could not be opened "
                               f"({type(exc).__name__}: {redact_text(str(exc))[:200]}).") from None
        metrics = Metrics()
        assert settings.slack_bot_token is not None
        self._slack_session = slack_session()
        services = Services(
            settings=settings,
            store=store,
            metrics=metrics,
            access=Access(settings.allowed_users, store, metrics),
            slack=slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url,
                               self._slack_session),
            **provider_clients(settings),
        )
        services.webhook_token = (
            settings.cinnox_webhook_token.get_secret_value()
            if settings.cinnox_webhook_token
            else await store.setting_or_create(WEBHOOK_TOKEN_SETTING, lambda: secrets.token_urlsafe(24))
        )
        register_secret(services.webhook_token)
        self.services = services  # from here on, stop() closes what was opened
        services.outbox = Outbox(store)
        services.relay = Relay(services, services.outbox, channel_rate=settings.relay_channel_rate,
                               grace=settings.call_end_grace_seconds)
        await services.relay.start()
        self.staff_sync = StaffSync(services)
        self.staff_sync.start()
        self.services = services
        self.bolt = build_bolt_app(services)
        if services.imports is not None:
            services.imports.start()
        if serve_http:
            self._runner = web.AppRunner(build_web_app(services, self.bolt), access_log=None,
                                         handle_signals=False, shutdown_timeout=10.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, settings.host, settings.port)
            try:
                await site.start()
            except OSError as exc:
                raise StartupError(f"HOST, PORT: cannot listen on {settings.host}:{settings.port} "
                                   f"({exc.strerror or exc}).") from None
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
            self.url = f"http://{host}:{port}"
            log.info("server.started", url=self.url)
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            app_token = settings.slack_app_token.get_secret_value()
            await _check_app_token(app_token, settings.slack_api_url)
            self._socket_mode = AsyncSocketModeHandler(self.bolt, app_token)
            await self._socket_mode.connect_async()
            log.info("socket_mode.connected")

    async def stop(self) -> None:
        """Stop taking requests, finish in-flight work, close every session."""
        services = self.services
        if services is not None:
            services.background.closing = True
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening, lets in-flight requests finish
        if services is not None:
            if services.imports is not None:
                await services.imports.stop()
            await services.background.drain()
            if services.relay is not None:
                await services.relay.stop()
            if self.staff_sync is not None:
                await self.staff_sync.stop()
            for client in (services.cinnox, services.bandwidth, services.yeastar):
                if client is not None:
                    await client.close()
            await services.store.close()
        if self._slack_session is not None:
            await self._slack_session.close()
        log.info("server.stopped")


async def _check_app_token(app_token: str, api_url: str) -> None:
    """Socket Mode retries a refused token for ever: ask Slack once first."""
    client = AsyncWebClient(base_url=api_url, timeout=10)
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise StartupError(f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')}): "
                           "use an app-level token (xapp-…) with connections:write.") from None
    except Exception as exc:
        raise StartupError(f"SLACK_API_URL: Slack could not be reached to open Socket Mode "
                           f"({type(exc).__name__}).") from None
