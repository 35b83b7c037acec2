"""The calls part of the sandbox demo: a known caller named, an unknown caller saved from
the button, a missed call taken for call-back, routing by form, and the App Home, each as
a person would see them in Slack."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import Message, SlackEmulator
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack

CALLS, SUPPORT = "C0CALLS", "C0SUPPORT"


def say(line: str = "") -> None:
    print(line, flush=True)


async def wait_for(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    for _ in range(int(seconds / 0.02)):
        if result := check():
            return result
        await asyncio.sleep(0.02)
    return None


def blocks_as_seen(slack: SlackEmulator, blocks: list[dict[str, Any]], indent: str) -> list[str]:
    """Block Kit as a person reads it: texts, fields as "Label: value", buttons in brackets."""
    lines: list[str] = []
    for block in blocks:
        if block.get("type") == "header":
            lines.append(block["text"]["text"].upper())
        if isinstance(block.get("text"), dict) and block["type"] != "header":
            lines += slack.as_seen(block["text"]["text"]).splitlines()
        if block.get("fields"):
            lines.append("   ".join(slack.as_seen(f["text"]).replace("\n", ": ", 1) for f in block["fields"]))
        if block.get("type") == "context":
            lines += ["· " + slack.as_seen(e.get("text", "")) for e in block["elements"]]
        buttons = [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            buttons.append(block["accessory"])
        if buttons:
            lines.append(" ".join(f"[{b['text']['text']}]" for b in buttons))
        if block.get("type") == "input":
            element = block["element"]
            value = element.get("initial_value") or element.get("initial_conversation") or ""
            lines.append(f"{block['label']['text']}: {value or '…'}")
    return [indent + line for line in lines if line.strip()]


def show_message(slack: SlackEmulator, msg: Message) -> None:
    edited = " (edited)" if msg.edits else ""
    say(f"    #{slack.channels[msg.channel].name if msg.channel in slack.channels else msg.channel}{edited}")
    say(f"      notification: {slack.as_seen(msg.text)}")
    for line in blocks_as_seen(slack, msg.blocks, "      │ "):
        say(line)
    for reply in slack.thread(msg.channel, msg.ts):
        say(f"      ↳ {slack.as_seen(reply.text)}")
    say()


def call_message(slack: SlackEmulator, call_id: str, channel: str = CALLS) -> Message | None:
    return next((m for m in slack.channel_messages(channel)
                 if (m.metadata or {}).get("event_payload", {}).get("call_id") == call_id), None)


async def webhook(stack: SandboxStack, body: dict[str, Any]) -> None:
    status, answer = await stack.webhook(body)
    message = body["message"]
    say(f"CINNOX → POST /webhooks/cinnox/•••••• {message['status']} {message['id']}: "
        f"{status} {json.dumps(answer)}")


async def ended(stack: SandboxStack, call_id: str, channel: str = CALLS) -> Message | None:
    return await wait_for(lambda: (m := call_message(stack.slack, call_id, channel)) and m.edits
                          and stack.slack.thread(channel, m.ts) and m)


async def create_contact(user: SlackUser, view: dict[str, Any], values: dict[str, str]) -> str:
    await user.submit(view, values)
    text = await wait_for(
        lambda: (t := str(user.slack.views[view["id"]]["blocks"])) and "Creating" not in t and t)
    return str(text)


async def known_caller(stack: SandboxStack, user: SlackUser) -> bool:
    say("— A known caller is named: a contact saved through /contact, and CINNOX staff by name —")
    view = await user.open_modal("/contact")
    values = {"firstName": "Grace", "lastName": "Hopper", "phones.0.type": "Mobile",
              "phones.0.phone": "+85294661234"}
    say("ops> /contact   (Grace Hopper, Mobile +85294661234)")
    if "created" not in await create_contact(user, view, values):
        return False
    start = call_start("c-known", caller="85294661234")
    start["message"]["callees"] = [{"eid": "staff-0001"}]
    await webhook(stack, start)
    parent = await wait_for(lambda: call_message(stack.slack, "c-known"))
    if parent is None:
        return False
    say("While it rings:")
    show_message(stack.slack, parent)
    # The demo plays the call's 95 seconds at once: CINNOX's log ends it 95 s after it rang.
    ended_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=95)
    stack.cinnox.record_call("c-known", 95, end=ended_at, bye_reason="NORMAL_CLEARING", release_party="callee")
    await webhook(stack, call_end("c-known"))
    parent = await ended(stack, "c-known")
    if parent is None:
        return False
    say("Once it has ended (same start time; the hang-up in words):")
    show_message(stack.slack, parent)
    return True


async def unknown_caller(stack: SandboxStack, user: SlackUser) -> bool:
    say("— An unknown caller, saved from the call's button —")
    await webhook(stack, call_start("c-new", caller="85291234567"))
    parent = await wait_for(lambda: call_message(stack.slack, "c-new"))
    if parent is None:
        return False
    show_message(stack.slack, parent)
    before = len(stack.slack.views)
    await user.click_message(parent, "call.save_contact")
    form = await wait_for(lambda: len(stack.slack.views) > before and user.last_view())
    if not form:
        return False
    phone = next(b for b in form["blocks"] if b.get("block_id") == "phones.0.phone")["element"]["initial_value"]
    say(f"ops clicks [Save caller as contact] → the contact form opens with phones.0.phone = {phone}")
    say("ops fills First name: Joan, Last name: Clarke, and submits")
    if "created" not in await create_contact(user, form, {"firstName": "Joan", "lastName": "Clarke"}):
        return False
    named = await wait_for(lambda: (m := call_message(stack.slack, "c-new")) and "Joan" in m.text and m)
    if named is None:
        return False
    say("The call's message now names the caller:")
    show_message(stack.slack, named)
    return True


async def missed_call(stack: SandboxStack, user: SlackUser) -> bool:
    say("— A missed call, taken for call-back —")
    stack.cinnox.record_call("c-missed", 0, bye_reason="ORIGINATOR_CANCEL", release_party="caller")
    await webhook(stack, call_start("c-missed", caller="85261239876"))
    await webhook(stack, call_end("c-missed"))
    parent = await ended(stack, "c-missed")
    if parent is None:
        return False
    show_message(stack.slack, parent)
    seen_by_mate = copy.copy(parent)
    await user.click_message(parent, "call.callback")
    taken = await wait_for(
        lambda: (m := call_message(stack.slack, "c-missed")) and "calling back" in m.text and m)
    if taken is None:
        return False
    say("ops (@demo) clicks [I'll call back]:")
    show_message(stack.slack, taken)
    mate = stack.user("U0MATE")
    await mate.click_message(seen_by_mate, "call.callback")
    told = await wait_for(mate.responses)
    say(f"A teammate clicks [I'll call back] too, and is told (only they see it): "
        f"{stack.slack.as_seen(told[-1]['text']) if told else '(nothing)'}")
    await user.click_message(copy.copy(taken), "call.callback_done")
    done = await wait_for(
        lambda: (m := call_message(stack.slack, "c-missed")) and "called back" in m.text and m)
    if done is None:
        return False
    say("ops (@demo) clicks [Mark call-back done]:")
    show_message(stack.slack, done)
    return True


async def outgoing_call(stack: SandboxStack, user: SlackUser) -> bool:
    say("— A staff member calling out: an outgoing call, unanswered (no missed call to call back) —")
    stack.cinnox.record_call("c-out", 0, bye_reason="NO_ANSWER", release_party="system")
    start = call_start("c-out", callees=("85261234567",))
    start["message"]["caller"] = {"eid": "staff-0001"}  # an EID: one of the team's staff
    await webhook(stack, start)
    await webhook(stack, call_end("c-out"))
    parent = await ended(stack, "c-out")
    if parent is None:
        return False
    show_message(stack.slack, parent)
    return True


async def routing_by_form(stack: SandboxStack, user: SlackUser) -> bool:
    say("— Routing by form: /call-events route without arguments —")
    form = await user.open_modal("/call-events", "route")
    say(f"ops> /call-events route   → the “{form['title']['text']}” form:")
    for line in blocks_as_seen(stack.slack, form["blocks"], "    │ "):
        say(line)
    say("ops types the service ID svc-support, names it “Support line”, picks #support-calls, submits")
    await user.submit(form, {"service_id": "svc-support", "name": "Support line", "channel": SUPPORT})
    done = await wait_for(lambda: "now go to" in str(stack.slack.views[form["id"]]["blocks"])
                          and stack.slack.views[form["id"]])
    if not done:
        return False
    for line in blocks_as_seen(stack.slack, done["blocks"], "    └ "):
        say(line)
    say()
    await webhook(stack, call_start("c-routed", caller="85298765432"))
    parent = await wait_for(lambda: call_message(stack.slack, "c-routed", SUPPORT))
    if parent is None:
        return False
    say("The next call of that service goes to #support-calls, under its name:")
    show_message(stack.slack, parent)
    return True


async def app_home(stack: SandboxStack, user: SlackUser) -> bool:
    say("— The App Home: the console —")
    await user.open_home()
    view = await wait_for(lambda: stack.slack.home_views.get(user.user_id))
    if not view:
        return False
    for line in blocks_as_seen(stack.slack, view["blocks"], "    │ "):
        say(line)
    say()
    return True


async def play_calls(stack: SandboxStack, user: SlackUser) -> bool:
    """The calls part of the demo; False when something did not show up."""
    stack.slack.add_channel(CALLS, "calls")
    stack.slack.add_channel(SUPPORT, "support-calls")
    for user_id, name in (("U0DEMO", "demo"), ("U0MATE", "mate")):
        stack.slack.add_user(user_id, name)
    # The bot reads CINNOX's staff list once at start, in the background: a call played
    # before that read has finished would show "a staff member" instead of the name.
    for _ in range(int(15.0 / 0.02)):
        if await stack.services.directory.staff_refreshed_at() is not None:
            break
        await asyncio.sleep(0.02)
    for step in (known_caller, unknown_caller, missed_call, outgoing_call, routing_by_form, app_home):
        if not await step(stack, user):
            say(f"Demo failed at: {step.__name__.replace('_', ' ')}")
            return False
    return True
