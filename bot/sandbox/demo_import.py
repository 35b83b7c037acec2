"""The demo's CSV import, as a person sees it: /contact import, the file picked, the check
(ready rows and each problem), "Import", the progress message and the result file in its
thread."""

from __future__ import annotations

import asyncio

from bot.sandbox.slack import TEAM
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack

TEAM_CSV = """firstName,lastName,phones.0.phone,emails.0.email,company
Grace,Hopper,+85291234001,grace@example.com,Navy
Alan,Turing,+85291234002,alan@example.com,Bletchley
Katherine,Johnson,91234003,katherine@example.com,NASA
Edsger,Dijkstra,+85291234004,edsger(at)tue.nl,TU Eindhoven
Barbara,Liskov,+85291234005,barbara@example.com,MIT
Ken,Thompson,+85291234002,ken@example.com,Bell Labs
"""


async def play_import(stack: SandboxStack, user: SlackUser) -> bool:
    from bot.sandbox.demo import say, show_channel, show_view, wait_for

    slack = stack.slack
    say("ops> /contact import")
    view = await user.open_modal("/contact", "import")
    show_view(user, view)
    picked = slack.files.add("team.csv", TEAM_CSV, user=user.user_id)
    say("ops picks team.csv (6 contacts) and clicks ⟦Check file⟧:")
    for line in TEAM_CSV.strip().splitlines():
        say(f"      {line}")
    say()
    await user.submit(view, {"file": [picked.as_json(slack.url, TEAM)]})
    preview = await wait_for(lambda: "Checking" not in str((v := slack.views[view["id"]])["blocks"]) and v)
    if not preview or not preview.get("submit"):
        say("The check did not come back.")
        return False
    show_view(user, preview)
    say(f"ops clicks ⟦{preview['submit']['text']}⟧")
    started = (await user.submit(preview, {})).json or {}
    show_view(user, started.get("view") or {"title": {"text": "?"}, "blocks": [], "close": {"text": "Done"}})
    parent = await wait_for(lambda: slack.channel_messages(user.channel_id))
    files = await wait_for(lambda: parent and slack.files.shared_in(user.channel_id, parent[0].ts))
    if not files:
        say("The import did not finish.")
        return False
    await asyncio.sleep(0)
    show_channel(stack, user.channel_id, "after the import (the progress message, edited as it ran)")
    say(f"The result file in that thread, {files[0].name}:")
    for line in files[0].content.decode().strip().splitlines():
        say(f"      {line}")
    say()
    return True
