"""The one HTTP transport the provider clients share.

One aiohttp session per provider, timeouts, the retry policy and the mapping of transport
failures to ``errors``. A client supplies ``classify``: how its provider's answer (status,
headers, JSON body) becomes an error, or ``None`` for success.

Retry policy (never re-send a create that may have reached the provider):
- rate limited (429 / provider code): retried for every call, waiting what the provider
  asked for, bounded by ``max_retry_wait`` in total;
- 503 with Retry-After: retried for every call (the provider refused before acting);
- other 5xx, timeouts, dropped connections: retried only when ``idempotent``;
- connection refused (nothing was sent): retried for every call.
"""

from __future__ import annotations

import asyncio
import errno
import json
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from bot.providers import errors

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or the text when not JSON, or None when empty


Classifier = Callable[[str, Answer], "errors.ProviderError | None"]


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Retry-After (seconds or HTTP date is rare; seconds only) or X-RateLimit-Reset (epoch ms)."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, int(reset) / 1000.0 - (now if now is not None else time.time()))
        except ValueError:
            return None
    return None


class ProviderHTTP:
    def __init__(
        self,
        provider: str,
        base_url: str,
        classify: Classifier,
        *,
        timeout: float = 15.0,
        headers: Mapping[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        max_attempts: int = 3,
        max_retry_wait: float = 10.0,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.provider = provider
        #: Credentials that must never reach an error message, even when the provider
        #: echoes them back; a client adds the tokens it obtains later.
        self.secrets: set[str] = {s for s in secrets if s}
        self.base_url = base_url.rstrip("/")
        self._classify = classify
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = dict(headers or {})
        self._auth = auth
        self._max_attempts = max_attempts
        self._max_retry_wait = max_retry_wait
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers=self._headers, auth=self._auth
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool,
    ) -> Answer:
        """Send one request, retrying only where the policy above allows; raise on failure."""
        url = self.base_url + path
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            hinted: float | None = None
            try:
                answer = await self._send(method, url, json_body, params)
            except aiohttp.ClientConnectorError as exc:
                error: errors.ProviderError = errors.UnreachableError(
                    f"connection {_refusal(exc)}", provider=self.provider, operation=operation)
                retryable = True  # nothing reached the provider
            except TimeoutError:
                error = errors.TimedOutError("did not answer in time", provider=self.provider,
                                             operation=operation)
                retryable = idempotent
            except aiohttp.ClientError as exc:
                error = self._unavailable(operation, f"connection failed ({type(exc).__name__})")
                retryable = idempotent
            else:
                classified = self._classify(operation, answer)
                log.debug(
                    "provider.call",
                    provider=self.provider,
                    operation=operation,
                    status=answer.status,
                    ms=round((time.monotonic() - started) * 1000, 1),
                )
                if classified is None:
                    return answer
                error = classified
                hinted = retry_after_seconds(answer.headers)
                retryable = isinstance(error, errors.RateLimitedError) or (
                    isinstance(error, errors.UnavailableError)
                    and (idempotent or (answer.status == 503 and "Retry-After" in answer.headers))
                )
            delay = self._delay(error, attempt, hinted)
            if not retryable or attempt >= self._max_attempts or waited + delay > self._max_retry_wait:
                log.info(
                    "provider.failed",
                    provider=self.provider,
                    operation=operation,
                    error=type(error).__name__,
                    status=error.status,
                    code=error.code,
                    attempts=attempt,
                )
                raise self._scrubbed(error)
            log.info(
                "provider.retry",
                provider=self.provider,
                operation=operation,
                error=type(error).__name__,
                delay=round(delay, 3),
                attempt=attempt,
            )
            await asyncio.sleep(delay)
            waited += delay

    async def _send(
        self, method: str, url: str, json_body: Any, params: Mapping[str, str] | None
    ) -> Answer:
        async with self.session.request(method, url, json=json_body, params=params) as resp:
            raw = await resp.read()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")[:500]
            return Answer(resp.status, dict(resp.headers), body)

    def _delay(self, error: errors.ProviderError, attempt: int, hinted: float | None) -> float:
        """What the provider asked for (Retry-After, X-RateLimit-Reset, or the wait a rate
        limit error carries), else an exponential backoff with jitter."""
        if isinstance(error, errors.RateLimitedError) and error.retry_after is not None:
            return error.retry_after
        if hinted is not None:
            return hinted
        return min(0.25 * 2 ** (attempt - 1), 4.0) * (0.5 + random.random() / 2)

    def _scrubbed(self, error: errors.ProviderError) -> errors.ProviderError:
        for secret in self.secrets:
            error.message = error.message.replace(secret, "[redacted]")
        error.args = (error.message,)
        return error

    def _unavailable(self, operation: str, message: str) -> errors.UnavailableError:
        return errors.UnavailableError(
            f"{message}", provider=self.provider, operation=operation
        )


def _refusal(exc: aiohttp.ClientConnectorError) -> str:
    """"refused", "failed: host not found": how the connection failed, in words."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "failed: its TLS certificate or handshake was refused"
    if exc.os_error.errno == errno.ECONNREFUSED:
        return "refused"
    if isinstance(exc.os_error, socket.gaierror):
        return "failed: host not found"
    return "failed"


def status_error(
    provider: str,
    operation: str,
    answer: Answer,
    message: str,
    code: str | int | None = None,
) -> errors.ProviderError:
    """The error for an HTTP status, for classifiers whose provider uses statuses."""
    kw: dict[str, Any] = {"provider": provider, "operation": operation, "status": answer.status, "code": code}
    status = answer.status
    if status in (401, 403):
        return errors.AuthError(message, **kw)
    if status == 404:
        return errors.NotFoundError(message, **kw)
    if status == 409:
        return errors.ConflictError(message, **kw)
    if status == 429:
        return errors.RateLimitedError(message, retry_after=retry_after_seconds(answer.headers), **kw)
    if status >= 500:
        return errors.UnavailableError(message, **kw)
    return errors.ValidationError(message, **kw)
