"""What ``haohuan demo`` prepares before it serves, in order, as one function the command
and the tests share: the 35 named borrowers (four of them on autopay, charged by the
run), the book of 2,000 more (and a few plans that today's work breaks), the day's case
work, the staff accounts, the book's morning floor, today's events for the contact
strategy and its past 60 mornings, the owners (``haohuan cases assign``), 120 cases
resolved in the last two years, the past year's outcomes (plans kept, broken and lapsed,
promises, the contact gate's refusals) and the book's last 24 month-ends for the reports,
a late Taiwan case on the legal track up to the payment order (支付命令), fresh links,
last month's bank statement for the payouts page, and the partner agency's placed cases
with this morning's payments and their commission.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.demo import (
    agencies,
    agency_staff,
    autopay,
    book,
    chat,
    history,
    outcomes,
    reconciliation,
    seed,
    strategy,
    visits,
)
from portal.demo.disputes import seed_open_dispute
from portal.demo.finance import demo_finance_account
from portal.demo.funnel import seed_funnel
from portal.demo.legal import seed_legal_track
from portal.demo.payouts import DemoStatement, write_statement

# The named borrowers' generator seed: their figures are the same on every run.
NAMED_SEED = 20261130


@dataclass(frozen=True)
class Prepared:
    """What the command prints."""

    links: list[seed.DemoCase]
    finance: tuple[str, str]
    staff: list[tuple[str, str, str]]
    counts: book.Counts
    floor: book.Floor
    statement: DemoStatement | None = None


def prepare(
    db: Session, engine: Engine, today: date, now: datetime, folder: Path | None = None
) -> Prepared:
    """Seed the demo once (re-running adds nothing), work the day, give every open case
    an owner and issue fresh links and passwords; with a ``folder`` (the instance
    folder), write last month's bank statement there. Commits."""
    rng = random.Random(NAMED_SEED)  # noqa: S311 (demo data, not secrets)
    seed.seed(db, today, rng, now)
    db.commit()
    # Four named borrowers on autopay, charged by the run over the last few days.
    autopay.seed_autopay(db, today, now)
    # The book: 2,000 more cases in bulk, numbered after the named ones.
    written = book.seed_book(db, len(seed.PEOPLE), today, now)
    if written:
        # Plans long unpaid, which today's work breaks (the strategy's plan_broken step).
        strategy.seed_breaking_plans(db, len(seed.PEOPLE), today, now)
        # And plans with one payment missed, which today's work finds (plan_missed).
        strategy.seed_missing_plans(db, len(seed.PEOPLE), today, now)
    # Today's case work, as the daily job would do it: stages, misses, penalties.
    lifecycle.advance(engine, policy(), today, now)
    finance = demo_finance_account(db, now)
    seed_open_dispute(db, now)  # a chargeback for finance to answer, due a week ahead
    reconciliation.plant_discrepancies(db, now)  # for last month's reconciliation to find
    staff = seed.demo_staff_accounts(db, now)
    # Home visits: one recorded from the field form, one noticed and scheduled ahead.
    visits.seed_visits(db, len(seed.PEOPLE), today, now, folder)
    floor = book.Floor()
    if written:
        # The morning's floor on the book: plans, promises, holds, callbacks, opt-outs.
        floor = book.seed_floor(db, len(seed.PEOPLE), today, now, seed.demo_agents(db))
        # Today's events for the strategy's other steps, then its past mornings (today's
        # run is left to the tester: `haohuan strategy run`).
        strategy.seed_today(db, len(seed.PEOPLE), today, now, seed.demo_agents(db))
        strategy.seed_history(db, today, now)
        seed_funnel(db, now)  # the portal funnel's events, over the history's links
    # `haohuan cases assign`, as cron runs it after the daily work.
    seed.demo_assignment(db, engine, now)
    # The reports' past: cases that closed in it, then every case at each of the last 24
    # month-ends, as it stood then.
    history.seed_closed(db, len(seed.PEOPLE) + book.BOOK_SIZE, today, now)
    # Plans kept, broken and lapsed, promises and the gate's refusals in the last months
    # (the closed cases' settlements among them, so the history closes them then), the
    # demo's own agent among those who took them, so "My figures" means something to
    # whoever signs in with that account.
    outcomes.seed_outcomes(db, today, now, seed.demo_agents(db) + seed.demo_agent_account(db))
    # A late Taiwan case taken through the legal track up to the payment order (before
    # the month-ends: its court fee is on today's books).
    seed_legal_track(db, now)
    history.seed_month_ends(db, today)
    # The partner agency's placed cases, paid on this morning (one payment partly
    # refunded), and its commission booked: finance's statement for this month.
    agencies.seed_commission(db, len(seed.PEOPLE), now)
    # Its own staff account, printed with the others: it sees only those placed cases.
    staff.append(agency_staff.seed_agency_staff(db, len(seed.PEOPLE), now))
    # A borrower who linked LINE yesterday, and the reminder that went there.
    on_line = chat.seed_line_borrower(db, now)
    notes = autopay.notes(db)
    if on_line is not None:
        notes[on_line.id] = "linked LINE: her reminder is in the outbox as a LINE message"
    links = seed.demo_links(db, now, floor.showcase or book.showcase(db), notes)
    db.commit()
    # Last, from the sandbox's books as they now stand: the bank's deposits of the payouts
    # a run over last month stores (the payouts themselves come from the run, as in
    # production).
    statement = write_statement(db, folder, now) if folder is not None else None
    return Prepared(links, finance, staff, book.counts(db), floor, statement)
