"""Bandwidth v1 (legacy Catapult) client: domains and SIP endpoints.

Paths are ``{base}/v1/users/{userId}/domains[/{domainId}/endpoints[/{endpointId}]]`` with HTTP
Basic auth (API token : API secret). Errors come as ``{category, code, message, details}``;
``message`` is sometimes absent, then ``code`` (or ``category``) is what the user sees.
A create answers ``201`` with a ``Location`` header and no body: the endpoint ID is the
last path segment, and a follow-up GET tells the SIP URI and realm the user needs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from bot.providers import errors
from bot.providers.http import Answer, ProviderHTTP, status_error

log = structlog.get_logger(__name__)

PROVIDER = "bandwidth"

# --- the SIP "user" grammar (RFC 3261 §19.1.1 / §25.1) ------------------------------------
#
#   user             =  1*( unreserved / escaped / user-unreserved )
#   unreserved       =  alphanum / mark
#   mark             =  "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
#   escaped          =  "%" HEXDIG HEXDIG
#   user-unreserved  =  "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
#
# or a telephone-subscriber (RFC 2806, as RFC 3261 references it): a global number
# "+" digits with visual separators ( - . ( ) ), or a local number of digits / DTMF
# characters ( * # A-D p w ) with visual separators, either followed by ";param[=value]"
# parameters (ABNF letters match either case: P and W pause too). Everything but "#" is
# already allowed by the "user" rule above; the second alternative is what admits a local
# number such as "*97#". The simulator holds the same reading in its own code.
_USER_CHAR = r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})"
_PARAMS = r"(?:;[A-Za-z0-9\-]+(?:=(?:[A-Za-z0-9\-_.!~*'()&+$,?/:\[\]]|%[0-9A-Fa-f]{2})+)?)*"
_TEL_GLOBAL = r"\+[0-9().\-]*[0-9][0-9().\-]*"
_TEL_LOCAL = r"[0-9A-Da-d*#pwPW().\-]*[0-9A-Da-d*#][0-9A-Da-d*#pwPW().\-]*"
SIP_USER_RE = re.compile(rf"{_USER_CHAR}+|(?:{_TEL_GLOBAL}|{_TEL_LOCAL}){_PARAMS}")
_ALLOWED_TEXT = "letters, digits, - _ . ! ~ * ' ( ) & = + $ , ; ? / and %HH escapes"


def sip_user(value: str) -> str:
    """A valid SIP URI "user" part or telephone-subscriber (RFC 3261 §19.1.1)."""
    if not value:
        raise ValueError("is required")
    if SIP_USER_RE.fullmatch(value):
        return value
    bad = next((c for c in value if not re.fullmatch(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%#]", c)), None)
    if bad is None:
        return _bad_escape(value)
    shown = "a space" if bad == " " else f'"{bad}"'
    raise ValueError(f"cannot contain {shown}; use only {_ALLOWED_TEXT} (a SIP user name, RFC 3261)")


def _bad_escape(value: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        raise ValueError('has a "%" that is not followed by two hex digits (write %25 for a literal %)')
    raise ValueError('may contain "#" only as part of a telephone number such as *97#')


# --- models -----------------------------------------------------------------------------

_REQUEST = ConfigDict(populate_by_name=True, extra="forbid", hide_input_in_errors=True)
_RESPONSE = ConfigDict(populate_by_name=True, extra="ignore")


class EndpointCredentials(BaseModel):
    model_config = _REQUEST

    password: SecretStr = Field(
        title="SIP password",
        description="At least 6 characters, case-sensitive, Latin-1 (ISO 8859-1) characters only.",
        json_schema_extra={"secret": True},
    )

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if len(text) < 6:
            raise ValueError("must be at least 6 characters long")
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                "may contain only Latin-1 (ISO 8859-1) characters: no emoji, € or non-Western letters"
            ) from None
        return value


class EndpointRequest(BaseModel):
    """The body of ``POST /v1/users/{userId}/domains/{domainId}/endpoints``."""

    model_config = _REQUEST

    name: str = Field(
        title="Endpoint name",
        description="The SIP user name clients register as; unique in the domain, cannot be changed later.",
    )
    description: str | None = Field(default=None, title="Description")
    application_id: str | None = Field(
        default=None,
        alias="applicationId",
        title="Application ID",
        description="The Bandwidth application whose callback URL handles this endpoint's calls.",
    )
    enabled: bool = Field(
        default=True,
        title="Enabled",
        description="When off, SIP clients cannot register, call or receive calls.",
    )
    credentials: EndpointCredentials = Field(title="Credentials")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return sip_user(value)

    def to_api(self) -> dict[str, Any]:
        """The exact JSON body; the password is revealed here and nowhere else."""
        body: dict[str, Any] = {"name": self.name}
        if self.description:
            body["description"] = self.description
        if self.application_id:
            body["applicationId"] = self.application_id
        body["enabled"] = self.enabled
        body["credentials"] = {"password": self.credentials.password.get_secret_value()}
        return body


class EndpointCredentialsInfo(BaseModel):
    model_config = _RESPONSE

    realm: str | None = Field(default=None, title="Realm")
    username: str | None = Field(default=None, title="SIP username")


class Endpoint(BaseModel):
    """An endpoint as ``GET .../endpoints/{id}`` describes it (never the password)."""

    model_config = _RESPONSE

    id: str = Field(title="Endpoint ID")
    name: str = Field(title="Endpoint name")
    description: str | None = Field(default=None, title="Description")
    domain_id: str | None = Field(default=None, alias="domainId", title="Domain ID")
    application_id: str | None = Field(default=None, alias="applicationId", title="Application ID")
    enabled: bool | None = Field(default=None, title="Enabled")
    sip_uri: str | None = Field(default=None, alias="sipUri", title="SIP URI")
    credentials: EndpointCredentialsInfo | None = Field(default=None, title="Credentials")


class Domain(BaseModel):
    model_config = _RESPONSE

    id: str = Field(title="Domain ID")
    name: str = Field(title="Domain name")
    description: str | None = Field(default=None, title="Description")
    endpoints: Any = Field(default=None, title="Endpoints", description="As Bandwidth returns it.")


# --- errors -------------------------------------------------------------------------------


def classify(operation: str, answer: Answer) -> errors.ProviderError | None:
    """Bandwidth's answer → None (2xx) or the error, with the provider's own message."""
    if 200 <= answer.status < 300:
        return None
    body = answer.body if isinstance(answer.body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = next(
        (str(body[k]) for k in ("message", "code", "category") if isinstance(body.get(k), str) and body[k]),
        f"request refused (HTTP {answer.status})",
    )
    error = status_error(PROVIDER, operation, answer, message, code)
    details: list[Any] = body["details"] if isinstance(body.get("details"), list) else []
    error.fields = {str(d["name"]): str(d.get("value") or "") for d in details
                    if isinstance(d, dict) and isinstance(d.get("name"), str)}
    return error


# --- client -------------------------------------------------------------------------------


class BandwidthClient:
    """Domains and SIP endpoints of one Bandwidth v1 user."""

    provider = PROVIDER

    def __init__(
        self,
        base_url: str,
        user_id: str,
        api_token: str,
        api_secret: str,
        *,
        timeout: float = 15.0,
        max_retry_wait: float = 10.0,
    ) -> None:
        self.user_id = user_id
        self.http = ProviderHTTP(
            PROVIDER,
            base_url,
            classify,
            timeout=timeout,
            headers={"Authorization": _basic_auth(api_token, api_secret)},
            max_retry_wait=max_retry_wait,
            secrets=(api_token, api_secret),
        )
        self._prefix = f"/v1/users/{quote(user_id, safe='')}"

    def __repr__(self) -> str:
        return f"BandwidthClient(base_url={self.http.base_url!r}, user_id={self.user_id!r})"

    def _domain(self, domain_id: str) -> str:
        return f"{self._prefix}/domains/{quote(domain_id, safe='')}"

    async def list_domains(self) -> list[Domain]:
        """Every domain of the user (follows ``Link: rel="next"`` pages when Bandwidth sends them)."""
        return [errors.parse_answer(Domain, item, provider=PROVIDER, operation="list_domains", status=status)
                async for status, item in self._pages("list_domains", f"{self._prefix}/domains", "100", 20)]

    async def _pages(self, operation: str, path: str, size: str, pages: int) -> AsyncIterator[tuple[int, Any]]:
        """(status, item) of each item of a listing, page after page (``Link: rel="next"``)."""
        next_path: str | None = path
        params: dict[str, str] | None = {"size": size}
        for _page in range(pages):
            if next_path is None:
                break
            answer = await self.http.request(operation, "GET", next_path, params=params, idempotent=True)
            for item in answer.body if isinstance(answer.body, list) else []:
                if isinstance(item, dict):
                    yield answer.status, item
            next_path, params = _next_page(answer), None

    async def create_endpoint(self, domain_id: str, req: EndpointRequest, *,
                              read_back: bool = True) -> Endpoint:
        """Create the endpoint, then read it back for its SIP URI and realm (``read_back``:
        a bulk import, one request per endpoint at Bandwidth's pace, needs only the ID)."""
        answer = await self.http.request(
            "create_endpoint", "POST", f"{self._domain(domain_id)}/endpoints",
            json_body=req.to_api(), idempotent=False,
        )
        location = answer.headers.get("Location") or ""
        endpoint_id = urlsplit(location).path.rstrip("/").rpartition("/")[2]
        if not endpoint_id:
            raise errors.CreatedWithoutIdError(
                "accepted the endpoint but did not say its ID (no Location header)",
                provider=PROVIDER, operation="create_endpoint", status=answer.status,
            )
        if not read_back:
            return Endpoint(id=endpoint_id, name=req.name, description=req.description, domainId=domain_id,
                            applicationId=req.application_id, enabled=req.enabled)
        try:
            return await self.get_endpoint(domain_id, endpoint_id)
        except errors.ProviderError as exc:
            # The endpoint exists: report it even though its details could not be read.
            log.warning("bandwidth.endpoint_readback_failed", error=type(exc).__name__, status=exc.status)
            return Endpoint(
                id=endpoint_id, name=req.name, description=req.description, domainId=domain_id,
                applicationId=req.application_id, enabled=req.enabled,
            )

    async def find_endpoint(self, domain_id: str, name: str) -> Endpoint | None:
        """The domain's endpoint named ``name`` (names are unique in a domain), or None: how a
        create whose answer was lost is checked before it is sent again."""
        endpoints = f"{self._domain(domain_id)}/endpoints"
        async for status, item in self._pages("list_endpoints", endpoints, "1000", 100):
            if item.get("name") == name:
                return errors.parse_answer(Endpoint, item, provider=PROVIDER, operation="list_endpoints",
                                           status=status)
        return None

    async def get_endpoint(self, domain_id: str, endpoint_id: str) -> Endpoint:
        answer = await self.http.request(
            "get_endpoint", "GET", f"{self._domain(domain_id)}/endpoints/{quote(endpoint_id, safe='')}",
            idempotent=True,
        )
        body = dict(answer.body) if isinstance(answer.body, dict) else {}
        body["id"] = body.get("id") or endpoint_id
        body.setdefault("name", "")
        body.setdefault("domainId", domain_id)
        return errors.parse_answer(Endpoint, body, provider=PROVIDER, operation="get_endpoint",
                                   status=answer.status)

    async def ping(self) -> None:
        """Reach the API with the configured credentials."""
        await self.http.request("list_domains", "GET", f"{self._prefix}/domains",
                                params={"size": "1"}, idempotent=True)

    async def close(self) -> None:
        await self.http.close()


def _basic_auth(login: str, password: str) -> str:
    """HTTP Basic credentials (aiohttp ≥ 3.12 deprecates ``BasicAuth`` objects in favour of this)."""
    encode = getattr(aiohttp, "encode_basic_auth", None)
    if encode is not None:
        return str(encode(login, password))
    return str(aiohttp.BasicAuth(login, password).encode())


def _next_page(answer: Answer) -> str | None:
    link = answer.headers.get("Link") or ""
    for part in link.split(","):
        match = re.search(r'<([^>]+)>\s*;.*rel="?next"?', part)
        if match:
            url = urlsplit(match.group(1))
            return url.path + (f"?{url.query}" if url.query else "")
    return None
