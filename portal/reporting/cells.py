"""What the figures beside the roll rates share to be counted once a month rather than read
from a year of a million cases' activity per request: the month a cell counts, the slice
a case had that month, and the cells of a period.

A **month** is named by its month-end *M*: the calendar days from the day after the month
before's end to *M*, both included, in the finance time zone (``month_bounds``). Each
section's cells hold, per month and slice (``snapshots.SLICES``), what happened in that
month; a report of the month pairs *first* to *last* sums the months after *first* up to
the last pair's second month-end (``period_months``), the same calendar days the roll
rates' pairs cover.

**The slice of a month** is the case's row at the month's first month-end (where it
stood when the month began, as the roll rates slice it); a case without one (opened
during the month) its row at the month's own month-end; a case with neither (opened and
resolved within the month, or a month not written) as it stands when counted
(``month_slices``).

None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Select,
    Subquery,
    Table,
    and_,
    case,
    select,
)
from sqlalchemy.orm import Session, aliased

from portal.finance.reports import day_bounds
from portal.models import Borrower, Case, CaseMonthEnd, Loan, StaffMember
from portal.reporting.portfolio import Slice
from portal.reporting.snapshots import SLICES, latest_arm, month_end_of, previous_month_end

# What a count is given: the caller's session, or its connection (the daily work's steps).
Database = Session | Connection


def connection_of(db: Database) -> Connection:
    """``db``'s connection: where a count's temporary tables live, for its transaction."""
    return db.connection() if isinstance(db, Session) else db


def temporary(name: str, *columns: Column[Any]) -> Table:
    """A temporary table of a count's own: created on ``connection_of(db)``, dropped once
    read (on an error, with the transaction the caller rolls back)."""
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])


def month_bounds(month_end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month ending ``month_end`` as UTC instants in ``zone``: its first day's first
    moment (included) and the next month's (excluded)."""
    return day_bounds(previous_month_end(month_end) + timedelta(days=1), month_end, zone)


def period_months(first: date, last: date) -> tuple[date, date]:
    """The months (month-ends, both included) of the month pairs whose first month-ends
    run from ``first`` to ``last``: from the month after ``first`` to the one after
    ``last``."""
    return month_end_of(first + timedelta(days=1)), month_end_of(last + timedelta(days=1))


def days_of(first: date, last: date) -> tuple[date, date]:
    """The calendar days of the month pairs whose first month-ends run from ``first`` to
    ``last``: from the day after ``first`` to the last pair's second month-end."""
    return first + timedelta(days=1), month_end_of(last + timedelta(days=1))


def months_between(first: date, last: date) -> Iterator[date]:
    """The month-ends from ``first``'s month to ``last``'s, both included, oldest first."""
    month_end = month_end_of(first)
    while month_end <= last:
        yield month_end
        month_end = month_end_of(month_end + timedelta(days=1))


def in_period(table: Table, first: date, last: date, chosen: Slice) -> list[ColumnElement[bool]]:
    """The cells of ``table`` (a ``month_end`` column and the slice columns) of the month
    pairs ``first`` to ``last`` (``period_months``) in the slice ``chosen``."""
    after, through = period_months(first, last)
    return [
        table.c.month_end >= after,
        table.c.month_end <= through,
        *chosen.conditions(table),
    ]


def month_slices(month_end: date, case_ids: Select[Any]) -> Subquery:
    """The slice of the month ending ``month_end`` (see the module's docstring) of each
    case ``case_ids`` selects (one column, each id once), as a subquery of ``case_id``
    and the ``SLICES`` columns. Only the cases asked for are read: a month's activity
    touches a fraction of the book."""
    ids = case_ids.subquery("ids")
    case_id = ids.c[0]
    opening = aliased(CaseMonthEnd, name="opening")
    closing = aliased(CaseMonthEnd, name="closing")
    owner = aliased(StaffMember, name="owner")
    now: dict[str, Any] = {
        "product": Loan.product,
        "currency": Loan.currency,
        "market": Borrower.jurisdiction,
        "stage": Case.stage,
        "owner_id": Case.owner_id,
        "team_id": owner.team_id,
        "arm": latest_arm(None),
    }
    # Per column, from the one row the case is sliced by: a NULL owner at the opening
    # month-end stays NULL (a case nobody owned), never the closing row's owner.
    columns = [
        case(
            (opening.case_id.is_not(None), getattr(opening, name)),
            (closing.case_id.is_not(None), getattr(closing, name)),
            else_=now[name],
        ).label(name)
        for name in SLICES
    ]
    return (
        select(case_id.label("case_id"), *columns)
        .join(Case, Case.id == case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(owner, owner.id == Case.owner_id)
        .outerjoin(
            opening,
            and_(
                opening.case_id == case_id,
                opening.month_end == previous_month_end(month_end),
            ),
        )
        .outerjoin(closing, and_(closing.case_id == case_id, closing.month_end == month_end))
        .subquery("month_slices")
    )


__all__ = [
    "Database",
    "connection_of",
    "days_of",
    "in_period",
    "month_bounds",
    "month_slices",
    "months_between",
    "period_months",
    "temporary",
]
