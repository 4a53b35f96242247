"""The validation notice (US Regulation F, 12 CFR 1006.34): a US borrower is not called
or texted about the debt until it has been sent; the scheduled sender queues it by itself,
once; an agent may send it from the case's reminders; it itemizes the debt in the
borrower's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from negotiation.contact import Channel, ContactRefusal
from portal.contact import gate
from portal.core import db
from portal.messaging import service
from portal.models import AuditEntry, Borrower, Case, Message, MessageStatus

from .factories import TODAY, build_case, notice_sent
from .test_calls_and_promises import agent, log, move_clock
from .test_jurisdiction_contact import answer, check, loan_number

NY = ZoneInfo("America/New_York")
# 10:00 on Tuesday 1 December 2026 in New York: inside every US hour and cap.
MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=NY).astimezone(UTC)
PENDING = "validation_notice_pending"


def us_case(app, *, email="amy@example.com", locale="en", **changes):
    """A New York borrower's overdue case, open as the daily work keeps it."""
    built = build_case(app, timezone="America/New_York", locale=locale, name="Amy Chen", **changes)
    with app.app_context():
        session = db.session()
        session.execute(
            update(Borrower)
            .where(Borrower.id == built.borrower_id)
            .values(email=email, jurisdiction="US-NY")
        )
        session.get(Case, built.case_id).overdue_since = TODAY - timedelta(days=47)
        session.commit()
    return built


def taipei_case(app, **changes):
    built = build_case(app, **changes)
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.email = "yijun@example.com"
        session.get(Case, built.case_id).overdue_since = TODAY - timedelta(days=47)
        session.commit()
    return built


def notices(app, case_id=None):
    with app.app_context():
        query = select(Message).where(Message.purpose == gate.VALIDATION_NOTICE)
        if case_id is not None:
            query = query.where(Message.case_id == case_id)
        return list(db.session().scalars(query.order_by(Message.id)))


def send_due(app, moment=MORNING):
    app.config["HAOHUAN_NOW"] = moment.isoformat()
    with app.test_request_context("/"):
        return service.dispatch_due(db.session(), moment)


@pytest.mark.parametrize("channel", ["call", "sms"])
def test_the_command_refuses_calls_and_sms_until_the_notice_is_sent(app, channel):
    built = us_case(app)
    number = loan_number(app, built)
    at = "2026-12-01T10:00"
    refused = check(app, "--loan", number, "--channel", channel, "--at", at)
    assert refused.exit_code == 1
    found = answer(refused)
    assert (found["reasons"], found["allowed_from"]) == ([PENDING], None)
    for other in ("email", "letter"):  # the notice itself is one of these
        assert answer(check(app, "--loan", number, "--channel", other, "--at", at))["allowed"]
    notice_sent(app, built.case_id, MORNING - timedelta(days=1))
    allowed = check(app, "--loan", number, "--channel", channel, "--at", at)
    assert allowed.exit_code == 0
    assert answer(allowed)["reasons"] == []


def test_a_notice_not_sent_yet_does_not_count(app):
    built = us_case(app)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        for status in (MessageStatus.SCHEDULED, MessageStatus.FAILED, MessageStatus.CANCELLED):
            session.add(
                Message(
                    case_id=case.id,
                    borrower_id=case.loan.borrower_id,
                    channel="email",
                    purpose=gate.VALIDATION_NOTICE,
                    locale="en",
                    status=status,
                    send_at=MORNING + timedelta(days=3),
                    created_by="system",
                    created_at=MORNING,
                )
            )
        session.commit()
        decision = gate.judge(session, session.get(Case, built.case_id), Channel.CALL, MORNING)
        assert decision.reasons == (ContactRefusal.VALIDATION_NOTICE_PENDING,)
    # Another case's notice is not this one's.
    other = us_case(app)
    notice_sent(app, other.case_id)
    with app.app_context():
        session = db.session()
        decision = gate.judge(session, session.get(Case, built.case_id), Channel.SMS, MORNING)
        assert not decision.allowed


