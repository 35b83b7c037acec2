"""Planning a channel: per-call messages while they keep it current, roll-ups when they
would fall behind.

Per-call messages cost a channel two posts a call (the parent, the reply) against Slack's
one post a second: about half a call a second. The plan looks at what is due in the
channel (a backlog after an outage is a busy channel too) and at how fast calls came in
lately; when a call would be shown later than ``fresh`` seconds after it started, or calls
come faster than per-call messages can follow, the channel switches to roll-ups. It goes
back to per-call messages once the backlog is gone and calls come in at well under that.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.relay.events import CALL_START
from bot.relay.pacing import Lane
from bot.store.outbox import Delivery

#: seconds of arrivals the recent rate is taken over
RECENT = 15.0
#: of per-call messages' capacity: above BUSY the channel switches, below CALM it switches back
BUSY, CALM = 0.8, 0.4
#: a roll-up gathers calls for at least this long (and at most ``fresh`` less a post's slot)
MIN_HOLD = 1.5
#: a call's end waits this long for others to end with it: one edit shows them all
END_HOLD = 2.0


@dataclass
class Plan:
    """One channel's mode, and the arrivals it is judged on."""

    fresh: float
    interval: float  # seconds between two posts in the channel
    rollup: bool = False
    _seen: int = 0  # the newest row id counted
    _arrivals: deque[float] = field(default_factory=deque)

    def choose(self, lane: Lane, rows: Sequence[Delivery], now: float | None = None) -> bool:
        """True: show ``rows`` (the channel's due rows, oldest first) as roll-ups."""
        now = time.time() if now is None else now
        for d in rows:
            if d.id > self._seen:
                self._seen = d.id
                if d.kind == CALL_START:
                    self._arrivals.append(d.received_at)
        while self._arrivals and self._arrivals[0] < now - RECENT:
            self._arrivals.popleft()
        capacity = 1.0 / (2 * self.interval)  # calls a second per-call messages keep up with
        rate = len(self._arrivals) / RECENT
        late = self.lateness(lane, rows, now)
        starts = sum(d.kind == CALL_START for d in rows)
        if self.rollup:
            self.rollup = not (late <= self.fresh / 2 and len(rows) <= 2 and rate < CALM * capacity)
        else:  # one call shown late is not a busy channel (a retry, say): two or more are
            self.rollup = (late > self.fresh and starts >= 2) or rate > BUSY * capacity
        return self.rollup

    def lateness(self, lane: Lane, rows: Sequence[Delivery], now: float) -> float:
        """How late the latest-shown call of ``rows`` would be shown, each row posted in
        its turn, one per slot from now on."""
        first_slot = now + lane.wait()
        return max((first_slot + i * self.interval - d.received_at
                    for i, d in enumerate(rows) if d.kind == CALL_START), default=0.0)

    def hold(self, busy_channels: int, update_interval: float) -> float:
        """How long a roll-up gathers calls: long enough that the workspace's chat.update
        budget, shared by the busy channels, can show each roll-up's calls ending; never so
        long that its first call is shown later than ``fresh``."""
        return max(MIN_HOLD, min(busy_channels * update_interval, self.fresh - self.interval))
