"""Case assignment (``portal.cases.assignment.assign``, ``haohuan cases assign``) over a
large book, on PostgreSQL.

Migrates a database of its own (``bench_assign``, created for the run and dropped after
it, never the test database), seeds ``--cases`` borrowers, loans and cases in a few
``INSERT … SELECT generate_series`` statements (languages, currencies, stages, principals
and statuses spread by the row number; one case in ten resolved), 40 agents of capacity
``--capacity`` and five rules (late stage; USD; simplified Chinese; a principal band;
everything else), then times:

* first run: every open case gets an owner;
* re-run: must change nothing;
* away: two agents away and one deactivated, whose cases move to the others;
* re-run after it: must change nothing.

Then, on a ``--sample`` book seeded the same way, it times the first run set-based and
with a deliberately naive row-by-row ORM loop (each case picks the least loaded agent of
its rule), prints the ratio, and checks that both give every case the same owner.

    .venv/bin/python bench/assign.py [--cases 1000000] [--sample 10000] [--capacity N]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from fractions import Fraction

from _common import ROOT, postgres_database, postgres_unreachable
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from portal import create_app
from portal.cases.assignment import AssignRun, assign
from portal.core import migrate
from portal.models import AssignmentRule, AssignmentRuleAgent, Borrower, Case, Loan, StaffMember

NOW = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
AGENTS = 40

SEED = [
    """
    INSERT INTO borrowers (id, reference, full_name, locale, timezone, phone,
        verification_salt, date_of_birth_hash, id_last4_hash, created_at)
    SELECT i, 'B' || i, 'Borrower ' || i,
        (ARRAY['zh_Hant_TW','zh_Hant_TW','zh_Hant_TW','zh_Hans_CN','en'])[1 + i % 5],
        (ARRAY['Asia/Taipei','Asia/Shanghai','Asia/Hong_Kong','America/Los_Angeles'])[1 + i % 4],
        '+886900000000', 's', 'h', 'h', :now
    FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO loans (id, borrower_id, number, product, currency, principal,
        annual_rate_pct, frequency, start_date)
    SELECT i, i, 'LN-' || i, 'personal',
        (ARRAY['TWD','TWD','TWD','CNY','HKD','USD'])[1 + (i / 7) % 6],
        100000 * (1 + (i::bigint * 7919) % 200), 12, 'monthly', DATE '2026-01-01'
    FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO cases (id, loan_id, status, stage, overdue_since, needs_agent, updated_at,
        owner_pinned)
    SELECT i, i,
        CASE WHEN i % 10 = 0 THEN 'resolved' WHEN i % 10 = 1 THEN 'arranged' ELSE 'open' END,
        (ARRAY['current','early','mid','late'])[1 + (i / 3) % 4],
        CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2026-12-14' - (i % 150) END,
        false, :now, false
    FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO staff_members (id, email, name, password_hash, roles, active,
        session_generation, created_at, capacity, away)
    SELECT i, 'agent' || i || '@bench.example', 'Agent ' || i, 'x', 'agent', true, 0, :now,
        :capacity, false
    FROM generate_series(1, 40) AS i
    """,
]

# (name, priority, conditions, agents' ids)
RULES: list[tuple[str, int, dict[str, object], range]] = [
    ("late stage", 10, {"stage": "late"}, range(1, 11)),
    ("US dollars", 20, {"currency": "USD"}, range(11, 15)),
    ("simplified Chinese", 30, {"locale": "zh_Hans_CN"}, range(15, 21)),
    ("large TWD loans", 40, {"currency": "TWD", "min_amount": 15_000_000}, range(21, 25)),
    ("everyone else", 100, {}, range(25, AGENTS + 1)),
]


def seeded(url: str, count: int, capacity: int) -> Engine:
    """A migrated database holding ``count`` cases, the agents and the rules."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrate.upgrade(app)
    engine: Engine = app.extensions["haohuan.engine"]
    with engine.begin() as conn:
        for statement in SEED:
            conn.execute(text(statement), {"n": count, "now": NOW, "capacity": capacity})
        for table in ("borrowers", "loans", "cases", "staff_members"):
            # The table names are this file's constants.
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))  # noqa: S608
    with Session(engine) as session:
        for name, priority, conditions, agents in RULES:
            rule = AssignmentRule(name=name, priority=priority, created_by="bench", **conditions)
            session.add(rule)
            session.flush()
            session.add_all(AssignmentRuleAgent(rule_id=rule.id, staff_id=a) for a in agents)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return engine


def timed(engine: Engine, label: str, count: int) -> tuple[AssignRun, float]:
    """One run of ``assign``, printed."""
    started = time.perf_counter()
    run = assign(engine, NOW, "bench")
    seconds = time.perf_counter() - started
    print(
        f"{label:<12} {seconds:7.2f} s  {run.assigned:,} assigned, {run.reassigned:,} "
        f"reassigned, {run.unassigned:,} unassigned, {run.waiting:,} open cases waiting "
        f"({run.changed / count:.1%} of cases changed)"
    )
    return run, seconds


