"""With SLACK_APP_TOKEN set, the bot also takes Slack traffic over Socket Mode."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.slack import SlackEmulator
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually


async def test_a_slash_command_over_socket_mode_is_answered(tmp_path: Path) -> None:
    slack = SlackEmulator(app_token="xapp-1-sandbox")
    async with SandboxStack(tmp_path, slack=slack, slack_app_token="xapp-1-sandbox") as stack:
        await eventually(lambda: stack.slack.sockets)
        ack = await stack.slack.socket_mode_send("slash_commands", {
            "command": "/sip-endpoint", "text": "help", "user_id": "U0ADMIN",
            "channel_id": "C0OPS", "team_id": "T0SANDBOX", "trigger_id": "1.t",
            "response_url": stack.slack.new_response_url()})
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "/sip-endpoint" in ack["payload"]["text"]
        metrics = stack.services.metrics.render().decode()
        assert 'bot_slack_requests_total{kind="/sip-endpoint",status="200"} 1.0' in metrics


async def test_socket_mode_opens_modals_through_the_same_handlers(tmp_path: Path) -> None:
    slack = SlackEmulator(app_token="xapp-1-sandbox")
    async with SandboxStack(tmp_path, slack=slack, slack_app_token="xapp-1-sandbox") as stack:
        await eventually(lambda: stack.slack.sockets)
        await stack.slack.socket_mode_send("slash_commands", {
            "command": "/contact", "text": "", "user_id": "U0ADMIN", "channel_id": "C0OPS",
            "team_id": "T0SANDBOX", "trigger_id": stack.slack.new_trigger(),
            "response_url": stack.slack.new_response_url()})
        view = await eventually(lambda: list(stack.slack.views.values()))
        assert view[-1]["callback_id"] == "contact"
