"""The Slack emulator's files, as Slack serves them: a picked file in a view submission,
its url_private readable only with the bot token and files:read, and the external upload
(files.getUploadURLExternal / files.completeUploadExternal, files:write) with its errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.block_kit import view_problems
from bot.sandbox.slack import TEAM, SlackEmulator
from bot.sandbox.slack_files import file_input_state

TOKEN = "xoxb-files-test"


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN) as emulator:
        emulator.add_channel("C0OPS", "ops")
        yield emulator


def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url + "/api/")


async def download(url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


async def test_url_private_answers_the_bot_token_with_files_read(slack: SlackEmulator) -> None:
    picked = slack.files.add("team.csv", "firstName\nAda\n").as_json(slack.url, TEAM)
    assert await download(picked["url_private"], TOKEN) == (200, b"firstName\nAda\n")
    assert (await download(picked["url_private_download"], TOKEN))[0] == 200
    assert (await download(picked["url_private"], None))[0] == 403
    assert (await download(picked["url_private"], "xoxb-someone-else"))[0] == 403
    slack.files.scopes.discard("files:read")
    assert await download(picked["url_private"], TOKEN) == (403, b"not_allowed")


async def test_upload_v2_posts_the_file_into_the_thread(slack: SlackEmulator) -> None:
    web = client(slack)
    parent = await web.chat_postMessage(channel="C0OPS", text="Import running")
    done = await web.files_upload_v2(channel="C0OPS", thread_ts=parent["ts"], filename="result.csv",
                                     content="row,outcome\n2,created\n", initial_comment="All done.")
    (shared,) = slack.files.shared_in("C0OPS", parent["ts"])
    assert shared.id == done["file"]["id"] and shared.content == b"row,outcome\n2,created\n"
    assert [m.text for m in slack.thread("C0OPS", parent["ts"])] == ["All done."]


async def test_upload_needs_files_write(slack: SlackEmulator) -> None:
    slack.files.scopes.discard("files:write")
    with pytest.raises(SlackApiError) as refused:
        await client(slack).files_getUploadURLExternal(filename="a.csv", length=3)
    assert refused.value.response["error"] == "missing_scope"
    assert refused.value.response["needed"] == "files:write"


@pytest.mark.parametrize(("args", "error"), [
    ({"filename": "a.csv"}, "invalid_arguments"),
    ({"filename": "a.csv", "length": "0"}, "invalid_arguments"),
    ({"length": "3"}, "invalid_arguments"),
    ({"filename": "a.csv", "length": "3", "alt_txt": "x" * 1001}, "alt_txt_too_large"),
    ({"filename": "a.csv", "length": str(2 * 1024**3)}, "file_too_large"),
])
async def test_get_upload_url_refusals(slack: SlackEmulator, args: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client(slack).api_call("files.getUploadURLExternal", data=args)
    assert refused.value.response["error"] == error


async def test_complete_upload_refusals(slack: SlackEmulator) -> None:
    web = client(slack)

    async def complete(**args: Any) -> str:
        with pytest.raises(SlackApiError) as refused:
            await web.files_completeUploadExternal(**args)
        return str(refused.value.response["error"])

    assert await complete(files=[{"id": "F404", "title": "x"}], channel_id="C0OPS") == "file_not_found"
    started = await web.files_getUploadURLExternal(filename="r.csv", length=2)
    # not uploaded yet
    assert await complete(files=[{"id": started["file_id"]}], channel_id="C0OPS") == "file_not_found"
    async with aiohttp.ClientSession() as http, http.post(started["upload_url"], data=b"ok") as resp:
        assert resp.status == 200
    slack.add_channel("C0AWAY", "away", member=False)
    assert await complete(files=[{"id": started["file_id"]}], channel_id="C0AWAY") == "not_in_channel"
    assert await complete(files=[{"id": started["file_id"]}], channel_id="C0OPS",
                          thread_ts="1.000001") == "invalid_thread_ts"
    await web.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="C0OPS")
    # only once
    assert await complete(files=[{"id": started["file_id"]}], channel_id="C0OPS") == "file_not_found"


async def test_upload_url_takes_the_declared_length(slack: SlackEmulator) -> None:
    started = await client(slack).files_getUploadURLExternal(filename="r.csv", length=5)
    async with aiohttp.ClientSession() as http, http.post(started["upload_url"], data=b"abc") as resp:
        assert resp.status == 400


def test_file_input_takes_only_what_the_picker_allows() -> None:
    element = {"type": "file_input", "action_id": "value", "filetypes": ["csv"], "max_files": 1}
    csv = {"id": "F1", "name": "a.csv", "filetype": "csv"}
    assert file_input_state(element, [csv]) == {"type": "file_input", "files": [csv]}
    with pytest.raises(ValueError, match="only csv"):
        file_input_state(element, [{"id": "F2", "name": "a.png", "filetype": "png"}])
    with pytest.raises(ValueError, match="at most 1"):
        file_input_state(element, [csv, {**csv, "id": "F3"}])


def test_file_input_belongs_in_modals_with_sane_limits() -> None:
    block = {"type": "input", "block_id": "file", "label": {"type": "plain_text", "text": "CSV"},
             "element": {"type": "file_input", "action_id": "value", "max_files": 11}}
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Import"}, "blocks": [block]}
    assert view_problems(modal) == ["input 'file': max_files must be 1 to 10"]
    home = {"type": "home", "blocks": [{**block, "element": {"type": "file_input", "action_id": "value"}}]}
    assert view_problems(home) == ["input 'file': file_input is allowed only in modals"]
