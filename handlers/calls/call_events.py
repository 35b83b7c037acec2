"""/call-events: subscribe CINNOX call events to this bot's webhook, route a service's calls
to a channel, and show how the relay is doing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import escape
from bot.providers.errors import ProviderError
from bot.relay.cards import names_for
from bot.relay.events import CallEvent
from bot.relay.messages import button, clock, party
from bot.relay.nowhere import NO_CHANNEL, nowhere_to_post, sentence, unposted
from bot.services import Services
from bot.store.outbox import Delivery
from handlers.call_route import channel_problem, open_form
from handlers.commands import split
from handlers.provisioning import ANSWER_WITHIN, not_configured
from handlers.usage import usage_answer

log = structlog.get_logger(__name__)

COMMAND = "/call-events"
SUBCOMMANDS = ("subscribe", "unsubscribe", "status", "route", "unroute", "routes")
RETRY = "call_events.retry"
UNROUTE = "call_events.unroute"
SUBSCRIPTION_SETTING = "cinnox_call_event_subscription"
# <#C123|name>, <#C123> or a bare channel ID
CHANNEL = re.compile(r"^(?:<#(?P<linked>[CG][A-Z0-9]+)(?:\|[^>]*)?>|(?P<bare>[CG][A-Z0-9]{2,}))$")

Respond = Callable[..., Awaitable[Any]]


def webhook_url(services: Services) -> str | None:
    base = services.settings.public_base_url
    return f"{base.rstrip('/')}/webhooks/cinnox/{services.webhook_token}" if base else None


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
            problem = _cannot_subscribe(services)
            if problem:
                await ack(response_type="ephemeral", text=problem)
                return
            await ack(response_type="ephemeral", text=":hourglass_flowing_sand: Asking CINNOX…")

            async def outcome(text: str) -> None:  # the one follow-up, under "Asking CINNOX…"
                await respond(response_type="ephemeral", replace_original=False, text=text)

            services.background.spawn(_subscribe(services, user, sub == "subscribe", outcome),
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
            services.background.spawn(_reply(_routes(services), respond), name=f"call_events.{sub}")

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


async def _subscribe(services: Services, user: str, enabled: bool,
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


async def nowhere_to_go(services: Services) -> str | None:
    """The warning that calls have nowhere to go, with the fix and the events it cost; None
    when they have somewhere."""
    assert services.outbox is not None
    if not nowhere_to_post(services.settings.call_events_channel, await services.outbox.routes()):
        return None
    return sentence(await unposted(services.store))


async def _subscribe_button(services: Services, body: dict[str, Any], enabled: bool) -> None:
    from handlers.app_home import publish
    from handlers.call_buttons import may_provision

    action = "call_events.subscribe" if enabled else "call_events.unsubscribe"
    if not await may_provision(services, body, action):
        return
    user = body["user"]["id"]
    problem = _cannot_subscribe(services)
    if problem:
        await publish(services, services.slack, user, notice=f":warning: {problem}")
        return

    async def say(text: str) -> None:
        await publish(services, services.slack, user, notice=text)

    await _subscribe(services, user, enabled, say)


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
        shown = _service_label(service_id, await services.directory.service_names())
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


async def unroute(services: Services, user: str, service_id: str) -> str:
    assert services.relay is not None
    shown = _service_label(service_id, await services.directory.service_names())
    channel = services.settings.call_events_channel
    if not await services.relay.remove_route(service_id):
        where = f"go to <#{channel}>" if channel else "have nowhere to go (set CALL_EVENTS_CHANNEL)"
        return f"{shown} has no route of its own: its calls {where}."
    await services.access.record(user, "call_events.unroute", "ok", resource_id=service_id)
    if channel:
        return f":white_check_mark: Calls of {shown} go to <#{channel}> again, from the next call on."
    nowhere = await nowhere_to_go(services)
    return (f"Removed the route of {shown}. Without CALL_EVENTS_CHANNEL its calls now have nowhere to go."
            + (f"\n{nowhere}" if nowhere else ""))


async def _unroute_button(services: Services, body: dict[str, Any], service_id: str) -> None:
    from handlers.app_home import publish
    from handlers.call_buttons import may_provision, tell

    if not await may_provision(services, body, "call_events.unroute"):
        return
    text = await unroute(services, body["user"]["id"], service_id)
    if (body.get("view") or {}).get("type") == "home":
        await publish(services, services.slack, body["user"]["id"], notice=text)
    else:
        await tell(services, body, text)


async def _retry_button(services: Services, body: dict[str, Any], value: str) -> None:
    from handlers.app_home import publish
    from handlers.call_buttons import may_provision, tell

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


def _service_label(service_id: str, names: dict[str, str]) -> str:
    return f"*{escape(names[service_id])}* (`{escape(service_id)}`)" if service_id in names \
        else f"`{escape(service_id)}`"


async def _routes(services: Services) -> str:
    assert services.outbox is not None
    routes = await services.outbox.routes()
    names = await services.directory.service_names()
    default = f"Everything else: {_channel_name(services.settings.call_events_channel)}."
    if not routes:
        return f"*Call routing*\nNo service is routed to its own channel. {default}"
    lines = [f"• {_service_label(service, names)} → <#{channel}>" for service, channel in routes.items()]
    return "\n".join(["*Call routing*", *lines, default])


async def routes_blocks(services: Services, limit: int = 15, *, actions: bool = True) -> list[dict[str, Any]]:
    """The routing with a Remove button per route (the App Home; ``actions``: for those
    allowed to use it)."""
    assert services.outbox is not None
    routes = await services.outbox.routes()
    names = await services.directory.service_names()
    blocks = [_section("*Routing*")]
    default = services.settings.call_events_channel
    for service, channel in list(routes.items())[:limit]:
        block = _section(f"{_service_label(service, names)} → <#{channel}>")
        if actions:
            shown = escape(names.get(service) or service)
            then = (f"will go to <#{default}> instead, from the next call on" if default else
                    "will have no channel to go to (CALL_EVENTS_CHANNEL is not set) until it is routed again")
            block["accessory"] = {**button("Remove", UNROUTE, service), "confirm": confirm_dialog(
                "Remove this route?", f"Calls of *{shown}* {then}.", "Remove")}
        blocks.append(block)
    blocks.append(_context(f"Everything else: {_channel_name(services.settings.call_events_channel)}."))
    return blocks


async def given_up_blocks(services: Services, limit: int = 5, *, actions: bool = True) -> list[dict[str, Any]]:
    """Notifications Slack refused for good, each with a Retry button (``actions``: for
    those allowed to use it)."""
    assert services.outbox is not None
    given_up = await services.outbox.given_up(limit)
    if not given_up:
        return []
    blocks = [_section("*Call notifications given up*")]
    for d, error in given_up:
        when, _ = clock(d.received_at, "{date_short_pretty} {time}")
        where = f" in <#{d.channel_id}>" if d.channel_id else ""
        kind = "start" if d.kind == "CallStart" else "end"
        block = _section(f"{await _call_named(services, d)} ({kind}, received {when}){where}: "
                         f"{slack_error_words(error)}")
        if actions:
            block["accessory"] = button("Retry", RETRY, str(d.id))
        blocks.append(block)
    return blocks


async def _call_named(services: Services, delivery: Delivery) -> str:
    """A call as people know it: who called and when it started (its ID only as a last resort)."""
    call = await services.call_notes.summary(delivery.call_id)
    payload = call.start_event if call is not None and call.start_event is not None else (
        delivery.payload if delivery.kind == "CallStart" else None)
    if payload is None:
        return f"A call whose start was not received (`{escape(delivery.call_id)}`)"
    start = CallEvent.model_validate(payload)
    caller = party(start.caller, await names_for(services, start), "caller")
    if call is None or not call.started_at:
        return f"The call from {caller}"
    began, _ = clock(call.started_at, "{date_short_pretty} {time}")
    return f"The call from {caller} that started {began}"


async def _show_status(services: Services, respond: Respond) -> None:
    text = await _status(services)
    blocks = [_section(text[:3000]), *await given_up_blocks(services, limit=10)]
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
    from handlers.app_home import home_refusal

    refused = await home_refusal(services)
    nowhere = await nowhere_to_go(services)
    lines = [
        "*Call events*",
        *([f"• :x: *App Home:* {refused}"] if refused else []),
        *([nowhere] if nowhere else []),
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
        when, _ = clock(at, "{date_short_pretty} {time}")
        where = f" in <#{channel}>" if channel else ""
        lines.append(f"*Last delivery error*{where} (event received {when}): {slack_error_words(error)}")
    else:
        lines.append("*Last delivery error:* none")
    return lines


#: Slack's reasons for refusing a notification for good, in words, with what to do.
SLACK_ERRORS = {
    "not_in_channel": "I'm not a member of that channel: invite me there (`/invite @Telephony Ops`), "
                      "then Retry.",
    "channel_not_found": "The channel was deleted or its ID is wrong: route the service to another channel "
                         "(`/call-events route`), then Retry.",
    "is_archived": "The channel is archived: unarchive it or route the service elsewhere, then Retry.",
    "restricted_action": "The workspace does not let me post in that channel: ask an admin, or route the "
                         "service elsewhere, then Retry.",
    "restricted_action_read_only_channel": "The channel is read-only for apps: route the service to another "
                                           "channel (`/call-events route`), then Retry.",
    "restricted_action_thread_only_channel": "The channel takes replies in threads only: route the service to "
                                             "another channel (`/call-events route`), then Retry.",
    "cannot_reply_to_message": "Slack would not take a reply in that call's thread.",
    "msg_too_long": "The message was longer than Slack allows.",
    "msg_blocks_too_long": "The message's layout was longer than Slack allows.",
    "metadata_too_large": "The message's hidden call details were larger than Slack allows.",
    "invalid_blocks_format": "Slack did not accept the message's layout.",
    "no_text": "The message had no text.",
    "invalid_blocks": "Slack did not accept the message's layout.",
    "invalid_metadata_format": "Slack did not accept the message's hidden call details.",
    "invalid_metadata_schema": "Slack did not accept the message's hidden call details.",
    "invalid_auth": "Slack no longer accepts my token: reinstall the app (or fix SLACK_BOT_TOKEN), then Retry.",
    "not_authed": "Slack received no token from me: set SLACK_BOT_TOKEN, then Retry.",
    "account_inactive": "Slack no longer accepts my token: reinstall the app (or fix SLACK_BOT_TOKEN), "
                        "then Retry.",
    "token_revoked": "My Slack token was revoked: reinstall the app, then Retry.",
    "missing_scope": "The app lacks the permission to post messages: reinstall it with chat:write, then Retry.",
    "ekm_access_denied": "The workspace's key management refused the message.",
    "team_access_not_granted": "The app has no access to that workspace: ask an admin to grant it, then Retry.",
    "internal error": "Something went wrong inside the bot while sending it: Retry.",
    NO_CHANNEL: "It had no channel to go to: set CALL_EVENTS_CHANNEL or route its service "
                "(`/call-events route`), then Retry.",
}


def slack_error_words(error: str) -> str:
    """Why Slack refused a notification, in a sentence; an unknown code as a general fallback."""
    return SLACK_ERRORS.get(error) or f"Slack refused it (`{escape(error or 'no reason given')}`)."


def _epoch(rfc3339: Any) -> float | None:
    if not isinstance(rfc3339, str) or not rfc3339:
        return None
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def confirm_dialog(title: str, text: str, yes: str, no: str = "Cancel") -> dict[str, Any]:
    """Slack's confirmation dialog for a button that stops or undoes something (its limits:
    title 100, text 300, buttons 30 characters)."""
    return {"title": {"type": "plain_text", "text": title[:100]},
            "text": {"type": "mrkdwn", "text": text if len(text) <= 300 else text[:299] + "…"},
            "confirm": {"type": "plain_text", "text": yes[:30]},
            "deny": {"type": "plain_text", "text": no[:30]}, "style": "danger"}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _channel_name(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "no default channel (set CALL_EVENTS_CHANNEL)"


def _masked(url: str | None) -> str:
    """The webhook URL without its secret token."""
    if url is None:
        return "PUBLIC_BASE_URL is not set"
    return url.rsplit("/", 1)[0] + "/••••••"
