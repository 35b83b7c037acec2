"""The demo tells the forms' story as a newcomer reads it: each form as Slack shows it, a
field error, the kept form after a provider refusal, the result with its next steps, all
four forms, no log lines in between, and how to connect a real workspace at the end."""

from __future__ import annotations

import pytest

from bot.sandbox.demo import run_demo


async def test_the_demo_shows_each_form_a_refusal_that_keeps_the_form_and_the_next_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_demo() == 0
    out, err = capsys.readouterr()
    forms = out.split("━━ 5.")[0]
    for heading in ("1. A contact (CINNOX)", "2. A service group (CINNOX)", "3. A SIP endpoint (Bandwidth)",
                    "4. An SMS channel (Yeastar)"):
        assert heading in forms
    # the contact form as a person first sees it: sections, one phone and one email row
    assert "▌NAME AND COMPANY" in forms and "▌PHONES" in forms and "⟦➕ Add an address⟧" in forms
    # a field error, inline
    assert 'Phone number → Phone number must start with "+"' in forms
    # labels, never field paths
    assert "phones.0.phone" not in forms and "credentials.password" not in forms
    assert "      First name      Ada" in forms and "      SIP password    ••••••" in forms
    # the refusal keeps the form: the reason at the top and at the field, the values still there
    assert "Could not create the external contact Ada Lovelace. CINNOX said: invalid phone format." in forms
    assert ":warning: CINNOX: invalid phone format." in forms
    assert "Company (optional)  [ Analytical Engines ]" in forms and "⟦Try again⟧" in forms
    # a provider that is down keeps the form too, the password empty with the reason
    assert "Bandwidth answered with an error of its own (Internal server error), so the SIP endpoint " \
        "jsmith_mobile may or may not have been created." in forms
    assert "Type it again: the bot never sends a secret back to Slack." in forms
    # results with their next steps, and the request as sent, secrets masked
    assert forms.count("⟦Create another like this⟧  ⟦Show request⟧") >= 4
    assert "The JSON body sent to CINNOX (secrets masked):" in forms
    assert "External contact +85261234567 created in CINNOX." in forms  # a phone-only contact
    assert "SIP URI: sip:jsmith_mobile@" in forms and "SMS channel Support SMS created on Yeastar." in forms
    # words, not API values or commands
    assert "Phone numbers" in forms and "PHONE" not in forms.replace("PHONES", "")
    assert "python -m bot" not in forms
    assert "visitor> /contact" in forms and "Your Slack user ID is U0VISITOR" in forms
    # no log lines, no secrets; the next step at the end
    assert "[warning" not in out and "[info" not in out and "{\"event\"" not in out
    assert "s3cret-Pass" not in out + err and "twilio-secret" not in out + err
    assert out.rstrip().splitlines()[-1].endswith("says what is missing.")
    assert "Next: connect a real workspace" in out


async def test_the_demo_shows_what_each_provider_received_and_complete_closing_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_demo() == 0
    out = capsys.readouterr().out
    received = out.split("━━ What each provider received ━━")[1].split("Demo finished.")[0]
    assert ("CINNOX received:\n    POST /v1/api/apps/sandbox-app/management/create_externalcontact  {"
            in received)
    assert "Bandwidth received:\n    POST /v1/users/u-sandbox/domains/rd-sandbox/endpoints  {" in received
    assert '"credentials": {"password": "••••••"}' in received
    assert "POST /openapi/v1.0/message_channel/create" in received
    assert '{"k": "auth_token", "v": "••••••"}' in received, "Yeastar's credential pairs are masked too"
    closing = out.split("Next: connect a real workspace")[1]
    for step in ("xapp-", "connections:write", "SLACK_APP_TOKEN", "PUBLIC_BASE_URL", "CALL_EVENTS_CHANNEL",
                 "/invite @Telephony Ops", "/call-events subscribe", "BOT_ALLOWED_USERS", "make manifest"):
        assert step in closing, step


async def test_the_demo_shows_an_import_from_check_to_result_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_demo() == 0
    imported = capsys.readouterr().out.split("━━ 6. Many contacts from a CSV file ━━")[1]
    assert "CSV file  [ 📎 ‹drop a csv file› ]" in imported
    assert "3 contacts ready to import." in imported
    assert "Row 7, Phone number: +85291234002 is also on row 3." in imported
    assert "⟦Import 3 rows⟧" in imported and "Import started: 3 contacts" in imported
    assert ("bot: Import of contacts from team.csv finished: 3 created, 0 failed, 3 not valid in the "
            "file.") in imported
    assert "↳ Result of the import of team.csv: 3 contacts created" in imported
    assert "4,not valid,," in imported and imported.count(",created,") == 3