def test_the_console_refuses_the_call_and_logging_it_until_the_notice(app):
    built = us_case(app)
    client = agent(app)
    move_clock(app, client, MORNING)
    page = client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en").get_data(as_text=True)
    assert "Do not call the borrower now." in page
    assert "no call or SMS until the validation notice about the debt" in page
    refused = log(client, built.case_id, answered="nobody")
    assert refused.status_code == 422
    with app.app_context():
        assert (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "call.refused"))
            .all()
        )
    notice_sent(app, built.case_id)
    page = client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en").get_data(as_text=True)
    assert "You may call the borrower now." in page
    assert log(client, built.case_id, answered="nobody").status_code == 303


@pytest.mark.parametrize("channel", list(Channel))
def test_a_taipei_borrower_is_unaffected(app, channel):
    built = taipei_case(app)
    # 10:00 in Taipei.
    moment = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with app.app_context():
        session = db.session()
        decision = gate.judge(session, session.get(Case, built.case_id), channel, moment)
        assert decision.allowed, decision.reasons
    assert send_due(app, moment).notices_queued == 0
    assert notices(app) == []


def test_judge_many_equals_judge_before_and_after_the_notice(app):
    cases = [
        us_case(app).case_id,
        us_case(app).case_id,
        us_case(app, hold="dispute").case_id,
        taipei_case(app).case_id,
    ]
    notice_sent(app, cases[1])
    for channel in Channel:
        for moment in (MORNING, MORNING + timedelta(hours=12)):
            with app.app_context():
                session = db.session()
                many = gate.judge_many(session, cases, channel, moment)
                for case_id in cases:
                    one = gate.judge(session, session.get(Case, case_id), channel, moment)
                    assert many[case_id] == one, (channel, moment, case_id)
    with app.app_context():
        many = gate.judge_many(db.session(), cases, Channel.CALL, MORNING)
    assert many[cases[0]].reasons == (ContactRefusal.VALIDATION_NOTICE_PENDING,)
    assert many[cases[1]].allowed
    assert many[cases[3]].allowed is False  # 23:00 in Taipei: its hours, not the notice
    assert ContactRefusal.VALIDATION_NOTICE_PENDING not in many[cases[3]].reasons


def test_the_sender_queues_each_notice_once_and_sends_it(app):
    due = us_case(app)
    held = us_case(app, hold="dispute")
    no_email = us_case(app, email=None)
    current = us_case(app)
    with app.app_context():
        session = db.session()
        session.get(Case, current.case_id).overdue_since = None  # not overdue
        session.commit()
    already = us_case(app)
    notice_sent(app, already.case_id)
    taipei_case(app)
    done = send_due(app)
    assert done.notices_queued == 1
    assert done.sent == 1
    [sent] = notices(app, due.case_id)
    assert (sent.status, sent.channel, sent.created_by) == ("sent", "email", "system")
    for untouched in (held, no_email, current):
        assert notices(app, untouched.case_id) == []
    assert len(notices(app, already.case_id)) == 1
    # Again, and again the next day: nothing more.
    assert send_due(app).notices_queued == 0
    assert send_due(app, MORNING + timedelta(days=1)).notices_queued == 0
    assert len(notices(app)) == 2
    # It was sent, so the borrower may now be called.
    with app.app_context():
        session = db.session()
        decision = gate.judge(session, session.get(Case, due.case_id), Channel.CALL, MORNING)
        assert decision.allowed


def test_the_queued_notice_keeps_the_hours(app):
    built = us_case(app)
    night = datetime(2026, 12, 1, 22, 0, tzinfo=NY).astimezone(UTC)
    done = send_due(app, night)
    assert (done.notices_queued, done.sent, done.rescheduled) == (1, 0, 1)
    [waiting] = notices(app, built.case_id)
    assert waiting.status == "scheduled"
    assert waiting.send_at.replace(tzinfo=UTC) == datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    # Still waiting: not queued a second time.
    assert send_due(app, night + timedelta(minutes=5)).notices_queued == 0


