"""The one flow every provisioning form follows:

command → ack → open the modal; a change or "add another" → re-render it; submit → validate
with the provider model (errors inline, nothing sent) → ack with "Creating…" → after the
ack, claim the submission (a double-click creates once), call the provider, replace the
view with the outcome and post it ephemerally through the command's response_url.
Every attempt is audited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pydantic
import structlog
from pydantic import BaseModel
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import REQUIRED
from bot.mrkdwn import escape
from bot.providers.errors import ProviderError
from bot.providers.fields import field_errors
from bot.services import Services
from handlers import modal
from handlers.modal import Input
from handlers.usage import usage_answer

log = structlog.get_logger(__name__)

#: Seconds a picker (staff, domains) may take to list its options: Slack waits 3 in all.
SUGGEST_WITHIN = 2.5
#: How long a double-clicked submission waits for the first one's outcome to show it again.
DUPLICATE_WAIT = 120.0


@dataclass
class Outcome:
    """What a successful create shows: the new ID and the useful details."""

    resource_id: str
    headline: str
    details: list[tuple[str, str]] = field(default_factory=list)

    def mrkdwn(self) -> str:
        lines = [f":white_check_mark: {self.headline}"]
        lines += [f"• *{label}:* `{escape(value)}`" for label, value in self.details]
        return "\n".join(lines)


class Form:
    """A provisioning modal; subclasses set the class attributes and ``create``."""

    callback_id: ClassVar[str]
    command: ClassVar[str]
    title: ClassVar[str]
    provider: ClassVar[str]  # cinnox | bandwidth | yeastar
    action: ClassVar[str]  # audit action, e.g. "contact.create"
    model: ClassVar[type[BaseModel]]
    #: list-of-object fields with an "add another" button: {API field: button label}
    rows: ClassVar[dict[str, str]] = {}
    #: fields that appear only once another is chosen: {field: the choice's block_id}
    revealed_by: ClassVar[dict[str, str]] = {}
    #: sub-commands accepted ("" = none)
    subcommands: ClassVar[tuple[str, ...]] = ("",)

    # --- the view ------------------------------------------------------------------------

    def request_model(self, meta: dict[str, Any]) -> type[BaseModel]:
        return self.model

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        """The inputs shown now (conditional forms override this)."""
        model = self.request_model(meta)
        out = modal.model_inputs(model, skip=self.rows)
        for list_field in self.rows:
            out += modal.row_inputs(model, list_field, self.row_count(meta, list_field))
        return out

    def row_count(self, meta: dict[str, Any], list_field: str) -> int:
        return int((meta.get("rows") or {}).get(list_field, 1))

    def intro(self, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def blocks(self, meta: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
        shown = [_with_state(inp, state) for inp in self.inputs(meta, state)]
        out = self.intro(meta)
        for list_field, label in self.rows.items():
            # The button goes right after that list's last row.
            prefix = f"{list_field}."
            last = max((i for i, inp in enumerate(shown) if inp.path.startswith(prefix)), default=-1)
            if last >= 0:
                shown_blocks = [modal.input_block(inp) for inp in shown[: last + 1]]
                out += shown_blocks
                out.append(modal.add_row_button(list_field, label))
                shown = shown[last + 1:]
        out += [modal.input_block(inp) for inp in shown]
        return self._room_for_rows(out, meta)

    def _room_for_rows(self, blocks: list[dict[str, Any]], meta: dict[str, Any]) -> list[dict[str, Any]]:
        """Offer "add another" only while one more row fits: Slack refuses a modal of more
        than 100 blocks, and a cut form would silently lose its last fields."""
        model = self.request_model(meta)
        room = MAX_BLOCKS - len(blocks)
        kept = []
        for block in blocks:
            list_field = block.get("block_id", "").removeprefix("add.") if block["type"] == "actions" else ""
            if list_field in self.rows:
                row_size = len(modal.model_inputs(modal.row_model(model, list_field)))
                if row_size > room or self.row_count(meta, list_field) >= MAX_ROWS:
                    continue
            kept.append(block)
        return kept

    def view(self, meta: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
        return modal.modal(self.callback_id, self.title, self.blocks(meta, state or {}),
                           metadata=meta)

    # --- submission ------------------------------------------------------------------------

    def convert(self, path: str, value: Any) -> Any:
        """Per-field conversion from a Slack element value to the API value."""
        return value

    def validate(self, data: dict[str, Any], meta: dict[str, Any]) -> BaseModel:
        return self.request_model(meta).model_validate(data)

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        """Called after a successful ``create`` (e.g. the call directory learns a contact)."""

    async def options(self, services: Services, block_id: str, query: str) -> list[modal.Option]:
        """Options for an external select: a list of ours (languages, countries), or a
        picker fed by the provider (subclasses)."""
        source = self.sources().get(_generic(block_id))
        return modal.SOURCES[source](query) if source else []

    def sources(self) -> dict[str, str]:
        """``{block_id with row indexes as N: source}`` for this form's external selects."""
        meta: dict[str, Any] = {"rows": dict.fromkeys(self.rows, 1)}
        return {_generic(inp.path): inp.source for inp in self.inputs(meta, {}) if inp.source}

    def describe(self, request: Any) -> str:
        """A short, secret-free description for the audit log."""
        name = getattr(request, "name", None) or getattr(request, "display_name", None)
        return str(name) if name else ""


