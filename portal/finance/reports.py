"""What the finance console reads: a day's money, payments found by filter and search,
one payment's story, and kept money per day. Read-only; days are calendar days in the
finance timezone (``HAOHUAN_FINANCE_TIMEZONE``, the lender's by default), and every time
is compared in UTC."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.core import settings
from portal.core.clock import as_utc
from portal.core.db import by_id, like_pattern
from portal.core.pagination import window
from portal.models import (
    OPEN_PAYMENT_STATUSES,
    AdjustmentKind,
    AdjustmentStatus,
    Allocation,
    Borrower,
    Case,
    CaseEvent,
    HoldAdjustment,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    ReconciliationRun,
)

# The order money is applied in (portal.payments.ledger's waterfall), then what is left over.
ALLOCATION_TARGETS = ("penalty", "fee", "interest", "principal", "credit")
# What upheld disputes forgave, each its own line (portal.cases.adjustments).
FORGIVEN_KINDS = tuple(kind.value for kind in AdjustmentKind)
# The days a filter may name: wide enough for any real payment, narrow enough that a
# timezone shift never leaves the range Python's dates can hold.
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


def finance_timezone() -> ZoneInfo:
    """The timezone whose calendar days the console reports in."""
    return settings.current().finance_zone


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from the start of ``first`` to the end of ``last`` (exclusive)."""
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day of a stored time in ``zone``."""
    return as_utc(moment).astimezone(zone).date()


# One day's money -------------------------------------------------------------------------


@dataclass
class CurrencyDay:
    """A day's online repayments in one currency: what succeeded, what was taken back,
    what we kept, where the kept money went, and what is still open."""

    currency: str
    succeeded_count: int = 0
    succeeded_total: int = 0
    refunded: int = 0
    disputed: int = 0
    allocated: dict[str, int] = field(default_factory=dict)
    open_count: int = 0
    open_total: int = 0
    # What upheld disputes signed off that day forgave, by kind (charges waived,
    # installments reduced, balances written off): not money received, so never part of
    # what was kept or allocated.
    forgiven: dict[str, int] = field(default_factory=dict)

    @property
    def forgiven_total(self) -> int:
        """Everything upheld disputes forgave that day."""
        return sum(self.forgiven.values())

    @property
    def kept(self) -> int:
        """What of the day's succeeded payments is still ours."""
        return self.succeeded_total - self.refunded - self.disputed

    @property
    def allocated_total(self) -> int:
        """What the allocations of the day's payments sum to (always ``kept``)."""
        return sum(self.allocated.values())

    @property
    def unallocated(self) -> int:
        """Kept money no allocation accounts for: zero unless the books drifted."""
        return self.kept - self.allocated_total


@dataclass(frozen=True)
class DayOverview:
    """Every currency's figures for one day, and the latest reconciliation covering it."""

    day: date
    currencies: list[CurrencyDay]
    run: ReconciliationRun | None


