"""The borrower narrows contact from the portal (channels, times not to be contacted),
asks to be called, and the gate honours it everywhere: the console's call check and
call log, single and bulk messages, and ``haohuan contact check``; public holidays stop
calls and SMS where the borrower lives."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from negotiation.contact import Channel
from portal.contact.call_requests import callback_slots
from portal.core import db
from portal.messaging.service import Outcome, plan_chunk, send_message
from portal.models import (
    Borrower,
    Callback,
    Case,
    CaseEvent,
    ContactAttempt,
    OptOut,
    QuietHours,
)

from .factories import NOW, build_case, notice_sent, sign_in
from .test_calls_and_promises import agent, move_clock, reached, text_of
from .test_jurisdiction_contact import answer, check, loan_number

TAIPEI = ZoneInfo("Asia/Taipei")
# NOW is 10:00 on Monday 30 November 2026 in Taipei.
AT_WORK = {
    "channels": ["call", "sms", "email", "letter"],
    "days_1": "weekdays",
    "from_1": "09:00",
    "until_1": "18:00",
}


def borrower(app, **changes):
    built = build_case(app, **changes)
    client = app.test_client()
    sign_in(client, built)
    return built, client


def counts(app):
    with app.app_context():
        session = db.session()
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (OptOut, QuietHours, CaseEvent, Callback, ContactAttempt)
        )


def events(app, case_id, kind):
    with app.app_context():
        return list(
            db.session().scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
            )
        )


def opted(app, borrower_id):
    with app.app_context():
        return {
            (row.channel, row.source)
            for row in db.session().scalars(
                select(OptOut).where(OptOut.borrower_id == borrower_id, OptOut.lifted_at.is_(None))
            )
        }


# How we contact you -----------------------------------------------------------------


def test_the_status_page_leads_to_both_pages(app):
    _built, client = borrower(app)
    page = client.get("/status?lang=en").get_data(as_text=True)
    assert 'href="/contact"' in page
    assert 'href="/callback"' in page


def test_email_only_and_not_at_work_are_kept_as_opt_outs_and_quiet_hours(app):
    built, client = borrower(app)
    page = client.get("/contact?lang=en").get_data(as_text=True)
    assert "from 07:00 to 22:00" in page  # Taiwan's hours, the borrower's own clock
    assert page.count('checked name="channels"') + page.count('name="channels" checked') == 4 or (
        len(re.findall(r"<input[^>]*checked[^>]*>", page)) == 4
    )
    sent = client.post("/contact", data={**AT_WORK, "channels": ["email"]}, follow_redirects=False)
    assert sent.status_code == 303
    assert opted(app, built.borrower_id) == {
        ("call", "borrower_portal"),
        ("sms", "borrower_portal"),
        ("letter", "borrower_portal"),
    }
    with app.app_context():
        (row,) = db.session().scalars(select(QuietHours)).all()
        assert (row.days, row.start_minute, row.end_minute) == (0b11111, 540, 1080)
    (event,) = events(app, built.case_id, "contact_preferences_set")
    assert event.actor == "borrower"
    assert event.data["after"] == {
        "channels": ["email"],
        "quiet": [{"days": [0, 1, 2, 3, 4], "from": "09:00", "until": "18:00"}],
    }
    # The page shows what was chosen; saving it again changes nothing.
    again = client.get("/contact?saved=1&lang=en").get_data(as_text=True)
    assert "Saved." in again
    assert '<option selected value="weekdays">' in again or 'value="weekdays" selected' in again
    before = counts(app)
    assert client.post("/contact", data={**AT_WORK, "channels": ["email"]}).status_code == 303
    assert counts(app) == before


def test_turning_a_channel_back_on_lifts_any_opt_out_of_it(app):
    built, client = borrower(app)
    with app.app_context():
        session = db.session()
        session.add(OptOut(borrower_id=built.borrower_id, channel="sms", at=NOW, source="link"))
        session.commit()
    assert client.post("/contact", data={"channels": ["sms", "call"]}).status_code == 303
    assert opted(app, built.borrower_id) == {
        ("email", "borrower_portal"),
        ("letter", "borrower_portal"),
    }
    (event,) = events(app, built.case_id, "contact_preferences_set")
    assert event.data["before"]["channels"] == ["call", "email", "letter"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"channels": []}, "Keep at least one way"),
        ({**AT_WORK, "channels": ["fax"]}, "Choose from the list."),
        ({**AT_WORK, "days_1": "someday"}, "Choose from the list."),
        ({**AT_WORK, "from_1": "09:15"}, "Choose from the list."),
        ({**AT_WORK, "until_1": "25:00"}, "Choose from the list."),
        ({**AT_WORK, "from_1": "18:00", "until_1": "09:00"}, "The end must be later"),
        ({**AT_WORK, "from_1": "09:00", "until_1": "09:00"}, "The end must be later"),
        (
            {**AT_WORK, "days_1": "every_day", "from_1": "00:00", "until_1": "24:00"},
            "These times leave no time at all",
        ),
        (
            {
                **AT_WORK,
                "days_1": "every_day",
                "from_1": "00:00",
                "until_1": "12:00",
                "days_2": "every_day",
                "from_2": "12:00",
                "until_2": "24:00",
            },
            "These times leave no time at all",
        ),
    ],
)
def test_a_choice_that_cannot_be_kept_is_refused_and_nothing_changes(app, data, says):
    _built, client = borrower(app)
    before = counts(app)
    response = client.post("/contact?lang=en", data=data)
    assert response.status_code == 422
    assert says in response.get_data(as_text=True)
    assert counts(app) == before


def test_letters_only_may_close_every_hour(app):
    # With calls, SMS and email all off, the times bind nothing: kept as chosen.
    built, client = borrower(app)
    data = {"channels": ["letter"], "days_1": "every_day", "from_1": "00:00", "until_1": "24:00"}
    assert client.post("/contact", data=data).status_code == 303
    assert len(opted(app, built.borrower_id)) == 3


def test_another_borrowers_session_cannot_reach_these_pages(app):
    assert app.test_client().get("/contact").status_code in (302, 303, 401)
    assert app.test_client().post("/contact", data=AT_WORK).status_code in (302, 303, 400, 401)
    assert app.test_client().get("/callback").status_code in (302, 303, 401)


# The gate honours it everywhere ------------------------------------------------------


def at_work(app, **changes):
    built, client = borrower(app, **changes)
    assert client.post("/contact", data=AT_WORK).status_code == 303
    return built, client


def test_contact_check_refuses_at_work_and_names_six_in_the_evening(app):
    built, _client = at_work(app)
    number = loan_number(app, built)
    result = check(app, "--loan", number, "--channel", "call", "--at", "2026-11-30T10:00+08:00")
    assert result.exit_code == 1
    found = answer(result)
    assert found["reasons"] == ["borrower_hours"]
    assert found["allowed_from"] == "2026-11-30T18:00:00+08:00"
    # Saturday is not a workday: allowed.
    weekend = check(app, "--loan", number, "--channel", "sms", "--at", "2026-12-05T10:00+08:00")
    assert answer(weekend)["allowed"] is True
    # Letters come with the post.
    letter = check(app, "--loan", number, "--channel", "letter", "--at", "2026-11-30T10:00+08:00")
    assert answer(letter)["allowed"] is True


def test_the_console_agrees_and_a_call_cannot_be_logged(app):
    built, _client = at_work(app)
    console = agent(app)
    move_clock(app, console, NOW)
    page = text_of(console.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "Do not call the borrower now." in page
    assert "The borrower asked not to be contacted at this time." in page
    assert "Nov 30, 2026, 6:00:00\u202fPM (Taipei)" in page
    refused = reached(console, built.case_id)
    assert refused.status_code == 422
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(ContactAttempt)) == 0
    move_clock(app, console, datetime(2026, 11, 30, 18, 0, tzinfo=TAIPEI).astimezone(UTC))
    page = text_of(console.get(f"/agent/cases/{built.case_id}/calls/check?lang=en"))
    assert "You may call the borrower now." in page


def test_single_and_bulk_messages_wait_for_the_end_of_the_working_day(app):
    built, _client = at_work(app)
    with app.app_context():
        session = db.session()
        session.execute(
            update(Borrower).where(Borrower.id == built.borrower_id).values(email="b@example.com")
        )
        session.commit()
        [planned] = plan_chunk(session, [built.case_id], Channel.EMAIL, NOW)
        assert planned.send_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # 18:00 Taipei
        assert planned.reasons == ("borrower_hours",)
        case = session.get_one(Case, built.case_id)
        result = send_message(session, case, Channel.EMAIL, actor="system", moment=NOW)
        assert result.outcome is Outcome.REFUSED
        assert "borrower_hours" in [reason.value for reason in result.decision.reasons]


def test_every_layer_together_gives_the_first_moment_all_allow(app):
    # Quiet every morning until noon; Christmas Day is Taiwan's Constitution Day (calls
    # and SMS stop); 22:30 on the 24th is after Taiwan's hours. The first moment all
    # allow is noon on the 26th.
    built, client = borrower(app)
    data = {"channels": ["call", "sms", "email", "letter"], "days_1": "every_day"}
    assert (
        client.post("/contact", data={**data, "from_1": "07:00", "until_1": "12:00"}).status_code
        == 303
    )
    number = loan_number(app, built)
    result = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-24T22:30+08:00")
    found = answer(result)
    assert found["reasons"] == ["quiet_hours"]
    assert found["allowed_from"] == "2026-12-26T12:00:00+08:00"
    email = check(app, "--loan", number, "--channel", "email", "--at", "2026-12-25T13:00+08:00")
    assert answer(email)["allowed"] is True  # a holiday stops calls and SMS only


@pytest.mark.parametrize(
    ("timezone", "address", "holiday"),
    [
        ("Asia/Taipei", None, "2026-10-09T10:00"),  # National Day, observed
        ("Asia/Shanghai", None, "2026-10-06T10:00"),  # National Day week
        ("Asia/Hong_Kong", None, "2026-04-07T10:00"),  # Ching Ming, substituted
        ("America/New_York", "1 Main St\nAlbany, NY 12207", "2026-11-26T10:00"),  # Thanksgiving
    ],
)
def test_public_holidays_stop_calls_and_sms_where_the_borrower_lives(
    app, timezone, address, holiday
):
    built = build_case(app, timezone=timezone)
    notice_sent(app, built.case_id)  # the US validation notice: not what this is about
    if address:
        with app.app_context():
            session = db.session()
            session.execute(
                update(Borrower)
                .where(Borrower.id == built.borrower_id)
                .values(postal_address=address, jurisdiction="US-NY")
            )
            session.commit()
    number = loan_number(app, built)
    for channel in ("call", "sms"):
        found = answer(check(app, "--loan", number, "--channel", channel, "--at", holiday))
        assert found["reasons"] == ["holiday_blackout"], (channel, found)
        assert found["allowed_from"] is not None
        assert found["allowed_from"][:10] > holiday[:10]
    for channel in ("email", "letter"):
        found = answer(check(app, "--loan", number, "--channel", channel, "--at", holiday))
        assert found["allowed"] is True, (channel, found)


def test_another_jurisdictions_holiday_does_not_stop_calls(app):
    # Thanksgiving is no holiday in Taipei, though the lender's rules are Taiwan's.
    number = loan_number(app, build_case(app))
    found = answer(check(app, "--loan", number, "--channel", "call", "--at", "2026-11-26T10:00"))
    assert found["allowed"] is True


# Ask us to call you ------------------------------------------------------------------


def slot_values(page):
    return re.findall(r'<option[^>]*value="(\d{4}-\d\d-\d\dT\d\d:\d\dZ)"', page)


def test_the_times_offered_are_those_the_gate_allows(app):
    built, client = at_work(app)
    page = client.get("/callback?lang=en").get_data(as_text=True)
    values = slot_values(page)
    assert values, page
    moments = [datetime.fromisoformat(value.replace("Z", "+00:00")) for value in values]
    assert min(moments) >= NOW + timedelta(minutes=30)
    assert max(moments) <= NOW + timedelta(days=7)
    for moment in moments:
        local = moment.astimezone(TAIPEI)
        assert 7 <= local.hour < 22
        if local.weekday() < 5:
            assert not 9 <= local.hour < 18, local
    # The first is 18:00 today; the whole of 25 December (a holiday) is left out... it is
    # beyond 7 days, so check the weekend instead: Saturday morning is offered.
    assert moments[0] == datetime(2026, 11, 30, 18, 0, tzinfo=TAIPEI)
    assert datetime(2026, 12, 5, 10, 0, tzinfo=TAIPEI) in moments
    with app.app_context():
        case = db.session().get_one(Case, built.case_id)
        assert len(callback_slots(db.session(), case, NOW).slots) == len(moments)


def test_asking_for_a_call_makes_a_borrower_callback_that_counts_for_no_cap(app):
    built, client = borrower(app)
    number = loan_number(app, built)
    before = answer(check(app, "--loan", number, "--channel", "call", "--at", "2026-11-30T15:00"))
    value = slot_values(client.get("/callback").get_data(as_text=True))[4]
    sent = client.post("/callback", data={"slot": value})
    assert sent.status_code == 303
    with app.app_context():
        (callback,) = db.session().scalars(select(Callback)).all()
        assert callback.source == "borrower"
        assert callback.requested_by == "borrower"
        assert callback.status == "open"
        assert callback.due_at == datetime.fromisoformat(value.replace("Z", "+00:00"))
    (event,) = events(app, built.case_id, "callback_requested")
    assert event.actor == "borrower"
    after = answer(check(app, "--loan", number, "--channel", "call", "--at", "2026-11-30T15:00"))
    assert after == before
    page = client.get("/status?lang=en").get_data(as_text=True)
    assert "You asked us to call you at" in page
    # Cancel it.
    assert client.post("/callback/cancel").status_code == 303
    with app.app_context():
        assert db.session().scalars(select(Callback.status)).all() == ["canceled"]
    assert "You asked us to call you at" not in client.get("/status?lang=en").get_data(as_text=True)
    assert len(events(app, built.case_id, "callback_canceled")) == 1


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-30T02:30Z",  # too soon (now is 02:00)
        "2026-11-30T03:00Z",  # 11:00 Taipei, at work
        "2026-11-30T14:30Z",  # 22:30 Taipei, after hours
        "2026-11-30T10:10Z",  # not a half hour
        "2026-12-25T02:00Z",  # beyond 7 days
        "tomorrow",
        "",
        "9" * 400,
    ],
)
def test_a_time_not_offered_is_refused_and_nothing_is_kept(app, value):
    _built, client = at_work(app)
    before = counts(app)
    response = client.post("/callback?lang=en", data={"slot": value})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "That time is no longer open" in text or "Choose a time." in text
    assert counts(app) == before


def test_a_hold_placed_after_the_list_was_shown_refuses_the_time(app):
    built, client = borrower(app)
    value = slot_values(client.get("/callback").get_data(as_text=True))[0]
    with app.app_context():
        session = db.session()
        session.execute(update(Case).where(Case.id == built.case_id).values(hold="hardship"))
        session.commit()
    response = client.post("/callback?lang=en", data={"slot": value})
    assert response.status_code == 422
    assert "Your case is on hold" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Callback)) == 0


def test_with_calls_turned_off_the_page_says_why_and_what_instead(app):
    _built, client = borrower(app)
    assert client.post("/contact", data={"channels": ["email"]}).status_code == 303
    page = client.get("/callback?lang=en").get_data(as_text=True)
    assert "You asked us not to call you." in page
    assert 'href="/contact"' in page
    assert not slot_values(page)


def test_an_agents_own_callback_is_not_the_borrowers_to_cancel(app):
    built, client = borrower(app)
    with app.app_context():
        session = db.session()
        session.add(
            Callback(
                case_id=built.case_id,
                due_at=NOW + timedelta(hours=6),
                source="agent",
                requested_by="agent@example.com",
                requested_at=NOW,
            )
        )
        session.commit()
    assert "You asked us to call you" not in client.get("/status?lang=en").get_data(as_text=True)
    assert client.post("/callback/cancel").status_code == 303
    with app.app_context():
        assert db.session().scalars(select(Callback.status)).all() == ["open"]


@pytest.mark.parametrize("lang", ["zh_Hant_TW", "zh_Hans_CN", "en"])
def test_the_pages_speak_each_language(app, lang):
    _built, client = borrower(app)
    for path in ("/contact", "/callback"):
        response = client.get(f"{path}?lang={lang}")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        if lang != "en":
            assert "How we contact you" not in page
            assert "Ask us to call you" not in page