def _generic(block_id: str) -> str:
    return ".".join("N" if part.isdigit() else part for part in block_id.split("."))


def progress_view(form: Form, meta: dict[str, Any]) -> dict[str, Any]:
    return modal.modal(form.callback_id, form.title, [
        modal.section(f":hourglass_flowing_sand: Creating… this usually takes a few seconds. "
                      f"You can close this window: the result will also be posted to you in "
                      f"the channel where you typed `{form.command}`."),
    ], submit=None, metadata=meta, close="Close")


def result_view(form: Form, meta: dict[str, Any], text: str) -> dict[str, Any]:
    return modal.modal(form.callback_id, form.title, [modal.section(text)], submit=None,
                       metadata=meta, close="Done")


def not_configured(provider: str) -> str:
    names = ", ".join(n.upper() for n in REQUIRED[provider])
    title = {"cinnox": "CINNOX", "bandwidth": "Bandwidth", "yeastar": "Yeastar"}[provider]
    return (f"{title} isn't configured on this bot yet. Set {names} and restart it "
            f"(`python -m bot check` shows what is missing).")


def _with_state(inp: Input, state: dict[str, Any]) -> Input:
    """Keep what the user already typed when the view is re-rendered (never a secret)."""
    if inp.path not in state or inp.kind in ("secret", "external", "multi_external"):
        return inp
    value = state[inp.path]
    if value in (None, "", []):
        return inp
    if inp.kind == "checkbox":
        return replace(inp, initial=bool(value))
    return replace(inp, initial=value)


# --- listeners ----------------------------------------------------------------------------


def register_form(app: AsyncApp, services: Services, form: Form) -> None:
    @app.command(form.command)
    async def open_form(ack: Any, command: dict[str, Any], client: Any) -> None:
        text = command.get("text", "")
        answer = usage_answer(form.command, text, form.subcommands)
        if answer is not None:
            await ack(**answer)
            return
        if services.provider(form.provider) is None:
            await ack(response_type="ephemeral", text=not_configured(form.provider))
            return
        await ack()
        meta = {"response_url": command.get("response_url", ""),
                "channel_id": command.get("channel_id", ""),
                "sub": text.strip().lower().split(" ")[0] if text.strip() else ""}
        services.background.spawn(
            _open(services, client, command["trigger_id"], form.view(meta)), name="views.open")

    @app.view(form.callback_id)
    async def submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        meta = modal.parse_metadata(view)
        state = modal.state_by_path(view)
        inputs = form.inputs(meta, state)
        built = modal.request_body(state, modal.Layout.of(inputs), form.convert)
        try:
            request = form.validate(built.data, meta)
        except pydantic.ValidationError as exc:
            model = form.request_model(meta)
            known = [block_id for block_id in state]
            errors: dict[str, str] = {}
            for path, sentence in field_errors(model, exc).items():
                errors.setdefault(built.block_id(path, known, form.revealed_by), sentence)
            await ack(response_action="errors", errors=errors)
            services.background.spawn(
                services.access.record(user, form.action, "invalid", detail=", ".join(errors)),
                name="audit")
            return
        await ack(response_action="update", view=progress_view(form, meta))
        services.background.spawn(
            _create(services, form, request, user, view["id"], meta), name=form.action)



