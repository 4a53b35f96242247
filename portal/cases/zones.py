"""Each case's copy of its borrower's time zone (``cases.timezone``): what the queue reads
to know which today a case at the edge of its stored amount's window, or of a band of days
past due, is on, without joining the loan and the borrower of each.

The copy is written in the same transaction as what it copies: the ORM's flushes (a case
inserted, a borrower's zone changed, a loan given another borrower) through ``track``,
and the SQL that writes cases or zones in bulk (the demo book, the benchmarks' seeding,
the migration's backfill) by calling ``copy``. A case without a copy (NULL: inserted in
SQL and not copied yet) is not wrong: the queue then reads its borrower's zone through
the loan (``zone_of_case``), as before. ``check`` lists every copy that is not its
borrower's zone, for ``haohuan cases arrears-check`` and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import InstanceState, Session

from portal.core.db import has_column
from portal.models import Borrower, Case, Loan

CASES = cast(Table, Case.__table__)
# The case's copy (in the table, not mapped on ``Case``: SQL alone writes and reads it).
ZONE = CASES.c.timezone


def borrowers_zone() -> Any:
    """The zone of the case's borrower, through its loan: a subquery correlated to
    ``Case`` explicitly, so it reads the same from inside another subquery (the stored
    arrears' ``exact_arrears``)."""
    return (
        select(Borrower.timezone)
        .join(Loan, Loan.borrower_id == Borrower.id)
        .where(Loan.id == Case.loan_id)
        .correlate(Case)
        .scalar_subquery()
    )


def zone_of_case() -> ColumnElement[str]:
    """The case's borrower's zone: the case's copy, or for a case without one the
    borrower's, read through the loan (a subquery run for those cases only)."""
    return func.coalesce(ZONE, borrowers_zone())


def copy(
    conn: Connection | Session,
    loans: Select[Any] | Iterable[int] | None = None,
    *,
    borrowers: Iterable[int] | None = None,
) -> None:
    """Copy the borrower's zone onto the cases of ``loans`` (ids or a select of ids), of
    ``borrowers`` (ids), or with neither onto every case (the backfill). Rows whose copy
    is already right are left alone."""
    statement = (
        update(CASES)
        .where(
            CASES.c.loan_id == Loan.id,
            Loan.borrower_id == Borrower.id,
            ZONE.is_distinct_from(Borrower.timezone),
        )
        .values(timezone=Borrower.timezone)
    )
    if loans is not None:
        chosen = loans if isinstance(loans, Select) else sorted(set(loans))
        if isinstance(chosen, list) and not chosen:
            return
        statement = statement.where(CASES.c.loan_id.in_(chosen))
    if borrowers is not None:
        ids = sorted(set(borrowers))
        if not ids:
            return
        statement = statement.where(Loan.borrower_id.in_(ids))
    connection = conn.connection() if isinstance(conn, Session) else conn
    connection.execute(statement)


def check(conn: Connection | Session) -> list[tuple[int, str, str]]:
    """Every case whose copy is not its borrower's zone: (case id, the copy, the
    borrower's zone). A case without a copy is not listed: the queue reads the
    borrower's for it."""
    rows = conn.execute(
        select(Case.id, ZONE, Borrower.timezone)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(ZONE.is_not(None), Borrower.timezone != ZONE)
        .order_by(Case.id)
    )
    return [(int(case_id), str(copied), str(zone)) for case_id, copied, zone in rows]


# Keeping it current through the ORM ------------------------------------------------------


def _changed(item: Any, attribute: str) -> bool:
    state: InstanceState[Any] = inspect(item)
    return bool(state.attrs[attribute].history.has_changes())


def _written(session: Session) -> tuple[set[int], set[int]]:
    """The loans whose case a flush inserted or whose borrower it changed, and the
    borrowers whose zone it changed (called after the flush: ids are known)."""
    loans: set[int] = set()
    borrowers: set[int] = set()
    for item in session.new:
        if isinstance(item, Case) and item.loan_id is not None:
            loans.add(item.loan_id)
    for item in session.dirty:
        if isinstance(item, Borrower) and _changed(item, "timezone"):
            borrowers.add(item.id)
        elif isinstance(item, Loan) and _changed(item, "borrower_id"):
            loans.add(item.id)
    return loans, borrowers


def _after_flush(session: Session, _context: Any) -> None:
    loans, borrowers = _written(session)
    if not (loans or borrowers) or not has_column(
        connection := session.connection(), "cases", "timezone"
    ):
        return
    if loans:
        copy(connection, loans)
    if borrowers:
        copy(connection, borrowers=borrowers)


def track() -> None:
    """Copy the borrower's zone onto every case a flush inserted, every case of a
    borrower whose zone it changed and of a loan whose borrower it changed, in that
    flush's transaction (registered once per process)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


__all__ = ["ZONE", "borrowers_zone", "check", "copy", "track", "zone_of_case"]
