"""Slack listeners: one module per command or modal."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register_all(app: AsyncApp, services: Services) -> None:
    from handlers import app_home, help_only

    app_home.register(app, services)
    help_only.register(app, services)
