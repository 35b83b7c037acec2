"""The App Home tab shows providers, commands and the last actions."""

from __future__ import annotations

import asyncio

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS
from tests.test_call_actions import command_outcome


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
    assert "Created the CINNOX contact (ID `ext-42`)" in text and "contact.create" not in text
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
    assert "The channel is archived: unarchive it or route the service elsewhere" in text
    assert "is_archived" not in text, "Slack's code is said in words"


async def test_home_says_which_provider_is_failing_with_its_own_message(stack: SandboxStack) -> None:
    stack.bandwidth.inject(401, body={"category": "unauthorized", "code": "unauthorized",
                                      "message": "Invalid credentials"}, count=10)
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    [bandwidth] = [line for line in text.splitlines() if line.startswith("*Bandwidth*")]
    assert "configured but failing" in bandwidth and "Invalid credentials" in bandwidth
    [cinnox] = [line for line in text.splitlines() if line.startswith("*CINNOX*")]
    assert "configured and reachable" in cinnox


def home_view(stack: SandboxStack, user: str) -> dict:
    return stack.slack.home_views[user]


async def test_home_is_the_console_for_calls_routes_and_deliveries(stack: SandboxStack) -> None:
    from slack_sdk.models.views import View

    from bot.sandbox.calls import call_end, call_start
    from tests.flow import eventually, eventually_async

    user = stack.user("U0ADMIN")
    await command_outcome(user, "/call-events", "route svc-sales <#C0SALES|sales>")
    await command_outcome(user, "/call-events", "route svc-dead <#C0DEAD|dead>")
    stack.slack.add_channel("C0DEAD", "dead", member=False)  # the bot was removed from it since
    stack.cinnox.record_call("c-missed", 0, bye_reason="NO_ANSWER")
    await stack.webhook(call_start("c-live", caller="85261110000"))
    await stack.webhook(call_start("c-missed", caller="85291234567"))
    await stack.webhook(call_end("c-missed"))
    await stack.webhook(call_start("c-dead", "svc-dead"))
    await eventually_async(stack.services.outbox.failed_count)
    await eventually(lambda: len(stack.slack.channel_messages("C0CALLS")) == 2
                     and any(m.edits for m in stack.slack.channel_messages("C0CALLS")))

    await user.open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    View(type="home", blocks=home_view(stack, "U0ADMIN")["blocks"]).validate_json()
    live = text.split("*Calls in progress*")[1].split("*Missed calls")[0]
    assert "+852 6111 0000" in live and "in progress" in live and "+852 9123 4567" not in live
    missed = text.split("*Missed calls nobody has taken: 1*")[1].split("*Last 20 calls*")[0]
    assert "+852 9123 4567" in missed and "[I'll call back]" in missed
    assert "`svc-sales` → <#C0SALES>\n[Remove]" in text
    assert "The call from +852 9123 4567 (start, received <!date^" in text
    assert "I'm not a member of that channel" in text and "not_in_channel" not in text and "[Retry]" in text
    assert "[Subscribe]" in text
    assert "New contact" in text and "Route a service's calls" in text

    await user.click(home_view(stack, "U0ADMIN"), "call_events.unroute", value="svc-sales")
    await wait_for(lambda: "Calls of `svc-sales` go to" in home_text(stack, "U0ADMIN"))
    assert "svc-sales" not in await stack.services.outbox.routes()

    stack.slack.channels["C0DEAD"].is_member = True
    [(dead, _)] = await stack.services.outbox.given_up()
    await user.click(home_view(stack, "U0ADMIN"), "call_events.retry", value=str(dead.id))
    await eventually(lambda: stack.slack.channel_messages("C0DEAD"))

    await user.click(home_view(stack, "U0ADMIN"), "call_events.subscribe", value="subscribe")
    await wait_for(lambda: "now sends call events" in home_text(stack, "U0ADMIN"))
    assert stack.cinnox.subscription["enabled"] is True
    assert "[Unsubscribe]" in home_text(stack, "U0ADMIN")


