"""Each case's stored overdue amount (``cases.arrears``): what the queue filters and sorts
by at a million cases without summing the installments of every loan.

The overdue amount (the arrears) at a moment is the loan's unpaid fees and penalties plus
what is still owed on its installments due before the borrower's today. The stored amount
is that sum counted on some day, with the window of days it holds for: it changes only
when an installment still owed falls due, so it holds for every borrower's today after
``arrears_after`` (the due date of the latest installment owed that it counts) up to and
including ``arrears_until`` (the due date of the first one owed that it does not); NULL
is no end. Outside its window a query counts the amount from the installments, as before
(``exact_arrears``), so the queue never shows a stale amount whatever the moment; the
daily work moves the windows on (``refresh_stale``) so that outside is rare.

Every write to what is owed refreshes the loan's stored amount in the same transaction:
the ORM's flushes (payments, refunds, reversals, waivers, adjustments, plans,
restructures, demo seeding) through ``track``, and the SQL that writes in bulk (the
daily penalties, the demo book, the benchmarks' seeding) by calling ``refresh``. A case
inserted without one starts outside its window (``NEVER``), so it too is counted exactly
until refreshed. ``check`` compares every stored amount with the count, for
``haohuan cases arrears-check`` and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    case,
    event,
    func,
    inspect,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import InstanceState, Session

from portal.cases.overdue import borrower_today, date_bounds, dates_by_zone, today_column
from portal.cases.zones import borrowers_zone, zone_of_case
from portal.core import clock
from portal.core.db import has_column
from portal.core.sql import array_text
from portal.models import (
    UNPAID_INSTALLMENT,
    Borrower,
    Case,
    Loan,
    LoanCharge,
    LoanInstallment,
)

# The window of a case whose amount was never counted (``arrears_until``'s server
# default): it ended long ago, so the amount is counted from the installments.
NEVER = date(1900, 1, 1)
# The stored columns (in the table, not mapped on ``Case``: SQL alone writes and reads them).
CASES = cast(Table, Case.__table__)
STORED = CASES.c
# Loans counted per statement (and per transaction, in the daily work).
BATCH = 5_000


def _today_in(zones: Iterable[str], moment: datetime) -> ColumnElement[date] | None:
    """The borrower's today at ``moment`` as SQL for borrowers in one of ``zones`` only
    (what ``today_column`` gives them, without listing every zone on Earth), or None
    when a zone is not one ``zoneinfo`` knows."""
    try:
        days = {zone: borrower_today(zone, moment) for zone in zones}
    except (ValueError, ZoneInfoNotFoundError):
        return None
    if not days:
        return None
    distinct = sorted(set(days.values()))
    if len(distinct) == 1:
        return literal(distinct[0], Date)
    return case(
        *((Borrower.timezone == zone, literal(day, Date)) for zone, day in days.items()),
        else_=literal(distinct[0], Date),
    )


def _sums(
    moment: datetime,
    loans: Select[Any] | list[int] | None,
    zones: Iterable[str] | None = None,
) -> Select[Any]:
    """Per loan (of ``loans``, or every loan): the overdue amount on its borrower's today
    at ``moment`` and the window of days it holds for. ``zones``, when given, are all the
    zones of those loans' borrowers: a few loans' count then names only theirs."""
    zone = Borrower.timezone
    known = _today_in(zones, moment) if zones is not None else None
    today = known if known is not None else today_column(zone, moment)
    due = LoanInstallment.due_date
    owed = (
        select(
            LoanInstallment.loan_id.label("loan_id"),
            func.sum(case((due < today, LoanInstallment.unpaid), else_=0)).label("owed"),
            func.max(case((due < today, due))).label("after"),
            func.min(case((due >= today, due))).label("until"),
        )
        .join(Loan, Loan.id == LoanInstallment.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(text(f"({UNPAID_INSTALLMENT})"))
        .group_by(LoanInstallment.loan_id)
    )
    charged = select(
        LoanCharge.loan_id.label("loan_id"), func.sum(LoanCharge.outstanding).label("owed")
    ).where(LoanCharge.outstanding > 0)
    if loans is not None:
        owed = owed.where(LoanInstallment.loan_id.in_(loans))
        charged = charged.where(LoanCharge.loan_id.in_(loans))
    installments = owed.subquery("owed")
    charges = charged.group_by(LoanCharge.loan_id).subquery("charged")
    query = (
        select(
            Loan.id.label("loan_id"),
            Loan.currency,
            (func.coalesce(installments.c.owed, 0) + func.coalesce(charges.c.owed, 0)).label(
                "arrears"
            ),
            installments.c.after,
            installments.c.until,
        )
        .outerjoin(installments, installments.c.loan_id == Loan.id)
        .outerjoin(charges, charges.c.loan_id == Loan.id)
    )
    return query.where(Loan.id.in_(loans)) if loans is not None else query


def refresh(
    conn: Connection | Session,
    loans: Select[Any] | Iterable[int] | None = None,
    moment: datetime | None = None,
) -> None:
    """Count the stored overdue amount of the cases of ``loans`` (ids, a select of ids, or
    None for every case: the backfill) on each borrower's today at ``moment`` (now).

    On PostgreSQL the cases' rows are locked first, in a statement of their own: the count
    then reads (READ COMMITTED) whatever another transaction writing to the same loans
    committed before it let go of the rows, and the last to count sees every write."""
    chosen: Select[Any] | list[int] | None
    chosen = loans if loans is None or isinstance(loans, Select) else sorted(set(loans))
    if isinstance(chosen, list) and not chosen:
        return
    connection = conn.connection() if isinstance(conn, Session) else conn
    zones = None
    if isinstance(chosen, list):
        # A few loans (a payment's, a plan's): their borrowers' zones, read with the lock
        # on PostgreSQL, so the count names those zones and not all six hundred.
        query = (
            select(Borrower.timezone)
            .select_from(Case)
            .join(Loan, Loan.id == Case.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Case.loan_id.in_(chosen))
            .order_by(Case.id)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(of=Case)
        zones = set(connection.execute(query).scalars())
    elif chosen is not None and connection.dialect.name == "postgresql":
        connection.execute(
            select(Case.id).where(Case.loan_id.in_(chosen)).order_by(Case.id).with_for_update()
        )
    source = _sums(moment or clock.now_anywhere(), chosen, zones).subquery("counted")
    connection.execute(
        update(CASES)
        .where(STORED.loan_id == source.c.loan_id)
        .values(
            arrears=source.c.arrears,
            arrears_currency=source.c.currency,
            arrears_after=source.c.after,
            arrears_until=source.c.until,
        )
    )


def holds_everywhere(moment: datetime) -> ColumnElement[bool]:
    """Whether a case's stored amount holds on every borrower's today at ``moment``: read
    from the case's own row, with no join."""
    earliest, latest = date_bounds(moment)
    after, until = STORED.arrears_after, STORED.arrears_until
    return and_(
        or_(after.is_(None), after < earliest),
        or_(until.is_(None), until >= latest),
    )


