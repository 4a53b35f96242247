"""The roll rates a collections manager reads first: the transition matrix of a period's
month pairs, for a slice of the book (product, currency, market, stage, owner, team,
strategy arm), summed from the transitions the month-ends counted once
(``portal.reporting.snapshots``), never by joining two months of a million cases.

A period is a run of month-ends *first* to *last* (both included), each read with the
month-end after it: twelve pairs are a year of roll rates. The slice is the case's at the
first month-end of its pair (where it stood when it rolled).

Amounts: each transition carries the overdue amount at the first month-end, in minor
units of the loan's currency. Amounts of different currencies are never added: the
matrix has amounts only when every case counted is in one currency (chosen, or the only
one); otherwise its amounts are 0 and ``amounts_in`` is None, and a page shows counts.

Reads only.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, distinct, func, select
from sqlalchemy.orm import Session

from negotiation.portfolio import DESTINATIONS, OPEN_BUCKETS, Matrix, matrix_of
from portal.audit import trail
from portal.models import PortfolioTransition, StaffMember, Team

TRANSITIONS = cast(Table, PortfolioTransition.__table__)


@dataclass(frozen=True)
class Slice:
    """Which part of the book: each field None for all of it."""

    product: str | None = None
    currency: str | None = None
    market: str | None = None
    stage: str | None = None
    owner_id: int | None = None
    team_id: int | None = None
    arm: str | None = None

    def conditions(self, table: Table = TRANSITIONS) -> list[ColumnElement[bool]]:
        """The rows of ``table`` (the transitions, or another table of the same slice
        columns) in this slice, as WHERE conditions."""
        columns = table.c
        chosen = {
            "product": self.product,
            "currency": self.currency,
            "market": self.market,
            "stage": self.stage,
            "owner_id": self.owner_id,
            "team_id": self.team_id,
            "arm": self.arm,
        }
        return [columns[name] == value for name, value in chosen.items() if value is not None]

    def as_json(self) -> dict[str, Any]:
        """The slice's chosen fields, by name (none: the whole book)."""
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class RollRates:
    """The matrix of the month pairs from ``first`` to ``last`` (the first month-end of
    each pair, both included): ``pairs`` pairs summed; amounts in ``amounts_in`` (None:
    several currencies, amounts not counted)."""

    first: date
    last: date
    pairs: int
    matrix: Matrix
    amounts_in: str | None


@dataclass(frozen=True)
class SliceChoices:
    """The values each slice can take, as the history holds them."""

    products: list[str]
    currencies: list[str]
    markets: list[str]
    stages: list[str]
    owners: list[tuple[int, str]]
    teams: list[tuple[int, str]]
    arms: list[str]


def month_ends(db: Session) -> list[date]:
    """The month-ends whose transitions to the next month-end are counted, ascending:
    the periods a report can choose."""
    found = db.execute(select(TRANSITIONS.c.month_end).distinct().order_by(TRANSITIONS.c.month_end))
    return [row[0] for row in found]


def roll_rates(db: Session, first: date, last: date, chosen: Slice) -> RollRates:
    """The transition matrix of the pairs from ``first`` to ``last`` for ``chosen``: one
    grouped read of the counted transitions (by currency and pair of buckets), and the
    pairs the period holds read from the month-ends' index."""
    columns = TRANSITIONS.c
    period = [columns.month_end >= first, columns.month_end <= last]
    cells = db.execute(
        select(
            columns.currency,
            columns.from_bucket,
            columns.to_bucket,
            func.sum(columns.cases),
            func.sum(columns.amount),
        )
        .where(*period, *chosen.conditions())
        .group_by(columns.currency, columns.from_bucket, columns.to_bucket)
    ).all()
    currencies = {row[0] for row in cells}
    amounts_in = next(iter(currencies)) if len(currencies) == 1 else None
    counted = amounts_in is not None
    matrix = matrix_of(
        (str(a), str(b), int(n), int(m) if counted else 0) for _c, a, b, n, m in cells
    )
    pairs = db.execute(select(func.count(distinct(columns.month_end))).where(*period))
    return RollRates(first, last, int(pairs.scalar_one()), matrix, amounts_in)


def slice_choices(db: Session) -> SliceChoices:
    """Every value of each slice the counted transitions hold, sorted; owners and teams
    with their names."""
    columns = TRANSITIONS.c

    def values(column: Any) -> list[Any]:
        found = db.execute(select(column).distinct().where(column.is_not(None)).order_by(column))
        return [row[0] for row in found]

    owners = db.execute(
        select(StaffMember.id, StaffMember.name)
        .where(StaffMember.id.in_(select(columns.owner_id).distinct()))
        .order_by(StaffMember.name, StaffMember.id)
    ).all()
    teams = db.execute(
        select(Team.id, Team.name)
        .where(Team.id.in_(select(columns.team_id).distinct()))
        .order_by(Team.name, Team.id)
    ).all()
    return SliceChoices(
        products=values(columns.product),
        currencies=values(columns.currency),
        markets=values(columns.market),
        stages=[str(stage) for stage in values(columns.stage)],
        owners=[(int(i), str(n)) for i, n in owners],
        teams=[(int(i), str(n)) for i, n in teams],
        arms=values(columns.arm),
    )