async def test_home_is_pushed_to_its_recent_viewers_when_a_call_starts(stack: SandboxStack) -> None:
    from bot.sandbox.calls import call_start

    await stack.user("U0WATCH").open_home()
    await wait_for(lambda: home_text(stack, "U0WATCH"))
    await stack.webhook(call_start("c-push", caller="85261112222"))
    await wait_for(lambda: "+852 6111 2222" in home_text(stack, "U0WATCH"), timeout=15)


async def test_recent_actions_are_said_in_words(stack: SandboxStack) -> None:
    await stack.services.store.audit(user_id="U0ADMIN", action="message_channel.create", outcome="invalid",
                                     detail="account_data.api_key")
    await stack.services.store.audit(user_id="U0OTHER", action="contact.create", outcome="ok", resource_id="x")
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    assert "The form to create a Yeastar message channel had fields to fix: account_data.api_key" in text
    assert "message_channel.create" not in text and "*invalid*" not in text
    assert "`x`" not in text, "only this user's actions"


async def test_recent_actions_name_the_field_the_service_and_the_caller(stack: SandboxStack) -> None:
    user = stack.user("U0ADMIN")
    form = await user.open_modal("/contact")
    refused = await user.submit(form, {"phones.0.phone": "94667788"})
    assert refused.json["response_action"] == "errors"
    await command_outcome(user, "/call-events", "route svc-support C0CALLS")
    await stack.services.directory.name_service("svc-support", "Support line", "route")
    stack.cinnox.record_call("c-missed", 0, bye_reason="NO_ANSWER", release_party="caller")
    await stack.webhook(call_start("c-missed", caller="85291234567"))
    await stack.webhook(call_end("c-missed"))
    parent = await wait_for(lambda: next((m for m in stack.slack.channel_messages("C0CALLS")
                                          if m.edits and "Missed call" in m.text), None), timeout=10)
    await user.click_message(parent, "call.callback")
    await wait_for(lambda: "is calling back" in (stack.slack.channel_messages("C0CALLS")[0].text))

    await user.open_home()
    text = await wait_for(lambda: (t := home_text(stack, "U0ADMIN")) and "call-back" in t and t)
    assert "The form to create a CINNOX contact had fields to fix: Phone number" in text
    assert "Routed the calls of *Support line*" in text
    assert "Took the call-back of the missed call from +852 9123 4567" in text
    assert "phones.0.phone" not in text and "c-missed" not in text


async def test_all_of_the_last_20_calls_show_even_with_long_service_ids(stack: SandboxStack) -> None:
    from slack_sdk.models.blocks import Block

    services = [f"svc-{n:02d}-" + "x" * 110 for n in range(20)]
    for n, service in enumerate(services):
        await stack.webhook(call_start(f"c-{n}", service, caller=f"8529123{n:04d}"))
    from bot.relay.messages import event_ids_in

    # a burst: shown as roll-ups (one line per call) after the first
    await wait_for(lambda: sum(len(event_ids_in({"metadata": m.metadata}))
                               for m in stack.slack.channel_messages("C0CALLS")) == 20, timeout=20)
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: (t := home_text(stack, "U0ADMIN")) and "Last 20 calls" in t and t)
    assert all(service in text for service in services), "no call is cut off"
    for block in stack.slack.home_views["U0ADMIN"]["blocks"]:
        Block.parse(block).validate_json()


def home_action_ids(stack: SandboxStack, user: str) -> list[str]:
    ids = []
    for block in stack.slack.home_views[user]["blocks"]:
        ids += [e["action_id"] for e in block.get("elements", []) if "action_id" in e]
        if "action_id" in block.get("accessory", {}):
            ids.append(block["accessory"]["action_id"])
    return ids


