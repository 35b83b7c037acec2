"""The CINNOX call notification, as ../shared/api-docs/cinnox-call-event-subscription.txt
describes it: ``{"message": {"id", "status", "serviceId", "caller": {eid, number},
"callees": [{eid, number}]}}``. CallEnd carries only id, status and serviceId."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

CALL_START = "CallStart"
CALL_END = "CallEnd"


def _number_as_text(value: Any) -> Any:
    # The document types numbers as Number; a phone number is kept as text either way.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


class Party(BaseModel):
    model_config = ConfigDict(extra="ignore")

    eid: str | None = Field(default=None, max_length=128)
    number: Annotated[str | None, BeforeValidator(_number_as_text)] = Field(default=None, max_length=64)


class CallEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    status: Literal["CallStart", "CallEnd"]
    # Documented on both events; still optional so that an event without it is routed to
    # CALL_EVENTS_CHANNEL rather than lost.
    service_id: str | None = Field(default=None, alias="serviceId", max_length=128)
    caller: Party | None = None
    callees: list[Party] = Field(default_factory=list, max_length=50)

    @field_validator("callees", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, dict) else value

    @property
    def key(self) -> str:
        """The event's identity: one per call and status (duplicates share it)."""
        return f"{self.id}:{self.status}"

    def payload(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Notification(BaseModel):
    message: CallEvent


class BadEvent(ValueError):
    """The body is not a call notification; ``reason`` is the short answer for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def challenge_of(body: Any) -> str | None:
    """The challenge value when ``body`` is the verification handshake."""
    if isinstance(body, dict) and "message" not in body and isinstance(body.get("challenge"), str):
        return str(body["challenge"])
    return None


def parse_event(body: Any) -> CallEvent:
    if not isinstance(body, dict):
        raise BadEvent("the body must be a JSON object")
    try:
        return Notification.model_validate(body).message
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadEvent(f"{where}: {first['msg']}") from None
