"""/sip-endpoint: the modal that creates a Bandwidth SIP endpoint on a domain; the result
shows the SIP URI and realm a SIP client needs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import verbatim
from bot.providers.bandwidth import EndpointRequest
from bot.providers.fields import located
from bot.services import Services
from handlers.forms import csv_import, modal
from handlers.forms.modal import Input
from handlers.forms.provisioning import Form, Outcome, register_form

HINTS = {
    "credentials.password": "At least 6 characters; no emoji or non-Western letters. Shown nowhere after this.",
}
DOMAIN = "domainId"  # a path parameter, named as Bandwidth names it in the endpoint


class SipEndpointForm(Form):
    callback_id = "sip_endpoint"
    command = "/sip-endpoint"
    title = "New SIP endpoint"
    thing = "SIP endpoint"
    duplicates_refused = True  # "Names must be unique within the domain" (Bandwidth's document)
    provider = "bandwidth"
    action = "sip_endpoint.create"
    model = EndpointRequest
    unique = ("name",)

    def __init__(self, default_domain: str | None) -> None:
        self.default_domain = default_domain

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        default = meta.get("default_domain") or self.default_domain
        domain = Input(DOMAIN, "Domain", "external", hint="The Bandwidth domain the endpoint lives on.",
                       initial=(default, default) if default else None)
        return [domain, *(replace(inp, hint=HINTS[inp.path]) if inp.path in HINTS else inp
                          for inp in modal.model_inputs(self.model))]

    def validate(self, data: dict[str, Any], meta: dict[str, Any]) -> Any:
        data = dict(data)
        domain = data.pop(DOMAIN, None) or self.default_domain
        request = self.model.model_validate(data)
        if not domain:
            raise located(self.model.__name__, {DOMAIN: "is empty: choose the Bandwidth domain"})
        return (domain, request)

    async def options(self, services: Services, block_id: str, query: str,
                      state: dict[str, Any]) -> list[modal.Option]:
        if block_id != DOMAIN or services.bandwidth is None:
            return []
        q = query.strip().lower()
        domains = await services.bandwidth.list_domains()
        return [(d.id, f"{d.name} ({d.id})"[:75]) for d in domains
                if not q or q in d.name.lower() or q in d.id.lower()][:100]

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.bandwidth is not None
        domain_id, endpoint_request = request
        endpoint = await services.bandwidth.create_endpoint(domain_id, endpoint_request)
        details = [("Endpoint ID", endpoint.id), ("SIP URI", endpoint.sip_uri or "—")]
        if endpoint.credentials is not None:
            details += [("Realm", endpoint.credentials.realm or "—"),
                        ("SIP username", endpoint.credentials.username or endpoint.name)]
        details.append(("Domain", domain_id))
        return Outcome(endpoint.id, f"SIP endpoint *{verbatim(endpoint.name)}* created on Bandwidth.", details)

    def sent_body(self, request: Any) -> dict[str, Any]:
        _domain_id, endpoint_request = request
        body: dict[str, Any] = endpoint_request.to_api()
        return body

    def describe(self, request: Any) -> str:
        domain_id, endpoint_request = request
        return f"{endpoint_request.name} on {domain_id}"

    def name_of(self, request: Any) -> str:
        return str(request[1].name)

    def who_can_check(self, request: Any) -> str:
        return ("Submitting again is safe: endpoint names are unique in a domain, so Bandwidth "
                "refuses the name if the first attempt created it.")


def register(app: AsyncApp, services: Services) -> Form:
    form = SipEndpointForm(services.settings.bandwidth_domain_id)
    csv_import.register_command(app, services, form)  # /sip-endpoint import
    register_form(app, services, form)
    return form
