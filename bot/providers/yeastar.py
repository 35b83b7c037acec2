"""Yeastar P-Series Open API client: message channels (SMS, WhatsApp, Facebook).

Auth: the client exchanges its Client ID / Client Secret for an access token
(``POST /openapi/v1.0/get_token``), keeps ONE cached token, renews it shortly before it
expires (``refresh_token``, falling back to ``get_token``) behind an ``asyncio.Lock`` so
at most one token request is in flight, and sends it as ``?access_token=``. Yeastar allows
at most 8 valid access tokens per application: never one per request.

Errors come as HTTP 200 ``{errcode, errmsg}``; ``classify`` maps them to ``errors``.
On errcode 10004 (TOKEN EXPIRED) a call renews the token and is sent once more: the
provider refused it, so even a create is safe to repeat.

Secrets: the client secret, access/refresh tokens and account_data values never appear in
an exception message, a repr or a log line. ``ProviderHTTP`` turns aiohttp exceptions
(whose text may hold the URL with ``?access_token=``) into messages without the URL.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from bot.providers import errors
from bot.providers.fields import E164, located
from bot.providers.http import Answer, ProviderHTTP, retry_after_seconds, status_error

log = structlog.get_logger(__name__)

PROVIDER = "yeastar"
API = "/openapi/v1.0"
#: How long refused credentials are not tried again (Yeastar blocks the IP after 5 failures).
LOGIN_COOLDOWN = 300.0
#: get_token's answers that mean the credentials were refused (10005) or the IP blocked (70004).
LOGIN_REFUSED = (10005, 70004)

SmsProvider = Literal[
    "general", "apidaze", "athena", "bandwidth", "flowroute", "ixica",
    "siptrunk", "skyetel", "telnyx", "twilio", "vetta", "voicemeup",
]
SMS_PROVIDERS: tuple[str, ...] = (
    "general", "apidaze", "athena", "bandwidth", "flowroute", "ixica",
    "siptrunk", "skyetel", "telnyx", "twilio", "vetta", "voicemeup",
)
PROVIDER_TITLES = {
    "general": "General", "apidaze": "Apidaze", "athena": "Athena", "bandwidth": "Bandwidth",
    "flowroute": "Flowroute", "ixica": "IXICA", "siptrunk": "SIPTRUNK", "skyetel": "Skyetel",
    "telnyx": "Telnyx", "twilio": "Twilio", "vetta": "Vetta", "voicemeup": "VoiceMeUp",
    "whatsapp": "WhatsApp", "facebook": "Facebook",
}

# --- account_data: which keys each provider takes ------------------------------------------


@dataclass(frozen=True)
class AccountKey:
    """One ``account_data`` key of a provider.

    ``url``: an ``https://`` URL sent as typed; otherwise the user types the value plain and
    ``to_api`` Base64-encodes it when ``base64`` is set. ``secret``: a password-like value
    (masked input, never echoed)."""

    key: str
    title: str
    required: bool = True
    secret: bool = False
    url: bool = False
    base64: bool = True
    hint: str | None = None


def _k(key: str, title: str, **kw: Any) -> AccountKey:
    return AccountKey(key, title, **kw)


_GENERAL = (
    _k("api_key", "API key", secret=True),
    _k("api_secret", "API secret", required=False, secret=True),
    _k("api_verify_url", "API verify URL", required=False, url=True, base64=False,
       hint="API endpoint for authentication verification, https://…"),
    _k("api_send_url", "API send URL", url=True, base64=False, hint="API endpoint for sending messages, https://…"),
)
_META = (  # WhatsApp and Facebook (Meta) app credentials
    _k("access_token", "Access token", secret=True),
    _k("app_secret", "App secret", secret=True),
)

#: channel → its account_data keys, in the documented order.
ACCOUNT_DATA: dict[str, tuple[AccountKey, ...]] = {
    "general": _GENERAL,
    "athena": _GENERAL,
    "ixica": _GENERAL,
    "vetta": _GENERAL,
    "apidaze": (_k("api_key", "API key", secret=True), _k("api_secret", "API secret", secret=True)),
    "bandwidth": (
        _k("application_id", "Application ID"),
        _k("account_id", "Account ID"),
        _k("username", "Username"),
        _k("password", "Password", secret=True),
    ),
    "flowroute": (_k("access_key", "Access key"), _k("secret_key", "Secret key", secret=True)),
    "siptrunk": (_k("access_key", "Access key"), _k("secret_key", "Secret key", secret=True)),
    "skyetel": (_k("sid_key", "SID key"), _k("secret_key", "Secret key", secret=True)),
    "telnyx": (_k("api_key", "API key", secret=True), _k("public_key", "Public key")),
    "twilio": (_k("account_sid", "Account SID"), _k("auth_token", "Auth token", secret=True)),
    "voicemeup": (_k("username", "Username"), _k("auth_token", "Auth token", secret=True)),
    "whatsapp": _META,
    "facebook": (*_META, _k("page_name", "Page name", base64=False)),
}


def account_data_fields(channel: str) -> tuple[AccountKey, ...]:
    """The account_data keys the modal shows for ``channel`` (an SMS provider, ``whatsapp``
    or ``facebook``): block ids ``account_data.<key>``; ``required`` / ``secret`` / ``url``
    tell how to render each. Unknown channel → ``()``."""
    return ACCOUNT_DATA.get(channel, ())


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value


#: Required text: blank is "is required", not "must be at least 1 characters".
Text = Annotated[str, AfterValidator(_nonblank)]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and " " not in value


# --- models ---------------------------------------------------------------------------------

_REQUEST = ConfigDict(populate_by_name=True, extra="forbid", hide_input_in_errors=True)

#: business_account_id is sent Base64-encoded and may then be at most 500 characters:
#: 375 bytes of UTF-8 before encoding.
BUSINESS_ACCOUNT_ID_B64_MAX = 500

DestinationType = Literal["extension", "queue", "api"]


class Member(BaseModel):
    model_config = _REQUEST

    type: Literal["extension", "ext_group", "organization"] = Field(
        title="Member type", description="extension, ext_group (extension group) or organization."
    )
    value: Text = Field(title="Member ID", description="The member's ID in the PBX.")

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


class _DidBase(BaseModel):
    model_config = _REQUEST

    destination_type: DestinationType = Field(
        title="Destination type",
        description="extension (a user), queue (a message queue) or api (a third-party platform).",
    )
    destination_id: str | None = Field(
        default=None, title="Destination ID", description="The ID of the extension, queue or API target."
    )

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "did_number": getattr(self, "did_number"),  # noqa: B009
            "destination_type": self.destination_type,
        }
        if self.destination_id:
            body["destination_id"] = self.destination_id
        members: list[Member] | None = getattr(self, "members", None)
        if members:
            body["members"] = [m.to_api() for m in members]
        return body


class SmsDid(_DidBase):
    did_number: Text = Field(title="DID number", description="The number messages arrive on.")
    members: list[Member] | None = Field(
        default=None, title="Members", description="Who may start message sessions with this number."
    )


class WhatsAppDid(_DidBase):
    did_number: E164 = Field(title="WhatsApp number", description="E.164, e.g. +15567778888.")
    members: list[Member] | None = Field(
        default=None, title="Members", description="Who may start message sessions with this number."
    )


class FacebookDid(_DidBase):
    did_number: Text = Field(title="Facebook page ID")

    @model_validator(mode="before")
    @classmethod
    def _no_members(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("members"):
            raise located("FacebookDid", {
                "members": "cannot be set on a Facebook channel: Yeastar routes a page's messages "
                           "to the destination only",
            })
        if isinstance(data, Mapping) and "members" in data:
            data = {k: v for k, v in data.items() if k != "members"}
        return data


class _ChannelBase(BaseModel):
    model_config = _REQUEST

    name: Text = Field(max_length=127, title="Channel name",
                      description="At most 127 characters; unique on the PBX.")
    webhook_url_type: Literal["fqdn", "nat"] = Field(
        title="Webhook URL domain",
        description="fqdn: the PBX's domain name; nat: its public (NAT) address.",
    )
    account_data: dict[str, SecretStr] = Field(
        title="Account data",
        description="The provider's credentials, typed plain: the bot Base64-encodes what Yeastar "
                    "expects encoded.",
    )
    # The document types these Integer and gives no bounds: none are enforced.
    auto_close_session: int | None = Field(
        default=None, title="Auto-close idle sessions",
        description="1: close a message session after the inactivity period; 0: keep it open.",
    )
    session_expired_time: int | None = Field(
        default=None, title="Close after (days)",
        description="Days of inactivity before a session closes.",
    )

    @model_validator(mode="after")
    def _account_data_keys(self) -> _ChannelBase:
        channel: str = getattr(self, "channel")  # noqa: B009
        keys = ACCOUNT_DATA[channel]
        known = {k.key: k for k in keys}
        who = PROVIDER_TITLES.get(channel, channel)
        problems: dict[str, str] = {}
        for key, secret in self.account_data.items():
            spec = known.get(key)
            value = secret.get_secret_value().strip()
            if spec is None:
                problems[f"account_data.{key}"] = (
                    f'has no "{key}" key for a {who} channel; it takes: ' + ", ".join(known)
                )
            elif spec.url and value and not _https_url(value):
                problems[f"account_data.{key}"] = (
                    f"field {spec.title} must be an https:// URL, e.g. https://api.example.com/message/send"
                )
        for spec in keys:
            if spec.required and not self.account_data.get(spec.key, SecretStr("")).get_secret_value().strip():
                a = "an" if who[:1].lower() in "aeiou" else "a"
                problems[f"account_data.{spec.key}"] = f"field {spec.title} is required for {a} {who} channel"
        if problems:
            raise located(type(self).__name__, problems)
        return self

    def _account_data_api(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for spec in ACCOUNT_DATA[getattr(self, "channel")]:  # noqa: B009
            secret = self.account_data.get(spec.key)
            if secret is None or not secret.get_secret_value().strip():
                continue
            value = secret.get_secret_value()
            value = value.strip() if spec.url else value
            out.append({"k": spec.key, "v": _b64(value) if spec.base64 else value})
        return out

    def to_api(self) -> dict[str, Any]:
        """The exact JSON body: secrets revealed and Base64 applied only here."""
        body: dict[str, Any] = {
            "name": self.name,
            "webhook_url_type": self.webhook_url_type,
            "channel": getattr(self, "channel"),  # noqa: B009 - each variant declares it
            "account_data": self._account_data_api(),
            **self._variant_fields(),
        }
        dids = getattr(self, "dids", None)
        if dids:
            body["dids"] = [d.to_api() for d in dids]
        if self.auto_close_session is not None:
            body["auto_close_session"] = self.auto_close_session
        if self.session_expired_time is not None:
            body["session_expired_time"] = self.session_expired_time
        return body

    def _variant_fields(self) -> dict[str, Any]:
        return {}


class SmsChannelRequest(_ChannelBase):
    """An SMS channel through one of the 12 supported SMS providers."""

    channel: SmsProvider = Field(title="SMS provider")
    send_rate: int | None = Field(
        default=None, title="Send rate (messages/second)",
        description="How many messages per second the PBX may send.",
    )
    accompanying_msg: str | None = Field(
        default=None, title="Accompanying message",
        description="Text sent along with a file. Required for Apidaze.",
    )
    dids: list[SmsDid] | None = Field(default=None, title="DID numbers",
                                      description="Message routing by DID number.")

    @model_validator(mode="after")
    def _apidaze(self) -> SmsChannelRequest:
        if self.channel == "apidaze" and not (self.accompanying_msg or "").strip():
            raise located(type(self).__name__, {
                "accompanying_msg": "is required for an Apidaze channel: the text sent along with a file",
            })
        return self

    def _variant_fields(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.send_rate is not None:
            extra["send_rate"] = self.send_rate
        if self.accompanying_msg:
            extra["accompanying_msg"] = self.accompanying_msg
        return extra


class WhatsAppChannelRequest(_ChannelBase):
    channel: Literal["whatsapp"] = Field(default="whatsapp", title="Channel")
    phone_number_id: Text = Field(max_length=31, title="Phone number ID",
                                 description="The WhatsApp phone number ID (at most 31 characters).")
    business_account_id: Text = Field(
        title="Business account ID",
        description="Type it plain: the bot sends it Base64-encoded, at most 500 characters once encoded.",
    )
    dids: list[WhatsAppDid] | None = Field(default=None, title="WhatsApp numbers",
                                           description="Message routing by WhatsApp number (E.164).")

    @field_validator("business_account_id")
    @classmethod
    def _encoded_length(cls, value: str) -> str:
        if len(_b64(value)) > BUSINESS_ACCOUNT_ID_B64_MAX:
            raise ValueError(
                f"is too long: at most {BUSINESS_ACCOUNT_ID_B64_MAX} characters once Base64-encoded "
                "(about 375 plain characters)"
            )
        return value

    def _variant_fields(self) -> dict[str, Any]:
        return {"phone_number_id": self.phone_number_id,
                "business_account_id": _b64(self.business_account_id)}


class FacebookChannelRequest(_ChannelBase):
    channel: Literal["facebook"] = Field(default="facebook", title="Channel")
    dids: list[FacebookDid] | None = Field(default=None, title="Facebook pages",
                                           description="Message routing by Facebook page ID.")


ChannelRequest = SmsChannelRequest | WhatsAppChannelRequest | FacebookChannelRequest
#: Any of the three, chosen by ``channel``.
MessageChannelRequest = Annotated[ChannelRequest, Field(discriminator="channel")]
#: Validates a body of any channel kind; like the models, its errors never echo the input
#: (account_data holds credentials).
MESSAGE_CHANNEL_REQUEST: TypeAdapter[ChannelRequest] = TypeAdapter(
    MessageChannelRequest, config=ConfigDict(hide_input_in_errors=True))
#: ``/message-channel sms|whatsapp|facebook`` → the model of that form.
ChannelModel = type[SmsChannelRequest] | type[WhatsAppChannelRequest] | type[FacebookChannelRequest]
CHANNEL_MODELS: dict[str, ChannelModel] = {
    "sms": SmsChannelRequest, "whatsapp": WhatsAppChannelRequest, "facebook": FacebookChannelRequest,
}


def channel_model(channel: str) -> ChannelModel:
    """The request model for a ``channel`` value (``whatsapp``, ``facebook`` or an SMS provider)."""
    if channel == "whatsapp":
        return WhatsAppChannelRequest
    if channel == "facebook":
        return FacebookChannelRequest
    return SmsChannelRequest


# --- errors -------------------------------------------------------------------------------------


class TokenExpiredError(errors.AuthError):
    """errcode 10004: the access token is no longer valid; the client renews it and retries once."""


def classify(operation: str, answer: Answer) -> errors.ProviderError | None:
    body = answer.body if isinstance(answer.body, dict) else {}
    errmsg = body.get("errmsg") if isinstance(body.get("errmsg"), str) else None
    errcode = body.get("errcode")
    kw: dict[str, Any] = {"provider": PROVIDER, "operation": operation, "status": answer.status,
                          "code": errcode if isinstance(errcode, int) else None}
    if answer.status == 429:
        return errors.RateLimitedError(errmsg or "too many requests (HTTP 429)",
                                       retry_after=retry_after_seconds(answer.headers), **kw)
    if answer.status >= 500:
        return errors.UnavailableError(errmsg or f"server error (HTTP {answer.status})", **kw)
    if answer.status >= 300:
        return status_error(PROVIDER, operation, answer, errmsg or f"request refused (HTTP {answer.status})",
                            kw["code"])
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        return errors.UnavailableError("answered without an errcode", **kw)
    if errcode == 0:
        return None
    kind, what, advice, field = ERRCODES.get(
        errcode, (errors.ProviderError, "An error code its document does not list",
                  None, None))
    detail = f": {errmsg}" if errmsg and errmsg.strip().upper() != "FAILURE" else ""
    error = kind(f"{what} (errcode {errcode}{detail})", **kw, fields={field: ""} if field else None)
    if advice:
        error.advice = advice
    return error


#: The documented errcodes (Error Code and Error Message; errmsg itself is only "FAILURE"):
#: the error, what happened in words, what to do (None: the error's own advice), and the
#: request field it is about, by code, never guessed from words.
ERRCODES: dict[int, tuple[type[errors.ProviderError], str, str | None, str | None]] = {
    10004: (TokenExpiredError, "The bot's sign-in expired and could not be renewed",
            "Try again in a minute.", None),
    10005: (errors.AuthError, "Access denied: the bot's sign-in, or its permission for this, was refused",
            None, None),
    70004: (errors.AuthError, "The bot's address is blocked after 5 failed sign-ins",
            "Ask whoever runs the PBX to unblock it and to check the bot's Client ID and Secret.", None),
    40001: (errors.ValidationError, "The request could not be read (parameter syntax error)",
            "This is a fault in the bot, not in what you typed: tell whoever runs it.", None),
    40002: (errors.ValidationError, "One of the values was refused, without saying which (parameter error)",
            "Check the DID numbers, and that each destination and member exists on the PBX, then submit again.",
            None),
    40003: (errors.ConflictError, "A message channel with this name already exists on the PBX",
            "Choose another name.", "name"),
    60001: (errors.NotFoundError, "Something the channel points to does not exist on the PBX (data not found)",
            "Choose the destination and members again from the lists.", "destination_id"),
    60002: (errors.ValidationError, "The PBX has reached one of its limits (max limitation exceeded), such as "
            "how many message channels it may have",
            "Remove a channel you no longer use, or ask whoever runs the PBX to raise the limit.", None),
    -1: (errors.UnavailableError, "FAILURE, without a reason", None, None),
    -2: (errors.UnavailableError, "An internal server error", None, None),
}


# --- client ---------------------------------------------------------------------------------------


@dataclass
class _Token:
    access: str
    access_expires: float  # time.monotonic()
    refresh: str | None
    refresh_expires: float

    def __repr__(self) -> str:
        return "_Token(<redacted>)"


class YeastarClient:
    """One PBX's Open API, with one cached access token."""

    provider = PROVIDER

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 15.0,
        user_agent: str = "telephony-chatops-bot/0.1",
        refresh_margin: float = 60.0,
        max_retry_wait: float = 10.0,
    ) -> None:
        self.client_id = client_id
        self._client_secret = SecretStr(client_secret)
        self.refresh_margin = refresh_margin
        self.http = ProviderHTTP(PROVIDER, base_url, classify, timeout=timeout,
                                 headers={"User-Agent": user_agent}, max_retry_wait=max_retry_wait,
                                 secrets=(client_secret,))
        self._token: _Token | None = None
        #: Yeastar blocks the bot's IP after 5 failed logins: once the credentials are refused,
        #: that answer is given again, without asking, until ``_refused_until``.
        self._refused: errors.AuthError | None = None
        self._refused_until = 0.0
        self._lock = asyncio.Lock()
        #: How many token requests (get_token + refresh_token) this client sent.
        self.token_requests = 0
        self._menus: dict[str, tuple[float, list[MenuOption]]] = {}

    def __repr__(self) -> str:
        return f"YeastarClient(base_url={self.http.base_url!r}, client_id={self.client_id!r})"

    # --- token ------------------------------------------------------------------------
    async def _access_token(self) -> str:
        token = self._token
        if token is not None and token.access_expires - self.refresh_margin > time.monotonic():
            return token.access
        async with self._lock:
            token = self._token
            if token is not None and token.access_expires - self.refresh_margin > time.monotonic():
                return token.access
            if self._refused is not None and time.monotonic() < self._refused_until:
                raise errors.AuthError(self._refused.message, provider=PROVIDER, operation="get_token",
                                       status=self._refused.status, code=self._refused.code)
            try:
                self._token = await self._new_token(token)
            except errors.AuthError as exc:
                if exc.code in LOGIN_REFUSED:  # not, say, an answer without a token
                    self._refused, self._refused_until = exc, time.monotonic() + LOGIN_COOLDOWN
                raise
            if token is not None:
                self.http.secrets -= {token.access, token.refresh or ""}
            self.http.secrets |= {self._token.access, self._token.refresh or ""} - {""}
            return self._token.access

    async def _new_token(self, old: _Token | None) -> _Token:
        if old is not None and old.refresh and old.refresh_expires - self.refresh_margin > time.monotonic():
            try:
                return await self._token_call("refresh_token", {"refresh_token": old.refresh})
            except (errors.UnavailableError, errors.RateLimitedError):
                raise
            except errors.ProviderError as exc:
                log.info("yeastar.refresh_refused", error=type(exc).__name__, code=exc.code)
        return await self._token_call(
            "get_token", {"username": self.client_id, "password": self._client_secret.get_secret_value()}
        )

    async def _token_call(self, operation: str, body: dict[str, str]) -> _Token:
        self.token_requests += 1
        started = time.monotonic()
        answer = await self.http.request(operation, "POST", f"{API}/{operation}", json_body=body,
                                         idempotent=True)
        data = answer.body if isinstance(answer.body, dict) else {}
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise errors.AuthError("answered without an access token", provider=PROVIDER,
                                   operation=operation, status=answer.status)
        refresh = data.get("refresh_token")
        log.info("yeastar.token", operation=operation)
        return _Token(
            access=access,
            access_expires=started + _seconds(data.get("access_token_expire_time"), 1800),
            refresh=refresh if isinstance(refresh, str) and refresh else None,
            refresh_expires=started + _seconds(data.get("refresh_token_expire_time"), 86400),
        )

    def _drop(self, access: str, *, keep_refresh: bool) -> None:
        token = self._token
        if token is not None and token.access == access:
            if keep_refresh:
                token.access_expires = 0.0
            else:
                self._token = None

    async def _call(
        self, operation: str, method: str, path: str, *, json_body: Any = None,
        params: Mapping[str, str] | None = None, idempotent: bool,
    ) -> Answer:
        for attempt in (1, 2):
            access = await self._access_token()
            query = {**(params or {}), "access_token": access}
            try:
                return await self.http.request(operation, method, f"{API}/{path}", json_body=json_body,
                                               params=query, idempotent=idempotent)
            except TokenExpiredError:
                # Refused before acting: renew the token and send once more.
                self._drop(access, keep_refresh=True)
                if attempt == 2:
                    raise
            except errors.AuthError as exc:
                # HTTP 401 means the token itself is refused: the next call gets a new one.
                # Any other refusal (10005 ACCESS DENIED: no permission for this resource)
                # keeps it: new tokens would not help and would spend Yeastar's limit of 8.
                if exc.status == 401:
                    self._drop(access, keep_refresh=False)
                raise
        raise AssertionError("unreachable")

    # --- operations --------------------------------------------------------------------
    async def create_message_channel(self, req: ChannelRequest) -> int:
        """Create an SMS, WhatsApp or Facebook channel; its new ID."""
        answer = await self._call("create_message_channel", "POST", "message_channel/create",
                                  json_body=req.to_api(), idempotent=False)
        channel_id = answer.body.get("id") if isinstance(answer.body, dict) else None
        try:
            return int(channel_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise errors.CreatedWithoutIdError(
                "accepted the channel but did not say its ID",
                provider=PROVIDER, operation="create_message_channel", status=answer.status,
            ) from None

    async def list_message_channels(self, *, page_size: int = 100, max_pages: int = 20) -> list[dict[str, Any]]:
        """Every message channel (``data`` items as Yeastar returns them)."""
        out: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            answer = await self._call(
                "list_message_channels", "GET", "message_channel/list",
                params={"page": str(page), "page_size": str(page_size), "time_range": "all"},
                idempotent=True,
            )
            body = answer.body if isinstance(answer.body, dict) else {}
            items = [i for i in body.get("data") or [] if isinstance(i, dict)]
            out += items
            total = body.get("total_number")
            if not items or len(items) < page_size or (isinstance(total, int) and len(out) >= total):
                break
        return out

    async def menu_options(self, menu: str) -> list[MenuOption]:
        """The PBX's IDs by name (``GET system/get_menuoptions?menu=``: ``extension``,
        ``ext_group``, ``org_list``, ``queue``, ``message_queue``), sub-organisations flattened
        after their parent. Kept ``MENU_TTL`` seconds: a picker asks on every keystroke."""
        cached = self._menus.get(menu)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        answer = await self._call("get_menuoptions", "GET", "system/get_menuoptions", params={"menu": menu},
                                  idempotent=True)
        body = answer.body if isinstance(answer.body, dict) else {}
        found: list[MenuOption] = []
        for item in body.get("data") or []:
            found += _menu_items(item, "")
        self._menus[menu] = (time.monotonic() + MENU_TTL, found)
        return found

    async def ping(self) -> None:
        """Obtain a token and reach the API."""
        await self._call("list_message_channels", "GET", "message_channel/list",
                         params={"page": "1", "page_size": "1", "time_range": "all"}, idempotent=True)

    async def close(self) -> None:
        await self.http.close()


#: Seconds a menu of get_menuoptions is kept.
MENU_TTL = 30.0


@dataclass(frozen=True)
class MenuOption:
    """One entry of a Get Menu Options menu: the name people know, and the PBX's ID."""

    text: str
    value: str


def _menu_items(item: Any, parent: str) -> list[MenuOption]:
    if not isinstance(item, dict) or item.get("value") in (None, ""):
        return []
    text = str(item.get("text") or item["value"])
    text = f"{parent} › {text}" if parent else text
    out = [MenuOption(text, str(item["value"]))]
    for child in item.get("item") or []:
        out += _menu_items(child, text)
    return out


def _seconds(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 \
        else default
