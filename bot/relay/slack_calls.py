"""The relay's Slack calls: its client (no retry handlers), and what Slack's answers mean
for a delivery: given up for good, retried, or perhaps already taken effect.

Why the relay retries itself instead of using slack-sdk's retry handlers for its writes:
a 5xx or a dropped connection after ``chat.postMessage`` may mean the message *was*
posted, so a blind re-send could duplicate it. The row is kept as ``sending`` and the next
attempt first looks for the event's metadata in the channel. A 429 is unambiguous (nothing
was posted): the lane waits Retry-After and sends again.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.relay import messages

#: Slack errors that retrying cannot fix: recorded, shown in status, not retried. From the
#: error lists of chat.postMessage and chat.update (docs.slack.dev/reference/methods/…).
PERMANENT = frozenset({
    # the channel, the thread or the message
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "restricted_action_thread_locked",
    "cannot_reply_to_message", "thread_not_found", "cant_update_message", "edit_window_closed",
    "duplicate_channel_not_found", "duplicate_message_not_found", "messages_tab_disabled",
    # what was sent
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long",
    "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "metadata_must_be_sent_from_app", "too_many_attachments", "attachment_payload_limit_exceeded",
    "as_user_not_supported", "invalid_arguments", "invalid_arg_name", "invalid_array_arg",
    "invalid_charset", "invalid_form_data", "invalid_post_type", "missing_post_type",
    # the token and the workspace
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "not_allowed_token_type", "no_permission", "ekm_access_denied",
    "team_access_not_granted", "access_denied", "org_login_required", "enterprise_is_restricted",
    "two_factor_setup_required", "is_inactive",
})
#: Slack's answers that it failed inside: the request may or may not have taken effect.
TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
#: Seconds one Slack call may take. slack-sdk ignores its own ``timeout`` when given a
#: session, so the session carries it.
SLACK_TIMEOUT = 10.0


def relay_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT))


def relay_client(token: str, base_url: str, session: aiohttp.ClientSession) -> AsyncWebClient:
    # No retry handlers: see the module docstring. (The default would re-send on a dropped
    # connection.) One session, so connections to Slack are kept alive between messages.
    return AsyncWebClient(token=token, base_url=base_url, timeout=int(SLACK_TIMEOUT), retry_handlers=[],
                          session=session)


def may_have_acted(exc: SlackApiError) -> bool:
    """A 5xx, or Slack saying it failed inside: the message may be in the channel."""
    return exc.response.status_code >= 500 or error_code(exc) in TRANSIENT


def error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer was not Slack's JSON."""
    data = exc.response.data
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"HTTP {exc.response.status_code}")


def with_event(found: list[dict[str, Any]], event_id: str) -> str | None:
    return next((str(m["ts"]) for m in found if messages.event_id_of(m) == event_id), None)


def retry_after(headers: Any) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(raw))
    return 1.0
