"""A person in Slack, for tests, the demo and benches: runs slash commands, fills modals by
block_id, clicks buttons, opens the App Home. Every request is signed as Slack signs it and
sent over HTTP to the bot's real ``/slack/events`` route."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.sandbox.block_kit import errors_problems, view_problems
from bot.sandbox.signing import signed_headers
from bot.sandbox.slack import TEAM, Message, SlackEmulator
from bot.sandbox.slack_files import file_input_state

_ids = itertools.count(1)


@dataclass
class Reply:
    status: int
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip().startswith("{") else None


class InvalidAnswer(AssertionError):
    """The bot answered a submission with something Slack would refuse."""


class NoOptionsUrl(AssertionError):
    """An external select in an app whose manifest gives Slack nowhere to ask for options."""


class SlackUser:
    def __init__(self, events_url: str, signing_secret: str, slack: SlackEmulator,
                 session: aiohttp.ClientSession, *, user_id: str = "U0ADMIN",
                 channel_id: str = "C0OPS") -> None:
        self.events_url = events_url
        self.secret = signing_secret
        self.slack = slack
        self.session = session
        self.user_id = user_id
        self.channel_id = channel_id
        self.last_response_url = ""
        self.late_answers: list[asyncio.Task[None]] = []  # submissions' answers Slack applies late

    async def post(self, body: str, content_type: str = "application/x-www-form-urlencoded",
                   headers: dict[str, str] | None = None) -> Reply:
        sent = headers if headers is not None else signed_headers(self.secret, body,
                                                                    content_type=content_type)
        async with self.session.post(self.events_url, data=body.encode(), headers=sent) as resp:
            return Reply(resp.status, await resp.text())

    def command_body(self, command: str, text: str = "") -> str:
        self.last_response_url = self.slack.new_response_url()
        return urlencode({
            "token": "legacy-unused", "team_id": TEAM, "team_domain": "sandbox",
            "channel_id": self.channel_id, "channel_name": "ops", "user_id": self.user_id,
            "user_name": self.user_id.lower(), "command": command, "text": text,
            "api_app_id": "A0SANDBOX", "response_url": self.last_response_url,
            "trigger_id": self.slack.new_trigger(),
        })

    async def command(self, command: str, text: str = "") -> Reply:
        return await self.post(self.command_body(command, text))

    async def open_modal(self, command: str, text: str = "", timeout: float = 10.0) -> dict[str, Any]:
        """Run a command and return the modal the bot opened (bounded wait)."""
        before = len(self.slack.views)
        reply = await self.command(command, text)
        if reply.status != 200:
            raise AssertionError(f"{command} answered HTTP {reply.status}: {reply.text}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.slack.views) <= before:
            if loop.time() > deadline:
                raise AssertionError(f"{command} opened no modal; it answered {reply.text!r}")
            await asyncio.sleep(0.01)
        return self.last_view()

    async def submit(self, view: dict[str, Any], values: dict[str, Any], *,
                     applied_after: float = 0.0) -> Reply:
        """Submit ``view`` with input blocks filled from ``values`` keyed by block_id.
        A value is a str (text, select option value, date) or a list (multi-selects,
        checkboxes); blocks not named stay empty. ``applied_after``: Slack applies a
        ``response_action: update`` this many seconds after the answer (as it may)."""
        payload = {
            "type": "view_submission", "team": {"id": TEAM}, "api_app_id": "A0SANDBOX",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": TEAM},
            "trigger_id": self.slack.new_trigger(view.get("id")),
            "view": {**view, "state": {"values": state_values(view, values)}},
        }
        reply = await self.post(urlencode({"payload": json.dumps(payload)}))
        answer = reply.json or {}
        problems = []
        if answer.get("response_action") == "errors":
            problems = errors_problems(view, answer.get("errors") or {})
        elif answer.get("response_action") in ("update", "push"):
            problems = view_problems(answer.get("view") or {})
        if problems:  # Slack would show the user "We had some trouble connecting"
            raise InvalidAnswer("; ".join(problems))
        if answer.get("response_action") == "update" and view.get("id") in self.slack.views:
            if applied_after:
                apply = self._apply(view["id"], answer["view"], applied_after)
                self.late_answers.append(asyncio.create_task(apply))
            else:
                self.slack.replace_view(view["id"], answer["view"])  # as Slack would show it
        elif reply.status == 200 and answer.get("response_action") in (None, "clear") and view.get("id"):
            self.slack.close_view(view["id"])  # a plain ack closes the modal
        return reply

    async def _apply(self, view_id: str, view: dict[str, Any], after: float) -> None:
        await asyncio.sleep(after)
        self.slack.replace_view(view_id, view)
    async def close(self, view: dict[str, Any]) -> Reply:
        """The person closes (cancels) ``view``; Slack tells the app when it set notify_on_close."""
        if not view.get("notify_on_close"):
            return Reply(200, "")  # Slack sends nothing
        payload = {"type": "view_closed", "team": {"id": TEAM}, "api_app_id": "A0SANDBOX",
                   "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": TEAM},
                   "view": view, "is_cleared": False}
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    async def click(self, view: dict[str, Any], action_id: str, value: str = "",
                    block_id: str = "", values: dict[str, Any] | None = None,
                    selected: str | None = None) -> Reply:
        """A button click (or a select change when ``selected``) inside ``view``."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id,
                                  "type": "button", "value": value, "action_ts": "1"}
        if selected is not None:
            action.update(type="static_select", selected_option={"value": selected,
                                                                  "text": _text(selected)})
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "api_app_id": "A0SANDBOX",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": TEAM},
            "trigger_id": self.slack.new_trigger(view.get("id")),
            "container": {"type": "view", "view_id": view["id"]},
            "view": {**view, "state": {"values": state_values(view, values or {})}},
            "actions": [action],
        }
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    async def click_message(self, message: Message, action_id: str, block_id: str | None = None) -> Reply:
        """A click on the button ``action_id`` of a channel message (in block ``block_id``
        when given: a roll-up has one per call), as Slack sends it (a ``message`` container
        and a response_url for ephemeral answers)."""
        block_id, button = next((b.get("block_id", ""), e) for b in message.blocks
                                for e in [*b.get("elements", []), b.get("accessory") or {}]
                                if e.get("type") == "button" and e.get("action_id") == action_id
                                and block_id in (None, b.get("block_id")))
        self.last_response_url = self.slack.new_response_url("interactive", message.channel, message.ts)
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "api_app_id": "A0SANDBOX",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": TEAM},
            "trigger_id": self.slack.new_trigger(),
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": False},
            "channel": {"id": message.channel, "name": message.channel.lower()},
            "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
            "response_url": self.last_response_url,
            "actions": [{"action_id": action_id, "block_id": block_id, "type": "button",
                         "value": button.get("value", ""), "action_ts": "1"}],
        }
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    async def suggest(self, view: dict[str, Any], block_id: str, query: str) -> Reply:
        """An external_select asking for options (block_suggestion), sent where the app's
        manifest says: Slack sends none without an Options Load URL in HTTP mode."""
        where = self.slack.options_url()
        if where is None:
            raise NoOptionsUrl("Slack sends no option request: the manifest has no "
                               "settings.interactivity.message_menu_options_url")
        url = self.events_url if where == "socket" else where
        payload = {"type": "block_suggestion", "team": {"id": TEAM}, "api_app_id": "A0SANDBOX",
                   "user": {"id": self.user_id, "team_id": TEAM}, "block_id": block_id,
                   "action_id": "value", "value": query, "view": view}
        body = urlencode({"payload": json.dumps(payload)})
        if url == self.events_url:
            return await self.post(body)
        async with self.session.post(url, data=body.encode(), headers=signed_headers(
                self.secret, body, content_type="application/x-www-form-urlencoded")) as resp:
            return Reply(resp.status, await resp.text())

    async def open_home(self) -> Reply:
        body = json.dumps({
            "token": "legacy-unused", "team_id": TEAM, "api_app_id": "A0SANDBOX",
            "type": "event_callback", "event_id": f"Ev{next(_ids)}", "event_time": 1,
            "event": {"type": "app_home_opened", "user": self.user_id, "channel": "D0HOME",
                      "tab": "home", "event_ts": "1.0"},
        })
        return await self.post(body, content_type="application/json")

    # --- reading what the person sees -----------------------------------------------------

    def last_view(self) -> dict[str, Any]:
        return list(self.slack.views.values())[-1]

    def responses(self) -> list[dict[str, Any]]:
        return self.slack.responses_for(self.last_response_url)


