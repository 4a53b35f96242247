"""The book at each month-end (``case_month_ends``), and the month-to-month transitions
counted from it (``portfolio_transitions``): the history the roll rates are read from.

The daily work writes a month-end on the month's last day, after its other steps
(``portal.cases.lifecycle``), so the days past due, stage and amounts are that day's:
one ``INSERT … SELECT`` of every case not resolved, then one ``INSERT … SELECT … GROUP
BY`` of the transitions from the month-end before, when there is one a month earlier.
Writing a month-end again replaces it (and its transitions, both ways), so a run that is
repeated or caught up leaves the same rows.

What a row says, at month-end *D* (on the borrower's calendar: an installment due on *D*
is due that day, not overdue):

- **days past due**: *D* less the due date of the oldest installment still unpaid that
  fell due before *D* (0 when none);
- **bucket**: those days' band (``negotiation.portfolio.bucket_of``);
- **overdue**: what is still owed on the installments due before *D*, plus the loan's
  unpaid fees and penalties;
- **balance**: what is still owed on every installment, plus the unpaid fees and
  penalties;
- the slices as they stand: the loan's product and currency, the borrower's market
  (jurisdiction), the case's stage, status and owner, the owner's team, and the case's
  latest strategy experiment arm ("experiment/arm").

What is owed is read as it stands when the row is written: the day's run is on the day
itself or, caught up after an outage, a few days later, when a payment made since is
already counted (the daily work never runs more than ``MAX_CATCH_UP_DAYS`` behind).

None of these functions commits: the caller's transaction holds the month-end whole.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    Integer,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.orm import Session, aliased

from negotiation import Policy, Stage
from negotiation.portfolio import Bucket, bucket_starts
from portal.core.settings import finance_zone_anywhere
from portal.finance.reports import day_bounds
from portal.models import (
    LIVE_PLAN_STATUSES,
    UNPAID_INSTALLMENT,
    Allocation,
    ArrearsEntry,
    Borrower,
    Case,
    CaseMonthEnd,
    CaseStatus,
    ExperimentAssignment,
    LiquidationCell,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    Plan,
    PortfolioTransition,
    StaffMember,
)

MONTH_ENDS = cast(Table, CaseMonthEnd.__table__)
TRANSITIONS = cast(Table, PortfolioTransition.__table__)
ENTRIES = cast(Table, ArrearsEntry.__table__)
CELLS = cast(Table, LiquidationCell.__table__)
# How many months after its entry a cohort is followed (its cells: 0 to HORIZON).
HORIZON = 12
# The slices a transition keeps, as both tables name them.
SLICES = ("product", "currency", "market", "stage", "owner_id", "team_id", "arm")


def month_end_of(day: date) -> date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def previous_month_end(month_end: date) -> date:
    """The last day of the month before ``month_end``'s."""
    return month_end.replace(day=1) - timedelta(days=1)


def is_month_end(day: date) -> bool:
    """Whether ``day`` is the last day of its month."""
    return month_end_of(day) == day


def write_month_end(
    db: Session | Connection,
    month_end: date,
    *,
    exact: bool = True,
    zone: ZoneInfo | None = None,
) -> int:
    """Every case not resolved, as it stands now, as of ``month_end`` (its rows replaced
    if written before), then the transitions from the month-end before it and into the
    month-end after it, where those are written, and the liquidation cohorts' entries and
    cells from it on (``count_liquidation``; months of payments in ``zone``, the finance
    time zone by default). Returns the rows written. ``exact``: False for a month written
    after the fact (the backfill, the demo's history)."""
    if not is_month_end(month_end):
        raise ValueError(f"{month_end} is not the last day of its month")
    db.execute(delete(MONTH_ENDS).where(MONTH_ENDS.c.month_end == month_end))
    db.execute(
        insert(MONTH_ENDS).from_select(COLUMNS, _month_end_rows(month_end, exact, _dialect(db)))
    )
    # Counted after, not through RETURNING: a million ids sent back to be counted.
    rows = rows_at(db, MONTH_ENDS, month_end)
    before = previous_month_end(month_end)
    count_transitions(db, before, month_end)
    count_transitions(db, month_end, month_end_of(month_end + timedelta(days=1)))
    recount_liquidation(db, month_end, zone or finance_zone_anywhere())
    return rows


