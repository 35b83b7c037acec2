"""A local Yeastar P-Series Open API (tokens and message channels) on loopback.

Applies the documented rules with its own plain checks (it does not use the client's
models). Every answer is HTTP 200 ``{errcode, errmsg}`` unless a fault is injected.
- Every request needs a ``User-Agent`` header, else errcode 40001.
- ``get_token`` / ``refresh_token`` issue an access token (``access_ttl`` s) and a refresh
  token (``refresh_ttl`` s). At most 8 access tokens are valid at once: issuing a 9th
  invalidates the oldest (using it then answers 10004 TOKEN EXPIRED). A refresh token is
  single-use. Wrong credentials → 10005; after 5 failed attempts → 70004 (IP blocked)
  for every later ``get_token``. ``token_requests`` counts both token endpoints.
- ``?access_token=``: missing or unknown → 10005 ACCESS DENIED; expired or invalidated →
  10004 TOKEN EXPIRED. ``expire_tokens()`` expires the issued tokens on demand.
- ``system/get_menuoptions?menu=`` answers ``data`` for extension, ext_group, org_list,
  queue and message_queue (``menus``); another menu → 40002.
- ``message_channel/create`` checks every documented rule (40002, or 40001 for a body that
  is not a JSON object); a name already used → 40003; refusals answer errmsg "FAILURE", as
  the document says (why is kept in ``refusals``); success → ``{errcode: 0, errmsg:
  "SUCCESS", id}``. send_rate, auto_close_session and session_expired_time are Integer,
  with no bounds (the document gives none); unknown fields are refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from aiohttp import web

from bot.sandbox.base import FakeService, Fault

API = "/openapi/v1.0"
MAX_ACCESS_TOKENS = 8
MAX_FAILED_LOGINS = 5

_GENERAL = ({"api_key", "api_send_url"}, {"api_secret", "api_verify_url"})
ACCOUNT_KEYS: dict[str, tuple[set[str], set[str]]] = {  # channel → (required, optional)
    "general": _GENERAL, "athena": _GENERAL, "ixica": _GENERAL, "vetta": _GENERAL,
    "apidaze": ({"api_key", "api_secret"}, set()),
    "bandwidth": ({"application_id", "account_id", "username", "password"}, set()),
    "flowroute": ({"access_key", "secret_key"}, set()),
    "siptrunk": ({"access_key", "secret_key"}, set()),
    "skyetel": ({"sid_key", "secret_key"}, set()),
    "telnyx": ({"api_key", "public_key"}, set()),
    "twilio": ({"account_sid", "auth_token"}, set()),
    "voicemeup": ({"username", "auth_token"}, set()),
    "whatsapp": ({"access_token", "app_secret"}, set()),
    "facebook": ({"access_token", "app_secret", "page_name"}, set()),
}
URL_KEYS = {"api_verify_url", "api_send_url"}
PLAIN_KEYS = {"facebook": {"page_name"}}
COMMON_FIELDS = {"name", "webhook_url_type", "channel", "account_data", "dids",
                 "auto_close_session", "session_expired_time"}
CHANNEL_FIELDS = {
    "sms": COMMON_FIELDS | {"send_rate", "accompanying_msg"},
    "whatsapp": COMMON_FIELDS | {"phone_number_id", "business_account_id"},
    "facebook": COMMON_FIELDS,
}
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _e164(number: str) -> bool:
    """E.164 (the WhatsApp routing's did_number): "+", a country code, at most 15 digits."""
    digits = number[1:]
    return bool(_E164.fullmatch(number)) and any(
        int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3) if len(digits) > n)


SEED_MENUS: dict[str, list[dict[str, Any]]] = {
    "extension": [{"text": "1001-Ada Lovelace", "value": 137, "type": "extension"},
                  {"text": "1002-Alan Turing", "value": 138, "type": "extension"},
                  {"text": "1003-Grace Hopper", "value": 139, "type": "extension"}],
    "ext_group": [{"text": "Sales", "value": 2}, {"text": "Support", "value": 3}],
    "org_list": [{"text": "Head office", "value": 1,
                  "item": [{"text": "Hong Kong branch", "value": 5}]}],
    "queue": [{"text": "Support calls", "value": 6}],
    "message_queue": [{"text": "SMS support", "value": 4}],
}


