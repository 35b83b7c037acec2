"""The Slack emulator refuses what Slack refuses, so a view that would fail in a real
workspace fails in the tests too."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.block_kit import errors_problems
from bot.sandbox.slack import SlackEmulator

SELECT = {"type": "input", "block_id": "level", "label": {"type": "plain_text", "text": "Level"},
          "element": {"type": "static_select", "action_id": "value",
                      "options": [{"text": {"type": "plain_text", "text": "Primary"}, "value": "Primary"}]}}


def modal(**changes: object) -> dict[str, object]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "New contact"}, "blocks": [SELECT],
            **changes}


@pytest.mark.parametrize(
    ("view", "words"),
    [
        (modal(title={"type": "plain_text", "text": "A title far longer than Slack allows"}), "24"),
        (modal(blocks=[SELECT, SELECT]), "block_id already exists"),
        (modal(private_metadata="x" * 3001), "private_metadata"),
        (modal(blocks=[{**SELECT, "element": {**SELECT["element"], "initial_option": {  # type: ignore[dict-item]
            "text": {"type": "plain_text", "text": "Tertiary"}, "value": "Tertiary"}}}]), "initial option"),
    ],
    ids=["long-title", "duplicate-block-id", "metadata", "initial-option"],
)
async def test_views_slack_would_refuse_are_refused(view: dict[str, object], words: str) -> None:
    async with SlackEmulator(bot_token="xoxb-t") as slack:
        client = AsyncWebClient(token="xoxb-t", base_url=slack.url + "/api/")
        with pytest.raises(SlackApiError) as caught:
            await client.views_open(trigger_id=slack.new_trigger(), view=view)
        assert caught.value.response["error"] == "invalid_arguments"
        assert words in str(caught.value.response["response_metadata"]["messages"])
        assert (await client.views_open(trigger_id=slack.new_trigger(), view=modal()))["ok"]


def test_submission_errors_must_name_input_blocks_of_the_view() -> None:
    assert errors_problems(modal(), {"level": "Pick one."}) == []
    assert errors_problems(modal(), {"phones.0.phone": "Bad."}) != []
