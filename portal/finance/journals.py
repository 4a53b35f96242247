"""General-ledger journals: each day's money movements as balanced double-entry lines,
posted to the chart of accounts (``negotiation.accounts``, ``HAOHUAN_CHART_OF_ACCOUNTS``)
per loan product and currency, as Fineract posts a loan product's journal entries and
Frappe Lending its repayments' GL entries.

A day's journals, one per source and currency, each balanced (debits equal credits, in
integer minor units):

============== ====================================== ===================================
source          debit                                  credit
============== ====================================== ===================================
payment         clearing (money Stripe holds for us)   the allocation's target (principal,
                                                        interest, fee, penalty, credit)
refund          the target (owed again)                refunds payable
dispute         the target (owed again)                disputed funds (a won dispute's
                                                        money is posted the other way)
waiver          write-off expense                      the target it forgave
reinstatement   the target (owed again)                write-off expense
forgiveness     write-off expense                      the target (an upheld dispute's
                                                        adjustment)
stripe_fee      Stripe fees expense (a chargeback's    clearing
                dispute fee: dispute fees expense)
============== ====================================== ===================================

Each source is read with one grouped query (by product, currency, target and sign; for a
period on PostgreSQL, by the day in the finance timezone too), never row by row: a month
of a million payments is a few thousand rows of sums. A
refund or dispute is the negative allocations ``portal.payments.events`` books, so its
lines are the payment's, reversed. New sources (a refund's own row, a dispute's fee) are
one more entry in ``_SOURCES``: a query giving the same columns and a rule naming the
accounts to debit and credit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from negotiation.accounts import AccountKind, Chart
from portal.core import settings
from portal.models import (
    AdjustmentStatus,
    Allocation,
    AllocationCause,
    Case,
    HoldAdjustment,
    Loan,
    Payment,
    PaymentStatus,
    Plan,
    ReconciliationItem,
    Waiver,
)

# The kind each source's movements post against (the other side is the allocation's
# target, or Stripe's fee for stripe_fee).
COUNTER: dict[str, AccountKind] = {
    AllocationCause.PAYMENT.value: AccountKind.CLEARING,
    AllocationCause.REFUND.value: AccountKind.REFUNDS_PAYABLE,
    AllocationCause.DISPUTE.value: AccountKind.DISPUTE,
    "waiver": AccountKind.WRITE_OFF,
    "reinstatement": AccountKind.WRITE_OFF,
    "forgiveness": AccountKind.WRITE_OFF,
    "stripe_fee": AccountKind.CLEARING,
}
# The sources that are a payment's allocations.
CAUSES = frozenset(cause.value for cause in AllocationCause)
# Days of sums read at once by a long export or the check (a month: a few thousand rows).
CHUNK_DAYS = 31
# The order a day's journals are listed in.
SOURCES = tuple(COUNTER)
# Where a movement without a loan (Stripe's fee on a charge we do not know) is posted:
# the chart's mapping for every product.
ANY_PRODUCT = "*"


@dataclass(frozen=True)
class Line:
    """One line of a journal: an account debited or credited (minor units, one of them
    zero), what it is, and which rows it sums."""

    account: str
    debit: int
    credit: int
    currency: str
    memo: str
    reference: str


@dataclass(frozen=True)
class Journal:
    """A day's entry for one source in one currency; ``journal_id`` is stable for the
    day, source and currency, so a re-export names the same entries."""

    day: date
    journal_id: str
    source: str
    currency: str
    lines: tuple[Line, ...]

    @property
    def debits(self) -> int:
        """The sum of the journal's debits (minor units)."""
        return sum(line.debit for line in self.lines)

    @property
    def credits(self) -> int:
        """The sum of the journal's credits (minor units)."""
        return sum(line.credit for line in self.lines)

    @property
    def balanced(self) -> bool:
        """Whether the debits equal the credits."""
        return self.debits == self.credits


@dataclass(frozen=True)
class Movement:
    """A sum of one source's rows: for a product and currency, on one target, with one
    sign (positive: money in, or a write-off; negative: its reversal)."""

    source: str
    product: str
    currency: str
    target: str
    amount: int
    rows: int


