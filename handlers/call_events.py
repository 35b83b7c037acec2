"""/call-events: subscribe CINNOX call events to this bot's webhook, route a service's calls
to a channel, and show how the relay is doing."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.mrkdwn import escape
from bot.providers.errors import ProviderError
from bot.services import Services
from handlers.commands import split
from handlers.provisioning import not_configured
from handlers.usage import usage_answer

log = structlog.get_logger(__name__)

COMMAND = "/call-events"
SUBCOMMANDS = ("subscribe", "unsubscribe", "status", "route", "routes")
SUBSCRIPTION_SETTING = "cinnox_call_event_subscription"
# <#C123|name>, <#C123> or a bare channel ID
CHANNEL = re.compile(r"^(?:<#(?P<linked>[CG][A-Z0-9]+)(?:\|[^>]*)?>|(?P<bare>[CG][A-Z0-9]{2,}))$")

Respond = Callable[..., Awaitable[Any]]


def webhook_url(services: Services) -> str | None:
    base = services.settings.public_base_url
    return f"{base.rstrip('/')}/webhooks/cinnox/{services.webhook_token}" if base else None


def register(app: AsyncApp, services: Services) -> None:
    @app.command(COMMAND)
    async def call_events(ack: Any, command: dict[str, Any], respond: Respond) -> None:
        text = command.get("text", "")
        answer = usage_answer(COMMAND, text, SUBCOMMANDS)
        if answer is not None:
            await ack(**answer)
            return
        sub, args = split(text)
        user = command.get("user_id", "")
        if sub in ("subscribe", "unsubscribe"):
            problem = _cannot_subscribe(services)
            if problem:
                await ack(response_type="ephemeral", text=problem)
                return
            await ack(response_type="ephemeral", text=":hourglass_flowing_sand: Asking CINNOX…")
            services.background.spawn(_subscribe(services, user, sub == "subscribe", respond),
                                      name=f"call_events.{sub}")
        elif sub == "route":
            await _route(services, user, args, ack, respond)
        else:
            await ack()
            show = _status if sub == "status" else _routes
            services.background.spawn(_reply(show(services), respond), name=f"call_events.{sub}")


def _same_url(a: str, b: str) -> bool:
    """Equal as URLs: scheme and host in any case, a trailing slash or not."""
    x, y = urlsplit(a.strip()), urlsplit(b.strip())
    return (x.scheme.lower(), x.netloc.lower(), x.path.rstrip("/"), x.query) == (
        y.scheme.lower(), y.netloc.lower(), y.path.rstrip("/"), y.query)


def _cannot_subscribe(services: Services) -> str | None:
    if services.cinnox is None:
        return not_configured("cinnox")
    if not services.settings.public_base_url:
        return ("Set PUBLIC_BASE_URL to this bot's public https address first: CINNOX needs a URL "
                "it can reach, and the bot adds `/webhooks/cinnox/<token>` to it.")
    return None


async def _subscribe(services: Services, user: str, enabled: bool, respond: Respond) -> None:
    assert services.cinnox is not None
    url = webhook_url(services)
    assert url is not None
    action = "call_events.subscribe" if enabled else "call_events.unsubscribe"
    try:
        state = await services.cinnox.set_call_event_subscription(enabled, url)
    except ProviderError as exc:
        await services.access.record(user, action, "failed", detail=f"{type(exc).__name__}: {exc.message}")
        await respond(response_type="ephemeral", replace_original=False,
                      text=f":x: CINNOX did not change the subscription. {escape(exc.user_sentence())}")
        return
    # CINNOX answers enabled=false when a subscription failed (its document says so), and
    # may keep another URL: either way calls would not reach this bot.
    refused = enabled and (not state.enabled or (state.url is not None and not _same_url(state.url, url)))
    await services.store.set_setting(SUBSCRIPTION_SETTING, json.dumps(
        {"enabled": state.enabled and not refused, "updated_at": state.updated_at, "by": user}))
    if refused:
        await services.access.record(user, action, "failed", detail="CINNOX kept the subscription off")
        await respond(response_type="ephemeral", replace_original=False, text=(
            ":x: CINNOX did not take the subscription (it answered enabled = false or another URL). "
            "Check that it can reach PUBLIC_BASE_URL over https and that the webhook answers its "
            "challenge (`/call-events status`), then try again."))
        return
    await services.access.record(user, action, "ok")
    if state.enabled:
        text = (":white_check_mark: CINNOX now sends call events to this bot. Calls appear in "
                f"{_channel_name(services.settings.call_events_channel)} unless a service is routed "
                "elsewhere (`/call-events route <serviceId> <#channel>`).")
    else:
        text = ":white_check_mark: CINNOX no longer sends call events to this bot."
    await respond(response_type="ephemeral", replace_original=False, text=text)


async def _route(services: Services, user: str, args: list[str], ack: Any, respond: Respond) -> None:
    match = CHANNEL.match(args[1]) if len(args) == 2 else None
    if match is None:
        await ack(response_type="ephemeral",
                  text="Usage: `/call-events route <serviceId> <#channel>`, e.g. "
                       "`/call-events route 5f1c2d #support-calls`.")
        return
    service_id, channel = args[0], match.group("linked") or match.group("bare")
    if len(service_id) > 128:
        await ack(response_type="ephemeral", text="That service ID is too long (at most 128 characters).")
        return
    assert services.relay is not None
    await services.relay.set_route(service_id, channel, user)
    await services.access.record(user, "call_events.route", "ok", resource_id=service_id,
                                 detail=f"→ {channel}")
    await ack(response_type="ephemeral",
              text=f":white_check_mark: Calls of service `{escape(service_id)}` now go to <#{channel}>.")
    services.background.spawn(_check_channel(services, channel, respond), name="call_events.check")


async def _check_channel(services: Services, channel: str, respond: Respond) -> None:
    """Warn at once when the bot will not be able to post there."""
    try:
        info = (await services.slack.conversations_info(channel=channel))["channel"]
    except SlackApiError as exc:
        problem = f"I can't see <#{channel}> ({exc.response.get('error')})"
    else:
        if info.get("is_archived"):
            problem = f"<#{channel}> is archived"
        elif not info.get("is_member") and info.get("is_private"):
            problem = f"I'm not a member of the private channel <#{channel}>"
        else:
            return
    await respond(response_type="ephemeral", replace_original=False,
                  text=f":warning: {problem}: calls routed there will not be posted. "
                       f"Invite me with `/invite @bot` or pick another channel.")


async def _reply(text: Awaitable[str], respond: Respond) -> None:
    await respond(response_type="ephemeral", replace_original=False, text=await text)


async def _routes(services: Services) -> str:
    assert services.outbox is not None
    routes = await services.outbox.routes()
    default = f"Everything else: {_channel_name(services.settings.call_events_channel)}."
    if not routes:
        return f"*Call routing*\nNo service is routed to its own channel. {default}"
    lines = [f"• `{escape(service)}` → <#{channel}>" for service, channel in routes.items()]
    return "\n".join(["*Call routing*", *lines, default])


async def _status(services: Services) -> str:
    stored = await services.store.get_setting(SUBSCRIPTION_SETTING)
    if services.cinnox is None:
        subscription = not_configured("cinnox")
    elif stored is None:
        subscription = "Not subscribed from this bot yet: run `/call-events subscribe`."
    else:
        sub = json.loads(stored)
        state = "subscribed" if sub.get("enabled") else "unsubscribed"
        updated = sub.get("updated_at") or "at an unknown time"
        subscription = f"{state.capitalize()} (CINNOX says updated {updated})."
    lines = [
        "*Call events*",
        f"• *Subscription:* {subscription}",
        f"• *Webhook:* `{_masked(webhook_url(services))}`",
        *[f"• {line}" for line in await delivery_summary(services)],
        (await _routes(services)).replace("*Call routing*", "*Routing*"),
    ]
    return "\n".join(lines)


async def delivery_summary(services: Services) -> list[str]:
    """The relay's backlog and its last delivery error (also shown on the App Home)."""
    assert services.outbox is not None
    outbox = services.outbox
    depth, failed, last = await outbox.depth(), await outbox.failed_count(), await outbox.last_error()
    backlog = "nothing waiting" if depth == 0 else f"{depth} event{'s' if depth != 1 else ''} waiting"
    lines = [f"*Backlog:* {backlog}; {failed} given up"]
    if last is not None:
        error, channel, at = last
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        where = f" in <#{channel}>" if channel else ""
        lines.append(f"*Last delivery error:* `{escape(error)}`{where} (event received {when}){_hint(error)}")
    else:
        lines.append("*Last delivery error:* none")
    return lines


def _hint(error: str) -> str:
    return {
        "not_in_channel": " — invite the bot to that channel",
        "channel_not_found": " — the channel was deleted or the ID is wrong; re-route the service",
        "is_archived": " — unarchive the channel or re-route the service",
    }.get(error, "")


def _channel_name(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "no default channel (set CALL_EVENTS_CHANNEL)"


def _masked(url: str | None) -> str:
    """The webhook URL without its secret token."""
    if url is None:
        return "PUBLIC_BASE_URL is not set"
    return url.rsplit("/", 1)[0] + "/••••••"
