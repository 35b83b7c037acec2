"""The store: created on first start, versioned, and nothing lost across restarts — on the
embedded SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.relay.events import CallEvent
from bot.sandbox.stack import SandboxStack
from bot.store import Store
from bot.store.migrations import LATEST
from bot.store.outbox import LeaseLost, Outbox
from tests.conftest import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/nested/dir/bot.db"
        return
    async with fresh_postgres_database() as url:
        yield url


def started(call_id: str) -> CallEvent:
    return CallEvent.model_validate({"id": call_id, "status": "CallStart", "serviceId": "s"})


@contextlib.asynccontextmanager
async def one_call_stored(database_url: str) -> AsyncIterator[Outbox]:
    """The outbox of a new store holding one CallStart ("c1", for channel C1, received at 1.0)."""
    store = await Store.open(database_url)
    try:
        outbox = Outbox(store)
        event = CallEvent.model_validate({"id": "c1", "status": "CallStart", "serviceId": "s"})
        await outbox.add_many([(event, 1.0, "C1")])
        yield outbox
    finally:
        await store.close()


async def test_first_start_creates_the_database_at_the_latest_version(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        assert await store.schema_version() == LATEST
        assert await store.ping()
    finally:
        await store.close()


async def test_sqlite_uses_write_ahead_logging(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await store.close()


async def test_reopening_keeps_data_and_does_not_migrate_twice(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.audit(user_id="U1", action="contact.create", outcome="ok", resource_id="c-1")
    await store.set_setting("k", "v1")
    await store.close()

    store = await Store.open(database_url)
    try:
        [entry] = await store.recent_audit()
        assert (entry.user_id, entry.resource_id) == ("U1", "c-1")
        assert await store.get_setting("k") == "v1"
        async with store.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT count(*) FROM schema_version"))).scalar()
        assert versions == LATEST
    finally:
        await store.close()


async def test_generated_webhook_token_survives_a_restart(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False) as stack:
        token = stack.services.webhook_token
        assert len(token) >= 24
        await stack.services.store.audit(user_id="U1", action="x", outcome="ok")
        await stack.restart_bot()
        assert stack.services.webhook_token == token
        assert len(await stack.services.store.recent_audit()) == 1


async def test_configured_webhook_token_wins(tmp_path: Path) -> None:
    async with SandboxStack(tmp_path, providers=False, cinnox_webhook_token="from-env-token") as stack:
        assert stack.services.webhook_token == "from-env-token"


async def test_an_upgrade_adds_to_the_schema_without_losing_data(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import migrations

    store = await Store.open(database_url)
    await store.audit(user_id="U1", action="contact.create", outcome="ok", resource_id="c-1")
    await store.close()

    def v2_add_column(conn) -> None:  # what a future release's migration looks like
        conn.execute(text("ALTER TABLE audit_log ADD COLUMN channel_id VARCHAR(32)"))

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, v2_add_column])
    store = await Store.open(database_url)
    try:
        assert await store.schema_version() == LATEST + 1
        [entry] = await store.recent_audit()
        assert entry.resource_id == "c-1"
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("SELECT channel_id FROM audit_log"))).scalar() is None
    finally:
        await store.close()


@pytest.mark.parametrize(("release", "table", "index"), [
    (1, "outbox", "ix_outbox_channel_due"), (4, "outbox", "ix_outbox_open_by_channel"),
    (4, "outbox", "ix_outbox_delivered_by_received"), (4, "calls", "ix_calls_ended")])
async def test_an_older_database_gets_the_relays_index_and_delivers_its_waiting_events_in_order(
    database_url: str, monkeypatch: pytest.MonkeyPatch, release: int, table: str, index: str
) -> None:
    from sqlalchemy import inspect

    from bot.store import migrations

    with monkeypatch.context() as patch:  # the database as that release left it
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:release])
        store = await Store.open(database_url)
        async with store.engine.begin() as conn:
            await conn.execute(text(f"DROP INDEX {index}"))
        await Outbox(store).add_many([(started(f"call-{n}"), float(n), "C1") for n in range(3)])
        await store.close()

    store = await Store.open(database_url)
    try:
        assert await store.schema_version() == LATEST
        async with store.engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: [i["name"] for i in inspect(c).get_indexes(table)])
        assert index in indexes
        assert [d.key for d in await Outbox(store).due_for("C1", now=5.0)] == [
            "call-0:CallStart", "call-1:CallStart", "call-2:CallStart"]
    finally:
        await store.close()


async def test_a_batch_of_events_is_stored_once_each_in_order_where_its_service_is_routed_now(
        database_url: str) -> None:
    def event(call: str, status: str, service: str) -> CallEvent:
        caller = {"caller": {"number": "+85291234567"}} if status == "CallStart" else {}
        return CallEvent.model_validate({"id": call, "status": status, "serviceId": service, **caller})

    store = await Store.open(database_url)
    try:
        outbox = Outbox(store)
        await outbox.set_route("svc-routed", "C0ROUTED", "U1")
        first = [(event("c1", "CallStart", "svc-routed"), 1.0, "C0DEFAULT"),
                 (event("c2", "CallStart", "svc-other"), 1.1, "C0DEFAULT"),
                 (event("c1", "CallStart", "svc-routed"), 1.2, "C0DEFAULT"),  # a duplicate in the batch
                 (event("c1", "CallEnd", "svc-routed"), 1.3, "C0DEFAULT")]
        await outbox.add_many(first)
        await outbox.add_many([(event("c2", "CallStart", "svc-other"), 2.0, "C0DEFAULT"),  # sent again
                               (event("c3", "CallStart", "svc-other"), 2.1, "C0DEFAULT")])
        routed = await outbox.due_for("C0ROUTED", now=3.0)
        other = await outbox.due_for("C0DEFAULT", now=3.0)
    finally:
        await store.close()

    if store.is_sqlite:  # one replica: the channel it decided from its own routes stands
        assert routed == []
        assert [(d.key, d.received_at) for d in other] == [
            ("c1:CallStart", 1.0), ("c2:CallStart", 1.1), ("c1:CallEnd", 1.3), ("c3:CallStart", 2.1)]
        first_call = other[0]
    else:  # several replicas: the route stored now wins (another replica may have just set it)
        assert [(d.key, d.received_at) for d in routed] == [("c1:CallStart", 1.0), ("c1:CallEnd", 1.3)]
        assert [(d.key, d.received_at) for d in other] == [("c2:CallStart", 1.1), ("c3:CallStart", 2.1)]
        first_call = routed[0]
    assert first_call.payload["caller"] == {"number": "+85291234567"}
    assert first_call.event.service_id == "svc-routed"


async def test_a_long_burst_of_events_keeps_the_sqlite_write_ahead_log_bounded(tmp_path: Path) -> None:
    """The WAL is checkpointed and reused while events keep coming (6,000 of them write
    ~17 MB of WAL frames); it must not grow with every event until the bot is idle."""
    import time

    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    outbox = Outbox(store)
    try:
        for batch in range(300):
            await outbox.add_many([(CallEvent.model_validate({
                "id": f"c{batch}-{n}", "status": "CallStart", "serviceId": "s",
                "caller": {"number": "+85291234567"}}), time.time(), "C1") for n in range(20)])
        assert await outbox.depth() == 6000
        assert (tmp_path / "bot.db-wal").stat().st_size < 8 * 1024 * 1024
    finally:
        await store.close()


async def test_a_replica_whose_lease_ran_out_cannot_overwrite_the_replica_that_took_over(
        database_url: str) -> None:
    async with one_call_stored(database_url) as outbox:
        [seen_by_a] = await outbox.due_for("C1", now=2.0)
        slow = await outbox.claim(seen_by_a, lease_until=3.0)  # replica A, then it stalls
        assert slow is not None
        [seen_by_b] = await outbox.due_for("C1", now=4.0)  # A's lease has run out
        took_over = await outbox.claim(seen_by_b, lease_until=100.0)
        assert took_over is not None
        assert await outbox.claim(seen_by_b, lease_until=100.0) is None, "one claim per reading"

        with pytest.raises(LeaseLost):
            await outbox.retry_later(slow, at=5.0, error="late", uncertain=False)
        with pytest.raises(LeaseLost):
            await outbox.started(slow, "C1", "111.1", delivered_at=5.0)
        await outbox.started(took_over, "C1", "222.2", delivered_at=6.0)

        call = await outbox.call("c1")
        assert call is not None and call.parent_ts == "222.2"
        assert await outbox.depth() == 0


async def test_a_retried_delivery_cannot_be_overwritten_by_a_claim_from_before_it_was_given_up(
        database_url: str) -> None:
    async with one_call_stored(database_url) as outbox:
        [seen_by_a] = await outbox.due_for("C1", now=2.0)
        stalled = await outbox.claim(seen_by_a, lease_until=3.0)  # replica A, then it stalls
        assert stalled is not None
        [seen_by_b] = await outbox.due_for("C1", now=4.0)
        given_up = await outbox.claim(seen_by_b, lease_until=100.0)
        assert given_up is not None
        await outbox.fail(given_up, "channel_not_found")
        assert await outbox.retry_given_up(seen_by_b.id, "C1")  # someone clicks "Retry"

        [again] = await outbox.due_for("C1", now=5.0)
        assert again.attempts == 0, "the retried delivery's backoff starts again"
        retried = await outbox.claim(again, lease_until=100.0)
        assert retried is not None and retried.attempts == stalled.attempts == 1
        with pytest.raises(LeaseLost):
            await outbox.started(stalled, "C1", "111.1", delivered_at=6.0)
        await outbox.started(retried, "C1", "222.2", delivered_at=6.0)

        call = await outbox.call("c1")
        assert call is not None and call.parent_ts == "222.2"


async def test_a_lease_renewal_racing_a_recorded_retry_does_not_postpone_it(database_url: str) -> None:
    async with one_call_stored(database_url) as outbox:
        [due] = await outbox.due_for("C1", now=2.0)
        claimed = await outbox.claim(due, lease_until=10.0)
        assert claimed is not None
        await outbox.renew(claimed, held_until=10.0, lease_until=12.0)  # still in hand
        await outbox.retry_later(claimed, at=3.0, error="Slack unreachable", uncertain=True)
        with pytest.raises(LeaseLost):  # the heartbeat, a moment too late
            await outbox.renew(claimed, held_until=12.0, lease_until=14.0)
        [again] = await outbox.due_for("C1", now=3.0)
        assert again.key == "c1:CallStart" and again.state == "sending"


async def test_replicas_starting_together_on_a_new_database_both_start(tmp_path: Path) -> None:
    import asyncio

    async with fresh_postgres_database() as url:
        stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))
        try:
            assert [await s.schema_version() for s in stores] == [LATEST] * 3
        finally:
            for s in stores:
                await s.close()


async def test_a_v2_database_gains_the_call_directory_and_keeps_its_routes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import migrations
    from bot.store.call_notes import CallNotes
    from bot.store.directory import Directory

    added = ["directory_contacts", "directory_staff", "service_names", "call_outcomes", "call_callbacks",
             "home_visits"]
    with monkeypatch.context() as patch:  # the database as release 2 left it
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        store = await Store.open(database_url)
        async with store.engine.begin() as conn:
            for table in added:
                await conn.execute(text(f"DROP TABLE {table}"))
        await Outbox(store).set_route("svc-1", "C1", "U1")
        await store.close()

    store = await Store.open(database_url)
    try:
        assert await store.schema_version() == LATEST
        assert await Outbox(store).routes() == {"svc-1": "C1"}
        directory = Directory(store)
        await directory.add_contact(["+85291234567"], "Ada Lovelace", "ext-1", "U1")
        assert (await directory.names(phones=["+85291234567"])).contacts == {"+85291234567": "Ada Lovelace"}
        taken = await CallNotes(store).take_callback("call-1", "U1", 1.0)
        assert (await CallNotes(store).take_callback("call-1", "U2", 2.0)) == taken
    finally:
        await store.close()


async def test_a_v3_database_gains_the_claims_count_and_keeps_its_events(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import migrations

    with monkeypatch.context() as patch:  # the database as release 3 left it
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
        store = await Store.open(database_url)
        async with store.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE outbox DROP COLUMN claims"))
            await conn.execute(text(
                "INSERT INTO outbox (event_key, call_id, kind, payload, received_at, channel_id, state, "
                "attempts, next_attempt_at) VALUES ('call-1:CallStart', 'call-1', 'CallStart', "
                "'{\"id\": \"call-1\", \"status\": \"CallStart\"}', 1.0, 'C1', 'sending', 2, 0.0)"))
        await store.close()

    store = await Store.open(database_url)
    try:
        assert await store.schema_version() == LATEST
        outbox = Outbox(store)
        [due] = await outbox.due_for("C1", now=2.0)
        assert (due.key, due.attempts, due.claims) == ("call-1:CallStart", 2, 0)
        claimed = await outbox.claim(due, lease_until=10.0)
        assert claimed is not None and (claimed.attempts, claimed.claims) == (3, 1)
        event = CallEvent.model_validate({"id": "call-2", "status": "CallStart", "serviceId": "s"})
        await outbox.add_many([(event, 3.0, "C1")])  # the webhook's INSERT leaves claims to the default
        assert [d.claims for d in await outbox.due_for("C1", now=4.0)] == [0]
    finally:
        await store.close()


async def test_the_relay_finds_each_channel_with_a_row_due_now_and_no_other(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        outbox = Outbox(store)
        await outbox.add_many([(started(f"c{n}"), 1.0, channel)
                               for n, channel in enumerate(["C1", "C2", "C3", "C4", None])])
        claimed = {}
        for channel, lease_until in (("C2", 10.0), ("C3", 10.0), ("C4", 100.0)):
            [due] = await outbox.due_for(channel, now=2.0)
            claimed[channel] = await outbox.claim(due, lease_until=lease_until)
            assert claimed[channel] is not None
        await outbox.fail(claimed["C2"], "channel_not_found")
        await outbox.retry_later(claimed["C3"], 100.0, "ratelimited", uncertain=False)
        # C4's stays claimed: another replica is posting it until 100.

        assert await outbox.due_channels(now=50.0) == ["C1"]
        assert sorted(await outbox.due_channels(now=150.0)) == ["C1", "C3", "C4"]
    finally:
        await store.close()


async def test_with_a_backlog_waiting_the_relays_statements_do_not_go_through_all_of_it(tmp_path: Path) -> None:
    """After a Slack outage, tens of thousands of events wait; the relay reads a channel's
    next rows and the channels with work once a second, frees a call's CallEnd as its
    CallStart is posted, and prunes old delivered events hourly, while the webhook commits:
    none of these may scan or sort the backlog (SQLite's query plans)."""
    from sqlalchemy import Engine, event

    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    try:
        outbox = Outbox(store)
        await outbox.add_many([(started(f"c{n}"), float(n), "C1") for n in range(200)])
        statements: list[tuple[str, object]] = []
        listener = lambda conn, cursor, sql, params, context, many: statements.append((sql, params))  # noqa: E731
        event.listen(Engine, "before_cursor_execute", listener)  # the store's threads have engines of their own
        first, *_ = await outbox.due_for("C1", now=1e9)
        assert await outbox.due_channels(now=1e9) == ["C1"]
        claimed = await outbox.claim(first, lease_until=1e9)
        assert claimed is not None
        await outbox.started(claimed, "C1", "1700000000.000100", delivered_at=1e9)
        assert await outbox.prune(before=1e10) == 1
        event.remove(Engine, "before_cursor_execute", listener)

        searches = [(sql, params) for sql, params in statements
                    if sql.lstrip().startswith(("SELECT", "WITH", "UPDATE", "DELETE"))]
        assert len(searches) >= 6
        async with store.engine.connect() as conn:
            for sql, params in searches:
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                plan = " / ".join(row[3] for row in rows)
                assert "TEMP B-TREE" not in plan and not re.search(r"SCAN (outbox|calls)\b", plan), (sql, plan)
                assert "ix_outbox_state_next" not in plan, (sql, plan)
    finally:
        await store.close()


async def test_an_audit_row_the_store_refuses_does_not_lose_the_rows_written_with_it(database_url: str) -> None:
    """Audit rows asked for together share one INSERT; a row the database refuses (here a
    missing user, NOT NULL) fails its own caller alone."""
    import asyncio

    from sqlalchemy.exc import DBAPIError

    store = await Store.open(database_url)
    try:
        users: list[str | None] = [f"U{n}" for n in range(30)]
        users[17] = None
        outcomes = await asyncio.gather(*(store.audit(user_id=user, action="contact.create",  # type: ignore[arg-type]
                                                      outcome="ok", resource_id=f"c-{n}")
                                          for n, user in enumerate(users)), return_exceptions=True)
        assert [n for n, outcome in enumerate(outcomes) if outcome is not None] == [17]
        assert isinstance(outcomes[17], DBAPIError)
        entries = await store.recent_audit(limit=100)
        assert {entry.resource_id for entry in entries} == {f"c-{n}" for n in range(30) if n != 17}
        assert len(entries) == 29
        newest = max(entry.at for entry in entries)
        assert abs((newest.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) < 60
    finally:
        await store.close()


async def test_a_burst_of_submissions_claims_each_once_and_audits_every_one(database_url: str) -> None:
    """Claims and audit rows written at the same moment (SQLite takes them in shared commits)."""
    import asyncio

    store = await Store.open(database_url)
    try:
        keys = [f"V{n % 20}:0" for n in range(60)]  # each key submitted three times at once
        claimed = await asyncio.gather(*(store.claim_submission(key, "U1") for key in keys))
        assert sum(claimed) == 20
        assert {key for key, won in zip(keys, claimed, strict=True) if won} == set(keys)
        await asyncio.gather(*(store.audit(user_id="U1", action="contact.create", outcome="ok",
                                           resource_id=f"c-{n}") for n in range(60)))
        await asyncio.gather(*(store.finish_submission(f"V{n}:0", "ok", "{}") for n in range(20)))
        assert {entry.resource_id for entry in await store.recent_audit(limit=100)} == {
            f"c-{n}" for n in range(60)}
        assert await store.submission("V7:0") == ("ok", "{}")
        assert await store.submission("V99:0") is None
    finally:
        await store.close()
