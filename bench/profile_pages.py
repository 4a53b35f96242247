"""Where one request's time goes on the pages people wait for: the borrower's status page,
the plan calculator (htmx GET) and the agent queue's first page.

Prepares the demo (as ``haohuan demo`` does: 2,035 cases, the day worked) in a database
of its own (PostgreSQL with ``--postgres-url``, else SQLite), signs a borrower and an
agent in through the real pages with Flask's test client, then for each path: SQL
statements per request, the median time in this process, and a cProfile of
``--requests`` requests (top functions by cumulative and own time).

    .venv/bin/python bench/profile_pages.py [--requests 200] [--postgres-url URL] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import ROOT, postgres_database, sqlite_database
from sqlalchemy import event, text

sys.path.insert(0, str(ROOT))

from portal import create_app
from portal.core import db, migrate
from portal.core.clock import local_today, now
from portal.demo import run, seed

# The calculator as the page asks it when a borrower types: six monthly payments from a
# week ahead (a date inside the form's horizon whenever the bench runs).
CALCULATOR = (
    "/plans/calculate?kind=arrears_plan&installments=6&frequency=monthly&first_due_date="
    + (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
)


def prepare(app: Any) -> tuple[str, str]:
    """Migrate and prepare the demo as ``haohuan demo`` does (the named cases and the book
    of 2,000, the day worked, owners assigned); one mid-stage borrower's link token and
    date of birth."""
    with app.test_request_context("/"):
        migrate.upgrade(app)
        session = db.session()
        engine = app.extensions["haohuan.engine"]
        prepared = run.prepare(session, engine, local_today("Asia/Taipei"), now())
        session.commit()
    if engine.dialect.name == "postgresql":
        # A live database has its tables' statistics and their visibility maps
        # (autovacuum analyses and vacuums what changed), so the pages are measured with
        # them, not with the planner's defaults for tables never analysed, nor with the
        # seeding's dead rows and a count that reads every row from the table for want of
        # a visibility map: autovacuum is off on some machines the benches run on. VACUUM
        # cannot run inside a transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
            raw.execute(text("VACUUM ANALYZE"))
    overdue = [item for item in prepared.links if item.days_past_due > 0]
    chosen = min(overdue, key=lambda item: abs(item.days_past_due - 47))
    return chosen.token, chosen.date_of_birth


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def borrower_client(app: Any, token: str, date_of_birth: str) -> Any:
    """A test client signed in as the borrower through the link's verification page."""
    client = app.test_client()
    page = client.get(f"/r/{token}").get_data(as_text=True)
    answer = {"csrf_token": _csrf(page), "method": "date_of_birth", "answer": date_of_birth}
    if client.post(f"/r/{token}", data=answer).status_code != 303:
        raise RuntimeError("verification failed")
    return client


def agent_client(app: Any) -> Any:
    """A test client signed in as the demo's first agent."""
    with app.app_context():
        accounts = seed.demo_staff_accounts(db.session(), now())
    _, email, password = next(item for item in accounts if item[1] == "agent@haohuan.example")
    client = app.test_client()
    page = client.get("/staff/sign-in").get_data(as_text=True)
    form = {"csrf_token": _csrf(page), "email": email, "password": password}
    if client.post("/staff/sign-in", data=form).status_code != 303:
        raise RuntimeError("staff sign-in failed")
    return client


@contextmanager
def counted(engine: Any) -> Iterator[list[int]]:
    """Counts the statements ``engine`` runs while inside."""
    count = [0]

    def tick(*_: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", tick)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", tick)


def profile(
    name: str, client: Any, path: str, engine: Any, requests: int, top: int, **kw: Any
) -> None:
    """Print the statements, median time and the profile of ``requests`` GETs of ``path``."""
    for _ in range(20):
        if client.get(path, **kw).status_code != 200:
            raise RuntimeError(f"{path} did not answer 200")
    with counted(engine) as count:
        client.get(path, **kw)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path, **kw)
        times.append(time.perf_counter() - started)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(path, **kw)
    profiler.disable()
    print(f"\n## {name}: {path}\n")
    print(f"{count[0]} statements; median {statistics.median(times) * 1000:.2f} ms in-process\n")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        text = out.getvalue()
        print("```\n" + text[text.index("   ncalls") :].rstrip() + "\n```\n")


def main() -> None:
    """Seed, sign in, profile each path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    database = (
        postgres_database(args.postgres_url, "bench_profile")
        if args.postgres_url
        else sqlite_database()
    )
    with database as url:
        app = create_app({"DATABASE_URL": url})
        token, date_of_birth = prepare(app)
        engine = app.extensions["haohuan.engine"]
        borrower = borrower_client(app, token, date_of_birth)
        profile("status page", borrower, "/status", engine, args.requests, args.top)
        htmx = {"headers": {"HX-Request": "true"}}
        profile("calculator", borrower, CALCULATOR, engine, args.requests, args.top, **htmx)
        agent = agent_client(app)
        profile("agent queue", agent, "/agent/", engine, args.requests, args.top)
        engine.dispose()


if __name__ == "__main__":
    main()