def exact_arrears(moment: datetime, zone: Any = None) -> ColumnElement[Any]:
    """The case's overdue amount at ``moment`` counted from its installments and charges
    (the reference the stored amount must equal), as a correlated subquery on ``Case``.
    ``zone`` is the borrower's zone as the query reads it (by default through the loan:
    the reference reads the borrower itself)."""
    today = today_column(borrowers_zone() if zone is None else zone, moment)
    installments = (
        select(func.coalesce(func.sum(LoanInstallment.unpaid), 0))
        .where(
            LoanInstallment.loan_id == Case.loan_id,
            text(f"({UNPAID_INSTALLMENT})"),
            LoanInstallment.due_date < today,
        )
        .scalar_subquery()
    )
    charges = (
        select(func.coalesce(func.sum(LoanCharge.outstanding), 0))
        .where(LoanCharge.loan_id == Case.loan_id, LoanCharge.outstanding > 0)
        .scalar_subquery()
    )
    return installments + charges


def arrears_at(moment: datetime, zone: Any = None) -> ColumnElement[Any]:
    """The case's overdue amount at ``moment`` in minor units of its loan's currency: the
    stored amount where its window holds (for every borrower, or at the edge of the day
    for this borrower's own today), else counted from the installments. ``zone`` is the
    borrower's zone when the query joins the borrower or reads the case's copy (else a
    subquery reads it through the loan, for each case counted: two index reads more)."""
    earliest, latest = date_bounds(moment)
    after, until = STORED.arrears_after, STORED.arrears_until
    stored: ColumnElement[Any] = STORED.arrears
    branches: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
        (holds_everywhere(moment), stored)
    ]
    if earliest < latest:
        today = today_column(borrowers_zone() if zone is None else zone, moment)
        here = and_(or_(after.is_(None), after < today), or_(until.is_(None), until >= today))
        branches.append((here, stored))
    return case(*branches, else_=exact_arrears(moment, zone))