def state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        block_id = block["block_id"]
        element = block["element"]
        value = values[block_id] if block_id in values else _initial(element)
        out[block_id] = {element.get("action_id", "value"): _element_state(element, value)}
    return out


def _initial(element: dict[str, Any]) -> Any:
    """What Slack submits for an element the person did not touch."""
    if "initial_option" in element:
        return element["initial_option"]["value"]
    if "initial_options" in element:
        return [o["value"] for o in element["initial_options"]]
    for key in ("initial_value", "initial_date", "initial_time", "initial_date_time"):
        if key in element:
            return element[key]
    return None


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    state: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        state["value"] = None if value in (None, "") else str(value)
    elif kind in ("static_select", "external_select", "radio_buttons"):
        state["selected_option"] = None if value in (None, "") else {"value": value, "text": _text(value)}
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        items = [value] if isinstance(value, str) else list(value or [])
        state["selected_options"] = [{"value": v, "text": _text(v)} for v in items]
    elif kind == "datepicker":
        state["selected_date"] = value or None
    elif kind == "timepicker":
        state["selected_time"] = value or None
    elif kind == "datetimepicker":
        state["selected_date_time"] = int(value) if value not in (None, "") else None
    elif kind == "file_input":  # file objects, as SlackFile.as_json gives them
        state.update(file_input_state(element, list(value or [])))
    elif kind in ("users_select", "conversations_select", "channels_select"):
        state["selected_" + kind.split("_")[0][:-1]] = value or None
    else:
        state["value"] = value
    return state


def _text(value: str) -> dict[str, str]:
    return {"type": "plain_text", "text": str(value)}