def day_overview(db: Session, day: date, zone: ZoneInfo) -> DayOverview:
    """Where every cent of ``day``'s online repayments is: payments confirmed that day,
    what was refunded or disputed of them since, how the rest was allocated, and the
    payments begun that day that are still open; and, as lines of their own, what upheld
    disputes signed off that day forgave."""
    start, end = day_bounds(day, day, zone)
    confirmed = (
        Payment.status == PaymentStatus.SUCCEEDED,
        Payment.confirmed_at >= start,
        Payment.confirmed_at < end,
    )
    by_currency: dict[str, CurrencyDay] = {}

    def of(currency: str) -> CurrencyDay:
        return by_currency.setdefault(currency, CurrencyDay(currency))

    succeeded = db.execute(
        select(
            Payment.currency,
            func.count(Payment.id),
            func.sum(Payment.amount),
            func.sum(Payment.refunded),
            func.sum(Payment.disputed),
        )
        .where(*confirmed)
        .group_by(Payment.currency)
    )
    for currency, count, total, refunded, disputed in succeeded:
        figures = of(currency)
        figures.succeeded_count, figures.succeeded_total = int(count), int(total or 0)
        figures.refunded, figures.disputed = int(refunded or 0), int(disputed or 0)
    allocations = db.execute(
        select(Payment.currency, Allocation.target, func.sum(Allocation.amount))
        .join(Payment, Payment.id == Allocation.payment_id)
        .where(*confirmed)
        .group_by(Payment.currency, Allocation.target)
    )
    for currency, target, amount in allocations:
        of(currency).allocated[target] = int(amount or 0)
    still_open = db.execute(
        select(Payment.currency, func.count(Payment.id), func.sum(Payment.amount))
        .where(
            Payment.status.in_(OPEN_PAYMENT_STATUSES),
            Payment.created_at >= start,
            Payment.created_at < end,
        )
        .group_by(Payment.currency)
    )
    for currency, count, total in still_open:
        of(currency).open_count, of(currency).open_total = int(count), int(total or 0)
    forgiven = db.execute(
        select(Loan.currency, HoldAdjustment.kind, func.sum(HoldAdjustment.amount))
        .join(Case, Case.id == HoldAdjustment.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .where(
            HoldAdjustment.status == AdjustmentStatus.APPLIED,
            HoldAdjustment.applied_at >= start,
            HoldAdjustment.applied_at < end,
        )
        .group_by(Loan.currency, HoldAdjustment.kind)
    )
    for currency, kind, amount in forgiven:
        of(currency).forgiven[str(kind)] = int(amount or 0)
    return DayOverview(
        day, [by_currency[c] for c in sorted(by_currency)], run_covering(db, start, end)
    )


def run_covering(db: Session, start: datetime, end: datetime) -> ReconciliationRun | None:
    """The latest reconciliation run whose period contains all of ``[start, end)``."""
    return db.scalars(
        select(ReconciliationRun)
        .where(ReconciliationRun.since <= start, ReconciliationRun.until >= end)
        .order_by(ReconciliationRun.started_at.desc(), ReconciliationRun.id.desc())
        .limit(1)
    ).first()


def recent_runs(db: Session, limit: int) -> Sequence[ReconciliationRun]:
    """The latest reconciliation runs, newest first."""
    return db.scalars(
        select(ReconciliationRun)
        .order_by(ReconciliationRun.started_at.desc(), ReconciliationRun.id.desc())
        .limit(limit)
    ).all()


# Payments by filter and search -----------------------------------------------------------


# The payments list's "paid by" choices: automatic charges, or payments made by hand.
PAID_BY = ("automatic", "by_hand")


@dataclass(frozen=True)
class PaymentFilters:
    """What the payments list is narrowed to; empty values narrow nothing."""

    # A payment status, "open" for any of the open ones, or "refunded" or "disputed" for
    # the succeeded ones that money was (in part) taken back from. "succeeded" is every
    # succeeded payment, as the day's overview counts them.
    status: str = ""
    gateway: str = ""
    currency: str = ""
    purpose: str = ""
    # "automatic" for the charges the autopay run made to saved cards, "by_hand" for the
    # payments the borrower made themselves.
    paid_by: str = ""
    dated_by: str = "created"  # or "confirmed"
    since: date | None = None
    until: date | None = None
    search: str = ""


@dataclass(frozen=True)
class PaymentRow:
    """A payment as the list shows it, with whose loan it was for."""

    payment: Payment
    loan_number: str
    borrower_name: str


@dataclass(frozen=True)
class PaymentPage:
    """One page of the list."""

    rows: list[PaymentRow]
    total: int
    page: int
    pages: int


def _filtered(filters: PaymentFilters, zone: ZoneInfo) -> Select[Payment, str, str]:
    query = (
        select(Payment, Loan.number, Borrower.full_name)
        .join(Case, Case.id == Payment.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
    )
    if filters.status == "open":
        query = query.where(Payment.status.in_(OPEN_PAYMENT_STATUSES))
    elif filters.status == "refunded":
        query = query.where(Payment.status == PaymentStatus.SUCCEEDED, Payment.refunded > 0)
    elif filters.status == "disputed":
        query = query.where(Payment.status == PaymentStatus.SUCCEEDED, Payment.disputed > 0)
    elif filters.status:
        query = query.where(Payment.status == filters.status)
    for column, wanted in (
        (Payment.gateway, filters.gateway),
        (Payment.currency, filters.currency),
        (Payment.purpose, filters.purpose),
    ):
        if wanted:
            query = query.where(column == wanted)
    if filters.paid_by in PAID_BY:
        query = query.where(Payment.automatic.is_(filters.paid_by == "automatic"))
    dated = Payment.confirmed_at if filters.dated_by == "confirmed" else Payment.created_at
    if filters.since or filters.until:
        start, end = day_bounds(filters.since or EARLIEST, filters.until or LATEST, zone)
        query = query.where(dated >= start, dated < end)
    if filters.search:
        query = query.where(_search(filters.search))
    return query


def _search(text: str) -> Any:
    """A payment id (``123`` or ``#123``), a gateway reference (``pi_...``) exactly or by
    its start, a loan number by its start, or part of a borrower's name."""
    text = text.strip()
    pattern = like_pattern(text)
    wanted = [
        Payment.gateway_reference == text,
        Payment.gateway_reference.like(pattern + "%", escape="\\"),
        Loan.number.ilike(pattern + "%", escape="\\"),
        Borrower.full_name.ilike("%" + pattern + "%", escape="\\"),
    ]
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        wanted.append(Payment.id == int(digits))
    return or_(*wanted)


def payment_page(
    db: Session, filters: PaymentFilters, zone: ZoneInfo, page: int, per_page: int = 50
) -> PaymentPage:
    """The ``page``-th page of matching payments, newest first."""
    query = _filtered(filters, zone)
    span = window(db, query, page, per_page)
    rows = db.execute(span.of(query.order_by(Payment.created_at.desc(), Payment.id.desc())))
    return PaymentPage([PaymentRow(*row) for row in rows], span.total, span.page, span.pages)


def all_payments(db: Session, filters: PaymentFilters, zone: ZoneInfo) -> Iterator[PaymentRow]:
    """Every matching payment, newest first, read in batches (for the export)."""
    query = _filtered(filters, zone).order_by(Payment.created_at.desc(), Payment.id.desc())
    for row in db.execute(query.execution_options(yield_per=500)):
        yield PaymentRow(*row)


# One payment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationLine:
    """One allocation, with what it paid: a charge's description or an installment."""

    allocation: Allocation
    charge: LoanCharge | None
    installment: LoanInstallment | None


@dataclass(frozen=True)
class PaymentStory:
    """A payment, whose it is, where its money went, and what happened to it."""

    payment: Payment
    case: Case
    allocations: list[AllocationLine]
    events: list[CaseEvent]


def payment_story(db: Session, payment_id: int) -> PaymentStory | None:
    """Everything the payment detail page shows, or None for an unknown id."""
    payment = by_id(db, Payment, payment_id)
    if payment is None:
        return None
    case = db.get(Case, payment.case_id)
    assert case is not None  # a payment always belongs to a case  # noqa: S101
    lines = db.execute(
        select(Allocation, LoanCharge, LoanInstallment)
        .outerjoin(LoanCharge, LoanCharge.id == Allocation.charge_id)
        .outerjoin(LoanInstallment, LoanInstallment.id == Allocation.installment_id)
        .where(Allocation.payment_id == payment.id)
        .order_by(Allocation.id)
    )
    # The case's events that name this payment (a handful per case: read, then sifted).
    events = [e for e in case.events if (e.data or {}).get("payment_id") == payment.id]
    return PaymentStory(payment, case, [AllocationLine(*line) for line in lines], events)


# Kept money per day ------------------------------------------------------------------------


@dataclass(frozen=True)
class DayTotal:
    """One day of the collections chart."""

    day: date
    count: int
    kept: int


def daily_kept(
    db: Session, currency: str, last_day: date, days: int, zone: ZoneInfo
) -> list[DayTotal]:
    """Kept money of payments confirmed on each of the ``days`` days ending ``last_day``,
    oldest first, every day present (a day without payments is zero)."""
    first_day = last_day - timedelta(days=days - 1)
    start, end = day_bounds(first_day, last_day, zone)
    # Grouped here rather than in SQL: turning UTC into a local day differs between
    # SQLite and PostgreSQL, and a month of one currency's payments is few rows.
    totals: dict[date, list[int]] = {}
    rows = db.execute(
        select(Payment.confirmed_at, Payment.amount - Payment.refunded - Payment.disputed).where(
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.currency == currency,
            Payment.confirmed_at >= start,
            Payment.confirmed_at < end,
        )
    )
    for confirmed_at, kept in rows:
        # Compared with start and end above, confirmed_at is never NULL here.
        entry = totals.setdefault(local_day(cast(datetime, confirmed_at), zone), [0, 0])
        entry[0] += 1
        entry[1] += int(kept)
    return [
        DayTotal(day, *totals.get(day, (0, 0)))
        for day in (first_day + timedelta(days=n) for n in range(days))
    ]


def payment_currencies(db: Session) -> Sequence[str]:
    """The currencies any payment was made in, sorted."""
    return db.scalars(select(Payment.currency).distinct().order_by(Payment.currency)).all()
