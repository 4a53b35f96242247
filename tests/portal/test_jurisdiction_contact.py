"""The borrower's own jurisdiction decides their contact rules: the gate, bulk sending,
the console's "may I call now?" and ``haohuan contact check`` all give its answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from negotiation.contact import Channel
from portal.cli import cli
from portal.core import db
from portal.messaging.service import plan_chunk
from portal.models import AuditEntry, Borrower, Case, ContactAttempt, Loan, Message

from .factories import build_case, notice_sent
from .test_calls_and_promises import agent, move_clock

LA = ZoneInfo("America/Los_Angeles")
# 21:30 on Tuesday 1 December 2026 in Los Angeles (Pacific Standard Time, UTC-8).
LATE_IN_LA = datetime(2026, 12, 1, 21, 30, tzinfo=LA)
KEYS = {"allowed", "reasons", "allowed_from", "borrower_local_time", "jurisdiction"}


def los_angeles_case(app, **changes):
    built = build_case(app, timezone="America/Los_Angeles", **changes)
    with app.app_context():
        session = db.session()
        session.execute(
            update(Borrower)
            .where(Borrower.id == built.borrower_id)
            .values(
                postal_address="350 S Grand Ave\nLos Angeles, CA 90071",
                jurisdiction="US-CA",
            )
        )
        session.commit()
    # Its validation notice (US Regulation F) went out: these tests are about the hours
    # (tests/portal/test_validation_notice.py is about the notice).
    notice_sent(app, built.case_id)
    return built


def loan_number(app, built):
    with app.app_context():
        return db.session().scalar(
            select(Loan.number).join(Case, Case.loan_id == Loan.id).where(Case.id == built.case_id)
        )


def check(app, *args):
    return CliRunner().invoke(
        cli, ["contact", "check", *args], obj=ScriptInfo(create_app=lambda: app)
    )


def answer(result):
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.output
    found = json.loads(lines[0])
    assert set(found) == KEYS
    return found


def counts(app):
    with app.app_context():
        session = db.session()
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (AuditEntry, ContactAttempt, Message)
        )


def test_a_los_angeles_borrower_cannot_be_called_at_half_past_nine_at_night(app):
    built = los_angeles_case(app)
    number = loan_number(app, built)
    before = counts(app)
    result = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-01T21:30")
    assert result.exit_code == 1, result.output
    assert answer(result) == {
        "allowed": False,
        "reasons": ["quiet_hours"],
        "allowed_from": "2026-12-02T08:00:00-08:00",
        "borrower_local_time": "2026-12-01T21:30:00-08:00",
        "jurisdiction": "US-CA",
    }
    # The same moment given in UTC: the same answer, on the borrower's clock.
    same = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-02T05:30:00Z")
    assert answer(same) == answer(result)
    # It changes nothing and records nothing.
    assert counts(app) == before


def test_the_answer_is_yes_in_the_afternoon_and_letters_ignore_the_hours(app):
    number = loan_number(app, los_angeles_case(app))
    result = check(app, "--loan", number, "--channel", "sms", "--at", "2026-12-01T15:00-08:00")
    assert result.exit_code == 0, result.output
    assert answer(result) == {
        "allowed": True,
        "reasons": [],
        "allowed_from": None,
        "borrower_local_time": "2026-12-01T15:00:00-08:00",
        "jurisdiction": "US-CA",
    }
    letter = check(app, "--loan", number, "--channel", "letter", "--at", "2026-12-01T23:00")
    assert letter.exit_code == 0
    assert answer(letter)["allowed"] is True


def test_a_hold_refuses_with_no_moment_to_wait_for(app):
    number = loan_number(app, los_angeles_case(app, hold="dispute"))
    result = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-01T21:30")
    assert result.exit_code == 1
    found = answer(result)
    assert found["allowed"] is False
    assert found["reasons"] == ["on_hold", "quiet_hours"]
    assert found["allowed_from"] is None


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--loan", "NO-SUCH-LOAN", "--channel", "call"], "no loan numbered"),
        (["--loan", "{number}", "--channel", "fax"], "--channel"),
        (["--loan", "{number}", "--channel", "call", "--at", "tonight"], "ISO-8601"),
    ],
)
def test_bad_input_exits_2_and_prints_no_json(app, args, hint):
    number = loan_number(app, los_angeles_case(app))
    result = check(app, *(arg.format(number=number) for arg in args))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert hint in result.output


def test_the_console_gives_the_same_answer(app):
    built = los_angeles_case(app)
    client = agent(app)
    move_clock(app, client, LATE_IN_LA.astimezone(UTC))
    page = client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en").get_data(as_text=True)
    assert "Do not call the borrower now." in page
    assert "outside the allowed hours in the borrower&#39;s time zone" in page
    assert "A call is allowed from Dec 2, 2026, 8:00:00\u202fAM (Los Angeles)" in page
    assert "US-CA" in page
    # Earlier in the evening it is allowed, as the command says.
    move_clock(app, client, datetime(2026, 12, 1, 20, 30, tzinfo=LA).astimezone(UTC))
    page = client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en").get_data(as_text=True)
    assert "You may call the borrower now." in page


def test_a_taipei_borrower_keeps_taiwans_hours_at_the_same_moment(app):
    # 21:30 in Los Angeles is 13:30 the next day in Taipei: allowed there.
    built = build_case(app)
    number = loan_number(app, built)
    result = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-02T05:30:00Z")
    assert result.exit_code == 0
    assert answer(result)["jurisdiction"] == "TW"
    # Taiwan's rules for outsourced collection allow 07:00; China's would not.
    early = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-02T07:30")
    assert answer(early)["allowed"] is True


def test_a_reminder_to_los_angeles_at_night_is_scheduled_for_their_morning(app):
    built = los_angeles_case(app)
    with app.app_context():
        session = db.session()
        session.execute(
            update(Borrower).where(Borrower.id == built.borrower_id).values(email="b@example.com")
        )
        session.commit()
        [planned] = plan_chunk(session, [built.case_id], Channel.EMAIL, LATE_IN_LA)
        assert planned.send_at == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # 08:00 in LA
        assert "quiet_hours" in planned.reasons


def test_a_new_borrowers_jurisdiction_is_derived_and_checked(app):
    built = build_case(app, timezone="America/Los_Angeles")
    with app.app_context():
        session = db.session()
        borrower = session.get(Borrower, built.borrower_id)
        assert borrower.jurisdiction == "US"  # a zone names the country, not the state
        assert borrower.jurisdiction_set_by is None
        with pytest.raises(IntegrityError):
            session.execute(
                update(Borrower).where(Borrower.id == built.borrower_id).values(jurisdiction="XX")
            )
        session.rollback()
    shanghai = build_case(app, timezone="Asia/Shanghai", currency="CNY")
    with app.app_context():
        assert db.session().get(Borrower, shanghai.borrower_id).jurisdiction == "CN"


def test_an_agent_sets_the_state_and_the_rules_follow(app):
    # A Los Angeles borrower whose record names only the United States.
    built = build_case(app, timezone="America/Los_Angeles")
    notice_sent(app, built.case_id)
    number = loan_number(app, built)
    client = agent(app)
    move_clock(app, client, LATE_IN_LA.astimezone(UTC))
    page = client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en")
    assert 'name="jurisdiction"' in page.get_data(as_text=True)
    refused = client.post(
        f"/agent/cases/{built.case_id}/jurisdiction?lang=en", data={"jurisdiction": "XX"}
    )
    assert refused.status_code == 422
    assert "Please check the form:" in refused.get_data(as_text=True)
    done = client.post(f"/agent/cases/{built.case_id}/jurisdiction", data={"jurisdiction": "US-MA"})
    assert done.status_code == 303
    with app.app_context():
        session = db.session()
        borrower = session.get(Borrower, built.borrower_id)
        assert (borrower.jurisdiction, borrower.jurisdiction_set_by) == (
            "US-MA",
            "agent@haohuan.example",
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "borrower.jurisdiction")
        ).one()
        assert (entry.case_id, entry.details["before"], entry.details["after"]) == (
            built.case_id,
            "US",
            "US-MA",
        )
    found = answer(check(app, "--loan", number, "--channel", "call", "--at", "2026-12-01T10:00"))
    assert found["jurisdiction"] == "US-MA"
    assert found["allowed"] is True
