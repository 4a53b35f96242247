"""The month-end history and its roll rates, against a small book worked out by hand.

The factories' loans are monthly installments of 550,000 (500,000 principal, 50,000
interest), four paid, plus a fee of 30,000 and a penalty of 15,000 when overdue; the
first unpaid installment falls due ``days_past_due`` days before TODAY (2026-11-30, a
month-end). Each case below says what it is at 2026-10-31 and at 2026-11-30.
"""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select, update

from negotiation.portfolio import Bucket
from portal.cases import arrears
from portal.cases.facts import policy
from portal.cases.lifecycle import work_day
from portal.cli import cli
from portal.core import db
from portal.models import (
    AuditEntry,
    Case,
    CaseMonthEnd,
    CaseStatus,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    PortfolioTransition,
)
from portal.payments import ledger
from portal.reporting import portfolio, snapshots
from portal.reporting.book import as_json as book_json
from portal.reporting.book import book_report
from portal.reporting.portfolio import Slice

from .factories import NOW, build_case

OCTOBER = date(2026, 10, 31)
NOVEMBER = date(2026, 11, 30)
INSTALLMENT = 550_000
CHARGES = 30_000 + 15_000


def write(app, month_end):
    with app.app_context():
        session = db.session()
        written = snapshots.write_month_end(session, month_end)
        session.commit()
        return written


def row(app, month_end, case_id):
    with app.app_context():
        return db.session().get(CaseMonthEnd, (month_end, case_id))


@pytest.fixture
def book(app):
    """Five cases; October's month-end written as they stood, then what happened in
    November, then November's month-end."""
    # A: due 2026-10-14 unpaid. At Oct 31: 17 days (1-30), overdue one installment and
    # the charges, 550,000 + 45,000 = 595,000. At Nov 30: 47 days (31-60), two
    # installments and the charges, 1,145,000. Rolls forward.
    rolled = build_case(app, days_past_due=47).case_id
    # B: first unpaid due 2026-11-20. At Oct 31 nothing had fallen due: current, owing
    # only its charges (45,000). At Nov 30: 10 days (1-30), 595,000. Rolls forward.
    slipped = build_case(app, days_past_due=10).case_id
    # C: as A at Oct 31 (1-30, 595,000), then resolved in November: closed.
    closed = build_case(app, days_past_due=47).case_id
    # D: as A at Oct 31 (1-30, 595,000), then paid up in November: current, 0. Cured.
    cured = build_case(app, days_past_due=47).case_id
    # E: as A but in USD (1-30 at Oct 31, 31-60 at Nov 30).
    dollars = build_case(app, days_past_due=47, currency="USD").case_id
    assert write(app, OCTOBER) == 5
    with app.app_context():
        session = db.session()
        session.execute(update(Case).where(Case.id == closed).values(status=CaseStatus.RESOLVED))
        loan_id = session.get(Case, cured).loan_id
        session.execute(
            update(LoanInstallment)
            .where(LoanInstallment.loan_id == loan_id, LoanInstallment.due_date < NOVEMBER)
            .values(
                principal_paid=LoanInstallment.principal_due,
                interest_paid=LoanInstallment.interest_due,
            )
        )
        session.execute(
            update(LoanCharge).where(LoanCharge.loan_id == loan_id).values(paid=LoanCharge.amount)
        )
        arrears.refresh(session, [loan_id], NOW)  # bulk SQL keeps the stored amount itself
        session.commit()
    assert write(app, NOVEMBER) == 4  # C is resolved: no row
    return {"A": rolled, "B": slipped, "C": closed, "D": cured, "E": dollars}


