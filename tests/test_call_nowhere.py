"""Calls with nowhere to go (no CALL_EVENTS_CHANNEL, no route) are said to have nowhere to
go, with the fix and the events it cost: `/call-events subscribe` and `status`, the App
Home, `python -m bot check` and the log line of `serve`'s start."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from bot.sandbox.calls import call_start
from bot.sandbox.cinnox_sim import CinnoxSimulator
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually, eventually_async
from tests.processes import bot_env, free_port, start_serve
from tests.test_app_home import home_text, wait_for
from tests.test_call_actions import command_outcome

FIX = "set CALL_EVENTS_CHANNEL to a channel ID and restart the bot, or send a service's calls to a channel"


async def test_subscribe_status_and_home_say_calls_have_nowhere_to_go_and_count_what_it_cost(
        tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_events_channel=None) as stack:
        user = stack.user()
        await user.command("/call-events", "subscribe")
        [answer] = await eventually(user.responses)
        assert not answer["text"].startswith(":white_check_mark:"), "no green tick for calls nobody will see"
        assert "CINNOX now sends call events to this bot, but nothing will show in Slack yet." in answer["text"]
        assert "Calls have nowhere to go" in answer["text"] and FIX in answer["text"]
        assert "`/call-events route <serviceId> <#channel>`" in answer["text"]

        await stack.webhook(call_start("c-lost"))
        await eventually_async(stack.services.outbox.failed_count)
        await user.command("/call-events", "status")
        [status] = await eventually(user.responses)
        assert "Calls have nowhere to go" in status["text"] and FIX in status["text"]
        assert "1 call event could not be posted for want of a channel" in status["text"]
        assert "Slack refused" not in str(status["blocks"]), "Slack refused nothing: it had no channel"
        assert "It had no channel to go to: set CALL_EVENTS_CHANNEL" in str(status["blocks"])

        await user.open_home()
        text = await wait_for(lambda: home_text(stack, "U0ADMIN"))
        assert "Calls have nowhere to go" in text and "1 call event could not be posted" in text

        await command_outcome(user, "/call-events", "route svc-support <#C0SUPPORT|support>")
        await user.command("/call-events", "status")
        [status] = await eventually(user.responses)
        assert "nowhere to go" not in status["text"], "a route is somewhere to go"


async def test_check_and_serve_say_calls_have_nowhere_to_go(tmp_path: Path) -> None:
    async with SlackEmulator(bot_token="xoxb-nowhere") as slack, CinnoxSimulator() as cinnox:
        env = {"SLACK_BOT_TOKEN": "xoxb-nowhere", "SLACK_SIGNING_SECRET": "s",
               "SLACK_API_URL": slack.url + "/api/", "CINNOX_BASE_URL": cinnox.url,
               "CINNOX_APP_ID": cinnox.app_id, "CINNOX_APP_TOKEN": cinnox.app_token}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", cwd=tmp_path, env=bot_env(**env),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        [calls] = [line for line in out.decode().splitlines() if " calls " in line]
        assert calls.startswith("FAIL calls"), out.decode() + err.decode()
        assert "calls have nowhere to go: CALL_EVENTS_CHANNEL is not set" in calls and FIX in calls
        assert proc.returncode == 1

        serve = await start_serve(tmp_path, free_port(), **env)
        try:
            serve.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(serve.communicate(), 30)
        finally:
            if serve.returncode is None:
                serve.kill()
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if line["event"] == "relay.nowhere_to_post"]
    assert warning["level"] == "warning" and FIX in warning["fix"]


async def test_removing_the_last_route_without_a_default_channel_says_calls_have_nowhere_to_go(
        tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, call_events_channel=None) as stack:
        user = stack.user()
        await command_outcome(user, "/call-events", "route svc-support <#C0SUPPORT|support>")
        subscribed = await command_outcome(user, "/call-events", "subscribe")
        assert "other services' calls have nowhere to go until CALL_EVENTS_CHANNEL is set" in subscribed
        assert "no default channel" not in subscribed
        answer = await command_outcome(user, "/call-events", "unroute svc-support")
        assert answer.startswith("Removed the route of `svc-support`. Without CALL_EVENTS_CHANNEL its "
                                 "calls now have nowhere to go."), answer
        assert "Calls have nowhere to go" in answer and FIX in answer
        assert "go to no default channel" not in answer
