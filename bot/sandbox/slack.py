"""A local Slack Web API: the methods the bot calls, with Slack's answers and errors.

It keeps channels, threads, views and response_url posts in memory, so tests, the demo and
the benchmarks can read what a person would see. Faults come from ``FakeService``. It
refuses what Slack refuses, with Slack's error name and shape:

=====================================================  ======================================================
Rule (error)                                           Slack source that states it
=====================================================  ======================================================
block_ids unique per surface; action_ids unique per    Block Kit reference, "Blocks" (block_id: "unique for
block (``invalid_arguments`` for views,                each message and each iteration of a message") and
``invalid_blocks`` for messages, "[ERROR] ...          each interactive element (action_id: "unique among
already exists [json-pointer:...]")                    all other action_ids in the containing block")
100 blocks per view, 50 per message                    Block Kit reference, "Blocks": "up to 50 blocks in
                                                       each message, and 100 in modals or Home tabs"
Text and field limits: section text 3,000, fields 10   Block Kit reference: section, header, context,
x 2,000, header 150, context 10 elements, actions 25   actions, input blocks; button, select and option
elements, button text 75 / value 2,000, option 75 /    objects; modal title/submit/close 24
150, label/hint 2,000, placeholder 150
Confirm object: title 100, text 300, confirm/deny 30,  Block Kit reference, composition objects,
style primary|danger                                   "Confirmation dialog object"
Message text over 40,000 (``msg_too_long``); blocks    chat.postMessage reference, errors and "Truncating
not an array (``invalid_blocks_format``); blocks too   really long messages" changelog (2018-04);
long in all (``msg_blocks_too_long``, ~13k, not        slackapi/bolt-js#2509 for the blocks' size
published)
Metadata: a JSON object (``invalid_metadata_format``)  chat.postMessage reference, ``metadata`` argument
with event_type and event_payload                      and errors; "Message metadata" docs
(``invalid_metadata_schema``), within its size
(``metadata_too_large``, 8 KB here: not published)
trigger_id: 3 seconds (``expired_trigger_id``), once   views.open reference, errors; "Handling user
(``exchanged_trigger_id``)                             interaction": "expire 3 seconds after being sent"
View stack of 3 (``push_limit_reached``)               views.push reference: "After a modal is opened, you
                                                       can push up to two additional modal views"; errors
views.update of a closed view (``not_found``), stale   views.update reference, errors ``not_found``,
``hash`` (``hash_conflict``)                           ``hash_conflict``
response_url: 5 posts in 30 minutes (404; Slack      "Handling user interaction", "Responding with a
publishes no error name: ``used_url``, ``expired_url`` response_url": "use a response_url up to five times
are the emulator's); a slash command's                 within thirty minutes"; slash commands docs (posts
``replace_original`` does not replace its answer, an   are new messages); interactive messages docs
interactive message's does                             (``replace_original``)
Channel membership: history/replies                    conversations.history/replies references (errors);
(``not_in_channel``); posting needs membership, or a   chat:write.public scope reference
public channel and ``chat:write.public``
Rate limits, 429 + Retry-After (``ratelimited``):      "Rate limits" docs (tiers, "1 message per second
chat.postMessage 1/s per channel with short bursts;    per channel" with bursts); each method's reference
chat.update, conversations.history/replies Tier 3      page for its tier
(50/min), views.*, chat.postEphemeral, users.info
Tier 4 (100/min), per workspace
Option requests (block_suggestion) only to the         App manifest reference, settings.interactivity
manifest's ``message_menu_options_url`` in HTTP mode   .message_menu_options_url; external select docs
=====================================================  ======================================================
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.base import FakeService, Fault
from bot.sandbox.block_kit import view_problems
from bot.sandbox.slack_files import SlackFiles
from bot.sandbox.slack_limits import RateLimits, ResponseUrl, Triggers
from bot.sandbox.slack_rules import MESSAGE_BLOCKS, blocks_problems, message_error, metadata_error

BOT_USER = "U0BOT"
_MENTION = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
TEAM = "T0SANDBOX"


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edits: int = 0
    user: str = BOT_USER
    #: (when, blocks) of the post and of each edit: what readers saw, and from when
    versions: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    is_private: bool = False


class SlackEmulator(FakeService):
    name = "slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-token",
        app_token: str = "xapp-sandbox-token",
        channel_rate: float | None = None,
        strict_channels: bool = False,
        scopes: list[str] | None = None,
        manifest: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        from bot.manifest import BOT_SCOPES
        self.bot_token = bot_token
        self.app_token = app_token
        self.sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: Slack's per-method limits; ``channel_rate`` sets chat.postMessage's per channel
        self.limits = RateLimits()
        self.rate_limited: Counter[str] = Counter()  # requests answered 429, by method
        if channel_rate:
            self.limits.set_rate("chat.postMessage", channel_rate, max(3.0, channel_rate))
        #: the bot token's scopes (the manifest's by default)
        self.scopes = set(BOT_SCOPES if scopes is None else scopes)
        #: the app's manifest: where option requests go (``options_url``)
        self.manifest = manifest
        self.triggers = Triggers()
        self.closed_views: set[str] = set()
        #: when True, only channels added with ``add_channel`` exist
        self.strict_channels = strict_channels
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.response_urls: dict[str, ResponseUrl] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._ts_last = 0.0
        self.files = SlackFiles(self)
        super().__init__(seed=seed)

    # --- fixtures --------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str | None = None, *, member: bool = True,
                    archived: bool = False, private: bool = False) -> Channel:
        channel = Channel(channel_id, name or channel_id.lower(), member, archived, private)
        self.channels[channel_id] = channel
        return channel

    def hold(self, channel_id: str, seconds: float) -> None:
        """The channel is at its posting limit for ``seconds`` (as if others had just posted
        there): chat.postMessage answers 429 with Retry-After until then."""
        self.limits.hold("chat.postMessage", channel_id, seconds)

    def add_user(self, user_id: str, name: str, real_name: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "real_name": real_name or name,
                               "tz": "UTC", "profile": {"display_name": name}}

    def new_response_url(self, kind: str = "command", channel: str = "",
                         message_ts: str | None = None) -> str:
        """A slash command's response_url, or (``kind="interactive"``) a message click's."""
        key = f"R{next(self._ids):06d}"
        self.response_urls[key] = ResponseUrl("interactive" if kind == "interactive" else "command",
                                              channel, message_ts)
        return f"{self.url}/response/{key}"

    @property
    def responses(self) -> dict[str, list[dict[str, Any]]]:
        return {key: r.posts for key, r in self.response_urls.items()}

    def new_trigger(self, view_id: str | None = None) -> str:
        """A trigger_id, as Slack sends with an interaction (from ``view_id``'s modal)."""
        return self.triggers.issue(view_id)

    def options_url(self) -> str | None:
        """Where Slack sends option requests: in HTTP mode only to the manifest's Options
        Load URL (None: Slack sends none); in Socket Mode over the socket ("socket")."""
        if self.manifest is None:
            return "socket" if self.sockets else None
        settings = self.manifest.get("settings") or {}
        if settings.get("socket_mode_enabled"):
            return "socket"
        return (settings.get("interactivity") or {}).get("message_menu_options_url")

    def close_view(self, view_id: str) -> None:
        """The person closed the modal (or submitted it and the bot closed it)."""
        root = self.views.get(view_id, {}).get("root_view_id", view_id)
        self.closed_views.update(k for k, v in self.views.items() if v.get("root_view_id") == root)
        self.closed_views.add(view_id)

    # --- reading what a person would see -----------------------------------------------------

    def channel_messages(self, channel: str) -> list[Message]:
        """Top-level messages, oldest first."""
        return [m for m in self.messages.get(channel, []) if m.thread_ts in (None, m.ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages.get(channel, []) if m.thread_ts == ts and m.ts != ts]

    def all_posts(self) -> list[Message]:
        return [m for msgs in self.messages.values() for m in msgs]

    def render_channel(self, channel: str) -> str:
        lines = [f"#{self._channel_name(channel)}"]
        for msg in self.channel_messages(channel):
            edited = " (edited)" if msg.edits else ""
            lines.append(f"  bot: {self.as_seen(msg.text)}{edited}")
            for reply in self.thread(channel, msg.ts):
                lines.append(f"      ↳ {self.as_seen(reply.text)}")
        return "\n".join(lines)

    def as_seen(self, text: str) -> str:
        """mrkdwn as a person reads it in Slack: channel and user mentions by name, dates and
        links by their label, entities decoded, no formatting marks."""

        def token(match: re.Match[str]) -> str:
            inner, label = match.group(1), match.group(2)
            if inner.startswith("#"):
                return "#" + (label or self._channel_name(inner[1:]))
            if inner.startswith("@"):
                user = self.users.get(inner[1:])
                return "@" + (label or (user["name"] if user else inner[1:]))
            if inner.startswith("!"):
                return label or "@" + inner[1:].split("^")[0]
            return label or inner

        text = re.sub(r"[*`]", "", _MENTION.sub(token, text))
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def _channel_name(self, channel_id: str) -> str:
        return self.channels[channel_id].name if channel_id in self.channels else channel_id

    def replace_view(self, view_id: str, view: dict[str, Any]) -> None:
        """A view_submission answered with response_action "update"."""
        self._store_view(view, view_id)

    def responses_for(self, response_url: str) -> list[dict[str, Any]]:
        """Every post the bot made to ``response_url``."""
        found = self.response_urls.get(response_url.rsplit("/", 1)[-1])
        return list(found.posts) if found else []

    def shown_for(self, response_url: str) -> list[dict[str, Any]]:
        """The ephemeral messages the person sees from ``response_url``'s posts, oldest first
        (a slash command's own answer, sent in the HTTP reply, is not among them)."""
        found = self.response_urls.get(response_url.rsplit("/", 1)[-1])
        return list(found.shown) if found else []

    # --- the Web API ----------------------------------------------------------------------------

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/{method}", self._api)
        router.add_get("/api/{method}", self._api)  # slack-sdk reads conversations.* with GET
        router.add_post("/response/{key}", self._response_url)
        router.add_get("/socket-mode", self._socket_mode)
        self.files.setup_routes(router)

    def fault_response(self, fault: Fault) -> web.StreamResponse:
        error = {200: "internal_error", 429: "ratelimited", 500: "internal_error",
                 503: "service_unavailable"}.get(
            fault.status, "fatal_error")
        body = fault.body if fault.body is not None else {"ok": False, "error": error}
        return web.json_response(body, status=fault.status, headers=fault.headers)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else str(args.get("token", ""))
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return _error("not_authed" if not token else "invalid_auth")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        if (refused := self.files.missing_scope(method)) is not None:
            return refused
        retry_after = self.limits.retry_after(method, str(args.get("channel", "")))
        if retry_after is not None:
            self.rate_limited[method] += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        result: web.StreamResponse = await handler(args)
        return result

    async def _m_auth_test(self, args: dict[str, Any]) -> web.Response:
        return _ok(url="https://sandbox.slack.com/", team="Sandbox", user="bot", team_id=TEAM,
                   user_id=BOT_USER, bot_id="B0BOT", is_enterprise_install=False)

    # Socket Mode: the app opens a WebSocket and acks each envelope on it
    async def _m_apps_connections_open(self, args: dict[str, Any]) -> web.Response:
        return _ok(url=self.url.replace("http://", "ws://") + "/socket-mode")

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets),
                            "connection_info": {"app_id": "A0SANDBOX"}})
        try:
            async for msg in ws:
                try:
                    data = json.loads(msg.data)
                except (TypeError, ValueError):
                    continue
                future = self._socket_acks.pop(str(data.get("envelope_id")), None)
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self.sockets.remove(ws)
        return ws

    async def socket_mode_send(self, kind: str, payload: dict[str, Any],
                               timeout: float = 5.0) -> dict[str, Any]:
        """Deliver one envelope (``slash_commands``, ``interactive``, ``events_api``) to the
        connected app and return its ack."""
        if not self.sockets:
            raise RuntimeError("no Socket Mode connection")
        envelope_id = f"env-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = future
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": kind,
                                          "payload": payload, "accepts_response_payload": True})
        return await asyncio.wait_for(future, timeout)

    # views
    async def _m_views_open(self, args: dict[str, Any]) -> web.Response:
        error, _ = self.triggers.exchange(str(args.get("trigger_id") or ""))
        if error:
            return _error(error)
        return self._store_view(_view_arg(args), None)

    async def _m_views_push(self, args: dict[str, Any]) -> web.Response:
        error, from_view = self.triggers.exchange(str(args.get("trigger_id") or ""))
        if error:
            return _error(error)
        root = self.views.get(from_view or "", {}).get("root_view_id")
        if root is None:  # Slack pushes onto the modal the interaction came from
            return _error("invalid_trigger_id")
        stack = [k for k, v in self.views.items() if v.get("root_view_id") == root
                 and k not in self.closed_views]
        if len(stack) >= 3:
            return _error("push_limit_reached")
        return self._store_view(_view_arg(args), None, root=root)

    async def _m_views_update(self, args: dict[str, Any]) -> web.Response:
        view_id = args.get("view_id")
        if not view_id:
            ext = args.get("external_id")
            view_id = next((k for k, v in self.views.items() if v.get("external_id") == ext), None)
        if view_id not in self.views or view_id in self.closed_views:
            return _error("not_found")
        if args.get("hash") and args["hash"] != self.views[view_id]["hash"]:
            return _error("hash_conflict")
        return self._store_view(_view_arg(args), view_id)

    async def _m_views_publish(self, args: dict[str, Any]) -> web.Response:
        view = _view_arg(args)
        problems = view_problems(view) or ([] if view.get("type") == "home" else ["type must be home"])
        if problems:
            return _invalid(problems)
        view["id"] = f"VH{next(self._ids):06d}"
        self.home_views[str(args.get("user_id"))] = view
        return _ok(view=view)

    def _store_view(self, view: dict[str, Any], view_id: str | None, root: str | None = None) -> web.Response:
        problems = view_problems(view) or ([] if view.get("type") == "modal" else ["type must be modal"])
        if problems:
            return _invalid(problems)
        previous = self.views.get(view_id or "", {})
        view_id = view_id or f"V{next(self._ids):06d}"
        view = {**view, "id": view_id, "hash": f"h{next(self._ids)}", "team_id": TEAM,
                "state": {"values": {}}, "root_view_id": previous.get("root_view_id", root or view_id)}
        self.views[view_id] = view
        return _ok(view=view)

    # chat
    async def _m_chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        channel, problem = self._writable(str(args.get("channel", "")))
        if problem:
            return problem
        refused = self._message_refused(args)
        if refused:
            return refused
        thread_ts = args.get("thread_ts") or None
        if thread_ts:
            parent = next((m for m in self.messages.get(channel, []) if m.ts == thread_ts), None)
            if parent is None:
                return _error("thread_not_found")
            if parent.thread_ts not in (None, parent.ts):
                return _error("cannot_reply_to_message")  # a reply cannot start a thread
        msg = Message(channel, self._new_ts(), str(args.get("text", "")), _json(args.get("blocks")) or [],
                      thread_ts, _json(args.get("metadata")))
        msg.versions.append((time.time(), msg.blocks))
        self.messages.setdefault(channel, []).append(msg)
        return _ok(channel=channel, ts=msg.ts, message=_message_json(msg, with_metadata=True))

    async def _m_chat_update(self, args: dict[str, Any]) -> web.Response:
        channel, problem = self._writable(str(args.get("channel", "")))
        if problem:
            return problem
        msg = next((m for m in self.messages.get(channel, []) if m.ts == args.get("ts")), None)
        if msg is None:
            return _error("message_not_found")
        refused = self._message_refused({"text": args.get("text", msg.text), **args})
        if refused:
            return refused
        msg.text = str(args.get("text", msg.text))
        if "blocks" in args:
            msg.blocks = _json(args.get("blocks")) or []
        if "metadata" in args:
            msg.metadata = _json(args.get("metadata"))
        msg.edits += 1
        msg.versions.append((time.time(), msg.blocks))
        return _ok(channel=channel, ts=msg.ts, text=msg.text)

    async def _m_chat_postEphemeral(self, args: dict[str, Any]) -> web.Response:
        channel, problem = self._writable(str(args.get("channel", "")))
        if problem:
            return problem
        refused = self._message_refused(args)
        if refused:
            return refused
        entry = {"channel": channel, "user": args.get("user"), "text": args.get("text", ""),
                 "blocks": _json(args.get("blocks")) or []}
        self.ephemerals.append(entry)
        return _ok(message_ts=self._new_ts())

    def _message_refused(self, args: dict[str, Any]) -> web.Response | None:
        refused = message_error(args.get("text"), args.get("blocks"), blocks_given="blocks" in args)
        if refused:
            return _invalid_blocks(*refused)
        if "metadata" in args:
            error = metadata_error(args["metadata"])
            if error:
                return _error(error)
        return None
    # files (bot/sandbox/slack_files.py)
    async def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> web.Response:
        return await self.files.get_upload_url(args)

    async def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> web.Response:
        return await self.files.complete_upload(args)

    async def _m_files_info(self, args: dict[str, Any]) -> web.Response:
        return await self.files.info(args)

    # conversations / users
    async def _m_conversations_info(self, args: dict[str, Any]) -> web.Response:
        channel = self._channel(str(args.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        return _ok(channel={"id": channel.id, "name": channel.name, "is_member": channel.is_member,
                            "is_archived": channel.is_archived, "is_channel": True})

    async def _m_conversations_history(self, args: dict[str, Any]) -> web.Response:
        channel, refused = self._readable(str(args.get("channel", "")))
        if channel is None:
            return refused
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [m for m in reversed(self.channel_messages(channel.id)) if float(m.ts) >= oldest]
        start = int(str(args.get("cursor") or "0").removeprefix("next:") or 0)
        page, more = found[start:start + limit], len(found) > start + limit
        return _ok(messages=[_message_json(m, with_meta) for m in page], has_more=more,
                   response_metadata={"next_cursor": f"next:{start + limit}" if more else ""})

    async def _m_conversations_replies(self, args: dict[str, Any]) -> web.Response:
        channel, refused = self._readable(str(args.get("channel", "")))
        if channel is None:
            return refused
        ts = str(args.get("ts", ""))
        parent = [m for m in self.messages.get(channel.id, []) if m.ts == ts]
        if not parent:
            return _error("thread_not_found")
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        msgs = parent + self.thread(channel.id, ts)
        return _ok(messages=[_message_json(m, with_meta) for m in msgs], has_more=False)

    async def _m_users_info(self, args: dict[str, Any]) -> web.Response:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return _error("user_not_found")
        return _ok(user=user)

    # response_url
    async def _response_url(self, request: web.Request) -> web.Response:
        found = self.response_urls.get(request.match_info["key"])
        if found is None:
            return web.Response(status=404, text="invalid response_url")
        refusal = found.refusal()
        if refusal:
            return web.json_response({"ok": False, "error": refusal}, status=404)
        body = await request.json()
        found.posts.append(body)
        if "blocks" in body:
            problems = blocks_problems(body["blocks"], MESSAGE_BLOCKS)
            if problems:
                return web.json_response({"ok": False, "error": "invalid_blocks", "errors": problems,
                                          "response_metadata": {"messages": problems}}, status=400)
        replace = body.get("replace_original") in (True, "true")
        delete = body.get("delete_original") in (True, "true")
        original = next((m for m in self.messages.get(found.channel, []) if m.ts == found.message_ts), None)
        if found.kind == "interactive" and original is not None and body.get("response_type") != "ephemeral" \
                and (replace or delete):
            if delete:
                self.messages[found.channel].remove(original)
            else:
                original.text, original.blocks = str(body.get("text", "")), body.get("blocks") or []
                original.edits += 1
        elif found.kind == "interactive" and found.shown and (replace or delete):
            found.shown.pop()  # an ephemeral message this response_url made is replaced
            if replace:
                found.shown.append(body)
        elif not delete:  # a slash command's answer stays: each post is another message
            found.shown.append(body)
        return web.Response(text="ok")

    # --- helpers --------------------------------------------------------------------------------

    def _channel(self, channel_id: str) -> Channel | None:
        if channel_id in self.channels:
            return self.channels[channel_id]
        if not self.strict_channels and channel_id[:1] in ("C", "G", "D") and len(channel_id) >= 2:
            return self.add_channel(channel_id)
        return None

    def _writable(self, channel_id: str) -> tuple[str, web.Response | None]:
        channel = self._channel(channel_id)
        if channel is None:
            return channel_id, _error("channel_not_found")
        if channel.is_archived:
            return channel_id, _error("is_archived")
        if not channel.is_member and (channel.is_private or "chat:write.public" not in self.scopes):
            return channel_id, _error("not_in_channel")
        return channel.id, None

    def _readable(self, channel_id: str) -> tuple[Channel | None, web.Response]:
        channel = self._channel(channel_id)
        if channel is None:
            return None, _error("channel_not_found")
        if not channel.is_member:
            return None, _error("not_in_channel")
        return channel, _error("")

    def _new_ts(self) -> str:
        now = max(time.time(), self._ts_last + 0.000001)
        self._ts_last = now
        return f"{now:.6f}"


async def _arguments(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        args: dict[str, Any] = {}
    elif request.content_type == "application/json":
        body = await request.json()
        args = dict(body) if isinstance(body, dict) else {}
    else:
        args = dict((await request.post()).items())
    args.update(request.query)
    return args


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _view_arg(args: dict[str, Any]) -> dict[str, Any]:
    view = _json(args.get("view"))
    return dict(view) if isinstance(view, dict) else {}


def _message_json(msg: Message, with_metadata: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message", "user": msg.user, "bot_id": "B0BOT", "ts": msg.ts,
                           "text": msg.text, "blocks": msg.blocks}
    if msg.thread_ts:
        out["thread_ts"] = msg.thread_ts
    if with_metadata and msg.metadata:
        out["metadata"] = msg.metadata
    return out


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(code: str) -> web.Response:
    return web.json_response({"ok": False, "error": code})


def _invalid(problems: list[str]) -> web.Response:
    """Slack's answer to a view it refuses: the error and what was wrong."""
    return web.json_response({"ok": False, "error": "invalid_arguments", "response_metadata": {
        "messages": [p if p.startswith("[ERROR]") else f"[ERROR] {p}" for p in problems]}})


def _invalid_blocks(error: str, problems: list[str]) -> web.Response:
    """Slack's answer to a message it refuses (``invalid_blocks`` names what was wrong)."""
    body: dict[str, Any] = {"ok": False, "error": error}
    if problems:
        body.update(errors=problems, response_metadata={"messages": problems})
    return web.json_response(body)
