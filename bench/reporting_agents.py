"""The agents' figures and contacts per cure (issue 17) at a million cases, on a database
``reporting.py`` built and kept (``--keep NAME --build-only``).

The kept book has owners and 24 month-ends of history but no work recorded, so
``--seed`` first writes a year of it, set-based, into that database (once; it is left
there): two contact attempts per case owned (30% connected, by its owner), a promise on
three cases in ten, an offer on one case in ten (accepted, declined or withdrawn, a third
beyond an agent's authority and approved), an offer behind every plan accepted in the
year, and one audited action per case owned. ``--count`` then counts the agents' cells
of the year's months as the month-end step does (``monthly.recount``; committed, each
month timed): the agents' owned, worked and offers are sums of them. Then it times,
``--repeat`` (10) runs each, the p95 and median of:

* ``agents`` over the last 12 month pairs (a year), unsliced, by one owner and by one
  currency; and over the last pair (a month);
* ``agents(..., only=)``: one agent's own page over the year;
* ``contacts_per_cure`` over the last 12 pairs and over the last one.

    PYTHONPATH=. .venv/bin/python bench/reporting_agents.py --database NAME [--seed]
        [--count] [--repeat 10] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from _common import ROOT
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))

from portal import create_app
from portal.reporting import monthly
from portal.reporting.agents import agents
from portal.reporting.book import days_of
from portal.reporting.cells import months_between, period_months
from portal.reporting.cures import contacts_per_cure
from portal.reporting.portfolio import Slice

ZONE = ZoneInfo("Asia/Taipei")
PAIRS = 12

# A year of work before the last month-end, written once (``--seed``).
SEED = """
INSERT INTO contact_attempts (case_id, borrower_id, channel, at, connected, inbound, agent, outcome)
SELECT c.id, l.borrower_id, CASE WHEN n = 1 THEN 'call' ELSE 'sms' END,
       :start + random() * (:end - :start), random() < 0.3, false, s.email, 'reached'
FROM cases c JOIN loans l ON l.id = c.loan_id JOIN staff_members s ON s.id = c.owner_id
CROSS JOIN generate_series(1, 2) AS n;

INSERT INTO promises (case_id, made_by, made_at, due_date, amount, currency, status, paid)
SELECT c.id, s.email, m.at, (m.at + interval '7 days')::date, 10000, l.currency,
       (ARRAY['kept', 'partly_kept', 'broken', 'open', 'superseded'])[1 + (c.id % 5)], 0
FROM cases c JOIN loans l ON l.id = c.loan_id JOIN staff_members s ON s.id = c.owner_id
CROSS JOIN LATERAL (SELECT :start + random() * (:end - :start) + c.id * interval '0' AS at) m
WHERE c.id % 10 < 3;

INSERT INTO offers (case_id, status, terms, created_by, created_at, expires_at, authority,
                    decided_by, decided_at)
SELECT c.id, (ARRAY['accepted', 'declined', 'withdrawn'])[1 + (c.id % 3)], '{}', s.email,
       m.at, m.at + interval '14 days',
       CASE WHEN c.id % 3 = 0 THEN 'supervisor' ELSE 'agent' END,
       CASE WHEN c.id % 3 = 0 THEN s.email END, CASE WHEN c.id % 3 = 0 THEN m.at END
FROM cases c JOIN staff_members s ON s.id = c.owner_id
CROSS JOIN LATERAL (SELECT :start + random() * (:end - :start) + c.id * interval '0' AS at) m
WHERE c.id % 10 = 7;

INSERT INTO offers (case_id, status, terms, created_by, created_at, expires_at, authority)
SELECT p.case_id, 'accepted', json_build_object('plan', p.id), s.email,
       p.accepted_at - interval '1 day', p.accepted_at + interval '13 days', 'agent'
FROM plans p JOIN cases c ON c.id = p.case_id JOIN staff_members s ON s.id = c.owner_id
WHERE p.accepted_at >= :start AND p.accepted_at < :end AND p.offer_id IS NULL;

UPDATE plans p SET offer_id = o.id FROM offers o
WHERE (o.terms ->> 'plan')::int = p.id AND p.offer_id IS NULL;

