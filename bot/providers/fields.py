"""Field types shared by the provider models, and the one place validation errors
become sentences a user reads.

Each model field carries a ``title`` (what the modal label says). ``field_errors`` turns a
pydantic ``ValidationError`` into ``{"phones.0.phone": "Phone number must be ..."}``: the
dotted path of the API field (the modal's block_id) and one sentence naming the field.
Custom validators raise ``ValueError`` with a sentence that starts lower-case after the field
name, e.g. ``ValueError("must be in E.164 format, e.g. +85294667788")``.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

import phonenumbers
import pycountry
from pydantic import AfterValidator, BaseModel, ValidationError
from pydantic.fields import FieldInfo


def dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


# --- value checks ---------------------------------------------------------------------


#: Visual separators people type in numbers; taken out, the number is the same.
_SEPARATORS = re.compile(r"[\s().\-]")
#: E.164: "+", a country code, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value.strip())


def _country_code_first(digits: str) -> bool:
    return not digits.startswith("0") and any(int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
               for n in (1, 2, 3) if len(digits) > n)


def number_with_country_code(value: str) -> str:
    """A number "with country code" (the service-group document: phone and SIP trunk
    targets): digits, "+" before them or not, the first digits a country code. Spaces,
    dashes, dots and brackets are taken out; nothing else is changed."""
    compact = _compact(value)
    digits = compact.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("must be a number with its country code, e.g. +85294667788")
    if not _country_code_first(digits):
        raise ValueError("must start with its country code, e.g. +852 for Hong Kong")
    return compact


def plus_number(value: str) -> str:
    """"Country code+Phone number" with "+" in front (the contact document's format)."""
    compact = _compact(value)
    if not compact.startswith("+"):
        raise ValueError('must start with "+" and the country code, e.g. +85294667788')
    return number_with_country_code(compact)


def e164(value: str) -> str:
    """A number in E.164 format (the WhatsApp routing document): "+", the country code,
    at most 15 digits. Spaces, dashes, dots and brackets are taken out."""
    compact = _compact(value)
    if not compact.startswith("+"):
        raise ValueError('must start with "+" and the country code, e.g. +15567778888')
    if not _E164.fullmatch(compact) or not _country_code_first(compact[1:]):
        raise ValueError("must be in E.164 format: + and the country code, at most 15 digits, "
                         "e.g. +15567778888")
    return compact


def number_doubt(number: str, *, in_use: bool = True) -> str | None:
    """What libphonenumber doubts about ``number`` (a warning: the documents do not ask
    for a number it knows), or None; ``in_use=False``: only a wrong length."""
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number, None)
    except phonenumbers.NumberParseException:
        return "is not a number libphonenumber can read"
    if not phonenumbers.is_possible_number(parsed):
        return "has the wrong length for its country code"
    if in_use and not phonenumbers.is_valid_number(parsed):
        return "is not a number in use for its country code"
    return None


def language_code(value: str) -> str:
    """An ISO 639-1 two-letter language code."""
    code = value.strip().lower()
    if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
        raise ValueError(f'"{value}" is not an ISO 639-1 language code (e.g. en, zh, ja)')
    return code


def country_code(value: str) -> str:
    """An ISO 3166 alpha-2 country code."""
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f'"{value}" is not an ISO 3166 two-letter country code (e.g. HK, US)')
    return code


#: A BCP 47-style language tag: a 2-3 letter language, then subtags (script, region,
#: variant) of 1-8 letters or digits: en, zh-TW, yue, zh-Hant-HK.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
#: A location as the service-group document writes it, "countries/regions + states": a
#: two-letter country or region, optionally joined to a state by "+" (US+CA) or, as ISO
#: 3166-2 writes it, "-" (US-CA).
LOCATION = re.compile(r"[A-Za-z]{2}(?:[+-][A-Za-z0-9]{1,3})?")


def language_tag(value: str) -> str:
    """A language code as the service-group document allows ("language codes", CINNOX's
    own list): any BCP 47-style tag, sent as typed."""
    code = value.strip()
    if code == "*":  # the document's "all languages", on its own or not
        return code
    if not LANGUAGE_TAG.fullmatch(code):
        raise ValueError(f'"{value}" is not a language code such as en, zh-TW or yue')
    return code


def location(value: str) -> str:
    """A country or region (HK), or one with its state (US+CA, US-CA), sent as typed."""
    code = value.strip()
    if code == "*":  # the document's "all countries/regions"
        return code
    if not LOCATION.fullmatch(code):
        raise ValueError(f'"{value}" is not a country or region (e.g. HK) or one with its state '
                         "(e.g. US+CA or US-CA)")
    return code


def unknown_language(code: str) -> bool:
    """Whether ``code``'s language is in no ISO 639 list the bot knows (a warning, not a refusal:
    CINNOX's own list decides)."""
    primary = code.split("-", 1)[0].lower()
    lookup = {"alpha_2": primary} if len(primary) == 2 else {"alpha_3": primary}
    return pycountry.languages.get(**lookup) is None


