"""Pacing against Slack's budgets: each channel's posts (about one a second, counted
from when Slack took the previous one) and the workspace's ``chat.update`` budget, shared
by every lane and every replica through the store (``bot.slack_budget``)."""

from __future__ import annotations

import asyncio
import math
import time

from bot import slack_budget
from bot.services import Services


class SlackClock:
    """When Slack took a message, on this process's clock: a posted message's ``ts`` is
    Slack's time of taking it. This process's clock is Slack's plus an offset that is at
    most (the answer's arrival - ts) for every post: the least of those is kept, let up as
    time passes faster than clocks drift apart (NTP slews a clock by at most 0.5 ms/s)."""

    DRIFT = 0.001  # seconds per second the bound is let up

    def __init__(self) -> None:
        self.offset = math.inf  # local - Slack, at most this
        self._since = 0.0  # when ``offset`` was last set

    def taken_at(self, ts: str | None, answered: float) -> float:
        """The latest moment (local, monotonic) at which Slack can have taken the message."""
        try:
            slack_time = float(ts or "")
        except ValueError:
            return answered
        relaxed = self.offset + (answered - self._since) * self.DRIFT
        self.offset, self._since = min(relaxed, answered - slack_time), answered
        return slack_time + self.offset

    def forget(self) -> None:
        """Slack refused a post as too early: learn the offset again."""
        self.offset = math.inf


class Lane:
    """One channel's deliveries, one at a time, paced to ``rate`` messages per second."""

    def __init__(self, channel: str, rate: float) -> None:
        self.channel = channel
        self.interval = 1.0 / rate
        self.dirty = False  # kicked while looking for work: look again
        self.task: asyncio.Task[None] | None = None
        self.ending: asyncio.Task[bool] | None = None  # a roll-up's ends being shown
        self._next_at = 0.0
        self._paused_until = 0.0
        self._messages_waiting = 0  # top-level posts waiting for a slot

    def wait(self) -> float:
        """Seconds until this channel's next post may go."""
        return max(0.0, self._next_at - time.monotonic())

    async def pace(self, paced: bool = True, *, reply: bool = False) -> None:
        """Wait for this channel's next slot (``paced``) and take it, or wait only for a
        Retry-After pause. A busy channel's starts and ends are shown by two tasks at once:
        the slot is taken before the post, so that the other waits for the next one; and a
        thread ``reply`` lets a top-level message waiting for a slot go first (a call not
        shown at all is worse than an end said a second later)."""
        urgent = paced and not reply
        self._messages_waiting += urgent
        try:
            while True:  # the slot may have been taken by the other task meanwhile: wait again
                wait = (self._next_at if paced else self._paused_until) - time.monotonic()
                if wait <= 0 and paced and reply and self._messages_waiting:
                    wait = self.interval / 4
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        finally:
            self._messages_waiting -= urgent
        if paced:
            self._next_at = time.monotonic() + self.interval

    def sent(self, paced: bool = True, *, started: float = 0.0, taken_at: float | None = None) -> None:
        """Slack counts the interval from when it took the previous message: ``taken_at``
        when its ``ts`` told (never before the request was sent), else as late as its answer.
        Counting from the request instead would risk a 429, and a whole second of
        Retry-After, on every bit of jitter; counting from the answer loses its way back."""
        if paced:
            counted_from = max(started, taken_at if taken_at is not None else time.monotonic())
            self._next_at = max(self._next_at, counted_from + self.interval)

    def pause(self, seconds: float) -> None:
        self._paused_until = time.monotonic() + seconds
        self._next_at = max(self._next_at, self._paused_until)


async def take_update(services: Services) -> None:
    """Wait for a ``chat.update`` turn in the workspace's budget."""
    await slack_budget.take(services, "chat.update")