def currency_of() -> ColumnElement[str]:
    """The currency of the case's loan: the case's copy, or the loan's for a case never
    counted (a correlated subquery, read for those only)."""
    loan = select(Loan.currency).where(Loan.id == Case.loan_id).correlate(Case)
    return func.coalesce(STORED.arrears_currency, loan.scalar_subquery())


def in_currency(currency: str) -> ColumnElement[bool]:
    """Cases whose loan is in ``currency``: read from the case's copy (no join), or from
    the loan for a case never counted."""
    return or_(
        STORED.arrears_currency == currency,
        and_(
            STORED.arrears_currency.is_(None),
            Case.loan_id.in_(select(Loan.id).where(Loan.currency == currency)),
        ),
    )


def arrears_between(moment: datetime, low: int | None, high: int | None) -> ColumnElement[bool]:
    """Cases whose overdue amount at ``moment`` is from ``low`` to ``high`` minor units
    (None: no limit). Written as an OR of the stored amount (the partial index on
    ``arrears``) and the few cases outside their window (the indexes on the window's
    ends), so PostgreSQL can read each through its index."""
    stored = [holds_everywhere(moment)]
    counted = []
    amount = arrears_at(moment)
    if low is not None:
        stored.append(STORED.arrears >= low)
        counted.append(amount >= low)
    if high is not None:
        stored.append(STORED.arrears <= high)
        counted.append(amount <= high)
    if low is not None and low > 0:
        stored.append(STORED.arrears > 0)  # the partial index's own condition
    return or_(and_(*stored), and_(not_(holds_everywhere(moment)), *counted))


def _due_now(conn: Connection, moment: datetime, charged_on: date | None) -> list[tuple[int, date]]:
    """The cases whose stored amount may have changed at ``moment``, with their
    borrower's today: those whose window does not hold on that today (an installment
    fell due since, or never counted; found through the indexes on the window's ends,
    as ``holds_everywhere`` names them), and those of the loans charged on
    ``charged_on``. A case outside ``holds_everywhere`` only because another zone is a
    day ahead or behind is left as it is: counted again, it would not change."""
    common, _others = dates_by_zone(moment)
    todays: dict[str, date] = {}

    def today(zone: str) -> date:
        if zone not in todays:
            try:
                todays[zone] = borrower_today(zone, moment)
            except (ValueError, ZoneInfoNotFoundError):
                todays[zone] = common  # what ``today_column`` gives a zone it does not know
        return todays[zone]

    # The borrower's zone from the case's copy (``zones``), read through the loan by key
    # only for a case without one: a join, or a read of each found case's loan and
    # borrower, would cost more than the rest of the find.
    cases = select(Case.id, STORED.arrears_after, STORED.arrears_until, zone_of_case())
    chosen: dict[int, date] = {}
    for case_id, after, until, zone in conn.execute(cases.where(not_(holds_everywhere(moment)))):
        day = today(zone)
        if (after is None or after < day) and (until is None or until >= day):
            continue  # its window holds on its own borrower's today
        chosen[case_id] = day
    if charged_on is not None:
        charged = select(LoanCharge.loan_id).where(LoanCharge.charged_on == charged_on)
        for case_id, _after, _until, zone in conn.execute(cases.where(Case.loan_id.in_(charged))):
            chosen[case_id] = today(zone)
    return sorted(chosen.items())


# The recount of a batch of cases on PostgreSQL, each on its borrower's today (given): the
# cases' rows locked first, one by key after another in the order of the ids (so the
# count, a statement of its own, sees what another transaction writing to them
# committed), then each case's loan read by key and its
# installments and charges summed through their ``loan_id`` indexes. ``UNPAID_INSTALLMENT``
# and the sums are ``_sums``'s.
_LOCK = text(
    "SELECT locked.id FROM unnest(CAST(:ids AS bigint[])) AS chosen (id) CROSS JOIN LATERAL"
    " (SELECT id FROM cases WHERE cases.id = chosen.id FOR UPDATE) AS locked"
)
_RECOUNT = text(
    f"""
UPDATE cases SET arrears = coalesce(owed.owed, 0) + coalesce(charged.owed, 0),
    arrears_currency = loans.currency, arrears_after = owed.after, arrears_until = owed.until
FROM unnest(CAST(:ids AS bigint[]), CAST(:days AS date[])) AS chosen (id, today)
JOIN cases AS counted ON counted.id = chosen.id
JOIN loans ON loans.id = counted.loan_id
LEFT JOIN LATERAL (
    SELECT sum(CASE WHEN due_date < chosen.today THEN principal_due - principal_paid
            - principal_waived + interest_due - interest_paid - interest_waived
            ELSE 0 END) AS owed,
        max(CASE WHEN due_date < chosen.today THEN due_date END) AS after,
        min(CASE WHEN due_date >= chosen.today THEN due_date END) AS until
    FROM loan_installments
    WHERE loan_installments.loan_id = loans.id AND ({UNPAID_INSTALLMENT})
) AS owed ON true
LEFT JOIN LATERAL (
    SELECT sum(amount - paid - waived) AS owed FROM loan_charges
    WHERE loan_charges.loan_id = loans.id AND amount - paid - waived > 0
) AS charged ON true
WHERE cases.id = counted.id
"""  # noqa: S608 (UNPAID_INSTALLMENT is the models' constant, no input)
)