def period_ending(db: Session, as_of: date, months: int = 12) -> tuple[date, date] | None:
    """The last ``months`` month pairs whose later month-end is on or before ``as_of``:
    their first and last first month-ends, or None when no pair is counted yet."""
    ends = [end for end in month_ends(db) if _next_month_end(end) <= as_of]
    if not ends:
        return None
    last = ends[-1]
    first = last
    for _ in range(months - 1):
        earlier = first.replace(day=1) - timedelta(days=1)
        if earlier < ends[0]:
            break
        first = earlier
    return first, last


def _next_month_end(month_end: date) -> date:
    following = month_end + timedelta(days=1)
    return following.replace(day=calendar.monthrange(following.year, following.month)[1])


# Rates in words and JSON: a share as a decimal string of six places (half-even), exact
# enough to compare and never a float.
PLACES = Decimal("0.000001")


def share_text(share: Fraction | None) -> str | None:
    """``share`` as a decimal string of six places, or None."""
    if share is None:
        return None
    return str((Decimal(share.numerator) / Decimal(share.denominator)).quantize(PLACES))


def as_json(report: RollRates, chosen: Slice) -> dict[str, Any]:
    """``report`` as ``haohuan report portfolio --format json`` prints it (and the page
    shows): the period, the slice, the currency of the amounts, each pair of buckets'
    cases, amount and shares, the cure rate, and each bucket's roll forward and back."""
    matrix = report.matrix
    counted = report.amounts_in is not None
    rolls: dict[str, dict[str, dict[str, Any]]] = {}
    for first in OPEN_BUCKETS:
        rolls[first.value] = {}
        for then in DESTINATIONS:
            cell, rate = matrix.cell(first, then), matrix.rate(first, then)
            rolls[first.value][then.value] = {
                "cases": cell.cases,
                "amount": cell.amount if counted else None,
                "share": share_text(rate.cases),
                "amount_share": share_text(rate.amount) if counted else None,
            }
    cure, cured, overdue = matrix.cure_rate, matrix.cured, matrix.overdue
    return {
        "period": {
            "first": report.first.isoformat(),
            "last": report.last.isoformat(),
            "pairs": report.pairs,
        },
        "slice": chosen.as_json(),
        "amounts_in": report.amounts_in,
        "roll_rates": rolls,
        "cure_rate": {
            "cured": cured.cases,
            "overdue": overdue.cases,
            "rate": share_text(cure.cases),
            "amount_cured": cured.amount if counted else None,
            "amount_overdue": overdue.amount if counted else None,
            "amount_rate": share_text(cure.amount) if counted else None,
        },
        "roll_forward": {b.value: share_text(matrix.roll_forward(b).cases) for b in OPEN_BUCKETS},
        "roll_back": {b.value: share_text(matrix.roll_back(b).cases) for b in OPEN_BUCKETS},
    }


def csv_rows(report: RollRates) -> list[list[str]]:
    """The matrix as CSV rows (a header, then one row per pair of buckets): from, to,
    cases, share of the from bucket's cases, amount and its share (empty across
    currencies), the amounts' currency."""
    rows = [["from", "to", "cases", "share", "amount", "amount_share", "currency"]]
    counted = report.amounts_in is not None
    for first in OPEN_BUCKETS:
        for then in DESTINATIONS:
            cell, rate = report.matrix.cell(first, then), report.matrix.rate(first, then)
            rows.append(
                [
                    first.value,
                    then.value,
                    str(cell.cases),
                    share_text(rate.cases) or "",
                    str(cell.amount) if counted else "",
                    (share_text(rate.amount) or "") if counted else "",
                    report.amounts_in or "",
                ]
            )
    return rows


def record_read(
    db: Session,
    actor: StaffMember | str,
    action: str,
    moment: datetime,
    chosen: Slice,
    report: RollRates,
) -> None:
    """Audit one reading (a page, an export) of the roll rates: who, when, which period
    and slice. Does not commit."""
    trail.record(
        db,
        actor,
        action,
        moment,
        first=report.first.isoformat(),
        last=report.last.isoformat(),
        **chosen.as_json(),
    )


__all__ = [
    "RollRates",
    "Slice",
    "SliceChoices",
    "as_json",
    "csv_rows",
    "month_ends",
    "period_ending",
    "record_read",
    "roll_rates",
    "share_text",
    "slice_choices",
]
