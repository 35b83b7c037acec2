"""Which channel each service's calls go to: the ``call_route`` form, removing a route, and
the routing as a list (for `/call-events routes` and the App Home, with a Remove button).

The ``call_route`` form sends one service's calls to a channel. Opened by
``/call-events route`` without arguments (with a service picker) or by a call's "Route
this service" button (for that call's service). The route is confirmed only once the bot
has checked that it can post in the channel."""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.mrkdwn import escape
from bot.relay.messages import button
from bot.services import Services
from handlers.calls.deliveries import nowhere_to_go
from handlers.forms import modal
from handlers.forms.late_update import update_after_answer

log = structlog.get_logger(__name__)

CALLBACK_ID = "call_route"
TITLE = "Route calls"
SERVICE_ID_HINT = ("The CINNOX service group's ID: a call message shows it (as its Service, or as "
                   "“service ID …” once named), and so does /service-group.")


def channel_input(initial: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "conversations_select", "action_id": "value",
        "placeholder": modal.plain("Choose a channel"),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if initial:
        element["initial_conversation"] = initial
    return {"type": "input", "block_id": "channel", "label": modal.plain("Send the calls to"),
            "element": element, "hint": modal.plain("From the next call on. I have to be a member of it.")}


async def known_services(services: Services) -> list[tuple[str, str]]:
    """(serviceId, label) of the services the bot knows: named ones, and routed ones."""
    names = await services.directory.service_names()
    routed = await services.outbox.routes() if services.outbox is not None else {}
    ids = list(names) + [sid for sid in routed if sid not in names]
    return [(sid, f"{names[sid]} ({sid})" if sid in names else sid) for sid in ids][:100]


async def form_view(services: Services, meta: dict[str, Any], values: dict[str, Any] | None = None,
                    problem: str | None = None) -> dict[str, Any]:
    values = values or {}
    blocks: list[dict[str, Any]] = []
    if problem:
        blocks.append(modal.section(f":warning: {problem}"))
    service_id = meta.get("service")
    names = await services.directory.service_names()
    if service_id and "name" not in values and service_id in names:
        values = {**values, "name": names[service_id]}  # shown, and kept unless changed
    if service_id:
        shown = f"*{escape(names[service_id])}* (`{escape(service_id)}`)" if service_id in names \
            else f"`{escape(service_id)}`"
        blocks.append(modal.section(f"Calls of the service {shown} will go to the channel you choose."))
    else:
        options = await known_services(services)
        if options:
            blocks.append(modal.input_block(modal.Input(
                "service", "Service", "select", optional=True, options=tuple(options),
                initial=values.get("service"), hint="Services created or routed through this bot")))
        # With no service to pick, the ID is the one way to say which: required, and where to find it.
        blocks.append(modal.input_block(modal.Input(
            "service_id", "Service ID" if not options else "…or type a service ID", optional=bool(options),
            initial=values.get("service_id"), max_length=128, placeholder="e.g. 5f1c2d…",
            hint=None if options else SERVICE_ID_HINT)))
    blocks.append(modal.input_block(modal.Input(
        "name", "Name shown on call messages", optional=True, initial=values.get("name"), max_length=80,
        hint="Optional: e.g. Sales hotline")))
    blocks.append(channel_input(values.get("channel")))
    return modal.modal(CALLBACK_ID, TITLE, blocks, submit="Route", metadata=meta)


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}
    out: dict[str, Any] = {}
    for block_id, actions in values.items():
        element = actions.get("value") or {}
        if element.get("type") == "conversations_select":
            out[block_id] = element.get("selected_conversation")
        elif element.get("type") == "channels_select":
            out[block_id] = element.get("selected_channel")
        else:
            value = modal.element_value(element)
            out[block_id] = value.strip() if isinstance(value, str) else value
    return out


