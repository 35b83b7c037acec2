"""Every view the bot can show and every message's blocks pass slack_sdk's own Block Kit
models (the list is tests/views.py), and fit Slack's limits our emulator checks too."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.sandbox.block_kit import view_problems
from tests.views import MESSAGES, VIEWS


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_the_view_is_valid_block_kit(name: str) -> None:
    view: dict[str, Any] = VIEWS[name]()
    View(**view).validate_json()
    assert view_problems(view) == []
    assert len(view["blocks"]) <= 100


@pytest.mark.parametrize("name", sorted(MESSAGES) or ["(none yet)"])
def test_the_message_blocks_are_valid_block_kit(name: str) -> None:
    if name not in MESSAGES:
        pytest.skip("no message with blocks registered")
    for raw in MESSAGES[name]():
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
