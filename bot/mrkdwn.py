"""Text from outside (a caller's number, a contact's name, a provider's error) placed in
Slack mrkdwn. Slack reads ``<…>`` as links and mentions (``<!channel>`` pings everyone)
and ``&`` as the start of an entity, so those three are escaped as its docs ask."""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)
