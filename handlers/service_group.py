"""/service-group: the modal that creates a CINNOX destination (service group).

Targets follow the chosen types: PHONE shows phone numbers, STAFF a staff picker fed by
CINNOX's staff list, TRUNK SIP trunk numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import escape
from bot.providers.cinnox import ServiceGroupRequest
from bot.services import Services
from handlers import call_directory, modal
from handlers.modal import Input
from handlers.provisioning import Form, Outcome, register_form

TARGETS = {"PHONE": "phoneTargets", "STAFF": "staffTargets", "TRUNK": "trunkTargets"}


class ServiceGroupForm(Form):
    callback_id = "service_group"
    command = "/service-group"
    title = "New service group"
    provider = "cinnox"
    action = "service_group.create"
    model = ServiceGroupRequest
    revealed_by = {"phoneTargets": "types", "staffTargets": "types", "trunkTargets": "types"}

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        chosen = set(state.get("types") or [])
        out: list[Input] = []
        for inp in modal.model_inputs(self.model):
            if inp.path == "supportLanguages":
                inp = replace(inp, kind="multi_external", source="languages_or_all")
            elif inp.path == "supportLocations":
                inp = replace(inp, kind="multi_external", options=(), source="locations_or_all")
            elif inp.path == "types":
                inp = replace(inp, dispatch=True, hint="Choose the types first: their targets appear below.")
            elif inp.path in TARGETS.values():
                kind = next(k for k, v in TARGETS.items() if v == inp.path)
                if kind not in chosen:
                    continue
                if inp.path == "staffTargets":
                    inp = replace(inp, kind="multi_external")
                inp = replace(inp, optional=False)
            out.append(inp)
        return out

    def sources(self) -> dict[str, str]:
        return {"supportLanguages": "languages_or_all", "supportLocations": "locations_or_all"}

    async def options(self, services: Services, block_id: str, query: str) -> list[modal.Option]:
        if block_id == "staffTargets" and services.cinnox is not None:
            staff = await services.cinnox.list_staff(full_name=query.strip(), limit=100)
            return [(s.id, _staff_label(s)) for s in staff][:100]
        return await super().options(services, block_id, query)

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.cinnox is not None
        new_id = await services.cinnox.create_service_group(request)
        return Outcome(new_id, f"Service group *{escape(request.display_name)}* created in CINNOX.", [
            ("ID", new_id), ("Types", ", ".join(request.types)),
        ])

    def describe(self, request: Any) -> str:
        return str(request.display_name)

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        await call_directory.service_group_created(services, request, outcome)


def _staff_label(staff: Any) -> str:
    name = staff.display_name or " ".join(filter(None, [staff.first_name, staff.last_name])) or staff.id
    extra = f" · ext {staff.extension_number}" if getattr(staff, "extension_number", None) else ""
    return f"{name}{extra}"[:75]


def register(app: AsyncApp, services: Services) -> Form:
    form = ServiceGroupForm()
    register_form(app, services, form)
    return form
