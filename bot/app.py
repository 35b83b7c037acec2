"""The Bolt app: the bot's Slack client, context binding, authorization, the handlers."""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener import AsyncCustomListener
from slack_bolt.listener_matcher.async_builtins import AsyncBuiltinListenerMatcher
from slack_bolt.listener_matcher.async_listener_matcher import AsyncListenerMatcher
from slack_bolt.logger import get_bolt_app_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.payload_utils import to_action, to_command, to_event, to_view
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import refusal
from bot.services import Services
from handlers.commands import changes_nothing

log = structlog.get_logger(__name__)


SLACK_TIMEOUT = 10


def slack_session() -> aiohttp.ClientSession:
    """One session for the bot's Web API calls, so connections to Slack are kept alive
    (without one, slack-sdk opens a session and a connection per call). slack-sdk applies
    the session's timeout, not the client's, to a session it is given."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT))


def slack_client(token: str, base_url: str, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The bot's Web API client; slack-sdk's own handlers retry 429 (Retry-After), 5xx and
    dropped connections."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=SLACK_TIMEOUT,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def describe(body: dict[str, Any]) -> tuple[str, str]:
    """(kind label for metrics and logs, Slack user ID) of a Slack request body."""
    if "command" in body:
        return body["command"], body.get("user_id", "")
    kind = body.get("type", "unknown")
    user = (body.get("user") or {}).get("id", "") if isinstance(body.get("user"), dict) else ""
    if kind in ("view_submission", "view_closed"):
        return f"{kind}:{(body.get('view') or {}).get('callback_id', '')}", user
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return f"block_actions:{actions[0].get('action_id', '')}", user
    if kind == "event_callback":
        event = body.get("event") or {}
        return f"event:{event.get('type', '')}", event.get("user", "")
    return kind, user


def audit_action(body: dict[str, Any]) -> str:
    """The audit log's name for what a refused request tried, as its handler would record
    it: ``contact.create``, ``call_events.route``."""
    if "command" in body:
        name = body["command"].strip("/").replace("-", "_")
        sub = (body.get("text") or "").split(" ")[0].lower()
        return f"{name}.{sub}" if name == "call_events" and sub else f"{name}.create"
    return f"{(body.get('view') or {}).get('callback_id', 'unknown')}.create"


def build_bolt_app(services: Services) -> AsyncApp:
    settings = services.settings
    assert settings.slack_signing_secret is not None
    app = _BotApp(
        # Named: else Bolt names it after its caller's file, found with inspect.stack(),
        # which reads the source of every frame (~0.1 s of the cold start).
        name="bot",
        client=services.slack,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Listeners ack first and hand slow work to services.background themselves, so the
        # HTTP answer goes out as soon as the listener returns (no 10 ms ack polling).
        process_before_response=True,
        logger=_bolt_logger(),
        raise_error_for_unhandled_request=False,
        # The bot defines no custom workflow functions, whose tokens this middleware attaches.
        attaching_function_token_enabled=False,
    )

    app.use(ContextAndAccess(services))

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind, _ = describe(body)
        log.error("slack.listener_failed", kind=kind, error=type(error).__name__,
                  exc_info=error)

    from handlers import register_all

    register_all(app, services)
    _streamline_listeners(app)
    return app


class _BotApp(AsyncApp):
    """Bolt's AsyncApp, whose requests each get a copy of the bot's Web API client.

    Bolt gives each request a client of its own, so a handler may change its token without
    touching the app's; it builds it anew, which reads four proxy variables from the
    environment and the platform's User-Agent every time (~5 us of each ack). A shallow copy,
    with its own parameters and retry list, keeps that isolation. Should a Bolt release rename
    ``_init_context``, this is never called and Bolt's own runs."""

    def _init_context(self, req: AsyncBoltRequest) -> None:
        req.context["logger"] = get_bolt_app_logger(app_name=self.name, base_logger=self._base_logger)
        req.context["token"] = self._token
        client = copy.copy(self._async_client)
        team_id = req.context.team_id
        client.default_params = {} if team_id is None else {"team_id": team_id}
        client.retry_handlers = list(client.retry_handlers)
        req.context["client"] = client
        req.context["listener_runner"] = self.listener_runner


