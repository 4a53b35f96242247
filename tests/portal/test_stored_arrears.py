"""The queue's stored overdue amount (``portal.cases.arrears``) is the amount counted the old
way (``portal.cases.queue.arrears_of``, summed from the installments and charges) after
every path that changes what is owed, and the phone digits follow every write of the
phone. (Every test's app also ends with ``arrears.check``: see conftest.py.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from negotiation import add_months
from portal.cases import arrears, lifecycle
from portal.cases.adjustments import Request
from portal.cases.facts import policy
from portal.cases.queue import QueueFilter, arrears_of, page_of
from portal.core import db
from portal.models import (
    AdjustmentKind,
    Borrower,
    Case,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
)
from portal.payments.events import Outcome

from .factories import NOW, TODAY, build_case, sign_in
from .test_hold_adjustments import disputed, items, propose, sign_off, staff_ids
from .test_money_paths import accept_first, pay_due, take_back


def counted(app, case_id: int, moment=NOW) -> tuple[int, bool, int]:
    """The case's stored amount, whether it holds at ``moment``, and the amount counted
    the old way at ``moment``."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        stored = session.scalar(select(arrears.STORED.arrears).where(Case.id == case_id))
        holds = session.scalar(select(arrears.holds_everywhere(moment)).where(Case.id == case_id))
        old = arrears_of(moment, [case.loan_id])
        query = old.joined(select(old.amount).select_from(Loan)).where(Loan.id == case.loan_id)
        reference = session.scalar(query)
        return stored, bool(holds), int(reference)


def assert_current(app, case_id: int, moment=NOW) -> int:
    """The stored amount was counted by the path just run: it holds today and is the old
    count. Returns it."""
    stored, holds, reference = counted(app, case_id, moment)
    assert holds, "the stored amount was not counted for today"
    assert stored == reference
    return stored


def test_a_case_written_through_the_orm_is_counted_in_its_flush(app):
    built = build_case(app, days_past_due=47, paid=4)
    # Two installments overdue (47 and 17 days), a fee and a penalty.
    assert assert_current(app, built.case_id) == 2 * 550_000 + 30_000 + 15_000


def _held_loan(session, case_id: int) -> Loan:
    """The case's loan loaded whole, as the webhook holds it (``arrears.held``)."""
    case = session.get(Case, case_id, with_for_update=True)
    loan = session.scalars(
        select(Loan)
        .where(Loan.id == case.loan_id)
        .options(
            selectinload(Loan.borrower),
            selectinload(Loan.installments),
            selectinload(Loan.charges),
        )
    ).one()
    arrears.held(session, loan)
    return loan


def test_a_held_loan_is_counted_from_what_it_holds(app):
    built = build_case(app, days_past_due=47, paid=4)
    before = assert_current(app, built.case_id)
    with app.test_request_context("/"):
        session = db.session()
        loan = _held_loan(session, built.case_id)
        owed = min((i for i in loan.installments if i.unpaid), key=lambda i: i.due_date)
        owed.principal_paid += 1_000
        loan.charges[0].waived += 500
        session.commit()
    assert assert_current(app, built.case_id) == before - 1_500


def test_a_write_the_held_loan_does_not_hold_is_counted_in_sql(app):
    built = build_case(app, days_past_due=47, paid=4)
    before = assert_current(app, built.case_id)
    with app.test_request_context("/"):
        session = db.session()
        loan = _held_loan(session, built.case_id)
        # Added by its loan's id, not to the loan's charges: the loan no longer holds
        # everything it owes, so its flush counts it from the tables.
        session.add(
            LoanCharge(
                loan_id=loan.id,
                kind="fee",
                description="Late fee",
                amount=7_000,
                charged_on=TODAY,
            )
        )
        session.commit()
    assert assert_current(app, built.case_id) == before + 7_000


def test_payments_refunds_and_disputes_keep_it_current(app, client):
    built = build_case(app, days_past_due=120, locale="en")
    sign_in(client, built)
    before = assert_current(app, built.case_id)
    checkout = client.post("/pay", data={"purpose": "partial", "amount": "1000"}).location
    client.post(checkout, data={"outcome": "succeed"})
    assert assert_current(app, built.case_id) == before - 100_000
    accept_first(client, "settlement")
    pay_due(client)
    assert assert_current(app, built.case_id) == 0
    with app.app_context():
        payment = db.session().scalars(select(Payment).order_by(Payment.id.desc())).first()
    take_back(app, payment.id, Outcome.REFUNDED, payment.amount, "evt_refund_all")
    assert assert_current(app, built.case_id) == before - 100_000
    take_back(app, payment.id, Outcome.DISPUTED, 0, "evt_dispute_won")
    assert_current(app, built.case_id)


def test_a_signed_off_waiver_keeps_it_current(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    [penalty, _fee], [first, *_] = items(app, built.case_id)
    before = assert_current(app, built.case_id)
    propose(
        app,
        built.case_id,
        agent,
        [
            Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 5_000),
            Request(AdjustmentKind.REDUCE_INSTALLMENT, first.id, 60_000),
        ],
    )
    assert assert_current(app, built.case_id) == before  # proposed: nothing moved
    sign_off(app, built.case_id, boss)
    assert assert_current(app, built.case_id) == before - 65_000


