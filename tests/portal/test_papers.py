"""Papers the borrower keeps: receipts, plan agreements and statements read back from the
PDF in each language with the ledger's amounts, the plan's dates as a calendar file on
the borrower's own days, and nothing of another borrower's."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import icalendar
import pypdf
import pytest
from flask_babel import force_locale, ngettext
from sqlalchemy import select

from portal.cases.facts import snapshot_of, view_case
from portal.core import db
from portal.core.i18n import lender, long_date, money, zoned_time
from portal.letters.papers import loan_statement, payment_allocations
from portal.models import Case, Payment, Plan

from .factories import TODAY, build_case, sign_in
from .test_i18n import SIMPLIFIED_ONLY, TRADITIONAL_ONLY
from .test_money_paths import accept_first, pay_due

PUBLIC = "https://portal.haohuan.example"
BORROWERS = {
    "zh_Hant_TW": ("陳怡君", "TWD", "Asia/Taipei"),
    "zh_Hans_CN": ("王芳", "CNY", "Asia/Shanghai"),
    "en": ("Chan Ka Yan", "HKD", "Asia/Hong_Kong"),
}
# Characters the page's script never writes.
WRONG_SCRIPT = {"zh_Hant_TW": SIMPLIFIED_ONLY, "zh_Hans_CN": TRADITIONAL_ONLY, "en": ""}
TITLES = {
    "zh_Hant_TW": ("付款收據", "還款方案協議", "貸款對帳單"),
    "zh_Hans_CN": ("付款收据", "还款方案协议", "贷款对账单"),
    "en": ("Payment receipt", "Repayment plan agreement", "Statement of your loan"),
}


@pytest.fixture
def extra_config():
    return {"PUBLIC_URL": PUBLIC}


def text_of(pdf: bytes) -> str:
    """The PDF's text, without whitespace (Chinese lines wrap between any two characters)."""
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", "", "\n".join(page.extract_text() for page in pages))


def flat(text: str) -> str:
    return re.sub(r"\s+", "", str(text))


def borrower(app, client, locale="zh_Hant_TW", **kwargs):
    name, currency, zone = BORROWERS[locale]
    settings = {"name": name, "currency": currency, "timezone": zone, **kwargs}
    built = build_case(app, locale=locale, **settings)
    sign_in(client, built)
    return built


def paid_plan(app, client, locale="zh_Hant_TW", **kwargs):
    """A borrower who accepted a plan of the arrears and paid its first installment."""
    built = borrower(app, client, locale, **kwargs)
    accept_first(client, "arrears_plan")
    pay_due(client)
    return built


def only(app, model, **where):
    with app.app_context():
        query = select(model).filter_by(**where)
        return db.session().scalars(query).one()


def assert_script(text: str, locale: str) -> None:
    wrong = set(text) & set(WRONG_SCRIPT[locale])
    assert not wrong, f"{locale}: {sorted(wrong)}"


def download(client, url, kind="application/pdf"):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"].startswith(kind)
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    return response.data


# Receipts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(BORROWERS))
def test_a_receipt_reads_back_with_the_ledgers_allocation(app, client, locale):
    built = paid_plan(app, client, locale)
    payment = only(app, Payment, case_id=built.case_id)
    text = text_of(download(client, f"/papers/receipt/{payment.id}.pdf"))
    assert_script(text, locale)
    with app.test_request_context("/"), force_locale(locale):
        session = db.session()
        case = session.get(Case, built.case_id)
        allocations = payment_allocations(session, session.get(Payment, payment.id))
        assert sum(a.amount for a in allocations) == payment.amount
        currency = case.loan.currency
        assert flat(TITLES[locale][0]) in text
        assert flat(money(payment.amount, currency)) in text
        for allocation in allocations:
            assert flat(money(allocation.amount, currency)) in text
        assert case.loan.number in text
        assert payment.gateway_reference in text
        assert f"P-{payment.id:06d}" in text
        zone = case.loan.borrower.timezone
        assert flat(zoned_time(payment.confirmed_at, zone, seconds=False)) in text
        assert flat(lender(locale).name) in text


def test_the_receipt_is_offered_on_the_payment_result_and_status_pages(app, client):
    built = paid_plan(app, client, "en")
    payment = only(app, Payment, case_id=built.case_id)
    plan = only(app, Plan, case_id=built.case_id)
    result = client.get(f"/pay/result/{payment.id}").get_data(as_text=True)
    assert f'href="/papers/receipt/{payment.id}.pdf"' in result
    assert "Download receipt" in result
    status = client.get("/status").get_data(as_text=True)
    for link in (
        f"/papers/receipt/{payment.id}.pdf",
        f"/papers/plan/{plan.id}/agreement.pdf",
        f"/papers/plan/{plan.id}/calendar.ics",
    ):
        assert f'href="{link}"' in status
    assert 'action="/papers/statement"' in status
    for words in ("Download receipt", "Download plan agreement", "Add to calendar", "Statement"):
        assert words in status


