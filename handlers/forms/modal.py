"""Modals derived from the provider models.

One walk over a pydantic model gives its input blocks: the block_id is the API field's
dotted path (``firstName``, ``phones.0.phone``, ``credentials.password``), the label is the
field's ``title``, the element follows the type (Literal → select, list of Literal →
multi-select, int → number, date → datepicker, SecretStr → a text input whose value is never
echoed back). The reverse walk turns ``view.state.values`` into the request body the model
validates, so a field is written once: in the model.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import pycountry
from annotated_types import MaxLen
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.providers import fields as provider_fields

Kind = Literal[
    "text", "multiline", "secret", "select", "multiselect", "number", "date", "checkbox",
    "external", "multi_external", "lines", "email", "url", "time", "datetime",
]
Option = tuple[str, str]  # (value, label)


@dataclass(frozen=True)
class Input:
    """One input block of a modal."""

    path: str
    label: str
    kind: Kind = "text"
    optional: bool = False
    hint: str | None = None
    options: tuple[Option, ...] = ()
    initial: Any = None
    max_length: int | None = None
    placeholder: str | None = None
    dispatch: bool = False  # tell the bot at once when it changes (conditional fields)
    min_query_length: int = 0
    source: str | None = None  # external selects: which list feeds them (see SOURCES)

    def with_initial(self, initial: Any) -> Input:
        """This input showing ``initial``: ``dataclasses.replace`` (every field but the value
        kept) at a sixth of its cost, as a submission's answer gives each filled input its
        value. (Input has no ``__post_init__`` to run.)"""
        copied = object.__new__(Input)
        copied.__dict__.update(self.__dict__, initial=initial)
        return copied


# --- options ------------------------------------------------------------------------------

ALL = ("*", "* — all")


#: Regional and other language tags people often need that ISO 639-1 alone lacks.
COMMON_TAGS: tuple[Option, ...] = (
    ("zh-TW", "Chinese, Taiwan (zh-TW)"), ("zh-HK", "Chinese, Hong Kong (zh-HK)"),
    ("zh-CN", "Chinese, Mainland China (zh-CN)"), ("yue", "Cantonese (yue)"),
    ("en-US", "English, United States (en-US)"), ("en-GB", "English, United Kingdom (en-GB)"),
    ("pt-BR", "Portuguese, Brazil (pt-BR)"), ("es-MX", "Spanish, Mexico (es-MX)"),
    ("fr-CA", "French, Canada (fr-CA)"),
)


@functools.cache
def language_options() -> tuple[Option, ...]:
    langs = [(lang.alpha_2, f"{lang.name} ({lang.alpha_2})")
             for lang in pycountry.languages if hasattr(lang, "alpha_2")]
    return tuple(sorted(langs, key=lambda o: o[1]))


@functools.cache
def language_tag_options() -> tuple[Option, ...]:
    return tuple(sorted(language_options() + COMMON_TAGS, key=lambda o: o[1]))


@functools.cache
def country_options() -> tuple[Option, ...]:
    return tuple(sorted(((c.alpha_2, f"{c.name} ({c.alpha_2})") for c in pycountry.countries),
                        key=lambda o: o[1]))


@functools.cache
def subdivision_options() -> tuple[Option, ...]:
    return tuple(sorted(((s.code, f"{s.name}, {s.country_code} ({s.code})") for s in pycountry.subdivisions),
                        key=lambda o: o[1]))


def search(options: Iterable[Option], query: str, limit: int = 100) -> list[Option]:
    """Options whose code equals or whose label contains ``query``, best first: the exact
    code or name, then names starting with it ("califor" → California), then names with a
    word starting with it (Baja California), then the rest; each group in its own order."""
    q = query.strip().lower()
    if not q:
        return list(options)[:limit]
    ranked = sorted(((rank, i, o) for i, o in enumerate(options) if (rank := _rank(o, q)) is not None))
    return [o for _, _, o in ranked][:limit]


def _rank(option: Option, q: str) -> int | None:
    """How well ``option`` matches the lower-case query ``q`` (0 best), None when not at all."""
    code, label = option[0].lower(), option[1].lower()
    name = label.split(" (", 1)[0].split(",", 1)[0]  # "California, US (US-CA)" → "california"
    if q in (code, name):
        return 0
    if name.startswith(q):
        return 1
    if q not in label:
        return None
    return 2 if any(word.startswith(q) for word in label.split()) else 3


def search_all(query: str, *lists: Iterable[Option], limit: int = 100) -> list[Option]:
    """``search`` over several lists at once, ranked together (a state's exact name before
    a country that merely contains it)."""
    q = query.strip().lower()
    found = [o for options in lists for o in search(options, query, limit)]
    if not q:
        return found[:limit]
    return sorted(found, key=lambda o: _rank(o, q) or 0)[:limit]


def _with_all(found: list[Option], query: str) -> list[Option]:
    q = query.strip().lower()
    return [ALL, *found][:100] if q in ("", "*") or "all".startswith(q) else found


def _or_as_typed(found: list[Option], query: str, check: Callable[[str], str]) -> list[Option]:
    """``found``, and the query itself when it is a code the document allows that the list
    lacks (``yue``, ``US+CA``): a person can always choose what they typed."""
    typed = query.strip()
    if typed in ("", "*") or any(value.lower() == typed.lower() for value, _ in found):
        return found
    try:
        check(typed)
    except ValueError:
        return found
    # After what the name matches outright or begins with ("eng" → English), before the rest.
    q = typed.lower()
    strong = sum(1 for option in found if (rank := _rank(option, q)) is not None and rank <= 1)
    return [*found[:strong], (typed, f"{typed} (as typed)"), *found[strong:]][:100]


# External selects keep views small (Slack sends the whole view back on every action) and
# let people type to search 180 languages, 250 countries and 5,000 states.
SOURCES: dict[str, Callable[[str], list[Option]]] = {
    "languages": lambda q: search(language_options(), q),
    "languages_or_all": lambda q: _with_all(_or_as_typed(
        search(language_tag_options(), q), q, provider_fields.language_tag), q),
    "countries": lambda q: search(country_options(), q),
    "locations_or_all": lambda q: _with_all(_or_as_typed(
        search_all(q, country_options(), subdivision_options()) if q.strip() else search(country_options(), q),
        q, provider_fields.location), q),
}


# --- model → inputs -------------------------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner annotation, allows None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = args[0] if len(args) == 1 else annotation
        return inner, True
    return annotation, False


def _validators(annotation: Any) -> list[Callable[..., Any]]:
    found = (getattr(m, "func", None) for m in getattr(annotation, "__metadata__", ()))
    return [func for func in found if func is not None]


def _max_length(info: FieldInfo, annotation: Any) -> int | None:
    for meta in list(info.metadata) + list(getattr(annotation, "__metadata__", ())):
        if isinstance(meta, MaxLen):
            return meta.max_length
        inner = getattr(meta, "metadata", None)
        if inner:
            for m in inner:
                if isinstance(m, MaxLen):
                    return m.max_length
    return None


def _literal_options(annotation: Any) -> tuple[Option, ...] | None:
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    if typing.get_origin(base) is Literal:
        return tuple((str(v), provider_fields.option_words(str(v))) for v in typing.get_args(base))
    return None


def model_inputs(model: type[BaseModel], prefix: str = "", *, skip: Iterable[str] = ()) -> list[Input]:
    """The input blocks for ``model``'s scalar fields and nested objects (not list-of-object
    rows: those come from ``row_inputs``)."""
    return list(_model_inputs(model, prefix, frozenset(skip)))


@functools.cache
def _model_inputs(model: type[BaseModel], prefix: str, skipped: frozenset[str]) -> tuple[Input, ...]:
    out: list[Input] = []
    for name, info in model.model_fields.items():
        api_name = info.alias or name
        path = prefix + api_name
        if api_name in skipped or path in skipped:
            continue
        annotation, nullable = _unwrap(info.annotation)
        optional = nullable or not info.is_required()
        label = info.title or api_name
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _model_inputs(annotation, path + ".", frozenset())
            continue
        if typing.get_origin(annotation) is list:
            (item,) = typing.get_args(annotation)
            if isinstance(item, type) and issubclass(item, BaseModel):
                continue  # rows
            options = _literal_options(item)
            validators = _validators(item)
            if options:
                kind: Kind = "multiselect"
            elif provider_fields.language_code in validators:
                out.append(Input(path, label, "multi_external", optional, info.description,
                                 source="languages"))
                continue
            elif provider_fields.country_code in validators:
                out.append(Input(path, label, "multi_external", optional, info.description,
                                 source="countries"))
                continue
            else:
                kind, options = "lines", ()
            out.append(Input(path, label, kind, optional, info.description, options or ()))
            continue
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if annotation is SecretStr or extra.get("secret"):
            out.append(Input(path, label, "secret", optional, info.description,
                             max_length=_max_length(info, annotation)))
        elif (options := _literal_options(annotation)) is not None:
            out.append(Input(path, label, "select", optional, info.description, options,
                             initial=default))
        elif annotation is bool:
            out.append(Input(path, label, "checkbox", True, info.description,
                             (("true", label),), initial=bool(default)))
        elif annotation is int:
            out.append(Input(path, label, "number", optional, info.description, initial=default))
        elif annotation is dt.date:
            out.append(Input(path, label, "date", optional, info.description))
        else:
            validators = _validators(annotation)
            if provider_fields.language_code in validators:
                out.append(Input(path, label, "external", optional, info.description, source="languages"))
            elif provider_fields.country_code in validators:
                out.append(Input(path, label, "external", optional, info.description, source="countries"))
            else:
                kind = "multiline" if extra.get("multiline") else "text"
                out.append(Input(path, label, kind, optional, info.description,
                                 max_length=_max_length(info, annotation),
                                 placeholder=str(extra["placeholder"]) if "placeholder" in extra else None))
    return tuple(out)


def row_model(model: type[BaseModel], list_field: str) -> type[BaseModel]:
    """The item model of a list-of-objects field (by API name)."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == list_field:
            annotation, _ = _unwrap(info.annotation)
            (item,) = typing.get_args(annotation)
            return typing.cast(type[BaseModel], item)
    raise KeyError(list_field)