async def channel_problem(services: Services, channel: str, again: str = "then submit again") -> str | None:
    """Why the bot could not post call messages in ``channel``, in a sentence; None when it can.
    ``again`` says how to retry once it is fixed. Errors other than Slack's answer propagate."""
    try:
        info = (await services.slack.conversations_info(channel=channel))["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":
            return (f"I can't see <#{channel}>. If it is a private channel, invite me there first "
                    f"(in the channel: `/invite @Telephony Ops`), {again}.")
        if error == "missing_scope":
            return (f"I'm not allowed to look at <#{channel}>: this Slack app lacks the permission to "
                    "read channel details (channels:read, groups:read). Ask a workspace admin to "
                    f"reinstall the app with them, {again}.")
        return (f"Slack would not tell me about <#{channel}> ({escape(str(error))}). "
                "Try again in a moment.")
    if info.get("is_archived"):
        return f"<#{channel}> is archived: unarchive it, or pick another channel."
    if not info.get("is_member"):
        return (f"I'm not a member of <#{channel}> yet. In that channel type `/invite @Telephony Ops` "
                f"(or open its details → Integrations → Add apps), {again}.")
    return None


def register(app: AsyncApp, services: Services) -> None:
    @app.view(CALLBACK_ID)
    async def submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = modal.parse_metadata(view)
        values = submitted(view)
        service_id = meta.get("service") or values.get("service_id") or values.get("service")
        if not service_id or len(str(service_id)) > 128:
            picker = any(block.get("block_id") == "service" for block in view.get("blocks", []))
            problem = ("At most 128 characters." if service_id else "Choose a service, or type its ID."
                       if picker else "Enter the service ID.")
            await ack(response_action="errors", errors={"service_id": problem})
            return
        if not values.get("channel"):
            await ack(response_action="errors", errors={"channel": "Choose the channel for its calls."})
            return
        channel = str(values["channel"])
        await ack(response_action="update", view=modal.modal(CALLBACK_ID, TITLE, [modal.section(
            f":hourglass_flowing_sand: Checking that I can post in <#{channel}>…")], submit=None,
            metadata=meta, close="Close"))
        services.background.spawn(
            _route(services, body["user"]["id"], view["id"], str(view.get("hash") or ""), meta,
                   {**values, "service_id": service_id}), name="call_route")


async def open_form(services: Services, client: Any, trigger_id: str, meta: dict[str, Any]) -> None:
    try:
        await client.views_open(trigger_id=trigger_id, view=await form_view(services, meta))
    except SlackApiError as exc:
        log.warning("views.open_failed", error=exc.response.get("error"))


async def _route(services: Services, user: str, view_id: str, view_hash: str, meta: dict[str, Any],
                 values: dict[str, Any]) -> None:
    service_id, channel = str(values["service_id"]), str(values["channel"])
    try:
        problem = await channel_problem(services, channel)
    except Exception:  # Slack unreachable, a timeout: the form comes back, never stuck on "Checking…"
        log.exception("call_route.check_failed", channel=channel)
        problem = "I couldn't check the channel just now. Submit again in a moment."
    if problem is not None:
        await services.access.record(user, "call_events.route", "failed", resource_id=service_id,
                                     detail=problem)
        view = await form_view(services, meta, values, problem)
    else:
        assert services.relay is not None
        if values.get("name"):  # named first: the next call routed there shows the name
            await services.directory.name_service(service_id, str(values["name"]), "route")
        await services.relay.set_route(service_id, channel, user)
        await services.access.record(user, "call_events.route", "ok", resource_id=service_id,
                                     detail=f"→ {channel}")
        names = await services.directory.service_names()
        shown = escape(names.get(service_id) or service_id)
        then = " (its calls then go to the default channel)" if services.settings.call_events_channel else ""
        view = modal.modal(CALLBACK_ID, TITLE, [
            modal.section(f":white_check_mark: Calls of *{shown}* now go to <#{channel}>, "
                          "from the next call on."),
            modal.context("`/call-events routes` lists the routing; `/call-events unroute "
                          f"{escape(service_id)}` removes this route{then}."),
        ], submit=None, metadata=meta, close="Done")
    await update_after_answer(services, view_id, view_hash, view)  # over "Checking…", never under it


def meta_for_button(value: str) -> dict[str, Any]:
    data = json.loads(value) if value.startswith("{") else {"service": value}
    return {"service": str(data.get("service", ""))[:128], "call": str(data.get("call", ""))[:128]}


UNROUTE = "call_events.unroute"


async def unroute(services: Services, user: str, service_id: str) -> str:
    assert services.relay is not None
    shown = service_label(service_id, await services.directory.service_names())
    channel = services.settings.call_events_channel
    if not await services.relay.remove_route(service_id):
        where = f"go to <#{channel}>" if channel else "have nowhere to go (set CALL_EVENTS_CHANNEL)"
        return f"{shown} has no route of its own: its calls {where}."
    await services.access.record(user, "call_events.unroute", "ok", resource_id=service_id)
    if channel:
        return f":white_check_mark: Calls of {shown} go to <#{channel}> again, from the next call on."
    nowhere = await nowhere_to_go(services)
    return (f"Removed the route of {shown}. Without CALL_EVENTS_CHANNEL its calls now have nowhere to go."
            + (f"\n{nowhere}" if nowhere else ""))


def service_label(service_id: str, names: dict[str, str]) -> str:
    return f"*{escape(names[service_id])}* (`{escape(service_id)}`)" if service_id in names \
        else f"`{escape(service_id)}`"


async def routes_text(services: Services) -> str:
    assert services.outbox is not None
    routes = await services.outbox.routes()
    names = await services.directory.service_names()
    default = f"Everything else: {_channel_name(services.settings.call_events_channel)}."
    if not routes:
        return f"*Call routing*\nNo service is routed to its own channel. {default}"
    lines = [f"• {service_label(service, names)} → <#{channel}>" for service, channel in routes.items()]
    return "\n".join(["*Call routing*", *lines, default])


async def routes_blocks(services: Services, limit: int = 15, *, actions: bool = True) -> list[dict[str, Any]]:
    """The routing with a Remove button per route (the App Home; ``actions``: for those
    allowed to use it)."""
    assert services.outbox is not None
    routes = await services.outbox.routes()
    names = await services.directory.service_names()
    blocks = [modal.section("*Routing*")]
    default = services.settings.call_events_channel
    for service, channel in list(routes.items())[:limit]:
        block = modal.section(f"{service_label(service, names)} → <#{channel}>")
        if actions:
            shown = escape(names.get(service) or service)
            then = (f"will go to <#{default}> instead, from the next call on" if default else
                    "will have no channel to go to (CALL_EVENTS_CHANNEL is not set) until it is routed again")
            block["accessory"] = {**button("Remove", UNROUTE, service), "confirm": modal.confirm_dialog(
                "Remove this route?", f"Calls of *{shown}* {then}.", "Remove")}
        blocks.append(block)
    blocks.append(modal.context(f"Everything else: {_channel_name(services.settings.call_events_channel)}."))
    return blocks


def _channel_name(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "no default channel (set CALL_EVENTS_CHANNEL)"
