"""Every error a provider client raises, in one hierarchy.

Each error carries the provider, the operation and the provider's own message. None of
them ever holds a token, secret or password: clients build messages from the provider's
answer, never from the request.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

Model = TypeVar("Model", bound=pydantic.BaseModel)


class ProviderError(Exception):
    """Base: a provider call did not succeed."""

    #: What the user should do next; subclasses refine it.
    advice = "Try again; if it keeps failing, tell whoever runs the bot."

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        operation: str,
        status: int | None = None,
        code: str | int | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The provider's own per-field complaints, ``{its field name: its words}`` (Bandwidth's details).
        self.fields = dict(fields or {})
        self.provider = provider
        self.operation = operation
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.provider} {self.operation}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, operation={self.operation!r}, "
            f"status={self.status!r}, code={self.code!r}, message={self.message!r})"
        )

    def user_sentence(self) -> str:
        """One or two sentences a Slack user can act on."""
        message = self.message.strip()
        stop = "" if message.endswith((".", "!", "?")) else "."
        return f"{self.provider_title} said: {message}{stop} {self.advice}"

    @property
    def provider_title(self) -> str:
        return {"cinnox": "CINNOX", "bandwidth": "Bandwidth", "yeastar": "Yeastar"}.get(
            self.provider, self.provider
        )


# --- the request was refused --------------------------------------------------------


class AuthError(ProviderError):
    """Credentials were missing, wrong or lacked permission (401/403, Yeastar 10005/70004)."""

    advice = "Ask whoever runs the bot to check its credentials for this provider."


class ValidationError(ProviderError):
    """The provider rejected the request's content (400, CINNOX 6451000, Yeastar 40001/40002)."""

    advice = "Correct the value and submit again."


class NotFoundError(ProviderError):
    """The addressed resource does not exist (404, CINNOX 3000205, Yeastar 60001)."""

    advice = "Check the ID and try again."


class ConflictError(ProviderError):
    """The resource already exists (409, Yeastar 40003)."""

    advice = "Choose another name; this one is taken."


# --- the provider could not answer now ------------------------------------------------


class RateLimitedError(ProviderError):
    """Too many requests (429, CINNOX 6451010); retry_after is in seconds when known."""

    advice = "The provider is busy; try again in a minute."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class UnavailableError(ProviderError):
    """5xx, or a connection that failed after the request may have left: the provider may
    or may not have acted on it."""

    #: Whether the request may have reached the provider (a create may then exist).
    may_have_acted = True
    advice = "Whether it took effect is not known; try again in a minute."


class TimedOutError(UnavailableError):
    """The request was sent and no answer came in time: the provider may have acted on it."""


class UnreachableError(UnavailableError):
    """The connection was refused (or the host not found): nothing was sent."""

    may_have_acted = False
    advice = "Nothing was sent, so nothing changed. Try again; if it keeps failing, tell whoever runs the bot."

    def user_sentence(self) -> str:
        return f"Could not reach {self.provider_title} ({self.message}). {self.advice}"


# --- the request was accepted, but its answer is incomplete ---------------------------------


class CreatedWithoutIdError(ProviderError):
    """A create was accepted (2xx) but the answer did not say the new ID: it was probably
    created, and sending it again would make a second one."""

    advice = "It was probably created: do not submit it again, or there may be two."


def parse_answer(model: type[Model], data: Any, *, provider: str, operation: str,
                 status: int | None = None) -> Model:
    """Read a provider's answer into ``model``; an answer of another shape is a
    ProviderError like any other failure (its text, which may echo data, is not kept)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors(include_url=False)[0]["loc"]) or "body"
        raise ProviderError(f"answered in an unexpected shape (at {where})", provider=provider,
                            operation=operation, status=status) from None