class _BodyMatcher(AsyncListenerMatcher):
    """Bolt's built-in matcher (command name, callback_id, action_id…) called with the body
    alone. Bolt's own builds its every injectable argument (say, respond, client…) first,
    for each listener it tries: with this bot's two dozen listeners, that was most of the
    cost of finding the one a request is for."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func  # Bolt's: ``async def async_fun(body) -> bool``

    async def async_matches(self, req: AsyncBoltRequest, resp: BoltResponse) -> bool:
        return bool(await self.func(body=req.body))


#: The listener arguments this bot's handlers name, each as Bolt's injection gives it.
_ARGUMENTS: dict[str, Callable[[AsyncBoltRequest], Any]] = {
    "ack": lambda req: req.context.ack,
    "body": lambda req: req.body,
    "client": lambda req: req.context.client,
    "respond": lambda req: req.context.respond,
    "command": lambda req: to_command(req.body),
    "view": lambda req: to_view(req.body),
    "action": lambda req: to_action(req.body),
    "event": lambda req: to_event(req.body),
}


class _NamedArgsListener(AsyncCustomListener):
    """Bolt's listener, called with the arguments its function names and no others. Bolt's
    own builds all thirty it could inject (a Say, a Respond, a Complete… each an object) for
    every request, then keeps the three a handler asks for: ~10 us of each ack."""

    def __init__(self, listener: AsyncCustomListener) -> None:
        self.__dict__.update(listener.__dict__)
        self.arguments = [(name, _ARGUMENTS[name]) for name in listener.arg_names]

    async def run_ack_function(self, *, request: AsyncBoltRequest,
                               response: BoltResponse) -> BoltResponse | None:
        return await self.ack_function(**{name: argument(request) for name, argument in self.arguments})


def _streamline_listeners(app: AsyncApp) -> None:
    # Bolt has no public way to give a listener its primary matcher (app.command() and the
    # like always build the built-in one) or its argument injection, so its listener list
    # is read here. Should a Bolt release rename what is read, nothing is swapped: Bolt's own
    # matching and injection run, slower, same result.
    listeners = getattr(app, "_async_listeners", None)
    if not isinstance(listeners, list):
        return
    for index, listener in enumerate(listeners):
        if isinstance(listener.matchers, list):
            listener.matchers = [
                _BodyMatcher(m.func) if type(m) is AsyncBuiltinListenerMatcher and m.arg_names == ["body"]
                else m for m in listener.matchers
            ]
        if type(listener) is AsyncCustomListener and all(name in _ARGUMENTS for name in listener.arg_names):
            listeners[index] = _NamedArgsListener(listener)


def _bolt_logger() -> logging.Logger:
    """Bolt's logger, without the warning it gives at every start because SLACK_BOT_TOKEN
    is in the environment while the bot hands it a ready client (built from that token)."""
    logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _ClientGivenFilter) for f in logger.filters):
        logger.addFilter(_ClientGivenFilter())
    return logger


class _ClientGivenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


class ContextAndAccess(AsyncMiddleware):
    """Binds the Slack user and request kind to every log line of the request, then lets
    BOT_ALLOWED_USERS guard every command (but its help) and every modal submission.
    A class, not a decorated function: Bolt injects no keyword arguments on this hot path."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        body = req.body
        kind, user = describe(body)
        if req.mode == "socket_mode":
            # No HTTP route saw this request: its ID and metrics are given here.
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex[:16])
            started, status = time.perf_counter(), "500"
            try:
                answer = await self._guarded(req, body, kind, user, next)
                status = str(answer.status) if answer is not None else "200"
                return answer
            finally:
                self.services.metrics.slack_answered(kind, status, time.perf_counter() - started)
        return await self._guarded(req, body, kind, user, next)

    async def _guarded(self, req: AsyncBoltRequest, body: dict[str, Any], kind: str, user: str,
                       next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        structlog.contextvars.bind_contextvars(slack_user=user, slack_kind=kind)
        if "command" in body:
            guarded = not changes_nothing(body["command"], body.get("text", ""))
        else:
            guarded = body.get("type") == "view_submission"
        if not guarded or self.services.access.may_provision(user):
            return await next()
        # The refusal is answered at once; its audit row is written after (nothing the ack needs).
        self.services.background.spawn(
            self.services.access.record(user, audit_action(body), "denied", detail="not in BOT_ALLOWED_USERS"),
            name="audit")
        if "command" in body:
            answer: dict[str, Any] = {"response_type": "ephemeral", "text": refusal(user)}
        else:
            answer = {"response_action": "update", "view": refusal_view(user)}
        return BoltResponse(status=200, body=json.dumps(answer),
                            headers={"content-type": "application/json"})


def refusal_view(user: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not allowed"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": refusal(user)}}],
    }