def test_the_daily_work_counts_the_days_installments_and_penalties(app):
    built = build_case(app, days_past_due=20, paid=4)
    engine = app.extensions["haohuan.engine"]
    before = assert_current(app, built.case_id)
    # The first missed installment's monthly anniversary: the day's work charges a
    # penalty and counts it the same day (the next installment falls due that day).
    anniversary = add_months(TODAY - timedelta(days=20), 1)
    on = NOW + (anniversary - TODAY)
    with app.test_request_context("/"):
        work = lifecycle.work_day(engine, policy(), anniversary, on)
    assert work.penalties == 1
    charged = assert_current(app, built.case_id, on)
    assert charged > before
    # Two days on, that installment is overdue: the stored amount no longer holds, and
    # the queue counts the amount from the installments until the day's work.
    later = on + timedelta(days=2)
    stored, holds, reference = counted(app, built.case_id, later)
    assert (stored, holds, reference) == (charged, False, charged + 550_000)
    with app.test_request_context("/"):
        session = db.session()
        assert arrears.check(session, later) == []
        shown = page_of(session, QueueFilter(dpd_band="all", sort="balance"), later)
        assert [row.arrears for row in shown.rows] == [reference]
        chosen = QueueFilter(dpd_band="all", currency="TWD", balance_min=reference // 100)
        assert page_of(session, chosen, later).total == 1
        lifecycle.work_day(engine, policy(), anniversary + timedelta(days=2), later)
    assert assert_current(app, built.case_id, later) == reference


def test_rows_written_in_sql_are_counted_exactly_until_refreshed(app):
    built = build_case(app, days_past_due=47, paid=4)
    with app.test_request_context("/"):
        session = db.session()
        loan_id = session.get(Case, built.case_id).loan_id
        # Installments paid in bulk SQL: the stored amount is stale until refreshed...
        session.execute(
            update(LoanInstallment)
            .where(LoanInstallment.loan_id == loan_id)
            .values(principal_paid=LoanInstallment.principal_due)
        )
        assert arrears.check(session, NOW) != []
        # ...which is what a bulk writer must do in the same transaction.
        arrears.refresh(session, [loan_id])
        assert arrears.check(session, NOW) == []
        session.commit()
    assert assert_current(app, built.case_id) == 2 * 50_000 + 30_000 + 15_000


def test_a_case_inserted_in_sql_is_found_by_amount_before_any_refresh(app):
    built = build_case(app, days_past_due=47, paid=4)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        session.execute(
            update(Case.__table__)
            .where(Case.id == case.id)
            .values(arrears=0, arrears_after=None, arrears_until=arrears.NEVER)
        )
        assert arrears.check(session, NOW) == []
        found = page_of(
            session, QueueFilter(dpd_band="all", currency="TWD", balance_min=11_000), NOW
        )
        assert [row.case_id for row in found.rows] == [case.id]
        assert arrears.stale_count(session, NOW) == 1
        assert arrears.refresh_stale(session.connection(), NOW) == 1
        assert arrears.stale_count(session, NOW) == 0
        session.commit()
    assert_current(app, built.case_id)


def test_the_phone_digits_follow_every_write_of_the_phone(app):
    built = build_case(app)
    digits = select(Borrower.__table__.c.phone_digits).where(Borrower.id == built.borrower_id)
    with app.test_request_context("/"):
        session = db.session()
        assert session.scalar(digits) == "886912345678"
        session.get(Borrower, built.borrower_id).phone = "+852 (9123) 45.67/8"
        session.commit()
        assert session.scalar(digits) == "852912345678"
        session.execute(
            update(Borrower).where(Borrower.id == built.borrower_id).values(phone="0912-000-111")
        )
        session.commit()
        assert session.scalar(digits) == "0912000111"
        found = page_of(session, QueueFilter(dpd_band="all", search="0111"), NOW)
        assert [row.case_id for row in found.rows] == [built.case_id]


def test_the_arrears_check_command_finds_and_fixes_a_stale_amount(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli

    built = build_case(app)
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    agreed = runner.invoke(cli, ["cases", "arrears-check"], obj=info)
    assert (agreed.exit_code, agreed.output) == (
        0,
        "every stored overdue amount is the counted one\n",
    )
    with app.app_context():
        cases = Case.__table__
        db.session().execute(update(cases).values(arrears=cases.c.arrears + 1))
        db.session().commit()
    drifted = runner.invoke(cli, ["cases", "arrears-check"], obj=info)
    assert drifted.exit_code == 1
    assert f"case {built.case_id}: stored" in drifted.output
    fixed = runner.invoke(cli, ["cases", "arrears-check", "--fix"], obj=info)
    assert (fixed.exit_code, fixed.output.splitlines()[-1]) == (0, "counted 1 cases again")
    assert runner.invoke(cli, ["cases", "arrears-check"], obj=info).exit_code == 0
