"""`python -m bot demo` (and `make run` without Slack credentials): the bot against local
Slack and provider stand-ins, a scripted session, and what a person would see."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

from bot.logs import configure_logging
from bot.sandbox.base import FakeService
from bot.sandbox.demo_calls import play_calls
from bot.sandbox.demo_import import play_import
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS
from handlers.forms.provisioning import masked as masked_request

SECRET_KEYS = re.compile(r"password|secret|token|auth", re.IGNORECASE)


def say(line: str = "") -> None:
    print(line, flush=True)


def show_reply(user: SlackUser, typed: str, text: str, who: str = "ops") -> None:
    say(f"{who}> {typed}")
    for line in user.slack.as_seen(text).splitlines():
        say(f"    │ {line}")
    say()


def masked(value: Any, key: str = "") -> Any:
    if key and SECRET_KEYS.search(key):
        return "••••••"
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    return value


def show_requests(name: str, sim: FakeService) -> None:
    """Every request a provider received, in order: what was sent (secrets masked) for each
    change, and the reads counted."""
    say(f"{name} received:")
    reads: dict[str, int] = {}
    for req in sim.requests:
        path = req.path.split("?")[0]
        if req.method in ("POST", "PATCH", "PUT", "DELETE"):
            # the forms' masking: Yeastar's {"k", "v"} credential pairs too
            shown = masked_request(masked(req.body))
            body = json.dumps(shown, ensure_ascii=False) if req.body is not None else ""
            say(f"    {req.method} {path}  {body}")
        else:
            reads[f"{req.method} {path}"] = reads.get(f"{req.method} {path}", 0) + 1
    for read, count in reads.items():
        say(f"    {read}" + (f"  ×{count}" if count > 1 else ""))
    say()


def view_text(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if isinstance(b.get("text"), dict))


# --- forms as a person sees them -------------------------------------------------------------


def _element_shows(element: dict[str, Any]) -> str:
    """What an input shows: its value, else its placeholder (grey in Slack, marked here)."""
    for key in ("initial_value", "initial_date", "initial_time"):
        if element.get(key):
            return f"[ {element[key]} ]"
    if element.get("initial_option"):
        return f"[ {element['initial_option']['text']['text']} ▾ ]"
    if element.get("initial_options"):
        chosen = ", ".join(o["text"]["text"] for o in element["initial_options"])
        return f"[ ☑ {chosen} ]" if element["type"] == "checkboxes" else f"[ {chosen} ▾ ]"
    kind = element["type"]
    if kind == "checkboxes":
        return "[ ☐ " + ", ".join(o["text"]["text"] for o in element.get("options", [])) + " ]"
    placeholder = (element.get("placeholder") or {}).get("text", "")
    if kind in ("static_select", "multi_static_select"):
        placeholder = placeholder or "Choose…"
        return f"[ ‹{placeholder}› ▾ ]"
    if kind in ("external_select", "multi_external_select"):
        return f"[ ‹{placeholder or 'Type to search…'}› 🔎 ]"
    if kind in ("datepicker", "timepicker", "datetimepicker"):
        return "[ 📅 ]"
    if kind == "file_input":
        return f"[ 📎 ‹drop a {', '.join(element.get('filetypes') or ['any'])} file› ]"
    return f"[ ‹{placeholder}› ]" if placeholder else "[            ]"


def show_view(user: SlackUser, view: dict[str, Any], *, inputs_only_with_values: bool = False) -> None:
    """A modal drawn as text: headings, labels, what each input shows, hints, buttons."""
    say(f"    ┌─ {view['title']['text']} " + "─" * max(4, 50 - len(view["title"]["text"])))
    hidden: list[str] = []
    for block in view["blocks"]:
        kind = block["type"]
        if kind == "header":
            say("    │")
            say(f"    │ ▌{block['text']['text'].upper()}")
        elif kind == "input":
            shown = _element_shows(block["element"])
            if inputs_only_with_values and ("‹" in shown or shown.startswith("[  ") or shown == "[ 📅 ]"):
                hidden.append(block["label"]["text"])
                continue
            optional = " (optional)" if block.get("optional") else ""
            say(f"    │ {block['label']['text']}{optional}  {shown}")
            if block.get("hint") and not inputs_only_with_values:
                say(f"    │     {block['hint']['text']}")
        elif kind == "actions":
            say("    │ " + "  ".join(f"⟦{e['text']['text']}⟧" for e in block["elements"]))
        elif kind in ("section", "context"):
            text = block["text"]["text"] if kind == "section" else block["elements"][0]["text"]
            mark = "" if kind == "section" else "  "
            for line in user.slack.as_seen(text).splitlines():
                say(f"    │ {mark}{line}")
        elif kind == "divider":
            say("    │ " + "┄" * 40)
    if hidden:
        say("    │")
        say(f"    │ (empty, still on the form, not drawn here: {', '.join(hidden)})")
    buttons = [f"⟦{view['close']['text']}⟧"] + ([f"⟦{view['submit']['text']}⟧"] if view.get("submit") else [])
    say("    └─ " + "  ".join(buttons))
    say()


def _as_labels(view: dict[str, Any], block_id: str, value: Any) -> Any:
    """A select's chosen values as the person sees them (their labels)."""
    element: dict[str, Any] = next((b["element"] for b in view["blocks"] if b.get("block_id") == block_id), {})
    labels = {o["value"]: o["text"]["text"] for o in element.get("options", [])}
    if isinstance(value, list):
        return [labels.get(v, v) for v in value]
    return labels.get(value, value)