def _recount(conn: Connection, chosen: list[tuple[int, date]], moment: datetime) -> None:
    """Count again the stored amount of ``chosen`` cases (id, the borrower's today at
    ``moment``), in ``conn``'s transaction: on PostgreSQL two statements by key, elsewhere
    ``refresh`` of their loans."""
    if not chosen:
        return
    ids = [case_id for case_id, _day in chosen]
    if conn.dialect.name == "postgresql":
        # The arrays as their text (``array_text``): psycopg adapts a list value by value.
        listed = array_text(ids)
        days = array_text([day.isoformat() for _case_id, day in chosen])
        conn.execute(_LOCK, {"ids": listed})
        conn.execute(_RECOUNT, {"ids": listed, "days": days})
    else:
        refresh(conn, select(Case.loan_id).where(Case.id.in_(ids)), moment)


def refresh_stale(conn: Connection, moment: datetime, charged_on: date | None = None) -> int:
    """Count again the cases whose window does not hold on their borrower's today at
    ``moment`` (an installment fell due since, or never counted) and those of the loans
    charged on ``charged_on``, in ``conn``'s transaction; returns how many cases."""
    chosen = _due_now(conn, moment, charged_on)
    for start in range(0, len(chosen), BATCH):
        _recount(conn, chosen[start : start + BATCH], moment)
    return len(chosen)


def daily_step(engine: Engine, day: Any, _work: Any) -> None:
    """The daily case work's step (``portal.cases.lifecycle.work_day``, after the
    penalties): ``refresh_stale`` at the run's ``day.now`` for the penalties charged on
    ``day.as_of``, a batch of cases per transaction."""
    with engine.connect() as conn:
        chosen = _due_now(conn, day.now, day.as_of)
    for start in range(0, len(chosen), BATCH):
        with engine.begin() as conn:
            _recount(conn, chosen[start : start + BATCH], day.now)


def check(conn: Connection | Session, moment: datetime) -> list[tuple[int, int, int]]:
    """Every case whose overdue amount at ``moment`` as the queue reads it differs from
    the amount counted from its installments: (case id, stored amount, counted amount)."""
    stored = arrears_at(moment)
    counted = exact_arrears(moment)
    rows = conn.execute(select(Case.id, stored, counted).where(stored != counted).order_by(Case.id))
    return [(int(a), int(b), int(c)) for a, b, c in rows]


def stale_count(conn: Connection | Session, moment: datetime) -> int:
    """How many cases are outside their window at ``moment`` (counted per row)."""
    return int(conn.scalar(select(func.count()).where(not_(holds_everywhere(moment)))) or 0)


# Keeping it current through the ORM ------------------------------------------------------


def _loans_written(session: Session) -> set[int]:
    """The loans whose installments or charges a flush inserted, changed or deleted, and
    those of the cases it inserted (called after the flush: ids are known, and the
    session's lists still hold what it wrote)."""
    touched: set[int] = set()
    for item in (*session.new, *session.dirty, *session.deleted):
        if isinstance(item, LoanInstallment | LoanCharge):
            if item in session.dirty and not session.is_modified(item):
                continue
            state: InstanceState[Any] = inspect(item)
            touched.update(i for i in state.attrs.loan_id.history.deleted if i is not None)
        elif not (isinstance(item, Case) and item in session.new):
            continue
        if item.loan_id is not None:
            touched.add(item.loan_id)
    return touched


# ``Session.info``'s key for the loans a transaction may count from what it holds.
_HELD = "haohuan.arrears.held"


