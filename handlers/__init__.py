"""Slack listeners, in two packages: ``handlers.forms`` (the provisioning forms and their
CSV imports) and ``handlers.calls`` (the console: /call-events, the buttons on call
messages, routing, the App Home). The console uses the forms' machinery; the forms never
reach up into the console (tests/test_layout.py holds that rule)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register_all(app: AsyncApp, services: Services) -> None:
    from handlers.calls import app_home, buttons, call_events, clicks, home_forms, routing
    from handlers.forms import contact, csv_import, message_channel, service_group, sip_endpoint
    from handlers.forms.provisioning import register_view_actions

    forms = [
        service_group.register(app, services),
        contact.register(app, services),
        sip_endpoint.register(app, services),
        message_channel.register(app, services),
    ]
    register_view_actions(app, services, forms)
    csv_import.register(app, services, forms, clicks)
    call_events.register(app, services)
    routing.register(app, services)
    buttons.register(app, services, forms)
    home_forms.register(app, services, forms)
    app_home.register(app, services)