def row_inputs(model: type[BaseModel], list_field: str, count: int) -> list[Input]:
    """``count`` rows of a list-of-objects field, every row optional as a whole: a row left
    empty is dropped; a row partly filled is validated like any other."""
    item = row_model(model, list_field)
    title = next((info.title for n, info in model.model_fields.items()
                  if (info.alias or n) == list_field), list_field) or list_field
    out: list[Input] = []
    noun = _singular(title)
    for index in range(count):
        for inp in model_inputs(item, f"{list_field}.{index}."):
            out.append(replace(inp, label=row_label(inp.label, noun, index, count)[:150], optional=True))
    return out


def row_label(label: str, noun: str, index: int, count: int) -> str:
    """"Street (address 2)"; a label that already names the row's noun just takes the number:
    "DID number 2", "Phone type 2" (not "DID number (DID number 2)")."""
    if count < 2:
        return label
    if label.lower().startswith(noun.lower().split()[0]):
        return f"{label} {index + 1}"
    return f"{label} ({noun} {index + 1})"


def _singular(title: str) -> str:
    """"Phones" → "phone", "Addresses" → "address", "DID numbers" → "DID number"."""
    words = title.split()
    last = words[-1]
    if last.endswith("sses"):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    words[-1] = last
    if not words[0].isupper():
        words[0] = words[0].lower()
    return " ".join(words)


