"""The whole report a manager reads first, for one period and slice: the roll rates of its
month pairs (``portfolio``) and, over the same calendar days, the plans, promises,
contact and the portal's funnel (``arrangements``, ``promises``, ``contact``,
``funnel``), the contact the cured cases took (``contacts_per_cure``, over the month
pairs) and what each agent achieved (``agents``). ``haohuan report portfolio --format
json`` prints ``as_json``.

The days of a period of month pairs run from the day after its first month-end to its
last pair's second month-end, both included: the pairs from 2026-09-30 to 2026-10-31
are October and November, 2026-10-01 to 2026-11-30, in the finance time zone.

Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.reporting import agents, arrangements, contact, cures, funnel, portfolio, promises
from portal.reporting.portfolio import RollRates, Slice
from portal.reporting.snapshots import month_end_of


@dataclass(frozen=True)
class BookReport:
    """Every figure of one period and slice."""

    first_day: date
    last_day: date
    chosen: Slice
    roll_rates: RollRates
    arrangements: arrangements.Arrangements
    promises: promises.Promises
    contact: contact.Contact
    funnel: funnel.Funnel
    # None when not asked for (the portfolio page reads them apart: slow at a million).
    contacts_per_cure: cures.ContactsPerCure | None = None
    agents: agents.Agents | None = None


def days_of(first: date, last: date) -> tuple[date, date]:
    """The calendar days of the month pairs from ``first`` to ``last`` (month-ends)."""
    return first + timedelta(days=1), month_end_of(last + timedelta(days=1))


def book_report(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    zone: ZoneInfo,
    *,
    with_agents: bool = True,
) -> BookReport:
    """The roll rates of the pairs from ``first`` to ``last`` and the other figures over
    their days, for ``chosen``; without ``with_agents``, not the agents' figures nor
    contacts per cure (``agents_report`` reads them)."""
    first_day, last_day = days_of(first, last)
    return BookReport(
        first_day=first_day,
        last_day=last_day,
        chosen=chosen,
        roll_rates=portfolio.roll_rates(db, first, last, chosen),
        arrangements=arrangements.arrangements(db, first_day, last_day, zone, chosen),
        promises=promises.promises(db, first_day, last_day, zone, chosen),
        contact=contact.contact(db, first_day, last_day, zone, chosen),
        funnel=funnel.funnel(db, first_day, last_day, zone, chosen),
        contacts_per_cure=(
            cures.contacts_per_cure(db, first, last, zone, chosen) if with_agents else None
        ),
        agents=agents.agents(db, first_day, last_day, zone, chosen) if with_agents else None,
    )


@dataclass(frozen=True)
class AgentsReport:
    """The agents' figures and contacts per cure of one period and slice."""

    first_day: date
    last_day: date
    contacts_per_cure: cures.ContactsPerCure
    agents: agents.Agents


def agents_report(
    db: Session, first: date, last: date, chosen: Slice, zone: ZoneInfo
) -> AgentsReport:
    """The agents' figures over the days of the pairs from ``first`` to ``last``, and
    contacts per cure over those pairs, for ``chosen``."""
    first_day, last_day = days_of(first, last)
    return AgentsReport(
        first_day,
        last_day,
        cures.contacts_per_cure(db, first, last, zone, chosen),
        agents.agents(db, first_day, last_day, zone, chosen),
    )


def as_json(report: BookReport) -> dict[str, Any]:
    """The report's figures under their keys: ``roll_rates``, ``cure_rate``,
    ``roll_forward``, ``roll_back``, ``plans`` (by kind) and the other arrangement
    figures, ``promises``, ``contact``, ``funnel``, ``contacts_per_cure`` and
    ``agents``, with the period's days."""
    figures = portfolio.as_json(report.roll_rates, report.chosen)
    figures["days"] = {
        "first": report.first_day.isoformat(),
        "last": report.last_day.isoformat(),
    }
    parts = (
        report.arrangements,
        report.promises,
        report.contact,
        report.funnel,
        report.contacts_per_cure,
        report.agents,
    )
    for part in (part for part in parts if part is not None):
        figures.update(part.as_json())
    return figures


__all__ = ["AgentsReport", "BookReport", "agents_report", "as_json", "book_report", "days_of"]