INSERT INTO audit_entries (at, staff_id, actor, action, case_id, details)
SELECT :start + random() * (:end - :start), s.id, s.email,
       (ARRAY['call.log', 'case.view', 'message.send', 'hold.place'])[1 + (c.id % 4)], c.id, '{}'
FROM cases c JOIN staff_members s ON s.id = c.owner_id;

ANALYZE contact_attempts;
ANALYZE promises;
ANALYZE offers;
ANALYZE plans;
ANALYZE audit_entries;
"""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """p95 and median seconds of ``repeat`` runs of ``work``, and its last result."""
    seconds, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - began)
    return p95(seconds), statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a database reporting.py kept")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", action="store_true", help="first write a year of work")
    parser.add_argument("--count", action="store_true", help="then count the year's cells")
    args = parser.parse_args()
    parts = urlsplit(args.postgres_url)
    url = urlunsplit(parts._replace(path=f"/{args.database}"))
    app = create_app({"DATABASE_URL": url})
    engine = app.extensions["haohuan.engine"]
    with Session(engine) as db:
        last_end = db.execute(text("SELECT max(month_end) FROM case_month_ends")).scalar_one()
        last = last_end.replace(day=1) - timedelta(days=1)  # the last pair's first end
        first = last
        for _ in range(PAIRS - 1):
            first = first.replace(day=1) - timedelta(days=1)
        year = days_of(first, last)
        month = days_of(last, last)
        if args.seed:
            began = time.perf_counter()
            bounds = {"start": f"{year[0]} 00:00+08", "end": f"{year[1]} 23:59+08"}
            for statement in (part.strip() for part in SEED.split(";")):
                if statement:
                    typed = statement.replace(":start", "CAST(:start AS timestamptz)")
                    typed = typed.replace(":end", "CAST(:end AS timestamptz)")
                    db.execute(text(typed), bounds if ":start" in statement else {})
            db.commit()
            print(f"seeded       a year of work in {time.perf_counter() - began:.1f} s")
        if args.count:
            agent_counters = tuple(c for c in monthly.COUNTERS if c.name.startswith("agents."))
            for month_end in months_between(*period_months(first, last)):
                began = time.perf_counter()
                written = monthly.recount(db, month_end, month_end, ZONE, agent_counters)
                db.commit()
                print(f"counted      {month_end} in {time.perf_counter() - began:.1f} s {written}")
        counts = {
            table: db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608 (names above)
            for table in (
                "cases",
                "case_month_ends",
                "contact_attempts",
                "promises",
                "offers",
                "plans",
                "audit_entries",
            )
        }
        print("rows         " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        owner = db.execute(text("SELECT min(owner_id) FROM cases")).scalar_one()
        print(
            f"period       {year[0]} to {year[1]} ({PAIRS} pairs); month {month[0]} to {month[1]}"
        )
        cases = [
            ("agents, a year, unsliced", lambda: agents(db, first, last, ZONE)),
            (
                "agents, a year, one owner",
                lambda: agents(db, first, last, ZONE, Slice(owner_id=owner)),
            ),
            (
                "agents, a year, currency TWD",
                lambda: agents(db, first, last, ZONE, Slice(currency="TWD")),
            ),
            ("agents, a month, unsliced", lambda: agents(db, last, last, ZONE)),
            ("agents, a year, one agent alone", lambda: agents(db, first, last, ZONE, only=owner)),
            ("contacts per cure, 12 pairs", lambda: contacts_per_cure(db, first, last, ZONE)),
            ("contacts per cure, 1 pair", lambda: contacts_per_cure(db, last, last, ZONE)),
        ]
        for label, work in cases:
            high, middle, result = timed(args.repeat, work)
            detail = (
                f"{len(result.rows)} rows" if hasattr(result, "rows") else f"{result.cures:,} cures"
            )
            print(
                f"{label:34} p95 {high * 1000:8.0f} ms  median {middle * 1000:8.0f} ms  ({detail})"
            )
            db.rollback()
    engine.dispose()


if __name__ == "__main__":
    main()
