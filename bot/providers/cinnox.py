"""CINNOX Open API: request/response models and the client.

Documents: api-docs/cinnox-create-service-group.txt, cinnox-create-external-contact.txt,
cinnox-call-event-subscription.txt and the CINNOX section of providers-notes.md.

Models carry the API's exact field names as aliases and a ``title`` (the modal label) on
every field; ``to_api()`` gives the exact JSON body (optional fields left out when unset).
The client sends ``Authorization: Bearer <AppToken>`` on every call and never puts the token
in an error, a repr or a log line.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

from bot.providers import errors
from bot.providers.fields import (
    CountryCode,
    LanguageCode,
    LanguageTag,
    LocationCode,
    NumberWithCountryCode,
    PlusNumber,
    located,
)
from bot.providers.http import Answer, ProviderHTTP, retry_after_seconds

log = structlog.get_logger(__name__)

PROVIDER = "cinnox"

# Codes from the CINNOX error table (providers-notes.md).
CODE_OK = 0
CODE_NOT_FOUND = 6450001  # method / URL not found
CODE_BAD_PARAMETER = 6451000
CODE_INTERNAL = 6451001  # bad response from an internal service
CODE_TOO_MANY = 6451010
CODE_DESTINATION_NOT_FOUND = 3000205

ALL = "*"
MAX_STAFF_PAGE = 500


# --- value checks -----------------------------------------------------------------------

#: "Email address of the external contact": no more is documented. An address is taken as
#: something@domain without spaces (a domain without a dot is a warning in the form); the
#: simulator holds the same reading in its own code.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_DDMMYYYY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def email_address(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address such as ada@example.com")
    return value


def http_url(value: str, *, max_length: int | None = None) -> str:
    """An absolute http(s) URL with a host and no spaces."""
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be a URL starting with https:// (or http://), e.g. https://example.com/path")
    return value


def _no_blanks(value: Any) -> Any:
    """Form inputs left empty arrive as "": treat them as not given."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not (isinstance(v, str) and not v.strip())}
    return value