# --- inputs → Block Kit -----------------------------------------------------------------------


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150] or " ", "emoji": True}


def option_json(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label[:75]), "value": value[:150]}


def _options_payload(options: Sequence[Option]) -> dict[str, Any]:
    """``options``, or ``option_groups`` when there are more than Slack's 100 per list."""
    if len(options) <= 100:
        return {"options": [option_json(v, label) for v, label in options]}
    groups = []
    for start in range(0, len(options), 100):
        chunk = options[start:start + 100]
        name = f"{chunk[0][1][:1]}–{chunk[-1][1][:1]}"
        groups.append({"label": plain(name), "options": [option_json(v, label) for v, label in chunk]})
    return {"option_groups": groups}


def input_block(inp: Input) -> dict[str, Any]:
    """The input block of ``inp``. All of it but the value follows from the form (a field's
    label, element, options): built once per input, and only the value added per view."""
    key = _FORM_PART(inp)  # a tuple: hashed in C, where an Input is hashed in Python
    try:
        head, tail, label, extra = _block_parts(key)
    except TypeError:  # options given as lists, not tuples: nothing to keep them by
        head, tail, label, extra = _block_parts.__wrapped__(key)
    element = {**head, **_initial(inp), **tail} if inp.initial is not None else {**head, **tail}
    return {"type": "input", "block_id": inp.path, "label": label, "optional": inp.optional,
            "element": element, **extra}


