"""The Slack app manifest: every slash command, interactivity, the minimum bot scopes."""

from __future__ import annotations

import re
from typing import Any

from handlers.commands import COMMANDS

BOT_SCOPES = [
    "commands",  # slash commands
    # call notifications and results, only in channels the bot was invited to: it must also
    # read them (history) to find a post it may already have made, which chat:write.public
    # would not allow (not_in_channel), so that an event could be given up though posted.
    "chat:write",
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
            # Option requests for external selects go only to message_menu_options_url
            # (the "Options Load URL"): without it in HTTP mode every such select stays empty.
            "interactivity": with_url(with_url({"is_enabled": True}), "message_menu_options_url"),
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


# --- Slack's manifest schema (slackapi/manifest-schema, schemas/manifest.schema.1.0.0.json) --
_URL = re.compile(r"^https?://")
#: the keys each object may hold (the schema sets additionalProperties false on each)
_KEYS = {
    "": {"_metadata", "display_information", "features", "oauth_config", "settings"},
    "display_information": {"name", "description", "background_color", "long_description"},
    "features": {"app_home", "bot_user", "shortcuts", "slash_commands", "workflow_steps",
                 "unfurl_domains"},
    "features.app_home": {"home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"},
    "features.bot_user": {"display_name", "always_online"},
    "oauth_config": {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"},
    "oauth_config.scopes": {"user", "bot", "user_optional", "bot_optional"},
    "settings": {"allowed_ip_address_ranges", "event_subscriptions", "incoming_webhooks", "interactivity",
                 "org_deploy_enabled", "socket_mode_enabled", "is_hosted", "token_rotation_enabled"},
    "settings.event_subscriptions": {"request_url", "user_events", "bot_events"},
    "settings.interactivity": {"is_enabled", "request_url", "message_menu_options_url"},
}
_COMMAND_KEYS = {"command", "url", "description", "usage_hint", "should_escape"}


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Why Slack's manifest schema (v1) would refuse ``manifest``; empty when it takes it."""
    problems: list[str] = []

    def at(path: str) -> Any:
        node: Any = manifest
        for key in [k for k in path.split(".") if k]:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def length(path: str, value: Any, low: int, high: int) -> None:
        if not isinstance(value, str) or not low <= len(value) <= high:
            problems.append(f"{path}: a string of {low} to {high} characters")

    def url(path: str, value: Any, high: int) -> None:
        if value is not None and (not isinstance(value, str) or not _URL.match(value) or len(value) > high):
            problems.append(f"{path}: an http(s) URL of at most {high} characters")

    for path, allowed in _KEYS.items():
        node = at(path)
        if isinstance(node, dict):
            problems += [f"{path or 'manifest'}: unknown key {k!r}" for k in node if k not in allowed]
    length("display_information.name", at("display_information.name"), 1, 35)
    if at("display_information.description") is not None:
        length("display_information.description", at("display_information.description"), 1, 140)
    color = at("display_information.background_color")
    if color is not None and not re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", str(color)):
        problems.append("display_information.background_color: #rgb or #rrggbb")
    if at("features.bot_user") is not None:
        length("features.bot_user.display_name", at("features.bot_user.display_name"), 1, 80)
    commands = at("features.slash_commands")
    if commands is not None:
        if not isinstance(commands, list) or not 1 <= len(commands) <= 50:
            problems.append("features.slash_commands: 1 to 50 commands")
        for n, command in enumerate(commands or []):
            where = f"features.slash_commands.{n}"
            problems += [f"{where}: unknown key {k!r}" for k in command if k not in _COMMAND_KEYS]
            length(f"{where}.command", command.get("command"), 2, 32)
            if not str(command.get("command", "")).startswith("/"):
                problems.append(f"{where}.command: starts with /")
            length(f"{where}.description", command.get("description"), 1, 2000)
            if "usage_hint" in command:
                length(f"{where}.usage_hint", command["usage_hint"], 1, 1000)
            url(f"{where}.url", command.get("url"), 3000)
    for kind in ("bot", "user"):
        scopes = at(f"oauth_config.scopes.{kind}") or []
        if len(scopes) > 255 or any(len(s) > 50 for s in scopes):
            problems.append(f"oauth_config.scopes.{kind}: at most 255 scopes of 50 characters")
    events = at("settings.event_subscriptions.bot_events") or []
    if len(events) > 100 or len(set(events)) != len(events):
        problems.append("settings.event_subscriptions.bot_events: at most 100, each once")
    url("settings.event_subscriptions.request_url", at("settings.event_subscriptions.request_url"), 3500)
    interactivity = at("settings.interactivity")
    if interactivity is not None:
        if not isinstance(interactivity.get("is_enabled"), bool):
            problems.append("settings.interactivity.is_enabled is required")
        for key in ("request_url", "message_menu_options_url"):
            url(f"settings.interactivity.{key}", interactivity.get(key), 3500)
    return problems
