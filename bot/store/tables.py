"""The store's tables (SQLAlchemy Core). Changing one means adding a migration in
``bot/store/migrations.py``; never edit a released migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# Every provisioning attempt: who, what, outcome, resource ID.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. "contact.create"
    Column("outcome", String(16), nullable=False),  # ok | denied | invalid | failed | started
    Column("resource_id", String(128)),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
)

# Small key/value state: the generated webhook token, the subscription, etc.
settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# serviceId -> Slack channel for call notifications.
call_routes = Table(
    "call_routes",
    metadata,
    Column("service_id", String(128), primary_key=True),
    Column("channel_id", String(32), nullable=False),
    Column("updated_by", String(32)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per CINNOX call: where its parent message is.
calls = Table(
    "calls",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("service_id", String(128)),
    Column("channel_id", String(32)),
    Column("parent_ts", String(32)),
    Column("started_at", Float),  # epoch seconds, as received
    Column("ended_at", Float),
    Column("start_event", JSON),
    Column("state", String(16), nullable=False, default="started"),
    # Shown as a line of a roll-up (``parent_ts`` is the roll-up's), not as a message of its own.
    Column("rollup", Boolean, nullable=False, server_default="0"),
    Index("ix_calls_ended", "ended_at"),  # the hourly prune
    Index("ix_calls_message", "channel_id", "parent_ts"),  # a roll-up's calls, to redraw it
)

# Webhook events, stored before the 200 and delivered to Slack from here.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_key", String(200), nullable=False, unique=True),  # call_id + ":" + status
    Column("call_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # CallStart | CallEnd
    Column("payload", JSON, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("state", String(16), nullable=False, default="pending"),  # pending|sending|done|failed
    Column("attempts", Integer, nullable=False, default=0),  # tries since last given up (backoff)
    # claims ever made (fencing; a "Retry" starts ``attempts`` again, never this). The
    # server's default: the webhook's INSERT leaves it out.
    Column("claims", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("channel_id", String(32)),
    Column("posted_ts", String(32)),
    Column("last_error", Text),
    Column("delivered_at", Float),
    Index("ix_outbox_state_next", "state", "next_attempt_at"),
    Index("ix_outbox_call", "call_id"),
    Index("ix_outbox_channel_due", "channel_id", "state", "next_attempt_at"),
)

#: States of the outbox rows still to deliver.
OUTBOX_OPEN = ("pending", "sending")
#: ``state IN ('pending', 'sending')``, the values written out, not bound: SQLite uses a
#: partial index only for a query that states the index's own condition, term for term.
outbox_open = outbox.c.state.in_([literal_column(f"'{state}'") for state in OUTBOX_OPEN])
#: A channel's rows to deliver, oldest first, without the delivered ones. (By state and
#: due time, a lane's read sorted the channel's whole backlog to take its first 50 rows:
#: 18-33 ms at 200k rows waiting, once a second under load, the webhook's commits waiting.)
Index("ix_outbox_open_by_channel", outbox.c.channel_id, outbox.c.id,
      sqlite_where=outbox_open, postgresql_where=outbox_open)
#: The delivered rows by age, for the hourly prune. Its condition names no state: by
#: ``state = 'done'`` SQLite would take the state index, through every delivered row of the
#: week kept, under the writer lock. (Only a delivered row has ``delivered_at``.)
Index("ix_outbox_delivered_by_received", outbox.c.received_at,
      sqlite_where=outbox.c.delivered_at.is_not(None), postgresql_where=outbox.c.delivered_at.is_not(None))

# Modal submissions already accepted, so a double-clicked submit creates once.
submissions = Table(
    "submissions",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # started | ok | failed
    Column("result", Text),
)

# --- who is calling: the directory the call messages read names from -----------------------

# Contacts created through the bot, by the E.164 number they were given.
directory_contacts = Table(
    "directory_contacts",
    metadata,
    Column("phone", String(32), primary_key=True),  # E.164
    Column("name", String(200), nullable=False),
    Column("contact_id", String(128)),
    Column("created_by", String(32)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# CINNOX staff by EID, copied from staffcontact-list in the background.
directory_staff = Table(
    "directory_staff",
    metadata,
    Column("eid", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("extension", String(32)),
    Column("refreshed_at", Float, nullable=False),  # epoch seconds
)

# Service names: from service groups created through the bot, or given when routing.
service_names = Table(
    "service_names",
    metadata,
    Column("service_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("source", String(16), nullable=False),  # service_group | route
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# How each call ended, as its parent message shows it.
call_outcomes = Table(
    "call_outcomes",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("missed", Boolean, nullable=False, default=False),
    Column("seconds", Float),  # None: duration unknown
    Column("ended_at", Float, nullable=False),
    Column("bye_reason", String(128)),
    Column("release_party", String(128)),
)

# Missed calls' call-backs: the first person to click takes it.
call_callbacks = Table(
    "call_callbacks",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("taken_at", Float, nullable=False),
    Column("done_at", Float),
)

# Who opened the App Home lately (its call lists are pushed to them when calls change).
home_visits = Table(
    "home_visits",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("opened_at", Float, nullable=False),
)

# Slack's per-workspace rate budgets (chat.update, views.publish), shared by every replica:
# the next free moment (epoch seconds) for each method.
slack_budgets = Table(
    "slack_budgets",
    metadata,
    Column("method", String(64), primary_key=True),
    Column("next_at", Float, nullable=False),
)

# Editors of one call message (a roll-up or a call's parent) race: the relay's lanes and
# replicas, the redraw of a spent edit budget, a click. Slack keeps whichever edit lands
# last, perhaps the one drawn first; each draw begins a new version here, and an editor that
# finds a newer one begun after its own draws again (bot/relay/cards.py).
message_draws = Table(
    "message_draws",
    metadata,
    Column("channel_id", String(32), primary_key=True),
    Column("ts", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("drawn_at", Float, nullable=False),  # epoch seconds: pruned with the calls
    Index("ix_message_draws_drawn", "drawn_at"),
)

# --- CSV imports: a job and each of its rows (bot/store/imports.py) ---------------------------

# One CSV import: who started it, where its progress shows, whose replica runs it (a lease).
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),  # contact | sip_endpoint
    Column("user_id", String(32), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # draft | running | done | cancelled
    Column("total", Integer, nullable=False),  # rows in the file
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("message_ts", String(32)),  # the progress message
    Column("owner", String(64)),  # the replica running it
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("cancelled_by", String(32)),
    Column("result_posted", Boolean, nullable=False, default=False),
    Index("ix_import_jobs_state", "state"),
)

# Each row of an import's file. ``secret`` holds its passwords only until the row finishes.
import_rows = Table(
    "import_rows",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("row_no", Integer, primary_key=True),  # as a spreadsheet numbers it: the header is 1
    # invalid | ready | sending | created | failed | unknown | cancelled
    Column("state", String(16), nullable=False),
    Column("data", JSON),  # the request as the form builds it, secrets out
    Column("secret", JSON),
    Column("cells", JSON, nullable=False),  # the file's cells (secret columns out), for the result
    Column("label", String(200), nullable=False, default=""),
    Column("resource_id", String(128)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),  # claims made: the fence of a claim
    Column("finished_at", Float),
    Index("ix_import_rows_job_state", "job_id", "state", "row_no"),
)
