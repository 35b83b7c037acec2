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
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS

SECRET_KEYS = re.compile(r"password|secret|token|auth", re.IGNORECASE)


def say(line: str = "") -> None:
    print(line, flush=True)


def show_reply(user: SlackUser, typed: str, text: str) -> None:
    say(f"ops> {typed}")
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


def show_requests(name: str, sim: FakeService, path_part: str) -> None:
    for req in sim.requests:
        if path_part in req.path and req.method in ("POST", "PATCH"):
            body = json.dumps(masked(req.body), indent=2, ensure_ascii=False)
            say(f"  {name} received {req.method} {req.path}")
            for line in body.splitlines():
                say(f"    {line}")
    say()


def view_text(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if isinstance(b.get("text"), dict))


async def fill_modal(user: SlackUser, command: str, values: dict[str, str]) -> str:
    """Open the modal, show its fields, submit ``values``, wait for the outcome."""
    view = await user.open_modal(command)
    title = view["title"]["text"]
    say(f"ops> {command}")
    say(f"    ┌ modal “{title}” with {sum(b['type'] == 'input' for b in view['blocks'])} fields; filling:")
    for block_id, value in values.items():
        shown = "••••••" if SECRET_KEYS.search(block_id) else value
        say(f"    │ {block_id:<24} {shown}")
    reply = await user.submit(view, values)
    answer = reply.json or {}
    if answer.get("response_action") == "errors":
        say("    └ the form answered with errors:")
        for block_id, sentence in answer["errors"].items():
            say(f"        {block_id}: {sentence}")
        return ""
    for _ in range(500):
        text = view_text(user.slack.views[view["id"]])
        if "Creating" not in text:
            break
        await asyncio.sleep(0.01)
    say("    └ outcome shown in the modal and posted to you:")
    for line in user.slack.as_seen(text).splitlines():
        say(f"        {line}")
    say()
    return text


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


async def run_demo() -> int:
    configure_logging("WARNING", "console")
    say("Telephony chat-ops bot — sandbox demo")
    say("(a local Slack Web API emulator and CINNOX / Bandwidth / Yeastar simulators on loopback)")
    say()
    async with SandboxStack(log_level="WARNING") as stack:
        user = stack.user("U0DEMO")
        say(f"Bot listening on {stack.url}; every Slack request is signed as Slack signs it.")
        say()
        for name in COMMANDS:
            reply = await user.command(name, "help")
            if reply.status != 200 or not reply.json:
                say(f"{name} help → HTTP {reply.status}")
                return 1
            show_reply(user, f"{name} help", reply.json["text"])

        say("— An invalid contact never reaches CINNOX: the form points at the field —")
        await fill_modal(user, "/contact", {"firstName": "Ada", "phones.0.type": "Mobile",
                                            "phones.0.phone": "94667788"})
        say("— A valid contact —")
        created = await fill_modal(user, "/contact", {
            "firstName": "Ada", "lastName": "Lovelace", "type": "Customer",
            "phones.0.type": "Mobile", "phones.0.phone": "+85294667788",
            "emails.0.type": "Work", "emails.0.email": "ada@example.com",
            "birthDate": "1985-12-10", "addresses.0.city": "Hong Kong", "addresses.0.country": "HK",
        })
        show_requests("CINNOX", stack.cinnox, "create_externalcontact")

        say("— A SIP endpoint on the default Bandwidth domain —")
        endpoint = await fill_modal(user, "/sip-endpoint", {
            "name": "jsmith_mobile", "description": "John Smith's mobile client",
            "credentials.password": "s3cret-Pass",
        })
        show_requests("Bandwidth", stack.bandwidth, "/endpoints")
        if "created" not in created or "created" not in endpoint:
            say("Demo failed: a create did not succeed.")
            return 1

        say("— Calls relayed into Slack, and acted on —")
        if not await play_calls(stack, user):
            return 1
        say("Demo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run_demo()))
