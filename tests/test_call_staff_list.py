"""CINNOX's staff list (names for the EIDs in calls) is asked for at most once a minute,
failed reads included: counted at the CINNOX simulator while calls go through the webhook."""

from __future__ import annotations

import time

from bot.sandbox.stack import SandboxStack
from tests.flow import eventually
from tests.test_call_actions import parent_of
from tests.test_call_outcome import staff_call


async def test_a_failing_staff_list_is_not_asked_again_for_every_call_naming_an_unknown_eid(
        stack: SandboxStack) -> None:
    # The bot starts when CINNOX's staff list answers 404 (and has no copy of it yet).
    stack.cinnox.inject(404, path_prefix="/contacts/staffcontact-list", count=100)
    await stack.services.directory.replace_staff([], time.time())
    await stack.restart_bot()
    before = len(stack.cinnox.calls("/contacts/staffcontact-list"))
    await eventually(lambda: len(stack.cinnox.calls("/contacts/staffcontact-list")) > before)  # at start
    for n in range(3):
        await stack.webhook(staff_call(f"c-{n}", f"eid-unknown-{n}"))
        parent = await eventually(lambda n=n: parent_of(stack, f"c-{n}"))
        assert "a staff member" in parent.text, "an EID without a name is not shown raw"
    assert len(stack.cinnox.calls("/contacts/staffcontact-list")) == before + 1, \
        "one read at start; the calls within the minute do not ask again"
