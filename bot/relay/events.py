"""The CINNOX call notification, as ../shared/api-docs/cinnox-call-event-subscription.txt
describes it: ``{"message": {"id", "status", "serviceId", "caller": {eid, number},
"callees": [{eid, number}]}}``. CallEnd carries only id, status and serviceId."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

CALL_START = "CallStart"
CALL_END = "CallEnd"


def _no_nul(value: str) -> str:
    # A NUL cannot be stored in PostgreSQL text: refuse it here, as bad input (400).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _number_as_text(value: Any) -> Any:
    # The document types a number as Number; it is kept as text: a phone number is not
    # arithmetic.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _phone_number(value: Any) -> Any:
    # A Number in the document. Text is taken too ("+852 …", "anonymous" for a withheld
    # caller): it is only shown, and a call must not be lost over how its number is written.
    if isinstance(value, bool | float) or (isinstance(value, int) and value < 0):
        raise ValueError("must be a phone number")
    if isinstance(value, str) and not value.strip():
        return None
    return _number_as_text(value)


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
               AfterValidator(_no_nul)]


class Party(BaseModel):
    model_config = ConfigDict(extra="ignore")

    eid: Text | None = Field(default=None, max_length=128)
    number: Annotated[Text | None, BeforeValidator(_number_as_text)] = Field(default=None, max_length=64)


class CallEvent(BaseModel):
    """A call event as stored in the outbox. What arrives at the webhook is checked more
    strictly (``IncomingCallEvent``); a stored event is read back as it was accepted, also
    one accepted by an earlier, more lenient version."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: Id
    status: Literal["CallStart", "CallEnd"]
    service_id: Text | None = Field(default=None, alias="serviceId", max_length=128)
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


class IncomingParty(Party):
    number: Annotated[Text | None, BeforeValidator(_phone_number)] = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _someone(self) -> IncomingParty:
        if self.eid is None and self.number is None:
            raise ValueError("needs an eid or a number")
        return self


class IncomingCallEvent(CallEvent):
    """The notification as the document defines it: serviceId on both events; a CallStart
    names its caller and callee(s), each by eid or number."""

    service_id: Id = Field(alias="serviceId")
    caller: IncomingParty | None = None
    callees: list[IncomingParty] = Field(default_factory=list, max_length=50)  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _end_carries_no_parties(cls, data: Any) -> Any:
        # The document's CallEnd has only id, status and serviceId: parties sent with it
        # anyway are not read, so they cannot make it fail.
        if isinstance(data, dict) and data.get("status") == CALL_END:
            return {k: v for k, v in data.items() if k not in ("caller", "callees")}
        return data

    @model_validator(mode="after")
    def _start_names_the_parties(self) -> IncomingCallEvent:
        if self.status == CALL_START and self.caller is None:
            raise PydanticCustomError("missing", "a CallStart needs its caller", {"field": "caller"})
        if self.status == CALL_START and not self.callees:
            raise PydanticCustomError("missing", "a CallStart needs at least one callee", {"field": "callees"})
        return self


class Notification(BaseModel):
    message: IncomingCallEvent


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
        loc = [*first["loc"], *([first["ctx"]["field"]] if "field" in first.get("ctx", {}) else [])]
        where = ".".join(str(part) for part in loc) or "body"
        raise BadEvent(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
