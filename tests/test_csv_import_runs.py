"""An import as it runs: Cancel stops it after the row in flight; a create whose answer was
lost is looked up (Bandwidth) or marked unknown (CINNOX), never sent again blindly; SIP
passwords leave the store as their rows finish and never reach Slack."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import Connection, select

from bot.runtime import Runtime
from bot.sandbox.stack import SandboxStack
from bot.store import tables
from tests.flow import eventually, eventually_async
from tests.test_csv_import import checked, contact_csv


def result_rows(stack: SandboxStack, channel: str = "C0OPS") -> list[dict[str, str]]:
    parent = stack.slack.channel_messages(channel)[0]
    (result,) = stack.slack.files.shared_in(channel, parent.ts)
    return list(csv.DictReader(io.StringIO(result.content.decode())))


async def finished(stack: SandboxStack, timeout: float = 60) -> list[dict[str, str]]:
    (parent,) = await eventually(lambda: stack.slack.channel_messages("C0OPS"))
    await eventually(lambda: stack.slack.files.shared_in("C0OPS", parent.ts), timeout=timeout)
    return result_rows(stack)


async def test_cancel_stops_after_the_row_in_flight(stack: SandboxStack) -> None:
    create = f"/v1/api/apps/{stack.cinnox.app_id}/management/create_externalcontact"
    stack.cinnox.path_latency[create] = 0.05
    user = stack.user()
    preview = await checked(stack, user, "/contact", "big.csv", contact_csv(300))
    await user.submit(preview, {})
    (progress,) = await eventually(lambda: stack.slack.channel_messages("C0OPS"))
    await eventually(lambda: len(stack.cinnox.contacts) >= 5, timeout=30)
    progress = stack.slack.channel_messages("C0OPS")[0]
    reply = await user.click_message(progress, "import.cancel")
    assert reply.status == 200
    rows = await finished(stack)
    created = [r for r in rows if r["outcome"] == "created"]
    assert 5 <= len(created) < 300
    assert len(stack.cinnox.contacts) == len(created) == len(stack.cinnox.calls("create_externalcontact"))
    assert {r["outcome"] for r in rows} == {"created", "not sent (cancelled)"}
    final = stack.slack.channel_messages("C0OPS")[0].blocks[0]["text"]["text"]
    assert "cancelled* by <@U0ADMIN>" in final and f"*{300 - len(created)}* not sent" in final


async def test_a_contact_whose_answer_was_lost_is_unknown_not_sent_again(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, provider_timeout=0.5) as stack:
        # CINNOX creates the contact but answers too late: the bot cannot know it was created.
        stack.cinnox.inject(200, body={"code": 0, "result": {"id": "late"}},
                            path_prefix="create_externalcontact", delay=1.5, after=True)
        user = stack.user()
        await user.submit(await checked(stack, user, "/contact", "three.csv", contact_csv(3)), {})
        rows = await finished(stack)
        assert [r["outcome"] for r in rows] == ["unknown", "created", "created"]
        assert "check whether it was created" in rows[0]["error"]
        assert len(stack.cinnox.calls("create_externalcontact")) == 3 == len(stack.cinnox.contacts)
        (summary,) = stack.slack.thread("C0OPS", stack.slack.channel_messages("C0OPS")[0].ts)
        assert "Rows marked unknown may have been created: look for them in CINNOX" in summary.text


async def test_an_endpoint_whose_answer_was_lost_is_looked_up(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, bandwidth_rate=20) as stack:
        # Bandwidth creates the endpoint, then fails while answering.
        stack.bandwidth.inject(500, path_prefix="/endpoints", after=True)
        content = "name,credentials.password\nalice,secret123\nbob,secret456\n"
        user = stack.user()
        await user.submit(await checked(stack, user, "/sip-endpoint", "phones.csv", content), {})
        rows = await finished(stack)
        endpoints = stack.bandwidth.endpoints["rd-sandbox"]
        assert sorted(e["name"] for e in endpoints.values()) == ["alice", "bob"]  # each once
        assert [r["outcome"] for r in rows] == ["created", "created"]
        assert {r["id"] for r in rows} == set(endpoints)
        assert len([c for c in stack.bandwidth.calls("/endpoints") if c.method == "POST"]) == 2


async def test_passwords_leave_the_store_as_rows_finish_and_never_reach_slack(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, bandwidth_rate=20) as stack:
        content = "name,credentials.password,description\nalice,Sup3rSecret!,desk\nbob,0therSecret!,lab\n"
        user = stack.user()
        preview = await checked(stack, user, "/sip-endpoint", "phones.csv", content)

        async def secrets_stored() -> list[object]:
            def read(conn: Connection) -> list[object]:
                return list(conn.execute(select(tables.import_rows.c.secret)).scalars())
            return await stack.services.store.read(read)

        assert all(await secrets_stored())  # held until the rows run
        await user.submit(preview, {})
        rows = await finished(stack)
        assert [r["outcome"] for r in rows] == ["created", "created"]
        assert await secrets_stored() == [None, None]
        assert "credentials.password" not in rows[0] and rows[0]["description"] == "desk"
        seen = str([m.text for m in stack.slack.all_posts()] + [m.blocks for m in stack.slack.all_posts()]
                   + list(stack.slack.views.values()) + [f.content for f in stack.slack.files.files.values()
                                                        if f.user == "U0BOT"])
        assert "Sup3rSecret!" not in seen and "0therSecret!" not in seen
        stored = {e["name"]: e["password"] for e in stack.bandwidth.endpoints["rd-sandbox"].values()}
        assert stored == {"alice": "Sup3rSecret!", "bob": "0therSecret!"}


async def test_closing_the_preview_deletes_the_draft_and_its_passwords(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        user = stack.user()
        content = "name,credentials.password\nal,secret123\n"
        preview = await checked(stack, user, "/sip-endpoint", "p.csv", content)
        assert preview["notify_on_close"] is True
        reply = await user.close(preview)
        assert reply.status == 200

        async def nothing_stored() -> bool:
            def read(conn: Connection) -> bool:
                return not list(conn.execute(select(tables.import_rows.c.row_no)))
            return await stack.services.store.read(read)

        await eventually_async(nothing_stored)


async def test_two_replicas_never_run_the_same_row(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path) as stack:
        other = Runtime(stack.settings())  # a second replica on the same database
        await other.start()
        try:
            create = f"/v1/api/apps/{stack.cinnox.app_id}/management/create_externalcontact"
            stack.cinnox.path_latency[create] = 0.02
            user = stack.user()
            await user.submit(await checked(stack, user, "/contact", "team.csv", contact_csv(200)), {})
            await eventually(lambda: len(stack.cinnox.contacts) >= 40, timeout=30)
            await stack.restart_bot()  # lets go of the job: both replicas race to take it over
            rows = await finished(stack)
        finally:
            await other.stop()
    assert [r["outcome"] for r in rows] == ["created"] * 200
    assert len(stack.cinnox.calls("create_externalcontact")) == 200 == len(stack.cinnox.contacts)


async def test_progress_is_edited_every_few_seconds_with_the_time_left(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, bandwidth_rate=5) as stack:
        content = "name,credentials.password\n" + "".join(f"desk{i},secret-{i:03d}\n" for i in range(20))
        user = stack.user()
        await user.submit(await checked(stack, user, "/sip-endpoint", "desks.csv", content), {})
        rows = await finished(stack)
        assert len(rows) == 20
        edits = [b if isinstance(b := c.body["blocks"], list) else json.loads(b)
                 for c in stack.slack.calls("chat.update")]
        running = [b[0]["text"]["text"] for b in edits[:-1]]
        # 20 rows at 5 a second take about 4 s: one edit on the way (3 s apart), then the final one
        assert 1 <= len(running) <= 2, running
        assert "left, of 20" in running[0] and "About " in running[0] and "<!date^" in running[0]
        assert "Import of SIP endpoints finished" in edits[-1][0]["text"]["text"]


async def test_bandwidth_429_waits_as_asked_and_creates_each_row_once(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, bandwidth_rate=8) as stack:
        stack.bandwidth.rate_limit = 2  # Bandwidth allows less than the bot was told: 429s
        content = "name,credentials.password\n" + "".join(f"lab{i},secret-{i:03d}\n" for i in range(8))
        user = stack.user()
        await user.submit(await checked(stack, user, "/sip-endpoint", "lab.csv", content), {})
        rows = await finished(stack)
        assert [r["outcome"] for r in rows] == ["created"] * 8
        assert sorted(e["name"] for e in stack.bandwidth.endpoints["rd-sandbox"].values()) == sorted(
            f"lab{i}" for i in range(8))
        posts = [c for c in stack.bandwidth.calls("/endpoints") if c.method == "POST"]
        assert len(posts) > 8  # some were refused with 429 and sent again after X-RateLimit-Reset
