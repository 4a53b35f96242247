"""The demo's past for the reports: every demo case at each of the last ``MONTHS``
month-ends (``case_month_ends``), so the roll-rate matrix, the cure rate and the entry
cohorts have two years to read from the first run.

Each case's history is drawn backwards from where it stands today, so its last row agrees
with its present as far as the month-end allows: a case overdue since a day on or before
the last month-end sat that many days past due then; a case current now, or overdue only
since, was current. Before that, month by month, a case that is overdue at one month-end
was usually overdue on the same installment at the one before (it rolled forward), now
and then one or two installments deeper (it paid some back); a case that became overdue
during a month was usually current before it; and some cases current at a month-end had
been overdue at the one before (they cured). A case has rows only from its loan's start.
The amounts come from the loan's own schedule (minor units of its currency): overdue, the
installments due from the oldest unpaid one to the month-end; balance, every installment
from the oldest unpaid one on (fees and penalties are left out: the book's charges are
today's). Slices are the case's today's (product, currency,
market, owner and team), its stage at that month-end, status arranged from its plan's
activation, and the arm of the latest experiment assignment by then.

The rows are marked ``exact=False`` (drawn, not recorded), written in a few bulk INSERTs
from a random generator of their own (the same history every run), and written once: a
database that has any of these month-ends already gets nothing. Then the transitions of
each pair are counted (``portal.reporting.snapshots.count_transitions``), the last into
today's month-end too when the daily work wrote it (the demo run on a month's last day),
and the liquidation cohorts from what the rows say was paid each month
(``drawn_payments``: the demo's ledger holds no payments from those years).
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from negotiation import Policy, Stage
from negotiation.portfolio import bucket_of
from portal.cases import arrears
from portal.cases.facts import policy
from portal.core.settings import finance_zone_anywhere
from portal.demo.book import seed_book, seeded
from portal.demo.cures import seed_cure_contact
from portal.models import (
    Borrower,
    Case,
    CaseMonthEnd,
    CaseStatus,
    ExperimentAssignment,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    Plan,
    PlanStatus,
    StaffMember,
)
from portal.reporting import monthly
from portal.reporting.snapshots import (
    COLUMNS,
    count_transitions,
    latest_month_end,
    month_end_of,
    recount_liquidation,
)

MONTHS = 24
HISTORY_SEED = 20261207
# Cases that left the book in the two years (their loans paid off or settled), numbered
# after it: without them no case would ever close.
CLOSED = 120
# Of those, the share that was still overdue at its last month-end (settled, or paid
# off from arrears), and by how many installments.
CLOSED_OVERDUE = 0.35
CLOSED_DEPTH = ((1, 60), (2, 25), (3, 15))
# Rows per INSERT statement (SQLite binds at most 32,766 parameters in one statement).
CHUNK = 1_000
# Of the cases current at a month-end, the share that had been overdue at the one before
# (they cured), and how many installments behind they had been.
CURED = 0.08
CURED_DEPTH = ((1, 75), (2, 18), (3, 7))
# Of the cases overdue on an installment already due at the month-end before, the share
# that had been deeper then (they paid some back), and by how many installments.
DEEPER = 0.06
DEEPER_DEPTH = ((1, 80), (2, 20))
# Of the cases that became overdue during a month, the share that had been overdue on an
# earlier installment at the month-end before (paid it, and missed the next).
STILL_BEHIND = 0.25
STILL_DEPTH = ((1, 85), (2, 15))


def month_ends(today: date, count: int = MONTHS) -> list[date]:
    """The last ``count`` month-ends before ``today``, oldest first (today itself is the
    daily work's to write, even on a month's last day)."""
    ends: list[date] = []
    end = today.replace(day=1) - timedelta(days=1)
    while len(ends) < count:
        ends.append(end)
        end = end.replace(day=1) - timedelta(days=1)
    return ends[::-1]


def _depth(rng: random.Random, choices: Sequence[tuple[int, int]]) -> int:
    return rng.choices([k for k, _ in choices], [w for _, w in choices])[0]


def oldest_unpaid_before(
    rng: random.Random, dues: Sequence[date], later: date | None, month_end: date
) -> date | None:
    """The due date of the oldest installment past due at ``month_end`` (None: current),
    drawn given the one at the next month-end (``later``) and the loan's due dates
    ``dues`` (ascending). An installment unpaid at the next month-end and past due at this
    one was unpaid at this one too, so the answer is never after it. An installment due
    on the month-end itself is not past due yet."""
    due_by_now = bisect_left(dues, month_end)
    if due_by_now == 0:
        return None
    if later is None:
        if rng.random() >= CURED:
            return None
        return dues[max(0, due_by_now - _depth(rng, CURED_DEPTH))]
    if later < month_end:
        if rng.random() >= DEEPER:
            return later
        return dues[max(0, dues.index(later) - _depth(rng, DEEPER_DEPTH))]
    if rng.random() >= STILL_BEHIND:
        return None
    return dues[max(0, due_by_now - _depth(rng, STILL_DEPTH))]


@dataclass(frozen=True)
class _Schedule:
    """A loan's installments: due dates ascending, and each one's amount."""

    dues: list[date]
    totals: list[int]

    def amounts(self, oldest: date | None, month_end: date) -> tuple[int, int]:
        """(overdue, balance) at ``month_end`` with ``oldest`` the oldest past due then."""
        due_by_now = bisect_left(self.dues, month_end)
        first_unpaid = due_by_now if oldest is None else self.dues.index(oldest)
        overdue = sum(self.totals[first_unpaid:due_by_now])
        return overdue, sum(self.totals[first_unpaid:])


def _schedules(db: Session) -> dict[int, _Schedule]:
    schedules: dict[int, _Schedule] = {}
    rows = db.execute(
        select(
            LoanInstallment.loan_id,
            LoanInstallment.due_date,
            LoanInstallment.principal_due + LoanInstallment.interest_due,
        ).order_by(LoanInstallment.loan_id, LoanInstallment.due_date)
    )
    for loan_id, due, total in rows:
        schedule = schedules.setdefault(loan_id, _Schedule([], []))
        schedule.dues.append(due)
        schedule.totals.append(int(total))
    return schedules


def _arms(db: Session) -> dict[int, list[tuple[date, str]]]:
    """Each case's experiment assignments, oldest first: (as of, "experiment/arm")."""
    arms: dict[int, list[tuple[date, str]]] = {}
    rows = db.execute(
        select(
            ExperimentAssignment.case_id,
            ExperimentAssignment.as_of,
            ExperimentAssignment.experiment,
            ExperimentAssignment.arm,
        ).order_by(ExperimentAssignment.case_id, ExperimentAssignment.as_of)
    )
    for case_id, as_of, experiment, arm in rows:
        arms.setdefault(case_id, []).append((as_of, f"{experiment}/{arm}"))
    return arms


