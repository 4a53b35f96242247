"""``make bench-compare``: every hot path against its baseline or floor, in one run.

Each row comes from the benchmark that owns the path (its ``compare_rows``), measured
beside its baseline in the same run, on PostgreSQL, in databases of its own:

- ``pages.py``: the borrower's status page, the htmx calculator and the agent queue's first
  page (the demo data) against a one-query Flask page, all under the production gunicorn
  configuration and wrk; the workers' peak memory and boot;
- ``webhooks.py``: signed Stripe webhooks acknowledged against a handler that verifies,
  inserts a row and commits, and (no goal) their settlement queued behind the answer, on
  Redis at ``$BENCH_REDIS_URL`` (default the local one);
- ``negotiation.py``: the engine's proposals for one case against the bare arithmetic of
  the same installments;
- ``agent_queue.py``: the agent queue's filters, sorts and searches at ``--cases`` cases;
- ``lifecycle.py``: the daily case work's typical day at ``--cases`` cases against the bare
  SQL of its steps (on the same database, built once and shared with the queue's rows);
- ``dispatch.py``: the scheduled sender against one UPDATE and COMMIT per message;
- ``autopay.py``: the autopay run's re-run at 100,000 plans on autopay, all charged this
  morning (so it must do nothing), against one bare SELECT of the same rows;
- ``reporting.py``: the month-end snapshot at ``--cases`` cases and 24 month-ends of
  history against a bare ``INSERT … SELECT`` of the same columns, the transitions counted
  per pair (no goal), and the dashboard over 12 pairs, unsliced and by each slice: its
  roll rates, the whole report (``book_report``: every section the page shows) and the
  page itself through the test client (each p95 under 1 s), on a database of its own
  with two years of plans, promises, contact, refusals and funnel events;
- ``journals.py``: ``haohuan ledger journal --month`` as CSV at 1,000,000 payments (100,000
  with ``--quick``) and their allocations, refunds, disputes and Stripe fees, against a
  bare ``COPY`` of the month's same allocation rows.

Ratios are what to read: the machine may be busy, but both sides of a row see the same
machine. Prints a Markdown table (and writes it to ``--output`` when given).

    .venv/bin/python bench/compare.py [--postgres-url URL] [--cases 1000000] [--quick]
        [--only pages,webhooks,...,autopay,reporting,journals] [--output FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from _common import ROOT, postgres_database, postgres_unreachable
from _compare import Row, table

sys.path.insert(0, str(ROOT))

BENCH = Path(__file__).resolve().parent
DEFAULT_POSTGRES = "postgresql://root@127.0.0.1:5432/postgres"
SECTIONS = (
    "pages",
    "webhooks",
    "engine",
    "million",
    "dispatch",
    "autopay",
    "reporting",
    "journals",
)


def _bench(name: str) -> ModuleType:
    """The benchmark script ``bench/<name>.py``, loaded by its path: a script may share a
    name with one of the packages (``negotiation``, ``portal``)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up while it is built
    spec.loader.exec_module(module)
    return module


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _pages(admin_url: str, quick: bool) -> list[Row]:
    pages = _bench("pages")
    if quick:
        return pages.compare_rows(admin_url, seconds=5, rounds=1)
    return pages.compare_rows(admin_url)


def _webhooks(admin_url: str, quick: bool) -> list[Row]:
    webhooks = _bench("webhooks")
    return webhooks.compare_rows(admin_url)


def _engine(admin_url: str, quick: bool) -> list[Row]:
    return _bench("negotiation").compare_rows(admin_url)


def _dispatch(admin_url: str, quick: bool) -> list[Row]:
    dispatch = _bench("dispatch")
    return dispatch.compare_rows(admin_url)


def _autopay(admin_url: str, quick: bool) -> list[Row]:
    return _bench("autopay").compare_rows(admin_url, plans=20_000 if quick else 100_000)


def _reporting(admin_url: str, cases: int, quick: bool) -> list[Row]:
    reporting = _bench("reporting")
    return reporting.compare_rows(admin_url, cases=cases, repeat=5 if quick else 20)


def _journals(admin_url: str, quick: bool) -> list[Row]:
    journals = _bench("journals")
    return journals.compare_rows(admin_url, payments=100_000 if quick else 1_000_000)


def _million(admin_url: str, cases: int) -> list[Row]:
    """The queue's and the daily work's rows, on one database of ``cases`` cases."""
    from negotiation import load_policy

    lifecycle, queue = _bench("lifecycle"), _bench("agent_queue")

    with postgres_database(admin_url, "bench_compare_million") as url:
        started = time.perf_counter()
        engine = lifecycle.prepared(url, cases, load_policy(), quiet=True)
        engine.dispose()
        print(f"built {cases:,} cases in {time.perf_counter() - started:.0f} s", flush=True)
        # The queue only reads; the daily work changes the database, so it goes last.
        rows = queue.compare_rows(admin_url, url)
        return rows + lifecycle.compare_rows(admin_url, url)


def main() -> None:
    """Run every section (or ``--only`` some), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="shorter loads, 100,000 cases")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): bench-compare needs PostgreSQL")
    cases = 100_000 if args.quick else args.cases
    runs: dict[str, Callable[[], list[Row]]] = {
        "pages": lambda: _pages(args.postgres_url, args.quick),
        "webhooks": lambda: _webhooks(args.postgres_url, args.quick),
        "engine": lambda: _engine(args.postgres_url, args.quick),
        "million": lambda: _million(args.postgres_url, cases),
        "dispatch": lambda: _dispatch(args.postgres_url, args.quick),
        "autopay": lambda: _autopay(args.postgres_url, args.quick),
        "reporting": lambda: _reporting(args.postgres_url, cases, args.quick),
        "journals": lambda: _journals(args.postgres_url, args.quick),
    }
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(runs)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}: choose from {SECTIONS}")
    print(f"bench-compare on {args.postgres_url.rsplit('@', 1)[-1]}; {_load()}", flush=True)
    rows: list[Row] = []
    for name in chosen:
        started = time.perf_counter()
        rows += runs[name]()
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    text = table(rows)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    goals = [row for row in rows if row.met is not None]
    print(f"\n{sum(bool(row.met) for row in goals)} of {len(goals)} goals met")


if __name__ == "__main__":
    main()
