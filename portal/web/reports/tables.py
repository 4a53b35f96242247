"""The portfolio page's tables as CSV, one address each (``/reports/portfolio/<name>.csv``),
besides the roll-rate matrix's and the liquidation cohorts' own exports: each table's name,
the section of the report it belongs to (who reads it follows the section:
``portal.reporting.book.AUDIENCES``; the agents' tables are the ``agents`` section's, read
with ``agents_report``), its header and its rows, reshaped from the services' figures.

As the other exports: codes, not words; counts as integers; shares as decimal strings of
six places (``share_text``); amounts in integer minor units with the formatted amount
beside them, one currency per row (never added across currencies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

from negotiation.portfolio import OPEN_BUCKETS
from portal.core.i18n import money
from portal.reporting import book
from portal.reporting.arrangements import CHANNELS as FIRST_PAYMENT_CHANNELS
from portal.reporting.arrangements import KINDS, Arrangements, PlanTally
from portal.reporting.book import AgentsReport, BookReport
from portal.reporting.contact import CHANNELS as CONTACT_CHANNELS
from portal.reporting.contact import REASONS, Contact
from portal.reporting.funnel import DEVICES, STEPS, Funnel
from portal.reporting.portfolio import share_text
from portal.reporting.promises import Promises, PromiseTally
from portal.reporting.slices import share

# The total row's key in the tables that have one ("All" on the page).
ALL = "all"

Row = Sequence[object]
SHARES = ("share", "amount_share")
Figures = TypeVar("Figures", BookReport, AgentsReport)
Part = TypeVar("Part")


@dataclass(frozen=True)
class Table(Generic[Figures]):
    """One table of the page: the section it belongs to, its CSV header, and its rows of
    the report that holds the section."""

    section: str
    header: tuple[str, ...]
    rows: Callable[[Figures], Iterable[Row]]


def _held(part: Part | None, section: str) -> Part:
    """A section of the report, which the table's reader asked for."""
    if part is None:
        raise ValueError(f"the report does not hold {section}")
    return part


def _share(value: Fraction | None) -> str:
    return share_text(value) or ""


def _amount(minor: int | None, currency: str) -> tuple[object, str]:
    """An amount's two cells: minor units, then formatted (both empty for none)."""
    if minor is None:
        return "", ""
    return minor, money(minor, currency)


# The roll rates per bucket ------------------------------------------------------------------


def _rates(report: BookReport) -> Iterator[Row]:
    """Per bucket at the first month-end: cured (back to current; none for current),
    rolled forward and rolled back, by cases and (in one currency) by amount."""
    found = report.roll_rates
    matrix, currency = found.matrix, found.amounts_in
    for first in OPEN_BUCKETS:
        cured = None if first is OPEN_BUCKETS[0] else matrix.rate(first, OPEN_BUCKETS[0])
        rates = (cured, matrix.roll_forward(first), matrix.roll_back(first))
        cells: list[object] = [first.value]
        for rate in rates:
            cells.append(_share(rate.cases) if rate is not None else "")
            cells.append(_share(rate.amount) if rate is not None and currency else "")
        yield (*cells, currency or "")


# Per rate, its share of the cases and of the amount.
RATE_HEADER = (
    "bucket",
    *(f"{rate}_{of}" for rate in ("cured", "rolled_forward", "rolled_back") for of in SHARES),
    "currency",
)

# Plans --------------------------------------------------------------------------------------

PLAN_COUNTS = ("accepted", "kept", "broken", "lapsed", "live", "kept_rate")


def _plans(report: BookReport) -> Arrangements:
    return _held(report.arrangements, book.PLANS)


def _tally(key: str, tally: PlanTally) -> Row:
    counts = (tally.accepted, tally.kept, tally.broken, tally.lapsed, tally.live)
    return (key, *counts, _share(tally.kept_rate))


def _tallies(keys: Sequence[str], tallies: Mapping[str, PlanTally], total: PlanTally) -> list[Row]:
    """A row per key in order, then the total (``all``), as the page's table."""
    return [*(_tally(key, tallies[key]) for key in keys), _tally(ALL, total)]


def _by_kind(report: BookReport) -> list[Row]:
    plans = _plans(report)
    return _tallies(KINDS, plans.by_kind, plans.total)


def _by_channel(report: BookReport) -> list[Row]:
    plans = _plans(report)
    return _tallies(FIRST_PAYMENT_CHANNELS, plans.by_channel, plans.total)


def _forgone(report: BookReport) -> Iterator[Row]:
    for row in _plans(report).forgone:
        yield (
            row.currency,
            row.plans,
            *_amount(row.discount, row.currency),
            *_amount(row.average_discount, row.currency),
            *_amount(row.waiver, row.currency),
            *_amount(row.average_waiver, row.currency),
        )


# Each amount in minor units, then formatted.
FORGONE_HEADER = (
    "currency",
    "plans",
    *(
        f"{amount}{unit}"
        for amount in ("discount", "average_discount", "waiver", "average_waiver")
        for unit in ("_minor", "")
    ),
)

# Promises -----------------------------------------------------------------------------------

PROMISE_COUNTS = ("made", "kept", "partly_kept", "broken", "open", "superseded")


def _promises(report: BookReport) -> Promises:
    return _held(report.promises, book.PROMISES)


def _counts(tally: PromiseTally) -> tuple[int, ...]:
    return tuple(getattr(tally, name) for name in PROMISE_COUNTS)


def _promised(report: BookReport) -> list[Row]:
    return [_counts(_promises(report).total)]


