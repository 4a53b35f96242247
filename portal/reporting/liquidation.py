"""Recovery and liquidation: for each entry cohort (the cases that entered arrears at one
month-end), what they owed overdue at entry and what they paid back month by month since
(``negotiation.liquidation``), summed from the cells the month-ends counted once
(``portal.reporting.snapshots.count_liquidation``), never by reading a million cases'
payments. ``docs/reporting.md`` defines each figure.

A report covers the cohorts that entered from ``first`` to ``last`` (month-ends, both
included), each as it stood at ``last``: the newest has only its entry month, the oldest
up to ``snapshots.HORIZON`` months since. The slice is the case's at entry. Amounts are
per currency, never added across currencies.

Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from negotiation.liquidation import Cohort, cohorts_of
from portal.models import LiquidationCell
from portal.reporting.cells import period_months
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.snapshots import HORIZON

CELLS = cast(Table, LiquidationCell.__table__)


@dataclass(frozen=True)
class Liquidation:
    """The cohorts that entered from ``first`` to ``last`` (month-ends), as of ``last``:
    per currency (sorted), oldest cohort first."""

    first: date
    last: date
    by_currency: dict[str, list[Cohort]]

    @property
    def months(self) -> int:
        """The most months since entry any cohort shows (0 when there is none)."""
        return max(
            (
                cohort.points[-1].months
                for cohorts in self.by_currency.values()
                for cohort in cohorts
            ),
            default=0,
        )

    @property
    def empty(self) -> bool:
        """Whether no case entered arrears in the period."""
        return not self.by_currency


def liquidation(db: Session, first: date, last: date, chosen: Slice) -> Liquidation:
    """The cohorts that entered from ``first`` to ``last`` for ``chosen``, as of
    ``last``: one grouped read of the counted cells (by currency, cohort and months)."""
    columns = CELLS.c
    rows = db.execute(
        select(
            columns.currency,
            columns.cohort,
            columns.months,
            func.sum(columns.cases),
            func.sum(columns.overdue),
            func.sum(columns.collected),
            func.sum(columns.recovered),
        )
        .where(
            columns.cohort >= first,
            columns.cohort <= last,
            columns.month_end <= last,
            *chosen.conditions(CELLS),
        )
        .group_by(columns.currency, columns.cohort, columns.months)
    ).all()
    return Liquidation(first, last, cohorts_of(tuple(row) for row in rows))


def of_pairs(db: Session, first: date, last: date, chosen: Slice) -> Liquidation:
    """The cohorts of the month pairs from ``first`` to ``last`` (their first
    month-ends): those that entered at the month-ends after ``first`` up to the last
    pair's second, as of that one (the pairs' days, as the other figures count them)."""
    return liquidation(db, *period_months(first, last), chosen)


def as_json(report: Liquidation) -> dict[str, Any]:
    """``report`` under the key ``liquidation``: the cohorts' range, and per currency
    each cohort's cases and overdue at entry and, per month since entry, what had been
    collected and recovered by then and the liquidation rate (recovered over overdue at
    entry, a decimal string of six places)."""
    currencies = {
        currency: [
            {
                "cohort": cohort.entered.isoformat(),
                "cases": cohort.cases,
                "overdue_at_entry": cohort.overdue,
                "months": [
                    {
                        "months": point.months,
                        "collected": point.collected,
                        "recovered": point.recovered,
                        "rate": share_text(point.rate),
                    }
                    for point in cohort.points
                ],
            }
            for cohort in cohorts
        ]
        for currency, cohorts in report.by_currency.items()
    }
    return {
        "liquidation": {
            "first_cohort": report.first.isoformat(),
            "last_cohort": report.last.isoformat(),
            "horizon": HORIZON,
            "by_currency": currencies,
        }
    }


CSV_HEADER = (
    "cohort",
    "months_since_entry",
    "currency",
    "cases",
    "overdue_at_entry",
    "collected",
    "recovered",
    "rate",
)


def csv_rows(report: Liquidation) -> list[tuple[Any, ...]]:
    """The cohort table as CSV rows (after ``CSV_HEADER``): one per cohort, currency and
    month since entry, amounts in minor units, the rate as a decimal string."""
    return [
        (
            cohort.entered.isoformat(),
            point.months,
            currency,
            point.cases,
            point.overdue,
            point.collected,
            point.recovered,
            share_text(point.rate) or "",
        )
        for currency, cohorts in report.by_currency.items()
        for cohort in cohorts
        for point in cohort.points
    ]


__all__ = ["CSV_HEADER", "Liquidation", "as_json", "csv_rows", "liquidation", "of_pairs"]