def _as_text(value: Any) -> Any:
    """Response fields documented as strings sometimes come as numbers."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


EmailAddress = Annotated[str, AfterValidator(email_address)]
WebhookURL = Annotated[str, AfterValidator(http_url)]
StaffID = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LooseText = Annotated[str, BeforeValidator(_as_text)]


# --- models -------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True,
                              hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        return _no_blanks(data)

    def to_api(self) -> dict[str, Any]:
        """The exact JSON body: API names, unset optional fields and empty optional lists left out."""
        body = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            if not info.is_required() and body.get(key) == []:
                del body[key]
        return body


class _Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


# Service group (destination) ---------------------------------------------------------------

DestinationType = Literal["PHONE", "STAFF", "TRUNK"]
TARGET_FIELDS: dict[str, tuple[str, str]] = {
    # type: (python field, API field)
    "PHONE": ("phone_targets", "phoneTargets"),
    "STAFF": ("staff_targets", "staffTargets"),
    "TRUNK": ("trunk_targets", "trunkTargets"),
}


class ServiceGroupRequest(_Request):
    """POST /v1/api/apps/{appID}/destination."""

    display_name: str = Field(
        alias="displayName",
        title="Service group name",
        description="Up to 40 characters",
        min_length=1,
        max_length=40,
    )
    support_languages: list[LanguageTag] = Field(
        alias="supportLanguages",
        title="Supported languages",
        min_length=1,
        description='Languages the staff use with customers (language codes, e.g. en, zh-TW, yue), '
                    'or "*" for all',
    )
    support_locations: list[LocationCode] = Field(
        alias="supportLocations",
        title="Supported locations",
        min_length=1,
        description='Countries / regions (HK), with a state (US+CA or US-CA), or "*" for all',
    )
    types: list[DestinationType] = Field(
        title="Destination types",
        min_length=1,
        description="PHONE, STAFF and / or TRUNK; each needs its targets",
    )
    phone_targets: list[NumberWithCountryCode] = Field(
        default_factory=list,
        alias="phoneTargets",
        title="Phone numbers",
        description="PSTN numbers with country code, e.g. +85294667788; required for PHONE",
    )
    staff_targets: list[StaffID] = Field(
        default_factory=list,
        alias="staffTargets",
        title="Staff",
        description="Staff IDs (from the staff list); required for STAFF",
    )
    trunk_targets: list[NumberWithCountryCode] = Field(
        default_factory=list,
        alias="trunkTargets",
        title="SIP trunk numbers",
        description="SIP trunk numbers with country code, e.g. +85230001234; required for TRUNK",
    )

    @model_validator(mode="after")
    def _targets_follow_types(self) -> ServiceGroupRequest:
        problems: dict[str, str] = {}
        for kind, (attr, api_name) in TARGET_FIELDS.items():
            targets = getattr(self, attr)
            if kind in self.types and not targets:
                problems[api_name] = f"needs at least one {'person' if kind == 'STAFF' else 'number'}"
        if problems:
            raise located(type(self).__name__, problems)
        return self


# External contact ------------------------------------------------------------------------


class Phone(_Request):
    type: Literal["Mobile", "Work", "Home", "Other"] = Field(title="Phone type")
    phone: PlusNumber = Field(title="Phone number", description="With country code, e.g. +85294667788")


class Email(_Request):
    type: Literal["Work", "Personal", "Other"] = Field(title="Email type")
    email: EmailAddress = Field(title="Email address", description="e.g. ada@example.com")


class Address(_Request):
    street: str | None = Field(default=None, title="Street")
    city: str | None = Field(default=None, title="City")
    state: str | None = Field(default=None, title="State")
    zipcode: str | None = Field(default=None, title="Zip code")
    country: CountryCode | None = Field(default=None, title="Country", description="Two-letter code, e.g. HK")


SocialKey = Literal[
    "Facebook",
    "WhatsApp",
    "WeChat",
    "LINE",
    "Twitter",
    "LinkedIn",
    "WoztellWhatsApp",
    "WoztellFacebook",
    "WoztellInstagram",
]


class SocialContact(_Request):
    key: SocialKey = Field(title="Social network")
    value: str = Field(
        title="Social user name / ID",
        max_length=100,
        description="User name or ID on that network, up to 100 characters",
    )


CustomFieldType = Literal[
    "FieldTypePicklist",
    "FieldTypeMultiPicklist",
    "FieldTypeText",
    "FieldTypeURL",
    "FieldTypeBoolean",
    "FieldTypeDate",
    "FieldTypeTime",
]


def _custom_value_problem(kind: str, value: str) -> str | None:
    """Why ``value`` does not fit a custom field of type ``kind`` (the document's rules), or None."""
    if kind == "FieldTypeText":
        return "must be at most 500 characters for a text field" if len(value) > 500 else None
    if kind == "FieldTypeURL":
        parts = urlsplit(value)
        if len(value) > 500:
            return "must be at most 500 characters for a URL field"
        if not (parts.scheme and parts.netloc) or any(c.isspace() for c in value):
            return "must be a URL, e.g. https://example.com/path, for a URL field"
        return None
    if kind == "FieldTypeBoolean":
        return None if value.lower() in ("true", "false") else "must be true or false for a boolean field"
    if kind == "FieldTypeDate":
        ok = bool(_RFC3339.match(value))
        if ok:
            try:
                dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError:
                ok = False
        return None if ok else "must be an RFC 3339 date and time for a date field, e.g. 2024-05-01T09:30:00Z"
    if kind == "FieldTypeTime":
        return None if _HHMM.match(value) else "must be a 24-hour time HH:MM for a time field, e.g. 09:30"
    items = [item.strip() for item in value.split(",")]
    if kind == "FieldTypePicklist":
        return None if len(items) == 1 else "takes a single option for a single-select picklist (no commas)"
    return None


class CustomField(_Request):
    """One custom field value.

    A GUESS: the document lists the custom field *types* (FieldTypePicklist … FieldTypeTime)
    as properties of ``customField`` without showing how a field is named. We send a list of
    ``{"type", "name", "value"}``: a custom field is addressed by its name, its type says how
    the value is checked, and the value is text. A multi-select picklist value is its options
    separated by commas. When CINNOX refuses a contact that carries custom fields, the client
    raises ``CustomFieldsRefused``, so the person learns they are the likely cause.
    """

    type: CustomFieldType = Field(title="Custom field type")
    name: str = Field(title="Custom field name", min_length=1)
    value: str = Field(title="Custom field value", description="Checked against the field type")

    @model_validator(mode="after")
    def _value_fits_type(self) -> CustomField:
        problem = _custom_value_problem(self.type, self.value)
        if problem:
            raise located(type(self).__name__, {"value": problem})
        return self


class ExternalContactRequest(_Request):
    """POST /v1/api/apps/{appID}/management/create_externalcontact."""

    first_name: str | None = Field(default=None, alias="firstName", title="First name")
    last_name: str | None = Field(default=None, alias="lastName", title="Last name")
    level: Literal["Primary", "Secondary", "Tertiary"] = Field(
        default="Primary", title="Level", description="Primary (default), Secondary or Tertiary"
    )
    type: Literal["Lead", "Prospect", "Customer", "Others"] = Field(
        default="Lead", title="Contact type", description="Lead (default), Prospect, Customer or Others"
    )
    phones: list[Phone] = Field(default_factory=list, title="Phones")
    emails: list[Email] = Field(default_factory=list, title="Emails")
    company: str | None = Field(default=None, title="Company")
    job_title: str | None = Field(default=None, alias="jobTitle", title="Job title")
    team: str | None = Field(default=None, title="Team")
    group: str | None = Field(default=None, title="Group")
    language: LanguageCode | None = Field(default=None, title="Language", description="ISO 639-1 code, e.g. en")
    birth_date: dt.date | None = Field(
        default=None, alias="birthDate", title="Date of birth", description="DD/MM/YYYY"
    )
    addresses: list[Address] = Field(default_factory=list, title="Addresses")
    social_contacts: list[SocialContact] = Field(
        default_factory=list, alias="socialContacts", title="Social contacts"
    )
    custom_field: list[CustomField] = Field(default_factory=list, alias="customField", title="Custom fields")

    @field_validator("birth_date", mode="before")
    @classmethod
    def _ddmmyyyy(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        match = _DDMMYYYY.match(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError("must be a date in DD/MM/YYYY format, e.g. 10/12/1985")
        day, month, year = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise ValueError(f'"{value}" is not a real date (DD/MM/YYYY)') from None

    @field_serializer("birth_date")
    def _birth_date_out(self, value: dt.date | None) -> str | None:
        return None if value is None else f"{value.day:02d}/{value.month:02d}/{value.year:04d}"

    @property
    def findable(self) -> bool:
        """Whether it has a name, a phone or an email: something to find it (or match a call
        to it) by. The document requires none of them: a form warns, the model accepts."""
        return bool(self.first_name or self.last_name or self.phones or self.emails)


# Call event subscription -------------------------------------------------------------------


class CallEventSubscription(_Request):
    """PATCH /v1/api/apps/{appID}/call-event-sub (enabled=false removes the subscription)."""

    enabled: bool = Field(title="Subscribed", description="true to subscribe, false to unsubscribe")
    url: WebhookURL = Field(title="Webhook URL", description="Where CINNOX posts call events")


class CallEventSubscriptionState(_Response):
    """The subscription as CINNOX reports it after the PATCH."""

    #: None when the answer does not say: that confirms nothing.
    enabled: bool | None = Field(default=None, title="Subscribed")
    #: None when the answer does not say: then it confirms no URL.
    url: str | None = Field(default=None, title="Webhook URL")
    updated_at: str | None = Field(default=None, alias="updatedAt", title="Updated at", description="RFC 3339")


# Reads ---------------------------------------------------------------------------------------


class Staff(_Response):
    """An item of GET .../contacts/staffcontact-list."""

    id: LooseText = Field(title="Staff ID")
    # Documented values: Activated, Not activated, Suspended. Kept as text so that a value
    # the document does not list cannot break the whole staff list.
    status: LooseText | None = Field(default=None, title="Status")
    first_name: LooseText | None = Field(default=None, alias="firstName", title="First name")
    last_name: LooseText | None = Field(default=None, alias="lastName", title="Last name")
    display_name: LooseText | None = Field(default=None, alias="displayName", title="Display name")
    email: LooseText | None = Field(default=None, title="Email")
    extension_number: LooseText | None = Field(default=None, alias="extensionNumber", title="Extension")

    @property
    def activated(self) -> bool:
        return (self.status or "").lower() == "activated"


class CallLog(_Response):
    """An item of GET .../data/call-log (the fields the bot uses)."""

    call_duration: int | None = Field(default=None, alias="callDuration", title="Duration (seconds)")
    call_date: LooseText | None = Field(default=None, alias="callDate", title="Call date")
    call_end_time: LooseText | None = Field(
        default=None, alias="callEndTime", title="Ended at", description="RFC 3339"
    )
    bye_reason: LooseText | None = Field(default=None, alias="byeReason", title="Hang-up reason")
    release_party: LooseText | None = Field(default=None, alias="releaseParty", title="Released by")

    @field_validator("call_duration", mode="before")
    @classmethod
    def _whole_seconds(cls, value: Any) -> Any:
        if isinstance(value, float):
            return round(value)
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return round(float(value))
        return value


# --- answers → errors ---------------------------------------------------------------------------


class CustomFieldsRefused(errors.ValidationError):
    """CINNOX refused a contact that carries custom fields, whose body shape is a guess."""

    advice = ("The custom fields may be why: CINNOX's document names their types but not how to "
              "send them (the bot sends each as type, name and value). Try again without them.")


def classify(operation: str, answer: Answer, *, secret: str | None = None) -> errors.ProviderError | None:
    """CINNOX's answer as an error, or None for success (2xx with code 0 or no code)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    code = body.get("code")
    status = answer.status
    if 200 <= status < 300 and code in (CODE_OK, None, "0"):
        return None
    message = body.get("message") or body.get("msg")
    if not isinstance(message, str) or not message.strip():
        text = answer.body if isinstance(answer.body, str) and answer.body.strip() else ""
        message = text[:200] or f"HTTP {status}" + (f", code {code}" if code not in (None, 0) else "")
    if secret:
        message = message.replace(secret, "[redacted]")
    kw: dict[str, Any] = {"provider": PROVIDER, "operation": operation, "status": status, "code": code}
    try:
        code_int: int | None = int(code) if code is not None else None
    except (TypeError, ValueError):
        code_int = None
    if status in (401, 403):
        return errors.AuthError(message, **kw)
    if code_int == CODE_TOO_MANY or status == 429:
        return errors.RateLimitedError(message, retry_after=retry_after_seconds(answer.headers), **kw)
    if code_int in (CODE_DESTINATION_NOT_FOUND, CODE_NOT_FOUND) or status == 404:
        return errors.NotFoundError(message, **kw)
    if code_int == CODE_BAD_PARAMETER:
        return errors.ValidationError(message, **kw)
    if status == 409:
        return errors.ConflictError(message, **kw)
    if code_int == CODE_INTERNAL or status >= 500:
        return errors.UnavailableError(message, **kw)
    if 400 <= status < 500:
        return errors.ValidationError(message, **kw)
    # A 2xx (or 1xx/3xx) carrying an error code the table does not list.
    return errors.ProviderError(message, **kw)


def _items(result: Any) -> list[Any]:
    """The list inside a list answer whose envelope is not documented: the result itself, or
    its ``items`` / ``list`` / ``data`` / ... member."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for key in ("items", "list", "data", "records", "rows", "result"):
            inner = result.get(key)
            if isinstance(inner, list):
                return inner
            if isinstance(inner, dict):
                nested = _items(inner)
                if nested:
                    return nested
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        objects = [v for v in result.values() if isinstance(v, dict)]
        if not lists and len(objects) == 1:
            return _items(objects[0])
    return []


# --- client -------------------------------------------------------------------------------------


class CinnoxClient:
    """One CINNOX app: ``base_url`` is the dashboard's Base URL (scheme, host, port)."""

    provider = PROVIDER

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_token: str,
        *,
        timeout: float = 15.0,
        max_attempts: int = 3,
        max_retry_wait: float = 10.0,
    ) -> None:
        if not app_id or not app_token:
            raise ValueError("CINNOX needs an App ID and an App Token")
        self.app_id = app_id
        self._prefix = f"/v1/api/apps/{quote(app_id, safe='')}"
        secret = app_token
        self._http = ProviderHTTP(
            PROVIDER,
            base_url,
            lambda operation, answer: classify(operation, answer, secret=secret),
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {app_token}",
                "Content-Type": "application/json",
                "accept": "application/json",
            },
            max_attempts=max_attempts,
            max_retry_wait=max_retry_wait,
        )

    def __repr__(self) -> str:
        return f"CinnoxClient(base_url={self._http.base_url!r}, app_id={self.app_id!r})"

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def close(self) -> None:
        await self._http.close()

    # --- creates (never re-sent once they may have reached CINNOX) -----------------------------

    async def create_service_group(self, request: ServiceGroupRequest) -> str:
        """Create a destination (service group); returns its ID."""
        operation = "create_service_group"
        answer = await self._http.request(
            operation, "POST", self._prefix + "/destination", json_body=request.to_api(), idempotent=False
        )
        return self._created_id(operation, answer)

    async def create_external_contact(self, request: ExternalContactRequest) -> str:
        """Create an external contact; returns its ID."""
        operation = "create_external_contact"
        try:
            answer = await self._http.request(
                operation,
                "POST",
                self._prefix + "/management/create_externalcontact",
                json_body=request.to_api(),
                idempotent=False,
            )
        except errors.ValidationError as exc:
            if not request.custom_field:
                raise
            raise CustomFieldsRefused(exc.message, provider=exc.provider, operation=exc.operation,
                                      status=exc.status, code=exc.code, fields=exc.fields) from exc
        return self._created_id(operation, answer)

    # --- the call event subscription -------------------------------------------------------------

    async def set_call_event_subscription(self, enabled: bool, url: str) -> CallEventSubscriptionState:
        """Subscribe ``url`` to call events (or, with enabled=False, remove the subscription)."""
        operation = "set_call_event_subscription"
        body = CallEventSubscription(enabled=enabled, url=url).to_api()
        answer = await self._http.request(
            operation, "PATCH", self._prefix + "/call-event-sub", json_body=body, idempotent=True
        )
        result = self._result(answer)
        if not isinstance(result, dict):
            raise errors.ProviderError(
                "answered without the subscription",
                provider=PROVIDER,
                operation=operation,
                status=answer.status,
            )
        # Nothing stands in for what the answer leaves out: ``enabled`` or the URL unsaid confirm nothing.
        return errors.parse_answer(CallEventSubscriptionState, result, provider=PROVIDER,
                                   operation=operation, status=answer.status)

    # --- reads ----------------------------------------------------------------------------------

    async def list_staff(self, full_name: str = "", limit: int = 100, offset: int = 0) -> list[Staff]:
        """Staff whose full name contains ``full_name`` (all staff when empty), up to ``limit``."""
        if not 1 <= limit <= MAX_STAFF_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_STAFF_PAGE}")
        params = {"offset": str(max(0, offset)), "limit": str(limit)}
        if full_name.strip():
            params["fullName"] = full_name.strip()
        answer = await self._http.request(
            "list_staff", "GET", self._prefix + "/contacts/staffcontact-list", params=params, idempotent=True
        )
        return self._parse_items(answer, Staff, "list_staff")

    async def get_call_log(self, call_id: str, *, id_param: str = "callId") -> CallLog | None:
        """The call log of one finished call, or None when CINNOX has none (or refuses the query).

        *Unverified*: the name of the call-ID filter (``id_param``, default ``callId``) and the
        list envelope. Items are matched on their own call ID when they carry one, so a filter
        CINNOX ignores cannot return another call's log.
        """
        operation = "get_call_log"
        try:
            answer = await self._http.request(
                operation, "GET", self._prefix + "/data/call-log", params={id_param: call_id}, idempotent=True
            )
        except (errors.NotFoundError, errors.ValidationError):
            return None
        rows = [row for row in _items(self._result(answer)) if isinstance(row, dict)]
        id_keys = ("callId", "callID", "id", "call_id")
        with_ids = [row for row in rows if any(k in row for k in id_keys)]
        if with_ids:
            rows = [row for row in with_ids if any(str(row.get(k)) == call_id for k in id_keys if k in row)]
        elif len(rows) != 1:
            return None
        if not rows:
            return None
        return errors.parse_answer(CallLog, rows[0], provider=PROVIDER, operation=operation,
                                   status=answer.status)

    async def ping(self) -> None:
        """A cheap authenticated read: raises the provider's error when CINNOX is unusable."""
        await self.list_staff(limit=1)

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _result(answer: Answer) -> Any:
        body = answer.body
        if isinstance(body, dict):
            return body.get("result", body.get("data"))
        return body

    def _created_id(self, operation: str, answer: Answer) -> str:
        # The document's response table puts ``id`` beside ``code``; its example nests it in
        # ``result``. Either is taken.
        result = self._result(answer)
        new_id = result.get("id") if isinstance(result, dict) else None
        if new_id is None and isinstance(answer.body, dict):
            new_id = answer.body.get("id")
        if isinstance(new_id, int | float) and not isinstance(new_id, bool):
            new_id = str(new_id)
        if not isinstance(new_id, str) or not new_id:
            raise errors.CreatedWithoutIdError(
                "accepted the request but did not say the new ID",
                provider=PROVIDER,
                operation=operation,
                status=answer.status,
            )
        return new_id

    def _parse_items(self, answer: Answer, model: type[BaseModel], operation: str) -> list[Any]:
        out: list[Any] = []
        skipped = 0
        for row in _items(self._result(answer)):
            try:
                out.append(model.model_validate(row))
            except ValueError:
                skipped += 1
        if skipped:
            log.warning("cinnox.items_skipped", operation=operation, skipped=skipped)
        return out
