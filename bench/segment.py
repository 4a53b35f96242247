"""A supervisor's segment reassignment (``portal.cases.assignment.reassign_segment``, the
queue's "Reassign these cases") over a large book, on PostgreSQL.

Seeds a database of its own (``bench_segment``, created for the run and dropped after it)
as ``assign.py`` does (``--cases`` cases, 40 agents, five rules), runs the assignment once
so cases have owners, puts ten agents in a team, then times, each worked out from the
queue's filter as the page does:

* the preview's counts for the USD cases (about one case in six) going to the team;
* the reassignment itself, spread over the team least loaded first: one UPDATE, one
  INSERT of a case event per case, one audit entry;
* the same segment again to the same team: nothing left to move;
* every overdue TWD case to one agent.

    .venv/bin/python bench/segment.py [--cases 1000000]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import time

from _common import postgres_database, postgres_unreachable
from assign import NOW, seeded
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal import create_app
from portal.cases import assignment
from portal.cases.queue import QueueFilter, matching_cases
from portal.models import CaseEvent, StaffMember, Team


def _time(label: str, work: object) -> object:
    started = time.perf_counter()
    result = work()  # type: ignore[operator]
    print(f"{label:<44} {time.perf_counter() - started:7.2f} s   {result}")
    return result


def run(url: str, engine: Engine) -> None:
    """The timings, in a request context of an app on the seeded database."""
    assignment.assign(engine, NOW, "bench")
    app = create_app({"DATABASE_URL": url, "HAOHUAN_NOW": NOW.isoformat()})
    try:
        _timings(app)
    finally:
        app.extensions["haohuan.engine"].dispose()


def _timings(app: Flask) -> None:
    with app.test_request_context("/"), Session(app.extensions["haohuan.engine"]) as db:
        team = Team(name="Bench", created_at=NOW)
        db.add(team)
        db.flush()
        agents = list(db.scalars(select(StaffMember).order_by(StaffMember.id).limit(10)))
        for agent in agents:
            agent.team_id = team.id
        boss = db.scalars(select(StaffMember).order_by(StaffMember.id.desc())).first()
        db.commit()
        target = assignment.SegmentTarget(agents, team)
        usd = QueueFilter(currency="USD", dpd_band="all")

        def segment(chosen: QueueFilter):  # type: ignore[no-untyped-def]
            return matching_cases(chosen, NOW)

        _time(
            "preview: USD cases to the team",
            lambda: assignment.plan_segment(db, segment(usd), target),
        )
        events = db.scalar(select(func.count(CaseEvent.id)))
        _time(
            "reassign: USD cases to the team",
            lambda: assignment.reassign_segment(
                db, segment(usd), target, "bench", boss, NOW, {"currency": "USD"}
            ),
        )
        moved = (db.scalar(select(func.count(CaseEvent.id))) or 0) - (events or 0)
        print(f"{'':<44} {moved:,} case events written")
        _time(
            "again: nothing left to move",
            lambda: assignment.reassign_segment(
                db, segment(usd), target, "bench", boss, NOW, {"currency": "USD"}
            ),
        )
        _time(
            "reassign: overdue TWD cases to one agent",
            lambda: assignment.reassign_segment(
                db,
                segment(QueueFilter(currency="TWD")),
                assignment.SegmentTarget([agents[0]]),
                "bench",
                boss,
                NOW,
                {"currency": "TWD"},
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    with postgres_database(args.postgres_url, "bench_segment") as url:
        started = time.perf_counter()
        engine = seeded(url, args.cases, max(1, args.cases // 25))
        print(f"seeded {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
        run(url, engine)
        engine.dispose()


if __name__ == "__main__":
    main()
