"""Schema versions. Each migration runs once, in order, in a transaction, and only adds:
an upgrade never drops or rewrites existing data.

v1 creates the tables as ``tables.py`` defines them now, so on a new database a later
migration finds its change already made: each must check first (``checkfirst``, ``IF NOT
EXISTS``), as v2 does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, inspect, select, text

from bot.store import tables

Migration = Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    versioned = [t for t in tables.metadata.sorted_tables if t is not tables.schema_version]
    tables.metadata.create_all(conn, tables=versioned, checkfirst=True)


def _v2_outbox_by_channel(conn: Connection) -> None:
    # Each channel's relay lane reads its own due rows.
    index = next(i for i in tables.outbox.indexes if i.name == "ix_outbox_channel_due")
    index.create(conn, checkfirst=True)


def _v3_directory_and_call_state(conn: Connection) -> None:
    # Names for call messages, how calls ended, call-backs, App Home visitors.
    added = [tables.directory_contacts, tables.directory_staff, tables.service_names,
             tables.call_outcomes, tables.call_callbacks, tables.home_visits]
    tables.metadata.create_all(conn, tables=added, checkfirst=True)


def _v4_outbox_claims(conn: Connection) -> None:
    # The claims count, so that a "Retry" of a given-up delivery (which starts its attempts
    # again) cannot make an old claim current again.
    if "claims" not in {column["name"] for column in inspect(conn).get_columns("outbox")}:
        conn.execute(text("ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0"))


def _v5_outbox_and_calls_by_what_is_read(conn: Connection) -> None:
    # A lane reads its channel's first due rows without sorting the channel's backlog; the
    # prune finds old delivered events and ended calls without reading all of them.
    for index in [*tables.outbox.indexes, *tables.calls.indexes]:
        if index.name in ("ix_outbox_open_by_channel", "ix_outbox_delivered_by_received", "ix_calls_ended"):
            index.create(conn, checkfirst=True)


def _v6_slack_budgets(conn: Connection) -> None:
    # Every replica paces chat.update and views.publish against one workspace budget.
    tables.slack_budgets.create(conn, checkfirst=True)


def _v7_import_jobs(conn: Connection) -> None:
    # CSV imports: the job and each row's state, so that an import resumes after a restart.
    tables.metadata.create_all(conn, tables=[tables.import_jobs, tables.import_rows], checkfirst=True)


def _v8_call_rollups(conn: Connection) -> None:
    # A busy channel's calls are shown as lines of roll-ups: which calls a roll-up holds.
    if "rollup" not in {column["name"] for column in inspect(conn).get_columns("calls")}:
        conn.execute(text("ALTER TABLE calls ADD COLUMN rollup BOOLEAN NOT NULL DEFAULT '0'"))
    index = next(i for i in tables.calls.indexes if i.name == "ix_calls_message")
    index.create(conn, checkfirst=True)


def _v9_message_draws(conn: Connection) -> None:
    # Racing edits of one call message: the version each draw began at.
    tables.message_draws.create(conn, checkfirst=True)


MIGRATIONS: list[Migration] = [_v1_initial, _v2_outbox_by_channel, _v3_directory_and_call_state,
                               _v4_outbox_claims, _v5_outbox_and_calls_by_what_is_read,
                               _v6_slack_budgets, _v7_import_jobs, _v8_call_rollups, _v9_message_draws]
LATEST = len(MIGRATIONS)
UPGRADE_LOCK = 0x7E1E_B07  # any constant shared by every replica


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(select(tables.schema_version.c.version).order_by(
        tables.schema_version.c.version.desc()).limit(1)).scalar() or 0)


def upgrade(conn: Connection) -> int:
    """Bring the schema to LATEST; returns the version it started from."""
    if conn.dialect.name == "postgresql":
        # Replicas starting together upgrade one at a time (held until this transaction ends).
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
    tables.schema_version.create(conn, checkfirst=True)
    start = current_version(conn)
    for number, migration in enumerate(MIGRATIONS[start:], start=start + 1):
        migration(conn)
        conn.execute(
            tables.schema_version.insert().values(version=number, applied_at=datetime.now(UTC))
        )
    return start
