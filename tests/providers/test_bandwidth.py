"""Bandwidth: the endpoint model, the client over real loopback HTTP, and the simulator's
own enforcement of the documented rules."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pydantic
import pytest
from structlog.testing import capture_logs

from bot.providers import errors
from bot.providers.bandwidth import BandwidthClient, EndpointRequest
from bot.providers.fields import field_errors
from bot.sandbox.bandwidth_sim import BandwidthSimulator

TOKEN, SECRET, USER = "t-sandbox", "s-sandbox", "u-sandbox"
PASSWORD = "Pässword-123"  # Latin-1, not ASCII
DOMAIN = "rd-sandbox"
AUTH = {"Authorization": aiohttp.encode_basic_auth(TOKEN, SECRET)}


@pytest.fixture
async def sim() -> AsyncIterator[BandwidthSimulator]:
    async with BandwidthSimulator(USER, TOKEN, SECRET) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
async def client(sim: BandwidthSimulator) -> AsyncIterator[BandwidthClient]:
    bw = BandwidthClient(sim.url, USER, TOKEN, SECRET, timeout=0.5, max_retry_wait=3.0)
    yield bw
    await bw.close()


def full_request(**over: Any) -> EndpointRequest:
    data: dict[str, Any] = {
        "name": "jsmith_mobile",
        "description": "John Smith's mobile client",
        "applicationId": "a-12345",
        "enabled": False,
        "credentials": {"password": PASSWORD},
    }
    data.update(over)
    return EndpointRequest.model_validate(data)


def posts(sim: BandwidthSimulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/endpoints")]


# --- success ------------------------------------------------------------------------------


async def test_create_sends_exact_body_and_reports_id_sip_uri_and_realm(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    endpoint = await client.create_endpoint(DOMAIN, full_request())

    (post,) = posts(sim)
    assert post.path == f"/v1/users/{USER}/domains/{DOMAIN}/endpoints"
    assert post.body == {
        "name": "jsmith_mobile",
        "description": "John Smith's mobile client",
        "applicationId": "a-12345",
        "enabled": False,
        "credentials": {"password": PASSWORD},
    }
    assert post.headers["Authorization"].startswith("Basic ")
    (stored_id,) = sim.endpoints[DOMAIN]
    assert endpoint.id == stored_id
    assert endpoint.sip_uri == "sip:jsmith_mobile@sandbox.bwapp.bwsip.io"
    assert endpoint.credentials is not None
    assert endpoint.credentials.realm == "sandbox.bwapp.bwsip.io"
    assert endpoint.credentials.username == "jsmith_mobile"
    assert endpoint.enabled is False and endpoint.domain_id == DOMAIN
    assert endpoint.application_id == "a-12345"


async def test_minimal_request_omits_empty_optionals_and_enables_by_default(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    req = EndpointRequest.model_validate({"name": "+1-212-555-0100", "credentials": {"password": "abc123"}})
    endpoint = await client.create_endpoint(DOMAIN, req)
    assert posts(sim)[0].body == {"name": "+1-212-555-0100", "enabled": True,
                                  "credentials": {"password": "abc123"}}
    assert endpoint.enabled is True


async def test_endpoint_is_reported_even_when_the_read_back_fails(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    sim.inject(500, path_prefix="/v1/users/u-sandbox/domains/rd-sandbox/endpoints/", count=5)
    endpoint = await client.create_endpoint(DOMAIN, full_request())
    assert endpoint.id in sim.endpoints[DOMAIN]
    assert endpoint.name == "jsmith_mobile" and endpoint.sip_uri is None
    assert len(posts(sim)) == 1


async def test_list_domains_for_the_picker(client: BandwidthClient) -> None:
    domains = await client.list_domains()
    assert [(d.id, d.name) for d in domains] == [("rd-sandbox", "sandbox"), ("rd-lab", "lab")]
    await client.ping()


async def test_list_domains_survives_a_transient_500(sim: BandwidthSimulator, client: BandwidthClient) -> None:
    sim.inject(500, path_prefix="/v1/users")
    assert len(await client.list_domains()) == 2
    assert len([r for r in sim.requests if r.path.endswith("/domains")]) == 2


# --- the model's rules ------------------------------------------------------------------------

VALID_NAMES = ["jsmith_mobile", "a.b-c!~*'()", "x&y=z+$,;?/", "john%20smith", "+1-212-555-0100", "*97#"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_model_accepts_sip_user_names(name: str) -> None:
    assert EndpointRequest.model_validate({"name": name, "credentials": {"password": "abcdef"}}).name == name


REJECTIONS = [
    ({"name": "john smith"}, "name", "Endpoint name cannot contain a space"),
    ({"name": "jsmith@home"}, "name", 'Endpoint name cannot contain "@"'),
    ({"name": "100%"}, "name", 'Endpoint name has a "%" that is not followed by two hex digits'),
    ({"name": "jo#hn"}, "name", 'Endpoint name may contain "#" only as part of a telephone number'),
    ({"name": ""}, "name", "Endpoint name is required"),
    ({"name": None}, "name", "Endpoint name"),
    ({"credentials": {"password": "abc12"}}, "credentials.password",
     "SIP password must be at least 6 characters long"),
    ({"credentials": {"password": "pass€word"}}, "credentials.password",
     "SIP password may contain only Latin-1 (ISO 8859-1) characters"),
    ({"credentials": None}, "credentials", "Enter the SIP password"),
    ({"enabled": "maybe"}, "enabled", "Enabled must be true or false"),
    ({"sipUri": "sip:x@y"}, "sipUri", "Sip uri is not a field of this request"),
]


@pytest.mark.parametrize(("over", "path", "sentence"), REJECTIONS)
def test_model_rejects_with_path_and_sentence(over: dict[str, Any], path: str, sentence: str) -> None:
    data: dict[str, Any] = {"name": "ok", "credentials": {"password": "abcdef"}, **over}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(pydantic.ValidationError) as caught:
        EndpointRequest.model_validate(data)
    found = field_errors(EndpointRequest, caught.value)
    assert path in found, found
    assert found[path].startswith(sentence) and found[path].endswith(".")
    assert "pass€word" not in str(caught.value) and "abc12" not in repr(caught.value)


# --- the simulator's own enforcement (client validation bypassed) -----------------------------

RAW_REJECTIONS = [
    ({"name": "john smith", "credentials": {"password": "abcdef"}}, "invalid-name"),
    ({"name": "jsmith@home", "credentials": {"password": "abcdef"}}, "invalid-name"),
    ({"credentials": {"password": "abcdef"}}, "missing-name"),
    ({"name": "ok"}, "missing-credentials"),
    ({"name": "ok", "credentials": {}}, "missing-password"),
    ({"name": "ok", "credentials": {"password": "abc12"}}, "invalid-password"),
    ({"name": "ok", "credentials": {"password": "pass€word"}}, "invalid-password"),
    ({"name": "ok", "enabled": "maybe", "credentials": {"password": "abcdef"}}, "invalid-enabled"),
    ({"name": "ok", "sipUri": "x", "credentials": {"password": "abcdef"}}, "unknown-field"),
]


@pytest.mark.parametrize(("body", "code"), RAW_REJECTIONS)
async def test_simulator_rejects_raw_bodies(sim: BandwidthSimulator, body: dict[str, Any], code: str) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{sim.url}/v1/users/{USER}/domains/{DOMAIN}/endpoints", json=body) as resp:
            assert resp.status == 400
            answer = await resp.json()
    assert answer["category"] == "bad-request" and answer["code"] == code
    assert answer["message"]
    assert sim.endpoints[DOMAIN] == {}


async def test_simulator_accepts_the_docs_string_enabled(sim: BandwidthSimulator) -> None:
    body = {"name": "jsmith_mobile", "enabled": "false", "credentials": {"password": "abc123"}}
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{sim.url}/v1/users/{USER}/domains/{DOMAIN}/endpoints", json=body) as resp:
            assert resp.status == 201
            location = resp.headers["Location"]
        async with http.get(sim.url + location) as resp:
            got = await resp.json()
    assert got["enabled"] is False and "password" not in str(got)


# --- errors the user sees ------------------------------------------------------------------------


async def test_duplicate_name_is_a_conflict_with_bandwidths_message(client: BandwidthClient) -> None:
    await client.create_endpoint(DOMAIN, full_request())
    with pytest.raises(errors.ConflictError) as caught:
        await client.create_endpoint(DOMAIN, full_request())
    assert caught.value.status == 409 and caught.value.code == "duplicate-name"
    assert "already exists" in caught.value.message


async def test_wrong_credentials_are_an_auth_error(sim: BandwidthSimulator) -> None:
    bad = BandwidthClient(sim.url, USER, TOKEN, "wrong-secret-xyz", timeout=0.5)
    try:
        with capture_logs() as logs, pytest.raises(errors.AuthError) as caught:
            await bad.list_domains()
    finally:
        await bad.close()
    assert caught.value.status == 401
    assert caught.value.message == "The credentials provided are invalid or missing"
    text = str(caught.value) + repr(caught.value) + repr(bad) + str(logs)
    assert "wrong-secret-xyz" not in text and TOKEN not in text


async def test_bad_request_uses_the_providers_message(sim: BandwidthSimulator, client: BandwidthClient) -> None:
    sim.inject(400, body={"category": "bad-request", "code": "invalid-application-id",
                          "message": "The application a-12345 does not exist", "details": []})
    with pytest.raises(errors.ValidationError) as caught:
        await client.create_endpoint(DOMAIN, full_request())
    assert caught.value.message == "The application a-12345 does not exist"
    assert caught.value.code == "invalid-application-id"


async def test_error_without_message_falls_back_to_the_code(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    sim.inject(400, body={"category": "bad-request", "code": "invalid-application-id", "details": []})
    with pytest.raises(errors.ValidationError) as caught:
        await client.create_endpoint(DOMAIN, full_request())
    assert caught.value.message == "invalid-application-id"


async def test_429_waits_for_x_ratelimit_reset_then_succeeds(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    reset_ms = int((time.time() + 0.3) * 1000)
    sim.inject(429, headers={"X-RateLimit-Reset": str(reset_ms)}, path_prefix="/v1/users/u-sandbox/domains/rd")
    started = time.time()
    endpoint = await client.create_endpoint(DOMAIN, full_request())
    assert time.time() * 1000 >= reset_ms - 50
    assert time.time() - started < 2
    assert len(posts(sim)) == 2 and list(sim.endpoints[DOMAIN]) == [endpoint.id]


async def test_rate_limit_mode_is_honoured(sim: BandwidthSimulator, client: BandwidthClient) -> None:
    sim.rate_limit, sim.rate_window = 2, 0.4
    for _ in range(4):
        assert len(await client.list_domains()) == 2
    assert len(sim.requests) > 4  # the third was answered 429, waited for and sent again


async def test_429_beyond_the_wait_budget_is_rate_limited(sim: BandwidthSimulator) -> None:
    impatient = BandwidthClient(sim.url, USER, TOKEN, SECRET, timeout=0.5, max_retry_wait=0.1)
    sim.inject(429, headers={"X-RateLimit-Reset": str(int((time.time() + 5) * 1000))})
    try:
        with pytest.raises(errors.RateLimitedError) as caught:
            await impatient.list_domains()
    finally:
        await impatient.close()
    assert caught.value.retry_after is not None and caught.value.retry_after > 3


async def test_500_on_create_is_unavailable_and_never_resent(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    sim.inject(500, body={"category": "unexpected", "code": "internal-server-error",
                          "message": "Something went wrong"}, path_prefix="/v1/users")
    with pytest.raises(errors.UnavailableError) as caught:
        await client.create_endpoint(DOMAIN, full_request())
    assert caught.value.message == "Something went wrong"
    assert len(posts(sim)) == 1


async def test_timeout_on_create_is_unavailable_and_never_resent(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    sim.inject(201, path_prefix="/v1/users", delay=1.0)
    with pytest.raises(errors.UnavailableError) as caught:
        await client.create_endpoint(DOMAIN, full_request())
    assert "did not answer in time" in caught.value.message
    assert len(posts(sim)) == 1


async def test_no_secret_or_password_in_errors_or_logs(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    seen: list[str] = []
    with capture_logs() as logs:
        await client.create_endpoint(DOMAIN, full_request())
        for fault in (400, 409, 500):
            sim.inject(fault, path_prefix="/v1/users")
            with pytest.raises(errors.ProviderError) as caught:
                await client.create_endpoint(DOMAIN, full_request(name=f"n{fault}"))
            seen += [str(caught.value), repr(caught.value), caught.value.user_sentence()]
    seen += [str(logs), repr(client), repr(full_request())]
    for text in seen:
        assert PASSWORD not in text and SECRET not in text and TOKEN not in text


async def test_endpoint_is_reported_when_the_read_back_has_an_unexpected_shape(
    sim: BandwidthSimulator, client: BandwidthClient
) -> None:
    sim.inject(200, body={"name": ["not", "a", "name"]},
               path_prefix="/v1/users/u-sandbox/domains/rd-sandbox/endpoints/")
    endpoint = await client.create_endpoint(DOMAIN, full_request())
    assert endpoint.id in sim.endpoints[DOMAIN] and endpoint.name == "jsmith_mobile"
    assert len(posts(sim)) == 1


async def test_an_error_that_echoes_the_credentials_does_not_carry_them(sim: BandwidthSimulator) -> None:
    leaky = BandwidthClient(sim.url, USER, "tok-echoed-123", "sec-echoed-456", timeout=0.5)
    sim.inject(400, body={"category": "bad-request", "code": "x",
                          "message": "bad auth tok-echoed-123:sec-echoed-456"})
    try:
        with pytest.raises(errors.ValidationError) as caught:
            await leaky.create_endpoint(DOMAIN, full_request())
    finally:
        await leaky.close()
    shown = str(caught.value) + repr(caught.value) + caught.value.user_sentence() + str(caught.value.args)
    assert "tok-echoed-123" not in shown and "sec-echoed-456" not in shown and "[redacted]" in shown


# Client and simulator read RFC 3261 §19.1.1 alike: what one refuses, the other refuses.
SIP_NAMES = ["jsmith_mobile", "al%20ice", "al%2", "*97#", "*97#;ext=12", "*97#;x=é", "*97#;x=a b",
             "a#b", "+1-555-0100", "1234PW#", "bad name", "ümlaut", "#", "+1(555)0100;isub=12"]


@pytest.mark.parametrize("name", SIP_NAMES)
async def test_client_and_simulator_agree_on_a_sip_user_name(sim: BandwidthSimulator, name: str) -> None:
    try:
        EndpointRequest.model_validate({"name": name, "credentials": {"password": "abc123"}})
        client_takes = True
    except pydantic.ValidationError:
        client_takes = False
    login = base64.b64encode(f"{sim.api_token}:{sim.api_secret}".encode()).decode()
    async with aiohttp.ClientSession() as session, session.post(
        f"{sim.url}/v1/users/{sim.user_id}/domains/rd-sandbox/endpoints",
        json={"name": name, "credentials": {"password": "abc123"}}, headers={"Authorization": f"Basic {login}"},
    ) as resp:
        simulator_takes = resp.status == 201
    assert client_takes == simulator_takes
