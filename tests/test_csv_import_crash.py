"""kill -9 half-way through a 500-row contact import: started again on the same database,
the bot resumes the job by itself, and every valid row reaches CINNOX exactly once; the
result file lists all 500 rows."""

from __future__ import annotations

import asyncio
import csv
import io
import signal
from pathlib import Path

import aiohttp

from bot.sandbox.cinnox_sim import CinnoxSimulator
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.slack_user import SlackUser
from tests.flow import eventually
from tests.processes import free_port, start_serve
from tests.test_csv_import import BAD, contact_csv, seen

SECRET = "crash-signing-secret"
TOKEN = "xoxb-import-crash"


async def test_an_import_killed_half_way_resumes_and_creates_each_row_once(tmp_path: Path) -> None:
    async with (SlackEmulator(bot_token=TOKEN) as slack, CinnoxSimulator() as cinnox,
                aiohttp.ClientSession() as http):
        create = f"/v1/api/apps/{cinnox.app_id}/management/create_externalcontact"
        cinnox.path_latency[create] = 0.02  # creates are in flight when the bot dies
        port = free_port()
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url + "/api/",
               "CINNOX_BASE_URL": cinnox.url, "CINNOX_APP_ID": cinnox.app_id,
               "CINNOX_APP_TOKEN": cinnox.app_token,
               "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
        log = tmp_path / "bot.log"
        proc = await start_serve(tmp_path, port, log, **env)
        try:
            user = SlackUser(f"http://127.0.0.1:{port}/slack/events", SECRET, slack, http)
            view = await user.open_modal("/contact", "import")
            picked = slack.files.add("team.csv", contact_csv(500, BAD)).as_json(slack.url, "T0SANDBOX")
            await user.submit(view, {"file": [picked]})
            preview = await eventually(
                lambda: "ready" in seen(slack.views[view["id"]]) and slack.views[view["id"]], timeout=60)
            assert "497 contacts ready to import" in seen(preview)
            await user.submit(preview, {})
            await eventually(lambda: len(cinnox.contacts) >= 150, timeout=60)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        at_kill = len(cinnox.contacts)
        assert at_kill < 497, "the kill came too late to prove anything"

        proc = await start_serve(tmp_path, port, log, **env)
        try:
            (parent,) = await eventually(lambda: slack.channel_messages("C0OPS"))
            (result,) = await eventually(lambda: slack.files.shared_in("C0OPS", parent.ts), timeout=120)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)

    rows = list(csv.DictReader(io.StringIO(result.content.decode())))
    assert len(rows) == 500
    outcomes = [r["outcome"] for r in rows]
    assert outcomes.count("not valid") == 3
    created = {r["id"] for r in rows if r["outcome"] == "created"}
    unknown = [r for r in rows if r["outcome"] == "unknown"]
    assert len(created) + len(unknown) == 497 and len(unknown) <= 1  # at most the one in flight
    phones = [c["phones"][0]["phone"] for c in cinnox.contacts.values()]
    assert len(phones) == len(set(phones)) == 497, "each valid row reached CINNOX exactly once"
    assert created <= set(cinnox.contacts)
    assert len(cinnox.calls("create_externalcontact")) == 497
