"""The CINNOX call-event subscription: this bot's webhook URL, whether it can subscribe,
and changing it (a success only when CINNOX's answer confirms it)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from bot.mrkdwn import escape
from bot.providers.errors import ProviderError
from bot.services import Services
from handlers.calls.deliveries import nowhere_to_go
from handlers.forms.provisioning import not_configured

SUBSCRIPTION_SETTING = "cinnox_call_event_subscription"


def webhook_url(services: Services) -> str | None:
    base = services.settings.public_base_url
    return f"{base.rstrip('/')}/webhooks/cinnox/{services.webhook_token}" if base else None


def _same_url(a: str, b: str) -> bool:
    """Equal as URLs: scheme and host in any case, a trailing slash or not."""
    x, y = urlsplit(a.strip()), urlsplit(b.strip())
    return (x.scheme.lower(), x.netloc.lower(), x.path.rstrip("/"), x.query) == (
        y.scheme.lower(), y.netloc.lower(), y.path.rstrip("/"), y.query)


def cannot_subscribe(services: Services) -> str | None:
    if services.cinnox is None:
        return not_configured("cinnox")
    if not services.settings.public_base_url:
        return ("Set PUBLIC_BASE_URL to this bot's public https address first: CINNOX needs a URL "
                "it can reach, and the bot adds `/webhooks/cinnox/<token>` to it.")
    return None


async def subscribe(services: Services, user: str, enabled: bool,
                     say: Callable[[str], Awaitable[Any]]) -> None:
    """Change the subscription and ``say`` the outcome: success only when CINNOX's answer
    says ``enabled`` as asked, for this bot's URL."""
    assert services.cinnox is not None
    url = webhook_url(services)
    assert url is not None
    action = "call_events.subscribe" if enabled else "call_events.unsubscribe"
    try:
        state = await services.cinnox.set_call_event_subscription(enabled, url)
    except ProviderError as exc:
        await services.access.record(user, action, "failed", detail=f"{type(exc).__name__}: {exc.message}")
        await say(f":x: CINNOX did not change the subscription. {escape(exc.user_sentence())}")
        return
    # CINNOX answers enabled=false when a subscription failed (its document says so), and
    # may keep another URL: either way calls would not reach this bot. An answer that does
    # not say enabled at all confirms nothing, nor one that does not name this bot's URL.
    ours = state.url is not None and _same_url(state.url, url)
    confirmed = state.enabled is enabled and (ours or not enabled)
    now_enabled = bool(state.enabled) and ours
    await services.store.set_setting(SUBSCRIPTION_SETTING, json.dumps(
        {"enabled": now_enabled, "updated_at": state.updated_at, "by": user}))
    if not confirmed:
        if state.enabled is None:
            said = "did not say whether it is on"
        elif enabled and not state.enabled:
            said = "answered enabled = false"
        elif state.url is None:
            said = "did not say which URL it sends to"
        else:
            said = "answered with another URL"
        await services.access.record(user, action, "failed", detail=f"CINNOX {said}")
        if enabled:
            text = (f":x: CINNOX did not take the subscription (it {said}). Check that it can reach "
                    "PUBLIC_BASE_URL over https and that the webhook answers its challenge "
                    "(`/call-events status`), then try again.")
        else:
            text = f":x: CINNOX did not confirm the unsubscription (it {said}). Try again."
        await say(text)
        return
    await services.access.record(user, action, "ok")
    nowhere = await nowhere_to_go(services)
    if enabled and nowhere:
        text = f"CINNOX now sends call events to this bot, but nothing will show in Slack yet.\n{nowhere}"
    elif enabled and services.settings.call_events_channel:
        text = (":white_check_mark: CINNOX now sends call events to this bot. Calls appear in "
                f"<#{services.settings.call_events_channel}> unless a service is routed "
                "elsewhere (`/call-events route`).")
    elif enabled:
        text = (":white_check_mark: CINNOX now sends call events to this bot. The routed services' calls "
                "appear in their channels (`/call-events routes`); other services' calls have nowhere to go "
                "until CALL_EVENTS_CHANNEL is set.")
    else:
        text = ":white_check_mark: CINNOX no longer sends call events to this bot."
    await say(text)