#: What an input's block follows from: all its fields but the value.
_FORM_FIELDS = [f.name for f in fields(Input) if f.name != "initial"]
_FORM_PART = operator.attrgetter(*_FORM_FIELDS)

#: Where a value goes among its element's keys: before the placeholder in text inputs, last
#: (before the dispatch settings) in the others.
_VALUE_BEFORE = {"text": "placeholder", "multiline": "placeholder", "secret": "placeholder",
                 "lines": "placeholder", "email": "placeholder", "url": "placeholder"}


@functools.lru_cache(maxsize=4096)
def _block_parts(key: tuple[Any, ...]
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The block of the input whose ``_FORM_FIELDS`` are ``key``, without its value, in parts:
    (element keys before the value, element keys after it, label, block keys after the
    element). Shared by the views built from them: views are built to be sent, never edited."""
    inp = Input(**dict(zip(_FORM_FIELDS, key, strict=True)))
    block = _valueless_block(inp)
    element = block["element"]
    keys = list(element)
    after = (_VALUE_BEFORE.get(inp.kind), "dispatch_action_config")
    split = next((i for i, key in enumerate(keys) if key in after), len(keys))
    head = {key: element[key] for key in keys[:split]}
    tail = {key: element[key] for key in keys[split:]}
    extra = {key: value for key, value in block.items()
             if key not in ("type", "block_id", "label", "optional", "element")}
    return head, tail, block["label"], extra


def _initial(inp: Input) -> dict[str, Any]:
    """The element keys that show ``inp``'s value."""
    kind, initial = inp.kind, inp.initial
    if kind in ("text", "multiline", "secret", "lines"):
        return {"initial_value": str(initial)} if initial not in (None, "") and kind != "secret" else {}
    if kind == "select":
        chosen = next((o for o in inp.options if o[0] == initial), None)
        return {"initial_option": option_json(*chosen)} if chosen else {}
    if kind == "multiselect":
        picked = [option_json(*o) for o in inp.options if initial and o[0] in initial]
        return {"initial_options": picked} if picked else {}
    if kind == "external":
        return {"initial_option": option_json(*initial)} if initial else {}
    if kind == "multi_external":
        return {"initial_options": [option_json(*o) for o in initial]} if initial else {}
    if kind == "number":
        return {"initial_value": str(initial)}
    if kind == "date":
        return {"initial_date": str(initial)} if initial else {}
    if kind == "datetime":
        return {"initial_date_time": int(initial)} if initial else {}
    if kind == "time":
        return {"initial_time": str(initial)} if initial else {}
    if kind in ("email", "url"):
        return {"initial_value": str(initial)} if initial else {}
    if kind == "checkbox":
        return {"initial_options": [option_json(*inp.options[0])]} if initial else {}
    return {}


def _valueless_block(inp: Input) -> dict[str, Any]:
    """The block of ``inp`` without its value (``input_block`` adds it)."""
    element: dict[str, Any] = {"action_id": "value"}
    if inp.kind in ("text", "multiline", "secret", "lines"):
        element["type"] = "plain_text_input"
        element["multiline"] = inp.kind in ("multiline", "lines")
        element["max_length"] = min(inp.max_length or provider_fields.input_max_length(inp.path), 3000)
        if inp.placeholder or inp.kind == "lines":
            element["placeholder"] = plain(inp.placeholder or "One per line")
    elif inp.kind == "select":
        element.update(type="static_select", placeholder=plain("Choose…"), **_options_payload(inp.options))
    elif inp.kind == "multiselect":
        element.update(type="multi_static_select", placeholder=plain("Choose…"),
                       **_options_payload(inp.options))
    elif inp.kind in ("external", "multi_external"):
        element.update(type="external_select" if inp.kind == "external" else "multi_external_select",
                       placeholder=plain("Type to search…"), min_query_length=inp.min_query_length)
    elif inp.kind == "number":
        element.update(type="number_input", is_decimal_allowed=False)
    elif inp.kind == "date":
        element["type"] = "datepicker"
    elif inp.kind == "datetime":
        element["type"] = "datetimepicker"
    elif inp.kind == "time":
        element["type"] = "timepicker"
    elif inp.kind in ("email", "url"):
        element["type"] = "email_text_input" if inp.kind == "email" else "url_text_input"
        if inp.placeholder:
            element["placeholder"] = plain(inp.placeholder)
    elif inp.kind == "checkbox":
        element.update(type="checkboxes", options=[option_json(v, label) for v, label in inp.options])
    block: dict[str, Any] = {"type": "input", "block_id": inp.path, "label": plain(inp.label),
                             "optional": inp.optional, "element": element}
    if inp.hint:
        block["hint"] = plain(inp.hint)
    if inp.dispatch:
        block["dispatch_action"] = True
        if element["type"] == "plain_text_input":
            element["dispatch_action_config"] = {"trigger_actions_on": ["on_character_entered"]}
    return block


def add_row_button(list_field: str, label: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"add.{list_field}", "elements": [
        {"type": "button", "action_id": "add_row", "value": list_field, "text": plain(f"➕ {label}")}]}


def remove_row_button(list_field: str, index: int, label: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"remove.{list_field}.{index}", "elements": [
        {"type": "button", "action_id": "remove_row", "value": f"{list_field}.{index}",
         "text": plain(f"Remove {label}")}]}


def button(text: str, action_id: str, value: str = "", *, primary: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "action_id": action_id, "text": plain(text)}
    if value:
        out["value"] = value[:2000]
    if primary:
        out["style"] = "primary"
    return out


def confirm_dialog(title: str, text: str, yes: str, no: str = "Cancel") -> dict[str, Any]:
    """Slack's confirmation dialog for a button that stops or undoes something (its limits:
    title 100, text 300, buttons 30 characters)."""
    return {"title": {"type": "plain_text", "text": title[:100]},
            "text": {"type": "mrkdwn", "text": text if len(text) <= 300 else text[:299] + "…"},
            "confirm": {"type": "plain_text", "text": yes[:30]},
            "deny": {"type": "plain_text", "text": no[:30]}, "style": "danger"}



def actions(block_id: str, *elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text)}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def modal(callback_id: str, title: str, blocks: list[dict[str, Any]], *, submit: str | None = "Create",
          metadata: dict[str, Any] | None = None, close: str = "Cancel") -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": callback_id, "title": plain(title[:24]),
                            "close": plain(close), "blocks": blocks[:100],
                            "private_metadata": json.dumps(metadata or {}, separators=(",", ":"))}
    if submit:
        view["submit"] = plain(submit)
    return view