def unknown_location(code: str) -> bool:
    """Whether ``code``'s country, or its state, is in no ISO 3166 list the bot knows."""
    country, _, state = code.upper().replace("+", "-").partition("-")
    if pycountry.countries.get(alpha_2=country) is None:
        return True
    return bool(state) and pycountry.subdivisions.get(code=f"{country}-{state}") is None


E164 = Annotated[str, AfterValidator(e164)]
PlusNumber = Annotated[str, AfterValidator(plus_number)]
NumberWithCountryCode = Annotated[str, AfterValidator(number_with_country_code)]
LanguageCode = Annotated[str, AfterValidator(language_code)]
LanguageTag = Annotated[str, AfterValidator(language_tag)]
CountryCode = Annotated[str, AfterValidator(country_code)]
LocationCode = Annotated[str, AfterValidator(location)]

#: codes a person chooses from a list (languages, countries, locations): "Choose", never "Enter"
CHOSEN_FROM_LISTS = frozenset({language_code, language_tag, country_code, location})


# --- words for API values ---------------------------------------------------------------

#: What a person reads for an option whose API value is a code; the value sent is unchanged.
OPTION_WORDS: dict[str, str] = {
    "PHONE": "Phone numbers",
    "STAFF": "Staff",
    "TRUNK": "Trunks",
    "FieldTypePicklist": "Picklist",
    "FieldTypeMultiPicklist": "Multi-select picklist",
    "FieldTypeText": "Text",
    "FieldTypeURL": "Web address (URL)",
    "FieldTypeBoolean": "Yes / no",
    "FieldTypeDate": "Date and time",
    "FieldTypeTime": "Time of day",
    "extension": "Extension",
    "queue": "Queue",
    "api": "API",
    "ext_group": "Extension group",
    "organization": "Organization",
    "fqdn": "The PBX's domain name (FQDN)",
    "nat": "The PBX's public address (NAT)",
    "WoztellWhatsApp": "WhatsApp (Woztell)",
    "WoztellFacebook": "Facebook (Woztell)",
    "WoztellInstagram": "Instagram (Woztell)",
}


# --- how long a typed value may be -------------------------------------------------------

#: The longest value a form's text input takes, by the input's path (row indexes as ``N``),
#: where the model's own rules set none. A model's ``max_length`` (the document's limit)
#: always wins; these are the document's words where it gives a limit in prose only, and a
#: sensible bound where it is silent (room for any real value, none for a pasted page).
INPUT_MAX_LENGTH: dict[str, int] = {
    # documented
    "customField.N.value": 500,  # CINNOX: text and URL custom fields, at most 500
    "business_account_id": 500,  # Yeastar: WhatsApp business account ID, at most 500
    # the documents are silent
    "firstName": 100, "lastName": 100, "company": 200, "jobTitle": 100, "team": 100, "group": 100,
    "phones.N.phone": 32, "addresses.N.street": 200, "addresses.N.city": 100, "addresses.N.state": 100,
    "addresses.N.zipcode": 20, "customField.N.name": 100,
    "name": 64,  # a Bandwidth SIP endpoint (a message channel's is documented: 127)
    "description": 255, "applicationId": 64,
    "accompanying_msg": 500, "dids.N.did_number": 32, "dids.N.destination_id": 64,
    "dids.N.members": 3000, "phoneTargets": 3000, "trunkTargets": 3000,
}
#: Any other text input: Slack's own ceiling for a plain-text input.
DEFAULT_MAX_LENGTH = 3000


def input_max_length(path: str) -> int:
    """The limit for the text input at ``path`` when its model sets none."""
    generic = ".".join("N" if part.isdigit() else part for part in path.split("."))
    if generic.startswith("account_data."):
        return 1000  # a provider credential or URL (the document is silent)
    return INPUT_MAX_LENGTH.get(generic, DEFAULT_MAX_LENGTH)


def option_words(value: str) -> str:
    """The label shown for an option whose API value is ``value``."""
    return OPTION_WORDS.get(value, value)


# --- error sentences --------------------------------------------------------------------

_TEMPLATES: dict[str, str] = {
    "missing": "is required",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_short": "needs at least {min_length} item(s)",
    "too_long": "takes at most {max_length} item(s)",
    "literal_error": "must be one of {expected}",
    "email_type": "must be an email address such as ada@example.com",
    "enum": "must be one of {expected}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "bool_parsing": "must be true or false",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be at most {le}",
    "string_pattern_mismatch": "has characters that are not allowed",
    "url_parsing": "must be a URL such as https://example.com/path",
    "url_scheme": "must be a URL starting with https://",
    "extra_forbidden": "is not a field of this request",
    "string_type": "must be text",
    "list_type": "must be a list",
}