def count_transitions(db: Session | Connection, month_end: date, next_month_end: date) -> int:
    """The transitions from ``month_end`` to ``next_month_end`` (the month after it),
    replaced: one row per slice of the first month-end and pair of buckets, each case
    that has no row at the next month-end (resolved in between) counted as closed.
    Nothing is counted unless both month-ends are written. Returns the rows written."""
    db.execute(delete(TRANSITIONS).where(TRANSITIONS.c.month_end == month_end))
    if not (_written(db, month_end) and _written(db, next_month_end)):
        return 0
    first, then = aliased(CaseMonthEnd, name="first"), aliased(CaseMonthEnd, name="then")
    to_bucket = func.coalesce(then.bucket, literal(Bucket.CLOSED.value))
    slices = [getattr(first, name) for name in SLICES]
    grouped = (
        select(
            first.month_end,
            literal(next_month_end, Date),
            *slices,
            first.bucket,
            to_bucket,
            func.count(),
            func.sum(first.overdue),
        )
        .outerjoin(then, and_(then.case_id == first.case_id, then.month_end == next_month_end))
        .where(first.month_end == month_end)
        .group_by(first.month_end, *slices, first.bucket, to_bucket)
    )
    columns = [
        "month_end",
        "next_month_end",
        *SLICES,
        "from_bucket",
        "to_bucket",
        "cases",
        "amount",
    ]
    db.execute(insert(TRANSITIONS).from_select(columns, grouped))
    return rows_at(db, TRANSITIONS, month_end)


def rows_at(db: Session | Connection, table: Table, month_end: date) -> int:
    """How many rows ``table`` holds at ``month_end`` (its ``month_end`` column)."""
    counted = db.execute(
        select(func.count()).select_from(table).where(table.c.month_end == month_end)
    )
    return int(counted.scalar_one())


def _written(db: Session | Connection, month_end: date) -> bool:
    found = db.execute(
        select(MONTH_ENDS.c.case_id).where(MONTH_ENDS.c.month_end == month_end).limit(1)
    )
    return found.first() is not None


def latest_month_end(db: Session | Connection) -> date | None:
    """The latest month-end written; None before any."""
    latest: date | None = db.execute(select(func.max(MONTH_ENDS.c.month_end))).scalar_one()
    return latest


def _dialect(db: Session | Connection) -> str:
    bind = db.get_bind() if isinstance(db, Session) else db
    return bind.dialect.name


# The columns of a month-end's row, in the order its selects give them.
COLUMNS = (
    "month_end",
    "case_id",
    "product",
    "currency",
    "market",
    "stage",
    "status",
    "owner_id",
    "team_id",
    "arm",
    "days_past_due",
    "bucket",
    "overdue",
    "balance",
    "overdue_since",
    "exact",
)


def _month_end_rows(month_end: date, exact: bool, dialect: str) -> Select[Any]:
    """The select of ``write_month_end``'s rows: the cases not resolved, each with its
    loan's installments and charges still owed summed once (grouped by loan, read
    through the partial index of installments still owed)."""
    owed = (
        select(
            LoanInstallment.loan_id.label("loan_id"),
            func.min(case((LoanInstallment.due_date < month_end, LoanInstallment.due_date))).label(
                "oldest"
            ),
            func.sum(
                case((LoanInstallment.due_date < month_end, LoanInstallment.unpaid), else_=0)
            ).label("overdue"),
            func.sum(LoanInstallment.unpaid).label("balance"),
        )
        .where(text(f"({UNPAID_INSTALLMENT})"))
        .group_by(LoanInstallment.loan_id)
        .subquery("owed")
    )
    charges = (
        select(
            LoanCharge.loan_id.label("loan_id"),
            func.sum(LoanCharge.outstanding).label("amount"),
        )
        .where(LoanCharge.outstanding > 0)
        .group_by(LoanCharge.loan_id)
        .subquery("charges")
    )
    return _rows(
        month_end,
        exact,
        dialect,
        owed,
        charges,
        stage=Case.stage,
        status=Case.status,
        arm=latest_arm(None),
    ).where(Case.status != CaseStatus.RESOLVED)