def _arm_at(assignments: list[tuple[date, str]], month_end: date) -> str | None:
    chosen = None
    for as_of, arm in assignments:
        if as_of > month_end:
            break
        chosen = arm
    return chosen


def _arranged_from(db: Session) -> dict[int, date]:
    """The day each case's plan in force (or broken since) was activated."""
    rows = db.execute(
        select(Plan.case_id, func.min(Plan.activated_at))
        .where(Plan.activated_at.is_not(None), Plan.status.in_(("active", "broken")))
        .group_by(Plan.case_id)
    )
    return {case_id: at.date() for case_id, at in rows if at is not None}


def _kept_on(db: Session) -> dict[int, date]:
    """The day each closed case's plan was kept to term (its last payment), for the cases
    a plan closed."""
    rows = db.execute(
        select(Plan.case_id, func.max(Payment.confirmed_at))
        .join(Payment, Payment.plan_id == Plan.id)
        .join(Case, Case.id == Plan.case_id)
        .where(Plan.status == PlanStatus.COMPLETED, Case.status == CaseStatus.RESOLVED)
        .group_by(Plan.case_id)
    )
    return {case_id: at.date() for case_id, at in rows if at is not None}


def _rows(
    case: Any,
    schedule: _Schedule,
    ends: list[date],
    rng: random.Random,
    rules: Policy,
    arms: list[tuple[date, str]],
    arranged: date | None,
    closed: int | None = None,
) -> list[tuple[Any, ...]]:
    """One case's rows, latest first, from its loan's start; a case ``closed`` (resolved
    now) has its last at ``ends[closed]``."""
    rows: list[tuple[Any, ...]] = []
    oldest: date | None = None
    last = len(ends) - 1 if closed is None else closed
    for position in range(last, -1, -1):
        month_end = ends[position]
        if case.start_date > month_end:
            break
        if position == last and closed is not None:
            oldest = _closing(rng, schedule.dues, month_end)
            days = (month_end - oldest).days if oldest is not None else 0
        elif position == last:
            since = case.overdue_since
            if since is None or since >= month_end:
                oldest, days = None, 0
            else:
                # The installment it is overdue on (the latest due by that day, should the
                # day be a charge's or a plan's), and the days as the case counts them.
                oldest = schedule.dues[max(0, bisect_right(schedule.dues, since) - 1)]
                days = (month_end - since).days
        else:
            oldest = oldest_unpaid_before(rng, schedule.dues, oldest, month_end)
            days = (month_end - oldest).days if oldest is not None else 0
        overdue, balance = schedule.amounts(oldest, month_end)
        rows.append(_row(case, month_end, days, overdue, balance, rules, arms, arranged))
    return rows


