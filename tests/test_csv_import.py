"""CSV imports through the real routes: /contact import and /sip-endpoint import open the
modal, a picked file is checked row by row (the preview), "Import N rows" creates each
valid row once at the provider, with a progress message and a result file in its thread."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.sandbox.slack import TEAM
from bot.sandbox.slack_user import SlackUser
from bot.sandbox.stack import SandboxStack
from tests.flow import eventually, view_text

CONTACT_HEADER = ["firstName", "lastName", "phones.0.phone", "emails.0.email", "nickname"]


def phone(i: int) -> str:
    return f"+8529{4000000 + i:07d}"


def contact_csv(rows: int, bad: dict[int, dict[str, str]] | None = None) -> str:
    """``rows`` contacts; ``bad`` replaces cells of some (by spreadsheet row number)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CONTACT_HEADER, lineterminator="\n")
    writer.writeheader()
    for i in range(rows):
        row = {"firstName": f"Person{i}", "lastName": "Test", "phones.0.phone": phone(i),
               "emails.0.email": f"p{i}@example.com", "nickname": "x"}
        row.update((bad or {}).get(i + 2, {}))
        writer.writerow(row)
    return out.getvalue()


#: Three bad rows: a phone without its country code, an email that is none, a phone that row 2 has.
BAD = {12: {"phones.0.phone": "94667788"}, 40: {"emails.0.email": "not-an-email"},
       301: {"phones.0.phone": phone(0)}}


def seen(view: dict[str, Any]) -> str:
    """Every section's and context's text, as a person reads the modal."""
    return "\n".join([view_text(view)] + [e.get("text", "") for b in view["blocks"] if b["type"] == "context"
                                           for e in b["elements"]])


async def checked(stack: SandboxStack, user: SlackUser, command: str, name: str,
                  content: str) -> dict[str, Any]:
    """Open the import modal, pick the file, check it: the preview view."""
    view = await user.open_modal(command, "import")
    picked = stack.slack.files.add(name, content, user=user.user_id).as_json(stack.slack.url, TEAM)
    reply = await user.submit(view, {"file": [picked]})
    assert reply.status == 200 and reply.json["response_action"] == "update", reply.text
    def preview() -> dict[str, Any] | None:
        shown = stack.slack.views[view["id"]]
        return None if "Checking" in view_text(shown) else shown

    return await eventually(preview, timeout=30)


async def test_preview_counts_ready_rows_and_names_each_problem(stack: SandboxStack) -> None:
    user = stack.user()
    preview = await checked(stack, user, "/contact", "team.csv", contact_csv(500, BAD))
    text = seen(preview)
    assert "497 contacts ready to import" in text
    assert "3 rows have problems" in text
    assert 'Row 12, Phone number: must start with "+" and the country code' in text
    assert "Row 40, Email address:" in text
    assert f"Row 301, Phone number: {phone(0)} is also on row 2." in text
    assert "Unknown columns, ignored: `nickname`" in text
    assert preview["submit"]["text"] == "Import 497 rows"
    assert stack.cinnox.calls("create_externalcontact") == []  # nothing sent before "Import"


async def test_import_creates_each_valid_row_once_and_posts_the_result(stack: SandboxStack) -> None:
    user = stack.user()
    preview = await checked(stack, user, "/contact", "team.csv", contact_csv(30, {5: {"phones.0.phone": "x"}}))
    started = await user.submit(preview, {})
    assert "Import started" in view_text(started.json["view"])
    (message,) = await eventually(lambda: stack.slack.channel_messages("C0OPS"))
    result = await eventually(lambda: stack.slack.files.shared_in("C0OPS", message.ts), timeout=30)
    assert len(stack.cinnox.contacts) == 29 == len(stack.cinnox.calls("create_externalcontact"))
    rows = list(csv.DictReader(io.StringIO(result[0].content.decode())))
    assert [int(r["row"]) for r in rows] == list(range(2, 32))
    assert rows[3]["outcome"] == "not valid" and "Phone number" in rows[3]["error"]
    assert {r["id"] for r in rows if r["outcome"] == "created"} == set(stack.cinnox.contacts)
    final = stack.slack.channel_messages("C0OPS")[0]
    assert "Import of contacts finished" in final.blocks[0]["text"]["text"]
    assert not any(b["type"] == "actions" for b in final.blocks)  # no Cancel once done
    (summary,) = stack.slack.thread("C0OPS", message.ts)
    assert summary.text.startswith("Result of the import of `team.csv`: 29 contacts created, 0 failed, "
                                   "1 not valid in the file.")


