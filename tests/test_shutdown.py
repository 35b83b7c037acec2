"""Stopping the bot (SIGTERM) finishes work already acknowledged to Slack."""

from __future__ import annotations

from bot.sandbox.stack import SandboxStack
from tests.flow import open_modal, view_text


async def test_stop_drains_a_create_that_was_acked_but_not_finished(stack: SandboxStack) -> None:
    stack.cinnox.path_latency["/v1/api/apps/"] = 0.5
    user = stack.user()
    view = await open_modal(user, "/contact")
    reply = await user.submit(view, {"firstName": "Grace", "lastName": "Hopper"})
    assert reply.json["response_action"] == "update"
    assert stack.services.background.in_flight >= 1

    runtime, stack.runtime = stack.runtime, None
    assert runtime is not None
    await runtime.stop()  # what SIGTERM does in `python -m bot serve`

    assert len(stack.cinnox.calls("/management/create_externalcontact")) == 1
    assert "created" in view_text(stack.slack.views[view["id"]])
    assert "created" in user.responses()[0]["text"]
