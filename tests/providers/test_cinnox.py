"""CINNOX: the models' rules, the client over real HTTP against the simulator, the simulator's
own enforcement of the same rules, error mapping, retries, and the token staying secret."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pydantic
import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs

from bot.providers import cinnox as cinnox_module
from bot.providers import errors
from bot.providers import http as http_module
from bot.providers.cinnox import (
    CallEventSubscription,
    CallLog,
    CinnoxClient,
    ExternalContactRequest,
    ServiceGroupRequest,
    Staff,
)
from bot.providers.fields import field_errors
from bot.sandbox.cinnox_sim import CinnoxSimulator

TOKEN = "cinnox-app-token-Zq81xLw0"
APP_ID = "app-7f3e"
PREFIX = f"/v1/api/apps/{APP_ID}"
WEBHOOK = "https://bot.example.com/webhooks/cinnox/s3cr3t-path"


@pytest.fixture
async def cinnox_sim() -> AsyncIterator[CinnoxSimulator]:
    sim = CinnoxSimulator(APP_ID, TOKEN, seed=7)
    await sim.start()
    hook = await _echoing_webhook()
    sim.reaches["https://bot.example.com"] = f"http://127.0.0.1:{hook.addresses[0][1]}"
    yield sim
    await hook.cleanup()
    await sim.stop()


async def _echoing_webhook() -> web.AppRunner:
    """A webhook answering CINNOX's challenge, as the bot does."""

    async def hook(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "result": {"challenge": (await request.json())["challenge"]}})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.fixture
async def cinnox_client(cinnox_sim: CinnoxSimulator) -> AsyncIterator[CinnoxClient]:
    client = CinnoxClient(cinnox_sim.url, APP_ID, TOKEN, timeout=2.0)
    yield client
    await client.close()


@pytest.fixture
async def cinnox_fast_client(cinnox_sim: CinnoxSimulator) -> AsyncIterator[CinnoxClient]:
    """A client whose per-attempt timeout is short, for timeout tests."""
    client = CinnoxClient(cinnox_sim.url, APP_ID, TOKEN, timeout=0.2)
    yield client
    await client.close()


SERVICE_GROUP_FULL = {
    "displayName": "Sales HK",
    "supportLanguages": ["en", "zh"],
    "supportLocations": ["HK", "US-CA"],
    "types": ["PHONE", "STAFF", "TRUNK"],
    "phoneTargets": ["+85294667788", "+14155550100"],
    "staffTargets": ["staff-0001", "staff-0002"],
    "trunkTargets": ["+85230001234"],
}

CONTACT_FULL = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "level": "Secondary",
    "type": "Customer",
    "phones": [{"type": "Mobile", "phone": "+85294667788"}, {"type": "Work", "phone": "+442071838750"}],
    "emails": [
        {"type": "Work", "email": "ada@example.com"},
        {"type": "Personal", "email": "a.l@mail.example.org"},
    ],
    "company": "Analytical Engines Ltd",
    "jobTitle": "Engineer",
    "team": "Research",
    "group": "VIP",
    "language": "en",
    "birthDate": "10/12/1985",
    "addresses": [
        {
            "street": "1 Queen's Road",
            "city": "Hong Kong",
            "state": "HK Island",
            "zipcode": "000000",
            "country": "HK",
        },
        {"city": "London", "country": "GB"},
    ],
    "socialContacts": [
        {"key": "WhatsApp", "value": "WhatsApp+85294667788"},
        {"key": "WoztellInstagram", "value": "ada.l"},
    ],
    "customField": [
        {"type": "FieldTypePicklist", "name": "Tier", "value": "Gold"},
        {"type": "FieldTypeMultiPicklist", "name": "Interests", "value": "Voice,SMS"},
        {"type": "FieldTypeText", "name": "Notes", "value": "x" * 500},
        {"type": "FieldTypeURL", "name": "CRM", "value": "https://crm.example.com/c/42"},
        {"type": "FieldTypeBoolean", "name": "VIP", "value": "TRUE"},
        {"type": "FieldTypeDate", "name": "Since", "value": "2024-05-01T09:30:00+08:00"},
        {"type": "FieldTypeTime", "name": "Best time", "value": "23:59"},
    ],
}