def test_each_case_at_each_month_end_is_as_worked_out_by_hand(app, book):
    a_october, a_november = row(app, OCTOBER, book["A"]), row(app, NOVEMBER, book["A"])
    assert (a_october.days_past_due, a_october.bucket) == (17, Bucket.D1_30)
    assert a_october.overdue == INSTALLMENT + CHARGES
    assert a_october.overdue_since == date(2026, 10, 14)
    assert (a_november.days_past_due, a_november.bucket) == (47, Bucket.D31_60)
    assert a_november.overdue == 2 * INSTALLMENT + CHARGES
    assert a_november.balance == 8 * INSTALLMENT + CHARGES  # 12 installments, 4 paid
    b_october, b_november = row(app, OCTOBER, book["B"]), row(app, NOVEMBER, book["B"])
    assert (b_october.days_past_due, b_october.bucket, b_october.overdue) == (
        0,
        Bucket.CURRENT,
        CHARGES,
    )
    assert b_october.overdue_since is None
    assert (b_november.days_past_due, b_november.bucket) == (10, Bucket.D1_30)
    assert row(app, NOVEMBER, book["C"]) is None
    d_november = row(app, NOVEMBER, book["D"])
    assert (d_november.days_past_due, d_november.bucket, d_november.overdue) == (
        0,
        Bucket.CURRENT,
        0,
    )
    assert row(app, NOVEMBER, book["E"]).currency == "USD"
    assert a_november.product == "personal"
    assert a_november.market == "TW"
    assert a_november.exact is True


def test_the_transitions_and_rates_of_one_currency(app, book):
    with app.app_context():
        found = portfolio.roll_rates(db.session(), OCTOBER, OCTOBER, Slice(currency="TWD"))
    assert (found.pairs, found.amounts_in) == (1, "TWD")
    matrix = found.matrix
    # From 1-30 (A, C, D at 595,000 each): one each to 31-60, closed and current.
    assert matrix.cell(Bucket.D1_30, Bucket.D31_60).cases == 1
    assert matrix.cell(Bucket.D1_30, Bucket.CLOSED).cases == 1
    assert matrix.cell(Bucket.D1_30, Bucket.CURRENT).cases == 1
    assert matrix.row_total(Bucket.D1_30).amount == 3 * (INSTALLMENT + CHARGES)
    assert matrix.rate(Bucket.D1_30, Bucket.D31_60).cases == Fraction(1, 3)
    # From current (B, owing its 45,000 of charges): to 1-30.
    assert matrix.cell(Bucket.CURRENT, Bucket.D1_30).amount == CHARGES
    assert matrix.roll_forward(Bucket.CURRENT).cases == 1
    assert matrix.roll_forward(Bucket.D1_30).cases == Fraction(1, 3)
    assert matrix.roll_back(Bucket.D1_30).cases == Fraction(1, 3)
    # Cured: D alone of the three overdue; by amount the same third.
    assert matrix.cure_rate.cases == Fraction(1, 3)
    assert matrix.cure_rate.amount == Fraction(1, 3)
    assert matrix.total.cases == 4


def test_across_currencies_counts_only_and_the_slices_narrow(app, book):
    with app.app_context():
        session = db.session()
        whole = portfolio.roll_rates(session, OCTOBER, OCTOBER, Slice())
        dollars = portfolio.roll_rates(session, OCTOBER, OCTOBER, Slice(currency="USD"))
        nothing = portfolio.roll_rates(session, OCTOBER, OCTOBER, Slice(product="mortgage"))
        later = portfolio.roll_rates(session, NOVEMBER, NOVEMBER, Slice())
        choices = portfolio.slice_choices(session)
        ends = portfolio.month_ends(session)
    assert whole.amounts_in is None
    assert whole.matrix.row_total(Bucket.D1_30).cases == 4  # A, C, D and E
    assert whole.matrix.total.amount == 0  # TWD and USD are never added
    assert dollars.matrix.cell(Bucket.D1_30, Bucket.D31_60).cases == 1
    assert dollars.matrix.total.cases == 1
    assert nothing.matrix.total.cases == 0
    assert nothing.matrix.cure_rate.cases is None
    assert later.pairs == 0  # December is not written
    assert later.matrix.total.cases == 0
    assert ends == [OCTOBER]
    assert choices.currencies == ["TWD", "USD"]
    assert choices.products == ["personal"]
    assert choices.stages