def _rows(
    month_end: date,
    exact: bool,
    dialect: str,
    owed: Any,
    charges: Any,
    *,
    stage: Any,
    status: Any,
    arm: Any,
) -> Select[Any]:
    """A month-end's rows of ``COLUMNS`` from ``owed`` (per loan: the oldest due date
    overdue, the overdue and the whole amount still owed on installments) and
    ``charges`` (per loan: the fees and penalties still owed), with the case's ``stage``,
    ``status`` and strategy ``arm`` as given."""
    team = (
        select(StaffMember.team_id)
        .where(StaffMember.id == Case.owner_id)
        .correlate(Case)
        .scalar_subquery()
    )
    unpaid_charges = func.coalesce(charges.c.amount, 0)
    return (
        select(
            literal(month_end, Date),
            Case.id,
            Loan.product,
            Loan.currency,
            Borrower.jurisdiction,
            stage,
            status,
            Case.owner_id,
            team,
            arm,
            _days_past_due(month_end, owed.c.oldest, dialect),
            _bucket(month_end, owed.c.oldest),
            func.coalesce(owed.c.overdue, 0) + unpaid_charges,
            func.coalesce(owed.c.balance, 0) + unpaid_charges,
            owed.c.oldest,
            literal(exact),
        )
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(owed, owed.c.loan_id == Case.loan_id)
        .outerjoin(charges, charges.c.loan_id == Case.loan_id)
    )


