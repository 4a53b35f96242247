"""Experiment results (``portal.strategy.results.results``) over 100,000 assignments.

Seeds a portfolio the way ``bench/lifecycle.py`` does (PostgreSQL: a database
``bench_strategy_results`` created for the run and dropped after it), works the settling
and the typical day (their "nothing overdue any more" events are the cures), then assigns
every case to the default strategy's experiment (champion 80%, plan-first 20%, by a hash
of the case) at moments spread over the last 90 days, each owing 300,000 minor units,
and adds what the borrowers did: a reminder link per case, a successful verification for
two cases in five, an opt-out for one in 33, a dispute for one in 97. Then measures the
results twice (cold, warm) and prints the seconds, the SQL statements run and the rows
they read back.

    .venv/bin/python bench/strategy_results.py [--cases 100000]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta

from _common import ROOT, postgres_unreachable
from lifecycle import SETTLE, TYPICAL, database, load, morning, prepared, timed_day
from sqlalchemy import event, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))

from negotiation import load_policy
from negotiation.strategy import default_document, digest, load_strategy
from portal.strategy.results import results

BENCH_DATABASE = "bench_strategy_results"


def engage(session: Session) -> dict[str, int]:
    """The strategy version, every case's assignment, and what the borrowers did."""
    document = default_document()
    now = morning(TYPICAL)
    session.execute(
        text(
            "INSERT INTO strategy_versions (version, name, digest, document, source,"
            " created_by, created_at) VALUES (1, 'default', :digest, CAST(:document AS json),"
            " 'file', 'file', :at)"
        ),
        {"digest": digest(document), "document": json.dumps(document), "at": now},
    )
    steps = [
        # Every case, 20% in the challenger by a hash of its id, assigned 0 to 89 days ago.
        "INSERT INTO experiment_assignments (experiment, arm, case_id, version, assigned_at,"
        " as_of, arrears, currency) SELECT 'day1-plan-first', CASE WHEN"
        " abs(hashint8(c.id)) % 100 < 20 THEN 'plan-first' ELSE 'champion' END, c.id, 1,"
        " :now - (c.id % 90) * interval '1 day', CAST(:now - (c.id % 90) * interval '1 day'"
        " AS date), 300000, l.currency FROM cases c JOIN loans l ON l.id = c.loan_id",
        "INSERT INTO reminder_links (case_id, token_hash, purpose, created_at, expires_at,"
        " session_generation, failed_attempts) SELECT a.case_id, md5(a.case_id::text) ||"
        " md5('x' || a.case_id), 'status', a.assigned_at, a.assigned_at + interval '7 days',"
        " 0, 0 FROM experiment_assignments a",
        "INSERT INTO verification_attempts (borrower_id, link_id, address_hash, succeeded, at)"
        " SELECT l.borrower_id, r.id, repeat('0', 64), true, r.created_at + (r.case_id % 5)"
        " * interval '1 day' FROM reminder_links r JOIN cases c ON c.id = r.case_id JOIN"
        " loans l ON l.id = c.loan_id WHERE r.case_id % 5 < 2",
        "INSERT INTO opt_outs (borrower_id, channel, at, source) SELECT l.borrower_id, 'sms',"
        " a.assigned_at + interval '2 days', 'link' FROM experiment_assignments a JOIN cases c"
        " ON c.id = a.case_id JOIN loans l ON l.id = c.loan_id WHERE a.case_id % 33 = 0",
        "INSERT INTO case_holds (case_id, kind, status, details, placed_at, placed_by)"
        " SELECT a.case_id, 'dispute', 'active', '', a.assigned_at + interval '5 days',"
        " 'borrower' FROM experiment_assignments a JOIN cases c ON c.id = a.case_id"
        " WHERE a.case_id % 97 = 0 AND c.hold IS NULL",
    ]
    for statement in steps:
        session.execute(text(statement), {"now": now})
    session.commit()
    session.execute(text("ANALYZE"))
    tables = ("experiment_assignments", "verification_attempts", "case_events", "payments")
    return {
        table: int(session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608
        for table in tables
    }


def main() -> None:
    """Parse the command line, seed, measure twice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    policy = load_policy()
    print(f"postgres, {args.cases:,} cases; {load()}")
    with database("postgres", args.postgres_url, BENCH_DATABASE) as url:
        engine = prepared(url, args.cases, policy, quiet=True)
        try:
            timed_day(engine, policy, TYPICAL)
            with Session(engine) as session:
                counts = engage(session)
            print(", ".join(f"{table} {count:,}" for table, count in counts.items()))
            strategy = load_strategy(default_document())
            statements: list[float] = []  # each statement's seconds, in order

            def started(*_: object) -> None:
                statements.append(time.perf_counter())

            def finished(*_: object) -> None:
                statements[-1] = time.perf_counter() - statements[-1]

            event.listen(engine, "before_cursor_execute", started)
            event.listen(engine, "after_cursor_execute", finished)
            moment = morning(TYPICAL) + timedelta(hours=1)
            for label in ("cold", "warm"):
                statements.clear()
                with Session(engine) as session:
                    begun = time.perf_counter()
                    found = results(session, strategy, TYPICAL, moment)
                    seconds = time.perf_counter() - begun
                (experiment,) = found
                arms = ", ".join(
                    f"{arm.name} {arm.cases:,} cases, {arm.outcomes['paid_30d'].mature:,}"
                    f" mature for paid_30d"
                    for arm in experiment.arms
                )
                verdicts = {c.outcome: c.verdict.value for c in experiment.comparisons}
                print(f"{label:<5} {seconds:.2f} s, {len(statements)} SQL statements; {arms}")
                # In order: the experiments, cases per arm, mature per outcome, the five
                # rate outcomes, the shares paid (one row per mature case).
                print(f"      statements: {', '.join(f'{s:.2f}' for s in statements)} s")
                print(f"      verdicts: {verdicts}")
        finally:
            engine.dispose()
    print(f"settling day {SETTLE}, measured at {moment:%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
