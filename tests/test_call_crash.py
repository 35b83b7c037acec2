"""kill -9 between "webhook answered 200" and "Slack has the message": after a restart on
the same database every event is in Slack exactly once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from bot.sandbox.calls import call_end, call_start
from bot.sandbox.slack import SlackEmulator
from tests.flow import eventually
from tests.processes import free_port, start_serve

TOKEN = "crash-test-webhook-token"
CHANNEL = "C0CALLS"


async def test_events_answered_200_survive_sigkill_and_post_exactly_once(tmp_path: Path) -> None:
    calls = [f"call-{n}" for n in range(8)]
    async with SlackEmulator(bot_token="xoxb-crash") as slack:
        # Slack is slow to answer: posts are in flight (some already landed in Slack, not
        # yet recorded by the bot) when the bot is killed.
        slack.path_latency["/api/chat.postMessage"] = 0.4
        port = free_port()
        env = {"SLACK_BOT_TOKEN": "xoxb-crash", "SLACK_SIGNING_SECRET": "s",
               "SLACK_API_URL": slack.url + "/api/", "CALL_EVENTS_CHANNEL": CHANNEL,
               "CINNOX_WEBHOOK_TOKEN": TOKEN, "RELAY_CHANNEL_RATE": "20",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
        proc = await start_serve(tmp_path, port, **env)
        try:
            async with aiohttp.ClientSession() as http:
                for body in [call_start(c) for c in calls] + [call_end(c) for c in calls]:
                    async with http.post(f"http://127.0.0.1:{port}/webhooks/cinnox/{TOKEN}", json=body) as resp:
                        assert resp.status == 200
            await eventually(lambda: len(slack.calls("chat.postMessage")) >= 3, timeout=30)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            posted_at_kill, asked_at_kill = len(slack.all_posts()), len(slack.calls("chat.postMessage"))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # The post that was in flight lands in Slack after the bot died: the bot never
        # learnt that it was posted. That is the gap the metadata lookup closes.
        assert posted_at_kill < asked_at_kill, "the kill came too late to prove anything"
        await eventually(lambda: len(slack.all_posts()) == asked_at_kill)

        proc = await start_serve(tmp_path, port, **env)
        try:
            def all_threads_complete() -> bool:
                parents = slack.channel_messages(CHANNEL)
                return len(parents) == len(calls) and all(
                    slack.thread(CHANNEL, p.ts) and p.edits for p in parents)

            await eventually(all_threads_complete, timeout=60)
            await asyncio.sleep(0.5)  # anything still queued would show up now
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)

    posted = [m.metadata["event_payload"]["event_id"] for m in slack.all_posts() if m.metadata]
    expected = [f"{c}:CallStart" for c in calls] + [f"{c}:CallEnd" for c in calls]
    assert sorted(posted) == sorted(expected), "every event exactly once"
    for parent in slack.channel_messages(CHANNEL):
        call_id = parent.metadata["event_payload"]["call_id"]  # type: ignore[index]
        [reply] = slack.thread(CHANNEL, parent.ts)
        assert reply.metadata["event_payload"]["event_id"] == f"{call_id}:CallEnd"  # type: ignore[index]
