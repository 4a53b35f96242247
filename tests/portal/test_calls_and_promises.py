"""Calls and promises to pay on the agent console: every call passes the contact rules
(quiet hours in the borrower's own zone, caps shared by every agent, holds, opt-outs),
someone else answering is never told anything, and a promise is checked when made and
decided against real payments by the daily work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import render_template
from flask_babel import force_locale
from sqlalchemy import delete, func, select, update

from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.models import (
    AuditEntry,
    Callback,
    CallbackSource,
    CallbackStatus,
    Case,
    CaseEvent,
    ContactAttempt,
    OptOut,
    Promise,
    StaffMember,
)
from portal.web.agent import case_section_named

from .factories import (
    NOW,
    TODAY,
    add_staff,
    build_case,
    notice_sent,
    sign_in,
    staff_sign_in,
    unwrapped,
)
from .test_finance_console import pay

AGENT = "agent@haohuan.example"
OTHER = "other.agent@haohuan.example"


def agent(app, email=AGENT):
    """A client signed in as an agent."""
    add_staff(app, email=email, roles=("agent",))
    client = app.test_client()
    assert staff_sign_in(client, email=email).status_code == 303
    return client


def move_clock(app, client, moment, email=AGENT):
    """The portal's clock at ``moment``; the agent signs in again (a long jump ends the
    session, as it would in life)."""
    app.config["HAOHUAN_NOW"] = moment.isoformat()
    assert staff_sign_in(client, email=email).status_code == 303


def log(client, case_id, lang="en", **data):
    return client.post(f"/agent/cases/{case_id}/calls?lang={lang}", data=data)


def reached(client, case_id, **extra):
    return log(client, case_id, answered="borrower", outcome="reached", **extra)


def rows(app, model, **where):
    with app.app_context():
        query = select(model).filter_by(**where).order_by(model.id)
        found = db.session().scalars(query).all()
        db.session().expunge_all()
        return list(found)


def text_of(response):
    return response.get_data(as_text=True)


# Quiet hours, in the borrower's own time zone ---------------------------------------------


def test_quiet_hours_follow_each_borrowers_own_clock(app):
    taipei = build_case(app, timezone="Asia/Taipei")
    new_york = build_case(app, timezone="America/New_York")
    notice_sent(app, new_york.case_id)  # the US validation notice: not what this is about
    client = agent(app)
    # 14:30 UTC: 22:30 in Taipei (too late), 09:30 in New York (fine).
    move_clock(app, client, datetime(2026, 11, 30, 14, 30, tzinfo=UTC))

    check = client.get(f"/agent/cases/{taipei.case_id}/calls/check?lang=en")
    page = text_of(check)
    assert check.status_code == 200
    assert "Do not call the borrower now." in page
    assert "outside the allowed hours in the borrower&#39;s time zone" in page
    assert "A call is allowed from Dec 1, 2026, 7:00:00\u202fAM (Taipei)" in page
    assert "Nov 30, 2026, 10:30:00\u202fPM (Taipei)" in page  # their local time

    refused = reached(client, taipei.case_id)
    assert refused.status_code == 422
    assert "This call cannot be logged" in text_of(refused)
    assert "Dec 1, 2026, 7:00:00\u202fAM (Taipei)" in text_of(refused)
    assert rows(app, ContactAttempt) == []

    assert reached(client, new_york.case_id).status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    assert attempt.case_id == new_york.case_id
    assert attempt.connected


def test_new_york_evening_is_refused_until_eight_new_york_time(app):
    built = build_case(app, timezone="America/New_York")
    notice_sent(app, built.case_id)  # the US validation notice: not what this is about
    client = agent(app)
    # 03:30 UTC on 1 December: 22:30 on 30 November in New York (EST, UTC-5).
    move_clock(app, client, datetime(2026, 12, 1, 3, 30, tzinfo=UTC))
    refused = log(client, built.case_id, answered="nobody")
    assert refused.status_code == 422
    assert "Dec 1, 2026, 8:00:00\u202fAM (New York)" in text_of(refused)
    # 13:00 UTC is 08:00 in New York: allowed.
    move_clock(app, client, datetime(2026, 12, 1, 13, 0, tzinfo=UTC))
    assert log(client, built.case_id, answered="nobody").status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    assert attempt.outcome == "no_answer"
    assert not attempt.connected


def test_a_call_logged_late_is_judged_when_it_began(app):
    built = build_case(app)
    client = agent(app)
    # 22:10 in Taipei; the call began 15 minutes ago, at 21:55: allowed, recorded then.
    move_clock(app, client, datetime(2026, 11, 30, 14, 10, tzinfo=UTC))
    assert reached(client, built.case_id, started="15").status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    assert attempt.at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 13, 55, tzinfo=UTC)
    # "Just now" (22:10) is refused; a start time not offered is a form error.
    assert reached(client, built.case_id).status_code == 422
    assert reached(client, built.case_id, started="600").status_code == 422
    assert len(rows(app, ContactAttempt)) == 1


# Caps across every agent --------------------------------------------------------------------


def test_connected_calls_per_day_are_counted_across_agents(app):
    built = build_case(app)
    first, second = agent(app), agent(app, OTHER)
    assert reached(first, built.case_id).status_code == 303
    assert reached(first, built.case_id).status_code == 303
    assert reached(second, built.case_id).status_code == 303
    refused = reached(second, built.case_id)
    assert refused.status_code == 422
    page = text_of(refused)
    assert "already been reached by phone as often as allowed today" in page
    assert "Dec 1, 2026, 7:00:00\u202fAM (Taipei)" in page
    attempts = rows(app, ContactAttempt)
    assert [a.agent for a in attempts] == [AGENT, AGENT, OTHER]
    # The refusal is kept for compliance, under the agent who tried.
    (refusal,) = rows(app, AuditEntry, action="call.refused")
    assert refusal.actor == OTHER
    assert refusal.case_id == built.case_id
    assert refusal.details["reasons"] == ["connected_calls_per_day"]
    # The check says so too, with the day's count.
    check = text_of(second.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "3 of at most 3, by every agent" in check


def test_seven_call_attempts_in_seven_days(app):
    built = build_case(app)
    client = agent(app)
    for day, calls in ((date(2026, 11, 30), 4), (date(2026, 12, 2), 3)):
        move_clock(app, client, datetime(day.year, day.month, day.day, 2, tzinfo=UTC))
        for _ in range(calls):
            assert log(client, built.case_id, answered="nobody").status_code == 303
    move_clock(app, client, datetime(2026, 12, 4, 2, tzinfo=UTC))
    refused = log(client, built.case_id, answered="nobody")
    assert refused.status_code == 422
    page = text_of(refused)
    assert "called as often as allowed in 7 days" in page
    # The first four fall out of the window on 7 December, local time.
    assert "Dec 7, 2026, 7:00:00\u202fAM (Taipei)" in page
    assert len(rows(app, ContactAttempt)) == 7


# Holds and opt-outs: refused, and no time given ------------------------------------------------


def test_a_case_on_hold_cannot_be_called(app):
    built = build_case(app, hold="hardship")
    client = agent(app)
    check = text_of(client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "The case is on hold" in check
    assert "Waiting does not make a call allowed" in check
    assert "A call is allowed from" not in check
    refused = reached(client, built.case_id)
    assert refused.status_code == 422
    assert "Waiting does not make a call allowed" in text_of(refused)
    assert rows(app, ContactAttempt) == []


def test_an_opt_out_said_on_the_phone_is_recorded_and_honoured(app):
    built = build_case(app)
    client = agent(app)
    assert reached(client, built.case_id, opt_out=["call", "sms"]).status_code == 303
    opt_outs = rows(app, OptOut)
    assert {(o.channel, o.source, o.recorded_by) for o in opt_outs} == {
        ("call", "agent", AGENT),
        ("sms", "agent", AGENT),
    }
    assert {e.details["channel"] for e in rows(app, AuditEntry, action="optout.record")} == {
        "call",
        "sms",
    }
    refused = reached(client, built.case_id)
    assert refused.status_code == 422
    page = text_of(refused)
    assert "opted out of this channel" in page
    assert "Waiting does not make a call allowed" in page
    # An unknown channel is a form error, not a crash.
    assert reached(client, build_case(app).case_id, opt_out=["pigeon"]).status_code == 422


# Someone else answered -------------------------------------------------------------------------


def test_someone_else_answering_records_only_an_unconnected_attempt(app):
    built = build_case(app)
    client = agent(app)
    logged = log(client, built.case_id, answered="someone_else", note="A man answered.")
    assert logged.status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    assert (attempt.connected, attempt.outcome) == (False, "third_party")
    page = text_of(client.get(logged.location + "&lang=en"))
    assert "nothing about the debt may be discussed with them" in page
    (entry,) = rows(app, AuditEntry, action="call.log")
    assert entry.details["debt_discussed"] is False
    assert entry.details["discussion_refused"] == ["third_party"]
    assert entry.details["connected"] is False
    # The form warns before anything is logged.
    form = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "do not say why you are calling and do not mention the debt" in form
    # The attempt counts toward the 7 days: the borrower's number was dialled.
    check = text_of(client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "1 of at most 7, by every agent" in check
    assert "0 of at most 3, by every agent" in check


@pytest.mark.parametrize(
    "extra",
    [
        {"outcome": "promise", "promise_date": "2026-12-05", "promise_amount": "1000"},
        {"outcome": "dispute"},
        {"outcome": "hardship"},
        {"outcome": "callback", "callback_at": "2026-11-30T19:00"},
        {"outcome": "reached"},
        {"opt_out": "call"},
    ],
)
def test_nothing_about_the_debt_can_be_recorded_from_someone_else(app, extra):
    built = build_case(app)
    client = agent(app)
    refused = log(client, built.case_id, answered="someone_else", **extra)
    assert refused.status_code == 422
    assert rows(app, ContactAttempt) == []
    assert rows(app, Promise) == []
    with app.app_context():
        assert db.session().get(Case, built.case_id).hold is None


def test_nobody_and_the_borrower_have_their_own_outcomes(app):
    built = build_case(app)
    client = agent(app)
    assert log(client, built.case_id, answered="nobody", outcome="promise").status_code == 422
    assert log(client, built.case_id, answered="borrower").status_code == 422
    assert log(client, built.case_id, answered="borrower", outcome="no_answer").status_code == 422
    assert log(client, built.case_id).status_code == 422
    assert log(client, built.case_id, answered="robot").status_code == 422
    assert rows(app, ContactAttempt) == []


# Holds from a call -----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["dispute", "hardship"])
def test_a_dispute_or_hardship_on_the_phone_puts_the_case_on_hold(app, outcome):
    built = build_case(app)
    client = agent(app)
    note = "Says the fee was never agreed."
    assert reached(client, built.case_id, note=note).status_code == 303
    told = log(client, built.case_id, answered="borrower", outcome=outcome, note=note)
    assert told.status_code == 303
    with app.app_context():
        case = db.session().get(Case, built.case_id)
        assert (case.hold, case.needs_agent) == (outcome, True)
    (event,) = rows(app, CaseEvent, kind=f"{outcome}_declared")
    assert event.actor == "agent"
    assert event.data["details"] == note
    assert event.data["by"] == AGENT
    (entry,) = rows(app, AuditEntry, action="hold.place")
    assert entry.details["reason"] == outcome
    assert entry.case_id == built.case_id
    # From now on no collection call is allowed.
    assert reached(client, built.case_id).status_code == 422


# Callbacks -------------------------------------------------------------------------------------


def test_a_callback_time_must_be_one_the_rules_allow(app):
    built = build_case(app)
    client = agent(app)
    late = log(
        client,
        built.case_id,
        answered="borrower",
        outcome="callback",
        callback_at="2026-11-30T23:00",
    )
    assert late.status_code == 422
    page = text_of(late)
    assert "The rules do not allow a call then." in page
    assert "Dec 1, 2026, 7:00:00\u202fAM (Taipei)" in page
    assert rows(app, ContactAttempt) == []
    for bad in ("", "tomorrow", "2026-11-30T09:00", "2027-06-01T10:00"):
        response = log(
            client, built.case_id, answered="borrower", outcome="callback", callback_at=bad
        )
        assert response.status_code == 422, bad
    assert rows(app, ContactAttempt) == []
    good = log(
        client,
        built.case_id,
        answered="borrower",
        outcome="callback",
        callback_at="2026-11-30T19:30",
    )
    assert good.status_code == 303
    (event,) = rows(app, CaseEvent, kind="callback_requested")
    assert event.data["at"] == "2026-11-30T19:30:00+08:00"
    listed = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "Call back at Nov 30, 2026, 7:30:00\u202fPM (Taipei)" in listed


def test_a_callback_is_one_open_row_replaced_by_a_new_one_and_closed_by_the_call_for_it(app):
    built = build_case(app)
    client = agent(app)
    first = log(
        client,
        built.case_id,
        answered="borrower",
        outcome="callback",
        callback_at="2026-11-30T19:30",
    )
    assert first.status_code == 303
    (callback,) = rows(app, Callback)
    assert (callback.source, callback.status) == (CallbackSource.BORROWER, CallbackStatus.OPEN)
    assert callback.due_at == datetime(2026, 11, 30, 11, 30, tzinfo=UTC)
    # Asked again on another call: the new time replaces the old one.
    second = log(
        client,
        built.case_id,
        answered="borrower",
        outcome="callback",
        callback_at="2026-11-30T20:00",
    )
    assert second.status_code == 303
    statuses = sorted((row.status.value, row.due_at.hour) for row in rows(app, Callback))
    assert statuses == [("canceled", 11), ("open", 12)]
    # A call well before it is due does not answer it; one at the time does.
    move_clock(app, client, datetime(2026, 11, 30, 12, 5, tzinfo=UTC))
    answered = reached(client, built.case_id)
    assert answered.status_code == 303
    assert [row.status.value for row in rows(app, Callback) if row.status.value != "canceled"] == [
        "done"
    ]
    (done,) = rows(app, CaseEvent, kind="callback_done")
    assert done.data["by"] == AGENT


# Promises: made within bounds ------------------------------------------------------------------


def promise(client, case_id, when="2026-12-05", amount="1500", lang="en", **extra):
    return log(
        client,
        case_id,
        lang=lang,
        answered="borrower",
        outcome="promise",
        promise_date=when,
        promise_amount=amount,
        **extra,
    )


@pytest.mark.parametrize(
    ("when", "amount", "english", "chinese"),
    [
        ("2026-11-29", "1500", "The promised date is in the past.", "承諾的日期已經過去。"),
        ("2026-12-05", "0", "Enter an amount greater than zero.", "請輸入大於零的金額。"),
        ("2026-12-05", "-5", "An amount cannot be negative.", "金額不能是負數。"),
        (
            "2026-12-15",
            "1500",
            "A promise to pay may run at most 14 days: by December 14, 2026 at the latest.",
            "承諾還款最長 14 天：最晚 2026年12月14日。",
        ),
        ("2026-12-05", "999999", "That is more than everything owed (NT$41,450).", "超過全部欠款"),
        (
            "",
            "1500",
            "Enter the date the borrower promised to pay by.",
            "請輸入借款人承諾還款的日期。",
        ),
        ("2026-12-05", "", "Enter the amount the borrower promised.", "請輸入借款人承諾的金額。"),
        ("2026-12-05", "15.005", "Use at most two digits after the decimal point.", "小數點後"),
        ("12/05/2026", "1500", "Enter a date as YYYY-MM-DD", "2026-11-29"),
    ],
)
def test_a_promise_out_of_bounds_is_explained_and_nothing_is_recorded(
    app, when, amount, english, chinese
):
    built = build_case(app)
    client = agent(app)
    response = promise(client, built.case_id, when, amount)
    assert response.status_code == 422
    assert english in text_of(response)
    chinese_page = promise(client, built.case_id, when, amount, lang="zh_Hant_TW")
    assert chinese_page.status_code == 422
    assert chinese in text_of(chinese_page)
    assert rows(app, ContactAttempt) == []
    assert rows(app, Promise) == []


def test_promise_fields_go_only_with_a_promise(app):
    built = build_case(app)
    client = agent(app)
    response = reached(client, built.case_id, promise_date="2026-12-05", promise_amount="100")
    assert response.status_code == 422
    assert "go with the outcome “promised to pay”" in text_of(response)
    assert rows(app, ContactAttempt) == []


def test_a_promise_is_recorded_exactly_and_linked_to_its_call(app):
    built = build_case(app, currency="CNY")
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-14", "1,234.56").status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    (made,) = rows(app, Promise)
    assert (made.amount, made.currency, made.due_date) == (123456, "CNY", date(2026, 12, 14))
    assert (made.status, made.contact_attempt_id, made.made_by) == ("open", attempt.id, AGENT)
    assert attempt.outcome == "promise"
    assert attempt.connected
    (entry,) = rows(app, AuditEntry, action="promise.create")
    assert entry.details["amount"] == 123456
    assert entry.case_id == built.case_id
    listed = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "CN¥1,234.56" in listed
    assert "December 14, 2026" in listed


# Promises: tracked against payments ------------------------------------------------------------


def work(app, as_of, now):
    with app.app_context():
        return lifecycle.work_day(app.extensions["haohuan.engine"], policy(), as_of, now)


def taipei(day, hour):
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def the_promise(app):
    (found,) = rows(app, Promise)
    return found


def needs_agent(app, case_id):
    with app.app_context():
        return db.session().get(Case, case_id).needs_agent


def test_a_promise_paid_in_full_is_kept_as_soon_as_the_money_is_in(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 100_000, taipei(date(2026, 12, 1), 12), "pi_one")
    part = the_promise(app)
    assert (part.status, part.settled_on) == ("open", None)
    assert rows(app, CaseEvent, kind="promise_kept") == []
    # The payment that completes it keeps it, in its own transaction: no daily run needed.
    pay(app, built, 50_000, taipei(date(2026, 12, 2), 12), "pi_two")
    kept = the_promise(app)
    assert (kept.status, kept.paid, kept.settled_on) == ("kept", 150_000, date(2026, 12, 2))
    (event,) = rows(app, CaseEvent, kind="promise_kept")
    assert (event.data["paid"], event.data["promise_id"], event.actor) == (
        150_000,
        kept.id,
        "system",
    )
    assert event.at.replace(tzinfo=UTC) == taipei(date(2026, 12, 2), 12)
    assert not needs_agent(app, built.case_id)
    # The daily run finds nothing left to decide.
    assert work(app, date(2026, 12, 3), taipei(date(2026, 12, 3), 3)).promises_kept == 0
    assert len(rows(app, CaseEvent, kind="promise_kept")) == 1


def test_the_daily_run_keeps_a_promise_paid_in_full_that_was_left_open(app):
    # The review applies the same rule to a promise the payment path left open (here:
    # set back to open, as if its payment had been confirmed by some other path).
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 150_000, taipei(date(2026, 12, 2), 12), "pi_all")
    with app.app_context():
        session = db.session()
        session.execute(update(Promise).values(status="open", settled_on=None, paid=0))
        session.execute(delete(CaseEvent).where(CaseEvent.kind == "promise_kept"))
        session.commit()
    day = work(app, date(2026, 12, 3), taipei(date(2026, 12, 3), 3))
    assert day.promises_kept == 1
    kept = the_promise(app)
    assert (kept.status, kept.paid, kept.settled_on) == ("kept", 150_000, date(2026, 12, 2))


def test_a_promise_paid_through_the_sandbox_checkout_is_kept_at_once(app, client):
    built = build_case(app)
    staff = agent(app)
    assert promise(staff, built.case_id, "2026-12-05", "1500").status_code == 303
    sign_in(client, built)
    started = client.post("/pay", data={"purpose": "partial", "amount": "1,000"})
    assert started.status_code == 303
    client.post(started.location, data={"outcome": "succeed"})
    part = the_promise(app)
    assert (part.status, part.paid) == ("open", 100_000)  # its progress so far
    assert rows(app, CaseEvent, kind="promise_kept") == []
    listed = text_of(staff.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "NT$1,000" in listed  # paid toward it so far
    started = client.post("/pay", data={"purpose": "partial", "amount": "500"})
    client.post(started.location, data={"outcome": "succeed"})
    kept = the_promise(app)
    assert (kept.status, kept.paid, kept.settled_on) == ("kept", 150_000, TODAY)
    (event,) = rows(app, CaseEvent, kind="promise_kept")
    assert event.data["amount"] == 150_000
    listed = text_of(staff.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "Kept" in listed


def test_money_taken_back_after_a_promise_was_kept_does_not_unkeep_it(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 150_000, taipei(date(2026, 12, 2), 12), "pi_kept", refund=150_000)
    kept = the_promise(app)
    assert (kept.status, kept.paid) == ("kept", 150_000)
    day = work(app, date(2026, 12, 6), taipei(date(2026, 12, 6), 3))
    assert (day.promises_kept, day.promises_broken, day.promises_partly_kept) == (0, 0, 0)
    assert the_promise(app).status == "kept"
    assert rows(app, CaseEvent, kind="payment_refunded")  # the refund is on the timeline


def test_a_refund_before_the_last_payment_is_netted_out(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 100_000, taipei(date(2026, 12, 1), 12), "pi_back", refund=40_000)
    pay(app, built, 50_000, taipei(date(2026, 12, 2), 12), "pi_more")
    assert the_promise(app).status == "open"  # 600 + 500 of 1,500
    pay(app, built, 40_000, taipei(date(2026, 12, 3), 12), "pi_last")
    kept = the_promise(app)
    assert (kept.status, kept.paid, kept.settled_on) == ("kept", 150_000, date(2026, 12, 3))


def test_a_promise_partly_paid_by_its_date_is_partly_kept(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 60_000, taipei(date(2026, 12, 5), 23), "pi_in_time")  # 23:00 local
    pay(app, built, 90_000, taipei(date(2026, 12, 6), 1), "pi_too_late")  # next day
    # Not decided while the due date lasts.
    assert work(app, date(2026, 12, 5), taipei(date(2026, 12, 5), 12)).promises_partly_kept == 0
    assert the_promise(app).status == "open"
    day = work(app, date(2026, 12, 6), taipei(date(2026, 12, 6), 3))
    assert day.promises_partly_kept == 1
    decided = the_promise(app)
    assert (decided.status, decided.paid, decided.settled_on) == (
        "partly_kept",
        60_000,
        date(2026, 12, 5),
    )
    assert needs_agent(app, built.case_id)
    assert rows(app, CaseEvent, kind="promise_partly_kept")


def test_a_promise_with_nothing_paid_is_broken_and_asks_for_an_agent(app):
    built = build_case(app)
    client = agent(app)
    # Paid before the promise was made: it does not count toward it.
    pay(app, built, 150_000, NOW - timedelta(hours=1), "pi_before")
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    # Refunded in full: nothing kept.
    pay(app, built, 100_000, taipei(date(2026, 12, 2), 12), "pi_refunded", refund=100_000)
    day = work(app, date(2026, 12, 6), taipei(date(2026, 12, 6), 3))
    assert day.promises_broken == 1
    broken = the_promise(app)
    assert (broken.status, broken.paid, broken.settled_on) == ("broken", 0, date(2026, 12, 5))
    assert needs_agent(app, built.case_id)
    (event,) = rows(app, CaseEvent, kind="promise_broken")
    assert event.actor == "system"
    assert event.data["promise_id"] == broken.id
    listed = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "Broken" in listed


def test_new_york_promises_end_at_new_york_midnight(app):
    in_time = build_case(app, timezone="America/New_York", currency="USD")
    too_late = build_case(app, timezone="America/New_York", currency="USD")
    for built in (in_time, too_late):
        notice_sent(app, built.case_id)  # the US validation notice: not what this is about
    client = agent(app)
    # 10:00 UTC on 30 November is 05:00 in New York: too early to call; 14:00 UTC is 09:00.
    move_clock(app, client, datetime(2026, 11, 30, 14, tzinfo=UTC))
    for built in (in_time, too_late):
        assert promise(client, built.case_id, "2026-12-05", "25").status_code == 303
    # Still 5 December in New York at 03:00 UTC on the 6th: nothing is decided.
    day = work(app, date(2026, 12, 6), datetime(2026, 12, 6, 3, tzinfo=UTC))
    assert (day.promises_kept, day.promises_broken) == (0, 0)
    # 04:00 UTC on 6 December is still 23:00 on the 5th in New York: kept, that day.
    pay(app, in_time, 2_500, datetime(2026, 12, 6, 4, tzinfo=UTC), "pi_ny")
    # 05:00 UTC is midnight in New York: too late to count.
    pay(app, too_late, 2_500, datetime(2026, 12, 6, 5, tzinfo=UTC), "pi_ny_late")
    kept, late = rows(app, Promise)
    assert (kept.status, kept.settled_on) == ("kept", date(2026, 12, 5))
    assert late.status == "open"
    day = work(app, date(2026, 12, 7), datetime(2026, 12, 7, 2, tzinfo=UTC))
    assert (day.promises_kept, day.promises_broken) == (0, 1)
    assert rows(app, Promise)[1].status == "broken"


def test_a_new_promise_replaces_the_open_one(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    pay(app, built, 20_000, NOW + timedelta(minutes=5), "pi_part")
    move_clock(app, client, NOW + timedelta(hours=3))
    assert promise(client, built.case_id, "2026-12-10", "1300").status_code == 303
    first, second = rows(app, Promise)
    assert (first.status, first.paid) == ("superseded", 20_000)
    assert (second.status, second.amount) == ("open", 130_000)
    # The earlier payment counts only toward the first: the windows never overlap.
    day = work(app, date(2026, 12, 11), taipei(date(2026, 12, 11), 3))
    assert day.promises_broken == 1
    assert rows(app, Promise)[1].paid == 0


# The case page's section, and hostile input -----------------------------------------------------


def test_the_calls_section_is_registered_and_renders(app):
    built = build_case(app)
    add_staff(app, email=AGENT, roles=("agent",))
    with app.test_request_context("/"), force_locale("en"):
        session = db.session()
        case = session.get(Case, built.case_id)
        member = session.scalar(select(StaffMember).where(StaffMember.email == AGENT))
        section = case_section_named("calls")
        assert section is not None
        assert section.template == "agent/_case_calls.html"
        context = section.build(session, case, member, NOW)
        spread = render_template("agent/_case_calls.html", **context)
        nested = render_template("agent/_case_calls.html", section=context)
    for html in (spread, nested):
        assert "You may call the borrower now." in html
        assert f'action="/agent/cases/{built.case_id}/calls#log-call"' in html


def test_unknown_cases_and_other_cases_calls_show_nothing(app):
    mine, theirs = build_case(app), build_case(app)
    client = agent(app)
    assert reached(client, theirs.case_id).status_code == 303
    (attempt,) = rows(app, ContactAttempt)
    for path in ("/agent/cases/999/calls", "/agent/cases/999/calls/check"):
        assert client.get(path).status_code == 404
    assert reached(client, 999).status_code == 404
    assert client.get(f"/agent/cases/{2**70}/calls").status_code == 404
    page = text_of(client.get(f"/agent/cases/{mine.case_id}/calls?logged={attempt.id}&lang=en"))
    assert "The call is logged" not in page
    for odd in ("99999999999999999999", "²", "٣"):
        asked = client.get(f"/agent/cases/{mine.case_id}/calls", query_string={"logged": odd})
        assert asked.status_code == 200


def test_the_check_is_a_fragment_for_htmx_and_writes_nothing(app):
    built = build_case(app)
    client = agent(app)
    fragment = client.get(
        f"/agent/cases/{built.case_id}/calls/check?lang=en", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "<html" not in text_of(fragment)
    assert "You may call the borrower now." in text_of(fragment)
    with app.app_context():
        checks = db.session().scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "call.check")
        )
    # A GET any site can link to: "may I call now?" is a read, never an entry in the
    # agent's name.
    assert checks == 0


def test_the_case_page_shows_the_calls_section(app):
    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id).status_code == 303
    # Above the fold: may I call, the promise waiting, and logging a call first.
    summary = text_of(client.get(f"/agent/cases/{built.case_id}?lang=en"))
    assert "You may call the borrower now." in summary
    assert "Promise to pay NT$1,500 by" in unwrapped(summary)
    assert 'id="primary-action" href="/agent/cases/' in summary
    assert '?section=calls#log-call">Log a call<' in summary
    page = text_of(client.get(f"/agent/cases/{built.case_id}?section=calls&lang=en"))
    assert 'id="calls"' in page
    assert "You may call the borrower now." in page
    assert "Promised to pay" in page
    assert "NT$1,500" in page
    calls = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert f'href="/agent/cases/{built.case_id}?section=calls#calls"' in calls


# Calls the borrower made to us ------------------------------------------------------------------


def inbound(client, case_id, **extra):
    return log(client, case_id, direction="inbound", **extra)


def test_a_borrower_calling_late_on_a_hold_is_logged_and_counts_toward_no_cap(app):
    built = build_case(app, hold="hardship")
    client = agent(app)
    # 15:30 UTC is 23:30 in Taipei: outside the allowed hours, and the case is on hold.
    move_clock(app, client, datetime(2026, 11, 30, 15, 30, tzinfo=UTC))
    before = text_of(client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "0 of at most 3, by every agent" in before
    # Our own call is refused as ever, and nothing is recorded as made.
    assert reached(client, built.case_id).status_code == 422
    assert rows(app, ContactAttempt) == []
    # The borrower's call is logged, with "who answered" left empty or said as the borrower.
    assert (
        inbound(
            client, built.case_id, outcome="reached", note="Rang about the hardship."
        ).status_code
        == 303
    )
    assert inbound(client, built.case_id, answered="borrower", outcome="reached").status_code == 303
    attempts = rows(app, ContactAttempt)
    assert [(a.inbound, a.connected, a.channel) for a in attempts] == [(True, True, "call")] * 2
    assert attempts[0].at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    first = rows(app, AuditEntry, action="call.log")[0]
    assert first.details["direction"] == "inbound"
    assert set(first.details["outbound_refused"]) == {"on_hold", "quiet_hours"}
    assert rows(app, CaseEvent, kind="call_received")
    assert rows(app, AuditEntry, action="call.refused")  # our refused call is on record too
    # Neither counts: not toward today's connected calls, not toward the 7 days.
    after = text_of(client.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "0 of at most 3, by every agent" in after
    assert "0 of at most 7, by every agent" in after
    # The lists say who called.
    listed = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=en"))
    assert "The borrower called us" in listed
    contacts = text_of(client.get(f"/agent/cases/{built.case_id}?section=contacts&lang=en"))
    assert "the borrower called us" in contacts
    events = text_of(client.get(f"/agent/cases/{built.case_id}?section=events&lang=en"))
    assert "The borrower called" in events  # the timeline's event


def test_calls_from_the_borrower_leave_the_days_outbound_calls_untouched(app):
    built = build_case(app)
    client = agent(app)
    for _ in range(5):  # more than the day's cap of connected calls
        assert inbound(client, built.case_id, outcome="reached").status_code == 303
    # Every one of our own calls of the day is still allowed, then the cap applies.
    for _ in range(3):
        assert reached(client, built.case_id).status_code == 303
    refused = reached(client, built.case_id)
    assert refused.status_code == 422
    assert "already been reached by phone as often as allowed today" in text_of(refused)
    with app.app_context():
        from portal.contact.gate import contact_history

        session = db.session()
        history = contact_history(session, built.borrower_id, NOW)
    assert len(history.attempts) == 3


def test_a_borrower_who_opted_out_of_calls_can_still_call_us(app):
    built = build_case(app)
    client = agent(app)
    assert reached(client, built.case_id, opt_out=["call"]).status_code == 303
    assert reached(client, built.case_id).status_code == 422
    # They ring back and promise to pay: the promise is recorded.
    assert (
        inbound(
            client,
            built.case_id,
            outcome="promise",
            promise_date="2026-12-05",
            promise_amount="1500",
        ).status_code
        == 303
    )
    (made,) = rows(app, Promise)
    assert made.amount == 150_000
    assert made.contact_attempt_id == rows(app, ContactAttempt)[-1].id


@pytest.mark.parametrize("outcome", ["dispute", "hardship"])
def test_a_borrower_calling_in_can_declare_a_dispute_or_hardship(app, outcome):
    built = build_case(app)
    client = agent(app)
    move_clock(app, client, datetime(2026, 11, 30, 15, 30, tzinfo=UTC))  # 23:30 in Taipei
    assert inbound(client, built.case_id, outcome=outcome, note="Lost my job.").status_code == 303
    with app.app_context():
        assert db.session().get(Case, built.case_id).hold == outcome
    assert rows(app, CaseEvent, kind=f"{outcome}_declared")


def test_a_callback_asked_on_an_inbound_call_is_our_call_and_must_be_allowed(app):
    built = build_case(app)
    client = agent(app)
    move_clock(app, client, datetime(2026, 11, 30, 15, 30, tzinfo=UTC))  # 23:30 in Taipei
    late = inbound(client, built.case_id, outcome="callback", callback_at="2026-11-30T23:45")
    assert late.status_code == 422
    assert "The rules do not allow a call then." in text_of(late)
    assert rows(app, ContactAttempt) == []
    good = inbound(client, built.case_id, outcome="callback", callback_at="2026-12-01T09:00")
    assert good.status_code == 303
    (event,) = rows(app, CaseEvent, kind="callback_requested")
    assert event.data["at"] == "2026-12-01T09:00:00+08:00"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"answered": "someone_else"}, "The borrower called: choose “the borrower” here"),
        ({"answered": "nobody"}, "The borrower called: choose “the borrower” here"),
        ({"outcome": "no_answer"}, "choose what they said, not “no answer”"),
        ({"direction": "sideways"}, "Choose one of the listed values."),
    ],
)
def test_an_inbound_call_is_always_the_borrower_on_the_line(app, extra, message):
    built = build_case(app)
    client = agent(app)
    data = {"direction": "inbound", "outcome": "reached", **extra}
    response = log(client, built.case_id, **data)
    assert response.status_code == 422
    assert message in text_of(response)
    assert rows(app, ContactAttempt) == []


def test_the_call_form_asks_who_called_in_three_languages(app):
    built = build_case(app)
    client = agent(app)
    for lang, words in (
        ("en", "The borrower called us"),
        ("zh_Hant_TW", "借款人打來"),
        ("zh_Hans_CN", "借款人打来"),
    ):
        page = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang={lang}"))
        assert 'name="direction"' in page
        assert words in page, lang


@pytest.mark.parametrize(
    ("lang", "taipei", "los_angeles"),
    [
        ("en", "Taipei", "Los Angeles"),
        ("zh_Hant_TW", "台北", "洛杉磯"),
        ("zh_Hans_CN", "台北", "洛杉矶"),
    ],
)
def test_a_borrowers_time_zone_is_named_in_the_pages_language_not_as_a_code(
    app, lang, taipei, los_angeles
):
    # Found walking the console: the database's zone code (Asia/Taipei) on Chinese pages.
    home = build_case(app, timezone="Asia/Taipei")
    away = build_case(app, timezone="America/Los_Angeles")
    client = agent(app)
    for built, city in ((home, taipei), (away, los_angeles)):
        case_page = text_of(client.get(f"/agent/cases/{built.case_id}?lang={lang}"))
        check = text_of(client.get(f"/agent/cases/{built.case_id}/calls/check?lang={lang}"))
        for page in (case_page, check):
            assert "Asia/" not in page
            assert "America/" not in page
            assert city in page


def test_opening_a_cases_calls_page_is_a_recorded_view_of_the_case(app):
    # Found walking the console: the calls page shows what the borrower said on each
    # call (the notes) and their promises, yet left no row in the audit log.
    from portal.models import AuditEntry

    built = build_case(app)
    client = agent(app)
    assert reached(client, built.case_id, note="Lost her job in October").status_code == 303
    page = client.get(f"/agent/cases/{built.case_id}/calls?lang=en")
    assert "Lost her job in October" in text_of(page)
    views = rows(app, AuditEntry, action="case.view", case_id=built.case_id)
    assert [v.details for v in views] == [{"page": "calls"}]
