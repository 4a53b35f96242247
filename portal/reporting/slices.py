"""The figures beside the roll rates (arrangements, promises, contact, the funnel) read a
slice of the book (``portfolio.Slice``: product, currency, market, stage, owner, team,
strategy arm) from each case as it stands now: its loan's product and currency, its
borrower's market (``Borrower.jurisdiction``), its stage, owner and owner's team, and its
latest strategy experiment arm. Also the helpers they share: exact shares and averages
in whole minor units, rounded half to even.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import QueryableAttribute

from portal.models import Borrower, Case, Loan, StaffMember
from portal.reporting.portfolio import Slice
from portal.reporting.snapshots import latest_arm

Ts = TypeVarTuple("Ts")

WHOLE_BOOK = Slice()


def case_conditions(chosen: Slice) -> list[ColumnElement[bool]]:
    """The slice as conditions on ``Case``, ``Loan`` and ``Borrower`` (as ``sliced``
    joins them)."""
    found: list[ColumnElement[bool]] = []
    if chosen.product is not None:
        found.append(Loan.product == chosen.product)
    if chosen.currency is not None:
        found.append(Loan.currency == chosen.currency)
    if chosen.market is not None:
        found.append(Borrower.jurisdiction == chosen.market)
    if chosen.stage is not None:
        found.append(Case.stage == chosen.stage)
    if chosen.owner_id is not None:
        found.append(Case.owner_id == chosen.owner_id)
    if chosen.team_id is not None:
        team = select(StaffMember.id).where(StaffMember.team_id == chosen.team_id)
        found.append(Case.owner_id.in_(team))
    if chosen.arm is not None:
        found.append(latest_arm(None) == chosen.arm)
    return found


def sliced(
    query: Select[*Ts], case_id: ColumnElement[int] | QueryableAttribute[int], chosen: Slice
) -> Select[*Ts]:
    """``query`` joined from ``case_id`` to its case, loan and borrower, and narrowed to
    the slice."""
    return (
        query.join(Case, Case.id == case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(*case_conditions(chosen))
    )


def narrowed(
    query: Select[*Ts], case_id: ColumnElement[int] | QueryableAttribute[int], chosen: Slice
) -> Select[*Ts]:
    """``query`` kept to the rows whose ``case_id`` is a case of the slice; the whole book
    as it is (every row's case exists, with its loan and borrower: their keys are
    required), so a report of the whole book reads no case at all."""
    if chosen == WHOLE_BOOK:
        return query
    return query.where(case_id.in_(slice_cases(chosen)))


def slice_cases(chosen: Slice) -> Select[int]:
    """The ids of the slice's cases."""
    return (
        select(Case.id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(*case_conditions(chosen))
    )


def share(part: int, whole: int) -> Fraction | None:
    """``part`` of ``whole`` as an exact fraction; None when there is no whole."""
    return Fraction(part, whole) if whole else None


def average(total: int, count: int) -> int | None:
    """``total`` over ``count`` in whole minor units, rounded half to even (Python's
    ``round`` of a Fraction); None when nothing was counted."""
    return round(Fraction(total, count)) if count else None
