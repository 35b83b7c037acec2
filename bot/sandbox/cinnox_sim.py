"""A local CINNOX Open API for tests, the demo and benchmarks.

It enforces the documents' rules on its own (plain checks, no import of the client's
models, so a mistake in one is caught by the other): Bearer App Token, the App ID in the
path, required fields, lengths, enums, numbers with country codes, ISO codes, DD/MM/YYYY, custom-field rules and
the targets each destination type needs. It asks no more than the documents: a
number needs its country code, not one libphonenumber knows. A violation answers
``400 {"code": 6451000, "message": "<field>: <why>"}``; success answers have the documented
shapes. Injected faults use CINNOX's ``{code, message}`` shape too.

Undocumented shapes are this simulator's choice (the client handles them generically):
the staff list answers ``{"code":0,"result":{"items":[...],"total":n}}``, the call log
``{"code":0,"result":[...]}`` filtered by ``callId``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import phonenumbers
import pycountry
from aiohttp import web

from bot.sandbox.base import FakeService, Fault

OK = 0
NOT_FOUND = 6450001
BAD_PARAMETER = 6451000
INTERNAL = 6451001
TOO_MANY = 6451010
UNAUTHORIZED = 401  # the document lists no code for a bad token; the HTTP status is reused

DESTINATION_TYPES = ("PHONE", "STAFF", "TRUNK")
LEVELS = ("Primary", "Secondary", "Tertiary")
CONTACT_TYPES = ("Lead", "Prospect", "Customer", "Others")
PHONE_TYPES = ("Mobile", "Work", "Home", "Other")
EMAIL_TYPES = ("Work", "Personal", "Other")
SOCIAL_KEYS = (
    "Facebook",
    "WhatsApp",
    "WeChat",
    "LINE",
    "Twitter",
    "LinkedIn",
    "WoztellWhatsApp",
    "WoztellFacebook",
    "WoztellInstagram",
)
CUSTOM_TYPES = (
    "FieldTypePicklist",
    "FieldTypeMultiPicklist",
    "FieldTypeText",
    "FieldTypeURL",
    "FieldTypeBoolean",
    "FieldTypeDate",
    "FieldTypeTime",
)

GROUP_FIELDS = {
    "displayName",
    "supportLanguages",
    "supportLocations",
    "types",
    "phoneTargets",
    "staffTargets",
    "trunkTargets",
}
CONTACT_FIELDS = {
    "firstName",
    "lastName",
    "level",
    "type",
    "phones",
    "emails",
    "company",
    "jobTitle",
    "team",
    "group",
    "language",
    "birthDate",
    "addresses",
    "socialContacts",
    "customField",
}

# "Email address": an address is something@domain, no spaces (the document says no more).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DDMMYYYY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

SEED_STAFF: list[dict[str, Any]] = [
    {
        "id": "staff-0001",
        "status": "Activated",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "displayName": "Ada Lovelace",
        "email": "ada@example.com",
        "extensionNumber": "1001",
    },
    {
        "id": "staff-0002",
        "status": "Activated",
        "firstName": "Alan",
        "lastName": "Turing",
        "displayName": "Alan Turing",
        "email": "alan@example.com",
        "extensionNumber": "1002",
    },
    {
        "id": "staff-0003",
        "status": "Not activated",
        "firstName": "Grace",
        "lastName": "Hopper",
        "displayName": "Grace Hopper",
        "email": "grace@example.com",
        "extensionNumber": "1003",
    },
    {
        "id": "staff-0004",
        "status": "Activated",
        "firstName": "Katherine",
        "lastName": "Johnson",
        "displayName": "Katherine Johnson",
        "email": "katherine@example.com",
        "extensionNumber": "1004",
    },
    {
        "id": "staff-0005",
        "status": "Suspended",
        "firstName": "Edsger",
        "lastName": "Dijkstra",
        "displayName": "Edsger Dijkstra",
        "email": "edsger@example.com",
        "extensionNumber": "1005",
    },
]


class Invalid(Exception):
    """One rule broken: the message names the field's dotted path and why."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- plain checks -----------------------------------------------------------------------------


