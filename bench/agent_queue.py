"""The agent queue at 1,000,000 cases (PostgreSQL): the overdue-amount filter, the
balance sort, phone search (whole and last four digits), a loan number's end, against the
default first page in the same run, each the p95 of ``--runs`` runs (after one warm-up).

Builds the portfolio as ``bench/lifecycle.py``'s ``prepared`` does (in a database of its
own, dropped afterwards) with ``bench/console.py``'s phones and contact log, then works
the typical day's case work (which moves the stored overdue amounts on, as each morning's
run does), or measures an existing database (``--url``, left as it is but for
``--refresh``). Writes the EXPLAIN ANALYZE plan of each query's slowest statement to
``bench/explain/queue_<name>.txt`` (``--explain``).

    .venv/bin/python bench/agent_queue.py [--cases 1000000] [--runs 20] [--explain]
        [--url postgresql://…/existing [--refresh]]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, postgres_database, postgres_unreachable
from _compare import Row, table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from console import MOMENT, SOUGHT, Statements, seed_contact
from lifecycle import TYPICAL, analyze, prepared, timed_day

from negotiation import load_policy
from portal import create_app
from portal.cases.queue import page_of, parse_filter

GOAL_MS = 300.0
EXPLAIN = Path(__file__).resolve().parent / "explain"
BASELINE = "default"


def queries(count: int) -> list[tuple[str, str, dict[str, str]]]:
    """Each query measured: its file name, its label and its query string."""
    sought = min(SOUGHT, count)
    digits = f"{sought:08d}"
    return [
        (BASELINE, "default first page (overdue, most days first)", {}),
        (
            "amount_filter",
            "overdue amount 5,000-50,000 TWD",
            {"min": "5000", "max": "50000", "currency": "TWD"},
        ),
        ("amount_from", "overdue amount from 1 TWD", {"min": "1", "currency": "TWD"}),
        ("balance_sort", "sort by overdue amount", {"sort": "balance"}),
        (
            "balance_sort_all",
            "sort by overdue amount, all cases",
            {"sort": "balance", "dpd": "all"},
        ),
        (
            "phone_full",
            "phone search, whole number as written locally",
            {"dpd": "all", "q": f"09{digits[:2]} {digits[2:5]} {digits[5:]}"},
        ),
        ("phone_last4", "phone search, last 4 digits", {"dpd": "all", "q": digits[-4:]}),
        ("loan_suffix", "loan number's end", {"dpd": "all", "q": f"N-{sought:09d}"[-8:]}),
    ]


def p95_ms(run: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """The p95 and median milliseconds of ``runs`` runs (after one unmeasured run that
    warms the caches), and the last run's result."""
    result = run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[max(0, math.ceil(0.95 * len(times)) - 1)], times[len(times) // 2], result


def measure(
    app: Any,
    engine: Engine,
    count: int,
    runs: int,
    explain_to: Path | None,
    only: set[str] | None = None,
) -> dict[str, tuple[str, float, float, int]]:
    """Each query (or those named in ``only``): its label, p95 and median milliseconds,
    and the cases it found."""
    statements = Statements()
    statements.attach(engine)
    found: dict[str, tuple[str, float, float, int]] = {}
    for name, label, args in queries(count):
        if only is not None and name not in only:
            continue
        with app.test_request_context("/agent/"), Session(engine) as db:

            def one(db: Session = db, args: dict[str, str] = args) -> Any:
                chosen, problems = parse_filter(args)
                if problems:
                    raise SystemExit(f"the queue refused {args}: {problems}")
                page = page_of(db, chosen, MOMENT)
                db.rollback()
                return page

            p95, median, page = p95_ms(one, runs)
            with statements.capture() as seen:
                one()
        total = page.total  # type: ignore[attr-defined]
        found[name] = (label, p95, median, total)
        print(
            f"  {label:<48} p95 {p95:8.1f} ms  median {median:8.1f} ms  {total:>9,} cases",
            flush=True,
        )
        if explain_to is not None:
            explain_to.mkdir(exist_ok=True)
            lines = [f"-- {label}: {args}", f"-- p95 {p95:.1f} ms, median {median:.1f} ms", ""]
            for seconds, statement, parameters in sorted(seen, key=lambda s: -s[0]):
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                if "set_config(" in statement:
                    continue  # the queue's settings for its transaction (JIT off)
                lines += [f"-- statement, {seconds * 1000:.1f} ms", statement, ""]
                lines += explain_queue(engine, statement, parameters)
                lines.append("")
            (explain_to / f"queue_{name}.txt").write_text("\n".join(lines) + "\n")
    return found


def explain_queue(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The executed plan of one of the queue's statements with its buffers, JIT off as
    ``page_of`` sets it (``portal.cases.queue._without_jit``)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL jit = off")
        rows = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
        )
        return [row[0] for row in rows]


def rows(found: dict[str, tuple[str, float, float, int]]) -> list[Row]:
    """One row per query: its p95 against the default page's, goal under 300 ms."""
    baseline = found[BASELINE][1]
    return [
        Row(
            f"agent queue at 1M: {label}",
            f"p95 {p95:.0f} ms",
            f"default page p95 {baseline:.0f} ms",
            p95 / baseline if baseline else None,
            f"< {GOAL_MS:.0f} ms p95",
            p95 < GOAL_MS,
        )
        for label, p95, _median, _total in found.values()
    ]


def refresh_arrears(engine: Engine) -> None:
    """What the morning's case work does for the stored overdue amounts at ``MOMENT``
    (on a database seeded before they existed, or by plain SQL)."""
    from portal.cases.arrears import refresh_stale

    started = time.perf_counter()
    with engine.begin() as conn:
        refreshed = refresh_stale(conn, MOMENT)
    analyze(engine)
    seconds = time.perf_counter() - started
    print(f"refreshed    {refreshed:,} stored overdue amounts in {seconds:.1f} s")


def compare_rows(
    admin_url: str, million_url: str | None = None, runs: int = 20, explain_to: Path | None = None
) -> list[Row]:
    """The queue's rows of ``make bench-compare``: on ``million_url`` (a database of
    1,000,000 cases as this script builds it) or on one built here and dropped."""
    if million_url is not None:
        app = create_app({"DATABASE_URL": million_url})
        engine: Engine = app.extensions["haohuan.engine"]
        try:
            return rows(measure(app, engine, 1_000_000, runs, explain_to))
        finally:
            engine.dispose()
    with postgres_database(admin_url, "bench_queue") as url:
        engine = build(url, 1_000_000)
        try:
            app = create_app({"DATABASE_URL": url})
            return rows(measure(app, engine, 1_000_000, runs, explain_to))
        finally:
            engine.dispose()


def build(url: str, count: int) -> Engine:
    """``count`` cases as the lifecycle bench prepares them, with the console bench's
    phones and contact log, after the typical day's case work; its engine."""
    policy = load_policy()
    engine = prepared(url, count, policy)
    seed_contact(engine)
    timed_day(engine, policy, TYPICAL)
    analyze(engine)
    return engine


def main() -> None:
    """Parse the command line, build or open the database, measure, print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--explain", action="store_true", help=f"write plans to {EXPLAIN}")
    parser.add_argument("--url", help="measure this existing database (not dropped)")
    parser.add_argument("--only", help="the queries to measure, by file name, comma-separated")
    parser.add_argument(
        "--refresh", action="store_true", help="with --url: the morning's arrears refresh first"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    explain_to = EXPLAIN if args.explain else None
    print(f"postgres, {args.cases:,} cases, p95 of {args.runs} runs")
    if args.url:
        app = create_app({"DATABASE_URL": args.url})
        engine = app.extensions["haohuan.engine"]
        if args.refresh:
            refresh_arrears(engine)
        try:
            only = set(args.only.split(",")) if args.only else None
            found = measure(app, engine, args.cases, args.runs, explain_to, only)
        finally:
            engine.dispose()
        if BASELINE not in found:
            return
    else:
        with postgres_database(args.postgres_url, "bench_queue") as url:
            engine = build(url, args.cases)
            try:
                found = measure(
                    create_app({"DATABASE_URL": url}), engine, args.cases, args.runs, explain_to
                )
            finally:
                engine.dispose()
    print()
    print(table(rows(found)))


if __name__ == "__main__":
    main()
