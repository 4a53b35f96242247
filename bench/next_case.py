"""Seconds per "Next case" click (``portal.cases.worklist.find_next``) for an agent who
owns about 50,000 of 1,000,000 cases, on PostgreSQL, against the plain queue page of the
same agent's cases (``portal.cases.queue.page_of``) measured in the same run.

Seeds the book with bench/assign.py's builder (borrowers in Taipei, Shanghai, Hong Kong
and Los Angeles), then gives agent 1 one case in twenty, all open, and makes many of them
not callable now: a third are in Los Angeles, outside its hours at the moment chosen,
one in 25 is on hold and the borrowers of one in 30 have opted out of calls; one in 50
has a flag and one in 40 a callback due.
Then ``--clicks`` clicks of each, median and p95, and the ratio; and the same for the
whole My work page of that agent (``portal.cases.worklist.my_work``).

    .venv/bin/python bench/next_case.py [--cases 1000000] [--clicks 30]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from _common import ROOT, postgres_database, postgres_unreachable
from assign import seeded
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))

from portal import create_app
from portal.cases import queue
from portal.cases.worklist import find_next, my_work
from portal.models import StaffMember

# 16:00 in Taipei, Shanghai and Hong Kong; midnight in Los Angeles, outside its hours.
MOMENT = datetime(2026, 12, 15, 8, 0, tzinfo=UTC)

MAKE_WORK = [
    # Each borrower's jurisdiction from their zone (the seed leaves every one TW).
    """UPDATE borrowers SET jurisdiction = CASE timezone
       WHEN 'America/Los_Angeles' THEN 'US-CA' WHEN 'Asia/Shanghai' THEN 'CN'
       WHEN 'Asia/Hong_Kong' THEN 'HK' ELSE 'TW' END""",
    # One case in twenty: ids 120k + 2..7, all open, a third of them (3 and 7) in Los
    # Angeles, outside its hours at MOMENT.
    "UPDATE cases SET owner_id = 1 WHERE id % 10 BETWEEN 2 AND 7 AND (id / 10) % 12 = 0",
    """UPDATE cases SET hold = 'dispute', hold_since = :now
       WHERE owner_id = 1 AND (id / 120) % 25 = 0""",
    """INSERT INTO opt_outs (borrower_id, channel, at, source)
       SELECT l.borrower_id, 'call', :now, 'agent' FROM cases c JOIN loans l ON l.id = c.loan_id
       WHERE c.owner_id = 1 AND (c.id / 120) % 30 = 7""",
    # Something for My work's groups: a flag on one case in 50, a callback on one in 40.
    """INSERT INTO case_flags (case_id, reason, raised_at, raised_by, details)
       SELECT id, 'agent', :now, 'bench', '{}' FROM cases
       WHERE owner_id = 1 AND (id / 120) % 50 = 3""",
    """INSERT INTO callbacks (case_id, due_at, source, status, requested_by, requested_at)
       SELECT id, :now, 'borrower', 'open', 'borrower', :now FROM cases
       WHERE owner_id = 1 AND (id / 120) % 40 = 5""",
]


def timed(label: str, clicks: int, click) -> list[float]:
    seconds = []
    for _ in range(clicks):
        started = time.perf_counter()
        click()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, round(0.95 * len(seconds)) - 1)]
    print(
        f"{label:<22} median {statistics.median(seconds) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"
    )
    return seconds


def main() -> None:
    """Seed, make the agent's work, then time the clicks against the queue page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    with postgres_database(args.postgres_url, "bench_next_case") as url:
        started = time.perf_counter()
        engine = seeded(url, args.cases, max(1, args.cases // 25))
        with engine.begin() as conn:
            for statement in MAKE_WORK:
                conn.execute(text(statement), {"now": MOMENT})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with engine.connect() as conn:
            owned = conn.execute(text("SELECT count(*) FROM cases WHERE owner_id = 1")).scalar()
        print(
            f"seeded {args.cases:,} cases, agent 1 owns {owned:,}, in "
            f"{time.perf_counter() - started:.1f} s"
        )
        app = create_app({"DATABASE_URL": url})
        try:
            measure(app, engine, args.clicks)
        finally:
            app.extensions["haohuan.engine"].dispose()
            engine.dispose()


def measure(app, engine, clicks_wanted: int) -> None:
    """The queue page and the Next case clicks, each ``clicks_wanted`` times."""
    with app.app_context(), Session(engine) as session:
        member = session.get(StaffMember, 1)
        if member is None:
            raise SystemExit("agent 1 was not seeded")
        chosen = queue.owned_overdue(member.id)

        def page() -> None:
            queue.page_of(session, chosen, MOMENT, zone=UTC)
            session.rollback()

        def click() -> None:
            found = find_next(session, member, MOMENT)
            if found.case_id is None:
                raise SystemExit(f"next case found none: {found}")
            session.rollback()

        def work() -> None:
            my_work(session, member, MOMENT)
            session.rollback()

        base = timed("queue page (baseline)", clicks_wanted, page)
        clicks = timed("next case", clicks_wanted, click)
        whole = timed("my work page", clicks_wanted, work)
        found = find_next(session, member, MOMENT)
        print(
            f"next case read {found.read} candidates and judged {found.judged} to find case "
            f"{found.case_id}"
        )
        ratio = statistics.median(clicks) / statistics.median(base)
        print(f"ratio (next case / queue page, medians): {ratio:.2f}x")
        ratio = statistics.median(whole) / statistics.median(base)
        print(f"ratio (my work / queue page, medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
