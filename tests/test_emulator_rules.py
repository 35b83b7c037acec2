"""The Slack emulator refuses what Slack refuses, each with Slack's own error: block and
action IDs, counts and lengths, metadata, trigger_ids, the view stack, closed views,
response_urls, channel membership, rate limits and where option requests go."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.manifest import build_manifest, manifest_problems
from bot.sandbox.slack import SlackEmulator
from bot.sandbox.slack_limits import RateLimits

TOKEN = "xoxb-t"


def section(text: str = "Hi", block_id: str | None = None, **more: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}, **more}
    if block_id:
        block["block_id"] = block_id
    return block


def button(action_id: str, text: str = "Go", **more: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, **more}


def confirm(**changes: Any) -> dict[str, Any]:
    return {"title": {"type": "plain_text", "text": "Stop?"}, "text": {"type": "mrkdwn", "text": "Sure?"},
            "confirm": {"type": "plain_text", "text": "Stop"}, "deny": {"type": "plain_text", "text": "Keep"},
            **changes}


def modal(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Form"}, "blocks": blocks}


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN) as emulator:
        yield emulator


def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url + "/api/", retry_handlers=[])


async def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        await call
    data: dict[str, Any] = caught.value.response.data  # type: ignore[assignment]
    return {**data, "status": caught.value.response.status_code,
            "retry_after": caught.value.response.headers.get("Retry-After")}


BAD_BLOCKS = {
    "duplicate block_id": ([section(block_id="a"), section(block_id="a")], "block_id already exists"),
    "duplicate action_id in a block": (
        [{"type": "actions", "elements": [button("open"), button("open")]}], "action_id already exists"),
    "section text over 3,000": ([section("x" * 3001)], "less than 3001 characters"),
    "11 fields": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "no more than 10"),
    "header over 150": ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
                        "less than 151"),
    "button text over 75": ([{"type": "actions", "elements": [button("b", "t" * 76)]}], "less than 76"),
    "26 actions": ([{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}], "1 to 25"),
    "confirm without deny": ([section(accessory=button("stop", confirm=confirm(deny=None)))],
                             "/accessory/confirm/deny"),
    "confirm title over 100": (
        [section(accessory=button("stop", confirm=confirm(title={"type": "plain_text", "text": "t" * 101})))],
        "less than 101"),
    "confirm text over 300": (
        [section(accessory=button("stop", confirm=confirm(text={"type": "mrkdwn", "text": "t" * 301})))],
        "less than 301"),
    "confirm style": ([section(accessory=button("stop", confirm=confirm(style="warning")))],
                      "primary, danger"),
    "empty text": ([section("")], "more than 0 characters"),
}


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
async def test_a_message_slack_would_refuse_is_refused_with_invalid_blocks(slack: SlackEmulator,
                                                                          case: str) -> None:
    blocks, words = BAD_BLOCKS[case]
    answer = await refused(client(slack).chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert answer["error"] == "invalid_blocks" and words in json.dumps(answer["errors"])
    assert not slack.channel_messages("C1")


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
async def test_a_view_slack_would_refuse_is_refused_with_invalid_arguments(slack: SlackEmulator,
                                                                          case: str) -> None:
    blocks, words = BAD_BLOCKS[case]
    answer = await refused(client(slack).views_publish(user_id="U1", view={"type": "home", "blocks": blocks}))
    assert answer["error"] == "invalid_arguments"
    assert words in json.dumps(answer["response_metadata"]["messages"])


async def test_block_counts_are_50_per_message_and_100_per_view(slack: SlackEmulator) -> None:
    web = client(slack)
    assert (await web.chat_postMessage(channel="C1", text="t", blocks=[section()] * 50))["ok"]
    answer = await refused(web.chat_postMessage(channel="C1", text="t", blocks=[section()] * 51))
    assert answer["error"] == "invalid_blocks" and "no more than 50" in answer["errors"][0]
    assert (await web.views_publish(user_id="U1", view={"type": "home", "blocks": [section()] * 100}))["ok"]
    answer = await refused(web.views_publish(user_id="U1", view={"type": "home", "blocks": [section()] * 101}))
    assert "no more than 100" in answer["response_metadata"]["messages"][0]


async def test_message_text_blocks_and_metadata_are_refused_as_slack_names_them(slack: SlackEmulator) -> None:
    slack.limits = RateLimits({})  # many posts to one channel: only their content is checked here
    web = client(slack)
    assert (await refused(web.chat_postMessage(channel="C1", text="x" * 40_001)))["error"] == "msg_too_long"
    assert (await refused(web.api_call("chat.postMessage", json={"channel": "C1", "blocks": "{nope"})))[
        "error"] == "invalid_blocks_format"
    big = [section("x" * 2900) for _ in range(5)]
    assert (await refused(web.chat_postMessage(channel="C1", text="t", blocks=big)))[
        "error"] == "msg_blocks_too_long"
    assert (await refused(web.chat_postMessage(channel="C1", text="t", metadata="not json")))[
        "error"] == "invalid_metadata_format"
    assert (await refused(web.chat_postMessage(channel="C1", text="t", metadata={"event_type": "call"})))[
        "error"] == "invalid_metadata_schema"
    large = {"event_type": "call", "event_payload": {"notes": "x" * 9000}}
    assert (await refused(web.chat_postMessage(channel="C1", text="t", metadata=large)))[
        "error"] == "metadata_too_large"
    parent = await web.chat_postMessage(channel="C1", text="parent")
    reply = await web.chat_postMessage(channel="C1", text="reply", thread_ts=parent["ts"])
    assert (await refused(web.chat_postMessage(channel="C1", text="t", thread_ts=reply["ts"])))[
        "error"] == "cannot_reply_to_message"
    assert [m.text for m in slack.channel_messages("C1")] == ["parent"]


async def test_a_trigger_id_opens_one_view_within_three_seconds(slack: SlackEmulator) -> None:
    web = client(slack)
    trigger = slack.new_trigger()
    assert (await web.views_open(trigger_id=trigger, view=modal([section()])))["ok"]
    assert (await refused(web.views_open(trigger_id=trigger, view=modal([section()]))))[
        "error"] == "exchanged_trigger_id"
    late = slack.new_trigger()
    slack.triggers.expire(late)
    assert (await refused(web.views_open(trigger_id=late, view=modal([section()]))))[
        "error"] == "expired_trigger_id"
    assert (await refused(web.views_open(trigger_id="made.up", view=modal([section()]))))[
        "error"] == "invalid_trigger_id"


async def test_a_modal_stack_holds_three_views(slack: SlackEmulator) -> None:
    web = client(slack)
    view = (await web.views_open(trigger_id=slack.new_trigger(), view=modal([section()])))["view"]
    for _ in range(2):
        view = (await web.views_push(trigger_id=slack.new_trigger(view["id"]), view=modal([section()])))["view"]
    answer = await refused(web.views_push(trigger_id=slack.new_trigger(view["id"]), view=modal([section()])))
    assert answer["error"] == "push_limit_reached"


async def test_a_closed_view_cannot_be_updated_nor_a_stale_hash(slack: SlackEmulator) -> None:
    web = client(slack)
    view = (await web.views_open(trigger_id=slack.new_trigger(), view=modal([section()])))["view"]
    updated = (await web.views_update(view_id=view["id"], hash=view["hash"],
                                      view=modal([section("2")])))["view"]
    assert (await refused(web.views_update(view_id=view["id"], hash=view["hash"], view=modal([section()]))))[
        "error"] == "hash_conflict"
    slack.close_view(updated["id"])
    assert (await refused(web.views_update(view_id=view["id"], view=modal([section()]))))[
        "error"] == "not_found"


async def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        return resp.status, await resp.text()


async def test_a_response_url_takes_five_posts(slack: SlackEmulator) -> None:
    url = slack.new_response_url()
    for n in range(5):
        assert (await post(url, {"text": f"post {n}"}))[0] == 200
    status, text = await post(url, {"text": "sixth"})
    assert status == 404 and json.loads(text)["error"] == "used_url"
    assert len(slack.shown_for(url)) == 5


async def test_a_slash_commands_response_url_never_replaces_the_commands_answer(slack: SlackEmulator) -> None:
    url = slack.new_response_url()
    await post(url, {"response_type": "ephemeral", "replace_original": True, "text": "Done."})
    await post(url, {"response_type": "ephemeral", "replace_original": True, "text": "Done again."})
    # each post is one more message under the command's own answer ("Asking…" stays)
    assert [m["text"] for m in slack.shown_for(url)] == ["Done.", "Done again."]


async def test_an_interactive_messages_response_url_replaces_the_message(slack: SlackEmulator) -> None:
    posted = await client(slack).chat_postMessage(channel="C1", text="Call ringing")
    url = slack.new_response_url("interactive", "C1", posted["ts"])
    await post(url, {"replace_original": True, "text": "Call ended"})
    [message] = slack.channel_messages("C1")
    assert message.text == "Call ended" and message.edits == 1
    status, text = await post(url, {"text": "t", "blocks": [section(block_id="a"), section(block_id="a")]})
    assert status == 400 and json.loads(text)["error"] == "invalid_blocks"


async def test_history_replies_and_posting_need_the_bot_in_the_channel(slack: SlackEmulator) -> None:
    web = client(slack)
    slack.add_channel("C0OUT", "elsewhere", member=False)
    for call in (web.conversations_history(channel="C0OUT"),
                 web.conversations_replies(channel="C0OUT", ts="1.0"),
                 web.chat_postMessage(channel="C0OUT", text="t")):
        assert (await refused(call))["error"] == "not_in_channel"
    slack.scopes.add("chat:write.public")  # a public channel takes posts then, but still no reading
    assert (await web.chat_postMessage(channel="C0OUT", text="t"))["ok"]
    assert (await refused(web.conversations_history(channel="C0OUT")))["error"] == "not_in_channel"


async def test_posts_are_limited_per_channel_with_a_short_burst(slack: SlackEmulator) -> None:
    web = client(slack)
    for _ in range(3):
        await web.chat_postMessage(channel="C1", text="t")
    answer = await refused(web.chat_postMessage(channel="C1", text="t"))
    assert answer["status"] == 429 and answer["error"] == "ratelimited" and answer["retry_after"] == "1"
    assert (await web.chat_postMessage(channel="C2", text="t"))["ok"]  # another channel's own budget


@pytest.mark.parametrize(("method", "per_minute"), [("chat.update", 50), ("views.publish", 100),
                                                    ("conversations.history", 50),
                                                    ("conversations.replies", 50)])
async def test_workspace_methods_are_limited_per_workspace(slack: SlackEmulator, method: str,
                                                           per_minute: int) -> None:
    web = client(slack)
    posted = [await web.chat_postMessage(channel=c, text="t") for c in ("C1", "C2")]
    args = {"chat.update": lambda n: {"channel": f"C{n % 2 + 1}", "ts": posted[n % 2]["ts"], "text": "u"},
            "views.publish": lambda n: {"user_id": f"U{n}", "view": {"type": "home", "blocks": [section()]}},
            "conversations.history": lambda n: {"channel": f"C{n % 2 + 1}"},
            "conversations.replies": lambda n: {"channel": f"C{n % 2 + 1}", "ts": posted[n % 2]["ts"]}}[method]
    for n in range(per_minute):  # across channels and users: one budget for the workspace
        assert (await web.api_call(method, json=args(n)))["ok"]
    answer = await refused(web.api_call(method, json=args(per_minute)))
    assert answer["status"] == 429 and int(answer["retry_after"]) >= 1


def test_both_manifests_pass_slacks_manifest_schema() -> None:
    socket_mode = build_manifest(socket_mode=True)
    http = build_manifest(url="https://bot.example.com")
    assert manifest_problems(socket_mode) == [] and manifest_problems(http) == []
    assert http["settings"]["interactivity"]["message_menu_options_url"] == "https://bot.example.com/slack/events"
    broken = {**http, "settings": {**http["settings"], "interactivity": {"options_url": "x"}}}
    assert manifest_problems(broken) == ["settings.interactivity: unknown key 'options_url'",
                                         "settings.interactivity.is_enabled is required"]


def test_option_requests_go_only_where_the_manifest_says(slack: SlackEmulator) -> None:
    slack.manifest = build_manifest(url="https://bot.example.com")
    assert slack.options_url() == "https://bot.example.com/slack/events"
    slack.manifest["settings"]["interactivity"].pop("message_menu_options_url")
    assert slack.options_url() is None  # Slack sends none: every external select stays empty
    assert SlackEmulator(manifest=build_manifest(socket_mode=True)).options_url() == "socket"