def register_view_actions(app: AsyncApp, services: Services, forms: list[Form]) -> None:
    """One listener per action kind (Bolt runs only the first match), routed to the form
    by the view's callback_id."""
    by_callback = {form.callback_id: form for form in forms}

    def form_of(body: dict[str, Any]) -> Form | None:
        return by_callback.get((body.get("view") or {}).get("callback_id", ""))

    @app.action("add_row")
    async def add_row(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        form = form_of(body)
        if form is None:
            return
        view = body["view"]
        meta = modal.parse_metadata(view)
        list_field = action.get("value", "")
        if list_field in form.rows:
            meta["rows"] = {**(meta.get("rows") or {}),
                            list_field: min(form.row_count(meta, list_field) + 1, MAX_ROWS)}
        services.background.spawn(_rerender(client, form, view, meta), name="views.update")

    @app.action("value")
    async def changed(ack: Any, body: dict[str, Any], client: Any) -> None:
        """An input with dispatch_action changed: show the fields that now apply."""
        await ack()
        form = form_of(body)
        if form is not None:
            view = body["view"]
            services.background.spawn(
                _rerender(client, form, view, modal.parse_metadata(view)), name="views.update")

    @app.options("value")
    async def suggest(ack: Any, body: dict[str, Any]) -> None:
        form = form_of(body)
        options: list[modal.Option] = []
        if form is not None:
            try:
                # Slack shows nothing unless the answer comes within 3 seconds.
                options = await asyncio.wait_for(
                    form.options(services, body.get("block_id", ""), body.get("value", "")), SUGGEST_WITHIN)
            except (TimeoutError, ProviderError) as exc:
                log.warning("modal.options_unavailable", error=type(exc).__name__)
        await ack(options=[modal.option_json(v, label) for v, label in options])


MAX_ROWS = 10
MAX_BLOCKS = 100  # Slack's limit for a modal


async def rerender_on_change(client: Any, form: Form, body: dict[str, Any]) -> None:
    view = body.get("view") or {}
    await _rerender(client, form, view, modal.parse_metadata(view))


async def _rerender(client: Any, form: Form, view: dict[str, Any], meta: dict[str, Any]) -> None:
    state = modal.state_by_path(view)
    try:
        await client.views_update(view_id=view["id"], hash=view.get("hash"),
                                  view=form.view(meta, state))
    except SlackApiError as exc:
        # hash_conflict: the view changed meanwhile (another click); the newer one wins.
        log.info("views.update_skipped", error=exc.response.get("error"))


async def _open(services: Services, client: Any, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("views.open_failed", error=exc.response.get("error"))


async def _create(services: Services, form: Form, request: Any, user: str, view_id: str,
                  meta: dict[str, Any]) -> None:
    if not await services.store.claim_submission(view_id, user):
        log.info("submission.duplicate_ignored", view_id=view_id)
        await _show_first_outcome(services, form, view_id, meta)
        return
    structlog.contextvars.bind_contextvars(action=form.action)
    client = services.provider(form.provider)
    if client is None:
        text, outcome, resource_id, detail = f":warning: {not_configured(form.provider)}", "failed", None, None
    else:
        try:
            result = await form.create(services, request, meta)
        except ProviderError as exc:
            text = f":x: Not created. {escape(exc.user_sentence())}"
            outcome, resource_id, detail = "failed", None, f"{type(exc).__name__}: {exc.message}"
        except Exception:
            log.exception("provisioning.unexpected_error")
            text = (":x: Not created: something went wrong inside the bot. "
                    "The details are in its log; please tell an admin.")
            outcome, resource_id, detail = "failed", None, "internal error"
        else:
            text, outcome, resource_id, detail = result.mrkdwn(), "ok", result.resource_id, None
            await form.after_create(services, request, result, meta)
    describe = form.describe(request)
    await services.access.record(user, form.action, outcome, resource_id=resource_id,
                                 detail="; ".join(filter(None, [describe, detail])) or None)
    await services.store.finish_submission(view_id, outcome, text)
    await asyncio.gather(_update_view(services, form, view_id, meta, text),
                         _respond(meta, text))


async def _show_first_outcome(services: Services, form: Form, view_id: str, meta: dict[str, Any]) -> None:
    """A second click answered "Creating…" too, perhaps after the first's outcome was shown:
    once the first submission is done, its outcome goes back into the modal."""
    for _ in range(int(DUPLICATE_WAIT / 0.25)):
        found = await services.store.submission(view_id)
        if found is not None and found[0] != "started" and found[1]:
            await _update_view(services, form, view_id, meta, found[1])
            return
        await asyncio.sleep(0.25)


async def _update_view(services: Services, form: Form, view_id: str, meta: dict[str, Any],
                       text: str) -> None:
    try:
        await services.slack.views_update(view_id=view_id, view=result_view(form, meta, text))
    except SlackApiError as exc:  # the user closed the modal: the ephemeral still tells them
        log.info("views.update_failed", error=exc.response.get("error"))


async def _respond(meta: dict[str, Any], text: str) -> None:
    url = meta.get("response_url")
    if not url:
        return
    try:
        await AsyncWebhookClient(url).send(text=text, response_type="ephemeral",
                                           replace_original=False)
    except Exception as exc:
        log.info("response_url.failed", error=type(exc).__name__)
