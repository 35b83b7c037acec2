"""An import's progress message: done / failed / left, the time left, and a Cancel button;
edited at most every ``UPDATE_EVERY`` seconds, times the imports this replica runs at once
(chat.update is Tier 3, about 50 a minute per workspace, shared with the call feed), and
once more at the end."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.errors import SlackApiError

from bot.imports.result import counted
from bot.mrkdwn import escape
from bot.services import Services
from bot.store.imports import ImportRow, ImportStore, Job

if TYPE_CHECKING:
    from bot.imports.runner import ImportKind

log = structlog.get_logger(__name__)

#: Seconds between two edits of a progress message.
UPDATE_EVERY = 3.0
CANCEL = "import.cancel"
#: Rows still to do.
LEFT = ("ready", "sending")


class Progress:
    def __init__(self, services: Services, store: ImportStore, job: Job, kind: ImportKind,
                 running: Callable[[], int] = lambda: 1) -> None:
        self.services, self.store, self.job, self.kind = services, store, job, kind
        self.running = running  # how many imports share the budget
        self._last = 0.0
        self._started = time.monotonic()
        self._done_at_start: int | None = None

    async def show(self) -> None:
        """Post the message (a job's first run) or bring it up to date (a resumed one)."""
        if self.job.message_ts is None:
            counts = await self.store.counts(self.job.id)
            self._done_at_start = _done(counts)
            text, blocks = running_message(self.job, self.kind, counts, None)
            try:
                posted = await self.services.slack.chat_postMessage(channel=self.job.channel_id, text=text,
                                                                    blocks=blocks)
            except SlackApiError as exc:
                log.warning("imports.progress_post_failed", error=exc.response.get("error"))
                return
            await self.store.set_message(self.job.id, str(posted["ts"]))
            self.job = await self.store.job(self.job.id) or self.job
            self._last = time.monotonic()
        else:
            await self.tick(force=True)

    async def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < UPDATE_EVERY * max(1, self.running()):
            return
        self._last = now
        job = await self.store.job(self.job.id) or self.job
        counts = await self.store.counts(job.id)
        if self._done_at_start is None:
            self._done_at_start = _done(counts)
        await self._edit(*running_message(job, self.kind, counts, self._per_second(counts)))

    async def final(self, job: Job, rows: list[ImportRow]) -> None:
        await self._edit(*final_message(job, self.kind, Counter(row.state for row in rows)))

    def _per_second(self, counts: Counter[str]) -> float | None:
        done_here = _done(counts) - (self._done_at_start or 0)
        elapsed = time.monotonic() - self._started
        return done_here / elapsed if done_here >= 2 and elapsed > 0 else None

    async def _edit(self, text: str, blocks: list[dict[str, Any]]) -> None:
        ts = self.job.message_ts
        if ts is None:
            return
        try:
            await self.services.slack.chat_update(channel=self.job.channel_id, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:  # a missed edit is made good by the next one
            log.info("imports.progress_update_failed", error=exc.response.get("error"))


def _done(counts: Counter[str]) -> int:
    return sum(counts[state] for state in ("created", "failed", "unknown"))


def running_message(job: Job, kind: ImportKind, counts: Counter[str],
                    per_second: float | None) -> tuple[str, list[dict[str, Any]]]:
    to_send = _done(counts) + sum(counts[s] for s in LEFT)
    left = sum(counts[s] for s in LEFT)
    head = (f":hourglass_flowing_sand: *Importing {kind.plural}* from `{escape(job.file_name)}` "
            f"for <@{job.user_id}>")
    line = (f"*{counts['created']}* created · *{counts['failed']}* failed"
            + (f" · *{counts['unknown']}* unknown" if counts["unknown"] else "")
            + f" · *{left}* left, of {to_send}")
    if job.cancelled_by:
        when = f"Stopping after the row in flight: <@{job.cancelled_by}> cancelled the import."
    elif per_second:
        seconds = left / per_second
        until = int(time.time() + seconds)
        when = (f"About {_duration(seconds)} left (until around "
                f"<!date^{until}^{{time}}|{time.strftime('%H:%M UTC', time.gmtime(until))}>).")
    else:
        when = "Working out how long it will take…"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{line}\n{when}"}},
    ]
    if not job.cancelled_by:
        blocks.append({"type": "actions", "block_id": "import", "elements": [{
            "type": "button", "action_id": CANCEL, "value": job.id, "style": "danger",
            "text": {"type": "plain_text", "text": "Cancel import"},
            "confirm": {"title": {"type": "plain_text", "text": "Cancel the import?"},
                        "text": {"type": "mrkdwn", "text": (
                            f"{kind.plural.capitalize()} already created stay. The rows not sent yet are "
                            "not sent; the result file lists every row.")},
                        "confirm": {"type": "plain_text", "text": "Cancel import"},
                        "deny": {"type": "plain_text", "text": "Keep going"}}}]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "Each row is created once. The result file, with every row's outcome, will be posted in "
        "this thread.")}]})
    return f"Importing {kind.plural} from {job.file_name}: {counts['created']} created, {left} left.", blocks


def final_message(job: Job, kind: ImportKind, counts: Counter[str]) -> tuple[str, list[dict[str, Any]]]:
    parts = counted(counts, "*")
    if job.state == "cancelled":
        head = (f":octagonal_sign: *Import of {kind.plural} cancelled* by <@{job.cancelled_by}>: "
                f"`{escape(job.file_name)}`")
    else:
        head = f":white_check_mark: *Import of {kind.plural} finished*: `{escape(job.file_name)}`"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{' · '.join(parts)}"}},
              {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                  "The result file, with every row's outcome, is in this thread.")}]}]
    verb = "cancelled" if job.state == "cancelled" else "finished"
    return f"Import of {kind.plural} from {job.file_name} {verb}: {', '.join(parts).replace('*', '')}.", blocks


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"
