"""Text from outside (a caller's number, a contact's name, a provider's error) placed in
Slack mrkdwn.

Slack reads ``<…>`` as links and mentions (``<!channel>`` pings everyone) and ``&`` as the
start of an entity, so those three are escaped as its docs ask. Slack has no escape for
its formatting marks (``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``): a name such as
``jsmith_mobile_2`` or ``*VIP*`` would change the text around it. Each mark typed by a person
is shown (``verbatim``) as the fallback of a date token whose format is invalid, which Slack
prints as it is, unformatted (the trick jsx-slack's ``<Escape>`` uses); the character itself
is unchanged.
"""

from __future__ import annotations

import re

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKS = re.compile(r"[*_~`]")
#: A date token Slack cannot format, so it shows the fallback after ``|`` verbatim.
_VERBATIM = "<!date^00000000^{{_}}|{}>"


def escape(text: str) -> str:
    """``text`` with no link, mention or entity from it (safe in prose and in `code`)."""
    return text.translate(_ESCAPES)


def verbatim(text: str) -> str:
    """``text`` a person typed, shown as typed in mrkdwn prose: no link, mention or
    formatting from it. Not inside `code` (Slack shows the token there): use ``code``."""
    return _MARKS.sub(lambda m: _VERBATIM.format(m.group()), text.translate(_ESCAPES))


def code(text: str) -> str:
    """``text`` inside `` `…` ``: Slack formats nothing there but a backtick ends it, so a
    backtick is shown as its look-alike U+02CB (modifier letter grave accent)."""
    return "`" + text.translate(_ESCAPES).replace("`", "\u02cb") + "`"