def latest_arm(until: datetime | None) -> Any:
    """The case's latest strategy experiment arm ("experiment/arm"), of those it was
    assigned before ``until`` (None: any), as a correlated subquery."""
    name = ExperimentAssignment.experiment + literal("/") + ExperimentAssignment.arm
    chosen = select(name).where(ExperimentAssignment.case_id == Case.id)
    if until is not None:
        chosen = chosen.where(ExperimentAssignment.assigned_at < until)
    return (
        chosen.order_by(ExperimentAssignment.assigned_at.desc(), ExperimentAssignment.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )


# The liquidation cohorts -----------------------------------------------------------------


def month_end_instant(month_end: date, zone: ZoneInfo) -> datetime:
    """The end of ``month_end``'s last day in ``zone`` (the next day's first moment), in
    UTC: where a month's payments stop."""
    return day_bounds(month_end, month_end, zone)[1]


def count_entries(db: Session | Connection, month_end: date) -> int:
    """The cases entering arrears at ``month_end``, replaced: overdue then, and not at the
    month-end before (current there, or without a row: then only if it fell overdue
    during the month, its oldest unpaid installment due on or after the month-end
    before, so a case already long overdue when the history begins is not taken for a
    new one). Returns the entries written."""
    db.execute(delete(ENTRIES).where(ENTRIES.c.month_end == month_end))
    before = previous_month_end(month_end)
    now, then = aliased(CaseMonthEnd, name="now"), aliased(CaseMonthEnd, name="then")
    entered = (
        select(now.month_end, now.case_id)
        .outerjoin(then, and_(then.case_id == now.case_id, then.month_end == before))
        .where(
            now.month_end == month_end,
            now.days_past_due > 0,
            or_(
                then.days_past_due == 0,
                and_(then.case_id.is_(None), now.overdue_since >= before),
            ),
        )
    )
    db.execute(insert(ENTRIES).from_select(["month_end", "case_id"], entered))
    return rows_at(db, ENTRIES, month_end)


def cohorts_of(month_end: date) -> list[date]:
    """The cohorts followed at ``month_end``: its own and the ``HORIZON`` before it,
    oldest first."""
    cohorts = [month_end]
    for _ in range(HORIZON):
        cohorts.append(previous_month_end(cohorts[-1]))
    return cohorts[::-1]


def ledger_payments(month_end: date, zone: ZoneInfo) -> Any:
    """What each case paid in each month of ``month_end``'s horizon (after the oldest
    cohort's month-end, up to ``month_end``'s end in ``zone``), as a subquery of
    ``case_id``, ``currency``, ``month`` (the month-end of the month it was confirmed in)
    and ``amount``: the succeeded payments' kept money (less what was refunded or is held
    by a dispute, as it stands now), in minor units."""
    cohorts = cohorts_of(month_end)
    ends = [(end, month_end_instant(end, zone)) for end in cohorts[1:]]
    month = case(*((Payment.confirmed_at < instant, literal(end, Date)) for end, instant in ends))
    each = (
        select(
            Payment.case_id.label("case_id"),
            Payment.currency.label("currency"),
            month.label("month"),
            (Payment.amount - Payment.refunded - Payment.disputed).label("amount"),
        )
        .where(
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.confirmed_at >= month_end_instant(cohorts[0], zone),
            Payment.confirmed_at < ends[-1][1],
        )
        .subquery("each")
    )
    return (
        select(
            each.c.case_id, each.c.currency, each.c.month, func.sum(each.c.amount).label("amount")
        )
        .group_by(each.c.case_id, each.c.currency, each.c.month)
        .subquery("paid")
    )


def count_liquidation(
    db: Session | Connection, month_end: date, zone: ZoneInfo, paid: Any = None
) -> int:
    """The entries at ``month_end`` (``count_entries``), then the cells of every cohort
    it follows (``cohorts_of``), replaced: per cohort and slice at entry, the cases that
    entered, their overdue amount at entry, what they paid from the month after entry up
    to ``month_end`` (a case's payments count toward its latest entry before the month
    they were made in: a payment in the month of a new entry still counts toward the
    one before), and of it, each case's up to its overdue at entry. ``paid``: what each
    case paid by month (``ledger_payments``, the default). Nothing is counted unless the
    month-end is written. Returns the cells written."""
    db.execute(delete(CELLS).where(CELLS.c.month_end == month_end))
    if not _written(db, month_end):
        db.execute(delete(ENTRIES).where(ENTRIES.c.month_end == month_end))
        return 0
    count_entries(db, month_end)
    cohorts = cohorts_of(month_end)
    paid = ledger_payments(month_end, zone) if paid is None else paid
    following = func.lead(ENTRIES.c.month_end).over(
        partition_by=ENTRIES.c.case_id, order_by=ENTRIES.c.month_end
    )
    episodes = (
        select(
            ENTRIES.c.case_id.label("case_id"),
            ENTRIES.c.month_end.label("cohort"),
            following.label("next_entry"),
        )
        .where(ENTRIES.c.month_end >= cohorts[0], ENTRIES.c.month_end <= month_end)
        .subquery("episodes")
    )
    # Each episode with its row at entry read once (grouped by the row's key, so its
    # slices and overdue amount come along) and what it paid since.
    entry = aliased(CaseMonthEnd, name="entry")
    at_entry = and_(entry.month_end == episodes.c.cohort, entry.case_id == episodes.c.case_id)
    per_case = (
        select(
            episodes.c.cohort.label("cohort"),
            *(getattr(entry, name).label(name) for name in SLICES),
            entry.overdue.label("overdue"),
            func.coalesce(func.sum(paid.c.amount), 0).label("collected"),
        )
        .join(entry, at_entry)
        .outerjoin(
            paid,
            and_(
                paid.c.case_id == episodes.c.case_id,
                paid.c.currency == entry.currency,
                paid.c.month > episodes.c.cohort,
                paid.c.month <= month_end,
                or_(episodes.c.next_entry.is_(None), paid.c.month <= episodes.c.next_entry),
            ),
        )
        .group_by(episodes.c.cohort, entry.month_end, entry.case_id)
        .subquery("per_case")
    )
    slices = [per_case.c[name] for name in SLICES]
    collected, overdue = per_case.c.collected, per_case.c.overdue
    recovered = case((collected < overdue, collected), else_=overdue)
    months = case(
        *(
            (per_case.c.cohort == cohort, literal(HORIZON - position))
            for position, cohort in enumerate(cohorts)
        )
    )
    grouped = select(
        per_case.c.cohort,
        literal(month_end, Date),
        months,
        *slices,
        func.count(),
        func.sum(overdue),
        func.sum(collected),
        func.sum(recovered),
    ).group_by(per_case.c.cohort, *slices)
    columns = [
        "cohort",
        "month_end",
        "months",
        *SLICES,
        "cases",
        "overdue",
        "collected",
        "recovered",
    ]
    db.execute(insert(CELLS).from_select(columns, grouped))
    return rows_at(db, CELLS, month_end)


def recount_liquidation(
    db: Session | Connection, first: date, zone: ZoneInfo, paid: Any = None
) -> dict[date, int]:
    """``count_liquidation`` for every month-end written from ``first`` on, oldest first
    (an entry at one month-end depends on the month-end before; a cohort's cells on the
    entries after it). Returns the cells written by month-end."""
    last = latest_month_end(db)
    counted: dict[date, int] = {}
    month_end = month_end_of(first)
    while last is not None and month_end <= last:
        if _written(db, month_end):
            counted[month_end] = count_liquidation(db, month_end, zone, paid)
        month_end = month_end_of(month_end + timedelta(days=1))
    return counted


# The backfill -------------------------------------------------------------------------


def backfill(
    db: Session | Connection, first: date, last: date, rules: Policy, zone: ZoneInfo
) -> dict[date, int]:
    """Every month-end from ``first``'s to ``last``'s not yet written, reconstructed from
    the ledger and the case events (``exact`` False), oldest first, then the transitions
    between them. Returns the rows written by month-end. What is exact and what is not
    (``docs/reporting.md``):

    - exact: what was owed at the month-end (each installment's and charge's amount still
      owed now, plus what payments confirmed after the month-end's last moment in
      ``zone`` paid on it; a charge only once charged), hence the days past due, bucket,
      overdue amount and balance; the product, currency and market; the strategy arm
      (the latest assigned before the month-end's end);
    - derived: the stage, from the days past due by ``rules`` (as the daily work moves it);
    - as of now: the owner and team (a case's past owners are not kept), a waiver (its
      grant's time is not applied), and whether a plan was in force (a plan accepted by
      the month-end and still live now counts as arranged; one that ended since does not).

    A case is in a month-end when its loan had started by then and it was not resolved,
    or it is resolved now but still owed something then."""
    written: dict[date, int] = {}
    month_end = month_end_of(first)
    while month_end <= month_end_of(last):
        if not _written(db, month_end):
            written[month_end] = _backfill_month(db, month_end, rules, zone)
        month_end = month_end_of(month_end + timedelta(days=1))
    for month_end in written:
        count_transitions(db, previous_month_end(month_end), month_end)
        count_transitions(db, month_end, month_end_of(month_end + timedelta(days=1)))
    if written:
        recount_liquidation(db, min(written), zone)
    return written


def _backfill_month(
    db: Session | Connection, month_end: date, rules: Policy, zone: ZoneInfo
) -> int:
    """One month-end reconstructed (``backfill``); returns the rows written."""
    end = datetime.combine(month_end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    later = (
        select(
            Allocation.installment_id.label("installment_id"),
            Allocation.charge_id.label("charge_id"),
            func.sum(Allocation.amount).label("amount"),
        )
        .join(Payment, Payment.id == Allocation.payment_id)
        .where(Payment.confirmed_at >= end)
        .group_by(Allocation.installment_id, Allocation.charge_id)
        .subquery("later")
    )
    # Owed then: owed now, plus what payments confirmed since paid on it.
    then = LoanInstallment.unpaid + func.coalesce(later.c.amount, 0)
    installments = (
        select(
            LoanInstallment.loan_id.label("loan_id"),
            func.min(
                case(
                    (and_(LoanInstallment.due_date < month_end, then > 0), LoanInstallment.due_date)
                )
            ).label("oldest"),
            func.sum(case((LoanInstallment.due_date < month_end, then), else_=0)).label("overdue"),
            func.sum(then).label("balance"),
        )
        .outerjoin(later, later.c.installment_id == LoanInstallment.id)
        .group_by(LoanInstallment.loan_id)
        .subquery("owed")
    )
    charge_then = LoanCharge.outstanding + func.coalesce(later.c.amount, 0)
    charges = (
        select(LoanCharge.loan_id.label("loan_id"), func.sum(charge_then).label("amount"))
        .outerjoin(later, later.c.charge_id == LoanCharge.id)
        .where(LoanCharge.charged_on <= month_end)
        .group_by(LoanCharge.loan_id)
        .subquery("charges")
    )
    days = _days_past_due(month_end, installments.c.oldest, _dialect(db))
    stage = case(
        (days >= rules.late_from_days, literal(Stage.LATE.value)),
        (days >= rules.mid_from_days, literal(Stage.MID.value)),
        (days >= rules.early_from_days, literal(Stage.EARLY.value)),
        else_=literal(Stage.CURRENT.value),
    )
    arranged = (
        select(Plan.id)
        .where(
            Plan.case_id == Case.id,
            Plan.accepted_at < end,
            Plan.status.in_([status.value for status in LIVE_PLAN_STATUSES]),
        )
        .correlate(Case)
        .exists()
    )
    status = case(
        (arranged, literal(CaseStatus.ARRANGED.value)), else_=literal(CaseStatus.OPEN.value)
    )
    owed_then = func.coalesce(installments.c.balance, 0) + func.coalesce(charges.c.amount, 0)
    rows = _rows(
        month_end,
        False,
        _dialect(db),
        installments,
        charges,
        stage=stage,
        status=status,
        arm=latest_arm(end),
    ).where(
        Loan.start_date <= month_end,
        or_(Case.status != CaseStatus.RESOLVED, owed_then > 0),
    )
    db.execute(insert(MONTH_ENDS).from_select(COLUMNS, rows))
    return rows_at(db, MONTH_ENDS, month_end)


def _days_past_due(month_end: date, oldest: Any, dialect: str) -> Any:
    """``month_end`` less ``oldest`` in days (0 when ``oldest`` is NULL), in SQL."""
    if dialect == "postgresql":
        days = literal(month_end, Date) - oldest
    else:  # SQLite keeps dates as ISO text
        elapsed = func.julianday(literal(month_end.isoformat())) - func.julianday(oldest)
        days = sql_cast(elapsed, Integer)
    return func.coalesce(days, 0)


def _bucket(month_end: date, oldest: Any) -> Any:
    """The bucket of a case whose oldest installment overdue at ``month_end`` fell due on
    ``oldest``: compared as dates (the bucket's first day past due is a due date on or
    before ``month_end`` less that many days)."""
    return case(
        *(
            (oldest <= month_end - timedelta(days=start), literal(bucket.value))
            for start, bucket in bucket_starts()
        ),
        else_=literal(Bucket.CURRENT.value),
    )


__all__ = [
    "COLUMNS",
    "HORIZON",
    "backfill",
    "cohorts_of",
    "count_entries",
    "count_liquidation",
    "count_transitions",
    "is_month_end",
    "latest_arm",
    "latest_month_end",
    "ledger_payments",
    "month_end_instant",
    "month_end_of",
    "previous_month_end",
    "recount_liquidation",
    "rows_at",
    "write_month_end",
]
