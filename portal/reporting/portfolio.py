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

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, distinct, func, select
from sqlalchemy.orm import Session

from negotiation.portfolio import Matrix, matrix_of
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

    def conditions(self) -> list[ColumnElement[bool]]:
        """The transitions of this slice, as WHERE conditions."""
        columns = TRANSITIONS.c
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


__all__ = ["RollRates", "Slice", "SliceChoices", "month_ends", "roll_rates", "slice_choices"]
