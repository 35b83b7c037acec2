"""The App Home tab shows providers, commands and the last actions."""

from __future__ import annotations

import asyncio

from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS


async def wait_for(predicate, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def home_text(stack: SandboxStack, user: str) -> str:
    view = stack.slack.home_views.get(user)
    if not view:
        return ""
    parts = []
    for block in view["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"]["text"] if isinstance(e.get("text"), dict) else e.get("text", "")
                  for e in block.get("elements", [])]
        if "accessory" in block:
            parts.append(f"[{block['accessory']['text']['text']}]")
    return "\n".join(parts)


async def test_home_lists_providers_commands_and_last_actions(stack: SandboxStack) -> None:
    await stack.services.store.audit(user_id="U0ADMIN", action="contact.create", outcome="ok",
                                     resource_id="ext-42")
    reply = await stack.user("U0ADMIN").open_home()
    assert reply.status == 200
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    for name in COMMANDS:
        assert name in text
    assert "Created the CINNOX contact `ext-42`" in text and "contact.create" not in text
    for title in ("CINNOX", "Bandwidth", "Yeastar"):
        assert title in text


async def test_home_shows_the_call_event_backlog_and_last_delivery_error(stack: SandboxStack) -> None:
    from bot.sandbox.calls import call_start
    from tests.flow import eventually_async

    stack.slack.add_channel("C0CALLS", "calls", archived=True)
    await stack.webhook(call_start("call-1"))
    await eventually_async(stack.services.outbox.failed_count)
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    assert "Call events" in text
    assert "nothing waiting; 1 given up" in text
    assert "is_archived" in text and "unarchive the channel" in text


async def test_home_says_which_provider_is_failing_with_its_own_message(stack: SandboxStack) -> None:
    stack.bandwidth.inject(401, body={"category": "unauthorized", "code": "unauthorized",
                                      "message": "Invalid credentials"}, count=10)
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    [bandwidth] = [line for line in text.splitlines() if line.startswith("*Bandwidth*")]
    assert "configured but failing" in bandwidth and "Invalid credentials" in bandwidth
    [cinnox] = [line for line in text.splitlines() if line.startswith("*CINNOX*")]
    assert "configured and reachable" in cinnox