def test_the_agent_sends_it_from_the_reminders(app):
    built = us_case(app)
    client = agent(app)
    move_clock(app, client, MORNING)
    page = client.get(f"/agent/cases/{built.case_id}/messages?lang=en").get_data(as_text=True)
    assert "Send the validation notice by email" in page
    assert 'name="purpose" value="validation"' in page
    sms = client.post(
        f"/agent/cases/{built.case_id}/messages?lang=en",
        data={"channel": "sms", "purpose": "validation"},
    )
    assert sms.status_code == 422
    assert "The validation notice is sent by email." in sms.get_data(as_text=True)
    assert notices(app) == []
    sent = client.post(
        f"/agent/cases/{built.case_id}/messages", data={"channel": "email", "purpose": "validation"}
    )
    assert sent.status_code == 303
    [notice] = notices(app)
    assert (notice.status, notice.created_by) == ("sent", "agent@haohuan.example")
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "message.send"))
            .one()
        )
        assert entry.details["purpose"] == "validation"
    page = client.get(f"/agent/cases/{built.case_id}/messages?lang=en").get_data(as_text=True)
    assert "Send the validation notice by email" not in page
    assert "Validation notice" in page
    # The sender does not queue a second.
    assert send_due(app).notices_queued == 0
    # A tampered purpose is a plain reminder, never an error.
    other = client.post(
        f"/agent/cases/{built.case_id}/messages", data={"channel": "email", "purpose": "x" * 500}
    )
    assert other.status_code == 303
    assert len(notices(app)) == 1


WORDS = {
    "en": (
        "is the creditor to whom the debt is owed",
        "Total amount of the debt now",
        "original creditor",
        "December 31, 2026",
    ),
    "zh_Hant_TW": ("債權人", "目前債務總額", "原始債權人", "2026年12月31日"),
    "zh_Hans_CN": ("债权人", "目前债务总额", "原始债权人", "2026年12月31日"),
}


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_notice_itemizes_the_debt_in_the_borrowers_language(app, locale):
    built = us_case(app, locale=locale, currency="USD")
    send_due(app)
    [notice] = notices(app, built.case_id)
    assert notice.status == "sent"
    body = notice.body
    with app.app_context():
        case = db.session().get(Case, built.case_id)
        number = case.loan.number
    assert number in body
    assert number in notice.subject
    for words in WORDS[locale]:
        assert words in body, body
    assert "/help" in body
    assert "/opt-out/" in body
    # The factory's loan: 12 installments of $5,000.00 principal and $500.00 interest,
    # 4 paid; the others fall due monthly from 47 days ago (two of them by now); a fee of
    # $300.00 and a penalty of $150.00.
    for amount in ("$60,000.00", "$3,000.00", "$450.00", "$22,000.00"):
        assert amount in body, (amount, body)
    # What is owed now: 8 installments' principal, 2 installments' interest, the charges.
    assert "$41,450.00" in body
    if locale == "zh_Hans_CN":
        assert "債" not in body
        assert "額" not in body
    if locale == "zh_Hant_TW":
        assert "债" not in body
        assert "额" not in body


def test_the_agent_at_night_schedules_it_once_and_may_resend_a_failed_one(app):
    built = us_case(app)
    client = agent(app)
    night = datetime(2026, 12, 1, 22, 0, tzinfo=NY).astimezone(UTC)
    move_clock(app, client, night)
    url = f"/agent/cases/{built.case_id}/messages?lang=en"
    first = client.post(url, data={"channel": "email", "purpose": "validation"})
    assert first.status_code == 303
    [waiting] = notices(app)
    assert waiting.status == "scheduled"
    assert waiting.send_at.replace(tzinfo=UTC) == datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    again = client.post(url, data={"channel": "email", "purpose": "validation"})
    assert again.status_code == 422
    assert "already waiting to be sent" in again.get_data(as_text=True)
    assert len(notices(app)) == 1
    assert "Send the validation notice by email" not in client.get(url).get_data(as_text=True)
    # The provider refused it: the button is back, and the sender does not retry by itself.
    with app.app_context():
        session = db.session()
        session.get(Message, waiting.id).status = MessageStatus.FAILED
        session.commit()
    assert "Send the validation notice by email" in client.get(url).get_data(as_text=True)
    assert send_due(app, night + timedelta(minutes=1)).notices_queued == 0


def test_a_borrower_without_email_is_told_not_offered_a_button(app):
    built = us_case(app, email=None)
    client = agent(app)
    move_clock(app, client, MORNING)
    page = client.get(f"/agent/cases/{built.case_id}/messages?lang=en").get_data(as_text=True)
    assert "until its validation notice has been sent" in page
    assert "Send the validation notice by email" not in page
    refused = client.post(
        f"/agent/cases/{built.case_id}/messages?lang=en",
        data={"channel": "email", "purpose": "validation"},
    )
    assert refused.status_code == 422
    assert notices(app) == []
