"""/contact: the modal that creates a CINNOX external contact, with "add another" rows for
phones, emails, addresses, social contacts and custom fields."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import escape
from bot.providers.cinnox import ExternalContactRequest
from bot.services import Services
from handlers import call_directory
from handlers.modal import Input
from handlers.provisioning import Form, Outcome, register_form


class ContactForm(Form):
    callback_id = "contact"
    command = "/contact"
    title = "New external contact"
    provider = "cinnox"
    action = "contact.create"
    model = ExternalContactRequest
    rows = {
        "phones": "Add another phone",
        "emails": "Add another email",
        "addresses": "Add another address",
        "socialContacts": "Add another social contact",
        "customField": "Add another custom field",
    }

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        return [replace(inp, kind="date", hint="Date of birth (sent to CINNOX as DD/MM/YYYY)")
                if inp.path == "birthDate" else inp for inp in super().inputs(meta, state)]

    def convert(self, path: str, value: Any) -> Any:
        if path == "birthDate" and isinstance(value, str) and len(value) == 10 and value[4] == "-":
            year, month, day = value.split("-")  # the datepicker's YYYY-MM-DD
            return f"{day}/{month}/{year}"
        return value

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.cinnox is not None
        new_id = await services.cinnox.create_external_contact(request)
        name = " ".join(filter(None, [request.first_name, request.last_name]))
        details = [("ID", new_id)]
        if request.phones:
            details.append(("Phone", request.phones[0].phone))
        return Outcome(new_id, f"External contact *{escape(name)}* created in CINNOX.", details)

    def describe(self, request: Any) -> str:
        return " ".join(filter(None, [request.first_name, request.last_name]))

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        await call_directory.contact_created(services, request, outcome, meta)


def register(app: AsyncApp, services: Services) -> Form:
    form = ContactForm()
    register_form(app, services, form)
    return form