def postings(movement: Movement, chart: Chart) -> tuple[tuple[str, str], tuple[str, str]]:
    """The accounts (and their chart kinds) a movement debits and credits, for a positive
    amount; a negative amount swaps them. Pure: the rule of the table above."""
    counter = COUNTER[movement.source]
    if movement.source == "stripe_fee":
        # Stripe's fee on a payment, or a chargeback's dispute fee (the movement's target).
        debit, credit = _kind(movement.target), counter.value
    elif movement.source == "reinstatement":
        debit, credit = movement.target, counter.value
    else:
        debit, credit = counter.value, movement.target
    product, currency = movement.product, movement.currency
    return (
        (chart.account(debit, product, currency), _kind(debit)),
        (chart.account(credit, product, currency), _kind(credit)),
    )


def _kind(target: str) -> str:
    """A target's chart kind: an unknown target is suspense's."""
    try:
        return AccountKind(target).value
    except ValueError:
        return AccountKind.SUSPENSE.value


def build(day: date, movements: list[Movement], chart: Chart) -> list[Journal]:
    """The day's journals from its movements: one per source and currency, a line per
    account, side and product. Pure."""
    grouped: dict[tuple[str, str], dict[tuple[int, str, str], list[Any]]] = defaultdict(dict)
    for movement in movements:
        if movement.amount == 0:
            continue
        (debit, debit_kind), (credit, credit_kind) = postings(movement, chart)
        amount = abs(movement.amount)
        if movement.amount < 0:
            (debit, debit_kind), (credit, credit_kind) = (credit, credit_kind), (debit, debit_kind)
        lines = grouped[(movement.source, movement.currency)]
        for side, account, kind in ((0, debit, debit_kind), (1, credit, credit_kind)):
            entry = lines.setdefault((side, account, movement.product), [0, set(), 0])
            entry[0] += amount
            entry[1].add(kind)
            entry[2] += movement.rows
    journals = []
    for source, currency in sorted(grouped, key=lambda key: (SOURCES.index(key[0]), key[1])):
        lines = grouped[(source, currency)]
        journal_id = f"{day.isoformat()}-{source}-{currency}"
        journals.append(
            Journal(
                day=day,
                journal_id=journal_id,
                source=source,
                currency=currency,
                lines=tuple(
                    Line(
                        account=account,
                        debit=amount if side == 0 else 0,
                        credit=amount if side == 1 else 0,
                        currency=currency,
                        memo=f"{source}: {', '.join(sorted(kinds))} ({product})",
                        reference=f"{journal_id}/{product}/{rows}",
                    )
                    for (side, account, product), (amount, kinds, rows) in sorted(lines.items())
                ),
            )
        )
    return journals


def day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from the start of ``day`` in ``zone`` to the next day's start."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def movements(db: Session, start: datetime, end: datetime) -> list[Movement]:
    """Every source's sums for the rows booked in ``[start, end)``: one grouped query per
    source."""
    return [_movement(row) for query in _SOURCES for row in db.execute(query(start, end, None))]


