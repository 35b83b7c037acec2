"""/contact import and /sip-endpoint import (and App Home's "Import … from CSV"): the CSV
import modal.

pick a file (``file_input``, one CSV) → "Check file": the bot reads it (url_private, with
its token) and checks every row with the form's own models → the preview: how many rows
are ready, each problem by row and field, unknown columns → "Import N rows" starts the job
(``bot/imports/runner.py`` runs it; its progress and result go to the channel). Nothing is
sent to a provider before "Import". A checked file waits in the store as a draft, deleted
when the modal is closed (with any passwords it holds) or after an hour.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError

from bot.imports.progress import CANCEL
from bot.imports.runner import CannotCheck, ImportRunner
from bot.mrkdwn import escape
from bot.services import Services
from bot.store.imports import ImportStore
from handlers.forms import csv_rows, modal
from handlers.forms.provisioning import TITLES, Form, Outcome, _answer, _open, _push, not_configured

log = structlog.get_logger(__name__)

#: The largest file read (5,000 rows of a dozen columns are well under it).
MAX_BYTES = 10 * 1024 * 1024
#: The problems the preview lists; the rest are counted (and all are in the result file).
SHOWN_PROBLEMS = 20
FILE = "file"
CHANNEL = "channel"
TEMPLATE = "import.template"
PICK_AGAIN = "import.pick_again"
HOME_IMPORT = "home.import."


class Clicks(Protocol):
    """Who may click, and the answer only the clicker sees: the console's
    (``handlers/calls/clicks.py``, which answers a click on the App Home there), handed in
    by ``handlers.register_all`` so that the forms never reach up into the console."""

    async def may_provision(self, services: Services, body: dict[str, Any], action: str) -> bool: ...

    async def tell(self, services: Services, body: dict[str, Any], text: str) -> None: ...


@dataclass
class CsvImport:
    """One kind of import: the form whose fields and models it uses, and its provider calls."""

    form: Form
    noun: str
    plural: str
    example: dict[str, str]
    keys: csv_rows.Keys
    make: Callable[[Services, Any], Any]  # the create: → the new ID (awaitable)
    look_up: Callable[[Services, Any], Any] | None  # a lost create's ID or None (awaitable); None: no read

    @property
    def name(self) -> str:
        return self.form.callback_id

    @property
    def callback_id(self) -> str:
        return f"{self.form.callback_id}_import"

    @property
    def provider(self) -> str:
        return self.form.provider

    @property
    def command(self) -> str:
        return f"{self.form.command} import"

    @property
    def secret_columns(self) -> tuple[str, ...]:
        return tuple(inp.path for inp in self.form.inputs({}, {}) if inp.kind == "secret")

    # --- ImportKind, for the runner -------------------------------------------------------

    def validate(self, data: dict[str, Any]) -> Any:
        return self.form.validate(data, {})

    async def create(self, services: Services, request: Any) -> str:
        return str(await self.make(services, request))

    async def find(self, services: Services, request: Any) -> str | None:
        if self.look_up is None:
            raise CannotCheck
        found = await self.look_up(services, request)
        return None if found is None else str(found)

    def template(self) -> str:
        return csv_rows.template(list(self.example), self.example)


# --- the two imports ------------------------------------------------------------------------------


def contact_import(form: Form) -> CsvImport:
    async def make(services: Services, request: Any) -> str:
        outcome: Outcome = await form.create(services, request, {})
        try:  # calls from these numbers show the contact's name, as after the form
            await form.after_create(services, request, outcome, {})
        except Exception:
            log.exception("imports.after_create_failed")
        return outcome.resource_id

    return CsvImport(
        form, "contact", "contacts",
        {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines", "jobTitle": "Engineer",
         "phones.0.phone": "+85294667788", "phones.0.type": "Mobile", "emails.0.email": "ada@example.com",
         "emails.0.type": "Work", "type": "Lead", "level": "Primary", "language": "en"},
        lambda request: [("Phone number", phone.phone) for phone in request.phones],
        make, None)


def sip_endpoint_import(form: Form) -> CsvImport:
    async def make(services: Services, request: Any) -> str:
        assert services.bandwidth is not None
        domain_id, endpoint = request
        return (await services.bandwidth.create_endpoint(domain_id, endpoint, read_back=False)).id

    async def look_up(services: Services, request: Any) -> str | None:
        assert services.bandwidth is not None
        domain_id, endpoint = request
        found = await services.bandwidth.find_endpoint(domain_id, endpoint.name)
        return None if found is None else found.id

    domain = getattr(form, "default_domain", None) or "your-domain-id"
    return CsvImport(
        form, "SIP endpoint", "SIP endpoints",
        {"domainId": domain, "name": "jsmith_mobile", "description": "John Smith's mobile",
         "credentials.password": "change-me-123", "enabled": "true"},
        lambda request: [("Endpoint name", f"{request[1].name} (domain {request[0]})")],
        make, look_up)


IMPORTS: dict[str, Callable[[Form], CsvImport]] = {"contact": contact_import,
                                                   "sip_endpoint": sip_endpoint_import}


# --- views ------------------------------------------------------------------------------------------


def pick_view(spec: CsvImport, meta: dict[str, Any], notice: str | None = None) -> dict[str, Any]:
    blocks = []
    if notice:
        blocks.append(modal.section(f":warning: {escape(notice)}"))
    columns = ", ".join(f"`{c}`" for c in list(spec.example)[:4])
    blocks += [
        modal.section(f"Pick a CSV file of {spec.plural}, one per row. Nothing is created until you have "
                      f"seen the check and clicked *Import*."),
        modal.actions("template", modal.button("Download a template", TEMPLATE, spec.callback_id)),
        modal.context(f"The header names the fields as the form does ({columns} …); columns in any "
                      f"order; up to {csv_rows.MAX_ROWS:,} rows."),
    ]
    if not meta.get("channel_id"):
        blocks.append({"type": "input", "block_id": CHANNEL, "label": modal.plain("Post the progress in"),
                       "element": {"type": "conversations_select", "action_id": "value",
                                   "filter": {"include": ["public", "private"], "exclude_bot_users": True}}})
    blocks.append({"type": "input", "block_id": FILE, "label": modal.plain("CSV file"),
                   "element": {"type": "file_input", "action_id": "value", "filetypes": ["csv"],
                               "max_files": 1}})
    return modal.modal(spec.callback_id, f"Import {spec.plural}", blocks, submit="Check file",
                       metadata={**meta, "stage": "pick"})


def preview_view(spec: CsvImport, file_name: str, checked: csv_rows.Checked,
                 meta: dict[str, Any]) -> dict[str, Any]:
    ready, problems = checked.ready, checked.problems
    rows_word = "row" if checked.total == 1 else "rows"
    blocks = [modal.section(f"*{escape(file_name)}*: {checked.total:,} {rows_word} checked.")]
    if ready:
        blocks.append(modal.section(f":white_check_mark: *{ready:,} {spec.plural if ready != 1 else spec.noun} "
                                    f"ready to import.*"))
    else:
        blocks.append(modal.section(":x: *Nothing to import*: no row is valid. Fix the file and pick it "
                                    "again."))
    if problems:
        bad = len({p.row_no for p in problems})
        blocks.append(modal.section(f":warning: *{bad:,} {'row has' if bad == 1 else 'rows have'} problems* "
                                    f"and will not be imported:"))
        lines = [escape(str(p)) for p in problems[:SHOWN_PROBLEMS]]
        blocks += [modal.section(text) for text in _chunks(lines)]
        if len(problems) > SHOWN_PROBLEMS:
            blocks.append(modal.context(f"…and {len(problems) - SHOWN_PROBLEMS:,} more problems. The result "
                                        f"file lists every row."))
    if checked.unknown_columns:
        names = ", ".join(f"`{escape(c)}`" for c in checked.unknown_columns)
        blocks.append(modal.context(f"Unknown columns, ignored: {names}. The template shows the known ones."))
    blocks += [modal.context("Rows are numbered as in a spreadsheet: the header is row 1."),
               modal.actions("again", modal.button("Pick another file", PICK_AGAIN, spec.callback_id))]
    view = modal.modal(spec.callback_id, f"Import {spec.plural}", blocks,
                       submit=f"Import {ready:,} rows" if ready else None,
                       metadata={**meta, "stage": "preview"}, close="Cancel")
    view["notify_on_close"] = True  # a draft not started is deleted at once
    return view


def message_view(spec: CsvImport, text: str, meta: dict[str, Any]) -> dict[str, Any]:
    return modal.modal(spec.callback_id, f"Import {spec.plural}", [
        modal.section(text), modal.actions("again", modal.button("Pick another file", PICK_AGAIN,
                                                                 spec.callback_id))],
        submit=None, metadata={**meta, "stage": "message"}, close="Close")


def started_view(spec: CsvImport, ready: int, channel_id: str, rate: float | None) -> dict[str, Any]:
    title = TITLES[spec.provider]
    pace = (f"at {title}'s pace (about {rate:g} per second, so about {_minutes(ready / rate)})" if rate
            else f"one at a time, as fast as {title} answers")
    return modal.modal(spec.callback_id, f"Import {spec.plural}", [
        modal.section(f":rocket: *Import started*: {ready:,} {spec.plural if ready != 1 else spec.noun}, "
                      f"{pace}."),
        modal.context(f"Progress, a Cancel button and then the result file are in <#{channel_id}>. You can "
                      f"close this window."),
    ], submit=None, metadata={"stage": "started"}, close="Done")


def template_view(spec: CsvImport) -> dict[str, Any]:
    return modal.modal("import_template", "CSV template", [
        modal.section(f"Copy this into a file named `{spec.name}s.csv` (one {spec.noun} per row, the "
                      f"header first), or into a spreadsheet saved as CSV UTF-8:"),
        modal.section(f"```{spec.template()}```"),
        modal.context(f"Other fields of `{spec.form.command}`'s form work too: name the column as its field "
                      f"(e.g. `phones.1.phone` for a second phone)."),
    ], submit=None, close="Back")


def _chunks(lines: list[str], size: int = 2900) -> list[str]:
    out, current = [], ""
    for line in lines:
        if current and len(current) + len(line) + 1 > size:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return out + ([current] if current else [])


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} minute{'s' if round(seconds / 60) > 1 else ''}"


# --- listeners ------------------------------------------------------------------------------------


def register_command(app: AsyncApp, services: Services, form: Form) -> None:
    """``<command> import``: registered before the form's own command listener (Bolt runs
    the first that matches)."""
    spec = IMPORTS[form.callback_id](form)

    async def is_import(body: dict[str, Any]) -> bool:
        return (body.get("text") or "").strip().lower().split(" ")[0] == "import"

    @app.command(form.command, matchers=[is_import])
    async def open_import(ack: Any, command: dict[str, Any], client: Any) -> BoltResponse | None:
        if services.provider(spec.provider) is None:
            return _answer({"response_type": "ephemeral", "text": not_configured(spec.provider)})
        await ack()
        meta = {"channel_id": command.get("channel_id", ""), "response_url": command.get("response_url", "")}
        services.background.spawn(_open(services, client, command["trigger_id"], pick_view(spec, meta)),
                                  name="views.open")
        return None


def register(app: AsyncApp, services: Services, forms: list[Form], clicks: Clicks) -> None:
    specs = {spec.callback_id: spec for spec in (IMPORTS[f.callback_id](f) for f in forms
                                                    if f.callback_id in IMPORTS)}
    runner = ImportRunner(services, {spec.name: spec for spec in specs.values()})
    services.imports = runner
    store = runner.store

    for callback_id in specs:
        app.view(callback_id)(_submission(services, specs, store))
        app.view_closed(callback_id)(_closed(services, store))

    @app.action(TEMPLATE)
    async def template(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        spec = specs.get(str(action.get("value")))
        if spec is None:
            return
        services.background.spawn(_push(client, body["trigger_id"], template_view(spec)), name="views.push")
        channel = modal.parse_metadata(body.get("view") or {}).get("channel_id")
        if channel:  # also where the command was typed, to copy after the modal is closed
            services.background.spawn(_template_message(client, str(channel), body["user"]["id"], spec),
                                      name="chat.postEphemeral")

    @app.action(PICK_AGAIN)
    async def pick_again(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        spec, view = specs.get(str(action.get("value"))), body.get("view") or {}
        if spec is None:
            return
        meta = modal.parse_metadata(view)
        if meta.get("job"):
            services.background.spawn(store.drop_draft(str(meta["job"])), name="imports.drop_draft")
        fresh: dict[str, Any] = {k: meta[k] for k in ("channel_id", "response_url") if k in meta}
        services.background.spawn(_update(client, view["id"], pick_view(spec, fresh)), name="views.update")

    @app.action(re.compile(re.escape(HOME_IMPORT) + ".+"))
    async def from_home(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        spec = specs.get(str(action.get("action_id", "")).removeprefix(HOME_IMPORT))
        if spec is not None:
            services.background.spawn(_open_from_home(services, clicks, spec, body, client), name="views.open")

    @app.action(CANCEL)
    async def cancel(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        services.background.spawn(_cancel(services, store, clicks, body, str(action.get("value", ""))),
                                  name="imports.cancel")


def _submission(services: Services, specs: dict[str, CsvImport], store: ImportStore) -> Callable[..., Any]:
    async def submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> BoltResponse | None:
        spec = specs[view["callback_id"]]
        meta = modal.parse_metadata(view)
        user = body["user"]["id"]
        if meta.get("stage") == "preview":
            return await _start(services, store, spec, view, meta, user)
        values = (view.get("state") or {}).get("values") or {}
        files = ((values.get(FILE) or {}).get("value") or {}).get("files") or []
        channel = meta.get("channel_id") or ((values.get(CHANNEL) or {}).get("value") or {}).get(
            "selected_conversation")
        if not files:
            return _answer({"response_action": "errors", "errors": {FILE: "Choose a CSV file."}})
        if not channel:
            return _answer({"response_action": "errors",
                            "errors": {CHANNEL: "Choose where to post the progress."}})
        meta = {**meta, "channel_id": channel}
        file = files[0]
        services.background.spawn(_check_file(services, store, spec, view["id"], user, file, meta),
                                  name="imports.check")
        reading = modal.modal(spec.callback_id, f"Import {spec.plural}", [modal.section(
            f":hourglass_flowing_sand: Checking every row of *{escape(str(file.get('name', 'the file')))}*…")],
            submit=None, metadata={**meta, "stage": "checking"}, close="Cancel")
        return _answer({"response_action": "update", "view": reading})

    return submit


async def _start(services: Services, store: ImportStore, spec: CsvImport, view: dict[str, Any],
                 meta: dict[str, Any], user: str) -> BoltResponse:
    job_id = str(meta.get("job") or "")
    if services.provider(spec.provider) is None:
        answer = message_view(spec, escape(not_configured(spec.provider)), meta)
    elif job_id and await store.start(job_id, user, time.time()):
        assert services.imports is not None
        services.imports.wake()
        audit = services.access.record(user, f"{spec.name}.import", "started", resource_id=job_id,
                                       detail=str(meta.get("file_name", "")))
        services.background.spawn(audit, name="audit")
        rate = services.imports.pacer.rates.get(spec.provider)
        answer = started_view(spec, int(meta.get("ready") or 0), str(meta["channel_id"]), rate)
    else:
        answer = message_view(spec, "This check has expired or its import was already started: pick the "
                                    "file again to import it.", meta)
    return _answer({"response_action": "update", "view": answer})


async def _check_file(services: Services, store: ImportStore, spec: CsvImport, view_id: str, user: str,
                      file: dict[str, Any], meta: dict[str, Any]) -> None:
    name = str(file.get("name") or "file.csv")
    meta = {k: v for k, v in meta.items() if k in ("channel_id", "response_url")}
    try:
        content = await _download(services, file)
        checked = await csv_rows.check(spec.form, content, spec.keys)
    except csv_rows.FileProblem as exc:
        await _update(services.slack, view_id, message_view(spec, escape(str(exc)), meta))
        return
    job_id = ""
    if checked.ready:
        job_id = str(uuid.uuid4())
        await store.add_draft(job_id, kind=spec.name, user_id=user, channel_id=str(meta["channel_id"]),
                              file_name=name, rows=checked.rows, now=time.time())
    preview = preview_view(spec, name, checked, {**meta, "job": job_id, "ready": checked.ready,
                                                 "file_name": name[:200]})
    if not await _update(services.slack, view_id, preview) and job_id:
        await store.drop_draft(job_id)  # the modal is gone: nobody can start it


async def _download(services: Services, file: dict[str, Any]) -> bytes:
    if file.get("filetype") not in (None, "csv", "text") or int(file.get("size") or 0) > MAX_BYTES:
        raise csv_rows.FileProblem(f"Pick a CSV file of at most {MAX_BYTES // 1024**2} MB.")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    headers = {"Authorization": f"Bearer {services.slack.token}"}
    session = services.slack.session
    assert session is not None  # the bot's Slack client always has its session
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status != 200:
                raise csv_rows.FileProblem(
                    f"Slack did not let the bot read the file (HTTP {resp.status}). Ask whoever runs the bot "
                    f"to give the app the files:read scope (see its manifest) and reinstall it.")
            chunks: list[bytes] = []
            async for chunk in resp.content.iter_chunked(64 * 1024):
                chunks.append(chunk)
                if sum(map(len, chunks)) > MAX_BYTES:
                    break
            content = b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise csv_rows.FileProblem(f"The bot could not read the file from Slack ({type(exc).__name__}); "
                                   f"try again.") from None
    if len(content) > MAX_BYTES:
        raise csv_rows.FileProblem(f"Pick a CSV file of at most {MAX_BYTES // 1024**2} MB.")
    return content


def _closed(services: Services, store: ImportStore) -> Callable[..., Any]:
    async def closed(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        job_id = modal.parse_metadata(view).get("job")
        if job_id:
            services.background.spawn(store.drop_draft(str(job_id)), name="imports.drop_draft")

    return closed


async def _cancel(services: Services, store: ImportStore, clicks: Clicks, body: dict[str, Any],
                  job_id: str) -> None:
    job = await store.job(job_id)
    if job is None or not await clicks.may_provision(services, body, f"{job.kind}.import"):
        return
    if await store.request_cancel(job_id, body["user"]["id"]):
        await services.access.record(body["user"]["id"], f"{job.kind}.import", "cancelled", resource_id=job_id)
        return
    await clicks.tell(services, body, "This import has already finished or is being cancelled.")


async def _open_from_home(services: Services, clicks: Clicks, spec: CsvImport, body: dict[str, Any],
                          client: Any) -> None:
    if not await clicks.may_provision(services, body, f"{spec.name}.import"):
        return
    if services.provider(spec.provider) is None:
        await clicks.tell(services, body, not_configured(spec.provider))
        return
    await _open(services, client, body["trigger_id"], pick_view(spec, {"channel_id": "", "response_url": ""}))


async def _template_message(client: Any, channel: str, user: str, spec: CsvImport) -> None:
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=(
            f"A template for `{spec.command}` (save it as a .csv file, one {spec.noun} per row):\n"
            f"```{spec.template()}```"))
    except SlackApiError as exc:
        log.info("chat.postEphemeral_failed", error=exc.response.get("error"))


async def _update(client: Any, view_id: str, view: dict[str, Any]) -> bool:
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.info("views.update_failed", error=exc.response.get("error"))
        return False
    return True
