"""Closing a month's books: refused while an exception of the month is open or runs do
not cover it, allowed once each is worked to an end; a closed month refuses runs and
changes to its exceptions; only an admin reopens it, with a reason; each audited. The
close page in three languages, and the command."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from portal.cli import cli
from portal.core import db
from portal.finance import closing
from portal.finance import exceptions as work
from portal.finance import reconcile as reconciliation
from portal.finance.closing import CloseError, CloseRefusal, PeriodClosedError
from portal.finance.exceptions import ExceptionError, Refusal
from portal.models import AuditEntry, ReconciliationException, StaffMember

from .exception_books import AFTER, MONTH, SINCE, TAIPEI, UNTIL, month_of_books, run_month
from .factories import add_staff, staff_sign_in

LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")
MEI, LI, BOSS = "mei@haohuan.example", "li@haohuan.example", "boss@haohuan.example"


@pytest.fixture
def extra_config():
    return {"FINANCE_APPROVAL_ABOVE": "TWD=100000"}  # no second person needed here


@pytest.fixture
def books(app):
    add_staff(app, MEI)
    add_staff(app, LI)
    add_staff(app, BOSS, roles=("admin",))
    return month_of_books(app)


def member(email):
    return db.session().scalars(select(StaffMember).where(StaffMember.email == email)).one()


def work_every_exception_off(app):
    with app.app_context():
        session = db.session()
        for found in session.scalars(select(ReconciliationException)).all():
            if found.status in ("resolved", "written_off"):
                continue
            work.write_off(session, found, member(MEI), "Checked with the bank", AFTER)


def actions(app, prefix="finance.month"):
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.action.startswith(prefix))
        return [
            (e.actor, e.action, e.details)
            for e in db.session().scalars(query.order_by(AuditEntry.id))
        ]


def test_months_and_their_bounds():
    assert closing.parse_month(" 2026-11 ") == "2026-11"
    assert closing.parse_month("2026-13") is None
    assert closing.parse_month("26-11") is None
    assert closing.next_month("2026-12") == "2027-01"
    start, end = closing.month_bounds("2026-11", TAIPEI)
    assert (start, end) == (SINCE, UNTIL)
    assert closing.months_touched(SINCE, UNTIL, TAIPEI) == ["2026-11"]
    late = datetime(2026, 12, 5, tzinfo=UTC)
    assert closing.months_touched(SINCE, late, TAIPEI) == ["2026-11", "2026-12"]


def test_a_month_closes_only_once_its_exceptions_are_worked_and_runs_cover_it(app, books):
    with app.app_context():
        with pytest.raises(CloseError) as refused:
            closing.close(db.session(), MONTH, member(MEI), AFTER)
        assert refused.value.reason is CloseRefusal.NOT_COVERED
    run_month(app, books)
    with app.app_context():
        state = closing.state(db.session(), MONTH, AFTER)
        assert (len(state.blocking), state.covered, state.can_close) == (4, True, False)
        with pytest.raises(CloseError) as refused:
            closing.close(db.session(), MONTH, member(MEI), AFTER)
        assert refused.value.reason is CloseRefusal.OPEN_EXCEPTIONS
        with pytest.raises(CloseError) as refused:
            closing.close(db.session(), MONTH, member(MEI), SINCE)  # not over yet
        assert refused.value.reason is CloseRefusal.NOT_OVER
    work_every_exception_off(app)
    with app.app_context():
        closing.close(db.session(), MONTH, member(MEI), AFTER)
        assert closing.closed(db.session(), MONTH) is not None
        with pytest.raises(CloseError) as refused:
            closing.close(db.session(), MONTH, member(MEI), AFTER)
        assert refused.value.reason is CloseRefusal.ALREADY_CLOSED
    assert actions(app) == [(MEI, "finance.month.close", {"month": MONTH})]


def test_a_closed_month_refuses_runs_and_changes_to_its_exceptions(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = session.scalars(select(ReconciliationException)).first()
        work.write_off(session, found, member(MEI), "done", AFTER)
    work_every_exception_off(app)
    with app.app_context():
        closing.close(db.session(), MONTH, member(MEI), AFTER)
    with pytest.raises(PeriodClosedError):
        run_month(app, books)
    with app.app_context():
        session = db.session()
        found = session.scalars(select(ReconciliationException)).first()
        # Pretend it was still open: the month's lock holds whatever its status.
        found.status = "open"
        with pytest.raises(ExceptionError) as refused:
            work.add_note(session, found, member(MEI), "late", AFTER)
        assert refused.value.reason is Refusal.PERIOD_CLOSED
        session.rollback()


def test_only_an_admin_reopens_a_month_and_only_with_a_reason(app, books):
    run_month(app, books)
    work_every_exception_off(app)
    with app.app_context():
        session = db.session()
        closing.close(session, MONTH, member(MEI), AFTER)
        with pytest.raises(CloseError) as refused:
            closing.reopen(session, MONTH, member(MEI), "a late refund", AFTER)
        assert refused.value.reason is CloseRefusal.NOT_ADMIN
        with pytest.raises(CloseError) as refused:
            closing.reopen(session, MONTH, member(BOSS), "   ", AFTER)
        assert refused.value.reason is CloseRefusal.NO_REASON
        closing.reopen(session, MONTH, member(BOSS), "a late refund", AFTER)
        assert closing.closed(session, MONTH) is None
        with pytest.raises(CloseError) as refused:
            closing.reopen(session, MONTH, member(BOSS), "again", AFTER)
        assert refused.value.reason is CloseRefusal.NOT_CLOSED
    run_month(app, books)  # open again: runs are allowed
    assert actions(app) == [
        (MEI, "finance.month.close", {"month": MONTH}),
        (BOSS, "finance.month.reopen", {"month": MONTH, "reason": "a late refund"}),
    ]


def test_a_run_over_a_closed_month_from_the_reader_is_refused_before_reading(app, books):
    run_month(app, books)
    work_every_exception_off(app)
    with app.app_context():
        closing.close(db.session(), MONTH, member(MEI), AFTER)

    class Unread:
        def balance_lines(self, since, until):
            raise AssertionError("a closed month's Stripe is never read")

    with app.app_context(), pytest.raises(PeriodClosedError):
        reconciliation.reconcile_with(db.session(), Unread(), SINCE, UNTIL, "test", AFTER)


# The page and the command -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_close_page_says_what_blocks_the_close(app, client, books, lang):
    app.config["HAOHUAN_NOW"] = AFTER.isoformat()  # the month is over
    staff_sign_in(client, email=MEI)
    run_month(app, books)
    html = client.get(f"/finance/close?month={MONTH}&lang={lang}").get_data(as_text=True)
    assert re.search(r'href="/finance/exceptions/\d+"', html)
    if lang == "en":
        assert "4 exceptions of this month are still open" in html
    refused = client.post(f"/finance/close?lang={lang}", data={"month": MONTH})
    assert refused.status_code == 409
    if lang == "en":
        assert "Exceptions of this month are still open." in refused.get_data(as_text=True)


def test_closing_and_reopening_from_the_page(app, client, books):
    run_month(app, books)
    work_every_exception_off(app)
    app.config["HAOHUAN_NOW"] = AFTER.isoformat()  # the month is over
    staff_sign_in(client, email=MEI)
    closed = client.post("/finance/close", data={"month": MONTH})
    assert closed.status_code == 303
    page = client.get(f"/finance/close?month={MONTH}&lang=en").get_data(as_text=True)
    assert "closed" in page
    assert (
        client.post("/finance/close/reopen", data={"month": MONTH, "reason": "x"}).status_code
        == 403
    )
    assert client.post("/finance/close", data={"month": "2026-13"}).status_code == 422
    client.post("/staff/sign-out")
    staff_sign_in(client, email=BOSS)
    empty = client.post("/finance/close/reopen?lang=en", data={"month": MONTH, "reason": ""})
    assert empty.status_code == 422
    reopened = client.post("/finance/close/reopen", data={"month": MONTH, "reason": "late refund"})
    assert reopened.status_code == 303
    with app.app_context():
        assert closing.closed(db.session(), MONTH) is None


def test_the_close_command(app, books):
    run_month(app, books)
    app.config["HAOHUAN_NOW"] = AFTER.isoformat()
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    refused = runner.invoke(cli, ["finance", "close", "--month", MONTH], obj=info)
    assert refused.exit_code == 1
    assert "open" in refused.output
    listed = runner.invoke(cli, ["finance", "exceptions"], obj=info)
    assert listed.exit_code == 0
    assert "missing_here" in listed.output
    work_every_exception_off(app)
    done = runner.invoke(cli, ["finance", "close", "--month", MONTH], obj=info)
    assert done.exit_code == 0, done.output
    assert actions(app)[-1][:2] == ("cli", "finance.month.close")


def test_a_run_over_a_closed_month_from_the_page_is_refused_in_words(app, client, books):
    run_month(app, books)
    work_every_exception_off(app)
    with app.app_context():
        closing.close(db.session(), MONTH, member(MEI), AFTER)
    staff_sign_in(client, email=MEI)
    refused = client.post(
        "/finance/reconciliations?lang=en", data={"since": "2026-11-20", "until": "2026-11-21"}
    )
    assert refused.status_code == 409
    assert "The month 2026-11 is closed" in refused.get_data(as_text=True)


def test_the_close_page_links_to_a_run_of_its_month(app, client, books):
    staff_sign_in(client, email=MEI)
    html = client.get(f"/finance/close?month={MONTH}&lang=en").get_data(as_text=True)
    link = "/finance/reconciliations?since=2026-11-01&amp;until=2026-11-30"
    assert link in html
    form = client.get(link.replace("&amp;", "&") + "&lang=en").get_data(as_text=True)
    assert 'value="2026-11-01"' in form
    assert 'value="2026-11-30"' in form
