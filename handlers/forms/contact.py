"""/contact: the modal that creates a CINNOX external contact, in sections (name and company,
phones, emails, addresses, social, custom fields, more details). Every field is optional, as
in CINNOX's document; one with no name, phone or email is warned about (nothing could find
it), so a caller can still be saved by number alone.

Other modules open this form prefilled (``ContactForm().prefilled_view({"phones.0.phone":
"+85294667788"}, meta)``) and learn of a new contact through ``after_create``."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import verbatim
from bot.providers.cinnox import CustomFieldsRefused, ExternalContactRequest
from bot.providers.errors import ProviderError
from bot.providers.fields import number_doubt
from bot.services import Services
from handlers.forms import call_directory, csv_import
from handlers.forms.modal import Input
from handlers.forms.provisioning import Failure, Form, Outcome, register_form

#: How the value input of a custom field follows the field's type.
CUSTOM_VALUE_KINDS = {"FieldTypeDate": "datetime", "FieldTypeTime": "time", "FieldTypeBoolean": "checkbox",
                      "FieldTypeURL": "url"}
CUSTOM_VALUE_HINTS = {
    "FieldTypePicklist": "One of the field's options, as it is spelled in CINNOX.",
    "FieldTypeMultiPicklist": "The field's options, separated by commas.",
}
HINTS = {
    "firstName": None,
    "level": None,
    "type": None,
    "language": "Type to search, e.g. English.",
    "birthDate": None,
}
ROW_ORDER = {"phones": ("phone", "type"), "emails": ("email", "type")}
#: Under each custom field when CINNOX refused a contact carrying them.
CUSTOM_FIELDS_DOUBT = ("Likely cause: CINNOX's document does not show how custom fields are sent; "
                       "the bot sends each as type, name and value.")


class ContactForm(Form):
    callback_id = "contact"
    command = "/contact"
    title = "New external contact"
    thing = "external contact"
    provider = "cinnox"
    action = "contact.create"
    model = ExternalContactRequest
    rows = {
        "phones": "Add another phone",
        "emails": "Add another email",
        "addresses": "Add another address",
        "socialContacts": "Add another social profile",
        "customField": "Add another custom field",
    }
    add_first = {
        "addresses": "➕ Add an address",
        "socialContacts": "➕ Add a social profile",
        "customField": "➕ Add a custom field",
    }
    first_rows = {"addresses": 0, "socialContacts": 0, "customField": 0}
    removable = {"phones": "phone", "emails": "email", "addresses": "address",
                 "socialContacts": "profile", "customField": "field"}
    sections = [
        ("Name and company", ["firstName", "lastName", "company", "jobTitle", "type", "level"]),
        ("Phones", ["phones"]),
        ("Emails", ["emails"]),
        ("Addresses", ["addresses"]),
        ("Social", ["socialContacts"]),
        ("Custom fields", ["customField"]),
        ("More details", ["team", "group", "language", "birthDate"]),
    ]

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        # They follow only from the row counts and the custom fields' types: built once for each.
        rows = tuple(self.row_count(meta, name) for name in self.rows)
        types = tuple(None if (kind := state.get(f"customField.{i}.type")) is None else str(kind)
                      for i in range(self.row_count(meta, "customField")))
        return list(_inputs(self, rows, types))

    def _inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        out = []
        for inp in super().inputs(meta, state):
            name = inp.path.rsplit(".", 1)[-1]
            if inp.path in HINTS:
                inp = replace(inp, hint=HINTS[inp.path])
            if inp.path == "firstName":
                inp = replace(inp, hint="Give a name, a phone or an email to find the contact by; "
                                        "the rest is optional.")
            elif inp.path == "birthDate":
                inp = replace(inp, kind="date")
            elif inp.path.startswith("phones."):
                inp = replace(inp, hint=None if name == "type" else inp.hint,
                              initial="Mobile" if name == "type" else inp.initial,
                              placeholder="+85294667788" if name == "phone" else None)
            elif inp.path.startswith("emails."):
                inp = replace(inp, kind="email" if name == "email" else inp.kind, hint=None,
                              initial="Work" if name == "type" else inp.initial,
                              placeholder="ada@example.com" if name == "email" else None)
            elif inp.path.startswith("addresses.") and name == "country":
                inp = replace(inp, hint="Type to search by name, e.g. Hong Kong.")
            elif inp.path.startswith("customField."):
                inp = self._custom_input(inp, state)
            out.append(inp)
        return sorted(out, key=_row_position)

    def _custom_input(self, inp: Input, state: dict[str, Any]) -> Input:
        row, name = inp.path.rsplit(".", 1)
        field_type = state.get(f"{row}.type")
        if name == "type":
            return replace(inp, dispatch=True, hint="Choose it first: the value input follows it. CINNOX's "
                           "document does not show how custom fields are sent: the bot sends type, name "
                           "and value; if CINNOX refuses the contact, try without them.")
        if name == "value":
            kind = CUSTOM_VALUE_KINDS.get(str(field_type), "text")
            if kind == "checkbox":
                return replace(inp, kind="checkbox", options=(("true", "Yes"),), hint=None)
            return replace(inp, kind=kind, hint=CUSTOM_VALUE_HINTS.get(str(field_type)),  # type: ignore[arg-type]
                           placeholder="https://…" if kind == "url" else None)
        return replace(inp, hint="As it is named in CINNOX." if name == "name" else inp.hint)

    def convert(self, path: str, value: Any) -> Any:
        if path == "birthDate" and isinstance(value, str) and len(value) == 10 and value[4] == "-":
            year, month, day = value.split("-")  # the datepicker's YYYY-MM-DD
            return f"{day}/{month}/{year}"
        if path.startswith("customField.") and path.endswith(".value"):
            if value is True:
                return "true"
            if value is False:
                return None
            if isinstance(value, int):  # the date-and-time picker's epoch seconds
                return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value

    def validate(self, data: dict[str, Any], meta: dict[str, Any]) -> Any:
        for item in data.get("customField") or []:
            if isinstance(item, dict) and item.get("type") == "FieldTypeBoolean" and "value" not in item:
                item["value"] = "false"  # an unticked box
        return super().validate(data, meta)

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.cinnox is not None
        new_id = await services.cinnox.create_external_contact(request)
        name = " ".join(filter(None, [request.first_name, request.last_name]))
        phones = [p.phone for p in request.phones]
        emails = [e.email for e in request.emails]
        shown = name or (phones[0] if phones else emails[0] if emails else new_id)
        details = [("ID", new_id)]
        if name:
            details.append(("Name", name))
        if request.company:
            details.append(("Company", request.company))
        if phones:
            details.append(("Phone" if len(phones) == 1 else "Phones", ", ".join(phones)))
        if emails:
            details.append(("Email" if len(emails) == 1 else "Emails", ", ".join(emails)))
        return Outcome(new_id, f"External contact *{verbatim(shown)}* created in CINNOX.", details,
                       record={"id": new_id, "name": name, "phones": phones, "emails": emails,
                               "company": request.company})

    def provider_failure(self, exc: ProviderError, inputs: list[Input], request: Any = None) -> Failure:
        failure = super().provider_failure(exc, inputs, request)
        if isinstance(exc, CustomFieldsRefused):
            for inp in inputs:
                if inp.path.startswith("customField.") and inp.path.endswith(".type"):
                    failure.at_fields.setdefault(inp.path, CUSTOM_FIELDS_DOUBT)
        return failure

    def warnings(self, request: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        if not request.findable:
            out["firstName"] = ("No name, phone or email: nobody could find this contact again, and no "
                                "call would be matched to it.")
        for i, email in enumerate(request.emails):
            if "." not in email.email.rpartition("@")[2]:
                out[f"emails.{i}.email"] = f"{email.email} has no dot in its domain: mail may not reach it."
        if request.birth_date is not None and request.birth_date > dt.date.today():
            out["birthDate"] = "The date of birth is in the future."
        for i, phone in enumerate(request.phones):
            # The call messages name a caller only by a number libphonenumber calls valid.
            doubt = number_doubt(phone.phone)
            if doubt:
                out[f"phones.{i}.phone"] = f"{phone.phone} {doubt}: calls from it will not show this contact."
        return out

    def describe(self, request: Any) -> str:
        name = " ".join(filter(None, [request.first_name, request.last_name]))
        return name or (request.phones[0].phone if request.phones else "")

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        await call_directory.contact_created(services, request, outcome, meta)


@functools.lru_cache(maxsize=512)
def _inputs(form: ContactForm, rows: tuple[int, ...], types: tuple[Any, ...]) -> tuple[Input, ...]:
    meta = {"rows": dict(zip(form.rows, rows, strict=True))}
    state = {f"customField.{i}.type": kind for i, kind in enumerate(types)}
    return tuple(form._inputs(meta, state))


def _row_position(inp: Input) -> tuple[str, int, int]:
    """Rows keep their order; within a phone or email row the value comes before its type."""
    parts = inp.path.split(".")
    if len(parts) == 3 and parts[0] in ROW_ORDER and parts[1].isdigit():
        order = ROW_ORDER[parts[0]]
        return (parts[0], int(parts[1]), order.index(parts[2]) if parts[2] in order else 9)
    return ("", 0, 0)


def register(app: AsyncApp, services: Services) -> Form:
    form = ContactForm()
    csv_import.register_command(app, services, form)  # /contact import
    register_form(app, services, form)
    return form
