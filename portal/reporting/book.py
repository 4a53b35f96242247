"""The whole report a manager reads first, for one period and slice: the roll rates of its
month pairs (``portfolio``) and, over the same calendar days, the plans, promises,
contact and the portal's funnel (``arrangements``, ``promises``, ``contact``,
``funnel``), the liquidation curves of the cohorts that entered arrears at the period's
month-ends after its first (``liquidation``), the contact the cured cases took
(``contacts_per_cure``, over the month pairs) and what each agent achieved
(``agents``: a section of its own, with contacts per cure; the page reads it apart,
``agents_report``).
``haohuan report portfolio --format json`` prints ``as_json``.

Who reads which sections is decided here, once (``AUDIENCES``): supervisors and admins
every section; finance the money figures (``MONEY``: the roll rates with their amounts,
the liquidation curves and the arrangements' money), not the promises by agent, the
contact or the funnel, nor the agents' figures and contacts per cure, nor the book sliced
by owner or team. A section not read is not computed.
A new section is named in ``SECTIONS`` and, when it is a money figure, in ``MONEY``.

The days of a period of month pairs run from the day after its first month-end to its
last pair's second month-end, both included: the pairs from 2026-09-30 to 2026-10-31
are October and November, 2026-10-01 to 2026-11-30, in the finance time zone.

Reads only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from portal.core.db import without_jit
from portal.reporting import (
    agents,
    arrangements,
    contact,
    cures,
    funnel,
    liquidation,
    portfolio,
    promises,
)
from portal.reporting.cells import days_of
from portal.reporting.portfolio import RollRates, Slice

ROLL_RATES = "roll_rates"
PLANS = "plans"
PROMISES = "promises"
CONTACT = "contact"
FUNNEL = "funnel"
LIQUIDATION = "liquidation"
# What each agent achieved, and the contacts per cure.
AGENTS = "agents"
# Every section of the report, in the page's order.
SECTIONS = (ROLL_RATES, LIQUIDATION, PLANS, PROMISES, CONTACT, FUNNEL, AGENTS)
# The money figures: what the book's amounts did (the roll rates, by amount too, and what
# each cohort's arrears brought back) and what the arrangements brought and gave (plans
# by kind, discount and waiver, settlement rate). Not the people's work (promises by
# agent), the contact, nor the portal's use.
MONEY = frozenset({ROLL_RATES, LIQUIDATION, PLANS})


@dataclass(frozen=True)
class Audience:
    """Who reads the report, the sections they may read (``code``: ``all`` or
    ``money``), and whether they may slice the book by the people who work it (owner and
    team: a slice by agent is a figure of that agent's work, not of money)."""

    code: str
    sections: frozenset[str]
    by_people: bool = True

    def sees(self, section: str) -> bool:
        """Whether this audience reads ``section``."""
        return section in self.sections


EVERYTHING = Audience("all", frozenset(SECTIONS))
MONEY_ONLY = Audience("money", MONEY, by_people=False)
# Each role that reads the report and what it reads, the widest first: a member holding
# several roles reads as the widest of them.
AUDIENCES: tuple[tuple[str, Audience], ...] = (
    ("supervisor", EVERYTHING),
    ("admin", EVERYTHING),
    ("finance", MONEY_ONLY),
)
# The roles that may read the report at all.
READERS = tuple(role for role, _ in AUDIENCES)


def audience_for(roles: Iterable[str]) -> Audience | None:
    """What a member holding ``roles`` reads of the report; None: nothing."""
    held = set(roles)
    return next((audience for role, audience in AUDIENCES if role in held), None)


@dataclass(frozen=True)
class BookReport:
    """The figures of one period and slice: the roll rates always, the other sections
    when asked for (None when not)."""

    first_day: date
    last_day: date
    chosen: Slice
    roll_rates: RollRates
    sections: frozenset[str] = frozenset(SECTIONS)
    arrangements: arrangements.Arrangements | None = None
    promises: promises.Promises | None = None
    contact: contact.Contact | None = None
    funnel: funnel.Funnel | None = None
    liquidation: liquidation.Liquidation | None = None
    # None when not asked for (the portfolio page reads them apart: slow at a million).
    contacts_per_cure: cures.ContactsPerCure | None = None
    agents: agents.Agents | None = None

    def shows(self, section: str) -> bool:
        """Whether the report holds ``section`` (one of ``SECTIONS``)."""
        return section in self.sections


def book_report(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    sections: Collection[str] = SECTIONS,
) -> BookReport:
    """The roll rates of the pairs from ``first`` to ``last`` and the other figures of
    ``sections`` (every one by default; an audience's ``sections``) over their days, for
    ``chosen``. The roll rates are always read: they name the period."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown report sections: {', '.join(sorted(unknown))}")
    wanted = frozenset(sections) | {ROLL_RATES}
    first_day, last_day = days_of(first, last)
    # Its statements sum a year of cells (tens of thousands of rows a month at a million
    # cases): the planner's estimates can still pass ``jit_above_cost``, and compiling a
    # statement costs more than running it.
    without_jit(db)
    return BookReport(
        first_day=first_day,
        last_day=last_day,
        chosen=chosen,
        roll_rates=portfolio.roll_rates(db, first, last, chosen),
        sections=wanted,
        arrangements=(
            arrangements.arrangements(db, first, last, chosen) if PLANS in wanted else None
        ),
        promises=(promises.promises(db, first, last, chosen) if PROMISES in wanted else None),
        contact=contact.contact(db, first, last, chosen) if CONTACT in wanted else None,
        funnel=funnel.funnel(db, first, last, chosen) if FUNNEL in wanted else None,
        liquidation=(
            liquidation.of_pairs(db, first, last, chosen) if LIQUIDATION in wanted else None
        ),
        contacts_per_cure=(
            cures.contacts_per_cure(db, first, last, chosen) if AGENTS in wanted else None
        ),
        agents=agents.agents(db, first, last, chosen) if AGENTS in wanted else None,
    )


@dataclass(frozen=True)
class AgentsReport:
    """The agents' figures and contacts per cure of one period and slice."""

    first_day: date
    last_day: date
    contacts_per_cure: cures.ContactsPerCure
    agents: agents.Agents


def agents_report(db: Session, first: date, last: date, chosen: Slice) -> AgentsReport:
    """The agents' figures and contacts per cure over the pairs from ``first`` to
    ``last``, for ``chosen``."""
    first_day, last_day = days_of(first, last)
    without_jit(db)
    return AgentsReport(
        first_day,
        last_day,
        cures.contacts_per_cure(db, first, last, chosen),
        agents.agents(db, first, last, chosen),
    )


def as_json(report: BookReport) -> dict[str, Any]:
    """The report's figures under their keys: ``roll_rates``, ``cure_rate``,
    ``roll_forward``, ``roll_back``, ``plans`` (by kind) and the other arrangement
    figures, ``promises``, ``contact``, ``funnel``, ``liquidation``,
    ``contacts_per_cure`` and ``agents``, with the period's days (the sections the report
    holds)."""
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
    if report.liquidation is not None:
        figures.update(liquidation.as_json(report.liquidation))
    return figures


__all__ = [
    "AGENTS",
    "AUDIENCES",
    "EVERYTHING",
    "MONEY",
    "MONEY_ONLY",
    "READERS",
    "SECTIONS",
    "AgentsReport",
    "Audience",
    "BookReport",
    "agents_report",
    "as_json",
    "audience_for",
    "book_report",
    "days_of",
]
