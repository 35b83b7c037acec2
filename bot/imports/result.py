"""An import's result: a CSV of every row of the file with its outcome (the new ID, the
provider's sentence, or unknown), posted into the progress message's thread with a summary
line. The file's secret columns are never in it."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import TYPE_CHECKING

import structlog
from slack_sdk.errors import SlackApiError

from bot.services import Services
from bot.store.imports import ImportRow, Job

if TYPE_CHECKING:
    from bot.imports.runner import ImportKind

log = structlog.get_logger(__name__)

OUTCOMES = {"created": "created", "failed": "failed", "unknown": "unknown", "invalid": "not valid",
            "cancelled": "not sent (cancelled)", "ready": "not sent", "sending": "unknown"}
#: Slack errors that trying again cannot mend: the result is given up (and logged).
PERMANENT = {"not_in_channel", "channel_not_found", "is_archived", "missing_scope", "invalid_auth",
             "not_authed", "account_inactive", "invalid_thread_ts"}


def result_csv(rows: list[ImportRow]) -> str:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.cells))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "outcome", "id", "error", *columns])
    for row in rows:
        writer.writerow([row.row_no, OUTCOMES.get(row.state, row.state), row.resource_id or "",
                         row.error or "", *(row.cells.get(c, "") for c in columns)])
    return out.getvalue()


def counted(counts: Counter[str], mark: str = "") -> list[str]:
    """A finished job's rows in words ("12 created", "3 failed"…), each count inside ``mark``."""
    parts = [f"{mark}{counts['created']}{mark} created", f"{mark}{counts['failed']}{mark} failed"]
    for state, words in (("unknown", "unknown"), ("invalid", "not valid in the file"),
                         ("cancelled", "not sent")):
        if counts[state]:
            parts.append(f"{mark}{counts[state]}{mark} {words}")
    return parts


def summary(job: Job, kind: ImportKind, rows: list[ImportRow]) -> str:
    counts = Counter(row.state for row in rows)
    parts = counted(counts)
    parts[0] = f"{counts['created']} {kind.plural if counts['created'] != 1 else kind.noun} created"
    lines = [f"Result of the import of `{job.file_name}`: {', '.join(parts)}. Every row's outcome is in "
             f"the attached file."]
    if counts["failed"] or counts["invalid"] or counts["cancelled"]:
        command = "/contact import" if kind.name == "contact" else "/sip-endpoint import"
        lines.append(f"Next: fix the rows that failed or were not valid, keep only the rows not created, "
                     f"and run `{command}` again with that file.")
    if counts["unknown"]:
        lines.append(f"Rows marked unknown may have been created: look for them in "
                     f"{'CINNOX' if kind.provider == 'cinnox' else 'Bandwidth'} before importing them again.")
    return "\n".join(lines)


async def post(services: Services, job: Job, rows: list[ImportRow], kind: ImportKind) -> bool:
    """Upload the result into the progress thread; False when it should be tried again later."""
    name = job.file_name.rsplit(".", 1)[0] or "import"
    try:
        await services.slack.files_upload_v2(
            channel=job.channel_id, thread_ts=job.message_ts, filename=f"{name}-result.csv",
            title=f"Result of {job.file_name}", content=result_csv(rows),
            initial_comment=summary(job, kind, rows))
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("imports.result_upload_failed", error=error)
        return error in PERMANENT
    except Exception as exc:
        log.warning("imports.result_upload_failed", error=type(exc).__name__)
        return False
    log.info("imports.finished", rows=len(rows))
    return True
