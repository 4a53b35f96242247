"""The supervisors' strategy page (``portal.strategy.reporting.step_report``) over a large
book, on PostgreSQL.

Seeds a database of its own (``bench_strategy``, created for the run and dropped after
it) with ``--cases`` cases as ``assign.py`` does, the default strategy as version 1, and
``--per-day`` planned steps a day for two weeks (``strategy_steps``: every step of the
default strategy, the day-1 SMS split between the experiment's two arms, statuses and
skip reasons spread by the row number), three in five of the messages-to-be with a
message row (sent, failed, canceled or waiting). Then times, for the second week (the
lender's week, Monday to Sunday, as on a Sunday):

* a bare ``count(*)`` of the week's planned steps: the floor any report pays;
* ``step_report``: its two grouped reads (counts, messages' outcomes) and the folding;
* the same report built naively, one count query per step, per arm and per status.

It prints each time, the report's ratio to the floor and the naive loop's to the report.

    .venv/bin/python bench/strategy_report.py [--cases 1000000] [--per-day 150000]
        [--runs 3] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta

from _common import postgres_database, postgres_unreachable
from assign import NOW, seeded
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from negotiation.strategy import default_document, load_strategy
from portal.models import PlannedStatus, PlannedStep
from portal.strategy import reporting, versions

SUNDAY = date(2026, 12, 13)
MONDAY = SUNDAY - timedelta(days=6)
FIRST_DAY = MONDAY - timedelta(days=7)
STEPS = [step.name for step in load_strategy(default_document()).steps]
REASONS = ["stage", "opened", "open_promise", "has_plan", "on_hold", "opted_out", "no_channel"]


def seed_steps(engine: Engine, cases: int, per_day: int) -> int:
    """Two weeks of planned steps and their messages; returns the rows written."""
    with Session(engine) as session:
        versions.in_force(session, default_document(), NOW)
        session.commit()
    total = per_day * 14
    steps = "ARRAY[" + ", ".join(f"'{name}'" for name in STEPS) + "]"
    reasons = "ARRAY[" + ", ".join(f"'{name}'" for name in REASONS) + "]"
    with engine.begin() as conn:
        # The names are this file's constants; the numbers are bound.
        conn.execute(
            text(
                f"""
                INSERT INTO strategy_steps (id, case_id, step, occurrence, as_of, version,
                    variant, channel, template, status, reason, send_at, planned_at)
                SELECT i, 1 + (i::bigint * 7919) % :cases,
                    ({steps})[1 + i % {len(STEPS)}], 'o' || i,
                    DATE '{FIRST_DAY.isoformat()}' + (i % 14),
                    1,
                    CASE WHEN ({steps})[1 + i % {len(STEPS)}] = 'overdue_1_sms' THEN
                        CASE WHEN i % 5 = 0 THEN 'day1-plan-first:plan-first'
                             ELSE 'day1-plan-first:champion' END END,
                    'sms', 'reminder',
                    (ARRAY['queued','queued','deferred','task','skipped'])[1 + (i / 14) % 5],
                    CASE WHEN (i / 14) % 5 = 4 THEN ({reasons})[1 + i % {len(REASONS)}] END,
                    :now, :now
                FROM generate_series(1, :total) AS i
                """  # noqa: S608
            ),
            {"cases": cases, "total": total, "now": NOW},
        )
        conn.execute(
            text(
                """
                INSERT INTO messages (id, case_id, borrower_id, channel, purpose, address,
                    locale, status, send_at, created_by, created_at)
                SELECT s.id, s.case_id, s.case_id, 'sms', 'reminder', '+886900000000',
                    'zh_Hant_TW',
                    (ARRAY['sent','sent','failed','cancelled','scheduled'])[1 + s.id % 5],
                    :now, 'strategy', :now
                FROM strategy_steps s
                WHERE s.status IN ('queued', 'deferred') AND s.id % 5 < 3
                """
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "UPDATE strategy_steps SET message_id = id "
                "WHERE status IN ('queued', 'deferred') AND id % 5 < 3"
            )
        )
        conn.execute(text("SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE strategy_steps"))
        conn.execute(text("VACUUM ANALYZE messages"))
    return total


def _best(runs: int, work: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def naive(session: Session) -> int:
    """One count per step, per arm and per status, for today and for the week: what a
    page built step by step would run."""
    strategy = load_strategy(default_document())
    found = 0
    for step in strategy.all_steps():
        variants: list[str | None] = [None]
        if step.name == "overdue_1_sms":
            variants = ["day1-plan-first:champion", "day1-plan-first:plan-first"]
        for variant in variants:
            for status in PlannedStatus:
                for first in (SUNDAY, MONDAY):
                    query = select(func.count()).where(
                        PlannedStep.step == step.name,
                        PlannedStep.status == status,
                        PlannedStep.as_of.between(first, SUNDAY),
                    )
                    if variant is not None:
                        query = query.where(PlannedStep.variant == variant)
                    found += session.scalar(query) or 0
    return found


def measure(
    engine: Engine, cases: int, per_day: int, runs: int
) -> tuple[int, int, float, float, float, reporting.StrategyReport]:
    """Seed the planned steps, then the three timings (see the module docstring)."""
    rows = seed_steps(engine, cases, per_day)
    strategy = load_strategy(default_document())
    with Session(engine) as session:
        week = PlannedStep.as_of.between(MONDAY, SUNDAY)
        in_week = session.scalar(select(func.count()).where(week)) or 0
        floor = _best(runs, lambda: session.scalar(select(func.count()).where(week)))
        report_time = _best(runs, lambda: reporting.step_report(session, strategy, SUNDAY, MONDAY))
        report = reporting.step_report(session, strategy, SUNDAY, MONDAY)
        naive_time = _best(1, lambda: naive(session))
    return rows, in_week, floor, report_time, naive_time, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--per-day", type=int, default=150_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    arguments = parser.parse_args()
    problem = postgres_unreachable(arguments.postgres_url)
    if problem:
        sys.exit(f"PostgreSQL is not reachable: {problem}")
    with postgres_database(arguments.postgres_url, "bench_strategy") as url:
        started = time.perf_counter()
        engine = seeded(url, arguments.cases, 1_000_000)
        try:
            figures = measure(engine, arguments.cases, arguments.per_day, arguments.runs)
        finally:
            engine.dispose()  # the database is dropped next: no connection may stay
        print(f"(seeded and measured in {time.perf_counter() - started:.1f} s)")
    rows, in_week, floor, report_time, naive_time, report = figures
    print(f"the week's planned steps: {in_week:,} of {rows:,}")
    print(f"count(*) of the week (the floor)   {floor:7.3f} s")
    print(
        f"step_report (two grouped reads)    {report_time:7.3f} s   "
        f"{report_time / floor:.1f}x the floor"
    )
    print(
        f"naive: a count per step/arm/status {naive_time:7.3f} s   "
        f"{naive_time / report_time:.1f}x the report"
    )
    print(
        f"report: {len(report.steps)} steps, today {report.total.today.total:,} planned, "
        f"the week {report.total.week.total:,} ({report.total.week.reached:,} reached, "
        f"{report.total.week.skipped:,} skipped), messages sent {report.total.messages.sent:,}"
    )


if __name__ == "__main__":
    main()
