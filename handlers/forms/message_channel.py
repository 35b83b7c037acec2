"""/message-channel [sms|whatsapp|facebook]: the modal that creates a Yeastar P-Series
message channel.

The ``channel`` select (the API field itself) drives the form: choosing an SMS provider
shows exactly that provider's ``account_data`` keys (and ``accompanying_msg`` for Apidaze);
WhatsApp adds its phone number and business account IDs. Credentials are typed plain; the
model Base64-encodes what Yeastar expects encoded. DIDs are rows; a DID's members are one
picker fed by the PBX's Get Menu Options (by name; an ID may be typed).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel
from slack_bolt.async_app import AsyncApp

from bot.mrkdwn import verbatim
from bot.providers.errors import ProviderError, UnavailableError
from bot.providers.fields import number_doubt
from bot.providers.yeastar import (
    CHANNEL_MODELS,
    PROVIDER_TITLES,
    SMS_PROVIDERS,
    account_data_fields,
    channel_model,
)
from bot.services import Services
from handlers.forms import modal
from handlers.forms.modal import Input
from handlers.forms.provisioning import Failure, Form, Outcome, register_form

KINDS = {"sms": "SMS", "whatsapp": "WhatsApp", "facebook": "Facebook"}
#: The order fields appear in; account_data, DIDs and members are placed by ``inputs``.
ORDER = ("name", "channel", "account_data", "phone_number_id", "business_account_id",
         "webhook_url_type", "send_rate", "accompanying_msg", "auto_close_session",
         "session_expired_time")
DID_ORDER = ("did_number", "destination_type", "destination_id")
HINTS: dict[str, str | None] = {
    "name": "Up to 127 characters; unique on the PBX.",
    "send_rate": "Messages per second the PBX may send; leave empty for the default.",
    "webhook_url_type": "Which address of the PBX the provider sends messages to.",
    "auto_close_session": None,
}
DID_HINTS: dict[str, str | None] = {
    "destination_type": "Who receives this number's messages: a user (extension), a queue or an API.",
    "destination_id": "Choose the type first, then type a name to search the PBX's extensions or "
                      "queues (or type the PBX's ID).",
}
#: The Get Menu Options menus that name each member type's IDs (the document points there).
MEMBER_MENUS = {"extension": "extension", "ext_group": "ext_group", "organization": "org_list"}
#: A destination's menus, in order: which one serves a message queue is not documented.
DESTINATION_MENUS = {"extension": ("extension",), "queue": ("message_queue", "queue")}
MEMBER_WORDS = {"extension": "Extension", "ext_group": "Extension group", "organization": "Organization"}
YES_NO = (("1", "Yes: close sessions idle for the period below"), ("0", "No: keep sessions open"))


def kind_of(channel: str | None) -> str | None:
    if channel in ("whatsapp", "facebook"):
        return channel
    return "sms" if channel in SMS_PROVIDERS else None


class MessageChannelForm(Form):
    callback_id = "message_channel"
    command = "/message-channel"
    title = "New message channel"
    thing = "message channel"
    provider = "yeastar"
    action = "message_channel.create"
    model = CHANNEL_MODELS["sms"]
    rows = {"dids": "Add another DID"}
    removable = {"dids": "DID"}
    revealed_by = {"account_data": "channel"}
    subcommands = ("", *KINDS)
    unique = ("name",)

    # --- which form ------------------------------------------------------------------------

    def kind(self, meta: dict[str, Any], state: dict[str, Any]) -> str | None:
        """sms, whatsapp or facebook: fixed by the sub-command, else by the chosen channel."""
        return meta.get("sub") or kind_of(state.get("channel") or meta.get("channel"))

    def request_model(self, meta: dict[str, Any]) -> type[BaseModel]:
        return CHANNEL_MODELS[self.kind(meta, {}) or "sms"]

    def view(self, meta: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
        if state and state.get("channel"):  # remembered for the submission's error mapping
            meta = {**meta, "channel": state["channel"]}
        return super().view(meta, state)

    # --- the view ----------------------------------------------------------------------------

    def intro(self, meta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = meta.get("sub")
        article = "an" if kind == "sms" else "a"
        what = f"{article} {KINDS[kind]} channel" if kind else "an SMS, WhatsApp or Facebook channel"
        return [modal.context(f"Creates {what} on the Yeastar P-Series PBX. Type credentials exactly "
                              "as the provider gave them; the bot never shows them again.")]

    def inputs(self, meta: dict[str, Any], state: dict[str, Any]) -> list[Input]:
        kind = self.kind(meta, state)
        model = CHANNEL_MODELS[kind or "sms"]
        fixed = kind if kind in ("whatsapp", "facebook") else None
        channel = state.get("channel") or meta.get("channel") or fixed
        by_path = {inp.path: inp for inp in modal.model_inputs(model, skip=("account_data", *self.rows))}
        by_path["channel"] = self._channel_input(meta.get("sub"), channel)
        if "auto_close_session" in by_path:
            by_path["auto_close_session"] = replace(by_path["auto_close_session"], kind="select",
                                                    options=YES_NO)
        if "accompanying_msg" in by_path:  # required for Apidaze only
            by_path["accompanying_msg"] = replace(by_path["accompanying_msg"], optional=channel != "apidaze",
                                                  hint="The text sent along with a file.")
        for path, hint in HINTS.items():
            if path in by_path:
                by_path[path] = replace(by_path[path], hint=hint)
        out: list[Input] = []
        for path in ORDER:
            if path == "account_data":
                out += [_account_input(spec) for spec in account_data_fields(channel or "")]
            elif path in by_path and not (path == "channel" and meta.get("sub") in ("whatsapp", "facebook")):
                out.append(by_path[path])
        return out + self._did_rows(model, meta)

    def _channel_input(self, sub: str | None, channel: str | None) -> Input:
        if sub == "sms":
            options = tuple((p, PROVIDER_TITLES[p]) for p in SMS_PROVIDERS)
            label, hint = "SMS provider", "Choose it first: its credential fields appear below."
        else:
            options = (*((p, f"SMS · {PROVIDER_TITLES[p]}") for p in SMS_PROVIDERS),
                       ("whatsapp", "WhatsApp"), ("facebook", "Facebook"))
            label = "Channel"
            hint = "SMS (by provider), WhatsApp or Facebook: the fields that apply appear below."
        return Input("channel", label, "select", hint=hint, options=options, initial=channel, dispatch=True)

    def _did_rows(self, model: type[BaseModel], meta: dict[str, Any]) -> list[Input]:
        count = self.row_count(meta, "dids")
        rows = modal.row_inputs(model, "dids", count)
        has_members = "members" in modal.row_model(model, "dids").model_fields  # not Facebook's
        out: list[Input] = []
        for index in range(count):
            row = [inp for inp in rows if inp.path.startswith(f"dids.{index}.")]
            for inp in sorted(row, key=lambda inp: DID_ORDER.index(inp.path.rsplit(".", 1)[1])):
                name = inp.path.rsplit(".", 1)[1]
                if name == "destination_id":  # by name, from the PBX's own lists
                    inp = replace(inp, kind="external", source="pbx_destination")
                out.append(replace(inp, hint=DID_HINTS.get(name, inp.hint)))
            if not has_members:
                continue
            out.append(Input(f"dids.{index}.members", modal.row_label("Members", "DID number", index, count),
                             "multi_external", optional=True, source="pbx_member",
                             hint="Who may start sessions: type a name to search the PBX's extensions, "
                                  "extension groups and organizations (or type e.g. extension 137, 138)."))
        return out

    async def options(self, services: Services, block_id: str, query: str,
                      state: dict[str, Any]) -> list[modal.Option]:
        """Destinations and members by name, from Yeastar's Get Menu Options."""
        parts = block_id.split(".")
        if services.yeastar is None or len(parts) != 3 or parts[0] != "dids":
            return []
        if parts[2] == "members":
            picked = [named(f"{kind}:{option.value}", option.text) for kind, menu in MEMBER_MENUS.items()
                      for option in await services.yeastar.menu_options(menu)]
            found = [(value, member_label(value)) for value in picked]
            typed = [(f"{m['type']}:{m['value']}", member_label(f"{m['type']}:{m['value']}") + " (as typed)")
                     for m in members(query) if m["type"] in MEMBER_MENUS and m["value"]]
            return (typed + _matching(found, query))[:100]
        if parts[2] == "destination_id":
            kind = state.get(f"dids.{parts[1]}.destination_type")
            targets: list[modal.Option] = []
            for menu in DESTINATION_MENUS.get(str(kind), ()):
                try:
                    options = await services.yeastar.menu_options(menu)
                    targets = [(named(o.value, o.text), o.text) for o in options]
                    break
                except ProviderError:
                    continue
            text = query.strip()
            known = text in (value.split(NAMED, 1)[0] for value, _ in targets)
            as_typed: list[modal.Option] = [(text, f"ID {text} (as typed)")] if text and not known else []
            return (_matching(targets, query) + as_typed)[:100]
        return []

    # --- submission ---------------------------------------------------------------------------

    def convert(self, path: str, value: Any) -> Any:
        if path.endswith(".members") and isinstance(value, list):  # the picker's "type:ID" values
            return [dict(zip(("type", "value"), item.split(NAMED, 1)[0].split(":", 1), strict=False))
                    for item in value]
        if path.endswith(".destination_id") and isinstance(value, str):
            return value.split(NAMED, 1)[0]
        if path == "auto_close_session" and isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    def validate(self, data: dict[str, Any], meta: dict[str, Any]) -> Any:
        kind = meta.get("sub")
        if kind in ("whatsapp", "facebook"):
            data = {**data, "channel": kind}
        return channel_model(str(data.get("channel", ""))).model_validate(data)

    async def create(self, services: Services, request: Any, meta: dict[str, Any]) -> Outcome:
        assert services.yeastar is not None
        new_id = await services.yeastar.create_message_channel(request)
        kind = kind_of(request.channel) or "sms"
        details = [("Channel ID", str(new_id)), ("Type", KINDS[kind])]
        if kind == "sms":
            details.append(("SMS provider", PROVIDER_TITLES[request.channel]))
        if request.dids:
            details.append(("Routing", ", ".join(f"{d.did_number} → {d.destination_type}"
                                                 f"{' ' + d.destination_id if d.destination_id else ''}"
                                                 for d in request.dids)))
        headline = f"{KINDS[kind]} channel *{verbatim(request.name)}* created on Yeastar."
        return Outcome(str(new_id), headline, details)

    def provider_failure(self, exc: ProviderError, inputs: list[Input], request: Any = None) -> Failure:
        failure = super().provider_failure(exc, inputs, request)
        if isinstance(exc, UnavailableError):
            return failure
        # Yeastar's errmsg is only "FAILURE": the field is known from the errcode alone
        # (``exc.fields``), never guessed from words.
        at_fields: dict[str, str] = {}
        for name in exc.fields:
            block_id = next((inp.path for inp in inputs if inp.path == name or inp.path.endswith("." + name)),
                            None)
            if block_id:
                at_fields.setdefault(block_id, f"{exc.message}. {exc.advice}")
        return replace(failure, at_fields=at_fields)

    def warnings(self, request: Any) -> dict[str, str]:
        # The document types these Integer with no bounds: Yeastar decides; a person is told.
        out: dict[str, str] = {}
        if getattr(request, "send_rate", None) is not None and request.send_rate <= 0:
            out["send_rate"] = "At 0 or less the PBX may send no messages at all."
        if request.session_expired_time is not None and request.session_expired_time <= 0:
            out["session_expired_time"] = "Sessions may close at once, or never: 0 days or less."
        if request.channel == "whatsapp":
            for i, did in enumerate(request.dids or []):
                doubt = number_doubt(did.did_number, in_use=False)  # test numbers (555) are fine
                if doubt:
                    out[f"dids.{i}.did_number"] = f"{did.did_number} {doubt}: is it the WhatsApp number?"
        return out

    def describe(self, request: Any) -> str:
        return f"{request.name} ({PROVIDER_TITLES.get(request.channel, request.channel)})"

    def name_of(self, request: Any) -> str:
        return str(request.name)

    def look_up_name(self, request: Any) -> str | None:
        return str(request.name)  # unique on the PBX, and Yeastar's channel list is documented

    async def look_up(self, services: Services, name: str) -> str | None:
        assert services.yeastar is not None
        channels = await services.yeastar.list_message_channels()
        return next((str(c.get("id")) for c in channels if c.get("name") == name), None)


