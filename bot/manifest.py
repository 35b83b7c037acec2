"""The Slack app manifest: every slash command, interactivity, the minimum bot scopes."""

from __future__ import annotations

from typing import Any

from handlers.commands import COMMANDS

BOT_SCOPES = [
    "commands",  # slash commands
    "chat:write",  # call notifications and results
    "chat:write.public",  # post call notifications to public channels without joining
    "channels:history",  # find an already-posted call message when resuming (public)
    "groups:history",  # ... and in private channels the bot was invited to
    "channels:read",  # check a routed channel exists
    "groups:read",
    "files:read",  # read the CSV a person picks in the import modal
    "files:write",  # post an import's result CSV into its progress thread
]


def build_manifest(*, url: str | None = None, socket_mode: bool = False,
                   name: str = "Telephony Ops") -> dict[str, Any]:
    if not socket_mode and not url:
        raise ValueError("give --url https://… (HTTP mode) or --socket-mode")
    events_url = f"{url.rstrip('/')}/slack/events" if url else None

    def with_url(entry: dict[str, Any], key: str = "request_url") -> dict[str, Any]:
        return {**entry, key: events_url} if events_url and not socket_mode else entry

    return {
        "display_information": {
            "name": name,
            "description": "Provision CINNOX, Bandwidth and Yeastar; watch calls live.",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": False,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [
                with_url({"command": c.name, "description": c.description,
                          "usage_hint": c.usage_hint,
                          # so that a typed #channel arrives as <#C123|name> (/call-events route)
                          "should_escape": True}, key="url")
                for c in COMMANDS.values()
            ],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": with_url({"bot_events": ["app_home_opened"]}),
            "interactivity": with_url({"is_enabled": True}),
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
