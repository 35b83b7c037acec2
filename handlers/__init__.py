"""Slack listeners: one module per command or modal."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register_all(app: AsyncApp, services: Services) -> None:
    from handlers import (
        app_home,
        call_buttons,
        call_events,
        call_route,
        contact,
        csv_import,
        message_channel,
        service_group,
        sip_endpoint,
    )
    from handlers.provisioning import register_view_actions

    forms = [
        service_group.register(app, services),
        contact.register(app, services),
        sip_endpoint.register(app, services),
        message_channel.register(app, services),
    ]
    register_view_actions(app, services, forms)
    csv_import.register(app, services, forms)
    call_events.register(app, services)
    call_route.register(app, services)
    call_buttons.register(app, services, forms)
    app_home.register(app, services, forms)
