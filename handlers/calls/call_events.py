"""/call-events: subscribe CINNOX call events to this bot's webhook, route a service's calls
to a channel, and show how the relay is doing; and the buttons that do the same from the
App Home or a status message (Subscribe, Unsubscribe, Remove, Retry)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import escape
from bot.relay.messages import clock
from bot.services import Services
from handlers.calls.app_home import home_refusal, publish
from handlers.calls.clicks import may_provision, tell
from handlers.calls.deliveries import RETRY, delivery_summary, given_up_blocks, nowhere_to_go
from handlers.calls.routing import UNROUTE, channel_problem, open_form, routes_text, service_label, unroute
from handlers.calls.subscription import SUBSCRIPTION_SETTING, cannot_subscribe, subscribe, webhook_url
from handlers.commands import split, usage_answer
from handlers.forms import modal
from handlers.forms.provisioning import ANSWER_WITHIN, not_configured

log = structlog.get_logger(__name__)

COMMAND = "/call-events"
SUBCOMMANDS = ("subscribe", "unsubscribe", "status", "route", "unroute", "routes")
# <#C123|name>, <#C123> or a bare channel ID
CHANNEL = re.compile(r"^(?:<#(?P<linked>[CG][A-Z0-9]+)(?:\|[^>]*)?>|(?P<bare>[CG][A-Z0-9]{2,}))$")

Respond = Callable[..., Awaitable[Any]]


def register(app: AsyncApp, services: Services) -> None:
    @app.command(COMMAND)
    async def call_events(ack: Any, command: dict[str, Any], respond: Respond, client: Any) -> None:
        text = command.get("text", "")
        answer = usage_answer(COMMAND, text, SUBCOMMANDS)
        if answer is not None:
            await ack(**answer)
            return
        sub, args = split(text)
        user = command.get("user_id", "")
        if sub in ("subscribe", "unsubscribe"):
            problem = cannot_subscribe(services)
            if problem:
                await ack(response_type="ephemeral", text=problem)
                return
            await ack(response_type="ephemeral", text=":hourglass_flowing_sand: Asking CINNOX…")

            async def outcome(text: str) -> None:  # the one follow-up, under "Asking CINNOX…"
                await respond(response_type="ephemeral", replace_original=False, text=text)

            services.background.spawn(subscribe(services, user, sub == "subscribe", outcome),
                                      name=f"call_events.{sub}")
        elif sub == "route" and not args:
            await ack()
            services.background.spawn(open_form(services, client, command["trigger_id"], {}),
                                      name="call_route.open")
        elif sub == "route":
            await _route(services, user, args, ack, respond)
        elif sub == "unroute":
            await _unroute(services, user, args, ack, respond)
        elif sub == "status":
            await ack()
            services.background.spawn(_show_status(services, respond), name="call_events.status")
        else:
            await ack()
            services.background.spawn(_reply(routes_text(services), respond), name=f"call_events.{sub}")

    for sub in ("subscribe", "unsubscribe"):
        @app.action(f"call_events.{sub}")
        async def subscribe_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            on = action["action_id"] == "call_events.subscribe"
            services.background.spawn(_subscribe_button(services, body, on), name="call_events.subscribe")

    @app.action(UNROUTE)
    async def unroute_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.background.spawn(_unroute_button(services, body, str(action.get("value", ""))),
                                  name="call_events.unroute")

    @app.action(RETRY)
    async def retry_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.background.spawn(_retry_button(services, body, str(action.get("value", ""))),
                                  name="call_events.retry")


async def _subscribe_button(services: Services, body: dict[str, Any], enabled: bool) -> None:
    action = "call_events.subscribe" if enabled else "call_events.unsubscribe"
    if not await may_provision(services, body, action):
        return
    user = body["user"]["id"]
    problem = cannot_subscribe(services)
    if problem:
        await publish(services, services.slack, user, notice=f":warning: {problem}")
        return

    async def say(text: str) -> None:
        await publish(services, services.slack, user, notice=text)

    await subscribe(services, user, enabled, say)


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
    outcome = services.background.spawn(_route_checked(services, user, service_id, channel),
                                        name="call_events.route")
    await _answer(services, outcome, ack, respond,
                  f":hourglass_flowing_sand: Checking that I can post in <#{channel}>…")


async def _answer(services: Services, outcome: asyncio.Task[Any], ack: Any, respond: Respond,
                  waiting: str) -> None:
    """Answer with the outcome when it comes quickly (as the forms do, within
    ``ANSWER_WITHIN``); otherwise ``waiting`` now, and the outcome as the one follow-up
    (a slash command's response_url cannot replace the command's own answer)."""
    try:
        text = await asyncio.wait_for(asyncio.shield(outcome), timeout=ANSWER_WITHIN)
    except TimeoutError:
        await ack(response_type="ephemeral", text=waiting)
        services.background.spawn(_respond_later(outcome, respond), name="call_events.answer")
        return
    await ack(response_type="ephemeral", text=text)


async def _respond_later(outcome: asyncio.Task[Any], respond: Respond) -> None:
    await respond(response_type="ephemeral", replace_original=False, text=await outcome)


async def _route_checked(services: Services, user: str, service_id: str, channel: str) -> str:
    """Route only a channel the bot can post in; the outcome in a sentence."""
    assert services.relay is not None
    try:
        shown = service_label(service_id, await services.directory.service_names())
        problem = await channel_problem(services, channel, again="then run the command again")
        if problem is None:
            await services.relay.set_route(service_id, channel, user)
            await services.access.record(user, "call_events.route", "ok", resource_id=service_id,
                                         detail=f"→ {channel}")
            text = f":white_check_mark: Calls of {shown} now go to <#{channel}>, from the next call on."
        else:
            await services.access.record(user, "call_events.route", "failed", resource_id=service_id,
                                         detail=problem)
            text = f":x: I did not route {shown}. {problem}"
    except Exception:
        log.exception("call_events.route_failed", service_id=service_id, channel=channel)
        text = (f":x: I couldn't check <#{channel}> just now, so nothing changed. "
                f"Run `/call-events route {escape(service_id)} <#{channel}>` again in a moment.")
    return text


async def _unroute(services: Services, user: str, args: list[str], ack: Any, respond: Respond) -> None:
    if len(args) != 1:
        await ack(response_type="ephemeral", text="Usage: `/call-events unroute <serviceId>`, e.g. "
                                                  "`/call-events unroute 5f1c2d`.")
        return
    outcome = services.background.spawn(_unroute_said(services, user, args[0]), name="call_events.unroute")
    await _answer(services, outcome, ack, respond,
                  f":hourglass_flowing_sand: Removing the route of `{escape(args[0])}`…")


async def _unroute_said(services: Services, user: str, service_id: str) -> str:
    try:
        return await unroute(services, user, service_id)
    except Exception:
        log.exception("call_events.unroute_failed", service_id=service_id)
        return (":x: I couldn't remove that route just now, so nothing changed. "
                f"Run `/call-events unroute {escape(service_id)}` again in a moment.")


async def _unroute_button(services: Services, body: dict[str, Any], service_id: str) -> None:
    if not await may_provision(services, body, "call_events.unroute"):
        return
    text = await unroute(services, body["user"]["id"], service_id)
    if (body.get("view") or {}).get("type") == "home":
        await publish(services, services.slack, body["user"]["id"], notice=text)
    else:
        await tell(services, body, text)


async def _retry_button(services: Services, body: dict[str, Any], value: str) -> None:
    if not await may_provision(services, body, "call_events.retry"):
        return
    assert services.outbox is not None and services.relay is not None
    found = [d for d, _ in await services.outbox.given_up(limit=200) if str(d.id) == value]
    if found and await services.relay.retry(found[0]):
        await services.access.record(body["user"]["id"], "call_events.retry", "ok", resource_id=found[0].key)
        text = ":arrows_counterclockwise: Sending that call notification again."
    else:
        text = "That notification is not waiting for a retry any more."
    if (body.get("view") or {}).get("type") == "home":
        await publish(services, services.slack, body["user"]["id"], notice=text)
    else:
        await tell(services, body, text)


async def _reply(text: Awaitable[str], respond: Respond) -> None:
    await respond(response_type="ephemeral", replace_original=False, text=await text)


async def _show_status(services: Services, respond: Respond) -> None:
    text = await _status(services)
    blocks = [modal.section(text[:3000]), *await given_up_blocks(services, limit=10)]
    await respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)


async def _status(services: Services) -> str:
    stored = await services.store.get_setting(SUBSCRIPTION_SETTING)
    if services.cinnox is None:
        subscription = not_configured("cinnox")
    elif stored is None:
        subscription = "Not subscribed from this bot yet: run `/call-events subscribe`."
    else:
        sub = json.loads(stored)
        state = "subscribed" if sub.get("enabled") else "unsubscribed"
        updated = _epoch(sub.get("updated_at"))
        when = clock(updated, "{date_short_pretty} {time}")[0] if updated else "at an unknown time"
        subscription = f"{state.capitalize()} (CINNOX says updated {when})."
    refused = await home_refusal(services)
    nowhere = await nowhere_to_go(services)
    lines = [
        "*Call events*",
        *([f"• :x: *App Home:* {refused}"] if refused else []),
        *([nowhere] if nowhere else []),
        f"• *Subscription:* {subscription}",
        f"• *Webhook:* `{_masked(webhook_url(services))}`",
        *[f"• {line}" for line in await delivery_summary(services)],
        (await routes_text(services)).replace("*Call routing*", "*Routing*"),
    ]
    return "\n".join(lines)


def _epoch(rfc3339: Any) -> float | None:
    if not isinstance(rfc3339, str) or not rfc3339:
        return None
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _masked(url: str | None) -> str:
    """The webhook URL without its secret token."""
    if url is None:
        return "PUBLIC_BASE_URL is not set"
    return url.rsplit("/", 1)[0] + "/••••••"
