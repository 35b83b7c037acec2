"""Configuration sentences, `check`, `manifest` and `serve` as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.sandbox.slack import SlackEmulator
from handlers.commands import COMMANDS
from tests.processes import ROOT, bot_env, free_port, start_serve


def run_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=bot_env(**env),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        ("PORT", "eighty", "PORT must be a whole number."),
        ("PORT", "70000", "PORT must be at most 65535."),
        ("CINNOX_BASE_URL", "cinnox.example.com", "CINNOX_BASE_URL must be a URL"),
        ("YEASTAR_BASE_URL", "https://pbx.example.com:88x", "YEASTAR_BASE_URL has a port"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with sqlite:/// or postgresql://"),
        ("DATABASE_URL", "postgresql://h:abc/db", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "sqlite://relative.db", "DATABASE_URL needs a file path"),
        ("HOST", "not..a..host", "HOST must be an IP address or a host name"),
        ("BANDWIDTH_BASE_URL", "https://api.example.com/v1", "BANDWIDTH_BASE_URL must be only the scheme"),
    ],
)
def test_a_malformed_variable_stops_serve_with_one_sentence_naming_it(
    tmp_path: Path, variable: str, value: str, sentence: str
) -> None:
    done = run_bot(tmp_path, "serve", SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s",
                   **{variable: value})
    assert done.returncode == 2
    assert done.stderr.strip().startswith("Configuration error: " + sentence)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"DATABASE_URL": "postgresql://bot:pw-never-shown@127.0.0.1:9/bot"}, "DATABASE_URL: the database"),
        ({"PORT": "{busy}"}, "HOST, PORT: cannot listen on"),
    ],
    ids=["database-unreachable", "port-in-use"],
)
def test_serve_that_cannot_start_says_why_in_one_sentence(
        tmp_path: Path, env: dict[str, str], sentence: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        values = {k: v.replace("{busy}", str(busy.getsockname()[1])) for k, v in env.items()}
        done = run_bot(tmp_path, "serve", SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", HOST="127.0.0.1",
                       **values)
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if x.startswith("Cannot start:")]
    assert sentence in line
    assert "Traceback" not in done.stderr and "pw-never-shown" not in done.stderr
    assert "Unclosed" not in done.stderr


async def test_a_refused_app_token_stops_serve_with_a_sentence(tmp_path: Path) -> None:
    async with SlackEmulator(app_token="xapp-the-right-one") as slack:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", cwd=tmp_path,
            env=bot_env(SLACK_BOT_TOKEN="xoxb-sandbox-token", SLACK_SIGNING_SECRET="s",
                        SLACK_APP_TOKEN="xapp-a-wrong-one", SLACK_API_URL=slack.url + "/api/",
                        HOST="127.0.0.1", PORT=str(free_port())),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1
    assert "Cannot start: SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in err.decode()
    assert "xapp-a-wrong-one" not in err.decode()


def test_serve_without_slack_credentials_names_them(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "serve")
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set" in done.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PORT=4123\nBOT_ALLOWED_USERS=U1, U2\n")
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "BOT_ALLOWED_USERS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.port == 4123
    assert settings.allowed_users == frozenset({"U1", "U2"})


def test_missing_provider_variables_disable_it_rather_than_crash() -> None:
    settings = load_settings(_env_file=None, cinnox_base_url="https://c.example.com",
                             cinnox_app_id=None, cinnox_app_token=None)
    assert not settings.configured("cinnox")
    assert settings.missing("cinnox") == ["CINNOX_APP_ID", "CINNOX_APP_TOKEN"]


def test_load_settings_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^PORT must be a whole number\.$"):
        load_settings(_env_file=None, port="x")


async def test_check_reports_reachable_missing_and_unreachable(tmp_path: Path) -> None:
    async with SlackEmulator(bot_token="xoxb-check") as slack:
        dead_port = free_port()  # nothing listens there
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", cwd=tmp_path,
            env=bot_env(SLACK_BOT_TOKEN="xoxb-check", SLACK_SIGNING_SECRET="s",
                        SLACK_API_URL=slack.url + "/api/",
                        BANDWIDTH_BASE_URL=f"http://127.0.0.1:{dead_port}",
                        BANDWIDTH_USER_ID="u", BANDWIDTH_API_TOKEN="t",
                        BANDWIDTH_API_SECRET="bandwidth-secret-value"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text + err.decode()
    assert "slack" in text and "configured, reachable (team Sandbox" in text
    assert "cinnox     disabled; missing CINNOX_BASE_URL, CINNOX_APP_ID, CINNOX_APP_TOKEN" in text
    assert "FAIL bandwidth  configured, unreachable" in text
    assert "bandwidth-secret-value" not in text + err.decode()


def test_manifest_lists_every_command_for_socket_mode_and_http(tmp_path: Path) -> None:
    socket_mode = json.loads(run_bot(tmp_path, "manifest", "--socket-mode").stdout)
    assert socket_mode["settings"]["socket_mode_enabled"] is True
    commands = {c["command"] for c in socket_mode["features"]["slash_commands"]}
    assert commands == set(COMMANDS)
    assert socket_mode["settings"]["interactivity"]["is_enabled"] is True
    assert "commands" in socket_mode["oauth_config"]["scopes"]["bot"]

    http = json.loads(run_bot(tmp_path, "manifest", "--url", "https://bot.example.com").stdout)
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["interactivity"]["request_url"] == "https://bot.example.com/slack/events"
    assert all(c["url"] == "https://bot.example.com/slack/events"
               for c in http["features"]["slash_commands"])
    refused = run_bot(tmp_path, "manifest", "--url", "http://insecure.example.com")
    assert refused.returncode == 2 and "https://" in refused.stderr


def test_committed_manifest_matches_the_commands(tmp_path: Path) -> None:
    committed = json.loads((ROOT / "slack-app-manifest.json").read_text())
    generated = json.loads(run_bot(tmp_path, "manifest", "--socket-mode").stdout)
    assert committed == generated, "run `make manifest` after changing a command"


async def test_serve_answers_then_drains_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with SlackEmulator(bot_token="xoxb-serve") as slack:
        proc = await start_serve(tmp_path, free_port(), SLACK_BOT_TOKEN="xoxb-serve",
                                 SLACK_SIGNING_SECRET="s", SLACK_API_URL=slack.url + "/api/")
        try:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert "server.started" in events and "server.stopped" in events
    assert (tmp_path / "var" / "bot.db").exists()


def test_demo_plays_the_whole_session_and_shows_the_call_thread(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "demo")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "Contact created" in out or "created" in out
    assert "SIP URI: sip:jsmith_mobile@" in out
    assert "↳ Call ended after 1 min 35 s" in out
    assert "now go to #support-calls" in out  # channels by name, as Slack shows them
    assert "<#C" not in out and "<!date" not in out  # links read as Slack shows them
    assert "route <serviceId> <#channel> — send" in out  # placeholders read as typed
    assert "Demo finished." in out and out.rstrip().endswith("says what is missing.")
    assert "s3cret-Pass" not in out + done.stderr