# --- each operation: the exact request and the parsed answer ---------------------------------


async def test_create_service_group_sends_the_documented_body(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    new_id = await cinnox_client.create_service_group(ServiceGroupRequest.model_validate(SERVICE_GROUP_FULL))
    sent = cinnox_sim.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"{PREFIX}/destination")
    assert sent.body == SERVICE_GROUP_FULL
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"].startswith("application/json")
    assert new_id in cinnox_sim.destinations and cinnox_sim.destinations[new_id] == SERVICE_GROUP_FULL


async def test_service_group_for_all_languages_and_locations_sends_stars(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    request = ServiceGroupRequest(
        display_name="Everyone",
        support_languages=["*"],
        support_locations=["*"],
        types=["STAFF"],
        staff_targets=["staff-0003"],
    )
    await cinnox_client.create_service_group(request)
    assert cinnox_sim.requests[-1].body == {
        "displayName": "Everyone",
        "supportLanguages": ["*"],
        "supportLocations": ["*"],
        "types": ["STAFF"],
        "staffTargets": ["staff-0003"],
    }


async def test_create_external_contact_sends_every_field(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    new_id = await cinnox_client.create_external_contact(ExternalContactRequest.model_validate(CONTACT_FULL))
    sent = cinnox_sim.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"{PREFIX}/management/create_externalcontact")
    assert sent.body == CONTACT_FULL
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert cinnox_sim.contacts[new_id] == CONTACT_FULL


async def test_a_minimal_contact_sends_only_the_name_and_the_documented_defaults(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    await cinnox_client.create_external_contact(ExternalContactRequest(last_name="Hopper"))
    assert cinnox_sim.requests[-1].body == {"lastName": "Hopper", "level": "Primary", "type": "Lead"}


def test_contact_normalises_typed_values_and_takes_a_date_object() -> None:
    contact = ExternalContactRequest.model_validate(
        {
            "firstName": "  Ada ",
            "language": "EN",
            "birthDate": dt.date(1985, 12, 1),
            "phones": [{"type": "Home", "phone": "+852 9466 7788"}],
            "addresses": [{"country": "hk"}],
            "company": "",
        }
    )
    assert contact.to_api() == {
        "firstName": "Ada",
        "level": "Primary",
        "type": "Lead",
        "language": "en",
        "birthDate": "01/12/1985",
        "phones": [{"type": "Home", "phone": "+85294667788"}],
        "addresses": [{"country": "HK"}],
    }


async def test_subscribe_and_unsubscribe_patch_the_call_event_subscription(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    state = await cinnox_client.set_call_event_subscription(True, WEBHOOK)
    sent = cinnox_sim.requests[-1]
    assert (sent.method, sent.path, sent.body) == (
        "PATCH",
        f"{PREFIX}/call-event-sub",
        {"enabled": True, "url": WEBHOOK},
    )
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (state.enabled, state.url) == (True, WEBHOOK)
    assert dt.datetime.fromisoformat(state.updated_at.replace("Z", "+00:00"))  # RFC 3339
    assert cinnox_sim.subscription == {"enabled": True, "url": WEBHOOK, "updatedAt": state.updated_at}

    state = await cinnox_client.set_call_event_subscription(False, WEBHOOK)
    assert cinnox_sim.requests[-1].body == {"enabled": False, "url": WEBHOOK}
    assert state.enabled is False and cinnox_sim.subscription["enabled"] is False


async def test_list_staff_searches_by_full_name(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    staff = await cinnox_client.list_staff(full_name="ada love", limit=50)
    sent = cinnox_sim.requests[-1]
    assert (sent.method, sent.path) == ("GET", f"{PREFIX}/contacts/staffcontact-list")
    assert sent.query == {"offset": "0", "limit": "50", "fullName": "ada love"}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert staff == [
        Staff(
            id="staff-0001",
            status="Activated",
            first_name="Ada",
            last_name="Lovelace",
            display_name="Ada Lovelace",
            email="ada@example.com",
            extension_number="1001",
        )
    ]
    everyone = await cinnox_client.list_staff()
    assert "fullName" not in cinnox_sim.requests[-1].query
    assert {s.status for s in everyone} == {"Activated", "Not activated", "Suspended"}


@pytest.mark.parametrize(
    "result",
    [
        [{"id": "s1", "displayName": "One", "extensionNumber": 1001, "unknown": True}],
        {"list": [{"id": "s1", "displayName": "One", "extensionNumber": 1001}], "total": 1},
        {"data": [{"id": "s1", "displayName": "One", "extensionNumber": 1001}]},
        {"page": {"items": [{"id": "s1", "displayName": "One", "extensionNumber": 1001}]}},
    ],
    ids=["bare-list", "list-key", "data-key", "nested"],
)
async def test_list_staff_reads_any_list_envelope(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient, result: Any
) -> None:
    cinnox_sim.inject(200, body={"code": 0, "result": result})
    [one] = await cinnox_client.list_staff()
    assert (one.id, one.display_name, one.extension_number) == ("s1", "One", "1001")


async def test_list_staff_limit_above_500_is_refused_before_sending(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    with pytest.raises(ValueError, match="500"):
        await cinnox_client.list_staff(limit=501)
    assert cinnox_sim.requests == []


async def test_ping_is_one_cheap_authenticated_read(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    await cinnox_client.ping()
    [sent] = cinnox_sim.requests
    assert sent.method == "GET" and sent.query["limit"] == "1"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_get_call_log_returns_the_recorded_call(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    end = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    cinnox_sim.record_call("call-1", 95, end=end, bye_reason="NORMAL_CLEARING", release_party="callee")
    cinnox_sim.record_call("call-2", 5)
    log = await cinnox_client.get_call_log("call-1")
    sent = cinnox_sim.requests[-1]
    assert (sent.method, sent.path, sent.query) == ("GET", f"{PREFIX}/data/call-log", {"callId": "call-1"})
    assert log == CallLog(
        call_duration=95,
        call_date="2025-01-02T03:02:30Z",
        call_end_time="2025-01-02T03:04:05Z",
        bye_reason="NORMAL_CLEARING",
        release_party="callee",
    )
    assert await cinnox_client.get_call_log("call-404") is None


async def test_get_call_log_never_returns_another_calls_log(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.record_call("call-1", 95)
    cinnox_sim.record_call("call-2", 5)
    # A filter name CINNOX ignores: every log comes back; the client still picks by ID.
    log = await cinnox_client.get_call_log("call-2", id_param="cid")
    assert cinnox_sim.requests[-1].query == {"cid": "call-2"}
    assert log is not None and log.call_duration == 5


@pytest.mark.parametrize("status", [400, 404])
async def test_get_call_log_is_none_when_unsupported_or_missing(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient, status: int
) -> None:
    cinnox_sim.inject(status)
    assert await cinnox_client.get_call_log("call-1") is None


# --- every documented rule: the model's sentence and the simulator's refusal ------------------

MISSING = object()
SG_MIN = {
    "displayName": "Sales",
    "supportLanguages": ["en"],
    "supportLocations": ["HK"],
    "types": ["PHONE"],
    "phoneTargets": ["+85294667788"],
}
CONTACT_MIN = {"firstName": "Ada"}
SUB_MIN = {"enabled": True, "url": WEBHOOK}
KINDS: dict[str, tuple[type[pydantic.BaseModel], dict[str, Any], str]] = {
    "group": (ServiceGroupRequest, SG_MIN, "/destination"),
    "contact": (ExternalContactRequest, CONTACT_MIN, "/management/create_externalcontact"),
    "sub": (CallEventSubscription, SUB_MIN, "/call-event-sub"),
}


def cf(kind: str, value: Any, name: Any = "F") -> dict[str, Any]:
    row = {"type": kind, "name": name, "value": value}
    return {"customField": [{k: v for k, v in row.items() if v is not MISSING}]}


# (kind, change to the minimal valid body, dotted path, words in the sentence, the simulator enforces it)
RULES = [
    ("group", {"displayName": MISSING}, "displayName", "required", True),
    ("group", {"displayName": "x" * 41}, "displayName", "40 characters", True),
    ("group", {"supportLanguages": MISSING}, "supportLanguages", "required", True),
    ("group", {"supportLanguages": []}, "supportLanguages", "at least 1", True),
    ("group", {"supportLanguages": ["en", "x1"]}, "supportLanguages.1", "language code", True),
    ("group", {"supportLocations": MISSING}, "supportLocations", "required", True),
    ("group", {"supportLocations": []}, "supportLocations", "at least 1", True),
    ("group", {"supportLocations": ["USA"]}, "supportLocations.0", "US+CA", True),
    ("group", {"supportLocations": ["US/CA"]}, "supportLocations.0", "US+CA", True),
    ("group", {"types": MISSING}, "types", "required", True),
    ("group", {"types": []}, "types", "at least 1", True),
    ("group", {"types": ["phone"]}, "types.0", "PHONE, STAFF or TRUNK", True),
    ("group", {"phoneTargets": []}, "phoneTargets", "needs at least one number", True),
    ("group", {"phoneTargets": ["+85294667788", "04667788"]}, "phoneTargets.1", "country code", True),
    ("group", {"types": ["STAFF"], "phoneTargets": MISSING}, "staffTargets", "needs at least one person", True),
    ("group", {"types": ["TRUNK"], "phoneTargets": MISSING}, "trunkTargets", "needs at least one number", True),
    (
        "group",
        {"types": ["TRUNK"], "phoneTargets": MISSING, "trunkTargets": ["+852"]},
        "trunkTargets.0",
        "country code",
        True,
    ),
    ("group", {"displayname": "typo"}, "displayname", "not a field", True),
    ("contact", {"level": "Quaternary"}, "level", "Primary, Secondary or Tertiary", True),
    ("contact", {"type": "Friend"}, "type", "Lead, Prospect, Customer or Others", True),
    ("contact", {"phones": [{"type": "Mobile", "phone": "94667788"}]}, "phones.0.phone", '"+"', True),
    (
        "contact",
        {"phones": [{"type": "Mobile", "phone": "+85294667788"}, {"type": "Cell", "phone": "+85294667788"}]},
        "phones.1.type",
        "Mobile, Work, Home or Other",
        True,
    ),
    ("contact", {"phones": [{"type": "Mobile"}]}, "phones.0.phone", "required", True),
    ("contact", {"emails": [{"type": "Work", "email": "ada@"}]}, "emails.0.email", "email address", True),
    (
        "contact",
        {"emails": [{"type": "Office", "email": "ada@example.com"}]},
        "emails.0.type",
        "Work, Personal or Other",
        True,
    ),
    ("contact", {"language": "english"}, "language", "ISO 639-1", True),
    ("contact", {"birthDate": "1985-12-10"}, "birthDate", "DD/MM/YYYY", True),
    ("contact", {"birthDate": "31/02/1985"}, "birthDate", "not a real date", True),
    (
        "contact",
        {"addresses": [{"country": "HK"}, {"city": "Atlantis", "country": "ZZ"}]},
        "addresses.1.country",
        "ISO 3166",
        True,
    ),
    (
        "contact",
        {"socialContacts": [{"key": "MySpace", "value": "ada"}]},
        "socialContacts.0.key",
        "WhatsApp",
        True,
    ),
    (
        "contact",
        {"socialContacts": [{"key": "LINE", "value": "x" * 101}]},
        "socialContacts.0.value",
        "100 characters",
        True,
    ),
    ("contact", {"phones": [{"phone": "+85294667788"}]}, "phones.0.type", "required", True),
    ("contact", {"emails": [{"type": "Work"}]}, "emails.0.email", "required", True),
    ("contact", {"emails": [{"email": "ada@example.com"}]}, "emails.0.type", "required", True),
    ("contact", {"socialContacts": [{"value": "ada"}]}, "socialContacts.0.key", "required", True),
    ("contact", {"socialContacts": [{"key": "LINE"}]}, "socialContacts.0.value", "required", True),
    ("contact", {"customField": [{"name": "Tier", "value": "Gold"}]}, "customField.0.type", "required", True),
    ("contact", {"customField": [{"type": "FieldTypeText", "name": "Tier"}]}, "customField.0.value", "required",
     True),
    ("contact", cf("FieldTypeColour", "red"), "customField.0.type", "FieldTypeText", True),
    ("contact", cf("FieldTypeText", "x", name=MISSING), "customField.0.name", "required", True),
    ("contact", cf("FieldTypeText", "x" * 501), "customField.0.value", "500 characters", True),
    ("contact", cf("FieldTypeURL", "files.example.com/x"), "customField.0.value", "URL", True),
    ("contact", cf("FieldTypeURL", "https://e.example/" + "a" * 490), "customField.0.value", "500", True),
    ("contact", cf("FieldTypeBoolean", "yes"), "customField.0.value", "true or false", True),
    ("contact", cf("FieldTypeDate", "2024-05-01"), "customField.0.value", "RFC 3339", True),
    ("contact", cf("FieldTypeDate", "2024-02-30T00:00:00Z"), "customField.0.value", "RFC 3339", True),
    ("contact", cf("FieldTypeTime", "9:30"), "customField.0.value", "HH:MM", True),
    ("contact", cf("FieldTypeTime", "24:00"), "customField.0.value", "24-hour", True),
    ("contact", cf("FieldTypePicklist", "Gold,Silver"), "customField.0.value", "single", True),
    ("sub", {"url": MISSING}, "url", "required", True),
    ("sub", {"url": "ftp://bot.example.com/hook"}, "url", "https://", True),
    ("sub", {"enabled": "maybe"}, "enabled", "true or false", True),
    ("sub", {"enabled": MISSING}, "enabled", "required", True),
]
RULE_IDS = [f"{kind}-{path}-{words[:18]}" for kind, _, path, words, _ in RULES]


def body_for(kind: str, change: dict[str, Any]) -> dict[str, Any]:
    merged = {**KINDS[kind][1], **change}
    return {k: v for k, v in merged.items() if v is not MISSING}


@pytest.mark.parametrize(("kind", "change", "path", "words", "sim"), RULES, ids=RULE_IDS)
def test_model_rejects_with_the_fields_path_and_a_sentence(
    kind: str, change: dict[str, Any], path: str, words: str, sim: bool
) -> None:
    model = KINDS[kind][0]
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(body_for(kind, change))
    found = field_errors(model, caught.value)
    assert path in found, found
    assert words.lower() in found[path].lower(), found[path]
    assert found[path].endswith(".") and found[path][0].isupper()


@pytest.mark.parametrize(
    ("kind", "change", "path", "words", "sim"),
    [r for r in RULES if r[4]],
    ids=[i for i, r in zip(RULE_IDS, RULES, strict=True) if r[4]],
)
async def test_simulator_rejects_the_same_violation_sent_raw(
    cinnox_sim: CinnoxSimulator, kind: str, change: dict[str, Any], path: str, words: str, sim: bool
) -> None:
    suffix = KINDS[kind][2]
    method = "PATCH" if kind == "sub" else "POST"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            cinnox_sim.url + PREFIX + suffix,
            json=body_for(kind, change),
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        answer = await resp.json()
    assert resp.status == 400
    assert answer["code"] == 6451000
    assert path in answer["message"], answer


@pytest.mark.parametrize("kind", ["group", "contact", "sub"])
async def test_simulator_accepts_the_minimal_valid_bodies(cinnox_sim: CinnoxSimulator, kind: str) -> None:
    method = "PATCH" if kind == "sub" else "POST"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            cinnox_sim.url + PREFIX + KINDS[kind][2],
            json=body_for(kind, {}),
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        answer = await resp.json()
    assert resp.status == 200 and answer["code"] == 0
    if kind == "contact":
        assert set(answer) == {"code", "result", "cid"} and answer["result"]["id"]
    elif kind == "group":
        assert set(answer) == {"code", "result"} and set(answer["result"]) == {"id"}
    else:
        assert set(answer["result"]) == {"enabled", "url", "updatedAt"}


# --- the simulator's door: token and app ID ---------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "path", "status", "code"),
    [
        ({}, f"{PREFIX}/contacts/staffcontact-list", 401, 401),
        ({"Authorization": "Bearer wrong"}, f"{PREFIX}/contacts/staffcontact-list", 401, 401),
        (
            {"Authorization": f"Bearer {TOKEN}"},
            "/v1/api/apps/other-app/contacts/staffcontact-list",
            404,
            6450001,
        ),
        ({"Authorization": f"Bearer {TOKEN}"}, f"{PREFIX}/no-such-thing", 404, 6450001),
    ],
    ids=["no-token", "wrong-token", "other-app", "unknown-path"],
)
async def test_simulator_checks_token_and_app_id(
    cinnox_sim: CinnoxSimulator, headers: dict[str, str], path: str, status: int, code: int
) -> None:
    async with aiohttp.ClientSession() as session, session.get(cinnox_sim.url + path, headers=headers) as resp:
        answer = await resp.json()
    assert (resp.status, answer["code"]) == (status, code) and answer["message"]


async def test_wrong_token_is_an_auth_error_with_cinnoxs_message(cinnox_sim: CinnoxSimulator) -> None:
    client = CinnoxClient(cinnox_sim.url, APP_ID, "not-the-token")
    try:
        with pytest.raises(errors.AuthError) as caught:
            await client.ping()
    finally:
        await client.close()
    assert caught.value.message == "invalid or missing app token" and caught.value.status == 401


async def test_wrong_app_id_is_not_found(cinnox_sim: CinnoxSimulator) -> None:
    client = CinnoxClient(cinnox_sim.url, "other-app", TOKEN)
    try:
        with pytest.raises(errors.NotFoundError) as caught:
            await client.ping()
    finally:
        await client.close()
    assert (caught.value.code, caught.value.message) == (6450001, "app not found")


async def test_simulator_rejects_staff_page_sizes_over_500(cinnox_sim: CinnoxSimulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            cinnox_sim.url + PREFIX + "/contacts/staffcontact-list?limit=501",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        assert resp.status == 400 and (await resp.json())["code"] == 6451000


async def test_simulator_verifies_the_webhook_with_a_challenge_by_default(
    cinnox_client: CinnoxClient
) -> None:
    # As CINNOX does: a URL that does not answer the challenge is not subscribed.
    with pytest.raises(errors.ValidationError, match="challenge"):
        await cinnox_client.set_call_event_subscription(True, "https://nobody.example.com/hook")


async def test_simulator_verifies_the_webhook_with_a_challenge(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    seen: list[dict[str, Any]] = []
    echo = True

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        challenge = body["challenge"] if echo else "something else"
        return web.json_response({"code": 0, "result": {"challenge": challenge}})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        state = await cinnox_client.set_call_event_subscription(True, url)
        assert state.enabled and len(seen) == 1 and seen[0]["challenge"]
        echo = False
        with pytest.raises(errors.ValidationError, match="challenge"):
            await cinnox_client.set_call_event_subscription(True, url)
    finally:
        await runner.cleanup()


# --- errors: CINNOX's answers become the right error with CINNOX's own message ----------------


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, {"code": 6451000, "message": "invalid phone format"}, errors.ValidationError, 6451000),
        (400, {"code": 0, "message": "The error message from the server."}, errors.ValidationError, 0),
        (200, {"code": 6451000, "message": "types is invalid"}, errors.ValidationError, 6451000),
        (401, {"code": 401, "message": "token expired"}, errors.AuthError, 401),
        (403, {"code": 403, "message": "permission denied"}, errors.AuthError, 403),
        (404, {"code": 3000205, "message": "destination not found"}, errors.NotFoundError, 3000205),
        (200, {"code": 6450001, "message": "method not found"}, errors.NotFoundError, 6450001),
        (409, {"code": 409, "message": "contact already exists"}, errors.ConflictError, 409),
        (500, {"code": 6451001, "message": "internal service error"}, errors.UnavailableError, 6451001),
        (200, {"code": 6451001, "message": "bad response from service"}, errors.UnavailableError, 6451001),
        (502, "Bad Gateway", errors.UnavailableError, None),
    ],
    ids=[
        "400",
        "400-code-0",
        "200-6451000",
        "401",
        "403",
        "404-3000205",
        "200-6450001",
        "409",
        "500",
        "200-6451001",
        "502-text",
    ],
)
async def test_cinnox_answers_map_to_errors_with_the_providers_message(
    cinnox_sim: CinnoxSimulator,
    cinnox_client: CinnoxClient,
    status: int,
    body: Any,
    error: type[errors.ProviderError],
    code: int | None,
) -> None:
    cinnox_sim.inject(status, body=body)
    with pytest.raises(errors.ProviderError) as caught:
        await cinnox_client.create_external_contact(ExternalContactRequest(first_name="Ada"))
    exc = caught.value
    assert type(exc) is error
    expected = body["message"] if isinstance(body, dict) else body
    assert (exc.message, exc.status, exc.code, exc.provider) == (expected, status, code, "cinnox")
    assert str(exc) == f"cinnox create_external_contact: {expected}"
    assert len(cinnox_sim.calls("/create_externalcontact")) == 1  # a create is never re-sent


async def test_rate_limited_create_waits_and_is_retried(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(429, headers={"Retry-After": "0"})
    new_id = await cinnox_client.create_service_group(ServiceGroupRequest.model_validate(SG_MIN))
    assert new_id in cinnox_sim.destinations
    assert len(cinnox_sim.calls("/destination")) == 2


async def test_rate_limit_code_in_a_200_is_retried_too(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(200, body={"code": 6451010, "message": "too many requests"}, headers={"Retry-After": "0"})
    assert await cinnox_client.list_staff(limit=1)
    assert len(cinnox_sim.calls("/staffcontact-list")) == 2


async def test_rate_limit_exhausted_raises_with_retry_after(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(429, headers={"Retry-After": "0"}, count=10)
    with pytest.raises(errors.RateLimitedError) as caught:
        await cinnox_client.create_service_group(ServiceGroupRequest.model_validate(SG_MIN))
    assert (caught.value.code, caught.value.message, caught.value.retry_after) == (
        6451010,
        "too many requests",
        0.0,
    )
    assert len(cinnox_sim.calls("/destination")) == 3
    assert cinnox_sim.destinations == {}


async def test_create_is_not_resent_after_a_500(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(500, count=3)
    with pytest.raises(errors.UnavailableError) as caught:
        await cinnox_client.create_service_group(ServiceGroupRequest.model_validate(SG_MIN))
    assert caught.value.message == "bad response from an internal service"
    assert len(cinnox_sim.calls("/destination")) == 1


async def test_create_is_not_resent_after_a_timeout(
    cinnox_sim: CinnoxSimulator, cinnox_fast_client: CinnoxClient
) -> None:
    cinnox_sim.inject(200, body={"code": 0, "result": {"id": "late"}}, delay=0.5)
    with pytest.raises(errors.UnavailableError, match="did not answer in time"):
        await cinnox_fast_client.create_external_contact(ExternalContactRequest(first_name="Ada"))
    assert len(cinnox_sim.calls("/create_externalcontact")) == 1


async def test_a_read_is_retried_after_a_500(cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient) -> None:
    cinnox_sim.inject(500)
    assert len(await cinnox_client.list_staff()) == 5
    assert len(cinnox_sim.calls("/staffcontact-list")) == 2


async def test_a_read_is_retried_after_a_timeout(
    cinnox_sim: CinnoxSimulator, cinnox_fast_client: CinnoxClient
) -> None:
    cinnox_sim.inject(200, body={"code": 0, "result": []}, delay=0.5)
    assert len(await cinnox_fast_client.list_staff()) == 5
    assert len(cinnox_sim.calls("/staffcontact-list")) == 2


async def test_the_subscription_patch_is_retried_after_a_500(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(503)
    state = await cinnox_client.set_call_event_subscription(True, WEBHOOK)
    assert state.enabled and len(cinnox_sim.calls("/call-event-sub")) == 2


async def test_simulator_random_faults_use_cinnoxs_shape(cinnox_sim: CinnoxSimulator) -> None:
    cinnox_sim.fail_ratio, cinnox_sim.fail_statuses = 1.0, (429,)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            cinnox_sim.url + PREFIX + "/contacts/staffcontact-list",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp,
    ):
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"
        assert (await resp.json())["code"] == 6451010


# --- the token never leaks ------------------------------------------------------------------------


async def test_the_token_appears_in_no_error_and_no_log_line(
    cinnox_sim: CinnoxSimulator, cinnox_fast_client: CinnoxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fresh debug-level loggers: a logger cached by an earlier configure_logging(...) could
    # filter out the lines this test must see.
    def debug_logger() -> Any:
        return structlog.wrap_logger(None, wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))

    monkeypatch.setattr(http_module, "log", debug_logger())
    monkeypatch.setattr(cinnox_module, "log", debug_logger())
    caught: list[BaseException] = []
    with capture_logs() as lines:
        cinnox_sim.inject(400, body={"code": 6451000, "message": f"bad header: Bearer {TOKEN}"})
        cinnox_sim.inject(500)
        cinnox_sim.inject(200, body={"code": 0}, delay=0.5)
        for _ in range(3):
            try:
                await cinnox_fast_client.create_external_contact(ExternalContactRequest(first_name="Ada"))
            except errors.ProviderError as exc:
                caught.append(exc)
        cinnox_sim.inject(200, body={"code": 0, "result": [{"displayName": "no id"}]})
        await cinnox_fast_client.list_staff()
        wrong = CinnoxClient(cinnox_sim.url, APP_ID, TOKEN + "-old")
        try:
            await wrong.ping()
        except errors.AuthError as exc:
            caught.append(exc)
        finally:
            await wrong.close()
    assert [type(e) for e in caught] == [
        errors.ValidationError,
        errors.UnavailableError,
        errors.TimedOutError,
        errors.AuthError,
    ]
    assert "[redacted]" in caught[0].message
    assert {line["event"] for line in lines} >= {"provider.call", "provider.failed", "cinnox.items_skipped"}
    texts = [str(e) for e in caught] + [repr(e) for e in caught] + [repr(lines), repr(cinnox_fast_client)]
    for text in texts:
        assert TOKEN not in text


async def test_a_new_id_beside_code_is_read_as_the_document_tables_it(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(200, body={"code": 0, "id": "sg-top-level"})
    new_id = await cinnox_client.create_service_group(ServiceGroupRequest.model_validate(SG_MIN))
    assert new_id == "sg-top-level"


async def test_a_call_log_of_an_unexpected_shape_is_a_provider_error(
    cinnox_sim: CinnoxSimulator, cinnox_client: CinnoxClient
) -> None:
    cinnox_sim.inject(200, body={"code": 0, "result": [{"callId": "c1", "callDuration": {"bad": 1}}]})
    with pytest.raises(errors.ProviderError, match="unexpected shape"):
        await cinnox_client.get_call_log("c1")


# One reading of "Email address", held by the client and the simulator alike.
EMAILS = ["ada@example.com", "ada@example.co.uk", "a+b@xn--p1ai.xn--p1ai", "ada@localhost",
          "ada@example", "ada@@example.com", "ada @example.com", "ada@example.c", "@example.com",
          "ada@example.123", "ada@exa mple.com", "a..b@example.com", "ada(x)@example.com"]


@pytest.mark.parametrize("email", EMAILS)
async def test_client_and_simulator_agree_on_an_email_address(cinnox_sim: CinnoxSimulator, email: str) -> None:
    body = {"firstName": "Ada", "emails": [{"type": "Work", "email": email}]}
    try:
        ExternalContactRequest.model_validate(body)
        client_takes = True
    except pydantic.ValidationError:
        client_takes = False
    async with aiohttp.ClientSession() as session, session.post(
        cinnox_sim.url + PREFIX + "/management/create_externalcontact", json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        assert client_takes == (resp.status == 200), await resp.text()


async def test_simulator_takes_custom_fields_as_the_document_shows_them(cinnox_sim: CinnoxSimulator) -> None:
    # The document lists FieldType* as properties of customField; the bot's list of
    # {type, name, value} is a guess. The simulator takes both, and checks the values.
    async def post(custom: Any) -> int:
        async with aiohttp.ClientSession() as session, session.post(
            cinnox_sim.url + PREFIX + "/management/create_externalcontact",
            json={"firstName": "Ada", "customField": custom}, headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            return resp.status

    assert await post({"FieldTypeText": "Gold", "FieldTypeBoolean": "TRUE"}) == 200
    assert await post([{"type": "FieldTypeText", "name": "Tier", "value": "Gold"}]) == 200
    assert await post({"FieldTypeTime": "25:00"}) == 400
    assert await post({"FieldTypeColour": "red"}) == 400