async def test_a_subscription_the_bot_never_made_reads_unknown_not_unsubscribed(stack: SandboxStack) -> None:
    await stack.webhook(call_start("c-live"))  # calls arrive: CINNOX was subscribed some other way
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    [line] = [line for line in text.splitlines() if line.startswith("*Call events*")]
    assert "subscription unknown" in line and "not subscribed:" not in line
    await command_outcome(stack.user("U0ADMIN"), "/call-events", "unsubscribe")
    await stack.user("U0ADMIN").open_home()
    await wait_for(lambda: "not subscribed: CINNOX sends no calls here" in home_text(stack, "U0ADMIN"))


async def test_people_outside_the_allowlist_see_no_buttons_that_would_refuse_them(tmp_path) -> None:
    from tests.flow import eventually, eventually_async

    async with SandboxStack(tmp_path, bot_allowed_users="U0ADMIN") as stack:
        await command_outcome(stack.user("U0ADMIN"), "/call-events", "route svc-sales <#C0SALES|sales>")
        await command_outcome(stack.user("U0ADMIN"), "/call-events", "route svc-dead <#C0DEAD|dead>")
        stack.slack.add_channel("C0DEAD", "dead", member=False)  # the bot was removed from it since
        stack.cinnox.record_call("c-missed", 0, bye_reason="NO_ANSWER")
        await stack.webhook(call_start("c-missed"))
        await stack.webhook(call_end("c-missed"))
        await stack.webhook(call_start("c-dead", "svc-dead"))
        await eventually_async(stack.services.outbox.failed_count)
        await eventually(lambda: any(m.edits and "Missed" in m.text
                                     for m in stack.slack.channel_messages("C0CALLS")))

        await stack.user("U0ADMIN").open_home()
        await wait_for(lambda: home_text(stack, "U0ADMIN"))
        admin = home_action_ids(stack, "U0ADMIN")
        for action in ("call_events.subscribe", "call_events.unroute", "call_events.retry", "call.callback"):
            assert action in admin
        assert any(a.startswith("home.open_form") for a in admin)

        await stack.user("U0GUEST").open_home()
        text = await wait_for(lambda: home_text(stack, "U0GUEST"))
        assert home_action_ids(stack, "U0GUEST") == ["call.callback"], "only what they may do: take a call-back"
        assert "ask an admin to add your ID (U0GUEST)" in text
        assert "`svc-sales` → <#C0SALES>" in text, "they still see where calls go"


async def test_missed_calls_show_how_many_and_how_long_ago_and_an_empty_list_reads_right(tmp_path) -> None:
    async with SandboxStack(tmp_path, relay_channel_rate=50) as stack:
        await _missed_calls_counted(stack)


async def _missed_calls_counted(stack: SandboxStack) -> None:
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
    assert "None: no missed call is waiting for a call-back." in text
    assert "every missed call has someone calling back" not in text, "there was no missed call at all"

    for n in range(7):
        stack.cinnox.record_call(f"c-m{n}", 0, bye_reason="NO_ANSWER")
        await stack.webhook(call_start(f"c-m{n}", caller=f"8529123000{n}"))
        await stack.webhook(call_end(f"c-m{n}"))
    from tests.flow import eventually_async

    await eventually_async(lambda: _count(stack, 7), timeout=30)
    await stack.user("U0ADMIN").open_home()
    text = await wait_for(lambda: (t := home_text(stack, "U0ADMIN")) and "Missed calls nobody has taken: 7" in t
                          and t)
    title = "*Missed calls nobody has taken: 7* (the 5 latest below)"
    missed = text.split(title)[1].split("*Last 20 calls*")[0]
    assert missed.count("[I'll call back]") == 5
    assert missed.count("^{ago}|") == 5, "each with its age, as a Slack date token"


async def _count(stack: SandboxStack, n: int) -> bool:
    return await stack.services.call_notes.missed_not_taken_count() == n