def _closing(rng: random.Random, dues: Sequence[date], month_end: date) -> date | None:
    """Where a case that closed in the month after ``month_end`` stood then: mostly
    current (it paid off), else some installments behind (it settled)."""
    due_by_now = bisect_left(dues, month_end)
    if due_by_now == 0 or rng.random() >= CLOSED_OVERDUE:
        return None
    return dues[max(0, due_by_now - _depth(rng, CLOSED_DEPTH))]


def _row(
    case: Any,
    month_end: date,
    days: int,
    overdue: int,
    balance: int,
    rules: Policy,
    arms: list[tuple[date, str]],
    arranged: date | None,
) -> tuple[Any, ...]:
    """A row of ``COLUMNS``, codes as plain strings (a StrEnum is an Enum to a driver)."""
    in_plan = arranged is not None and arranged <= month_end
    return (
        month_end,
        case.id,
        case.product,
        case.currency,
        case.market,
        rules.stage_for(days).value,
        (CaseStatus.ARRANGED if in_plan else CaseStatus.OPEN).value,
        case.owner_id,
        case.team_id,
        _arm_at(arms, month_end),
        days,
        bucket_of(days).value,
        overdue,
        balance,
        month_end - timedelta(days=days) if days else None,
        False,
    )


def _write(db: Session, rows: list[tuple[Any, ...]]) -> None:
    """The rows in bulk: COPY on PostgreSQL (psycopg's executemany is a round trip a
    row), executemany in chunks elsewhere."""
    connection = db.connection()
    if connection.dialect.name != "postgresql":
        table = cast(Table, CaseMonthEnd.__table__)
        for start in range(0, len(rows), CHUNK):
            chunk = [dict(zip(COLUMNS, row, strict=True)) for row in rows[start : start + CHUNK]]
            db.execute(insert(table), chunk)
        return
    copy_sql = f"COPY case_month_ends ({', '.join(COLUMNS)}) FROM STDIN"
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no driver connection to COPY through")
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)


def seed_closed(db: Session, first: int, today: date, now: datetime) -> int:
    """``CLOSED`` cases numbered from ``first`` (after the book), written by the book's
    own bulk seeding and then resolved: every installment and charge of their loans paid.
    Unless they are there already. Returns how many were written. Commits."""
    if seeded(db, first):
        return 0
    seed_book(db, first, today, now, size=CLOSED)
    closing = (
        select(Loan.id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.reference > f"B-{first:05d}")
    )
    loans = list(db.scalars(closing))
    db.execute(
        update(LoanInstallment)
        .where(LoanInstallment.loan_id.in_(loans))
        .values(
            principal_paid=LoanInstallment.principal_due,
            interest_paid=LoanInstallment.interest_due,
        )
    )
    charges = update(LoanCharge).where(LoanCharge.loan_id.in_(loans))
    db.execute(charges.values(paid=LoanCharge.amount - LoanCharge.waived))
    db.execute(
        update(Case)
        .where(Case.loan_id.in_(loans))
        .values(status=CaseStatus.RESOLVED, stage=Stage.CURRENT, overdue_since=None)
    )
    arrears.refresh(db, loans, now)
    db.commit()
    return CLOSED


