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


def _lenient_text(value: Any, limit: int) -> str | None:
    """A party's field as text to show, whatever CINNOX put there: a number kept whole, a
    value that is not one (an object, a boolean) dropped. NULs cannot be stored; cut to
    ``limit`` characters."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:limit] or None


def _lenient_party(value: Any) -> dict[str, Any]:
    """A party as shown: unknown (neither eid nor number) rather than refused."""
    if not isinstance(value, dict):
        return {}
    out = {"eid": _lenient_text(value.get("eid"), 128), "number": _lenient_text(value.get("number"), 64)}
    return {k: v for k, v in out.items() if v is not None}


class IncomingCallEvent(CallEvent):
    """The notification as received: only what keys it is required (``id`` and ``status``:
    the document marks nothing required, but without them it is no call event). A CallStart
    without its caller or callees, or a party naming nobody, is still a call: it is stored
    and shown with an unknown caller / callee; one without ``serviceId``, with an unknown
    service."""

    @model_validator(mode="before")
    @classmethod
    def _parties_as_shown(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        caller, callees = data.pop("caller", None), data.pop("callees", None)
        if data.get("status") == CALL_END:
            return data  # the document's CallEnd has no parties: any sent are not read
        if caller is not None:
            data["caller"] = _lenient_party(caller)
        if isinstance(callees, dict):
            callees = [callees]
        if isinstance(callees, list):
            data["callees"] = [_lenient_party(p) for p in callees[:50]]
        return data


class Notification(BaseModel):
    message: IncomingCallEvent


def _id_as_text(value: Any) -> Any:
    """An ID sent as a JSON number, as text (``12345`` → ``"12345"``); else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def normalised(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The body with ``message.id`` / ``message.serviceId`` sent as numbers made text, and a
    blank ``serviceId`` left out; and what was done, for the metrics (``id_number``,
    ``serviceId_number``, ``serviceId_missing``). The document types both as String, yet
    nothing says CINNOX sends an event again once it was refused: taken, not lost."""
    message = body.get("message")
    if not isinstance(message, dict):
        return body, []
    message, done = dict(message), []
    for key in ("id", "serviceId"):
        text = _id_as_text(message.get(key))
        if text is not message.get(key):
            message[key] = text
            done.append(f"{key}_number")
    service = message.get("serviceId")
    if service is None or (isinstance(service, str) and not service.strip()):
        message.pop("serviceId", None)
        done.append("serviceId_missing")
    return {**body, "message": message}, done


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


def parse_event(body: Any) -> tuple[CallEvent, list[str]]:
    """The call event, and how it was normalised (see ``normalised``)."""
    if not isinstance(body, dict):
        raise BadEvent("the body must be a JSON object")
    body, done = normalised(body)
    try:
        return Notification.model_validate(body).message, done
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = [*first["loc"], *([first["ctx"]["field"]] if "field" in first.get("ctx", {}) else [])]
        where = ".".join(str(part) for part in loc) or "body"
        raise BadEvent(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