def movements_by_day(
    db: Session, first: date, last: date, zone: ZoneInfo
) -> dict[date, list[Movement]]:
    """Each day's movements from ``first`` to ``last`` inclusive. On PostgreSQL one
    grouped query per source for the whole period, grouped by the day in ``zone`` too
    (the rows are read once, not once a day); elsewhere (SQLite has no zone arithmetic)
    one per source and day."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    found: dict[date, list[Movement]] = {day: [] for day in days}
    if db.get_bind().dialect.name != "postgresql":
        for day in days:
            found[day] = movements(db, *day_range(day, zone))
        return found
    start, end = day_range(first, zone)[0], day_range(last, zone)[1]
    for query in _SOURCES:
        for *row, day in db.execute(query(start, end, zone.key)):
            found[day].append(_movement(row))
    return found


def _movement(row: Any) -> Movement:
    source, product, currency, target, amount, rows = row
    return Movement(
        source=str(source),
        product=str(product or ANY_PRODUCT),
        currency=str(currency).upper(),
        target=str(target),
        amount=int(amount),
        rows=int(rows),
    )


def journal_for_day(
    db: Session, day: date, zone: ZoneInfo, chart: Chart | None = None
) -> list[Journal]:
    """The day's journals (``day`` in ``zone``), each balanced, posted by ``chart`` (the
    configured chart of accounts unless given): a handful of grouped queries, however
    many payments the day had."""
    start, end = day_range(day, zone)
    return build(day, movements(db, start, end), chart or settings.current().chart_of_accounts)


def journals_for_days(
    db: Session, first: date, last: date, zone: ZoneInfo, chart: Chart
) -> Iterator[Journal]:
    """Each day's journals from ``first`` to ``last`` inclusive, a month of sums read at
    a time (a few hundred rows a day, whatever the payments)."""
    while first <= last:
        chunk_last = min(last, first + timedelta(days=CHUNK_DAYS - 1))
        for day, found in movements_by_day(db, first, chunk_last, zone).items():
            yield from build(day, found, chart)
        first = chunk_last + timedelta(days=1)


def month_days(month: date) -> tuple[date, date]:
    """The first and last day of ``month``'s month."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def check(db: Session, zone: ZoneInfo, chart: Chart) -> list[str]:
    """Every way the journals disagree with the ledger, as sentences (empty when they
    agree): every day from the first booking to the last has balanced journals; their
    sums per account and currency equal what the ledger's rows post over all time (a row
    outside every day, or in two, shows here); and the money their payments, refunds
    and disputes post is, per currency, what the succeeded payments kept."""
    bounds = booked_between(db)
    if bounds is None:
        return []
    first, last = (moment.astimezone(zone).date() for moment in bounds)
    start, end = bounds[0], bounds[1] + timedelta(microseconds=1)
    whole_first = first
    problems: list[str] = []
    by_days: dict[tuple[str, str], int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    while first <= last:
        chunk_last = min(last, first + timedelta(days=CHUNK_DAYS - 1))
        for day, found in movements_by_day(db, first, chunk_last, zone).items():
            for movement in found:
                if movement.source in CAUSES:
                    received[movement.currency] += movement.amount
            for journal in build(day, found, chart):
                if not journal.balanced:
                    problems.append(
                        f"journal {journal.journal_id}: debits {journal.debits} "
                        f"but credits {journal.credits}"
                    )
                for line in journal.lines:
                    by_days[(line.account, line.currency)] += line.debit - line.credit
        first = chunk_last + timedelta(days=1)
    whole: dict[tuple[str, str], int] = defaultdict(int)
    for journal in build(whole_first, movements(db, start, end), chart):
        for line in journal.lines:
            whole[(line.account, line.currency)] += line.debit - line.credit
    for key in sorted(set(by_days) | set(whole)):
        if by_days.get(key, 0) != whole.get(key, 0):
            account, currency = key
            problems.append(
                f"account {account} ({currency}): the daily journals post "
                f"{by_days.get(key, 0)} net, the ledger's rows {whole.get(key, 0)}"
            )
    kept = _kept(db)
    for currency in sorted(set(kept) | set(received)):
        if kept.get(currency, 0) != received.get(currency, 0):
            problems.append(
                f"{currency}: the journals post {received.get(currency, 0)} received, "
                f"the succeeded payments kept {kept.get(currency, 0)}"
            )
    return problems


def _kept(db: Session) -> dict[str, int]:
    """Per currency, what the succeeded payments kept (amount less refunded and
    disputed), from the payments table alone."""
    kept = Payment.amount - Payment.refunded - Payment.disputed
    rows = db.execute(
        select(func.upper(Payment.currency), func.sum(kept))
        .where(Payment.status == PaymentStatus.SUCCEEDED)
        .group_by(func.upper(Payment.currency))
    )
    return {str(currency): int(total) for currency, total in rows if total}


def booked_between(db: Session) -> tuple[datetime, datetime] | None:
    """The first and last moment anything the journals post was booked (None: nothing)."""
    moments = [
        db.execute(select(func.min(column), func.max(column))).one()
        for column in (
            Allocation.booked_at,
            Waiver.granted_at,
            Waiver.reinstated_at,
            HoldAdjustment.applied_at,
            ReconciliationItem.occurred_at,
        )
    ]
    # SQLite hands min() back as text: the moments are read through the column's type.
    lows = [_moment(low) for low, _high in moments if low is not None]
    highs = [_moment(high) for _low, high in moments if high is not None]
    if not lows:
        return None
    return min(lows), max(highs)


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A source's query: (source, product, currency, target, amount, rows).
SourceQuery = Select[*tuple[Any, ...]]
# A source: its query for the rows booked in [start, end), grouped by the day in the zone
# too when one is given (the day then its last column).
Source = Callable[[datetime, datetime, str | None], SourceQuery]

# The sources: each a grouped query for [start, end) giving (source, product, currency,
# target, amount, rows), one row per sign.


def _daily(query: SourceQuery, moment: Any, zone: str | None) -> SourceQuery:
    """``query`` grouped by the day of ``moment`` in ``zone`` too (PostgreSQL), the day
    its last column; unchanged without a zone."""
    if zone is None:
        return query
    day = func.date(func.timezone(zone, moment))
    return query.add_columns(day).group_by(day)


def _allocations(start: datetime, end: datetime, zone: str | None) -> SourceQuery:
    positive = Allocation.amount > 0
    query = (
        select(
            Allocation.cause,
            Loan.product,
            Payment.currency,
            Allocation.target,
            func.sum(Allocation.amount),
            func.count(),
        )
        .join(Payment, Payment.id == Allocation.payment_id)
        .join(Case, Case.id == Payment.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .where(Allocation.booked_at >= start, Allocation.booked_at < end)
        .group_by(Allocation.cause, Loan.product, Payment.currency, Allocation.target, positive)
    )
    return _daily(query, Allocation.booked_at, zone)


def _waivers(source: str, column: Any) -> Source:
    def query(start: datetime, end: datetime, zone: str | None) -> SourceQuery:
        found = (
            select(
                literal(source),
                Loan.product,
                Loan.currency,
                Waiver.target,
                func.sum(Waiver.amount),
                func.count(),
            )
            .join(Plan, Plan.id == Waiver.plan_id)
            .join(Case, Case.id == Plan.case_id)
            .join(Loan, Loan.id == Case.loan_id)
            .where(column >= start, column < end)
            .group_by(Loan.product, Loan.currency, Waiver.target)
        )
        return _daily(found, column, zone)

    return query


def _forgiveness(start: datetime, end: datetime, zone: str | None) -> SourceQuery:
    query = (
        select(
            literal("forgiveness"),
            Loan.product,
            Loan.currency,
            HoldAdjustment.target,
            func.sum(HoldAdjustment.amount),
            func.count(),
        )
        .join(Case, Case.id == HoldAdjustment.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .where(
            HoldAdjustment.status == AdjustmentStatus.APPLIED,
            HoldAdjustment.applied_at >= start,
            HoldAdjustment.applied_at < end,
        )
        .group_by(Loan.product, Loan.currency, HoldAdjustment.target)
    )
    return _daily(query, HoldAdjustment.applied_at, zone)


def _stripe_fees(start: datetime, end: datetime, zone: str | None) -> SourceQuery:
    """Stripe's fee on each balance transaction of the period, once however many
    reconciliation runs listed it (every line of one carries the same fee). Posted per
    currency for every product: Stripe charges the lender, not a loan."""
    # A dispute's adjustment carries the dispute fee (Stripe's, for a chargeback): its own
    # expense account, not the fee on a payment.
    kind = when(
        (ReconciliationItem.transaction_type == "adjustment", AccountKind.DISPUTE_FEE.value),
        else_=AccountKind.STRIPE_FEE.value,
    )
    once = (
        select(
            func.min(func.upper(ReconciliationItem.currency)).label("currency"),
            func.min(ReconciliationItem.fee).label("fee"),
            func.min(ReconciliationItem.occurred_at).label("occurred_at"),
            func.min(kind).label("kind"),
        )
        .where(
            ReconciliationItem.occurred_at >= start,
            ReconciliationItem.occurred_at < end,
            ReconciliationItem.transaction_type.is_not(None),
            ReconciliationItem.balance_transaction.is_not(None),
            ReconciliationItem.fee != 0,
        )
        .group_by(ReconciliationItem.balance_transaction)
        .subquery()
    )
    query = select(
        literal("stripe_fee"),
        literal(ANY_PRODUCT),
        once.c.currency,
        once.c.kind,
        func.sum(once.c.fee),
        func.count(),
    ).group_by(once.c.currency, once.c.kind, once.c.fee > 0)
    return _daily(query, once.c.occurred_at, zone)


_SOURCES: tuple[Source, ...] = (
    _allocations,
    _waivers("waiver", Waiver.granted_at),
    _waivers("reinstatement", Waiver.reinstated_at),
    _forgiveness,
    _stripe_fees,
)