def _promised_by_agent(report: BookReport) -> Iterator[Row]:
    for agent in _promises(report).by_agent:
        yield (agent.made_by, agent.staff_id or "", agent.name or "", *_counts(agent.tally))


# Contact ------------------------------------------------------------------------------------


def _contact(report: BookReport) -> Contact:
    return _held(report.contact, book.CONTACT)


def _by_contact_channel(report: BookReport) -> list[Row]:
    found = _contact(report)
    rows: list[Row] = [
        (channel, found.attempts_by_channel[channel], found.opt_outs_by_channel[channel])
        for channel in CONTACT_CHANNELS
    ]
    return [*rows, (ALL, found.attempts, found.opt_outs)]


def _refusals(report: BookReport) -> list[Row]:
    found = _contact(report)
    return [(reason, found.refusals_by_reason[reason]) for reason in REASONS]


# The portal funnel --------------------------------------------------------------------------


def _funnel(report: BookReport) -> Funnel:
    return _held(report.funnel, book.FUNNEL)


def _steps(report: BookReport) -> Iterator[Row]:
    """Each step's cases and their share of the first step's (as the page's bars)."""
    steps = _funnel(report).steps()
    for step, cases in zip(STEPS, steps, strict=True):
        yield step, cases, _share(share(cases, steps[0]))


def _steps_by_language(report: BookReport) -> Iterator[Row]:
    found = _funnel(report)
    for language in found.languages:
        steps = found.steps(language=language)
        yield from ((language, step, cases) for step, cases in zip(STEPS, steps, strict=True))


def _steps_by_device(report: BookReport) -> Iterator[Row]:
    found = _funnel(report)
    for device in DEVICES:
        steps = found.steps(device=device)
        yield from ((device, step, cases) for step, cases in zip(STEPS, steps, strict=True))


# The agents ---------------------------------------------------------------------------------


def _agents(report: AgentsReport) -> Iterator[Row]:
    """One row per agent and currency of the plans they arranged (one with no currency
    for an agent who arranged none): money is never added across currencies."""
    for agent in report.agents.rows:
        figures = (
            agent.staff_id,
            agent.email,
            agent.name,
            "" if agent.owned is None else agent.owned,
            agent.worked,
            agent.attempts,
            agent.right_party_contacts,
            agent.promises.made,
            agent.promises.kept,
            agent.offers.made,
            agent.offers.beyond_authority,
            agent.offers.approved,
            agent.plans.accepted,
        )
        if not agent.money:
            yield (*figures, "", "", "", "", "", "")
        for row in agent.money:
            yield (
                *figures,
                row.currency,
                row.plans,
                *_amount(row.total, row.currency),
                *_amount(row.paid, row.currency),
            )


AGENT_HEADER = (
    "staff_id",
    "email",
    "name",
    "cases_owned",
    "cases_worked",
    "attempts",
    "right_party_contacts",
    "promises_made",
    "promises_kept",
    "offers_made",
    "offers_beyond_authority",
    "offers_approved",
    "plans_accepted",
    "currency",
    "plans_in_currency",
    "plans_total_minor",
    "plans_total",
    "paid_minor",
    "paid",
)


def _per_cure(report: AgentsReport) -> list[Row]:
    found = report.contacts_per_cure
    return [
        (
            found.cures,
            found.attempts,
            found.right_party_contacts,
            _share(found.attempts_per_cure),
            _share(found.right_party_contacts_per_cure),
        )
    ]


# The tables ---------------------------------------------------------------------------------

# Each table of the report's sections by its name in the address, in the page's order.
SECTION_TABLES: dict[str, Table[BookReport]] = {
    "rates": Table(book.ROLL_RATES, RATE_HEADER, _rates),
    "plans-by-kind": Table(book.PLANS, ("kind", *PLAN_COUNTS), _by_kind),
    "plans-by-channel": Table(book.PLANS, ("first_payment", *PLAN_COUNTS), _by_channel),
    "discount-and-waiver": Table(book.PLANS, FORGONE_HEADER, _forgone),
    "promises": Table(book.PROMISES, PROMISE_COUNTS, _promised),
    "promises-by-agent": Table(
        book.PROMISES, ("made_by", "staff_id", "name", *PROMISE_COUNTS), _promised_by_agent
    ),
    "contact-by-channel": Table(
        book.CONTACT, ("channel", "attempts", "opt_outs"), _by_contact_channel
    ),
    "refusals": Table(book.CONTACT, ("reason", "refusals"), _refusals),
    "funnel": Table(book.FUNNEL, ("step", "cases", "share_of_first_step"), _steps),
    "funnel-by-language": Table(book.FUNNEL, ("language", "step", "cases"), _steps_by_language),
    "funnel-by-device": Table(book.FUNNEL, ("device", "step", "cases"), _steps_by_device),
}
# The agents' tables (``agents_report``).
AGENT_TABLES: dict[str, Table[AgentsReport]] = {
    "agents": Table(book.AGENTS, AGENT_HEADER, _agents),
    "contacts-per-cure": Table(
        book.AGENTS,
        (
            "cures",
            "attempts",
            "right_party_contacts",
            "attempts_per_cure",
            "right_party_contacts_per_cure",
        ),
        _per_cure,
    ),
}
NAMES = (*SECTION_TABLES, *AGENT_TABLES)


def section_of(name: str) -> str:
    """The report section the table ``name`` (one of ``NAMES``) belongs to."""
    table = SECTION_TABLES.get(name) or AGENT_TABLES[name]
    return table.section


__all__ = ["AGENT_TABLES", "NAMES", "SECTION_TABLES", "Table", "section_of"]