def test_writing_a_month_end_again_leaves_the_same_rows(app, book):
    def everything():
        with app.app_context():
            session = db.session()
            cases = session.execute(
                select(CaseMonthEnd.month_end, CaseMonthEnd.case_id, CaseMonthEnd.bucket)
            ).all()
            moves = session.execute(
                select(
                    PortfolioTransition.month_end,
                    PortfolioTransition.from_bucket,
                    PortfolioTransition.to_bucket,
                    PortfolioTransition.currency,
                    PortfolioTransition.cases,
                    PortfolioTransition.amount,
                )
            ).all()
            return sorted(cases), sorted(moves)

    before = everything()
    assert write(app, NOVEMBER) == 4
    assert write(app, OCTOBER) == 4  # C, resolved since, is no longer in the book
    write(app, OCTOBER)
    after = everything()
    # October rewritten now: C's row is gone, so its closing is no longer counted.
    assert len(after[0]) == len(before[0]) - 1
    assert sum(move[4] for move in after[1]) == 4


def test_only_a_months_last_day_is_a_month_end(app):
    with app.app_context(), pytest.raises(ValueError, match="last day"):
        snapshots.write_month_end(db.session(), date(2026, 11, 29))


def test_the_daily_work_writes_the_month_end_on_the_months_last_day(app):
    built = build_case(app, days_past_due=47)
    engine = app.extensions["haohuan.engine"]
    with app.app_context():
        rules = policy()
    before = work_day(engine, rules, date(2026, 11, 29), NOW)
    assert before.month_end_cases == 0
    work = work_day(engine, rules, NOVEMBER, NOW)
    assert work.month_end_cases == 1
    again = work_day(engine, rules, NOVEMBER, NOW)
    assert again.month_end_cases == 1
    assert again.changed == 0
    found = row(app, NOVEMBER, built.case_id)
    assert (found.days_past_due, found.bucket) == (47, Bucket.D31_60)


# The backfill ---------------------------------------------------------------------------


def pay(app, case_id, amount, moment):
    """A payment confirmed at ``moment``, allocated by the ledger as the payment path
    allocates it."""
    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        payment = Payment(
            case_id=case_id,
            purpose="arrears",
            amount=amount,
            currency=case.loan.currency,
            status=PaymentStatus.SUCCEEDED,
            gateway="sandbox",
            created_at=moment,
            confirmed_at=moment,
        )
        session.add(payment)
        session.flush()
        for share in ledger.apply_to_loan(case.loan, amount, moment.date()):
            share.payment_id = payment.id
            session.add(share)
        session.commit()


def test_the_backfill_reads_what_was_owed_then_from_the_ledger(app):
    # A: due 2026-10-14 and 2026-11-14 unpaid; then, on 2026-11-30, 595,000 paid: the
    # charges (45,000) and the installment of 10-14 (550,000).
    owing = build_case(app, days_past_due=47).case_id
    pay(app, owing, INSTALLMENT + CHARGES, NOW)
    # B: resolved now, every installment paid outside the ledger (as the demo's book
    # is): it owed nothing at any month-end, so it is in none.
    settled = build_case(app, days_past_due=0).case_id
    with app.app_context():
        session = db.session()
        case = session.get(Case, settled)
        case.status = CaseStatus.RESOLVED
        for installment in case.loan.installments:
            installment.principal_paid = installment.principal_due
            installment.interest_paid = installment.interest_due
        session.commit()
        rules = policy()
        written = snapshots.backfill(
            session, date(2026, 4, 1), OCTOBER, rules, ZoneInfo("Asia/Taipei")
        )
        session.commit()
    # A's loan started 2026-05-14 (a month before its first due date, 06-14).
    assert written == {
        date(2026, 4, 30): 0,
        date(2026, 5, 31): 1,
        date(2026, 6, 30): 1,
        date(2026, 7, 31): 1,
        date(2026, 8, 31): 1,
        date(2026, 9, 30): 1,
        OCTOBER: 1,
    }
    october = row(app, OCTOBER, owing)
    # At 10-31 the payment of 11-30 had not been made: 10-14 was 17 days overdue, with
    # its 550,000 and the charges of 10-14 (45,000).
    assert (october.days_past_due, october.bucket) == (17, Bucket.D1_30)
    assert october.overdue == INSTALLMENT + CHARGES
    assert october.balance == 8 * INSTALLMENT + CHARGES
    assert october.stage == rules.stage_for(17)
    assert october.exact is False
    september = row(app, date(2026, 9, 30), owing)
    # At 09-30: 09-14 paid (outside the ledger, so before), the charges not yet made.
    assert (september.bucket, september.overdue, september.balance) == (
        Bucket.CURRENT,
        0,
        8 * INSTALLMENT,
    )
    assert row(app, OCTOBER, settled) is None
    with app.app_context():
        found = portfolio.roll_rates(db.session(), date(2026, 9, 30), date(2026, 9, 30), Slice())
        again = snapshots.backfill(
            db.session(), date(2026, 5, 1), OCTOBER, rules, ZoneInfo("Asia/Taipei")
        )
    assert found.matrix.cell(Bucket.CURRENT, Bucket.D1_30).cases == 1
    assert again == {}  # every month-end written already is left as it is