# --- view state → request body -----------------------------------------------------------------


def element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = element.get("selected_option")
        return option["value"] if option else None
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return [o["value"] for o in element.get("selected_options") or []]
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "timepicker":
        return element.get("selected_time")
    if kind == "datetimepicker":
        return element.get("selected_date_time")
    return element.get("value")


def state_by_path(view: dict[str, Any]) -> dict[str, Any]:
    """``{block_id: value}`` of every input in a submitted view."""
    values = (view.get("state") or {}).get("values") or {}
    return {block_id: element_value(actions.get("value") or next(iter(actions.values()), {}))
            for block_id, actions in values.items()}


@dataclass
class Layout:
    """What the parser needs to know of a form: which paths are one-per-line lists,
    checkboxes (booleans), numbers and dates."""

    kinds: dict[str, Kind] = field(default_factory=dict)

    @classmethod
    def of(cls, inputs: Iterable[Input]) -> Layout:
        return cls({inp.path: inp.kind for inp in inputs})


@dataclass
class Body:
    """A request body built from a view, and how to find a field's block again."""

    data: dict[str, Any]
    remap: dict[str, list[str]]  # list path → original row index for each kept row

    def block_id(self, path: str, known: Iterable[str], revealed_by: Mapping[str, str] | None = None) -> str:
        """The block that shows the field at API ``path``: row indexes mapped back to the
        rows the user filled, then the longest known prefix (``account_data`` errors land
        on the first ``account_data.*`` block). A field not on screen yet lands on the
        choice that reveals it (``revealed_by``), else on the first block."""
        parts = path.split(".")
        for i, part in enumerate(parts):
            prefix = ".".join(parts[:i])
            if part.isdigit() and prefix in self.remap and int(part) < len(self.remap[prefix]):
                parts[i] = self.remap[prefix][int(part)]
        mapped = ".".join(parts)
        blocks = list(known)
        while mapped:
            if mapped in blocks:
                return mapped
            children = [b for b in blocks if b.startswith(mapped + ".")]
            if children:
                return children[0]
            mapped = mapped.rpartition(".")[0]
        reveal = (revealed_by or {}).get(path.split(".")[0])
        if reveal in blocks:
            return str(reveal)
        return blocks[0] if blocks else path


