"""Every surface the bot can render (the registry is tests/views.py) passes slack_sdk's own
Block Kit models and the Slack emulator's rules, and no form, message builder or command
can be added without a place in that registry."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.relay import messages
from bot.relay.messages import Message
from bot.sandbox.block_kit import view_problems
from bot.sandbox.slack_rules import message_error
from bot.sandbox.stack import SandboxStack
from handlers.commands import COMMANDS
from handlers.forms import provisioning
from tests.views import FORMS, LIVE_MESSAGES, LIVE_VIEWS, MESSAGES, VIEWS


def assert_view_is_valid(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    assert view_problems(view) == []


def assert_message_is_valid(message: Message) -> None:
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
    assert message_error(message.text, message.blocks, blocks_given=bool(message.blocks)) is None


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_the_view_is_valid_block_kit(name: str) -> None:
    assert_view_is_valid(VIEWS[name]())


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_the_message_is_valid_block_kit(name: str) -> None:
    assert_message_is_valid(MESSAGES[name]())


async def test_the_surfaces_built_from_the_store_are_valid_block_kit(stack: SandboxStack) -> None:
    for name in sorted(LIVE_VIEWS):  # empty ones first: "app_home.empty" before "app_home.full"
        view = await LIVE_VIEWS[name](stack)
        assert_view_is_valid(view), name
    for name in sorted(LIVE_MESSAGES):
        assert_message_is_valid(await LIVE_MESSAGES[name](stack))


def test_no_form_message_or_command_is_missing_from_the_registry() -> None:
    names = {*VIEWS, *MESSAGES, *LIVE_VIEWS, *LIVE_MESSAGES}
    forms = {cls.__name__ for cls in provisioning.Form.__subclasses__()}
    assert forms == {type(form).__name__ for form in FORMS}
    builders = [name for name, fn in inspect.getmembers(messages, inspect.isfunction)
                if fn.__module__ == messages.__name__ and inspect.signature(fn).return_annotation == "Message"]
    assert builders and all(any(n.split(".")[0] == b for n in names) for b in builders), builders
    assert all(f"help{command}" in names for command in COMMANDS)
    assert {"app_home.empty", "app_home.full", "call_route.empty"} <= names