def label_of(view: dict[str, Any], block_id: str) -> str:
    """The label a person reads above the input ``block_id``."""
    return next((b["label"]["text"] for b in view["blocks"] if b.get("block_id") == block_id), block_id)


def show_filled(view: dict[str, Any], values: dict[str, Any]) -> None:
    width = max((len(label_of(view, block_id)) for block_id in values), default=0) + 2
    for block_id, value in values.items():
        shown = "••••••" if SECRET_KEYS.search(block_id) else _as_labels(view, block_id, value)
        if isinstance(shown, list):
            shown = ", ".join(shown)
        say(f"      {label_of(view, block_id):<{width}} {str(shown).replace(chr(10), ' ⏎ ')}")


async def submit(user: SlackUser, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """Submit the form; print its inline errors (and return None), or return the view the
    person ends up with (the answer itself, or the outcome that replaces "Creating…")."""
    say(f"ops submits “{view['title']['text']}” with:")
    show_filled(view, values)
    reply = await user.submit(view, values)
    answer = reply.json or {}
    if answer.get("response_action") == "errors":
        say("    The form stays as typed; Slack shows in red, under each field:")
        for block_id, sentence in answer["errors"].items():
            say(f"      {label_of(view, block_id)} → {sentence}")
        say()
        return None
    for _ in range(1000):
        seen = user.slack.views[view["id"]]
        if "Creating" not in view_text(seen):
            return seen
        await asyncio.sleep(0.01)
    return user.slack.views[view["id"]]


async def click(user: SlackUser, view: dict[str, Any], action_id: str) -> dict[str, Any]:
    label = next(e["text"]["text"] for b in view["blocks"] if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == action_id)
    say(f"ops clicks ⟦{label}⟧")
    before, count = user.slack.views[view["id"]]["hash"], len(user.slack.views)
    await user.click(view, action_id)
    for _ in range(500):
        if len(user.slack.views) > count:
            return user.last_view()
        if user.slack.views[view["id"]]["hash"] != before:
            return user.slack.views[view["id"]]
        await asyncio.sleep(0.01)
    return user.slack.views[view["id"]]


async def choose(user: SlackUser, view: dict[str, Any], block_id: str, value: Any) -> dict[str, Any]:
    chosen = _as_labels(view, block_id, value)
    say(f"ops chooses {', '.join(chosen) if isinstance(chosen, list) else chosen}; the form follows:")
    before = user.slack.views[view["id"]]["hash"]
    await user.click(view, "value", block_id=block_id, values={block_id: value})
    for _ in range(500):
        if user.slack.views[view["id"]]["hash"] != before:
            break
        await asyncio.sleep(0.01)
    return user.slack.views[view["id"]]


async def reply_after(user: SlackUser, seen: int) -> None:
    """The ephemeral message the last submission posted (the ``seen``-th one on), once it
    has arrived: it follows the modal's update."""
    for _ in range(500):
        if len(user.responses()) > seen:
            break
        await asyncio.sleep(0.01)
    for response in user.responses()[seen:][-1:]:
        say("    and in the channel, only to ops:")
        for line in user.slack.as_seen(response["text"]).splitlines():
            say(f"      {line}")
        say()


async def play_forms(stack: SandboxStack, user: SlackUser) -> bool:
    """The four forms as a person meets them: a field error, a provider refusal that keeps
    the form, the result and its next steps."""
    say("━━ 1. A contact (CINNOX) ━━")
    say("ops> /contact")
    view = await user.open_modal("/contact")
    show_view(user, view)
    await submit(user, view, {"firstName": "Ada", "phones.0.phone": "94667788"})

    say("CINNOX will refuse the next create (a 400, as if its rules were stricter):")
    stack.cinnox.inject(400, body={"code": 6451000, "message": "invalid phone format"},
                        path_prefix="/v1/api/apps/")
    values = {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines",
              "phones.0.phone": "+85294667788", "emails.0.email": "ada@example.com"}
    seen = len(user.responses())
    kept = await submit(user, view, values)
    if kept is None:
        return False
    say("    The same form stays open, every value still in it:")
    show_view(user, kept, inputs_only_with_values=True)
    await reply_after(user, seen)
    say("ops submits it again as it is (nothing is re-sent until ops asks):")
    seen = len(user.responses())
    result = await submit(user, kept, {})
    if result is None or "created" not in view_text(result):
        return False
    show_view(user, result)
    await reply_after(user, seen)
    request = await click(user, result, "form.show_request")
    show_view(user, request)
    again = await click(user, result, "form.create_another")
    say("    The form again, filled in like the last one:")
    show_view(user, again, inputs_only_with_values=True)

    say("A caller saved by number alone:")
    phone_only = await submit(user, await user.open_modal("/contact"), {"phones.0.phone": "+85261234567"})
    if phone_only is None or "created" not in view_text(phone_only):
        return False
    show_view(user, phone_only)

    say("━━ 2. A service group (CINNOX) ━━")
    say("ops> /service-group")
    view = await user.open_modal("/service-group")
    view = await choose(user, view, "types", ["PHONE"])
    show_view(user, view)
    result = await submit(user, view, {"displayName": "Sales HK", "supportLanguages": ["en", "zh"],
                                       "supportLocations": ["HK"], "types": ["PHONE"],
                                       "phoneTargets": "+85294667788\n+85221234567"})
    if result is None or "created" not in view_text(result):
        return False
    show_view(user, result)

    say("━━ 3. A SIP endpoint (Bandwidth) ━━")
    say("ops> /sip-endpoint")
    view = await user.open_modal("/sip-endpoint")
    show_view(user, view)
    say("Bandwidth is down for the next request (a 500):")
    stack.bandwidth.inject(500, body={"category": "server-error", "code": "internal-error",
                                      "message": "Internal server error"}, path_prefix="/v1/users/")
    endpoint = {"name": "jsmith_mobile", "description": "John Smith's mobile client",
                "credentials.password": "s3cret-Pass"}
    kept = await submit(user, view, endpoint)
    if kept is None:
        return False
    show_view(user, kept)
    say("ops types the password again and submits:")
    result = await submit(user, kept, {"credentials.password": "s3cret-Pass"})
    if result is None or "created" not in view_text(result):
        return False
    show_view(user, result)

    say("━━ 4. An SMS channel (Yeastar) ━━")
    say("ops> /message-channel sms")
    view = await user.open_modal("/message-channel", "sms")
    view = await choose(user, view, "channel", "twilio")
    show_view(user, view)
    result = await submit(user, view, {"name": "Support SMS", "channel": "twilio", "webhook_url_type": "nat",
                                       "account_data.account_sid": "AC0123456789",
                                       "account_data.auth_token": "twilio-secret"})
    if result is None or "created" not in view_text(result):
        return False
    show_view(user, result)

    say("━━ Someone not on BOT_ALLOWED_USERS ━━")
    visitor = stack.user("U0VISITOR")
    reply = await visitor.command("/contact")
    show_reply(visitor, "/contact", (reply.json or {}).get("text", ""), who="visitor")
    return True


def show_channel(stack: SandboxStack, channel: str, when: str) -> None:
    say()
    say(f"What the team sees in Slack {when}:")
    for line in stack.slack.render_channel(channel).splitlines():
        say(f"    {line}")
    say()


async def wait_for(check: Any, seconds: float = 15.0) -> Any:
    for _ in range(int(seconds / 0.02)):
        if result := check():
            return result
        await asyncio.sleep(0.02)
    return None


NEXT_STEP = """Next: connect a real workspace (README, "Create the Slack app").
  1. cp .env.example .env. make manifest prints the app's manifest (Socket Mode); on
     https://api.slack.com/apps choose Create New App → From an app manifest and paste it.
  2. Install the app to the workspace. In .env set SLACK_BOT_TOKEN (the xoxb- Bot User OAuth
     Token) and SLACK_SIGNING_SECRET. For Socket Mode, create an app-level token with the
     connections:write scope (Basic Information → App-Level Tokens) and set SLACK_APP_TOKEN (xapp-…).
  3. Also in .env: the CINNOX / Bandwidth / Yeastar variables of the providers you use;
     PUBLIC_BASE_URL, the address the internet reaches this server at (CINNOX posts call
     events to it); CALL_EVENTS_CHANNEL, the ID of the channel for calls; BOT_ALLOWED_USERS,
     the Slack user IDs allowed to create things (unset: everyone in the workspace).
  4. make run. In Slack, invite the bot to the calls channel (/invite @Telephony Ops) and
     type /call-events subscribe to point CINNOX's call events at it.
  5. If something is missing, .venv/bin/python -m bot check says what is missing."""


async def run_demo() -> int:
    configure_logging("ERROR", "console")
    say("Telephony chat-ops bot — sandbox demo")
    say("(a local Slack Web API emulator and CINNOX / Bandwidth / Yeastar simulators on loopback)")
    say()
    async with SandboxStack(log_level="ERROR", bot_allowed_users="U0DEMO") as stack:
        user = stack.user("U0DEMO")
        stack.slack.add_user("U0DEMO", "ops")
        stack.slack.add_channel(user.channel_id, "ops")  # where ops types the commands
        say(f"Bot listening on {stack.url}; every Slack request is signed as Slack signs it.")
        say("Lines starting “ops>” are what the person types; boxes are the forms Slack shows them.")
        say()
        for name in COMMANDS:
            reply = await user.command(name, "help")
            if reply.status != 200 or not reply.json:
                say(f"{name} help → HTTP {reply.status}")
                return 1
        say("Every command answers `help`, e.g.:")
        show_reply(user, "/call-events help", (await user.command("/call-events", "help")).json["text"])

        if not await play_forms(stack, user):
            say("Demo failed: a form did not behave as described.")
            return 1

        say("━━ 5. Calls relayed into Slack, and acted on ━━")
        if not await play_calls(stack, user):
            return 1
        say("━━ 6. Many contacts from a CSV file ━━")
        if not await play_import(stack, user):
            return 1
        say("━━ What each provider received ━━")
        for name, sim in (("CINNOX", stack.cinnox), ("Bandwidth", stack.bandwidth), ("Yeastar", stack.yeastar)):
            show_requests(name, sim)
        say("Demo finished.")
        say()
        say(NEXT_STEP)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run_demo()))
