"""Yeastar P-Series: the message channel models, the client (token handling included) over
real loopback HTTP, and the simulator's own enforcement of the documented rules."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pydantic
import pytest
from structlog.testing import capture_logs

from bot.providers import errors
from bot.providers.fields import field_errors
from bot.providers.yeastar import (
    FacebookChannelRequest,
    SmsChannelRequest,
    WhatsAppChannelRequest,
    YeastarClient,
    account_data_fields,
    channel_model,
)
from bot.sandbox.yeastar_sim import YeastarSimulator

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret-9f2c"
UA = "telephony-chatops-bot/0.1"
CREATE = "/openapi/v1.0/message_channel/create"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def sim() -> AsyncIterator[YeastarSimulator]:
    async with YeastarSimulator(CLIENT_ID, CLIENT_SECRET) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
async def client(sim: YeastarSimulator) -> AsyncIterator[YeastarClient]:
    ys = YeastarClient(sim.url, CLIENT_ID, CLIENT_SECRET, timeout=0.5, max_retry_wait=3.0)
    yield ys
    await ys.close()


def creates(sim: YeastarSimulator) -> list[Any]:
    return sim.calls(CREATE)


# --- what the user types, and what Yeastar must receive ---------------------------------------
# (key, typed value, sent value) per provider, in the documented order.

URL_VERIFY, URL_SEND = "https://api.example.com/auth/verify", "https://api.example.com/message/send"
GENERAL = [
    ("api_key", "myAPIKey456", b64("myAPIKey456")),
    ("api_secret", "mySuperSecret123", b64("mySuperSecret123")),
    ("api_verify_url", URL_VERIFY, URL_VERIFY),
    ("api_send_url", URL_SEND, URL_SEND),
]
PROVIDER_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "general": GENERAL,
    "athena": GENERAL,
    "ixica": GENERAL,
    "vetta": GENERAL,
    "apidaze": [("api_key", "apikey-1", b64("apikey-1")), ("api_secret", "sécret-2", b64("sécret-2"))],
    "bandwidth": [
        ("application_id", "app-1", b64("app-1")),
        ("account_id", "9900001", b64("9900001")),
        ("username", "bw-user", b64("bw-user")),
        ("password", "bw-pass!", b64("bw-pass!")),
    ],
    "flowroute": [("access_key", "fr-access", b64("fr-access")), ("secret_key", "fr-secret", b64("fr-secret"))],
    "siptrunk": [("access_key", "st-access", b64("st-access")), ("secret_key", "st-secret", b64("st-secret"))],
    "skyetel": [("sid_key", "sky-sid", b64("sky-sid")), ("secret_key", "sky-secret", b64("sky-secret"))],
    "telnyx": [("api_key", "KEY0123", b64("KEY0123")), ("public_key", "pub/key+=", b64("pub/key+="))],
    "twilio": [
        ("account_sid", "AC0123456789", b64("AC0123456789")),
        ("auth_token", "tw-token", b64("tw-token")),
    ],
    "voicemeup": [("username", "vmu-user", b64("vmu-user")), ("auth_token", "vmu-token", b64("vmu-token"))],
}
DIDS_TYPED = [
    {
        "did_number": "+1234567890",
        "destination_type": "extension",
        "destination_id": "137",
        "members": [
            {"type": "extension", "value": "137"},
            {"type": "ext_group", "value": "2"},
            {"type": "organization", "value": "1"},
        ],
    },
    {"did_number": "+1234567891", "destination_type": "api"},
]


def sms_data(provider: str, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Docs-{provider} SMS Channel",
        "webhook_url_type": "nat",
        "channel": provider,
        "account_data": {k: typed for k, typed, _ in PROVIDER_KEYS[provider]},
        "send_rate": 2,
        "auto_close_session": 1,
        "session_expired_time": 5,
        "accompanying_msg": "Sent with a file",
        "dids": DIDS_TYPED,
    }
    data.update(over)
    return data


WHATSAPP = {
    "name": "Docs-WhatsApp Channel",
    "webhook_url_type": "fqdn",
    "channel": "whatsapp",
    "account_data": {"access_token": "EAAG-access", "app_secret": "app-secret-1"},
    "phone_number_id": "3546573434879",
    "business_account_id": "3456789890",
    "dids": [
        {
            "did_number": "+1 556 777 8888",
            "destination_type": "queue",
            "destination_id": "4",
            "members": [{"type": "extension", "value": "1001"}],
        }
    ],
    "auto_close_session": 1,
    "session_expired_time": 5,
}
FACEBOOK = {
    "name": "Docs-Facebook Channel",
    "webhook_url_type": "fqdn",
    "channel": "facebook",
    "account_data": {"access_token": "EAAG-fb", "app_secret": "fb-secret", "page_name": "test-facebook-page"},
    "dids": [{"did_number": "12345678901234", "destination_type": "queue", "destination_id": "4"}],
    "auto_close_session": 0,
    "session_expired_time": 30,
}


@pytest.mark.parametrize("provider", list(PROVIDER_KEYS))
async def test_sms_channel_sends_the_documented_body(
    sim: YeastarSimulator, client: YeastarClient, provider: str
) -> None:
    channel_id = await client.create_message_channel(SmsChannelRequest.model_validate(sms_data(provider)))

    (sent,) = creates(sim)
    assert sent.body == {
        "name": f"Docs-{provider} SMS Channel",
        "webhook_url_type": "nat",
        "channel": provider,
        "account_data": [{"k": k, "v": v} for k, _, v in PROVIDER_KEYS[provider]],
        "send_rate": 2,
        "auto_close_session": 1,
        "session_expired_time": 5,
        "accompanying_msg": "Sent with a file",
        "dids": DIDS_TYPED,
    }
    assert sent.query["access_token"] in sim.access_tokens
    assert sim.channels[channel_id]["name"] == f"Docs-{provider} SMS Channel"


async def test_general_channel_without_optional_keys_and_fields(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    data = {
        "name": "Minimal",
        "webhook_url_type": "fqdn",
        "channel": "general",
        "account_data": {"api_key": "k1", "api_send_url": URL_SEND, "api_secret": ""},
    }
    channel_id = await client.create_message_channel(SmsChannelRequest.model_validate(data))
    assert creates(sim)[0].body == {
        "name": "Minimal",
        "webhook_url_type": "fqdn",
        "channel": "general",
        "account_data": [{"k": "api_key", "v": b64("k1")}, {"k": "api_send_url", "v": URL_SEND}],
    }
    assert channel_id in sim.channels


async def test_whatsapp_channel_body(sim: YeastarSimulator, client: YeastarClient) -> None:
    channel_id = await client.create_message_channel(WhatsAppChannelRequest.model_validate(WHATSAPP))
    assert creates(sim)[0].body == {
        "name": "Docs-WhatsApp Channel",
        "webhook_url_type": "fqdn",
        "channel": "whatsapp",
        "account_data": [
            {"k": "access_token", "v": b64("EAAG-access")},
            {"k": "app_secret", "v": b64("app-secret-1")},
        ],
        "phone_number_id": "3546573434879",
        "business_account_id": "MzQ1Njc4OTg5MA==",  # the document's example value
        "dids": [
            {
                "did_number": "+15567778888",
                "destination_type": "queue",
                "destination_id": "4",
                "members": [{"type": "extension", "value": "1001"}],
            }
        ],
        "auto_close_session": 1,
        "session_expired_time": 5,
    }
    assert sim.channels[channel_id]["channel"] == "whatsapp"


async def test_facebook_channel_body_keeps_page_name_plain(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    channel_id = await client.create_message_channel(FacebookChannelRequest.model_validate(FACEBOOK))
    assert creates(sim)[0].body == {
        "name": "Docs-Facebook Channel",
        "webhook_url_type": "fqdn",
        "channel": "facebook",
        "account_data": [
            {"k": "access_token", "v": b64("EAAG-fb")},
            {"k": "app_secret", "v": b64("fb-secret")},
            {"k": "page_name", "v": "test-facebook-page"},
        ],
        "dids": [{"did_number": "12345678901234", "destination_type": "queue", "destination_id": "4"}],
        "auto_close_session": 0,
        "session_expired_time": 30,
    }
    assert channel_id in sim.channels


def test_account_data_table_drives_the_modal() -> None:
    twilio = {k.key: k for k in account_data_fields("twilio")}
    assert list(twilio) == ["account_sid", "auth_token"]
    assert twilio["auth_token"].secret and twilio["auth_token"].required and not twilio["account_sid"].secret
    general = {k.key: k for k in account_data_fields("general")}
    assert [k for k, spec in general.items() if not spec.required] == ["api_secret", "api_verify_url"]
    assert general["api_send_url"].url and not general["api_send_url"].base64
    facebook = {k.key: k for k in account_data_fields("facebook")}
    assert not facebook["page_name"].base64 and facebook["app_secret"].base64
    assert account_data_fields("nope") == ()
    assert channel_model("whatsapp") is WhatsAppChannelRequest
    assert channel_model("telnyx") is SmsChannelRequest


async def test_list_message_channels_pages_through_everything(client: YeastarClient) -> None:
    for n in range(3):
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio", name=f"c{n}")))
    listed = await client.list_message_channels(page_size=2)
    assert [c["name"] for c in listed] == ["c0", "c1", "c2"]
    await client.ping()


# --- the model's rules --------------------------------------------------------------------------

Sms, Wa, Fb = SmsChannelRequest, WhatsAppChannelRequest, FacebookChannelRequest
REJECTIONS: list[tuple[Any, dict[str, Any], str, str]] = [
    (Sms, {"name": "x" * 128}, "name", "Channel name must be at most 127 characters"),
    (Sms, {"name": "  "}, "name", "Channel name is required"),
    (Sms, {"webhook_url_type": "ip"}, "webhook_url_type", "Webhook URL domain must be one of fqdn or nat"),
    (Sms, {"channel": "nexmo"}, "channel", "SMS provider must be one of general"),
    (
        Sms,
        {"account_data": {"account_sid": "AC1"}},
        "account_data.auth_token",
        "Account data field Auth token is required for a Twilio channel",
    ),
    (
        Sms,
        {"account_data": {"account_sid": "AC1", "auth_token": "t", "api_key": "k"}},
        "account_data.api_key",
        'Account data has no "api_key" key for a Twilio channel',
    ),
    (
        Sms,
        {"channel": "general", "account_data": {"api_key": "k", "api_send_url": "http://api.example.com"}},
        "account_data.api_send_url",
        "Account data field API send URL must be an https:// URL",
    ),
    (
        Sms,
        {
            "channel": "vetta",
            "account_data": {"api_key": "k", "api_send_url": URL_SEND, "api_verify_url": "ftp://x"},
        },
        "account_data.api_verify_url",
        "Account data field API verify URL must be an https:// URL",
    ),
    (
        Sms,
        {"channel": "apidaze", "account_data": {"api_key": "k", "api_secret": "s"}, "accompanying_msg": None},
        "accompanying_msg",
        "Accompanying message is required for an Apidaze channel",
    ),
    (
        Sms,
        {"session_expired_time": "soon"},
        "session_expired_time",
        "Close after (days) must be a whole number",
    ),
    (
        Sms,
        {"dids": [{"did_number": "+1", "destination_type": "ivr"}]},
        "dids.0.destination_type",
        "Destination type must be one of extension, queue or api",
    ),
    (Sms, {"dids": [{"destination_type": "queue"}]}, "dids.0.did_number", "DID number is required"),
    (
        Sms,
        {
            "dids": [
                {"did_number": "+1", "destination_type": "queue", "members": [{"type": "team", "value": "1"}]}
            ]
        },
        "dids.0.members.0.type",
        "Member type must be one of extension, ext_group or organization",
    ),
    (
        Sms,
        {"dids": [{"did_number": "+1", "destination_type": "queue", "members": [{"type": "extension"}]}]},
        "dids.0.members.0.value",
        "Member ID is required",
    ),
    (Sms, {"phone_number_id": "1"}, "phone_number_id", "Phone number ID is not a field of this request"),
    (Wa, {"phone_number_id": "1" * 32}, "phone_number_id", "Phone number ID must be at most 31 characters"),
    (Wa, {"phone_number_id": None}, "phone_number_id", "Phone number ID is required"),
    (
        Wa,
        {"business_account_id": "9" * 376},
        "business_account_id",
        "Business account ID is too long: at most 500 characters once Base64-encoded",
    ),
    (Wa, {"business_account_id": None}, "business_account_id", "Business account ID is required"),
    (
        Wa,
        {"account_data": {"access_token": "a"}},
        "account_data.app_secret",
        "Account data field App secret is required for a WhatsApp channel",
    ),
    (
        Wa,
        {"dids": [{"did_number": "15567778888", "destination_type": "queue"}]},
        "dids.0.did_number",
        'WhatsApp number must start with "+"',
    ),
    (Wa, {"send_rate": 5}, "send_rate", "Send rate is not a field of this request"),
    (
        Fb,
        {
            "dids": [
                {
                    "did_number": "1234",
                    "destination_type": "queue",
                    "members": [{"type": "extension", "value": "1"}],
                }
            ]
        },
        "dids.0.members",
        "Members cannot be set on a Facebook channel",
    ),
    (
        Fb,
        {"account_data": {"access_token": "a", "app_secret": "b"}},
        "account_data.page_name",
        "Account data field Page name is required for a Facebook channel",
    ),
]


@pytest.mark.parametrize(("model", "over", "path", "sentence"), REJECTIONS)
def test_model_rejects_with_path_and_sentence(
    model: Any, over: dict[str, Any], path: str, sentence: str
) -> None:
    base = {Sms: sms_data("twilio"), Wa: WHATSAPP, Fb: FACEBOOK}[model]
    data = {k: v for k, v in {**base, **over}.items() if v is not None}
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(data)
    found = field_errors(model, caught.value)
    assert path in found, found
    assert found[path].startswith(sentence), found[path]
    assert found[path].endswith(".")
    assert "tw-token" not in str(caught.value) and "EAAG" not in repr(caught.value)


# --- the simulator's own enforcement (client validation bypassed) ----------------------------------

RAW_SMS = {
    "name": "Raw",
    "webhook_url_type": "nat",
    "channel": "twilio",
    "account_data": [{"k": "account_sid", "v": b64("AC1")}, {"k": "auth_token", "v": b64("t")}],
}
RAW_WA = {
    "name": "RawWA",
    "webhook_url_type": "fqdn",
    "channel": "whatsapp",
    "account_data": [{"k": "access_token", "v": b64("a")}, {"k": "app_secret", "v": b64("b")}],
    "phone_number_id": "1",
    "business_account_id": b64("2"),
}
RAW_FB = {
    "name": "RawFB",
    "webhook_url_type": "fqdn",
    "channel": "facebook",
    "account_data": [
        {"k": "access_token", "v": b64("a")},
        {"k": "app_secret", "v": b64("b")},
        {"k": "page_name", "v": "page"},
    ],
}
GEN_DATA = [{"k": "api_key", "v": b64("k")}, {"k": "api_send_url", "v": URL_SEND}]
RAW_REJECTIONS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    (RAW_SMS, {"name": "x" * 128}, "name must not exceed 127"),
    (RAW_SMS, {"name": None}, "name is required"),
    (RAW_SMS, {"webhook_url_type": "ip"}, "webhook_url_type"),
    (RAW_SMS, {"channel": "nexmo"}, "channel"),
    (RAW_SMS, {"account_data": [{"k": "account_sid", "v": b64("AC1")}]}, "auth_token is required"),
    (
        RAW_SMS,
        {"account_data": [*RAW_SMS["account_data"], {"k": "api_key", "v": b64("k")}]},
        "api_key is not valid",
    ),
    (
        RAW_SMS,
        {"account_data": [{"k": "account_sid", "v": "AC1"}, {"k": "auth_token", "v": b64("t")}]},
        "must be Base64-encoded",
    ),
    (
        RAW_SMS,
        {"channel": "general", "account_data": [GEN_DATA[0], {"k": "api_send_url", "v": "http://x.example"}]},
        "https:// URL",
    ),
    (
        RAW_SMS,
        {"channel": "general", "account_data": [GEN_DATA[0], {"k": "api_send_url", "v": b64(URL_SEND)}]},
        "https:// URL",
    ),
    (
        RAW_SMS,
        {
            "channel": "apidaze",
            "account_data": [{"k": "api_key", "v": b64("k")}, {"k": "api_secret", "v": b64("s")}],
        },
        "accompanying_msg",
    ),
    (RAW_SMS, {"send_rate": "2"}, "send_rate must be an integer"),
    (RAW_SMS, {"session_expired_time": 1.5}, "session_expired_time must be an integer"),
    (RAW_SMS, {"dids": [{"did_number": "+1", "destination_type": "ivr"}]}, "destination_type"),
    (RAW_SMS, {"dids": [{"destination_type": "queue"}]}, "did_number is required"),
    (
        RAW_SMS,
        {
            "dids": [
                {"did_number": "+1", "destination_type": "queue", "members": [{"type": "team", "value": "1"}]}
            ]
        },
        "members[0].type",
    ),
    (
        RAW_SMS,
        {"dids": [{"did_number": "+1", "destination_type": "queue", "members": [{"type": "extension"}]}]},
        "members[0].value is required",
    ),
    (RAW_WA, {"phone_number_id": "1" * 32}, "phone_number_id must not exceed 31"),
    (RAW_WA, {"phone_number_id": None}, "phone_number_id is required"),
    (RAW_WA, {"business_account_id": "3456789890!"}, "business_account_id must be Base64"),
    (RAW_WA, {"business_account_id": b64("9" * 376)}, "business_account_id must not exceed 500"),
    (RAW_WA, {"dids": [{"did_number": "15567778888", "destination_type": "queue"}]}, "E.164"),
    (RAW_WA, {"send_rate": 2}, "send_rate is not a parameter"),
    (
        RAW_WA,
        {"account_data": [{"k": "access_token", "v": "not base64!"}, {"k": "app_secret", "v": b64("b")}]},
        "must be Base64-encoded",
    ),
    (
        RAW_FB,
        {
            "dids": [
                {
                    "did_number": "1",
                    "destination_type": "queue",
                    "members": [{"type": "extension", "value": "1"}],
                }
            ]
        },
        "members is not a parameter",
    ),
    (RAW_FB, {"account_data": RAW_FB["account_data"][:2]}, "page_name is required"),
]


async def raw_create(sim: YeastarSimulator, client: YeastarClient, body: dict[str, Any]) -> dict[str, Any]:
    token = await client._access_token()
    async with aiohttp.ClientSession(headers={"User-Agent": UA}) as http:
        async with http.post(f"{sim.url}{CREATE}", params={"access_token": token}, json=body) as resp:
            assert resp.status == 200
            answer: dict[str, Any] = await resp.json()
            return answer


@pytest.mark.parametrize("base", [RAW_SMS, RAW_WA, RAW_FB])
async def test_simulator_accepts_the_raw_baselines(
    sim: YeastarSimulator, client: YeastarClient, base: dict[str, Any]
) -> None:
    assert (await raw_create(sim, client, base))["errcode"] == 0


@pytest.mark.parametrize(("base", "over", "fragment"), RAW_REJECTIONS)
async def test_simulator_rejects_raw_bodies(
    sim: YeastarSimulator, client: YeastarClient, base: dict[str, Any], over: dict[str, Any], fragment: str
) -> None:
    body = {k: v for k, v in {**base, **over}.items() if v is not None}
    answer = await raw_create(sim, client, body)
    assert (answer["errcode"], answer["errmsg"]) == (40002, "FAILURE"), answer
    assert fragment in sim.refusals[-1]
    assert sim.channels == {}


REQUIRED_KEYS = [(provider, spec.key) for provider in PROVIDER_KEYS
                 for spec in account_data_fields(provider) if spec.required]


@pytest.mark.parametrize(("provider", "key"), REQUIRED_KEYS, ids=[f"{p}-{k}" for p, k in REQUIRED_KEYS])
async def test_each_providers_required_account_key_is_enforced_by_model_and_simulator(
    sim: YeastarSimulator, client: YeastarClient, provider: str, key: str
) -> None:
    data = sms_data(provider)
    data["account_data"] = {k: v for k, v in data["account_data"].items() if k != key}
    with pytest.raises(pydantic.ValidationError) as caught:
        SmsChannelRequest.model_validate(data)
    found = field_errors(SmsChannelRequest, caught.value)
    assert f"account_data.{key}" in found and "is required for" in found[f"account_data.{key}"]

    body = SmsChannelRequest.model_validate(sms_data(provider)).to_api()
    body["account_data"] = [item for item in body["account_data"] if item["k"] != key]
    answer = await raw_create(sim, client, body)
    assert answer["errcode"] == 40002 and key in sim.refusals[-1], answer
    assert sim.channels == {}


async def test_simulator_requires_a_user_agent(sim: YeastarSimulator) -> None:
    async with aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as http:
        async with http.post(
            f"{sim.url}/openapi/v1.0/get_token", json={"username": CLIENT_ID, "password": CLIENT_SECRET}
        ) as resp:
            answer = await resp.json()
    assert answer["errcode"] == 40001 and "User-Agent" in answer["errmsg"]


async def test_simulator_keeps_at_most_eight_access_tokens(sim: YeastarSimulator) -> None:
    tokens = []
    async with aiohttp.ClientSession(headers={"User-Agent": UA}) as http:
        for _ in range(9):
            async with http.post(
                f"{sim.url}/openapi/v1.0/get_token", json={"username": CLIENT_ID, "password": CLIENT_SECRET}
            ) as resp:
                tokens.append((await resp.json())["access_token"])
        async with http.get(
            f"{sim.url}/openapi/v1.0/message_channel/list",
            params={"access_token": tokens[0], "page": "1", "page_size": "1"},
        ) as resp:
            assert (await resp.json())["errcode"] == 10004
    assert sim.valid_access_tokens() == tokens[1:]


# --- the token, invisible to the caller ------------------------------------------------------------


async def test_expired_token_is_renewed_without_the_caller_noticing(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio", name="one")))
    sim.expire_tokens()
    channel_id = await client.create_message_channel(
        SmsChannelRequest.model_validate(sms_data("twilio", name="two"))
    )
    assert sim.channels[channel_id]["name"] == "two" and len(sim.channels) == 2
    assert [r.path.rsplit("/", 1)[1] for r in sim.requests] == [
        "get_token",
        "create",
        "create",
        "refresh_token",
        "create",
    ]  # refused once with 10004, then sent again
    assert creates(sim)[-1].query["access_token"] != creates(sim)[0].query["access_token"]


async def test_token_is_refreshed_shortly_before_it_expires(sim: YeastarSimulator) -> None:
    sim.access_ttl = 30  # inside the client's 60 s margin: renewed before the next call
    ys = YeastarClient(sim.url, CLIENT_ID, CLIENT_SECRET, timeout=0.5)
    try:
        await ys.ping()
        await ys.ping()
    finally:
        await ys.close()
    assert [r.path.rsplit("/", 1)[1] for r in sim.requests] == ["get_token", "list", "refresh_token", "list"]


async def test_expired_refresh_token_falls_back_to_get_token(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    await client.ping()
    sim.expire_tokens(refresh=True)
    client._token.refresh_expires = 1e12  # type: ignore[union-attr]  # the client still believes in it
    await client.ping()
    assert [r.path.rsplit("/", 1)[1] for r in sim.requests] == [
        "get_token",
        "list",
        "list",
        "refresh_token",
        "get_token",
        "list",
    ]


async def test_fifty_concurrent_creates_share_one_token_request(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    sim.latency = 0.05
    requests = [SmsChannelRequest.model_validate(sms_data("telnyx", name=f"ch{n}")) for n in range(50)]
    ids = await asyncio.gather(*(client.create_message_channel(r) for r in requests))
    assert sorted(ids) == sorted(sim.channels) and len(set(ids)) == 50
    assert sim.token_requests == 1 and client.token_requests == 1


async def test_user_agent_on_every_request(sim: YeastarSimulator, client: YeastarClient) -> None:
    await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("skyetel")))
    sim.expire_tokens()
    await client.list_message_channels()
    assert len(sim.requests) >= 4
    assert {r.headers.get("User-Agent") for r in sim.requests} == {UA}


# --- errors the user sees ---------------------------------------------------------------------------


async def test_duplicate_name_is_a_conflict(client: YeastarClient) -> None:
    await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    with pytest.raises(errors.ConflictError) as caught:
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    assert caught.value.code == 40003 and "already exists" in caught.value.message


async def test_a_wrong_client_secret_is_tried_once_so_yeastar_never_blocks_the_ip(
        sim: YeastarSimulator) -> None:
    ys = YeastarClient(sim.url, CLIENT_ID, "wrong-secret-77", timeout=0.5)
    try:
        with capture_logs() as logs:
            for _ in range(6):
                with pytest.raises(errors.AuthError) as caught:
                    await ys.ping()
                assert caught.value.message.startswith("Access denied:")
                assert "errcode 10005" in caught.value.message
    finally:
        await ys.close()
    assert len(sim.calls("/get_token")) == 1, "Yeastar blocks the IP after 5 failed logins"
    assert "wrong-secret-77" not in str(logs) + str(caught.value) + repr(caught.value) + repr(ys)


async def test_the_simulator_blocks_the_ip_after_five_failed_logins(sim: YeastarSimulator) -> None:
    for _ in range(5):
        ys = YeastarClient(sim.url, CLIENT_ID, "wrong-secret-77", timeout=0.5)
        with pytest.raises(errors.AuthError):
            await ys.ping()
        await ys.close()
    ys = YeastarClient(sim.url, CLIENT_ID, CLIENT_SECRET, timeout=0.5)
    try:
        with pytest.raises(errors.AuthError) as caught:
            await ys.ping()
    finally:
        await ys.close()
    assert caught.value.code == 70004 and "ACCOUNT IP BLOCKED" in caught.value.message


async def test_access_denied_on_a_resource_keeps_the_token(
        sim: YeastarSimulator, client: YeastarClient) -> None:
    await client.ping()
    sim.inject(200, body={"errcode": 10005, "errmsg": "ACCESS DENIED"},
               path_prefix="/openapi/v1.0/message_channel")
    with pytest.raises(errors.AuthError):
        await client.create_message_channel(WhatsAppChannelRequest.model_validate(WHATSAPP))
    await client.ping()
    assert client.token_requests == 1, "no new token for a permission refusal"


@pytest.mark.parametrize(
    ("errcode", "errmsg", "kind"),
    [
        (40001, "PARAMETER SYNTAX ERROR", errors.ValidationError),
        (60001, "DATA NOT FOUND", errors.NotFoundError),
        (60002, "MAX LIMITATION EXCEEDED", errors.ValidationError),
        (10005, "ACCESS DENIED", errors.AuthError),
        (-1, "FAILURE", errors.UnavailableError),
        (-2, "INTERNAL SERVER ERROR", errors.UnavailableError),
    ],
)
async def test_errcodes_map_to_errors_and_creates_are_not_resent(
    sim: YeastarSimulator, client: YeastarClient, errcode: int, errmsg: str, kind: type[Exception]
) -> None:
    await client.ping()
    sim.inject(200, body={"errcode": errcode, "errmsg": errmsg}, path_prefix=CREATE)
    with pytest.raises(kind) as caught:
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    assert isinstance(caught.value, errors.ProviderError)
    assert errmsg in caught.value.message and caught.value.code == errcode
    assert len(creates(sim)) == 1 and sim.channels == {}


async def test_http_500_on_create_is_unavailable_and_not_resent(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    sim.inject(500, path_prefix=CREATE)
    with pytest.raises(errors.UnavailableError) as caught:
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    assert caught.value.message == "INTERNAL SERVER ERROR" and caught.value.status == 500
    assert len(creates(sim)) == 1


async def test_timeout_on_create_is_unavailable_and_not_resent(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    sim.inject(200, body={"errcode": 0, "errmsg": "SUCCESS", "id": 1}, path_prefix=CREATE, delay=1.0)
    with pytest.raises(errors.UnavailableError) as caught:
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    assert "did not answer in time" in caught.value.message
    assert len(creates(sim)) == 1
    token = creates(sim)[0].query["access_token"]
    assert token not in str(caught.value) + repr(caught.value)


async def test_http_429_is_waited_out_then_succeeds(sim: YeastarSimulator, client: YeastarClient) -> None:
    sim.inject(429, headers={"Retry-After": "0.2"}, path_prefix=CREATE)
    channel_id = await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
    assert len(creates(sim)) == 2 and list(sim.channels) == [channel_id]


async def test_no_secret_token_or_credential_in_errors_or_logs(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    seen: list[str] = []
    with capture_logs() as logs:
        await client.create_message_channel(SmsChannelRequest.model_validate(sms_data("twilio")))
        sim.expire_tokens()
        for status, body in ((200, {"errcode": 40002, "errmsg": "PARAMETER ERROR"}), (500, None), (429, None)):
            sim.inject(status, body=body, path_prefix=CREATE, count=5)
            with pytest.raises(errors.ProviderError) as caught:
                await client.create_message_channel(
                    SmsChannelRequest.model_validate(sms_data("twilio", name="x"))
                )
            seen += [str(caught.value), repr(caught.value), caught.value.user_sentence()]
        sim.clear_faults()
    seen += [
        str(logs),
        repr(client),
        repr(client._token),
        repr(SmsChannelRequest.model_validate(sms_data("twilio"))),
    ]
    secrets = [CLIENT_SECRET, "tw-token", b64("tw-token"), *sim.access_tokens, *sim.refresh_tokens]
    for text in seen:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize("extra", [{"send_rate": 5000}, {"auto_close_session": 2},
                                   {"session_expired_time": 3650}, {"send_rate": 0}],
                         ids=["send-rate-5000", "auto-close-2", "ten-years", "send-rate-0"])
async def test_integers_the_document_does_not_bound_reach_yeastar(
    client: YeastarClient, sim: YeastarSimulator, extra: dict[str, int]
) -> None:
    # The document types them Integer and gives no bounds: neither the bot nor the simulator
    # invents any.
    body = {"name": "Unbounded", "webhook_url_type": "nat", "channel": "twilio",
            "account_data": {"account_sid": "AC1", "auth_token": "t"}, **extra}
    new_id = await client.create_message_channel(SmsChannelRequest.model_validate(body))
    [key] = extra
    assert sim.channels[new_id][key] == extra[key]


# E.164 (the WhatsApp routing's did_number), read alike by the client and the simulator.
WHATSAPP_NUMBERS = ["+15567778888", "+1234567890", "+999123456", "+0123456", "15567778888",
                    "+1234567890123456", "+44 20 7183 8750", "+8521"]


@pytest.mark.parametrize("number", WHATSAPP_NUMBERS)
async def test_client_and_simulator_agree_on_a_whatsapp_number(
    sim: YeastarSimulator, client: YeastarClient, number: str
) -> None:
    body = {"name": f"WA {number}", "webhook_url_type": "fqdn", "channel": "whatsapp",
            "account_data": {"access_token": "a", "app_secret": "b"}, "phone_number_id": "1",
            "business_account_id": "2", "dids": [{"did_number": number, "destination_type": "queue"}]}
    try:
        sent = WhatsAppChannelRequest.model_validate(body).to_api()["dids"][0]["did_number"]
        client_takes = True
    except pydantic.ValidationError:
        sent, client_takes = number, False
    answer = await raw_create(sim, client, {**RAW_WA, "name": f"WA {number}",
                                            "dids": [{"did_number": sent, "destination_type": "queue"}]})
    assert client_takes == (answer["errcode"] == 0), answer


async def test_menu_options_give_the_pbx_ids_by_name_sub_organizations_included(
    sim: YeastarSimulator, client: YeastarClient
) -> None:
    orgs = await client.menu_options("org_list")
    assert [(o.text, o.value) for o in orgs] == [("Head office", "1"), ("Head office › Hong Kong branch", "5")]
    await client.menu_options("org_list")
    assert len(sim.calls("/system/get_menuoptions")) == 1, "kept a while: a picker asks on every keystroke"
    with pytest.raises(errors.ValidationError):
        await client.menu_options("no_such_menu")