def _account_input(spec: Any) -> Input:
    hint = "The address starting with https://." if spec.url else None
    return Input(f"account_data.{spec.key}", spec.title, "secret" if spec.secret else "text",
                 optional=not spec.required, hint=hint,
                 placeholder="https://…" if spec.url else None)


#: Between a picked option's ID and its name in the option's value ("137\t1001-Ada"): the
#: name comes back with the value, so a form shown again names what was picked. A typed ID
#: never holds a tab; only the ID is sent.
NAMED = "\t"


def named(value: str, name: str) -> str:
    return f"{value}{NAMED}{name}"[:150]


def destination_label(value: str) -> str:
    found, _, name = value.partition(NAMED)
    return name or f"ID {found}"


def member_label(value: str) -> str:
    found, _, name = value.partition(NAMED)
    kind, _, member_id = found.partition(":")
    words = MEMBER_WORDS.get(kind, kind)
    return f"{words} · {name}" if name else f"{words} ID {member_id}"


# How a picked destination or member reads when the form is shown again (its value only).
modal.SOURCES["pbx_destination"] = lambda value: [(value, destination_label(value))]
modal.SOURCES["pbx_member"] = lambda value: [(value, member_label(value))]


def _matching(options: list[modal.Option], query: str) -> list[modal.Option]:
    q = query.strip().lower()
    return [o for o in options if q in o[1].lower() or q == o[0].split(NAMED, 1)[0].lower()] if q else options


def members(line: str) -> list[dict[str, str]]:
    """``extension 137`` / ``extension: 137`` / ``ext_group,2`` → ``[{"type", "value"}]``;
    ``extension 137, 138`` (or ``137 138``) → one member per ID, never one ID "137 138"."""
    kind, _, rest = line.replace(":", " ").replace(",", " ").strip().partition(" ")
    ids = rest.split()
    return [{"type": kind.lower(), "value": value} for value in ids] or [{"type": kind.lower(), "value": ""}]


def register(app: AsyncApp, services: Services) -> Form:
    form = MessageChannelForm()
    register_form(app, services, form)
    return form