def _text(
    body: dict[str, Any], key: str, path: str, *, required: bool = False, max_length: int | None = None
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise Invalid(f"{path} is required")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{path} must be a string")
    if required and not value.strip():
        raise Invalid(f"{path} is required")
    if max_length is not None and len(value) > max_length:
        raise Invalid(f"{path} exceeds the maximum of {max_length} characters")
    return value


def _one_of(
    body: dict[str, Any], key: str, path: str, allowed: tuple[str, ...], *, required: bool = False
) -> None:
    value = _text(body, key, path, required=required)
    if value is not None and value not in allowed:
        raise Invalid(f"{path} must be one of {', '.join(allowed)}")


def _list(body: dict[str, Any], key: str, path: str, *, required: bool = False) -> list[Any]:
    value = body.get(key)
    if value is None:
        if required:
            raise Invalid(f"{path} is required")
        return []
    if not isinstance(value, list):
        raise Invalid(f"{path} must be an array")
    if required and not value:
        raise Invalid(f"{path} must not be empty")
    return value


def _objects(body: dict[str, Any], key: str, allowed: set[str]) -> list[dict[str, Any]]:
    rows = _list(body, key, key)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Invalid(f"{key}.{i} must be an object")
        unknown = sorted(set(row) - allowed)
        if unknown:
            raise Invalid(f"{key}.{i}.{unknown[0]} is not a parameter of this API")
    return rows


def _number(value: Any, path: str, *, plus: bool) -> None:
    """A number "with country code" (service-group targets) or "Country code+Phone number",
    "+" in front (contacts): digits whose first ones are a country code. The documents ask
    no more (no length, no number plan)."""
    if not isinstance(value, str):
        raise Invalid(f"{path} must be a string")
    digits = value[1:] if value.startswith("+") else value
    if plus and not value.startswith("+"):
        raise Invalid(f'{path} must be "+", the country code and the number, e.g. +85294667788')
    if not re.fullmatch(r"[0-9]+", digits):
        raise Invalid(f"{path} must be a phone number with country code, e.g. +85294667788")
    if digits.startswith("0") or not any(
            int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3) if len(digits) > n):
        raise Invalid(f"{path} does not start with a country code")


def _language(value: Any, path: str) -> None:
    if not isinstance(value, str) or len(value) != 2 or pycountry.languages.get(alpha_2=value) is None:
        raise Invalid(f"{path} {value!r} is not an ISO 639-1 language code")


def _country(value: Any, path: str) -> None:
    if not isinstance(value, str) or len(value) != 2 or pycountry.countries.get(alpha_2=value) is None:
        raise Invalid(f"{path} {value!r} is not a two-letter ISO 3166 country code")


# The service-group document: "It supports multiple language codes" (CINNOX's own list,
# not ISO 639-1 alone: zh-TW, yue) and locations "countries/regions + states" (US+CA).
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_COUNTRY_AND_STATE = re.compile(r"^[A-Za-z]{2}([+-][A-Za-z0-9]{1,3})?$")