def test_a_payment_not_received_has_no_receipt(app, client):
    built = borrower(app, client, "en")
    accept_first(client, "arrears_plan")
    pay_due(client, "fail")
    payment = only(app, Payment, case_id=built.case_id)
    assert client.get(f"/papers/receipt/{payment.id}.pdf").status_code == 404
    assert "Download receipt" not in client.get(f"/pay/result/{payment.id}").get_data(as_text=True)


def test_papers_follow_the_language_chosen_in_the_session(app, client):
    built = paid_plan(app, client, "zh_Hant_TW")
    payment = only(app, Payment, case_id=built.case_id)
    client.get("/status?lang=zh_Hans_CN")
    text = text_of(download(client, f"/papers/receipt/{payment.id}.pdf"))
    assert flat(TITLES["zh_Hans_CN"][0]) in text
    assert_script(text, "zh_Hans_CN")
    client.get("/status?lang=en")
    assert flat(TITLES["en"][2]) in text_of(download(client, "/papers/statement"))


# Plan agreements ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(BORROWERS))
def test_a_plan_agreement_reads_back_its_schedule_waiver_terms_and_consent(app, client, locale):
    built = borrower(app, client, locale)
    accept_first(client, "arrears_plan")
    plan = only(app, Plan, case_id=built.case_id)
    text = text_of(download(client, f"/papers/plan/{plan.id}/agreement.pdf"))
    assert_script(text, locale)
    with app.test_request_context("/"), force_locale(locale):
        session = db.session()
        plan = session.get(Plan, plan.id)
        currency = plan.currency
        rows = plan.installments
        assert len(rows) > 1
        assert sum(row.amount for row in rows) == plan.total
        assert flat(TITLES[locale][1]) in text
        for row in rows:
            assert flat(long_date(row.due_date)) in text
            assert flat(money(row.amount, currency)) in text
        assert flat(money(plan.total, currency)) in text
        if plan.waived:
            assert flat(money(plan.waived, currency)) in text
        breaking = ngettext(
            "If %(num)d payment is missed, the plan ends.",
            "If %(num)d payments are missed, the plan ends.",
            2,
        )
        assert re.sub(r"\d+", "", flat(breaking)) in re.sub(r"\d+", "", text)
        assert plan.consent.terms_version in text
        assert flat(long_date(plan.consent.at.date())) in text


def test_a_plan_never_accepted_or_of_another_case_has_no_agreement(app, client):
    built = borrower(app, client, "en")
    accept_first(client, "arrears_plan")
    plan = only(app, Plan, case_id=built.case_id)
    assert client.get(f"/papers/plan/{plan.id + 1}/agreement.pdf").status_code == 404
    assert client.get(f"/papers/plan/{plan.id + 1}/calendar.ics").status_code == 404


# The calendar ------------------------------------------------------------------------------


def test_the_calendar_holds_one_all_day_event_per_installment_on_the_borrowers_days(app, client):
    # 02:00 UTC on 30 November is still 29 November in Los Angeles: a date written as a
    # moment in UTC would land a day off.
    built = borrower(app, client, "en", timezone="America/Los_Angeles")
    accept_first(client, "arrears_plan")
    plan = only(app, Plan, case_id=built.case_id)
    data = download(client, f"/papers/plan/{plan.id}/calendar.ics", "text/calendar")
    calendar = icalendar.Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    with app.test_request_context("/"), force_locale("en"):
        session = db.session()
        rows = session.get(Plan, plan.id).installments
        currency = session.get(Plan, plan.id).currency
        assert rows[0].due_date == TODAY - timedelta(days=1)  # the borrower's today
        assert len(events) == len(rows) > 1
        for event, row in zip(events, rows, strict=True):
            start = event.decoded("dtstart")
            assert type(start) is date
            assert start == row.due_date
            assert event.decoded("dtend") == row.due_date + timedelta(days=1)
            assert money(row.amount, currency) in str(event["summary"])
            assert f"{PUBLIC}/pay" in str(event["description"])
            assert "/r/" not in data.decode()
    # The same UIDs on every download, one per installment: a second import updates.
    again = icalendar.Calendar.from_ical(client.get(f"/papers/plan/{plan.id}/calendar.ics").data)
    uids = [str(e["uid"]) for e in events]
    assert uids == [str(e["uid"]) for e in again.walk("VEVENT")]
    assert len(set(uids)) == len(uids)


def test_the_calendar_is_worded_in_the_session_language(app, client):
    built = borrower(app, client, "zh_Hans_CN")
    accept_first(client, "arrears_plan")
    plan = only(app, Plan, case_id=built.case_id)
    data = download(client, f"/papers/plan/{plan.id}/calendar.ics", "text/calendar").decode()
    assert "还款" in data
    assert_script(icalendar.Calendar.from_ical(data).to_ical().decode(), "zh_Hans_CN")


