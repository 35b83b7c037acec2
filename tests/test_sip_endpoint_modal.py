"""/sip-endpoint: the domain picker, the request Bandwidth receives, the SIP URI shown, and
a password that never appears anywhere after it is typed."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.sandbox.stack import SandboxStack
from tests.flow import block, block_ids, eventually, open_modal, submit_and_wait

PASSWORD = "Zebra-Horse-913"


def endpoint_posts(stack: SandboxStack) -> list:
    return [r for r in stack.bandwidth.calls("/endpoints") if r.method == "POST"]


async def test_the_modal_has_the_domain_picker_and_every_endpoint_field(stack: SandboxStack) -> None:
    view = await open_modal(stack.user(), "/sip-endpoint")
    assert view["callback_id"] == "sip_endpoint"
    assert block_ids(view) == ["domainId", "name", "description", "applicationId", "enabled",
                               "credentials.password"]
    domain = block(view, "domainId")["element"]
    assert domain["type"] == "external_select"
    assert domain["initial_option"]["value"] == stack.services.settings.bandwidth_domain_id
    reply = await stack.user().suggest(view, "domainId", "")
    assert stack.services.settings.bandwidth_domain_id in [o["value"] for o in reply.json["options"]]


async def test_a_valid_endpoint_is_created_and_its_sip_uri_shown(stack: SandboxStack) -> None:
    user = stack.user()
    view = await open_modal(user, "/sip-endpoint")
    with structlog.testing.capture_logs() as logs:
        outcome = await submit_and_wait(user, view, {
            "name": "jsmith_mobile", "description": "John Smith's mobile", "applicationId": "a-1",
            "enabled": [], "credentials.password": PASSWORD})
        [ephemeral] = await eventually(user.responses)
    [sent] = endpoint_posts(stack)
    domain = stack.services.settings.bandwidth_domain_id
    assert sent.path.endswith(f"/domains/{domain}/endpoints")
    assert sent.body == {"name": "jsmith_mobile", "description": "John Smith's mobile",
                         "applicationId": "a-1", "enabled": False,
                         "credentials": {"password": PASSWORD}}
    assert "sip:jsmith_mobile@" in outcome and "Realm" in outcome
    # The password reached Bandwidth and nothing else: no view, message, audit or log line.
    seen = json.dumps([stack.slack.views, ephemeral, [str(e) for e in logs],
                       [str(e) for e in await stack.services.store.recent_audit()]])
    assert PASSWORD not in seen


@pytest.mark.parametrize(
    ("values", "block_id", "words"),
    [
        ({"name": "bad name with spaces"}, "name", "name"),
        ({"name": ""}, "name", "Enter the endpoint name."),
        ({"credentials.password": "abc12"}, "credentials.password", "6"),
        ({"credentials.password": "pässwörd✓"}, "credentials.password", "Latin"),
    ],
)
async def test_each_rule_errors_inline(stack, values, block_id, words) -> None:
    user = stack.user()
    view = await open_modal(user, "/sip-endpoint")
    reply = await user.submit(view, {"name": "ok_name", "credentials.password": PASSWORD, **values})
    errors = reply.json["errors"]
    assert block_id in errors and words.lower() in errors[block_id].lower(), errors
    assert PASSWORD not in json.dumps(errors)
    assert endpoint_posts(stack) == []


async def test_a_duplicate_name_tells_the_user_to_pick_another(stack: SandboxStack) -> None:
    user = stack.user()
    for expect in ("created", "Could not create the SIP endpoint dup"):
        view = await open_modal(user, "/sip-endpoint")
        outcome = await submit_and_wait(user, view, {"name": "dup", "credentials.password": PASSWORD})
        assert expect in outcome
    assert "another name" in outcome.lower() or "taken" in outcome.lower()


async def test_a_provider_timeout_gives_a_clear_outcome_and_no_resend(tmp_path) -> None:
    async with SandboxStack(tmp_path, provider_timeout=0.5) as stack:
        await _timeout_outcome(stack)


async def _timeout_outcome(stack: SandboxStack) -> None:
    stack.bandwidth.inject(200, path_prefix="/v1/users/", delay=5, count=5)
    user = stack.user()
    view = await open_modal(user, "/sip-endpoint")
    outcome = await submit_and_wait(user, view, {"name": "slowpoke", "credentials.password": PASSWORD})
    assert "Maybe created" in outcome and "may or may not have been created" in outcome
    assert len(endpoint_posts(stack)) == 1


async def test_a_password_is_sent_exactly_as_typed_spaces_included(stack: SandboxStack) -> None:
    # "abc12 " is 6 Latin-1 characters: Bandwidth takes it, and the SIP client will send it so.
    user = stack.user()
    view = await open_modal(user, "/sip-endpoint")
    outcome = await submit_and_wait(user, view, {"name": "spaced", "credentials.password": "abc12 "})
    assert "created" in outcome
    [sent] = endpoint_posts(stack)
    assert sent.body["credentials"] == {"password": "abc12 "}