def seed_month_ends(db: Session, today: date) -> list[date]:
    """Write the demo cases' last ``MONTHS`` month-ends and count their transitions (see
    the module docstring) unless the database has any of them already. Returns the
    month-ends written (oldest first), or none. Does not commit."""
    ends = month_ends(today)
    written = select(CaseMonthEnd.month_end).where(CaseMonthEnd.month_end.in_(ends)).limit(1)
    if db.scalar(written) is not None:
        return []
    cases = db.execute(
        select(
            Case.id,
            Case.overdue_since,
            Case.owner_id,
            StaffMember.team_id,
            Loan.id.label("loan_id"),
            Loan.product,
            Loan.currency,
            Loan.start_date,
            Borrower.jurisdiction.label("market"),
            Case.status,
        )
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(StaffMember, StaffMember.id == Case.owner_id)
        .order_by(Case.id)
    ).all()
    schedules = _schedules(db)
    arms = _arms(db)
    arranged = _arranged_from(db)
    kept_on = _kept_on(db)
    rng = random.Random(HISTORY_SEED)  # noqa: S311 (demo data, not secrets)
    rules = policy()
    rows: list[tuple[Any, ...]] = []
    for case in cases:
        schedule = schedules.get(case.loan_id)
        if schedule is None:
            continue
        closed = None
        if case.status == CaseStatus.RESOLVED:
            # Closed in a month after its loan's start, before the last month-end; the
            # month its plan was kept to term when one ended it (``portal.demo.outcomes``).
            began = bisect_left(ends, case.start_date)
            if began >= len(ends) - 1:
                continue
            closed = rng.randrange(began, len(ends) - 1)
            if case.id in kept_on:
                closed = min(max(began, bisect_left(ends, kept_on[case.id]) - 1), len(ends) - 2)
        rows += _rows(
            case,
            schedule,
            ends,
            rng,
            rules,
            arms.get(case.id, []),
            arranged.get(case.id),
            closed,
        )
    _write(db, rows)
    for month_end in ends:
        count_transitions(db, month_end, month_end_of(month_end + timedelta(days=1)))
    count_cohorts(db, ends, drawn_payments(rows, ends[-1]))
    # The contact before the drawn cures, so contacts per cure reads what curing took
    # (``portal.demo.cures``).
    seed_cure_contact(db, rows)
    # The sections' cells of each month, as the daily work counts them from the activity
    # the demo seeded before (its plans, promises, contact, funnel and agents' work); up
    # to the latest month-end written: on a month's last day the day's work wrote today's
    # before that activity was seeded.
    latest = latest_month_end(db) or ends[-1]
    monthly.recount(db, ends[0], max(latest, ends[-1]), finance_zone_anywhere())
    return ends


def drawn_payments(rows: Sequence[tuple[Any, ...]], last: date) -> list[dict[str, Any]]:
    """What each case paid in each month by its drawn ``rows`` (``COLUMNS``; a case's
    rows together, in any order): what its balance fell by from one month-end to the
    next (the installments paid off between them), in the month of the second; and a
    case whose rows stop before ``last`` (it closed) paid its whole balance in the month
    after its last row. As ``snapshots.ledger_payments`` has them: case, currency,
    month (its month-end) and amount."""
    balances: dict[int, list[tuple[date, str, int]]] = {}
    at = {name: COLUMNS.index(name) for name in ("month_end", "case_id", "currency", "balance")}
    for row in rows:
        balances.setdefault(row[at["case_id"]], []).append(
            (row[at["month_end"]], row[at["currency"]], int(row[at["balance"]]))
        )
    paid: list[dict[str, Any]] = []
    for case_id, found in balances.items():
        found.sort()
        closing = (
            [(month_end_of(found[-1][0] + timedelta(days=1)), found[-1][1], 0)]
            if found[-1][0] < last
            else []
        )
        for (_, currency, before), (month_end, _, after) in pairwise([*found, *closing]):
            if before > after:
                paid.append(
                    {
                        "case_id": case_id,
                        "currency": currency,
                        "month": month_end,
                        "amount": before - after,
                    }
                )
    return paid


def count_cohorts(db: Session, ends: Sequence[date], paid: list[dict[str, Any]]) -> None:
    """The liquidation cohorts of the month-ends ``ends`` (oldest first), counted as the
    daily work counts them (``snapshots.recount_liquidation``) but from the drawn
    ``paid`` (the demo's ledger has no payments in those years), through a temporary
    table dropped after."""
    table = Table(
        "demo_drawn_payments",
        MetaData(),
        Column("case_id", Integer),
        Column("currency", String(3)),
        Column("month", Date),
        Column("amount", BigInteger),
        prefixes=["TEMPORARY"],
    )
    connection = db.connection()
    table.create(connection)
    for start in range(0, len(paid), CHUNK):
        db.execute(insert(table), paid[start : start + CHUNK])
    recount_liquidation(db, ends[0], finance_zone_anywhere(), select(table).subquery("paid"))
    table.drop(connection)
