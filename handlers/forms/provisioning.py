"""The one flow every provisioning form follows:

command → ack → open the modal; a change, "add another" or "remove" → re-render it;
submit → validate with the provider model (errors inline, nothing sent) → claim the
submission (a double-click creates once) → call the provider. A provider not set up any
more answers the kept form at once (nothing can be created, so there is nothing to claim).
When the provider answers within ``ANSWER_WITHIN`` seconds the submission itself is
answered with the outcome;
otherwise it is acked with "Creating…" and the outcome replaces the view later
(views.update). Either way the outcome is also posted, in one line, through the command's
response_url.

The outcome is the result (what was created, "Create another like this", "Show request"),
or, when the provider refused or could not be reached, the same form again with every value
typed (secrets excepted), the provider's sentence at the top and at the field it names.
Submitting that form again is a new attempt; nothing is re-sent unless the person submits.
Every attempt is audited.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import orjson
import pydantic
import structlog
from pydantic import BaseModel
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import REQUIRED
from bot.mrkdwn import code, escape, verbatim
from bot.providers.errors import (
    AuthError,
    CreatedWithoutIdError,
    ProviderError,
    TimedOutError,
    UnavailableError,
)
from bot.providers.fields import field_errors, humanize
from bot.services import Services
from handlers.commands import usage_answer
from handlers.forms import modal
from handlers.forms.late_update import update_after_answer
from handlers.forms.modal import Input

log = structlog.get_logger(__name__)

#: Seconds a picker (staff, domains) may take to list its options: Slack waits 3 in all.
SUGGEST_WITHIN = 2.5
#: How long a submission waits for the provider before answering "Creating…" instead of the
#: outcome itself, counted from the submission's arrival (Slack waits 3 s for the answer; the
#: rest is margin for a busy bot and the network).
ANSWER_WITHIN = 1.5
#: How long a double-clicked submission waits for the first one's outcome to show it again.
DUPLICATE_WAIT = 120.0
#: Keys whose values "Show request" masks (the form's own secret inputs are masked too).
SECRET_KEYS = re.compile(r"password|secret|token|auth|api_key|_key$|^key_|sid", re.IGNORECASE)
MASK = "••••••"
TITLES = {"cinnox": "CINNOX", "bandwidth": "Bandwidth", "yeastar": "Yeastar"}


@dataclass
class Outcome:
    """What a successful create shows: the new ID, a headline and the main values.
    ``record`` keeps what later steps may need (a contact's name and phones)."""

    resource_id: str
    headline: str
    details: list[tuple[str, str]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def mrkdwn(self, limit: int = 3000) -> str:
        """The headline and the details, within ``limit`` characters (a section's): a long list
        is cut between its items, never inside one, and the cut is said."""
        lines = [f":white_check_mark: {self.headline}"]
        room = limit - len(lines[0]) - sum(len(f"\n• *{label}:* ") + 2 for label, _ in self.details)
        fair = room // max(len(self.details), 1)  # a share each, what short values leave to long ones
        spare = room - sum(min(len(code(value)), fair) for _, value in self.details)
        for label, value in self.details:
            shown = _within(value, fair + spare)
            spare -= max(0, len(shown) - fair)
            lines.append(f"• *{label}:* {shown}")
        return "\n".join(lines)

    def line(self) -> str:
        """The outcome in one line (the response_url message)."""
        return f":white_check_mark: {self.headline.rstrip('.')} (ID {code(self.resource_id)})."


def _within(value: str, room: int) -> str:
    """``value`` as code in at most ``room`` characters: whole items of a comma-separated list
    and "… and N more (see Show request)" when they do not all fit."""
    if len(code(value)) <= room:
        return code(value)
    items = value.split(", ")
    for keep in range(len(items) - 1, -1, -1):
        more = f" … and {len(items) - keep} more (see *Show request*)"
        shown = (code(", ".join(items[:keep])) if keep else "") + more
        if len(shown) <= room:
            return shown.lstrip()
    return "(too long to show here; see *Show request*)"


@dataclass
class Failure:
    """Why a create did not happen (or may not have): a headline and a sentence for the top
    of the form, and the provider's words at the fields it named (block_id → sentence).
    ``look_up``: a name the person can ask the provider about (the form's documented read)."""

    sentence: str
    at_fields: dict[str, str] = field(default_factory=dict)
    headline: str = "Not created."
    icon: str = ":x:"
    look_up: str | None = None
    #: the provider may have created it: submitting again could make a second one
    maybe_created: bool = False

    def line(self) -> str:
        """The outcome in one line (the response_url message)."""
        then = ("The form is still open with your values." if self.maybe_created
                else "The form is still open with your values; submit it again to retry.")
        return f"{self.icon} {self.headline} {self.sentence} {then}"


class Form:
    """A provisioning modal; subclasses set the class attributes and ``create``."""

    callback_id: ClassVar[str]
    command: ClassVar[str]
    title: ClassVar[str]
    #: what one creates, as a sentence names it: "external contact", "SIP endpoint"
    thing: ClassVar[str]
    #: the provider refuses a second one of the same name (documented): submitting again is safe
    duplicates_refused: ClassVar[bool] = False
    provider: ClassVar[str]  # cinnox | bandwidth | yeastar
    action: ClassVar[str]  # audit action, e.g. "contact.create"
    model: ClassVar[type[BaseModel]]
    #: list-of-object fields with an "add another" button: {API field: button label}
    rows: ClassVar[dict[str, str]] = {}
    #: rows shown when the form opens, per list (default 1)
    first_rows: ClassVar[dict[str, int]] = {}
    #: lists whose rows each get a "Remove" button: {API field: what one row is called}
    removable: ClassVar[dict[str, str]] = {}
    #: the "Add" button of a list with no row yet: {API field: label}
    add_first: ClassVar[dict[str, str]] = {}
    #: headings, each over the top-level API fields it holds, in order ([] = no headings)
    sections: ClassVar[list[tuple[str, list[str]]]] = []
    #: fields that appear only once another is chosen: {field: the choice's block_id}
    revealed_by: ClassVar[dict[str, str]] = {}
    #: block_ids left empty by "Create another like this" (names that must be unique)
    unique: ClassVar[tuple[str, ...]] = ()
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
        return int((meta.get("rows") or {}).get(list_field, self.first_rows.get(list_field, 1)))

    def intro(self, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def blocks(self, meta: dict[str, Any], state: dict[str, Any],
               inputs: list[Input] | None = None) -> list[dict[str, Any]]:
        """``inputs``: when known already (a submission's), else ``self.inputs``."""
        shown = [_with_state(inp, state) for inp in (self.inputs(meta, state) if inputs is None else inputs)]
        if meta.get("kept"):
            shown = [_secret_again(inp) for inp in shown]
        out = self.intro(meta)
        rows = tuple(self.row_count(meta, list_field) for list_field in self.rows)
        layout = _layout(self, tuple(inp.path for inp in shown), len(out), rows, self.request_model(meta))
        out += [modal.input_block(shown[item]) if isinstance(item, int) else item for item in layout]
        return out

    def layout(self, paths: tuple[str, ...], before: int, meta: dict[str, Any],
               model: type[BaseModel]) -> list[int | dict[str, Any]]:
        """The form's blocks after ``before`` blocks of intro: the headings and row buttons,
        and where each input goes (its index in ``paths``)."""
        out: list[int | dict[str, Any]] = []
        if not self.sections:
            out += self._group(list(enumerate(paths)), list(self.rows), meta)
        by_field: dict[str, list[tuple[int, str]]] = {}  # top-level API field → its inputs, in order
        for index, path in enumerate(paths):
            by_field.setdefault(path.split(".", 1)[0], []).append((index, path))
        for heading, names in self.sections:
            members = [member for name in names for member in by_field.get(name, ())]
            out.append(modal.header(heading))
            out += self._group(members, [n for n in names if n in self.rows], meta)
        return self._room_for_rows(out, before, meta, model)

    def _group(self, inputs: list[tuple[int, str]], lists: list[str],
               meta: dict[str, Any]) -> list[int | dict[str, Any]]:
        """Inputs (index, path), each list row followed by its "Remove" and the last row by
        "Add another"; a list with no row yet shows its "Add" button alone."""
        out: list[int | dict[str, Any]] = []
        for i, (index, path) in enumerate(inputs):
            out.append(index)
            parts = path.split(".")
            if len(parts) < 3 or parts[0] not in self.rows or not parts[1].isdigit():
                continue
            row_prefix = ".".join(parts[:2]) + "."
            if i + 1 < len(inputs) and inputs[i + 1][1].startswith(row_prefix):
                continue  # not the row's last input
            out += self._row_controls(parts[0], int(parts[1]), meta)
        for list_field in lists:
            if self.row_count(meta, list_field) == 0:
                out.append(modal.actions(f"add.{list_field}", modal.button(
                    self.add_first.get(list_field, self.rows[list_field]), "add_row", list_field)))
        return out

    def _row_controls(self, list_field: str, index: int, meta: dict[str, Any]) -> list[dict[str, Any]]:
        count = self.row_count(meta, list_field)
        buttons = []
        if list_field in self.removable:
            noun = self.removable[list_field]
            buttons.append(modal.button(f"Remove {noun}{f' {index + 1}' if count > 1 else ''}",
                                        "remove_row", f"{list_field}.{index}"))
        if index == count - 1:
            buttons.append(modal.button(f"➕ {self.rows[list_field]}", "add_row", list_field))
            return [modal.actions(f"add.{list_field}", *buttons)]
        return [modal.actions(f"remove.{list_field}.{index}", *buttons)] if buttons else []

    def _room_for_rows(self, blocks: list[int | dict[str, Any]], before: int, meta: dict[str, Any],
                       model: type[BaseModel]) -> list[int | dict[str, Any]]:
        """Offer "add another" only while one more row fits: Slack refuses a modal of more
        than 100 blocks, and a cut form would silently lose its last fields."""
        # each list may get a note where its "Add" was
        room = MAX_BLOCKS - before - len(blocks) - RESERVED_BLOCKS - len(self.rows)
        kept: list[int | dict[str, Any]] = []
        for block in blocks:
            if isinstance(block, int):
                kept.append(block)
                continue
            list_field = block.get("block_id", "").removeprefix("add.") if block["type"] == "actions" else ""
            if list_field in self.rows:
                row_size = _row_width(model, list_field) + (1 if list_field in self.removable else 0)
                full = self.row_count(meta, list_field) >= MAX_ROWS
                if row_size > room or full:
                    # The "Add" button goes: say why, where it was.
                    noun = self.removable.get(list_field, "row")
                    plural = noun + ("es" if noun.endswith("s") else "s")
                    why = (f"That is the most this form takes: {MAX_ROWS} {plural}." if full else
                           f"No room for another {noun}: Slack limits a form's length.")
                    block = {**block, "elements": [e for e in block["elements"] if e["action_id"] != "add_row"]}
                    if block["elements"]:
                        kept.append(block)
                    kept.append(modal.context(why))
                    continue
            kept.append(block)
        return kept

    def view(self, meta: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
        """The form; ``state`` (``{block_id: value}``) fills the inputs, secrets excepted."""
        return modal.modal(self.callback_id, self.title, self.blocks(meta, state or {}),
                           metadata=meta)

    def prefilled_view(self, values: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The form with ``values`` (``{block_id: value}``, e.g. ``{"phones.0.phone": "+852…"}``)
        as initial values; as many rows as the values need. Extra ``meta`` (a call's IDs)
        travels in private_metadata and comes back to ``create`` and ``after_create``."""
        meta = dict(meta or {})
        rows = dict(meta.get("rows") or {})
        for path in values:
            parts = path.split(".")
            if len(parts) > 2 and parts[0] in self.rows and parts[1].isdigit():
                rows[parts[0]] = max(rows.get(parts[0], self.row_count(meta, parts[0])), int(parts[1]) + 1)
        meta["rows"] = {**(meta.get("rows") or {}), **rows}
        return self.view(meta, values)

    def kept_view(self, meta: dict[str, Any], state: dict[str, Any], failure: Failure,
                  inputs: list[Input] | None = None) -> dict[str, Any]:
        """The same form after a failed attempt: the values, the reason at the top and at the
        field it names; submitting it again is the next attempt. ``inputs``: those the
        submission was read with (the same form, not built again)."""
        meta = {**meta, "kept": True, "try": int(meta.get("try") or 0) + 1}
        inputs = self.inputs(meta, state) if inputs is None else inputs
        form_blocks = self.blocks(meta, state, inputs)
        secrets = any(inp.kind == "secret" for inp in inputs)
        typed = ("Everything you typed is still here (passwords and secrets excepted: type them again)."
                 if secrets else "Everything you typed is still here.")
        then = ("Submit only once you know it was not created." if failure.maybe_created
                and not self.duplicates_refused else "Submit to try again.")
        top = [modal.section(f"{failure.icon} *{failure.headline}* {failure.sentence}")]
        if failure.look_up:
            top.append(modal.actions("look_up", modal.button(
                f"Look for it in {TITLES[self.provider]}", "form.look_up", failure.look_up)))
        top += [modal.context(f"{typed} {then}"), modal.divider()]
        blocks: list[dict[str, Any]] = []
        for block in form_blocks:
            blocks.append(block)
            sentence = failure.at_fields.get(block.get("block_id", ""))
            if block["type"] == "input" and sentence:
                blocks.append(modal.context(f":warning: {verbatim(sentence)}"))
        return modal.modal(self.callback_id, self.title, (top + blocks)[:MAX_BLOCKS], metadata=meta,
                           submit="Try again")

    # --- submission ------------------------------------------------------------------------

    def convert(self, path: str, value: Any) -> Any:
        """Per-field conversion from a Slack element value to the API value."""
        return value

    def validate(self, data: dict[str, Any], meta: dict[str, Any]) -> Any:
        return self.request_model(meta).model_validate(data)

    def warnings(self, request: Any) -> dict[str, str]:
        """``{API path: sentence}`` for what the provider's document allows but a person
        would want to know before creating (the bot's own rules: they warn, never refuse)."""
        return {}

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def after_create(self, services: Services, request: Any, outcome: Outcome,
                           meta: dict[str, Any]) -> None:
        """Called once after a successful create, before the result is shown (e.g. a call
        message learns the new contact's name). No-op by default; its errors are logged, and
        the result shown all the same."""

    def sent_body(self, request: Any) -> dict[str, Any]:
        """The exact JSON body the provider receives (secrets still in: mask before showing)."""
        body: dict[str, Any] = request.to_api()
        return body

    async def options(self, services: Services, block_id: str, query: str,
                      state: dict[str, Any]) -> list[modal.Option]:
        """Options for an external select: a list of ours (languages, countries), or a
        picker fed by the provider (subclasses); ``state``: the form's values so far."""
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

    def name_of(self, request: Any) -> str:
        """What the person called the thing they create ("alice", "Ada Lovelace"), or ""."""
        return self.describe(request)

    def subject(self, request: Any, *, bold: bool = True) -> str:
        """"the SIP endpoint *alice*": what a sentence about this create names (mrkdwn)."""
        name = self.name_of(request) if request is not None else ""
        if not name:
            return f"the {self.thing}"
        return f"the {self.thing} *{verbatim(name)}*" if bold else f"the {self.thing} {verbatim(name)}"

    def who_can_check(self, request: Any) -> str:
        """How the person learns whether a create that may have happened did. The bot has
        no documented read of it by default, so: whom to ask."""
        return (f"Before you submit again, ask someone who manages your {TITLES[self.provider]} "
                f"account whether it is there: submitting again could create a second one.")

    def look_up_name(self, request: Any) -> str | None:
        """The name ``look_up`` searches for, on forms whose provider has a documented read."""
        return None

    async def look_up(self, services: Services, name: str) -> str | None:
        """The ID of the existing thing called ``name``, or None (forms with a documented read)."""
        return None

    def provider_failure(self, exc: ProviderError, inputs: list[Input], request: Any = None) -> Failure:
        """The provider's sentence, and where it can be tied to a field, that field."""
        if isinstance(exc, UnavailableError):
            return self._unavailable_failure(exc, request)
        words = exc.message.strip()
        words = words if words.endswith((".", "!", "?")) else words + "."
        at_fields: dict[str, str] = {}
        for name, value in exc.fields.items():
            block_id = _input_named(inputs, name)
            if block_id:
                detail = f" ({value})" if value and value not in words else ""
                at_fields.setdefault(block_id, f"{exc.provider_title}: {words[:-1]}{detail}.")
        if not at_fields:
            block_id = _input_mentioned(inputs, exc.message)
            if block_id:
                at_fields[block_id] = f"{exc.provider_title}: {words}"
        return Failure(verbatim(exc.user_sentence()), at_fields,
                       headline=f"Could not create {self.subject(request, bold=False)}.")

    def _unavailable_failure(self, exc: UnavailableError, request: Any) -> Failure:
        """Say what is known: nothing sent (try again), or perhaps created (how to find out)."""
        title, subject = exc.provider_title, self.subject(request)
        if not exc.may_have_acted:
            return Failure(f"Could not reach {title} ({verbatim(exc.message)}): nothing was sent, so nothing "
                           f"was created. Submit to try again; if it keeps failing, tell whoever runs the bot "
                           f"that it cannot reach {title}.",
                           headline=f"Could not create {self.subject(request, bold=False)}.")
        what = ("did not answer in time" if exc.message == "did not answer in time"
                else f"answered with an error of its own ({verbatim(exc.message.strip().rstrip('.'))})")
        name = self.look_up_name(request) if request is not None else None
        check = (f"Click *Look for it in {title}* to ask {title} whether it has one named "
                 f"*{escape(name)}*; submit again only if it has not." if name else self.who_can_check(request))
        return Failure(f"{title} {what}, so {subject} may or may not have been created. {check}",
                       headline="Maybe created.", icon=":warning:", look_up=name, maybe_created=True)


@functools.lru_cache(maxsize=1024)
def _layout(form: Form, paths: tuple[str, ...], before: int, rows: tuple[int, ...],
            model: type[BaseModel]) -> list[int | dict[str, Any]]:
    """``form.layout``, built once per set of inputs and row counts (every submission of a
    form reads the same): its headings and buttons are shared by the views built from it,
    which are sent, never edited."""
    return form.layout(paths, before, {"rows": dict(zip(form.rows, rows, strict=True))}, model)


@functools.cache
def _row_width(model: type[BaseModel], list_field: str) -> int:
    """How many input blocks one row of ``list_field`` takes."""
    return len(modal.model_inputs(modal.row_model(model, list_field)))


def _generic(block_id: str) -> str:
    return ".".join("N" if part.isdigit() else part for part in block_id.split("."))


def _input_named(inputs: list[Input], name: str) -> str | None:
    """The input for a provider's field name (``name``, ``credentials.password``, ``password``)."""
    name = name.replace("[", ".").replace("]", "")
    for inp in inputs:
        if inp.path == name or inp.path.endswith("." + name) or _generic(inp.path) == _generic(name):
            return inp.path
    return None


def _input_mentioned(inputs: list[Input], message: str) -> str | None:
    """The first input whose API name or label a provider's message mentions as a word
    ("invalid phone format" → ``phones.0.phone``; "displayName is duplicated" → ``displayName``)."""
    text = message.lower()
    for inp in inputs:
        last = inp.path.rsplit(".", 1)[-1]
        names = {last.lower(), humanize(last).lower(), inp.label.lower().split(" (")[0]}
        for name in names:
            if len(name) >= 3 and re.search(rf"(?<![a-z0-9_]){re.escape(name)}(?![a-z0-9_])", text):
                return inp.path
    return None


def masked(value: Any, key: str = "", secret_keys: frozenset[str] = frozenset()) -> Any:
    """``value`` with every secret replaced by dots (by key, and Yeastar's ``{"k", "v"}`` pairs)."""
    if isinstance(value, dict):
        if set(value) == {"k", "v"} and (SECRET_KEYS.search(str(value["k"])) or value["k"] in secret_keys):
            return {"k": value["k"], "v": MASK}
        return {k: MASK if (SECRET_KEYS.search(str(k)) or k in secret_keys) and not isinstance(v, (dict, list))
                else masked(v, str(k), secret_keys) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key, secret_keys) for v in value]
    return value


def progress_view(form: Form, meta: dict[str, Any]) -> dict[str, Any]:
    if meta.get("response_url"):  # a command's or a call button's response_url reaches that channel
        where = ("the call's channel" if meta.get("call")
                 else f"the channel where you typed `{form.command}`")
        after = f"You can close this window: the result will also be posted to you in {where}."
    else:  # opened from App Home (or a call's button): no channel to post the result to
        after = ("The result replaces this message. If you close the window, it is under "
                 "*Your recent actions* in this app's Home.")
    return modal.modal(form.callback_id, form.title, [
        modal.section(f":hourglass_flowing_sand: Creating… {TITLES[form.provider]} is taking a moment. "
                      f"{after}"),
    ], submit=None, metadata=_slim(meta), close="Close")


def result_view(form: Form, meta: dict[str, Any], outcome: Outcome, sent: dict[str, Any],
                prefill: dict[str, Any]) -> dict[str, Any]:
    """What was created, and the next steps: another like it, or a look at the request."""
    keep = {**_slim(meta), "prefill": prefill, "sent": sent}
    if len(json.dumps(keep, separators=(",", ":"))) > METADATA_ROOM:
        keep["sent"] = None  # "Show request" then says it was too long to keep
    if len(json.dumps(keep, separators=(",", ":"))) > METADATA_ROOM:
        keep["prefill"] = {}
    blocks = [modal.section(outcome.mrkdwn()),
              modal.actions("next", modal.button("Create another like this", "form.create_another",
                                                 primary=True),
                            modal.button("Show request", "form.show_request")),
              modal.context(f"Or close this window. `{form.command}` opens an empty form.")]
    return modal.modal(form.callback_id, form.title, blocks, submit=None, metadata=keep, close="Done")


def probably_created(form: Form, request: Any, exc: ProviderError, found: str | None = None) -> str:
    """A create accepted without its new ID: what is known, and no invitation to send it twice.
    ``found``: its ID, read back from the provider's list."""
    title = exc.provider_title
    if found:
        return (f":white_check_mark: *Created.* {title} accepted {form.subject(request)} without saying its "
                f"new ID; its list shows it with the ID {code(found)}.")
    again = (f"There is no need to submit it again: {title} would refuse the name, now taken."
             if form.duplicates_refused else "Do not submit it again: that would create a second one.")
    return (f":white_check_mark: *Probably created.* {title} accepted {form.subject(request)} but did not "
            f"say its new ID, so the bot cannot show it. {again} To learn its ID, ask someone who "
            f"manages your {title} account.")


def probably_created_view(form: Form, meta: dict[str, Any], text: str, sent: dict[str, Any]) -> dict[str, Any]:
    keep = {**_slim(meta), "sent": sent}
    if len(json.dumps(keep, separators=(",", ":"))) > METADATA_ROOM:
        keep["sent"] = None
    blocks = [modal.section(text), modal.actions("next", modal.button("Show request", "form.show_request")),
              modal.context(f"Close this window. `{form.command}` opens an empty form.")]
    return modal.modal(form.callback_id, form.title, blocks, submit=None, metadata=keep, close="Done")


def message_view(form: Form, meta: dict[str, Any], text: str) -> dict[str, Any]:
    return modal.modal(form.callback_id, form.title, [modal.section(text)], submit=None,
                       metadata=_slim(meta), close="Done")


def request_view(form: Form, sent: dict[str, Any] | None) -> dict[str, Any]:
    if sent is None:
        text = "The request was too long to keep in this window; the audit log has its outcome."
        blocks = [modal.section(text)]
    else:
        body = json.dumps(sent, indent=2, ensure_ascii=False)
        shown, cut = body, ""
        if len(body) > 2900:  # one section holds 3,000 characters: cut between lines, and say so
            shown = body[:2900].rpartition("\n")[0]
            cut = f"\n_The rest ({len(body) - len(shown):,} more characters) does not fit in this window._"
        blocks = [modal.section(f"The JSON body sent to {TITLES[form.provider]} (secrets masked):"),
                  modal.section(f"```{shown.replace('```', 'ˋˋˋ')}```{cut}")]
    return modal.modal("show_request", "Request sent", blocks, submit=None, close="Back")


def not_configured(provider: str) -> str:
    names = ", ".join(n.upper() for n in REQUIRED[provider])
    title = TITLES[provider]
    return (f"{title} isn't set up on this bot yet. Ask whoever runs the bot to set {names} "
            f"and restart it.")


def _slim(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata a next view needs (not the previous result's prefill or request)."""
    return {k: v for k, v in meta.items() if k not in ("prefill", "sent", "kept")}


def _with_state(inp: Input, state: dict[str, Any]) -> Input:
    """Keep what the user already typed when the view is re-rendered (never a secret)."""
    if inp.path not in state or inp.kind == "secret":
        return inp
    value = state[inp.path]
    if value in (None, "", []):
        return inp
    if inp.kind == "checkbox":
        return inp.with_initial(bool(value))
    if inp.kind == "external":
        return inp.with_initial((str(value), _option_label(inp, str(value))))
    if inp.kind == "multi_external":
        items = [value] if isinstance(value, str) else list(value)
        return inp.with_initial([(str(v), _option_label(inp, str(v))) for v in items])
    return inp.with_initial(value)


def _option_label(inp: Input, value: str) -> str:
    """The label of an external select's chosen option (its code when the list is not ours)."""
    if inp.source:
        found = [o for o in modal.SOURCES[inp.source](value) if o[0] == value]
        if found:
            return found[0][1]
    return value


def _secret_again(inp: Input) -> Input:
    if inp.kind != "secret":
        return inp
    return replace(inp, hint="Type it again: the bot never sends a secret back to Slack.")


# --- listeners ----------------------------------------------------------------------------


def register_form(app: AsyncApp, services: Services, form: Form) -> None:
    @app.command(form.command)
    async def open_form(ack: Any, command: dict[str, Any], client: Any) -> BoltResponse | None:
        text = command.get("text", "")
        answer = usage_answer(form.command, text, form.subcommands)
        if answer is not None:
            return _answer(answer)
        if services.provider(form.provider) is None:
            await ack(response_type="ephemeral", text=not_configured(form.provider))
            return None
        await ack()
        meta = {"response_url": command.get("response_url", ""),
                "channel_id": command.get("channel_id", ""),
                "sub": text.strip().lower().split(" ")[0] if text.strip() else ""}
        services.background.spawn(
            _open(services, client, command["trigger_id"], form.view(meta)), name="views.open")
        return None

    @app.view(form.callback_id)
    async def submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> BoltResponse | None:
        # Slack's 3 s run from the submission, so the claim below counts against the wait.
        answer_by = asyncio.get_running_loop().time() + ANSWER_WITHIN
        user = body["user"]["id"]
        meta = _slim(modal.parse_metadata(view))
        # The command's response_url serves this submission's line only: the views that
        # follow (kept form, result) no longer carry it, so "Try again" and "Create another"
        # never spend its five posts; their lines go by chat.postEphemeral.
        follow_up = FollowUp(str(meta.pop("response_url", "") or ""), str(meta.get("channel_id") or ""), user)
        state = modal.state_by_path(view)
        notices = _notices_chosen(state)
        if notices:
            await ack(response_action="errors", errors=notices)
            return None
        inputs = form.inputs(meta, state)
        built = modal.request_body(_untouched_rows_out(state, inputs, form.rows), modal.Layout.of(inputs),
                                   form.convert)
        try:
            request = form.validate(built.data, meta)
        except pydantic.ValidationError as exc:
            model = form.request_model(meta)
            known = [block_id for block_id in state]
            kinds = {inp.path: inp.kind for inp in inputs}
            labels = {inp.path: inp.label for inp in inputs}
            errors: dict[str, str] = {}

            def label(path: str) -> str | None:
                """The label of the input that shows ``path`` (or the first part of it)."""
                block_id = built.block_id(path, known, form.revealed_by)
                return labels.get(block_id) if block_id == path or block_id.startswith(path + ".") else None

            for path, sentence in field_errors(model, exc, label).items():
                block_id = built.block_id(path, known, form.revealed_by)
                if block_id == path or block_id not in errors:  # a field's own error before one placed on it
                    errors[block_id] = _line_named(path, block_id, kinds, sentence)
            await ack(response_action="errors", errors=errors)
            services.background.spawn(
                services.access.record(user, form.action, "invalid", detail=", ".join(
                    labels.get(block_id, block_id) for block_id in errors)),
                name="audit")
            return None
        if await _warned(services, form, user, view, state, built, inputs, request, ack):
            return None
        if services.provider(form.provider) is None:
            # Its settings went away since the form opened. Nothing can be created, so nothing
            # can be created twice: no claim, the kept form at once, its audit after.
            return _update(_not_configured_answer(services, form, follow_up, meta, state, inputs, request))
        key = f"{view['id']}:{int(meta.get('try') or 0)}"
        if not await services.store.claim_submission(key, user):
            log.info("submission.duplicate_ignored", view_id=view["id"])
            services.background.spawn(_show_first_outcome(services, key, view["id"]), name="views.update")
            return _update(progress_view(form, meta))
        attempt = Attempt(services, form, follow_up, key, view["id"], meta, state, inputs, request)
        attempt.view_hash = str(view.get("hash") or "")
        services.background.spawn(attempt.run(), name=form.action)
        try:
            left = max(0.0, answer_by - asyncio.get_running_loop().time())
            await asyncio.wait_for(attempt.ready.wait(), left)
        except TimeoutError:
            pass
        if attempt.answer is not None:
            answer = _update(attempt.answer)
        else:
            attempt.late = True
            answer = _update(progress_view(form, meta))
        attempt.acked.set()  # what follows (a views.update) goes after this answer: Bolt sends it next
        return answer


def _update(view: dict[str, Any]) -> BoltResponse:
    """A submission's answer: ``view`` replaces the modal."""
    return _answer({"response_action": "update", "view": view})


def _answer(body: dict[str, Any]) -> BoltResponse:
    """The HTTP answer to Slack. Returned by the listener (Bolt sends a listener's
    BoltResponse as it sends ack()'s) rather than given to ack(), which encodes it with
    ``json``: ~0.2 ms for a kept contact form, ~0.02 ms with orjson."""
    return BoltResponse(status=200, body=orjson.dumps(body).decode())


def _not_configured_answer(services: Services, form: Form, follow_up: FollowUp, meta: dict[str, Any],
                           state: dict[str, Any], inputs: list[Input], request: Any) -> dict[str, Any]:
    """The kept form saying what to configure; its audit and response_url line go after the answer."""
    failure = Failure(not_configured(form.provider))

    async def after() -> None:
        structlog.contextvars.bind_contextvars(action=form.action)
        await services.access.record(follow_up.user, form.action, "failed", detail="; ".join(
            filter(None, [form.describe(request), "not configured"])))
        await follow_up.send(services, f":x: Not created. {failure.sentence}")

    services.background.spawn(after(), name=form.action)
    return form.kept_view(meta, state, failure, inputs)


async def _warned(services: Services, form: Form, user: str, view: dict[str, Any], state: dict[str, Any],
                  built: modal.Body, inputs: list[Input], request: Any, ack: Any) -> bool:
    """Show the form's warnings under their fields, once per set of values: the same values
    submitted again go through. Answered as Slack's field errors, so the form keeps every
    value (secrets too) and the person changes a field or submits again; the store keeps the
    values seen (a hash, secrets left out), so any replica honours the second submit."""
    warnings = form.warnings(request)
    if not warnings:
        return False
    secret = {inp.path for inp in inputs if inp.kind == "secret"}
    seen = orjson.dumps({k: v for k, v in state.items() if k not in secret}, option=orjson.OPT_SORT_KEYS)
    key = f"warned:{view['id']}:{hashlib.sha256(seen).hexdigest()}"
    if not await services.store.claim_submission(key, user):
        return False
    kinds = {inp.path: inp.kind for inp in inputs}
    shown: dict[str, str] = {}
    for path, sentence in warnings.items():
        block_id = built.block_id(path, list(state), form.revealed_by)
        line = _line_named(path, block_id, kinds, sentence)
        shown[block_id] = f"{shown[block_id]} {line}" if block_id in shown else line
    await ack(response_action="errors", errors={
        block_id: f"⚠️ {text} {SUBMIT_ANYWAY}" for block_id, text in shown.items()})
    # Not an attempt (nothing was sent, nothing refused): logged, not audited.
    log.info("provisioning.warned", fields=sorted(shown))
    return True


#: What follows a warning: how to go on.
SUBMIT_ANYWAY = "Submit again as it is to create it anyway, or change it."


def _untouched_rows_out(state: dict[str, Any], inputs: list[Input], lists: dict[str, str]) -> dict[str, Any]:
    """The state without list rows that hold nothing but what the form chose for them (a
    phone row with only its "Mobile" type is an empty row, not a phone without a number)."""
    defaults = {inp.path: inp.initial for inp in inputs}
    rows: dict[str, list[str]] = {}
    for path in state:
        parts = path.split(".")
        if len(parts) >= 3 and parts[0] in lists and parts[1].isdigit():
            rows.setdefault(".".join(parts[:2]), []).append(path)
    untouched = {path for paths in rows.values()
                 if all(state[p] in (None, "", [], False) or state[p] == defaults.get(p) for p in paths)
                 for path in paths}
    return {path: value for path, value in state.items() if path not in untouched}


def _line_named(path: str, block_id: str, kinds: dict[str, Any], sentence: str) -> str:
    """In a one-value-per-line input, say which line: "Line 3: …"."""
    rest = path[len(block_id):].lstrip(".") if path.startswith(block_id) else ""
    index = rest.split(".", 1)[0]
    if kinds.get(block_id) in ("lines", "multiline") and index.isdigit():
        return f"Line {int(index) + 1}: {sentence}"
    return sentence


class Attempt:
    """One submission's call to the provider and its answer, inline or by views.update."""

    def __init__(self, services: Services, form: Form, follow_up: FollowUp, key: str, view_id: str,
                 meta: dict[str, Any], state: dict[str, Any], inputs: list[Input], request: Any) -> None:
        self.services, self.form, self.key, self.view_id = services, form, key, view_id
        self.follow_up, self.user = follow_up, follow_up.user
        self.meta, self.state, self.inputs, self.request = meta, state, inputs, request
        self.ready = asyncio.Event()  # the answer is known
        self.acked = asyncio.Event()  # the submission has been answered
        self.answer: dict[str, Any] | None = None
        self.late = False  # answered "Creating…": the outcome goes by views.update
        self.view_hash = ""  # the view's hash as submitted

    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(action=self.form.action)
        form, services = self.form, self.services
        outcome: Outcome | None = None
        resource_id = detail = None
        result = "failed"
        try:
            outcome = await form.create(services, self.request, self.meta)
        except CreatedWithoutIdError as exc:
            sent = masked(form.sent_body(self.request), secret_keys=self._secret_keys())
            resource_id = await self._looked_up()
            text = probably_created(form, self.request, exc, resource_id)
            self.answer = probably_created_view(form, self.meta, text, sent)
            line, result = text, "ok" if resource_id else "unconfirmed"
            detail = f"{type(exc).__name__}: {exc.message}"
        except ProviderError as exc:
            failure = form.provider_failure(exc, self.inputs, self.request)
            self.answer = form.kept_view(self.meta, self.state, failure, self.inputs)
            line = failure.line()
            detail = f"{type(exc).__name__}: {exc.message}"
        except Exception:
            log.exception("provisioning.unexpected_error")
            failure = Failure("Something went wrong inside the bot; the details are in its log. "
                              "Please tell whoever runs it.")
            self.answer = form.kept_view(self.meta, self.state, failure, self.inputs)
            line = f":x: Not created: {failure.sentence}"
            detail = "internal error"
        else:
            line, resource_id, result = outcome.line(), outcome.resource_id, "ok"
            try:  # before the answer: what the person sees next (a call's message) already knows it
                await form.after_create(services, self.request, outcome, self.meta)
            except Exception:
                log.exception("provisioning.after_create_failed")
            try:
                sent = masked(form.sent_body(self.request), secret_keys=self._secret_keys())
                self.answer = result_view(form, self.meta, outcome, sent, self._prefill())
            except Exception:  # created all the same: say so, without the next steps
                log.exception("provisioning.result_view_failed")
                self.answer = message_view(form, self.meta, outcome.mrkdwn())
        self.ready.set()
        if self.late:
            await self.acked.wait()
            await self._update_view(self.answer)
        await services.access.record(
            self.user, form.action, result, resource_id=resource_id,
            detail="; ".join(filter(None, [form.describe(self.request), detail])) or None)
        await services.store.finish_submission(self.key, "ok" if result == "ok" else "failed",
                                               json.dumps(self.answer))
        await self.follow_up.send(services, line)

    async def _looked_up(self) -> str | None:
        """The new ID from the provider's documented read, where the form has one (None: not found)."""
        name = self.form.look_up_name(self.request)
        if not name:
            return None
        try:
            return await self.form.look_up(self.services, name)
        except ProviderError as exc:
            log.info("provisioning.look_up_failed", error=type(exc).__name__)
            return None

    def _secret_keys(self) -> frozenset[str]:
        return frozenset(inp.path.rsplit(".", 1)[-1] for inp in self.inputs if inp.kind == "secret")

    def _prefill(self) -> dict[str, Any]:
        """What "Create another like this" fills in: everything but secrets and unique names."""
        kinds = {inp.path: inp.kind for inp in self.inputs}
        return {path: value for path, value in self.state.items()
                if value not in (None, "", []) and kinds.get(path) != "secret"
                and path not in self.form.unique}

    async def _update_view(self, view: dict[str, Any]) -> None:
        await update_after_answer(self.services, self.view_id, self.view_hash, view)


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

    @app.action("remove_row")
    async def remove_row(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        form = form_of(body)
        list_field, _, index = str(action.get("value", "")).rpartition(".")
        if form is None or list_field not in form.rows or not index.isdigit():
            return
        view = body["view"]
        meta = modal.parse_metadata(view)
        count = form.row_count(meta, list_field)
        meta["rows"] = {**(meta.get("rows") or {}), list_field: max(count - 1, 0)}
        state = _without_row(modal.state_by_path(view), list_field, int(index))
        services.background.spawn(_rerender(client, form, view, meta, state), name="views.update")

    @app.action("value")
    async def changed(ack: Any, body: dict[str, Any], client: Any) -> None:
        """An input with dispatch_action changed: show the fields that now apply."""
        await ack()
        form = form_of(body)
        if form is not None:
            view = body["view"]
            services.background.spawn(
                _rerender(client, form, view, modal.parse_metadata(view)), name="views.update")

    @app.action("form.create_another")
    async def create_another(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        form = form_of(body)
        if form is None:
            return
        view = body["view"]
        meta = modal.parse_metadata(view)
        prefill = meta.get("prefill") or {}
        fresh = {k: v for k, v in _slim(meta).items() if k != "rows"}
        fresh["try"] = int(meta.get("try") or 0) + 1  # a new attempt on the same view
        services.background.spawn(
            _replace(client, view, form.prefilled_view(prefill, fresh)), name="views.update")

    @app.action("form.show_request")
    async def show_request(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        form = form_of(body)
        if form is None:
            return
        sent = modal.parse_metadata(body["view"]).get("sent")
        services.background.spawn(_push(client, body["trigger_id"], request_view(form, sent)),
                                  name="views.push")

    @app.action("form.look_up")
    async def look_up(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        """"Look for it": ask the provider whether the create that may have happened did."""
        await ack()
        form = form_of(body)
        if form is not None:
            services.background.spawn(_look_up(services, client, form, body, str(action.get("value", ""))),
                                      name="form.look_up")

    @app.options("value")
    async def suggest(ack: Any, body: dict[str, Any]) -> None:
        form = form_of(body)
        options: list[modal.Option] = []
        if form is not None:
            try:
                # Slack shows nothing unless the answer comes within 3 seconds.
                options = await asyncio.wait_for(
                    form.options(services, body.get("block_id", ""), body.get("value", ""),
                                 modal.state_by_path(body.get("view") or {})), SUGGEST_WITHIN)
            except (TimeoutError, ProviderError) as exc:
                log.warning("modal.options_unavailable", error=type(exc).__name__)
                # Slack's list shows options only: the reason is one, never a valid choice.
                options = [(NOTICE, picker_notice(TITLES[form.provider], exc))]
        await ack(options=[modal.option_json(v, label) for v, label in options])


#: The value of the option that says why a picker has no options (it is refused if chosen).
NOTICE = "!notice"


def picker_notice(title: str, exc: BaseException) -> str:
    """Why a picker is empty, in an option's 75 characters: the provider's own words."""
    if isinstance(exc, TimeoutError | TimedOutError):  # Slack's 3 s, or the provider's own timeout
        return f"⚠ {title} did not answer in time: type again to retry"
    if isinstance(exc, AuthError):
        return f"⚠ {title} refused the bot's credentials: tell whoever runs it"
    words = exc.message.strip().rstrip(".") if isinstance(exc, ProviderError) else "no answer"
    text = f"⚠ {title}: {words}"
    return text if len(text) <= 75 else text[:74] + "…"


def _notices_chosen(state: dict[str, Any]) -> dict[str, str]:
    """Pickers whose chosen option is a notice: an inline error each, nothing sent."""
    return {block_id: "That was a notice, not a choice: the list could not be loaded. Choose again."
            for block_id, value in state.items()
            if value == NOTICE or (isinstance(value, list) and NOTICE in value)}


MAX_ROWS = 10
MAX_BLOCKS = 100  # Slack's limit for a modal
#: Blocks kept free for a failed attempt's sentences (top and at a field).
RESERVED_BLOCKS = 5
#: private_metadata holds at most 3,000 characters.
METADATA_ROOM = 2900


def _without_row(state: dict[str, Any], list_field: str, index: int) -> dict[str, Any]:
    """The state with row ``index`` of ``list_field`` taken out and the rows after it moved up."""
    out: dict[str, Any] = {}
    prefix = f"{list_field}."
    for path, value in state.items():
        if not path.startswith(prefix):
            out[path] = value
            continue
        row, _, rest = path[len(prefix):].partition(".")
        if not row.isdigit() or int(row) < index:
            out[path] = value
        elif int(row) > index:
            out[f"{prefix}{int(row) - 1}.{rest}"] = value
    return out


async def rerender_on_change(client: Any, form: Form, body: dict[str, Any]) -> None:
    view = body.get("view") or {}
    await _rerender(client, form, view, modal.parse_metadata(view))


async def _rerender(client: Any, form: Form, view: dict[str, Any], meta: dict[str, Any],
                    state: dict[str, Any] | None = None) -> None:
    state = modal.state_by_path(view) if state is None else state
    try:
        await client.views_update(view_id=view["id"], hash=view.get("hash"),
                                  view=form.view(meta, state))
    except SlackApiError as exc:
        # hash_conflict: the view changed meanwhile (another click); the newer one wins.
        log.info("views.update_skipped", error=exc.response.get("error"))


async def _replace(client: Any, view: dict[str, Any], new: dict[str, Any]) -> None:
    try:
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)
    except SlackApiError as exc:
        log.info("views.update_skipped", error=exc.response.get("error"))


async def _push(client: Any, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_push(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.info("views.push_failed", error=exc.response.get("error"))


async def _open(services: Services, client: Any, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("views.open_failed", error=exc.response.get("error"))


async def _look_up(services: Services, client: Any, form: Form, body: dict[str, Any], name: str) -> None:
    view = body["view"]
    meta, state = modal.parse_metadata(view), modal.state_by_path(view)
    title, subject = TITLES[form.provider], f"the {form.thing} *{verbatim(name)}*"
    try:
        found = await form.look_up(services, name)
    except ProviderError as exc:
        new = form.kept_view(meta, state, Failure(
            f"The bot could not ask {title} whether {subject} exists: {verbatim(exc.user_sentence())}",
            headline="Maybe created.", icon=":warning:", look_up=name, maybe_created=True))
    else:
        if found is not None:
            await services.access.record(body["user"]["id"], form.action, "found", resource_id=found,
                                         detail=name)
            new = message_view(form, meta, f":white_check_mark: *Created.* {title} has {subject} (ID "
                                           f"{code(found)}): your submission created it. Nothing more to do.")
        else:
            new = form.kept_view(meta, state, Failure(
                f"{title} has no {form.thing} named *{verbatim(name)}*: it was not created. "
                f"Submit to try again."))
    await _replace(client, view, new)


async def _show_first_outcome(services: Services, key: str, view_id: str) -> None:
    """A second click answered "Creating…" too, perhaps after the first's outcome was shown:
    once the first submission is done, its outcome goes back into the modal."""
    for _ in range(int(DUPLICATE_WAIT / 0.25)):
        found = await services.store.submission(key)
        if found is not None and found[0] != "started" and found[1]:
            try:
                await services.slack.views_update(view_id=view_id, view=json.loads(found[1]))
            except (SlackApiError, ValueError) as exc:
                log.info("views.update_failed", error=type(exc).__name__)
            return
        await asyncio.sleep(0.25)


@dataclass(frozen=True)
class FollowUp:
    """Where a submission's one-line outcome goes: the command's response_url the first
    time (Slack takes five posts on one), else an ephemeral message in the command's
    channel; nowhere when the form came from the App Home."""

    response_url: str
    channel: str
    user: str

    async def send(self, services: Services, text: str) -> None:
        if self.response_url:
            await respond_ephemeral(services, self.response_url, text)
        elif self.channel:
            try:
                await services.slack.chat_postEphemeral(channel=self.channel, user=self.user, text=text)
            except SlackApiError as exc:
                log.info("follow_up.failed", error=exc.response.get("error"))


async def respond_ephemeral(services: Services, url: str, text: str) -> None:
    """A line only the person sees, through a response_url; a failure is logged, not raised."""
    try:  # on the bot's Slack session: kept-alive connections, not a new session per line
        await AsyncWebhookClient(url, session=services.slack.session).send(
            text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log.info("response_url.failed", error=type(exc).__name__)