class Refused(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _answer(errcode: int, errmsg: str, **extra: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **extra})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_base64(value: str) -> bool:
    if not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _param(message: str) -> Refused:
    return Refused(40002, f"PARAMETER ERROR: {message}")


class YeastarSimulator(FakeService):
    name = "yeastar"

    def __init__(
        self,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        *,
        access_ttl: int = 1800,
        refresh_ttl: int = 86400,
        seed: int | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.access_tokens: dict[str, float] = {}  # token → expiry (time.time()), oldest first
        self.refresh_tokens: dict[str, float] = {}
        self.retired_tokens: set[str] = set()  # invalidated by the 8-token limit
        self.token_requests = 0
        self.failed_logins = 0
        self.channels: dict[int, dict[str, Any]] = {}
        self._next_id = 1
        #: Why each message_channel/create was refused (Yeastar answers only "FAILURE").
        self.refusals: list[str] = []
        #: Get Menu Options: the PBX's IDs by name, per menu (``data`` as Yeastar answers it).
        self.menus: dict[str, list[dict[str, Any]]] = {k: [dict(i) for i in v] for k, v in SEED_MENUS.items()}
        super().__init__(seed=seed)

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{API}/get_token", self._get_token)
        router.add_post(f"{API}/refresh_token", self._refresh_token)
        router.add_post(f"{API}/message_channel/create", self._create)
        router.add_get(f"{API}/message_channel/list", self._list)
        router.add_get(f"{API}/message_channel/query", self._query)
        router.add_get(f"{API}/system/get_menuoptions", self._menu_options)

    # --- faults in Yeastar's shape ---------------------------------------------------------
    def fault_response(self, fault: Fault) -> web.StreamResponse:
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        errcode, errmsg = (-1, "TOO MANY REQUESTS") if fault.status == 429 else (-2, "INTERNAL SERVER ERROR")
        return web.json_response({"errcode": errcode, "errmsg": errmsg}, status=fault.status,
                                 headers=fault.headers)

    def random_fault(self, status: int) -> Fault:
        return Fault(status=status, headers={"Retry-After": "1"} if status == 429 else {})

    # --- tokens ---------------------------------------------------------------------------------
    def expire_tokens(self, *, refresh: bool = False) -> None:
        """Expire every issued access token (and refresh token when ``refresh``) now."""
        past = time.time() - 1
        self.access_tokens = dict.fromkeys(self.access_tokens, past)
        if refresh:
            self.refresh_tokens = dict.fromkeys(self.refresh_tokens, past)

    def valid_access_tokens(self) -> list[str]:
        now = time.time()
        return [t for t, expiry in self.access_tokens.items() if expiry > now]

    def _issue(self) -> web.Response:
        now = time.time()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        valid = self.valid_access_tokens()
        while len(valid) >= MAX_ACCESS_TOKENS:
            oldest = valid.pop(0)
            self.access_tokens.pop(oldest, None)
            self.retired_tokens.add(oldest)
        self.access_tokens[access] = now + self.access_ttl
        self.refresh_tokens[refresh] = now + self.refresh_ttl
        return _answer(0, "SUCCESS", access_token=access, access_token_expire_time=self.access_ttl,
                       refresh_token=refresh, refresh_token_expire_time=self.refresh_ttl)

    async def _get_token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        try:
            self._user_agent(request)
            body = await self._body(request)
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        if self.failed_logins >= MAX_FAILED_LOGINS:
            return _answer(70004, "ACCOUNT IP BLOCKED")
        if body.get("username") != self.client_id or body.get("password") != self.client_secret:
            self.failed_logins += 1
            return _answer(10005, "ACCESS DENIED")
        self.failed_logins = 0
        return self._issue()

    async def _refresh_token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        try:
            self._user_agent(request)
            body = await self._body(request)
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        token = body.get("refresh_token")
        if not isinstance(token, str) or token not in self.refresh_tokens:
            return _answer(10005, "ACCESS DENIED")
        expiry = self.refresh_tokens.pop(token)
        if expiry <= time.time():
            return _answer(10004, "TOKEN EXPIRED")
        return self._issue()

    def _authorize(self, request: web.Request) -> None:
        self._user_agent(request)
        token = request.query.get("access_token", "")
        if token in self.retired_tokens:
            raise Refused(10004, "TOKEN EXPIRED")
        expiry = self.access_tokens.get(token)
        if not token or expiry is None:
            raise Refused(10005, "ACCESS DENIED")
        if expiry <= time.time():
            raise Refused(10004, "TOKEN EXPIRED")

    @staticmethod
    def _user_agent(request: web.Request) -> None:
        if not request.headers.get("User-Agent", "").strip():
            raise Refused(40001, "PARAMETER SYNTAX ERROR: the User-Agent header is required")

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Refused(40001, "PARAMETER SYNTAX ERROR: the body must be a JSON object")
        return body

    # --- message channels ------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        try:
            body = await self._body(request)
            self.check_channel(body)
            if any(c["name"] == body["name"] for c in self.channels.values()):
                raise Refused(40003, f"DUPLICATE KEY VALUE: a channel named {body['name']} already exists")
        except Refused as refused:
            # As the document says: errmsg is only "FAILURE"; why is kept here, for tests.
            self.refusals.append(refused.errmsg)
            return _answer(refused.errcode, "FAILURE")
        channel_id = self._next_id
        self._next_id += 1
        self.channels[channel_id] = {"id": channel_id, **body}
        return _answer(0, "SUCCESS", id=channel_id)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
            page = int(request.query.get("page", "1"))
            size = int(request.query.get("page_size", "20"))
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        except ValueError:
            return _answer(40001, "PARAMETER SYNTAX ERROR: page and page_size must be integers")
        if page < 1 or size < 1:
            return _answer(40002, "PARAMETER ERROR: page and page_size must be at least 1")
        items = [self._summary(c) for c in self.channels.values()]
        return _answer(0, "SUCCESS", total_number=len(items), data=items[(page - 1) * size:page * size])

    async def _query(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
            ids = [int(i) for i in request.query.get("ids", "").split(",") if i]
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        except ValueError:
            return _answer(40001, "PARAMETER SYNTAX ERROR: ids must be integers")
        found = [self._summary(self.channels[i]) for i in ids if i in self.channels]
        if not found:
            return _answer(60001, "DATA NOT FOUND")
        return _answer(0, "SUCCESS", data=found)

    async def _menu_options(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
        except Refused as refused:
            return _answer(refused.errcode, refused.errmsg)
        menu = request.query.get("menu", "")
        if menu not in self.menus:
            return _answer(40002, "FAILURE")
        return _answer(0, "SUCCESS", data=self.menus[menu])

    @staticmethod
    def _summary(channel: dict[str, Any]) -> dict[str, Any]:
        return {k: channel[k] for k in ("id", "name", "channel", "webhook_url_type") if k in channel}

    # --- the documented rules, as plain checks ------------------------------------------------------
    @staticmethod
    def check_channel(body: dict[str, Any]) -> None:
        """Raise ``Refused`` (40002) at the first broken rule."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _param("name is required")
        if len(name) > 127:
            raise _param("name must not exceed 127 characters")
        if body.get("webhook_url_type") not in ("fqdn", "nat"):
            raise _param("webhook_url_type must be fqdn or nat")
        channel = body.get("channel")
        if not isinstance(channel, str) or channel not in ACCOUNT_KEYS:
            raise _param("channel is not a supported service provider")
        kind = channel if channel in ("whatsapp", "facebook") else "sms"
        unknown = sorted(set(body) - CHANNEL_FIELDS[kind])
        if unknown:
            raise _param(f"{unknown[0]} is not a parameter of a {channel} channel")
        _check_account_data(channel, body.get("account_data"))
        for field in ("send_rate", "auto_close_session", "session_expired_time"):
            if field in body and not _is_int(body[field]):
                raise _param(f"{field} must be an integer")
        if "accompanying_msg" in body and not isinstance(body["accompanying_msg"], str):
            raise _param("accompanying_msg must be a string")
        if channel == "apidaze" and not str(body.get("accompanying_msg") or "").strip():
            raise _param("accompanying_msg is required for an Apidaze channel")
        if kind == "whatsapp":
            phone_number_id = body.get("phone_number_id")
            if not isinstance(phone_number_id, str) or not phone_number_id.strip():
                raise _param("phone_number_id is required")
            if len(phone_number_id) > 31:
                raise _param("phone_number_id must not exceed 31 characters")
            account = body.get("business_account_id")
            if not isinstance(account, str) or not account:
                raise _param("business_account_id is required")
            if len(account) > 500:
                raise _param("business_account_id must not exceed 500 characters")
            if not _is_base64(account):
                raise _param("business_account_id must be Base64-encoded")
        _check_dids(kind, body.get("dids"))


def _check_account_data(channel: str, data: Any) -> None:
    if not isinstance(data, list) or not data:
        raise _param("account_data is required")
    required, optional = ACCOUNT_KEYS[channel]
    seen: set[str] = set()
    for item in data:
        if not isinstance(item, dict) or set(item) != {"k", "v"}:
            raise _param("account_data items must be objects with k and v")
        key, value = item["k"], item["v"]
        if not isinstance(key, str) or not isinstance(value, str):
            raise _param("account_data k and v must be strings")
        if key not in required | optional:
            raise _param(f"account_data key {key} is not valid for a {channel} channel")
        if key in seen:
            raise _param(f"account_data key {key} appears twice")
        seen.add(key)
        if key in URL_KEYS:
            parts = urlsplit(value)
            if parts.scheme != "https" or not parts.hostname:
                raise _param(f"account_data {key} must be an https:// URL")
        elif key in PLAIN_KEYS.get(channel, set()):
            if not value.strip():
                raise _param(f"account_data {key} must not be empty")
        elif not _is_base64(value):
            raise _param(f"account_data {key} must be Base64-encoded")
    missing = sorted(required - seen)
    if missing:
        raise _param(f"account_data key {missing[0]} is required for a {channel} channel")


def _check_dids(kind: str, dids: Any) -> None:
    if dids is None:
        return
    if not isinstance(dids, list):
        raise _param("dids must be an array")
    for i, did in enumerate(dids):
        if not isinstance(did, dict):
            raise _param(f"dids[{i}] must be an object")
        allowed = {"did_number", "destination_type", "destination_id"} | (
            set() if kind == "facebook" else {"members"})
        unknown = sorted(set(did) - allowed)
        if unknown:
            raise _param(f"dids[{i}].{unknown[0]} is not a parameter of a {kind} channel")
        number = did.get("did_number")
        if not isinstance(number, str) or not number.strip():
            raise _param(f"dids[{i}].did_number is required")
        if kind == "whatsapp" and not _e164(number):
            raise _param(f"dids[{i}].did_number must be in E.164 format")
        if did.get("destination_type") not in ("extension", "queue", "api"):
            raise _param(f"dids[{i}].destination_type must be extension, queue or api")
        if "destination_id" in did and not isinstance(did["destination_id"], str):
            raise _param(f"dids[{i}].destination_id must be a string")
        members = did.get("members")
        if members is None:
            continue
        if not isinstance(members, list):
            raise _param(f"dids[{i}].members must be an array")
        for j, member in enumerate(members):
            if not isinstance(member, dict) or set(member) - {"type", "value"}:
                raise _param(f"dids[{i}].members[{j}] must be an object with type and value")
            if member.get("type") not in ("extension", "ext_group", "organization"):
                raise _param(f"dids[{i}].members[{j}].type must be extension, ext_group or organization")
            value = member.get("value")
            if not isinstance(value, str) or not value.strip():
                raise _param(f"dids[{i}].members[{j}].value is required")