# Statements --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(BORROWERS))
def test_todays_statement_states_what_the_status_page_does(app, client, locale):
    built = paid_plan(app, client, locale)
    text = text_of(download(client, "/papers/statement"))
    assert_script(text, locale)
    with app.test_request_context("/"), force_locale(locale):
        session = db.session()
        case = session.get(Case, built.case_id)
        arrears = view_case(session, case, TODAY).snapshot.arrears
        figures = loan_statement(session, case, TODAY)
        lines = figures.lines
        assert lines["principal"].outstanding == arrears.principal
        assert lines["interest"].outstanding == arrears.interest
        assert lines["fee"].outstanding == arrears.fees
        assert lines["penalty"].outstanding == arrears.penalties
        assert figures.overdue == arrears.total
        snapshot = snapshot_of(session, case, TODAY)
        assert figures.not_yet_due_principal == snapshot.not_yet_due_principal
        currency = case.loan.currency
        assert flat(TITLES[locale][2]) in text
        for amount in (arrears.total, arrears.principal, arrears.penalties, figures.received):
            assert flat(money(amount, currency)) in text
        assert figures.received == only(app, Payment, case_id=built.case_id).amount


def test_a_statement_of_a_day_before_a_payment_winds_the_payment_back(app, client):
    built = borrower(app, client, "en")
    with app.test_request_context("/"):
        session = db.session()
        before = loan_statement(session, session.get(Case, built.case_id), TODAY)
    accept_first(client, "arrears_plan")
    pay_due(client)
    yesterday = TODAY - timedelta(days=1)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        after = loan_statement(session, case, TODAY)
        then = loan_statement(session, case, yesterday)
        paid = only(app, Payment, case_id=built.case_id).amount
        assert after.received == paid
        assert then.received == 0
        # The day before, nothing of the payment had been booked: as owed as before it
        # (yesterday's overdue items are today's, the loan's installments being monthly).
        assert then.overdue == before.overdue
        assert after.overdue < before.overdue
        # What the statement shows paid grew by exactly what the ledger allocated to the
        # items overdue on the day.
        allocations = payment_allocations(session, only(app, Payment, case_id=built.case_id))
        due_before = {i.id for i in case.loan.installments if i.due_date < TODAY}
        to_overdue = sum(
            a.amount
            for a in allocations
            if a.charge_id is not None or a.installment_id in due_before
        )
        grown = sum(line.paid for line in after.lines.values()) - sum(
            line.paid for line in then.lines.values()
        )
        assert grown == to_overdue > 0
    text = text_of(download(client, f"/papers/statement?on={yesterday.isoformat()}"))
    with app.test_request_context("/"), force_locale("en"):
        assert flat(long_date(yesterday)) in text
        assert flat(money(then.overdue, "HKD")) in text


@pytest.mark.parametrize(
    ("asked", "words"),
    [
        ("future", "今天或之前"),
        ("before", "貸款開始"),
        ("2026-13-45", "2026-12-05"),
    ],
)
def test_a_statement_day_out_of_range_is_refused_in_the_borrowers_words(app, client, asked, words):
    built = borrower(app, client, "zh_Hant_TW")
    with app.app_context():
        start = db.session().get(Case, built.case_id).loan.start_date
    day = {
        "future": (TODAY + timedelta(days=1)).isoformat(),
        "before": (start - timedelta(days=1)).isoformat(),
    }.get(asked, asked)
    response = client.get(f"/papers/statement?on={day}")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert words in page
    assert 'action="/papers/statement"' in page
    assert response.headers["Content-Type"].startswith("text/html")


def test_the_statement_on_the_loans_first_day_and_today_are_made(app, client):
    built = borrower(app, client, "en")
    with app.app_context():
        start = db.session().get(Case, built.case_id).loan.start_date
    for day in (start, TODAY):
        assert client.get(f"/papers/statement?on={day.isoformat()}").status_code == 200


# Nothing of another borrower's -------------------------------------------------------------


def test_another_borrowers_papers_are_404_and_say_nothing(app):
    mine, theirs = app.test_client(), app.test_client()
    other = paid_plan(app, theirs, "en", name="Other Person", date_of_birth="1970-01-01")
    payment = only(app, Payment, case_id=other.case_id)
    plan = only(app, Plan, case_id=other.case_id)
    borrower(app, mine, "en")
    for url in (
        f"/papers/receipt/{payment.id}.pdf",
        f"/papers/plan/{plan.id}/agreement.pdf",
        f"/papers/plan/{plan.id}/calendar.ics",
        "/papers/receipt/99999999999999999999.pdf",
        "/papers/plan/0/agreement.pdf",
    ):
        response = mine.get(url)
        assert response.status_code == 404, url
        body = response.get_data(as_text=True)
        assert "Other Person" not in body
        assert str(payment.amount) not in body
    # Their own borrower still gets them.
    assert theirs.get(f"/papers/receipt/{payment.id}.pdf").status_code == 200


def test_papers_need_a_verified_session(app, client):
    other = app.test_client()
    built = paid_plan(app, other, "en")
    payment = only(app, Payment, case_id=built.case_id)
    plan = only(app, Plan, case_id=built.case_id)
    for url in (
        f"/papers/receipt/{payment.id}.pdf",
        f"/papers/plan/{plan.id}/agreement.pdf",
        f"/papers/plan/{plan.id}/calendar.ics",
        "/papers/statement",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/session-ended" in response.location or "ended" in response.location