def held(session: Session, loan: Loan) -> None:
    """Say that this transaction locked ``loan``'s case (on PostgreSQL, ``FOR UPDATE``;
    SQLite's writes are serial) and then loaded the loan with its borrower, installments
    and charges, and that it writes them only through those objects until it ends: its
    flushes may then count the loan's stored amount from them, with no statement but
    the case's UPDATE (the payment webhook's path). Forgotten when the transaction ends."""
    transaction = session.get_transaction()
    marked = session.info.get(_HELD)
    if marked is None or marked[0] is not transaction:
        loans: set[int] = set()
        session.info[_HELD] = marked = (transaction, loans)
    marked[1].add(loan.id)


def _owed(installment: LoanInstallment) -> bool:
    """``UNPAID_INSTALLMENT`` in Python."""
    return (
        installment.principal_paid + installment.principal_waived < installment.principal_due
        or installment.interest_paid + installment.interest_waived < installment.interest_due
    )


def _counted(loan: Loan, moment: datetime) -> dict[str, Any] | None:
    """What ``_sums`` counts for ``loan`` on its borrower's today at ``moment``, from the
    objects loaded with it; None when any of them is not loaded, or the zone is unknown."""
    if inspect(loan).unloaded & {"borrower", "installments", "charges"}:
        return None
    try:
        today = borrower_today(loan.borrower.timezone, moment)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    arrears, after, until = 0, None, None
    for installment in loan.installments:
        if inspect(installment).expired_attributes:
            return None
        if not _owed(installment):
            continue
        due = installment.due_date
        if due < today:
            arrears += installment.unpaid
            after = due if after is None or due > after else after
        elif until is None or due < until:
            until = due
    for charge in loan.charges:
        if inspect(charge).expired_attributes:
            return None
        if (outstanding := charge.outstanding) > 0:
            arrears += outstanding
    return {
        "counted_loan": loan.id,
        "counted_arrears": arrears,
        "counted_currency": loan.currency,
        "counted_after": after,
        "counted_until": until,
    }


def _held_loans(session: Session, written: list[Any]) -> dict[int, Loan]:
    """The loans that ``held`` vouches for in this transaction and that hold every
    installment and charge the flush wrote for them (one written otherwise, deleted, or
    moved between loans, and the loan is counted in SQL)."""
    marked = session.info.get(_HELD)
    if marked is None or marked[0] is not session.get_transaction():
        return {}
    loans: dict[int, Loan] = {}
    for loan_id in marked[1]:
        loan = session.identity_map.get(session.identity_key(Loan, loan_id))
        if isinstance(loan, Loan):
            loans[loan_id] = loan
    for item in written:
        if (loan := loans.get(item.loan_id)) is None:
            continue
        state: InstanceState[Any] = inspect(item)
        kept = (
            not (state.deleted or state.was_deleted or state.attrs.loan_id.history.deleted)
            and not inspect(loan).unloaded & {"installments", "charges"}
            and item in (loan.installments if isinstance(item, LoanInstallment) else loan.charges)
        )
        if not kept:
            del loans[item.loan_id]
    return loans


def _after_flush(session: Session, _context: Any) -> None:
    written = [
        item
        for item in (*session.new, *session.dirty, *session.deleted)
        if isinstance(item, LoanInstallment | LoanCharge)
    ]
    if not (loans := _loans_written(session)):
        return
    if not has_column(connection := session.connection(), "cases", "arrears_until"):
        return
    counted = []
    if held_loans := _held_loans(session, written):
        moment = clock.now_anywhere()
        for loan_id in sorted(loans & held_loans.keys()):
            if (values := _counted(held_loans[loan_id], moment)) is not None:
                counted.append(values)
    if counted:
        # The case is locked already (``held``): one UPDATE by key, no aggregate.
        connection.execute(
            update(CASES)
            .where(STORED.loan_id == bindparam("counted_loan"))
            .values(
                arrears=bindparam("counted_arrears"),
                arrears_currency=bindparam("counted_currency"),
                arrears_after=bindparam("counted_after"),
                arrears_until=bindparam("counted_until"),
            ),
            counted,
        )
    refresh(connection, loans - {values["counted_loan"] for values in counted})


def track() -> None:
    """Refresh the stored amount of every loan whose installments, charges or case a
    flush wrote, in that flush's transaction (registered once per process)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


__all__ = [
    "NEVER",
    "arrears_at",
    "arrears_between",
    "check",
    "currency_of",
    "daily_step",
    "exact_arrears",
    "held",
    "holds_everywhere",
    "in_currency",
    "refresh",
    "refresh_stale",
    "stale_count",
    "track",
]