def field_title(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The human name of the field at ``loc`` (by alias), walking nested models and lists."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        info = _field_by_alias(current, part)
        if info is None:
            break
        current = _inner_model(info.annotation)
    if info is not None and info.title:
        return info.title
    last = next((p for p in reversed(loc) if isinstance(p, str)), "value")
    return humanize(last)


def humanize(name: str) -> str:
    """``domainId`` / ``phone_number_id`` → "Domain ID" / "Phone number ID"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").lower().split()
    words = ["ID" if w == "id" else "URL" if w == "url" else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _field_by_alias(model: type[BaseModel], name: str) -> FieldInfo | None:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias, info.validation_alias, info.serialization_alias):
            return info
    return None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside list[...] / Optional[...] / Annotated[...], if any."""
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
        stack.extend(getattr(item, "__args__", ()) or ())
        meta = getattr(item, "__origin__", None)
        if meta is not None:
            stack.append(meta)
    return None


def sentence(model: type[BaseModel], error: Any, title: str | None = None, *, on_form: bool = False) -> str:
    """One sentence naming the field by its label (``title``: the form's, when it has one).
    ``on_form``: a missing value is said as what to do there ("Choose at least one supported
    language.") rather than as a fact about the request ("Supported languages is required.")."""
    loc = tuple(error["loc"])
    title = title or (field_title(model, loc) if loc else "This form")
    kind = error["type"]
    if kind == "missing" and loc:
        # A missing object names what to type: "Enter the SIP password.", not "Credentials is required."
        child = _first_required_child(model, loc)
        if child:
            return f"Enter the {_lower_first(child)}."
        if on_form:
            return _what_to_give(model, loc, title)
    if kind == "value_error":
        detail = str(error.get("ctx", {}).get("error", error["msg"]))
        if detail == "is required" and loc and on_form:
            return _what_to_give(model, loc, title)
        if on_form:  # "Account data field API secret …" on the input labelled "API secret": said once
            detail = detail.removeprefix(f"field {title} ")
    elif kind in _TEMPLATES:
        ctx = {k: _show(v) for k, v in (error.get("ctx") or {}).items()}
        try:
            detail = _TEMPLATES[kind].format(**ctx)
        except KeyError:
            detail = error["msg"][:1].lower() + error["msg"][1:]
    else:
        detail = error["msg"][:1].lower() + error["msg"][1:]
    text = f"{title} {detail}" if loc else detail[:1].upper() + detail[1:]
    return text if text.endswith(".") else text + "."


def _first_required_child(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The title of the first required field of the object missing at ``loc``, if it is one."""
    info = _info_at(model, loc)
    current = _inner_model(info.annotation) if info is not None else None
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    return next((info.title or name for name, info in current.model_fields.items() if info.is_required()), None)


def _what_to_give(model: type[BaseModel], loc: tuple[int | str, ...], title: str) -> str:
    """A missing value as what to do: "Enter the service group name.", "Choose the destination
    type.", "Choose at least one supported language." (never "Supported languages is required.")."""
    info = _info_at(model, loc)
    inner, is_list, picked = getattr(info, "annotation", None), False, False
    while (args := typing.get_args(inner)) and typing.get_origin(inner) is not Literal:
        is_list = is_list or typing.get_origin(inner) is list
        picked = picked or any(getattr(m, "func", None) in CHOSEN_FROM_LISTS
                               for m in getattr(inner, "__metadata__", ()))
        inner = next((a for a in args if a is not type(None)), args[0])
    verb = "Choose" if picked or typing.get_origin(inner) is Literal else "Enter"
    if is_list:
        return f"{verb} at least one {_lower_first(_singular(title))}."
    return f"{verb} the {_lower_first(title)}."


def _info_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return info
        info = _field_by_alias(current, part)
        if info is None:
            return None
        current = _inner_model(info.annotation)
    return info


def _singular(title: str) -> str:
    """"Supported languages" → "Supported language", "Addresses" → "Address"."""
    head, _, last = title.rpartition(" ")
    if last.endswith("sses"):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return f"{head} {last}" if head else last


def _lower_first(title: str) -> str:
    """"SIP password" stays, "Endpoint name" → "endpoint name"."""
    first = title.split(" ", 1)[0]
    return title if first.isupper() else title[:1].lower() + title[1:]


def _show(value: Any) -> str:
    return str(value).replace("'", "")


def field_errors(model: type[BaseModel], exc: ValidationError,
                 label: typing.Callable[[str], str | None] | None = None) -> dict[str, str]:
    """``{dotted API path: sentence}``; the first error per path wins. ``label``: given for a
    form, the label of the input showing a path (None: the model's title); missing values
    are then said as what to do in the form."""
    out: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        path = dotted(tuple(error["loc"])) or "__root__"
        out.setdefault(path, sentence(model, error, label(path) if label else None, on_form=label is not None))
    return out


def located(model_name: str, errors: dict[str, str]) -> ValidationError:
    """A ValidationError placed at given dotted paths, for cross-field rules in
    ``model_validator(mode="after")``: ``raise located("X", {"phoneTargets": "is required ..."})``.
    Nested models get their parents' path prefixed by pydantic."""
    from pydantic_core import InitErrorDetails, PydanticCustomError

    details = [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "{error}", {"error": text}),
            loc=tuple(int(p) if p.isdigit() else p for p in path.split(".")),
            input=None,
        )
        for path, text in errors.items()
    ]
    return ValidationError.from_exception_data(model_name, details)
