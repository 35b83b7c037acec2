"""/service-group: the modal that creates a CINNOX destination (service group).

Targets follow the chosen types: PHONE shows phone numbers, STAFF a staff picker fed by
CINNOX's staff list, TRUNK SIP trunk numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import verbatim
from bot.providers.cinnox import ServiceGroupRequest
from bot.providers.fields import number_doubt, option_words, unknown_language, unknown_location
from bot.services import Services
from handlers.forms import call_directory, modal
from handlers.forms.modal import Input
from handlers.forms.provisioning import Form, Outcome, register_form

TARGETS = {"PHONE": "phoneTargets", "STAFF": "staffTargets", "TRUNK": "trunkTargets"}
HINTS = {
    "displayName": "Up to 40 characters; people see it when their call is routed.",
    "supportLanguages": "Type to search, e.g. English; or choose “* — all”.",
    "supportLocations": "Type a country or state, e.g. Hong Kong or California; or choose “* — all”.",
    "types": "Choose them first: the targets for each appear below.",
    "phoneTargets": "One number per line, with the country code, e.g. +85294667788.",
    "staffTargets": "Type a name to search CINNOX's staff (suspended staff are left out).",
    "trunkTargets": "One SIP trunk number per line, with the country code, e.g. +85230001234.",
}


class ServiceGroupForm(Form):
    callback_id = "service_group"
    command = "/service-group"
    title = "New service group"
    thing = "service group"
    provider = "cinnox"
    action = "service_group.create"
    model = ServiceGroupRequest
    revealed_by = {"phoneTargets": "types", "staffTargets": "types", "trunkTargets": "types"}
    unique = ("displayName",)

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        chosen = set(state.get("types") or [])
        out: list[Input] = []
        for inp in modal.model_inputs(self.model):
            if inp.path == "supportLanguages":
                inp = replace(inp, kind="multi_external", source="languages_or_all")
            elif inp.path == "supportLocations":
                inp = replace(inp, kind="multi_external", options=(), source="locations_or_all")
            elif inp.path == "types":
                inp = replace(inp, dispatch=True)
            elif inp.path in TARGETS.values():
                kind = next(k for k, v in TARGETS.items() if v == inp.path)
                if kind not in chosen:
                    continue
                if inp.path == "staffTargets":
                    inp = replace(inp, kind="multi_external")
                inp = replace(inp, optional=False)
            if inp.path in HINTS:
                inp = replace(inp, hint=HINTS[inp.path])
            out.append(inp)
        return out

    def sources(self) -> dict[str, str]:
        return {"supportLanguages": "languages_or_all", "supportLocations": "locations_or_all"}

    async def options(self, services: Services, block_id: str, query: str,
                      state: dict[str, Any]) -> list[modal.Option]:
        if block_id == "staffTargets" and services.cinnox is not None:
            staff = await services.cinnox.list_staff(full_name=query.strip(), limit=100)
            return [(s.id, _staff_label(s)) for s in staff if _status(s) != "suspended"][:100]
        return await super().options(services, block_id, query, state)

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.cinnox is not None
        new_id = await services.cinnox.create_service_group(request)
        details = [("ID", new_id), ("Types", ", ".join(option_words(t) for t in request.types))]
        for kind, label in (("PHONE", "Phone numbers"), ("TRUNK", "Trunks")):
            targets = request.phone_targets if kind == "PHONE" else request.trunk_targets
            if kind in request.types and targets:
                details.append((label, ", ".join(targets)))
        if "STAFF" in request.types:
            details.append(("Staff", f"{len(request.staff_targets)} chosen"))
        return Outcome(new_id, f"Service group *{verbatim(request.display_name)}* created in CINNOX.", details)

    def describe(self, request: Any) -> str:
        return str(request.display_name)

    def warnings(self, request: Any) -> dict[str, str]:
        # The document asks only for PSTN numbers with a country code: one libphonenumber
        # doubts is CINNOX's to refuse. (A SIP trunk number need not be public: not checked.)
        out: dict[str, str] = {}
        for path, codes, what in (("supportLanguages", request.support_languages, "languages"),
                                  ("supportLocations", request.support_locations, "locations")):
            if "*" in codes and len(codes) > 1:
                out[path] = f"“* — all” already means all {what}: the others add nothing."
        for i, code in enumerate(request.support_languages):
            if code != "*" and unknown_language(code):
                out.setdefault(f"supportLanguages.{i}", f"{code} is in no ISO 639 list the bot knows: "
                                                       "is it in CINNOX's supported languages?")
        for i, code in enumerate(request.support_locations):
            if code != "*" and unknown_location(code):
                out.setdefault(f"supportLocations.{i}", f"{code} is in no ISO 3166 list the bot knows: "
                                                       "is it in CINNOX's supported locations?")
        for i, number in enumerate(request.phone_targets):
            doubt = number_doubt(number)
            if doubt:
                out[f"phoneTargets.{i}"] = f"{number} {doubt}: CINNOX may not be able to call it."
        return out

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        await call_directory.service_group_created(services, request, outcome)


def _status(staff: Any) -> str:
    return str(getattr(staff, "status", "") or "").strip().lower()


def _staff_label(staff: Any) -> str:
    name = staff.display_name or " ".join(filter(None, [staff.first_name, staff.last_name])) or staff.id
    extra = f" · ext {staff.extension_number}" if getattr(staff, "extension_number", None) else ""
    inactive = " (not activated yet)" if _status(staff) == "not activated" else ""
    return f"{name}{extra}{inactive}"[:75]


def register(app: AsyncApp, services: Services) -> Form:
    form = ServiceGroupForm()
    register_form(app, services, form)
    return form
