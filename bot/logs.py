"""structlog, configured once: JSON (production) or console, context vars bound per
request, and a redaction processor so no token, password or secret reaches a log line."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_SENSITIVE_KEY = re.compile(
    r"(token|secret|password|passwd|pwd|authorization|api_key|apikey|access_key|private_key|auth|credential"
    r"|cookie|signature)",
    re.IGNORECASE,
)
# Values that are secrets whatever key they sit under.
_SECRET_VALUE = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+"
    r"|Bearer\s+[A-Za-z0-9._~+/=-]+|Basic\s+[A-Za-z0-9+/=]{8,}"
    # "Token …" / "Digest …" only with something credential-like after (a digit, 8+ long)
    r"|(?:Token|Digest)\s+(?=[A-Za-z0-9._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,}"
    r"|(?:access_token|refresh_token|password|secret|token)=[^&\s\"']+)",
    re.IGNORECASE,
)
# A password inside a URL (scheme://user:password@host): the password goes.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)", re.IGNORECASE)
# "password": "…" inside text that is JSON (a body quoted in a message).
_JSON_SECRET = re.compile(
    r"(?P<head>\"(?:[^\"]*(?:token|secret|password|passwd|pwd|api_key|apikey|access_key|private_key"
    r"|credential)[^\"]*)\"\s*:\s*\")[^\"]*(?=\")", re.IGNORECASE)
# Each pattern above needs one of these in the text (ignoring case, as they do): a text with
# none is left as it is without running them (most logged values are IDs and names; a line must
# cost little). Searched for in the case-folded text: a case-insensitive search costs ~4x more on
# a short value, ~5x on a long one.
_HINTS = re.compile(r'xox|xapp|bearer|basic|token|digest|password|secret|://|"')
REDACTED = "[redacted]"
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears (configured credentials)."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


@functools.lru_cache(maxsize=256)
def _sensitive_key(key: str) -> bool:
    return bool(key and _SENSITIVE_KEY.search(key) and not key.endswith(("_id", "_ms", "_count")))


def redact_text(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if not _HINTS.search(text.casefold()):
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    text = _JSON_SECRET.sub(lambda m: m.group("head") + REDACTED, text)
    return _SECRET_VALUE.sub(
        lambda m: m.group(0).split("=")[0] + "=" + REDACTED if "=" in m.group(0) else REDACTED,
        text,
    )


def _redact(value: Any, key: str = "") -> Any:
    if key and _sensitive_key(key):
        return REDACTED if value not in (None, "", False) else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact(value, key if key != "event" else "")
    return event_dict


class _StderrLogger:
    """One line per event to whatever sys.stderr is now (test capture included)."""

    def __init__(self, *_args: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


class _StdlibToStderr(logging.Handler):
    """Library logs (slack_bolt, aiohttp) as structlog renders its own: same format, same
    redaction, to whatever sys.stderr is now."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def _json_line(event_dict: Any, **kw: Any) -> str:
    """orjson (several times faster than json.dumps), json.dumps for what it refuses
    (an int over 64 bits)."""
    try:
        return orjson.dumps(event_dict, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event_dict, **kw)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    # Tracebacks become text before redaction, in both formats, so a secret inside an
    # exception's message is redacted like any other.
    # (The level and the timestamp are added after redaction: they hold no secret.)
    shared: list[Any] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_processor,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StdlibToStderr()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name,
                           *shared],
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for noisy in ("slack_bolt", "slack_sdk", "aiohttp.access", *_SLACK_SDK_CLIENT_LOGGERS):
        logging.getLogger(noisy).setLevel(logging.WARNING)


#: slack-sdk's clients ask their module logger's own ``level`` (not the level it inherits)
#: whether to build their debug lines: left unset (0), every Slack call and response_url
#: post formats its request and answer into text that is then dropped.
_SLACK_SDK_CLIENT_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.webhook.async_client")