# The command ----------------------------------------------------------------------------


def invoke(app, *arguments):
    return CliRunner().invoke(cli, ["report", *arguments], obj=ScriptInfo(create_app=lambda: app))


def test_the_command_prints_the_same_figures_as_the_service_and_is_audited(app, book):
    result = invoke(app, "portfolio", "--as-of", "2026-11-30", "--currency", "TWD", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    with app.app_context():
        session = db.session()
        report = portfolio.roll_rates(session, OCTOBER, OCTOBER, Slice(currency="TWD"))
        audited = session.scalars(select(AuditEntry).where(AuditEntry.actor == "cli")).all()
    rolls = portfolio.as_json(report, Slice(currency="TWD"))
    assert {key: figures[key] for key in rolls} == rolls
    # The other figures over the pair's days, November, as their services count them.
    with app.app_context():
        whole = book_report(db.session(), OCTOBER, OCTOBER, Slice(currency="TWD"))
    assert figures["days"] == {"first": "2026-11-01", "last": "2026-11-30"}
    for key in ("plans", "promises", "contact", "funnel"):
        assert figures[key] == book_json(whole)[key]
    assert figures["period"] == {"first": "2026-10-31", "last": "2026-10-31", "pairs": 1}
    assert figures["roll_rates"]["1_30"]["31_60"] == {
        "cases": 1,
        "amount": INSTALLMENT + CHARGES,
        "share": "0.333333",
        "amount_share": "0.333333",
    }
    assert figures["cure_rate"]["rate"] == "0.333333"
    assert figures["roll_forward"]["current"] == "1.000000"
    assert [(entry.action, entry.details["currency"]) for entry in audited] == [
        ("reports.portfolio.export", "TWD")
    ]
    # Before November's month-end is over, no pair has ended: nothing to report.
    early = invoke(app, "portfolio", "--as-of", "2026-11-29")
    assert early.exit_code == 1
    assert "No month pair" in early.output
    csv_out = invoke(app, "portfolio", "--as-of", "2026-12-31", "--format", "csv")
    assert csv_out.exit_code == 0
    lines = csv_out.output.splitlines()
    assert lines[0] == "from,to,cases,share,amount,amount_share,currency"
    assert "1_30,31_60,2,0.500000,,," in lines  # A and E across TWD and USD: no amounts
    text_out = invoke(app, "portfolio", "--as-of", "2026-12-31")
    assert "Cure rate: 25.0% of 4 overdue" in text_out.output


def test_the_command_refuses_what_it_cannot_read(app):
    assert invoke(app, "portfolio", "--as-of", "30-11-2026").exit_code == 2
    assert invoke(app, "portfolio", "--stage", "worst").exit_code == 2
    assert invoke(app, "portfolio", "--months", "0").exit_code == 2
    assert invoke(app, "backfill", "--since", "2026-10-01", "--until", "2099-01-31").exit_code == 2