def big_run(engine: Engine, count: int) -> bool:
    """The four runs; whether both re-runs changed nothing."""
    timed(engine, "first run", count)
    again, _ = timed(engine, "re-run", count)
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff_members SET away = true WHERE id IN (1, 25)"))
        conn.execute(text("UPDATE staff_members SET active = false WHERE id = 30"))
    timed(engine, "away", count)
    after, _ = timed(engine, "re-run", count)
    return again.changed == 0 and after.changed == 0


def naive(engine: Engine) -> None:
    """Row by row through the ORM: each open case, in the order the set-based run takes
    them, asks which rule it matches and gives itself to that rule's least loaded agent."""
    with Session(engine) as session:
        rules = session.scalars(
            select(AssignmentRule)
            .where(AssignmentRule.active)
            .order_by(AssignmentRule.priority, AssignmentRule.id)
        ).all()
        members = {m.id: m for m in session.scalars(select(StaffMember))}
        load = dict.fromkeys(members, 0)
        agents_of = {
            rule.id: sorted(
                session.scalars(
                    select(AssignmentRuleAgent.staff_id).where(
                        AssignmentRuleAgent.rule_id == rule.id
                    )
                )
            )
            for rule in rules
        }
        cases = session.scalars(
            select(Case)
            .where(Case.status != "resolved")
            .order_by(Case.overdue_since.asc().nulls_last(), Case.id)
        ).all()
        waiting: dict[int, list[Case]] = {rule.id: [] for rule in rules}
        for case in cases:
            loan = session.get(Loan, case.loan_id)
            borrower = session.get(Borrower, loan.borrower_id)
            for rule in rules:
                if _matches(rule, case, loan, borrower):
                    waiting[rule.id].append(case)
                    break
        for rule in rules:
            for case in waiting[rule.id]:
                free = [
                    a
                    for a in agents_of[rule.id]
                    if members[a].active and not members[a].away and load[a] < members[a].capacity
                ]
                if not free:
                    break
                chosen = min(free, key=lambda a: (Fraction(load[a] + 1, members[a].capacity), a))
                case.owner_id = chosen
                load[chosen] += 1
                session.flush()
        session.commit()


def _matches(rule: AssignmentRule, case: Case, loan: Loan, borrower: Borrower) -> bool:
    return (
        (rule.stage is None or rule.stage == case.stage)
        and (rule.locale is None or rule.locale == borrower.locale)
        and (rule.currency is None or rule.currency == loan.currency)
        and (rule.timezone is None or rule.timezone == borrower.timezone)
        and (rule.min_amount is None or loan.principal >= rule.min_amount)
        and (rule.max_amount is None or loan.principal < rule.max_amount)
    )


def owners(engine: Engine) -> dict[int, int | None]:
    """Every case's owner."""
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(text("SELECT id, owner_id FROM cases"))}


def compare_run(admin_url: str, count: int, capacity: int) -> bool:
    """The set-based first run against the naive loop on two copies of one book."""
    with postgres_database(admin_url, "bench_assign_set") as url:
        engine = seeded(url, count, capacity)
        started = time.perf_counter()
        assign(engine, NOW, "bench")
        fast = time.perf_counter() - started
        expected = owners(engine)
        engine.dispose()
    with postgres_database(admin_url, "bench_assign_naive") as url:
        engine = seeded(url, count, capacity)
        started = time.perf_counter()
        naive(engine)
        slow = time.perf_counter() - started
        got = owners(engine)
        engine.dispose()
    same = expected == got
    print(
        f"compare      {count:,} cases: set-based {fast:.2f} s, row by row {slow:.2f} s "
        f"({slow / fast:.0f}x); {'same owners' if same else 'DIFFERENT owners'}"
    )
    return same


def main() -> None:
    """Parse the command line, run the big book, then the row-by-row comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000, help="cases for the comparison")
    parser.add_argument(
        "--capacity", type=int, help="each agent's (default: enough for about 95%% of cases)"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")

    def capacity(count: int) -> int:
        return args.capacity or max(1, count // 25)

    with postgres_database(args.postgres_url, "bench_assign") as url:
        started = time.perf_counter()
        engine = seeded(url, args.cases, capacity(args.cases))
        print(
            f"seeded       {args.cases:,} cases, {AGENTS} agents of capacity "
            f"{capacity(args.cases):,}, {len(RULES)} rules in {time.perf_counter() - started:.1f} s"
        )
        clean = big_run(engine, args.cases)
        engine.dispose()
    same = (
        compare_run(args.postgres_url, args.sample, capacity(args.sample)) if args.sample else True
    )
    if not clean:
        raise SystemExit("a re-run changed owners: it must change none")
    if not same:
        raise SystemExit("assign and the row-by-row loop disagree")


if __name__ == "__main__":
    main()