def _language_code(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _LANGUAGE_TAG.match(value):
        raise Invalid(f"{path} {value!r} is not a language code")


def _location(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _COUNTRY_AND_STATE.match(value):
        raise Invalid(f"{path} {value!r} is not a country/region or country/region + state")


def _codes(body: dict[str, Any], key: str, check: Any) -> None:
    values = _list(body, key, key, required=True)
    for i, value in enumerate(values):
        if value != "*":  # "*" = all
            check(value, f"{key}.{i}")


def _http_url(value: Any, path: str, max_length: int | None = None) -> None:
    if not isinstance(value, str):
        raise Invalid(f"{path} must be a string")
    if max_length is not None and len(value) > max_length:
        raise Invalid(f"{path} exceeds the maximum of {max_length} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise Invalid(f"{path} must be a valid http(s) URL")


def check_destination(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - GROUP_FIELDS)
    if unknown:
        raise Invalid(f"{unknown[0]} is not a parameter of this API")
    _text(body, "displayName", "displayName", required=True, max_length=40)
    _codes(body, "supportLanguages", _language_code)
    _codes(body, "supportLocations", _location)
    types = _list(body, "types", "types", required=True)
    for i, kind in enumerate(types):
        if kind not in DESTINATION_TYPES:
            raise Invalid(f"types.{i} must be PHONE, STAFF or TRUNK (all capital letters)")
    for kind, key in (("PHONE", "phoneTargets"), ("STAFF", "staffTargets"), ("TRUNK", "trunkTargets")):
        targets = _list(body, key, key)
        if kind in types and not targets:
            raise Invalid(f"{key} is required when the {kind} type is selected")
        for i, target in enumerate(targets):
            if kind == "STAFF":
                if not isinstance(target, str) or not target.strip():
                    raise Invalid(f"{key}.{i} must be a staff ID")
            else:
                _number(target, f"{key}.{i}", plus=False)


def _custom_field(row: dict[str, Any], path: str) -> None:
    _one_of(row, "type", f"{path}.type", CUSTOM_TYPES, required=True)
    _text(row, "name", f"{path}.name", required=True)
    value = _text(row, "value", f"{path}.value", required=True) or ""
    kind = row["type"]
    where = f"{path}.value"
    if kind == "FieldTypeText" and len(value) > 500:
        raise Invalid(f"{where} exceeds the maximum of 500 characters")
    if kind == "FieldTypeURL":
        if len(value) > 500:
            raise Invalid(f"{where} exceeds the maximum of 500 characters")
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc or any(c.isspace() for c in value):
            raise Invalid(f"{where} must be a valid URL")
    if kind == "FieldTypeBoolean" and value.lower() not in ("true", "false"):
        raise Invalid(f"{where} must be true or false")
    if kind == "FieldTypeDate":
        valid = bool(_RFC3339.match(value))
        if valid:
            try:
                dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError:
                valid = False
        if not valid:
            raise Invalid(f"{where} must be in RFC3339 format (e.g., YYYY-MM-DDTHH:MM:SSZ)")
    if kind == "FieldTypeTime" and not _HHMM.match(value):
        raise Invalid(f"{where} must be in HH:MM format (24-hour clock)")
    if kind == "FieldTypePicklist" and "," in value:
        raise Invalid(f"{where}: multiple values are not allowed in a single-select picklist")


def _custom_fields(value: Any) -> None:
    """The document shows ``customField`` as an object whose properties are the field types
    (``{"FieldTypeText": "…"}``), an item shape it never spells out. Both that reading and the
    bot's guess (a list of ``{"type", "name", "value"}``) are taken, each value checked by its
    type's rules."""
    if value is None:
        return
    if isinstance(value, dict):
        for key, text in value.items():
            if key not in CUSTOM_TYPES:
                raise Invalid(f"customField.{key} is not a custom field type")
            if not isinstance(text, str):
                raise Invalid(f"customField.{key} must be a string")
            _custom_field({"type": key, "name": key, "value": text}, "customField")
        return
    for i, row in enumerate(_objects({"customField": value}, "customField", {"type", "name", "value"})):
        _custom_field(row, f"customField.{i}")


def check_contact(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"{unknown[0]} is not a parameter of this API")
    for key in ("firstName", "lastName", "company", "jobTitle", "team", "group"):
        _text(body, key, key)
    _one_of(body, "level", "level", LEVELS)
    _one_of(body, "type", "type", CONTACT_TYPES)
    for i, row in enumerate(_objects(body, "phones", {"type", "phone"})):
        _one_of(row, "type", f"phones.{i}.type", PHONE_TYPES, required=True)
        _number(row.get("phone"), f"phones.{i}.phone", plus=True)
    for i, row in enumerate(_objects(body, "emails", {"type", "email"})):
        _one_of(row, "type", f"emails.{i}.type", EMAIL_TYPES, required=True)
        email = _text(row, "email", f"emails.{i}.email", required=True) or ""
        if not _EMAIL.match(email):
            raise Invalid(f"emails.{i}.email is not a valid email address")
    if body.get("language") is not None:
        _language(body["language"], "language")
    birth = _text(body, "birthDate", "birthDate")
    if birth is not None:
        if not _DDMMYYYY.match(birth):
            raise Invalid("birthDate must be in DD/MM/YYYY format")
        try:
            dt.datetime.strptime(birth, "%d/%m/%Y")
        except ValueError:
            raise Invalid("birthDate is not a valid date") from None
    for i, row in enumerate(_objects(body, "addresses", {"street", "city", "state", "zipcode", "country"})):
        for key in ("street", "city", "state", "zipcode"):
            _text(row, key, f"addresses.{i}.{key}")
        if row.get("country") is not None:
            _country(row["country"], f"addresses.{i}.country")
    for i, row in enumerate(_objects(body, "socialContacts", {"key", "value"})):
        _one_of(row, "key", f"socialContacts.{i}.key", SOCIAL_KEYS, required=True)
        _text(row, "value", f"socialContacts.{i}.value", required=True, max_length=100)
    _custom_fields(body.get("customField"))


def check_subscription(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - {"enabled", "url"})
    if unknown:
        raise Invalid(f"{unknown[0]} is not a parameter of this API")
    if not isinstance(body.get("enabled"), bool):
        raise Invalid("enabled is required and must be true or false")
    if body.get("url") is None:
        raise Invalid("url is required")
    _http_url(body["url"], "url")


# --- the service ------------------------------------------------------------------------------


class CinnoxSimulator(FakeService):
    name = "cinnox"

    def __init__(
        self, app_id: str = "sandbox-app", app_token: str = "sandbox-token", *, seed: int | None = None
    ) -> None:
        self.app_id = app_id
        self.app_token = app_token
        self.destinations: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.staff: list[dict[str, Any]] = [dict(s) for s in SEED_STAFF]
        self.call_logs: dict[str, dict[str, Any]] = {}
        #: call ID → how many more asks find no log for it yet (CINNOX writes its log late)
        self.call_log_late: dict[str, int] = {}
        #: The call event subscription as last PATCHed ({enabled, url, updatedAt}), or None.
        self.subscription: dict[str, Any] | None = None
        #: Subscribing first POSTs a challenge to the URL and expects it echoed back as
        #: {"code":0,"result":{"challenge":...}}: the document's verification, as CINNOX does.
        self.verify_webhook = True
        #: Where a public URL prefix leads on this machine ({"https://bot.example.com":
        #: "http://127.0.0.1:8080"}), as the internet would route CINNOX's challenge to the bot.
        self.reaches: dict[str, str] = {}
        #: When true, a subscription answers 200 with enabled=false (the document's "the
        #: subscription fails").
        self.refuse_subscription = False
        super().__init__(seed=seed)

    # --- routes -----------------------------------------------------------------------------
    def setup_routes(self, router: web.UrlDispatcher) -> None:
        base = "/v1/api/apps/{app_id}"
        router.add_post(base + "/destination", self._create_destination)
        router.add_post(base + "/management/create_externalcontact", self._create_contact)
        router.add_patch(base + "/call-event-sub", self._subscribe)
        router.add_get(base + "/contacts/staffcontact-list", self._staff_list)
        router.add_get(base + "/data/call-log", self._call_log)
        router.add_route("*", "/{tail:.*}", self._unknown)

    # --- faults in CINNOX's shape -----------------------------------------------------------
    def fault_response(self, fault: Fault) -> web.StreamResponse:
        headers = dict(fault.headers)
        body = fault.body
        if body is None:
            status = fault.status
            if status == 429:
                body = {"code": TOO_MANY, "message": "too many requests"}
                headers.setdefault("Retry-After", "1")
            elif status >= 500:
                body = {"code": INTERNAL, "message": "bad response from an internal service"}
            elif status == 404:
                body = {"code": NOT_FOUND, "message": "method or URL not found"}
            elif status in (401, 403):
                body = {"code": UNAUTHORIZED, "message": "unauthorized"}
            elif status == 400:
                body = {"code": BAD_PARAMETER, "message": "bad parameter"}
            else:
                body = {"code": status, "message": f"injected {status}"}
        return web.json_response(body, status=fault.status, headers=headers)

    def random_fault(self, status: int) -> Fault:
        return Fault(status=status, headers={"Retry-After": "1"} if status == 429 else {})

    # --- test / demo helpers -------------------------------------------------------------------
    def record_call(
        self,
        call_id: str,
        duration: int,
        *,
        end: dt.datetime | None = None,
        bye_reason: str = "NORMAL_CLEARING",
        release_party: str = "caller",
        late: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        """Make a finished call visible in the call log; ``late``: only after that many asks
        for it found nothing."""
        ended = end or dt.datetime.now(dt.UTC)
        started = ended - dt.timedelta(seconds=duration)

        def rfc3339(moment: dt.datetime) -> str:
            return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

        row = {
            "callId": call_id,
            "callDuration": duration,
            "callDate": rfc3339(started),
            "callEndTime": rfc3339(ended),
            "byeReason": bye_reason,
            "releaseParty": release_party,
            **extra,
        }
        self.call_logs[call_id] = row
        if late:
            self.call_log_late[call_id] = late
        return row

    def write_call_log_now(self, call_id: str) -> None:
        """The late log of ``call_id`` is written: the next ask finds it."""
        self.call_log_late.pop(call_id, None)

    def _new_id(self) -> str:
        return f"{self._random.getrandbits(64):016x}"

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def error(status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    def _refuse(self, request: web.Request) -> web.Response | None:
        """401 for a missing / wrong token, 404 for another app's ID."""
        if request.headers.get("Authorization") != f"Bearer {self.app_token}":
            return self.error(401, UNAUTHORIZED, "invalid or missing app token")
        if request.match_info.get("app_id") != self.app_id:
            return self.error(404, NOT_FOUND, "app not found")
        return None

    async def _json_object(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self.error(400, BAD_PARAMETER, "the request body must be JSON")
        if not isinstance(body, dict):
            return self.error(400, BAD_PARAMETER, "the request body must be a JSON object")
        return body

    async def _validated(self, request: web.Request, check: Any) -> dict[str, Any] | web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        try:
            check(body)
        except Invalid as exc:
            return self.error(400, BAD_PARAMETER, str(exc))
        return body

    # --- handlers -----------------------------------------------------------------------------
    async def _create_destination(self, request: web.Request) -> web.StreamResponse:
        body = await self._validated(request, check_destination)
        if isinstance(body, web.Response):
            return body
        new_id = self._new_id()
        self.destinations[new_id] = body
        return web.json_response({"code": OK, "result": {"id": new_id}})

    async def _create_contact(self, request: web.Request) -> web.StreamResponse:
        body = await self._validated(request, check_contact)
        if isinstance(body, web.Response):
            return body
        new_id = self._new_id()
        self.contacts[new_id] = body
        return web.json_response({"code": OK, "result": {"id": new_id}, "cid": self._new_id()})

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        body = await self._validated(request, check_subscription)
        if isinstance(body, web.Response):
            return body
        if body["enabled"] and self.verify_webhook and not await self._challenge(body["url"]):
            return self.error(400, BAD_PARAMETER, "url: the webhook did not answer the challenge")
        enabled = body["enabled"] and not self.refuse_subscription
        self.subscription = {"enabled": enabled, "url": body["url"], "updatedAt": _now()}
        return web.json_response({"code": OK, "result": dict(self.subscription)})

    async def _challenge(self, url: str) -> bool:
        challenge = self._new_id()
        for public, local in self.reaches.items():
            if url.startswith(public.rstrip("/") + "/"):
                url = local.rstrip("/") + url[len(public.rstrip("/")):]
                break
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.post(url, json={"challenge": challenge}) as resp,
            ):
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return (
            isinstance(answer, dict)
            and answer.get("code") == 0
            and isinstance(answer.get("result"), dict)
            and answer["result"].get("challenge") == challenge
        )

    async def _staff_list(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        try:
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return self.error(400, BAD_PARAMETER, "offset and limit must be integers")
        if offset < 0 or not 1 <= limit <= 500:
            return self.error(400, BAD_PARAMETER, "limit must be 1 to 500 and offset at least 0")
        needle = request.query.get("fullName", "").strip().lower()
        found = [
            s
            for s in self.staff
            if not needle
            or needle in f"{s['firstName']} {s['lastName']}".lower()
            or needle in s["displayName"].lower()
        ]
        return web.json_response(
            {"code": OK, "result": {"items": found[offset : offset + limit], "total": len(found)}}
        )

    async def _call_log(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        call_id = request.query.get("callId")
        if call_id is not None and self.call_log_late.get(call_id, 0) > 0:
            self.call_log_late[call_id] -= 1
            return web.json_response({"code": OK, "result": []})
        rows = [row for cid, row in self.call_logs.items() if call_id is None or cid == call_id]
        return web.json_response({"code": OK, "result": rows})

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request) if request.path.startswith("/v1/api/apps/") else None
        if refused is not None and refused.status == 401:
            return refused
        return self.error(404, NOT_FOUND, "method or URL not found")
