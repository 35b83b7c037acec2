"""Reading an import's CSV and checking every row with the same form and models as the
modal: the header names fields by the form's block_ids (``firstName``, ``phones.0.phone``,
``credentials.password``), in any order; a cell is what a person would type in that input.
Each problem is told by row (numbered as a spreadsheet numbers it: the header is row 1) and
by the input's label. Nothing here reaches a provider."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from bot.providers.fields import field_errors
from bot.store.imports import NewRow
from handlers.forms import modal
from handlers.forms.modal import Input
from handlers.forms.provisioning import SECRET_KEYS, Form, _untouched_rows_out

#: The most rows one import takes.
MAX_ROWS = 5000
#: Rows checked between two turns of the event loop (other requests are answered meanwhile).
CHUNK = 100
TRUE = {"true", "yes", "y", "1", "on"}
FALSE = {"false", "no", "n", "0", "off"}

#: (label, key) pairs that must be unique within a file, for a row's request
Keys = Callable[[Any], list[tuple[str, str]]]


class FileProblem(Exception):
    """The file as a whole cannot be imported; the message says why, in one sentence."""


@dataclass(frozen=True)
class Problem:
    row_no: int
    label: str
    detail: str

    def __str__(self) -> str:
        return f"Row {self.row_no}, {self.label}: {self.detail}"


@dataclass
class Checked:
    total: int
    rows: list[NewRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def ready(self) -> int:
        return sum(1 for row in self.rows if row.state == "ready")


def read_table(content: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows (with their row numbers), blank rows left out."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem("The file is not UTF-8 text: save it as “CSV UTF-8” and pick it again.") from None
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FileProblem(f"The file is not a readable CSV ({exc}).") from None
    if not table or not any(cell.strip() for cell in table[0]):
        raise FileProblem("The file is empty: its first row must be the header (download the template).")
    header = [cell.strip() for cell in table[0]]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise FileProblem(f"The header names {', '.join(repeated)} more than once: each column once, please.")
    rows = [(number, cells) for number, cells in enumerate(table[1:], start=2) if any(c.strip() for c in cells)]
    if len(rows) > MAX_ROWS:
        raise FileProblem(f"The file has {len(rows):,} rows; an import takes at most {MAX_ROWS:,}. "
                          f"Split it into files of {MAX_ROWS:,} rows or fewer and import each.")
    if not rows:
        raise FileProblem("The file has a header but no rows to import.")
    return header, rows


def row_meta(form: Form, header: list[str]) -> dict[str, Any]:
    """The form's metadata for a file: as many list rows (phones, emails…) as the header names."""
    rows: dict[str, int] = dict.fromkeys(form.rows, 0)
    for column in header:
        parts = column.split(".")
        if len(parts) > 2 and parts[0] in form.rows and parts[1].isdigit():
            rows[parts[0]] = max(rows[parts[0]], int(parts[1]) + 1)
    return {"rows": rows}


async def check(form: Form, content: bytes, keys: Keys) -> Checked:
    """Every row validated as the form validates a submission; duplicates are problems too."""
    header, table = read_table(content)
    meta = row_meta(form, header)
    inputs = form.inputs(meta, {})
    by_path = {inp.path: inp for inp in inputs}
    known = [inp.path for inp in inputs]
    layout = modal.Layout.of(inputs)
    secret = {c for c in header if (c in by_path and by_path[c].kind == "secret") or SECRET_KEYS.search(c)}
    checked = Checked(len(table), unknown_columns=[c for c in header if c and c not in by_path])
    seen: dict[tuple[str, str], int] = {}
    # What the modal shows chosen before a person touches it (a phone's type "Mobile"), as a
    # submission of the untouched form carries it.
    defaults: dict[str, Any] = {inp.path: inp.initial for inp in inputs
                                if inp.kind == "select" and inp.initial is not None}
    defaults.update({inp.path: ["true"] for inp in inputs if inp.kind == "checkbox" and inp.initial})
    for done, (row_no, cells) in enumerate(table, start=1):
        values = dict(zip(header, (c.strip() for c in cells), strict=False))
        shown = {c: v for c, v in values.items() if c and c not in secret}
        problems, state = _state(values, by_path, row_no, defaults)
        request = None
        if not problems:
            state = _untouched_rows_out(state, inputs, form.rows)
            built = modal.request_body(state, layout, form.convert)
            try:
                request = form.validate(built.data, meta)
            except pydantic.ValidationError as exc:
                model = form.request_model(meta)
                for path, sentence in field_errors(model, exc).items():
                    block_id = built.block_id(path, known, form.revealed_by)
                    problems.append(_problem(row_no, by_path.get(block_id), sentence))
        if request is not None:
            for label, key in keys(request):
                first = seen.setdefault((label, key), row_no)
                if first != row_no:
                    problems.append(Problem(row_no, label, f"{key} is also on row {first}."))
        if problems or request is None:
            checked.problems += problems
            checked.rows.append(NewRow(row_no, "invalid", shown, error=" ".join(
                f"{p.label}: {p.detail}" for p in problems)))
        else:
            public = {path: value for path, value in state.items() if path not in secret}
            data = modal.request_body(public, layout, form.convert).data
            checked.rows.append(NewRow(row_no, "ready", shown, form.describe(request), data,
                                       {path: state[path] for path in state if path in secret} or None))
        if done % CHUNK == 0:
            await asyncio.sleep(0)
    return checked


def _state(values: dict[str, str], by_path: dict[str, Input], row_no: int,
           defaults: dict[str, Any]) -> tuple[list[Problem], dict[str, Any]]:
    """The cells as the form's inputs would hold them (``{block_id: value}``)."""
    problems: list[Problem] = []
    state: dict[str, Any] = dict(defaults)
    for column, value in values.items():
        inp = by_path.get(column)
        if inp is None or value == "":
            continue
        if inp.kind == "checkbox":
            if value.lower() not in TRUE | FALSE:
                problems.append(Problem(row_no, inp.label, f'must be true or false, not "{value}".'))
                continue
            state[column] = ["true"] if value.lower() in TRUE else []
        elif inp.kind in ("multiselect", "multi_external"):
            state[column] = [_option(inp, v.strip()) for v in value.replace(";", ",").split(",") if v.strip()]
        elif inp.kind == "select":
            state[column] = _option(inp, value)
        else:
            state[column] = value
    return problems, state


def _option(inp: Input, value: str) -> str:
    """An option by its value or its label, as a person may write either."""
    lowered = value.lower()
    for option_value, label in inp.options:
        if lowered in (option_value.lower(), label.lower()):
            return option_value
    return value


def _problem(row_no: int, inp: Input | None, sentence: str) -> Problem:
    if inp is None:
        return Problem(row_no, "Row", sentence)
    label = inp.label.split(" (")[0]
    for title in (inp.label, label):
        if sentence.lower().startswith(title.lower() + " "):
            return Problem(row_no, label, sentence[len(title) + 1:])
    return Problem(row_no, label, sentence)


def template(header: list[str], example: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow([example.get(column, "") for column in header])
    return out.getvalue()