def request_body(state: dict[str, Any], layout: Layout,
                 convert: Callable[[str, Any], Any] | None = None) -> Body:
    """Nested API body from dotted paths; blank values are left out and a row left blank is
    dropped (an unused "add another" row is no error)."""
    tree: dict[str, Any] = {}
    for path, raw in state.items():
        value = _typed(raw, layout.kinds.get(path))
        if convert is not None:
            value = convert(path, value)
        if value is None or value == [] or value == "":
            continue
        _put(tree, path.split("."), value)
    remap: dict[str, list[str]] = {}
    return Body(_compact(tree, "", remap), remap)


def _typed(raw: Any, kind: Kind | None) -> Any:
    # A secret is sent exactly as typed: "abc12 " is a valid 6-character SIP password.
    if isinstance(raw, str) and kind != "secret":
        raw = raw.strip()
    if kind == "checkbox":
        return bool(raw)
    if kind == "lines" and isinstance(raw, str):
        return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
    if kind == "number" and isinstance(raw, str) and raw:
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        node[head] = value
    else:
        _put(node.setdefault(head, {}), rest, value)


def _compact(node: Any, path: str, remap: dict[str, list[str]]) -> Any:
    """Dicts keyed by row index become lists in index order; ``remap`` remembers which
    row each list item came from."""
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        order = sorted(node, key=int)
        remap[path] = order
        return [_compact(node[k], f"{path}.{k}", remap) for k in order]
    return {k: _compact(v, f"{path}.{k}" if path else k, remap) for k, v in node.items()}


def parse_metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
