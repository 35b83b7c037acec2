"""The pace of each provider's creates, shared by every import this replica runs."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    def __init__(self, rates: dict[str, float | None]) -> None:
        #: requests per second per provider; None: one at a time, as fast as it answers
        self.rates = rates
        self._next: dict[str, float] = {}

    async def wait(self, provider: str) -> None:
        """Return when the next request to ``provider`` may go."""
        rate = self.rates.get(provider)
        now = time.monotonic()
        at = max(now, self._next.get(provider, 0.0))
        self._next[provider] = at + (1.0 / rate if rate else 0.0)
        if at > now:
            await asyncio.sleep(at - now)

    def hold(self, provider: str, seconds: float) -> None:
        """The provider asked to wait (429): nothing goes before then."""
        self._next[provider] = max(self._next.get(provider, 0.0), time.monotonic() + seconds)
