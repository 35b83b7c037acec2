"""A local Bandwidth v1 (domains and SIP endpoints) on loopback.

Applies the documented rules with its own plain checks (it does not use the client's
models, so a client bug cannot hide behind a shared mistake):
- HTTP Basic auth with the API token and secret, else ``401``; another user's path → ``403``;
- create endpoint: ``name`` required, a SIP "user" (RFC 3261 §19.1.1) or telephone number;
  ``credentials.password`` required, ≥ 6 characters, Latin-1 only; ``enabled`` a boolean
  (the strings "true"/"false" of the doc's curl example are accepted too); unknown fields
  rejected → ``400 {category: "bad-request", code, message, details}``;
- a name already used in the domain → ``409 {category: "conflict", code: "duplicate-name"}``;
- success → ``201`` with ``Location: /v1/users/{u}/domains/{d}/endpoints/{id}`` and no body;
- ``GET`` an endpoint → its fields, ``sipUri`` and ``credentials {realm, username}``,
  never the password;
- optional rate limiting: ``rate_limit`` requests per ``rate_window`` seconds, beyond that
  ``429`` with ``X-RateLimit-Reset`` (epoch milliseconds).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections import deque
from typing import Any

from aiohttp import web

from bot.sandbox.base import FakeService, Fault

# RFC 3261 §25.1: user = 1*( unreserved / escaped / user-unreserved ), where
# unreserved = alphanum / - _ . ! ~ * ' ( ) and user-unreserved = & = + $ , ; ? /
_SIP_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
# ... or a telephone-subscriber (RFC 2806): "+" digits (global) or digits, DTMF * # A-D and
# pauses p w (local; ABNF letters match either case), with visual separators - . ( ), then
# ";name" or ";name=value" parameters.
_DIGITS = r"[0-9().\-]*[0-9][0-9().\-]*"
_DIALS = r"[0-9A-Da-d*#PWpw().\-]*[0-9A-Da-d*#][0-9A-Da-d*#PWpw().\-]*"
_PARAMETER = r";[A-Za-z0-9\-]+(?:=(?:[A-Za-z0-9\-_.!~*'()&+$,?/:\[\]]|%[0-9A-Fa-f]{2})+)?"
_TEL_LOCAL = re.compile(rf"(?:\+{_DIGITS}|{_DIALS})(?:{_PARAMETER})*")
_ENDPOINT_FIELDS = {"name", "description", "applicationId", "enabled", "credentials"}


def _error(status: int, category: str, code: str, message: str | None,
           details: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"category": category, "code": code}
    if message is not None:
        body["message"] = message
    body["details"] = details or []
    return web.json_response(body, status=status, headers=headers)


class BandwidthSimulator(FakeService):
    name = "bandwidth"

    def __init__(
        self,
        user_id: str = "u-sandbox",
        api_token: str = "t-sandbox",
        api_secret: str = "s-sandbox",
        *,
        seed: int | None = None,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
    ) -> None:
        self.user_id = user_id
        self.api_token = api_token
        self.api_secret = api_secret
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._recent: deque[float] = deque()
        self.domains: dict[str, dict[str, Any]] = {
            "rd-sandbox": {"id": "rd-sandbox", "name": "sandbox", "description": "Sandbox domain"},
            "rd-lab": {"id": "rd-lab", "name": "lab", "description": "Lab phones"},
        }
        # domain id → endpoint id → stored endpoint (password kept only here)
        self.endpoints: dict[str, dict[str, dict[str, Any]]] = {d: {} for d in self.domains}
        super().__init__(seed=seed)

    # --- routes ------------------------------------------------------------------------
    def setup_routes(self, router: web.UrlDispatcher) -> None:
        users = "/v1/users/{user}"
        router.add_get(users + "/domains", self._list_domains)
        router.add_get(users + "/domains/{domain}", self._get_domain)
        router.add_get(users + "/domains/{domain}/endpoints", self._list_endpoints)
        router.add_post(users + "/domains/{domain}/endpoints", self._create_endpoint)
        router.add_get(users + "/domains/{domain}/endpoints/{endpoint}", self._get_endpoint)
        router.add_delete(users + "/domains/{domain}/endpoints/{endpoint}", self._delete_endpoint)

    # --- faults in Bandwidth's shape -----------------------------------------------------
    def fault_response(self, fault: Fault) -> web.StreamResponse:
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        category, code = {
            400: ("bad-request", "invalid-request"),
            401: ("authentication", "unauthorized"),
            404: ("not-found", "not-found"),
            409: ("conflict", "conflict"),
            429: ("too-many-requests", "rate-limit-exceeded"),
        }.get(fault.status, ("unexpected", "internal-server-error"))
        headers = dict(fault.headers)
        if fault.status == 429:
            headers.setdefault("X-RateLimit-Reset", str(int((time.time() + 0.2) * 1000)))
        return _error(fault.status, category, code, f"injected {fault.status} ({code})", headers=headers)

    def random_fault(self, status: int) -> Fault:
        headers = {"X-RateLimit-Reset": str(int((time.time() + 0.5) * 1000))} if status == 429 else {}
        return Fault(status=status, headers=headers)

    # --- checks every request passes -------------------------------------------------------
    def _gate(self, request: web.Request) -> web.Response | None:
        expected = "Basic " + base64.b64encode(f"{self.api_token}:{self.api_secret}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _error(401, "authentication", "unauthorized",
                          "The credentials provided are invalid or missing")
        if request.match_info.get("user") != self.user_id:
            return _error(403, "authorization", "forbidden", "You do not have access to this user")
        if self.rate_limit is not None:
            now = time.time()
            while self._recent and self._recent[0] <= now - self.rate_window:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                reset = self._recent[0] + self.rate_window
                return _error(429, "too-many-requests", "rate-limit-exceeded",
                              "Too many requests; wait until X-RateLimit-Reset",
                              headers={"X-RateLimit-Reset": str(int(reset * 1000) + 1)})
            self._recent.append(now)
        return None

    def _domain(self, request: web.Request) -> tuple[str, web.Response | None]:
        domain_id = request.match_info["domain"]
        if domain_id not in self.domains:
            return domain_id, _error(404, "not-found", "domain-not-found",
                                     f"Domain {domain_id} was not found")
        return domain_id, None

    # --- handlers ----------------------------------------------------------------------------
    async def _list_domains(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        return web.json_response([self._domain_json(d) for d in self.domains])

    async def _get_domain(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        domain_id, missing = self._domain(request)
        return missing or web.json_response(self._domain_json(domain_id))

    async def _list_endpoints(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        domain_id, missing = self._domain(request)
        if missing:
            return missing
        return web.json_response([self._endpoint_json(domain_id, e) for e in self.endpoints[domain_id]])

    async def _get_endpoint(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        domain_id, missing = self._domain(request)
        if missing:
            return missing
        endpoint_id = request.match_info["endpoint"]
        if endpoint_id not in self.endpoints[domain_id]:
            return _error(404, "not-found", "endpoint-not-found", f"Endpoint {endpoint_id} was not found")
        return web.json_response(self._endpoint_json(domain_id, endpoint_id))

    async def _delete_endpoint(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        domain_id, missing = self._domain(request)
        if missing:
            return missing
        if self.endpoints[domain_id].pop(request.match_info["endpoint"], None) is None:
            return _error(404, "not-found", "endpoint-not-found", "Endpoint was not found")
        return web.Response(status=200)

    async def _create_endpoint(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        domain_id, missing = self._domain(request)
        if missing:
            return missing
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "bad-request", "invalid-json", "The request body must be a JSON object")
        problem = self._check_endpoint(body)
        if problem is not None:
            code, message, field = problem
            return _error(400, "bad-request", code, message, [{"name": field, "value": ""}])
        name = body["name"]
        if any(e["name"] == name for e in self.endpoints[domain_id].values()):
            return _error(409, "conflict", "duplicate-name",
                          f"An endpoint named {name} already exists in this domain",
                          [{"name": "name", "value": name}])
        endpoint_id = "re-" + secrets.token_hex(8)
        enabled = body.get("enabled", True)
        self.endpoints[domain_id][endpoint_id] = {
            "name": name,
            "description": body.get("description"),
            "applicationId": body.get("applicationId"),
            "enabled": enabled if isinstance(enabled, bool) else enabled == "true",
            "password": body["credentials"]["password"],
        }
        location = f"/v1/users/{self.user_id}/domains/{domain_id}/endpoints/{endpoint_id}"
        return web.Response(status=201, headers={"Location": location})

    # --- the documented rules, as plain checks ------------------------------------------
    @staticmethod
    def _check_endpoint(body: dict[str, Any]) -> tuple[str, str, str] | None:
        """(code, message, field) of the first broken rule, or None."""
        unknown = sorted(set(body) - _ENDPOINT_FIELDS)
        if unknown:
            return "unknown-field", f"Unknown field {unknown[0]}", unknown[0]
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return "missing-name", "The endpoint name is required", "name"
        if not (_SIP_USER.fullmatch(name) or _TEL_LOCAL.fullmatch(name)):
            return ("invalid-name",
                    "The endpoint name must be a valid SIP user or telephone-subscriber (RFC 3261 19.1.1)",
                    "name")
        for field in ("description", "applicationId"):
            if field in body and not isinstance(body[field], str):
                return f"invalid-{field.lower()}", f"{field} must be a string", field
        if "enabled" in body and body["enabled"] not in (True, False, "true", "false"):
            return "invalid-enabled", "enabled must be true or false", "enabled"
        credentials = body.get("credentials")
        if not isinstance(credentials, dict):
            return "missing-credentials", "credentials are required", "credentials"
        if set(credentials) - {"password"}:
            return "unknown-field", "credentials takes only a password", "credentials"
        password = credentials.get("password")
        if not isinstance(password, str) or not password:
            return "missing-password", "credentials.password is required", "credentials.password"
        if len(password) < 6:
            return ("invalid-password", "The password must be at least 6 characters long",
                    "credentials.password")
        try:
            password.encode("latin-1")
        except UnicodeEncodeError:
            return ("invalid-password", "The password must contain only Latin 1 (ISO 8859-1) characters",
                    "credentials.password")
        return None

    # --- representations -------------------------------------------------------------------
    def _domain_json(self, domain_id: str) -> dict[str, Any]:
        domain = self.domains[domain_id]
        return {**domain, "endpoints": len(self.endpoints.get(domain_id, {}))}

    def _endpoint_json(self, domain_id: str, endpoint_id: str) -> dict[str, Any]:
        stored = self.endpoints[domain_id][endpoint_id]
        host = f"{self.domains[domain_id]['name']}.bwapp.bwsip.io"
        out: dict[str, Any] = {"id": endpoint_id, "name": stored["name"]}
        if stored["description"] is not None:
            out["description"] = stored["description"]
        out["domainId"] = domain_id
        if stored["applicationId"] is not None:
            out["applicationId"] = stored["applicationId"]
        out["enabled"] = stored["enabled"]
        out["sipUri"] = f"sip:{stored['name']}@{host}"
        out["credentials"] = {"realm": host, "username": stored["name"]}
        return out
