"""The one settings model: every variable in design.md, from the environment and `.env`.

A provider whose variables are unset is disabled, never a crash. A malformed value (a URL
that is not one, a port out of range) raises ``ConfigError`` with one sentence naming the
variable.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class ConfigError(Exception):
    """A configuration variable is malformed; the message names it."""


def _base_url(value: str | None) -> str | None:
    """Scheme, host and optional port; no path beyond "/"."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL such as https://host.example.com:8443")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("has a port that is not a number between 0 and 65535") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only the scheme, host and port (the bot adds the paths), "
                         "e.g. https://host.example.com:8443")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    try:
        url = make_url(value)
    except Exception:
        raise ValueError("is not a database URL: use sqlite:///path/to/bot.db or "
                         "postgresql://user:password@host:5432/name") from None
    backend = url.get_backend_name().replace("postgres", "postgresql").replace("postgresqlql", "postgresql")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError("must start with sqlite:/// or postgresql://")
    if backend == "sqlite" and not url.database:
        raise ValueError("needs a file path, e.g. sqlite:///./var/bot.db")
    if backend == "postgresql" and not url.host:
        raise ValueError("needs a host, e.g. postgresql://user:password@host:5432/name")
    return value


def _listen_host(value: str) -> str:
    value = value.strip()
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not value or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be an IP address or a host name, e.g. 0.0.0.0 or localhost")
    return value


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Server
    host: str = "0.0.0.0"
    port: int = Field(3000, ge=0, le=65535)
    public_base_url: str | None = None
    database_url: str = "sqlite:///./var/bot.db"
    provider_timeout: float = Field(15.0, gt=0, le=120)

    # CINNOX
    cinnox_base_url: str | None = None
    cinnox_app_id: str | None = None
    cinnox_app_token: SecretStr | None = None
    cinnox_webhook_token: SecretStr | None = None
    call_events_channel: str | None = None
    # Slack allows about one message per second per channel.
    relay_channel_rate: float = Field(1.0, gt=0, le=100)
    # A call is shown within about this many seconds of its CallStart: per-call messages
    # while they keep to it, roll-ups (one message per short window) when they would not.
    call_feed_fresh_seconds: float = Field(4.0, gt=0, le=3600)
    # chat.update (Tier 3, ~50/min) and views.publish (Tier 4, ~100/min) per workspace, shared
    # by every replica: a little under Slack's tiers.
    slack_update_per_minute: int = Field(45, gt=0, le=6000)
    slack_publish_per_minute: int = Field(90, gt=0, le=6000)
    call_end_grace_seconds: float = Field(30.0, ge=0, le=3600)
    # A call whose outcome CINNOX's call log has not told yet: looked up again this long
    # after its end, then after 3x, 7x, ... (6 looks in all).
    call_log_recheck_seconds: float = Field(10.0, gt=0, le=3600)

    # Bandwidth v1
    bandwidth_base_url: str | None = None
    bandwidth_user_id: str | None = None
    bandwidth_api_token: SecretStr | None = None
    bandwidth_api_secret: SecretStr | None = None
    bandwidth_domain_id: str | None = None
    # Bandwidth allows about one request per second on endpoints (CSV imports keep to it).
    bandwidth_rate: float = Field(1.0, gt=0, le=100)

    # Yeastar P-Series
    yeastar_base_url: str | None = None
    yeastar_client_id: str | None = None
    yeastar_client_secret: SecretStr | None = None

    # Access and logs
    bot_allowed_users: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    @field_validator(
        "cinnox_base_url", "bandwidth_base_url", "yeastar_base_url", "public_base_url", mode="before"
    )
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return _base_url(value)

    @field_validator("slack_api_url")
    @classmethod
    def _check_slack_api_url(cls, value: str) -> str:
        checked = _base_url(value) if urlsplit(value).path in ("", "/") else value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be a URL such as https://slack.com/api/")
        return (checked or value).rstrip("/") + "/"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return _database_url(value)

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        return _listen_host(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "cinnox_app_token",
        "cinnox_webhook_token", "bandwidth_api_token", "bandwidth_api_secret",
        "yeastar_client_secret", mode="before",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    # --- what is configured -------------------------------------------------------------

    @property
    def allowed_users(self) -> frozenset[str] | None:
        """None = everyone may provision."""
        if not self.bot_allowed_users or not self.bot_allowed_users.strip():
            return None
        return frozenset(u.strip() for u in self.bot_allowed_users.split(",") if u.strip())

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("console" if sys.stderr.isatty() else "json")

    def missing(self, part: str) -> list[str]:
        """Unset variables that ``part`` (slack, cinnox, bandwidth, yeastar) needs."""
        return [name.upper() for name in REQUIRED[part] if getattr(self, name) in (None, "")]

    def configured(self, part: str) -> bool:
        return not self.missing(part)


REQUIRED: dict[str, tuple[str, ...]] = {
    "slack": ("slack_bot_token", "slack_signing_secret"),
    "cinnox": ("cinnox_base_url", "cinnox_app_id", "cinnox_app_token"),
    "bandwidth": (
        "bandwidth_base_url", "bandwidth_user_id", "bandwidth_api_token", "bandwidth_api_secret",
    ),
    "yeastar": ("yeastar_base_url", "yeastar_client_id", "yeastar_client_secret"),
}
PROVIDERS = ("cinnox", "bandwidth", "yeastar")

_REASONS = {
    "int_parsing": "must be a whole number",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be greater than {gt}",
    "float_parsing": "must be a number",
    "greater_than_equal": "must be at least {ge}",
    "literal_error": "must be one of {expected}",
}


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and `.env`), or ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        reason = _REASONS.get(first["type"], "").format(**(first.get("ctx") or {}))
        if not reason:
            reason = str((first.get("ctx") or {}).get("error", first["msg"]))
            reason = reason[:1].lower() + reason[1:]
        raise ConfigError(f"{variable} {reason}.".replace("..", ".")) from None
