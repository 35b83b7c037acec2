"""How call notifications are getting to Slack: whether calls have anywhere to go, the
relay's backlog and last delivery error, and the notifications Slack refused for good (each
with a Retry button). The App Home and `/call-events status` show them."""

from __future__ import annotations

from typing import Any

from bot.mrkdwn import escape
from bot.relay.cards import names_for
from bot.relay.events import CallEvent
from bot.relay.messages import button, clock, party
from bot.relay.nowhere import NO_CHANNEL, nowhere_to_post, sentence, unposted
from bot.services import Services
from bot.store.outbox import Delivery
from handlers.forms import modal

RETRY = "call_events.retry"


async def nowhere_to_go(services: Services) -> str | None:
    """The warning that calls have nowhere to go, with the fix and the events it cost; None
    when they have somewhere."""
    assert services.outbox is not None
    if not nowhere_to_post(services.settings.call_events_channel, await services.outbox.routes()):
        return None
    return sentence(await unposted(services.store))


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


async def given_up_blocks(services: Services, limit: int = 5, *, actions: bool = True) -> list[dict[str, Any]]:
    """Notifications Slack refused for good, each with a Retry button (``actions``: for
    those allowed to use it)."""
    assert services.outbox is not None
    given_up = await services.outbox.given_up(limit)
    if not given_up:
        return []
    blocks = [modal.section("*Call notifications given up*")]
    for d, error in given_up:
        when, _ = clock(d.received_at, "{date_short_pretty} {time}")
        where = f" in <#{d.channel_id}>" if d.channel_id else ""
        kind = "start" if d.kind == "CallStart" else "end"
        block = modal.section(f"{await _call_named(services, d)} ({kind}, received {when}){where}: "
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