async def test_sip_preview_catches_a_duplicate_name_and_a_short_password(stack: SandboxStack) -> None:
    content = ("name,credentials.password,domainId\n"
               "alice,secret123,rd-sandbox\n"
               "bob,abc,rd-sandbox\n"
               "alice,another1,rd-sandbox\n")
    preview = await checked(stack, stack.user(), "/sip-endpoint", "phones.csv", content)
    text = seen(preview)
    assert "1 SIP endpoint ready to import" in text
    assert "Row 3, SIP password: must be at least 6 characters long." in text
    assert "Row 4, Endpoint name: alice (domain rd-sandbox) is also on row 2." in text
    assert "secret123" not in str(preview) and "abc" not in text


async def test_a_file_over_the_row_limit_is_refused_with_the_limit(stack: SandboxStack) -> None:
    preview = await checked(stack, stack.user(), "/contact", "huge.csv", contact_csv(5001))
    assert ("The file has 5,001 rows; an import takes at most 5,000. Split it into files of 5,000 rows or "
            "fewer and import each.") in seen(preview)
    assert "submit" not in preview


async def test_the_template_is_a_file_the_import_accepts(stack: SandboxStack) -> None:
    user = stack.user()
    for command, kind in (("/contact", "contact_import"), ("/sip-endpoint", "sip_endpoint_import")):
        view = await user.open_modal(command, "import")
        before = len(stack.slack.views)
        reply = await user.click(view, "import.template", value=kind, block_id="template")
        assert reply.status == 200
        template = await eventually(lambda before=before: len(stack.slack.views) > before and user.last_view())
        body = template["blocks"][1]["text"]["text"].strip("`")
        preview = await checked(stack, user, command, "template.csv", body)
        assert "1 " in seen(preview) and "ready to import" in seen(preview), seen(preview)
        assert "problems" not in seen(preview)
        assert stack.slack.ephemerals[-1]["text"].endswith(f"```{body}```")  # to copy after closing
    assert "phones.0.phone" in body or "credentials.password" in body


async def test_app_home_opens_the_import_with_a_channel_picker(stack: SandboxStack) -> None:
    user = stack.user()
    await user.open_home()
    home = await eventually(lambda: stack.slack.home_views.get(user.user_id))
    buttons = [e for b in home["blocks"] if b.get("block_id") == "imports" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == ["home.import.contact_import",
                                                 "home.import.sip_endpoint_import"]
    home["id"] = home.get("id", "VHOME")
    before = len(stack.slack.views)
    await user.click(home, "home.import.sip_endpoint_import", value="sip_endpoint_import", block_id="imports")
    view = await eventually(lambda: len(stack.slack.views) > before and user.last_view())
    assert view["callback_id"] == "sip_endpoint_import"
    picked = stack.slack.files.add("p.csv", "name,credentials.password\nal,secret123\n").as_json(
        stack.slack.url, TEAM)
    missing = await user.submit(view, {"file": [picked]})
    assert missing.json == {"response_action": "errors",
                            "errors": {"channel": "Choose where to post the progress."}}
    reply = await user.submit(view, {"file": [picked], "channel": "C0LAB"})
    assert reply.json["response_action"] == "update"
    preview = await eventually(
        lambda: "ready" in seen(stack.slack.views[view["id"]]) and stack.slack.views[view["id"]])
    await user.submit(preview, {})
    (progress,) = await eventually(lambda: stack.slack.channel_messages("C0LAB"))
    assert "Importing SIP endpoints" in progress.blocks[0]["text"]["text"]
