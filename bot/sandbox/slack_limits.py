"""Slack's limits in time and count: per-method rate limits with their scope and burst,
trigger_ids (3 seconds, once), and response_urls (5 posts in 30 minutes). Sources are in
the table of ``bot/sandbox/slack.py``."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["channel", "workspace"]


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: float  # requests allowed at once after a quiet while
    scope: Scope


def tier(per_minute: int) -> Limit:
    """Slack's tiers: "per minute", with occasional bursts beyond: here up to a minute's
    worth, refilled evenly."""
    return Limit(per_minute / 60.0, float(per_minute), "workspace")


TIER_3, TIER_4 = tier(50), tier(100)
#: the methods the bot calls (Tier 1/2 methods it never calls are left unlimited)
LIMITS: dict[str, Limit] = {
    "chat.postMessage": Limit(1.0, 3.0, "channel"),  # "1 per second per channel, short bursts"
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "users.info": TIER_4,
    "views.open": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
}


@dataclass
class _Bucket:
    tokens: float
    at: float
    held_until: float = 0.0


class RateLimits:
    """A token bucket per (method, scope key): a request finding none answers 429 with the
    whole seconds until one is back, as Slack's Retry-After."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(LIMITS if limits is None else limits)
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def set_rate(self, method: str, per_second: float, burst: float | None = None) -> None:
        old = self.limits.get(method, Limit(per_second, 1.0, "workspace"))
        self.limits[method] = Limit(per_second, old.burst if burst is None else burst, old.scope)

    def hold(self, method: str, key: str, seconds: float) -> None:
        """As if others had just used the whole budget: 429 for ``seconds``."""
        bucket = self._bucket(method, key, time.monotonic())
        bucket.held_until = time.monotonic() + seconds
        bucket.tokens = 0.0

    def retry_after(self, method: str, channel: str) -> int | None:
        """None when the request may go (and is counted), else Retry-After in seconds."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        key = channel if limit.scope == "channel" else "workspace"
        now = time.monotonic()
        bucket = self._bucket(method, key, now)
        if now < bucket.held_until:
            return max(1, math.ceil(bucket.held_until - now))
        bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.at) * limit.per_second)
        bucket.at = now
        if bucket.tokens < 1.0:
            return max(1, math.ceil((1.0 - bucket.tokens) / limit.per_second))
        bucket.tokens -= 1.0
        return None

    def _bucket(self, method: str, key: str, now: float) -> _Bucket:
        limit = self.limits.get(method) or Limit(1.0, 1.0, "workspace")
        return self._buckets.setdefault((method, key), _Bucket(limit.burst, now))


#: a trigger_id may open a view this long after the interaction that gave it
TRIGGER_LIFETIME = 3.0


@dataclass
class _Trigger:
    issued: float
    view_id: str | None
    used: bool = False


class Triggers:
    """trigger_ids as Slack hands them out: each opens one view, within 3 seconds."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._issued: dict[str, _Trigger] = {}

    def issue(self, view_id: str | None = None) -> str:
        trigger_id = f"{next(self._ids)}.{int(time.time())}.sandboxtrigger"
        self._issued[trigger_id] = _Trigger(time.monotonic(), view_id)
        return trigger_id

    def expire(self, trigger_id: str) -> None:
        """As if the 3 seconds had passed (tests need no sleep)."""
        self._issued[trigger_id].issued -= TRIGGER_LIFETIME + 1

    def exchange(self, trigger_id: str) -> tuple[str | None, str | None]:
        """(Slack's error, the view the trigger came from)."""
        trigger = self._issued.get(trigger_id)
        if trigger is None:
            return "invalid_trigger_id", None
        if trigger.used:
            return "exchanged_trigger_id", trigger.view_id
        if time.monotonic() - trigger.issued > TRIGGER_LIFETIME:
            return "expired_trigger_id", trigger.view_id
        trigger.used = True
        return None, trigger.view_id


#: posts a response_url takes, and for how long
RESPONSE_URL_POSTS = 5
RESPONSE_URL_LIFETIME = 1800.0


@dataclass
class ResponseUrl:
    """Where a response_url came from: a slash command (its posts are new ephemeral
    messages; ``replace_original`` cannot touch the command's own answer) or a click on a
    message (``replace_original`` replaces that message)."""

    kind: Literal["command", "interactive"]
    channel: str = ""
    message_ts: str | None = None  # the message clicked, for "interactive"
    issued: float = field(default_factory=time.monotonic)
    posts: list[dict[str, object]] = field(default_factory=list)  # every post, as sent
    shown: list[dict[str, object]] = field(default_factory=list)  # the ephemeral messages it made

    def refusal(self) -> str | None:
        if time.monotonic() - self.issued > RESPONSE_URL_LIFETIME:
            return "expired_url"
        if len(self.posts) >= RESPONSE_URL_POSTS:
            return "used_url"
        return None
