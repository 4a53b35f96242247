"""The daily case work (``portal.cases.lifecycle.work_day``) over a large portfolio.

Migrates a fresh database (PostgreSQL: a database named ``bench_lifecycle_…`` created for
the run and dropped after it, never the test database; SQLite: a temporary file), seeds
``--cases`` loans in SQL (one row per loan written by this process, every installment
fanned out by the database), then works:

* settle: the day before, which brings the seeded portfolio up to date;
* typical day: the next day, after a night's payments: some loans' installments fall
  due unpaid, some cases cross a stage threshold or a penalty anniversary, some plan
  installments are missed, some borrowers catch up;
* re-run: the same day again, which must change nothing;
* worst day: 31 days later with no payment recorded in between (a payment feed down
  for a month): nearly every loan has an installment overdue, so most cases change.

For each it prints the seconds, each step's seconds and the rows changed. The typical
day is measured against its SQL floor (``FLOOR``: the bare SQL of the overdue and stage
steps' essential writes and of the stored overdue amounts' recount), run just before it on
the same database state in a transaction that is rolled back; ``compare_rows`` gives that
ratio to ``make bench-compare``. Then, on a ``--sample`` portfolio seeded the same way, it
works the typical and the worst day with ``work_day`` on one copy and with a deliberately
naive row-by-row ORM job on another, prints both times and their ratio, and checks that
both made the same changes.

    .venv/bin/python bench/lifecycle.py [--backend postgres|sqlite] [--cases N]
        [--sample 10000] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
        [--keep NAME | --reuse NAME]

``--keep NAME`` also keeps the prepared portfolio as database ``NAME``; ``--reuse NAME``
then works a copy of it (``CREATE DATABASE … TEMPLATE``, dropped after) instead of
building the portfolio again, so that runs measured back to back start from one state.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from _common import ROOT, postgres_database, postgres_unreachable, sqlite_database
from _compare import Row, at_most
from psycopg import sql
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from negotiation import Currency, Policy, load_policy
from portal import create_app
from portal.cases.arrears import refresh as refresh_arrears
from portal.cases.lifecycle import PENALTY_DESCRIPTION, DayWork, work_day
from portal.core import migrate
from portal.models import (
    OPEN_PAYMENT_STATUSES,
    UNPAID_INSTALLMENT,
    Borrower,
    Case,
    CaseEvent,
    LifecycleRun,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    Plan,
    PlanInstallment,
)

BENCH_DATABASE = "bench_lifecycle"
SETTLE = date(2026, 12, 14)
TYPICAL = SETTLE + timedelta(days=1)
WORST = TYPICAL + timedelta(days=31)
# Work done at 09:00 in Taipei.
MORNING = clock(1, 0, tzinfo=UTC)
COUNTS = [f.name for f in fields(DayWork) if f.name not in ("as_of", "seconds")]
# Every 25th overdue case not in a plan pays its arrears overnight before the typical day.
PAYS_OVERNIGHT = 25


def morning(day: date) -> datetime:
    """The moment the day's work runs."""
    return datetime.combine(day, MORNING)


def month_index(day: date) -> int:
    """Months since year 0: due dates are a loan's month index plus the sequence."""
    return day.year * 12 + day.month - 1


def due_on(month: int, day: int) -> date:
    """The date of ``day`` in the month of index ``month`` (days 1 to 28 exist in all)."""
    return date(month // 12, month % 12 + 1, day)


# The portfolio ---------------------------------------------------------------------------


@dataclass
class Portfolio:
    """Rows chosen in Python, one per loan or plan; the database fans out installments."""

    loans: list[tuple[Any, ...]]
    plans: list[tuple[Any, ...]]
    plan_installments: list[tuple[Any, ...]]
    payments: list[tuple[Any, ...]]


LOAN_COLUMNS = (
    "id",
    "currency",
    "dd",
    "n",
    "first_month",
    "paid_through",
    "partial",
    "principal_part",
    "interest_part",
    "status",
    "stage",
    "hold",
    "overdue_since",
)
PLAN_COLUMNS = (
    "id",
    "case_id",
    "status",
    "kind",
    "frequency",
    "currency",
    "restructured",
    "total",
    "waived_penalties",
    "waived_fees",
    "discount",
    "interest",
    "interest_rate_pct",
    "conditional_waiver",
    "accepted_at",
    "activated_at",
)
PLAN_INSTALLMENT_COLUMNS = ("plan_id", "sequence", "due_date", "amount", "paid")
PAYMENT_COLUMNS = (
    "case_id",
    "plan_id",
    "purpose",
    "amount",
    "currency",
    "status",
    "gateway",
    "gateway_reference",
    "created_at",
    "confirmed_at",
    "refunded",
    "disputed",
)
# Overdue loans by installments unpaid: most one or two behind, a long tail (1 to 12).
BEHIND = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
BEHIND_WEIGHTS = (45, 20, 12, 6, 5, 4, 2, 2, 1, 1, 1, 1)
# What a lender's loan book looks like: the share of each kind of case.
KINDS = (
    ("current", 0.80),
    ("overdue", 0.09),
    ("arranged", 0.03),
    ("pending_plan", 0.005),
    ("promise", 0.005),
    ("resolved", 0.02),
    ("held", 0.01),
    ("current", 0.04),
)
LOCALE = {"TWD": "zh_Hant_TW", "CNY": "zh_Hans_CN", "HKD": "zh_Hant_TW"}
TIMEZONE = {"TWD": "Asia/Taipei", "CNY": "Asia/Shanghai", "HKD": "Asia/Hong_Kong"}


def portfolio(count: int, policy: Policy, seed: int = 20261214) -> Portfolio:
    """``count`` monthly loans of 12 to 36 installments due on days 1 to 28, as of the
    settling day: most current, a few percent overdue by one to twelve installments,
    some arranged (an active arrears plan), a few with a plan or a promise accepted but
    not started, some resolved, some on hold. Deterministic for a given ``count``."""
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS, strict=True)
    grace_cut = TYPICAL - timedelta(days=policy.grace_days + 1)  # missed on the typical day
    built = Portfolio([], [], [], [])
    for loan_id in range(1, count + 1):
        kind = rng.choices(kinds, weights)[0]
        currency = rng.choices(("TWD", "CNY", "HKD"), (70, 15, 15))[0]
        dd = rng.randint(1, 28)
        n = rng.randint(12, 36)
        if kind in ("current", "resolved"):
            # A few of the loans due on the settling day are not paid by the next one.
            behind = int(dd == SETTLE.day and rng.random() < 0.07)
        else:
            behind = rng.choices(BEHIND, BEHIND_WEIGHTS)[0]
        behind = min(behind, n - 1)
        # The last installment due before the typical day, and how many came before it.
        last = month_index(SETTLE) if dd <= SETTLE.day else month_index(SETTLE) - 1
        elapsed = rng.randint(max(1, behind), n - 1)
        first_month = last - elapsed + 1
        paid_through = elapsed - behind
        unit = {"TWD": 100, "CNY": 1, "HKD": 1}[currency]
        principal = rng.randrange(60_000, 600_000, 1_000) if currency == "TWD" else 0
        principal = principal or rng.randrange(12_000, 150_000, 500)
        principal_part = principal * 100 // n // unit * unit
        interest_part = principal_part * rng.randint(6, 18) * n // 2400 // unit * unit
        oldest = due_on(first_month + paid_through, dd) if behind else None
        since = oldest if oldest is not None and oldest < SETTLE else None
        stage = policy.stage_for((SETTLE - since).days).value if since else "current"
        status = {"arranged": "arranged", "resolved": "resolved"}.get(kind, "open")
        hold = rng.choice(("dispute", "hardship")) if kind == "held" else None
        partial = int(behind > 0 and rng.random() < 0.1)
        built.loans.append(
            (
                loan_id,
                currency,
                dd,
                n,
                first_month,
                paid_through,
                partial,
                principal_part,
                interest_part,
                status,
                stage,
                hold,
                since,
            )
        )
        arrears = behind * (principal_part + interest_part)
        if kind == "arranged":
            _active_plan(built, rng, loan_id, currency, arrears, grace_cut)
        elif kind in ("pending_plan", "promise", "resolved"):
            _other_plan(built, rng, loan_id, currency, arrears or principal_part, kind)
    return built


def _add_plan(
    built: Portfolio,
    case_id: int,
    currency: str,
    status: str,
    kind: str,
    dues: Sequence[tuple[date, int, int]],
    waived: int,
    accepted: datetime,
) -> int:
    plan_id = len(built.plans) + 1
    total = sum(amount for _due, amount, _paid in dues)
    activated = accepted if status in ("active", "completed") else None
    built.plans.append(
        (
            plan_id,
            case_id,
            status,
            kind,
            "monthly",
            currency,
            total,
            total,
            waived,
            0,
            0,
            0,
            0,
            waived > 0,
            accepted,
            activated,
        )
    )
    for sequence, (due, amount, paid) in enumerate(dues, start=1):
        built.plan_installments.append((plan_id, sequence, due, amount, paid))
        if paid:
            _payment(built, case_id, plan_id, currency, amount, morning(due), paid=True)
    return plan_id


def _payment(
    built: Portfolio,
    case_id: int,
    plan_id: int,
    currency: str,
    amount: int,
    at: datetime,
    paid: bool,
) -> None:
    """A card payment for a plan installment: succeeded, or a checkout opened and not
    paid (voided if its plan breaks or lapses)."""
    reference = f"pi_bench_{len(built.payments) + 1}" if paid else None
    status = "succeeded" if paid else "created"
    confirmed = at if paid else None
    built.payments.append(
        (
            case_id,
            plan_id,
            "installment",
            amount,
            currency,
            status,
            "stripe",
            reference,
            at,
            confirmed,
            0,
            0,
        )
    )


def _active_plan(
    built: Portfolio, rng: random.Random, case_id: int, currency: str, arrears: int, cut: date
) -> None:
    """An arrears plan of 3 to 6 monthly payments, started: those due by ``cut`` (the
    day missed on the typical day) paid, save a few missed."""
    count = rng.randint(3, 6)
    day = rng.randint(1, 28)
    last = month_index(cut) if day <= cut.day else month_index(cut) - 1
    due_so_far = rng.randint(1, count - 1)
    first = last - due_so_far + 1
    step = Currency(currency).installment_step
    amount = max(step, arrears // count // step * step)
    missed_before = due_so_far >= 3 and rng.random() < 0.15
    dues = []
    for sequence in range(1, count + 1):
        due = due_on(first + sequence - 1, day)
        paid = due <= cut
        if due == cut:
            paid = rng.random() < 0.85  # most pay on the last day of grace
        if missed_before and sequence == due_so_far - 1:
            paid = False
        dues.append((due, amount, amount if paid else 0))
    waived = rng.choice((0, 0, 15_000))
    plan_id = _add_plan(
        built, case_id, currency, "active", "arrears_plan", dues, waived, morning(dues[0][0])
    )
    if rng.random() < 0.15:
        _payment(built, case_id, plan_id, currency, amount, morning(SETTLE), paid=False)


def _other_plan(
    built: Portfolio, rng: random.Random, case_id: int, currency: str, arrears: int, kind: str
) -> None:
    """An arrears plan or a promise to pay accepted lately, its first payment due from
    six days before the typical day (so missed on it) to two weeks after; or, for a
    resolved case, a paid-in-full plan completed months ago."""
    step = Currency(currency).installment_step
    if kind == "resolved":
        due = SETTLE - timedelta(days=rng.randint(30, 300))
        amount = max(step, arrears // step * step)
        _add_plan(
            built,
            case_id,
            currency,
            "completed",
            "pay_in_full",
            [(due, amount, amount)],
            0,
            morning(due),
        )
        return
    first = TYPICAL + timedelta(days=rng.randint(-6, 13))
    count = 1 if kind == "promise" else rng.randint(3, 6)
    amount = max(step, arrears // count // step * step)
    dues = [(due_on(month_index(first) + k, first.day), amount, 0) for k in range(count)]
    plan_kind = "deferral" if kind == "promise" else "arrears_plan"
    accepted = morning(first - timedelta(days=7))
    plan_id = _add_plan(built, case_id, currency, "pending", plan_kind, dues, 0, accepted)
    if rng.random() < 0.3:
        _payment(built, case_id, plan_id, currency, amount, morning(SETTLE), paid=False)


# Seeding in SQL ------------------------------------------------------------------------------


def _load(
    conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Rows into ``table``: COPY on PostgreSQL, large executemany batches on SQLite."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = conn.connection.driver_connection.cursor()
    for start in range(0, len(rows), 50_000):
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 (our names)
            [_sqlite_row(row) for row in rows[start : start + 50_000]],
        )


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_sqlite_value(value) for value in row)


def _sqlite_value(value: object) -> object:
    """The stored form SQLAlchemy's SQLite types read back: ISO dates, and timestamps in
    UTC without an offset, to the microsecond."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Dialect:
    """The few SQL spellings the fan-out needs that the two databases spell apart."""

    name: str

    def day(self, month: str, day: str) -> str:
        """The date of ``day`` in month index ``month`` (both SQL integer expressions)."""
        if self.name == "postgresql":
            return f"make_date(CAST(({month}) / 12 AS int), CAST(({month}) % 12 + 1 AS int), {day})"
        return f"printf('%04d-%02d-%02d', ({month}) / 12, ({month}) % 12 + 1, {day})"

    def padded(self, number: str) -> str:
        """``number`` as nine digits."""
        if self.name == "postgresql":
            return f"lpad(CAST({number} AS text), 9, '0')"
        return f"printf('%09d', {number})"

    def installments_of(self) -> str:
        """Each spec row joined with its sequences 1..n, a loan's rows together."""
        if self.name == "postgresql":
            return "bench_spec s CROSS JOIN LATERAL generate_series(1, s.n) AS k(seq)"
        return "bench_spec s JOIN k ON k.seq <= s.n"

    def series(self) -> str:
        """The WITH clause the fan-out needs (SQLite has no generate_series)."""
        if self.name == "postgresql":
            return ""
        return "WITH RECURSIVE k(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM k WHERE seq < 36) "


def seed(engine: Engine, built: Portfolio, at: datetime) -> dict[str, int]:
    """Write the portfolio: loan specs and plans loaded in bulk, then borrowers, loans,
    cases, installments and late fees each one INSERT … SELECT from the specs."""
    dialect = Dialect(engine.dialect.name)
    boolean = "boolean" if dialect.name == "postgresql" else "integer"
    # The SQL below is assembled from this module's constants and the dialect's spellings
    # (hence the noqa: S608); every value from outside is a bound parameter.
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_spec (id bigint PRIMARY KEY, currency varchar(3), dd int,"
                " n int, first_month int, paid_through int, partial int, principal_part bigint,"
                " interest_part bigint, status varchar(16), stage varchar(16),"
                " hold varchar(16), overdue_since date)"
            )
        )
        _load(conn, "bench_spec", LOAN_COLUMNS, built.loans)
        params = {"at": at if dialect.name == "postgresql" else _sqlite_value(at)}
        locale = " ".join(f"WHEN '{c}' THEN '{v}'" for c, v in LOCALE.items())
        zone = " ".join(f"WHEN '{c}' THEN '{v}'" for c, v in TIMEZONE.items())
        conn.execute(
            text(
                "INSERT INTO borrowers (id, reference, full_name, locale, timezone, phone,"  # noqa: S608
                " email, verification_salt, date_of_birth_hash, id_last4_hash, created_at)"
                f" SELECT id, 'B' || {dialect.padded('id')}, 'Bench Borrower',"
                f" CASE currency {locale} END, CASE currency {zone} END, '+886 912 345 678',"
                " NULL, 'salt', 'dob-hash', 'id-hash', :at FROM bench_spec ORDER BY id"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO loans (id, borrower_id, number, product, currency, principal,"  # noqa: S608
                " annual_rate_pct, frequency, start_date)"
                f" SELECT id, id, 'LN-' || {dialect.padded('id')}, 'personal', currency,"
                f" principal_part * n, 12, 'monthly', {dialect.day('first_month - 1', 'dd')}"
                " FROM bench_spec ORDER BY id"
            )
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, loan_id, status, stage, hold, hold_since, overdue_since,"  # noqa: S608
                " needs_agent, updated_at, timezone)"
                " SELECT id, id, status, stage, hold, CASE WHEN hold IS NULL THEN NULL ELSE :at"
                f" END, overdue_since, CAST(0 AS {boolean}), :at, CASE currency {zone} END"
                " FROM bench_spec ORDER BY id"
            ),
            params,
        )
        # Installments before paid_through are paid; the next one, now and then, in part.
        paid = "CASE WHEN k.seq <= s.paid_through THEN {0} WHEN k.seq = s.paid_through + 1 AND s.partial = 1 THEN {0} / 2 ELSE 0 END"  # noqa: E501
        conn.execute(
            text(
                f"{dialect.series()}INSERT INTO loan_installments (loan_id, sequence, due_date,"  # noqa: S608
                " principal_due, interest_due, principal_paid, interest_paid,"
                " principal_waived, interest_waived)"
                f" SELECT s.id, k.seq, {dialect.day('s.first_month + k.seq - 1', 's.dd')},"
                f" s.principal_part, s.interest_part, {paid.format('s.principal_part')},"
                f" {paid.format('s.interest_part')}, 0, 0 FROM {dialect.installments_of()}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO loan_charges (loan_id, kind, description, amount, paid, waived,"
                " charged_on) SELECT id, 'fee', 'late_fee',"
                " CASE currency WHEN 'TWD' THEN 30000 ELSE 5000 END, 0, 0, overdue_since"
                " FROM bench_spec WHERE overdue_since IS NOT NULL ORDER BY id"
            )
        )
        _load(conn, "plans", PLAN_COLUMNS, built.plans)
        _load(conn, "plan_installments", PLAN_INSTALLMENT_COLUMNS, built.plan_installments)
        _load(conn, "payments", PAYMENT_COLUMNS, built.payments)
        conn.execute(text("DROP TABLE bench_spec"))
        if dialect.name == "postgresql":
            # Ids were given above: the sequences must start after them.
            for model in (Borrower, Loan, Case, Plan):
                sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
                conn.execute(select(func.setval(sequence, func.max(model.id))))
        return {
            model.__tablename__: conn.scalar(select(func.count()).select_from(model)) or 0
            for model in (Case, LoanInstallment, Plan, PlanInstallment, Payment)
        }


def analyze(engine: Engine) -> None:
    """Statistics for the planner. On PostgreSQL VACUUM too: a live database's
    autovacuum has long set the visibility map that index-only scans rely on."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def pay_overnight(engine: Engine, before: date) -> int:
    """Some overdue borrowers pay all their arrears between the two days (as the
    webhooks would record it); returns how many loans."""
    with engine.begin() as conn:
        paying = select(Case.loan_id).where(
            Case.overdue_since.is_not(None),
            Case.status == "open",
            Case.id % PAYS_OVERNIGHT == 0,
        )
        loans = conn.scalars(paying).all()
        conn.execute(
            update(LoanInstallment)
            .where(LoanInstallment.due_date < before, LoanInstallment.loan_id.in_(paying))
            .values(
                principal_paid=LoanInstallment.principal_due,
                interest_paid=LoanInstallment.interest_due,
            )
        )
        refresh_arrears(conn, paying, morning(before))  # paid in SQL: the queue's amounts
        return len(loans)


# The same rules, row by row --------------------------------------------------------------


def naive_day(engine: Engine, policy: Policy, as_of: date, now: datetime) -> Counter[str]:
    """One day's work as a straightforward ORM job would do it: every case loaded with
    its loan, installments, charges and plans, the rules worked in Python, the changes
    written through the ORM and committed case by case. Deliberately naive: it is the
    yardstick ``work_day`` is measured against, not a way to run the portal."""
    counts: Counter[str] = Counter()
    with Session(engine) as session:
        ids = session.scalars(select(Case.id).order_by(Case.id)).all()
        for case_id in ids:
            case = session.get_one(Case, case_id)
            _naive_case(session, policy, case, as_of, now, counts)
            session.commit()
    return counts


def _naive_case(
    session: Session,
    policy: Policy,
    case: Case,
    as_of: date,
    now: datetime,
    counts: Counter[str],
) -> None:
    def event(kind: str, **data: object) -> None:
        session.add(CaseEvent(case_id=case.id, kind=kind, actor="system", at=now, data=dict(data)))

    day = as_of.isoformat()
    loan = case.loan
    owed = [
        i
        for i in loan.installments
        if i.due_date < as_of and (i.principal_outstanding > 0 or i.interest_outstanding > 0)
    ]
    since = min((i.due_date for i in owed), default=None)
    if since is not None and case.overdue_since is None:
        event("became_overdue", as_of=day, since=since.isoformat())
        counts["became_overdue"] += 1
    elif since is None and case.overdue_since is not None:
        event("caught_up", as_of=day)
        counts["caught_up"] += 1
    if case.overdue_since != since:
        case.overdue_since = since

    plans = session.scalars(
        select(Plan).where(Plan.case_id == case.id, Plan.status.in_(("pending", "active")))
    ).all()
    grace = timedelta(days=policy.grace_days)
    for plan in plans if case.hold is None else []:
        if plan.status == "active":
            for item in plan.installments:
                if (
                    item.missed_on is None
                    and item.paid < item.amount
                    and item.due_date < as_of - grace
                ):
                    item.missed_on = item.due_date + grace
                    event(
                        "plan_installment_missed",
                        as_of=day,
                        plan_id=plan.id,
                        sequence=item.sequence,
                        due_date=item.due_date.isoformat(),
                        amount=item.amount - item.paid,
                    )
                    counts["installments_missed"] += 1
            misses = sum(item.missed_on is not None for item in plan.installments)
            if misses >= min(len(plan.installments), policy.misses_before_broken):
                reinstated = plan.waived_penalties + plan.waived_fees
                event(
                    "plan_broken",
                    as_of=day,
                    plan_id=plan.id,
                    waiver_reinstated=reinstated if plan.conditional_waiver else 0,
                )
                plan.status = "broken"
                counts["plans_broken"] += 1
                if case.status == "arranged":
                    case.status, case.updated_at = "open", now
                _naive_void(session, plan, now)
        elif plan.status == "pending":
            first = plan.installments[0]
            if first.paid < first.amount and first.due_date < as_of - grace:
                event("plan_lapsed", as_of=day, plan_id=plan.id)
                plan.status = "lapsed"
                counts["plans_lapsed"] += 1
                _naive_void(session, plan, now)

    if case.status == "resolved" and case.overdue_since is not None:
        event("case_reopened", as_of=day)
        case.status, case.updated_at = "open", now
        counts["cases_reopened"] += 1

    promise = any(p.status == "pending" and p.kind == "deferral" for p in plans)
    paused = case.status == "arranged" or case.hold is not None or promise
    stage = policy.stage_for((as_of - since).days).value if since else "current"
    if not paused and case.stage != stage:
        event("stage_changed", as_of=day, **{"from": case.stage, "to": stage})
        case.stage, case.updated_at = stage, now
        counts["stages_changed"] += 1

    if since is None or paused or case.status != "open":
        return
    month_end = (as_of + timedelta(days=1)).day == 1
    anniversary = since.day == as_of.day or (month_end and since.day > as_of.day)
    months = (as_of.year - since.year) * 12 + as_of.month - since.month
    if not anniversary or not 1 <= months <= policy.penalty_max_accruals:
        return
    if any(c.kind == "penalty" and c.charged_on == as_of for c in loan.charges):
        return
    numerator, denominator = policy.penalty_monthly_pct.as_integer_ratio()
    step = Currency(loan.currency).installment_step
    principal = sum(i.principal_outstanding for i in owed)
    amount = principal * numerator // (denominator * 100) // step * step
    if amount > 0:
        session.add(
            LoanCharge(
                loan_id=loan.id,
                kind="penalty",
                description=PENALTY_DESCRIPTION,
                amount=amount,
                paid=0,
                waived=0,
                charged_on=as_of,
            )
        )
        event("penalty_charged", as_of=day, amount=amount)
        counts["penalties"] += 1


def _naive_void(session: Session, plan: Plan, now: datetime) -> None:
    for payment in session.scalars(
        select(Payment).where(Payment.plan_id == plan.id, Payment.status.in_(OPEN_PAYMENT_STATUSES))
    ):
        payment.status, payment.voided_at = "voided", now


def outcome(engine: Engine) -> dict[str, Counter[Any]]:
    """Everything the day's work writes, as multisets (ids and timestamps aside where
    the two jobs differ only in the order they wrote)."""
    with Session(engine) as session:
        return {
            "events": Counter(
                (case_id, kind, json.dumps(data, sort_keys=True))
                for case_id, kind, data in session.execute(
                    select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.data)
                )
            ),
            "cases": Counter(
                session.execute(select(Case.id, Case.status, Case.stage, Case.overdue_since))
            ),
            "plans": Counter(session.execute(select(Plan.id, Plan.status))),
            "missed": Counter(
                session.execute(select(PlanInstallment.id, PlanInstallment.missed_on))
            ),
            "charges": Counter(
                session.execute(
                    select(
                        LoanCharge.loan_id,
                        LoanCharge.kind,
                        LoanCharge.amount,
                        LoanCharge.charged_on,
                    )
                )
            ),
            "payments": Counter(session.execute(select(Payment.id, Payment.status))),
        }


# The SQL floor ---------------------------------------------------------------------------

# The essential writes of the overdue, stage and arrears steps as bare SQL (PostgreSQL):
# one pass over the unpaid installments due (each loan's oldest), one over the cases (the
# stage their overdue date implies, unless paused: arranged, on hold or holding a
# promise), each changed case written once (its overdue date and stage together), and its
# events (became_overdue or caught_up, stage_changed) inserted; then the stored overdue
# amount of each case whose window ended counted again. No batching, no locks, no
# re-checks, one transaction. The other steps' work (a few hundred rows on a typical
# day) is not in it. It is run in a transaction that is rolled back, on the same
# database state work_day then works.
FLOOR = (
    """
CREATE TEMPORARY TABLE floor_changes ON COMMIT DROP AS
WITH oldest AS (
    SELECT loan_id, min(due_date) AS since FROM loan_installments
    WHERE due_date < :as_of AND ({unpaid})
    GROUP BY loan_id
), fresh AS (
    SELECT c.id, c.overdue_since AS was, o.since, c.stage AS stage_was,
        CASE WHEN c.status = 'arranged' OR c.hold IS NOT NULL OR EXISTS (
                SELECT 1 FROM plans p WHERE p.case_id = c.id
                AND p.status = 'pending' AND p.kind = 'deferral') THEN c.stage
            WHEN o.since IS NULL THEN 'current'
            WHEN o.since <= :late THEN 'late'
            WHEN o.since <= :mid THEN 'mid'
            WHEN o.since <= :early THEN 'early'
            ELSE 'current' END AS stage
    FROM cases c LEFT JOIN oldest o ON o.loan_id = c.loan_id
)
SELECT * FROM fresh WHERE was IS DISTINCT FROM since OR stage <> stage_was
""",
    """
UPDATE cases SET overdue_since = f.since, stage = f.stage,
    updated_at = CASE WHEN f.stage <> f.stage_was THEN :now ELSE cases.updated_at END
FROM floor_changes f WHERE cases.id = f.id
""",
    """
INSERT INTO case_events (case_id, kind, actor, at, data)
SELECT id, CASE WHEN since IS NULL THEN 'caught_up' ELSE 'became_overdue' END, 'system', :now,
       CASE WHEN since IS NULL THEN json_build_object('as_of', :as_of)
            ELSE json_build_object('as_of', :as_of, 'since', since) END
FROM floor_changes WHERE (was IS NULL) <> (since IS NULL)
""",
    """
INSERT INTO case_events (case_id, kind, actor, at, data)
SELECT id, 'stage_changed', 'system', :now,
       json_build_object('as_of', :as_of, 'from', stage_was, 'to', stage)
FROM floor_changes WHERE stage <> stage_was
""",
    # The queue's stored overdue amount (``portal.cases.arrears``) of the cases whose
    # window ended (an installment fell due unpaid): counted again from the loan's
    # unpaid installments and charges, each case's read by key. The penalties, and so
    # the recount of the loans they charge, are not in the floor.
    """
UPDATE cases SET (arrears, arrears_after, arrears_until) = (
    SELECT coalesce(sum(CASE WHEN due_date < :as_of THEN principal_due - principal_paid
            - principal_waived + interest_due - interest_paid - interest_waived
            ELSE 0 END), 0) + (
            SELECT coalesce(sum(amount - paid - waived), 0) FROM loan_charges
            WHERE loan_id = cases.loan_id AND amount - paid - waived > 0),
        max(CASE WHEN due_date < :as_of THEN due_date END),
        min(CASE WHEN due_date >= :as_of THEN due_date END)
    FROM loan_installments WHERE loan_id = cases.loan_id AND ({unpaid})
)
WHERE arrears_until < :as_of
""",
)


def floor_seconds(engine: Engine, policy: Policy, as_of: date) -> tuple[float, int]:
    """The floor's seconds for ``as_of`` (its statements, in one transaction that is then
    rolled back, so the database is left as it was) and the events it would write."""
    params = {
        "as_of": as_of,
        "now": morning(as_of),
        "late": as_of - timedelta(days=policy.late_from_days),
        "mid": as_of - timedelta(days=policy.mid_from_days),
        "early": as_of - timedelta(days=policy.early_from_days),
    }
    statements = [text(statement.format(unpaid=UNPAID_INSTALLMENT)) for statement in FLOOR]
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            started = time.perf_counter()
            results = [conn.execute(statement, params) for statement in statements]
            seconds = time.perf_counter() - started
        finally:
            transaction.rollback()
    events = [
        result.rowcount
        for statement, result in zip(FLOOR, results, strict=True)
        if statement.lstrip().startswith("INSERT")
    ]
    return seconds, sum(events)


# Running it -----------------------------------------------------------------------------


def load() -> str:
    """The load averages, to read beside each figure (others share the machine)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def show(label: str, work: DayWork, seconds: float, cases: int, touched: int) -> None:
    """One worked day's figures."""
    print(
        f"{label:<12} {work.as_of}  {seconds:8.2f} s   {work.changed:>9,} rows changed,"
        f" {touched:,} cases ({touched / cases:.1%})   [{load()}]"
    )
    print("             steps: " + "  ".join(f"{k} {v:.2f} s" for k, v in work.seconds.items()))
    print("             " + ", ".join(f"{name} {getattr(work, name):,}" for name in COUNTS))


def timed_day(engine: Engine, policy: Policy, as_of: date) -> tuple[DayWork, float, int]:
    """``work_day`` for ``as_of``: what it did, its seconds, and the cases it wrote to."""
    with engine.connect() as conn:
        mark = conn.scalar(select(func.coalesce(func.max(CaseEvent.id), 0)))
    started = time.perf_counter()
    work = work_day(engine, policy, as_of, morning(as_of))
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        touched = conn.scalar(
            select(func.count(func.distinct(CaseEvent.case_id))).where(CaseEvent.id > mark)
        )
    return work, seconds, touched or 0


@contextmanager
def database(backend: str, admin_url: str, name: str) -> Iterator[str]:
    """A fresh, empty database for the run, removed afterwards."""
    if backend == "postgres":
        with postgres_database(admin_url, name) as url:
            yield url
    else:
        with sqlite_database() as url:
            yield url


def prepared(url: str, count: int, policy: Policy, quiet: bool = False) -> Engine:
    """A migrated, seeded, analysed and settled portfolio of ``count`` cases, with the
    night's payments before the typical day recorded; its engine."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrate.upgrade(app)
    engine: Engine = app.extensions["haohuan.engine"]
    started = time.perf_counter()
    built = portfolio(count, policy)
    chosen = time.perf_counter() - started
    rows = seed(engine, built, morning(SETTLE) - timedelta(days=365))
    with engine.begin() as conn:  # seeded in SQL: the queue's stored overdue amounts
        refresh_arrears(conn, moment=morning(SETTLE))
    seeded = time.perf_counter() - started
    analyze(engine)
    analysed = time.perf_counter() - started
    if not quiet:
        print(
            f"seeded       {rows['cases']:,} cases, {rows['loan_installments']:,} installments,"
            f" {rows['plans']:,} plans ({rows['plan_installments']:,} installments),"
            f" {rows['payments']:,} payments in {seeded:.1f} s ({chosen:.1f} s of it choosing"
            f" rows in Python); {'VACUUM ' if engine.dialect.name == 'postgresql' else ''}"
            f"ANALYZE {analysed - seeded:.1f} s"
        )
    work, seconds, touched = timed_day(engine, policy, SETTLE)
    if not quiet:
        show("settle", work, seconds, count, touched)
    paid = pay_overnight(engine, TYPICAL)
    if not quiet:
        print(f"overnight    {paid:,} overdue borrowers pay all their arrears")
    return engine


def typical_against_floor(engine: Engine, policy: Policy, count: int) -> tuple[float, float]:
    """The typical day measured against its SQL floor on the same database state, back to
    back: the floor once to warm the cache (both read the same pages), the floor again
    timed, both rolled back, then ``work_day`` itself. Prints and returns (work_day's
    seconds, the floor's). The floor is PostgreSQL's SQL: on SQLite there is none (0)."""
    if engine.dialect.name != "postgresql":
        work, seconds, touched = timed_day(engine, policy, TYPICAL)
        show("typical day", work, seconds, count, touched)
        return seconds, 0.0
    floor_seconds(engine, policy, TYPICAL)
    floor, written = floor_seconds(engine, policy, TYPICAL)
    work, seconds, touched = timed_day(engine, policy, TYPICAL)
    show("typical day", work, seconds, count, touched)
    print(
        f"             SQL floor of the overdue, stage and arrears steps {floor:.2f} s"
        f" ({written:,} events, rolled back): work_day is {seconds / floor:.2f}x the floor"
    )
    return seconds, floor


def kept_copy(engine: Engine, url: str, admin_url: str, name: str) -> None:
    """Keep the prepared database at ``url`` as database ``name`` too (``--keep``), for
    later runs to work copies of (``--reuse``) without building it again."""
    engine.dispose()  # a PostgreSQL template must have no connections
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(urlsplit(url).path[1:])
            )
        )
    print(f"kept         the prepared portfolio as database {name} (--reuse {name})")


def reused(url: str) -> tuple[Engine, int]:
    """The engine of a copy of a database ``--keep`` left (prepared, nothing worked since:
    its last day worked is the settling day), and its number of cases."""
    engine: Engine = create_app({"DATABASE_URL": url}).extensions["haohuan.engine"]
    with engine.connect() as conn:
        worked = conn.scalar(select(func.max(LifecycleRun.as_of)))
        count = conn.scalar(select(func.count()).select_from(Case)) or 0
    if worked != SETTLE:
        engine.dispose()
        raise SystemExit(f"the database to reuse was worked to {worked}, not {SETTLE}")
    print(f"reused       a copy of a prepared portfolio of {count:,} cases")
    return engine, count


def big_run(
    url: str,
    count: int,
    policy: Policy,
    admin_url: str = "",
    keep: str | None = None,
    reuse: bool = False,
) -> bool:
    """Typical day, re-run and worst day over ``count`` cases (those of the database at
    ``url`` if ``reuse``: a copy of one prepared by an earlier run, not built again);
    ``keep`` names a database to keep the prepared portfolio in. False if the re-run
    changed anything."""
    if reuse:
        engine, count = reused(url)
    else:
        engine = prepared(url, count, policy)
        if keep:
            kept_copy(engine, url, admin_url, keep)
    try:
        typical_against_floor(engine, policy, count)
        again, seconds, touched = timed_day(engine, policy, TYPICAL)
        show("re-run", again, seconds, count, touched)
        work, seconds, touched = timed_day(engine, policy, WORST)
        show("worst day", work, seconds, count, touched)
    finally:
        engine.dispose()  # the database is dropped next: no connection may stay open
    return again.changed == 0


@contextmanager
def copy_of(backend: str, url: str, admin_url: str, name: str) -> Iterator[str]:
    """A copy of the (idle) database at ``url``, removed afterwards. On PostgreSQL its
    name is ``name`` made unique (as ``postgres_database`` does), so two runs at once
    never drop each other's copy."""
    if backend == "sqlite":
        source = Path(urlsplit(url).path[1:])
        target = source.with_name(f"{name}.db")
        # The last connection closed has checkpointed the write-ahead log into the file.
        shutil.copyfile(source, target)
        try:
            yield f"sqlite:///{target}"
        finally:
            target.unlink()
        return
    unique = f"{name}_{os.getpid()}_{secrets.token_hex(3)}"
    template = sql.Identifier(urlsplit(url).path[1:])
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(unique), template)
        )
    try:
        yield urlsplit(admin_url)._replace(path=f"/{unique}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(unique))
            )


def compare_run(backend: str, url: str, admin_url: str, count: int, policy: Policy) -> bool:
    """The typical and the worst day on ``count`` cases: ``work_day`` on one copy, the
    naive job on another; both times, their ratio, and whether they agree (returned)."""
    engine = prepared(url, count, policy, quiet=True)
    engine.dispose()  # a PostgreSQL template must have no connections
    agreed = True
    with copy_of(backend, url, admin_url, f"{BENCH_DATABASE}_naive") as naive_url:
        naive_engine = create_app({"DATABASE_URL": naive_url}).extensions["haohuan.engine"]
        try:
            print(f"row by row   {count:,} cases seeded the same way, settled, night's payments in")
            for label, day in (("typical day", TYPICAL), ("worst day", WORST)):
                started = time.perf_counter()
                work = work_day(engine, policy, day, morning(day))
                fast = time.perf_counter() - started
                started = time.perf_counter()
                naive = naive_day(naive_engine, policy, day, morning(day))
                slow = time.perf_counter() - started
                print(
                    f"  {label:<11} set-based {fast:6.2f} s   ORM row by row {slow:7.2f} s"
                    f"   ratio {slow / fast:5.1f}x   [{load()}]"
                )
                agreed &= agree(work, naive, outcome(engine), outcome(naive_engine))
        finally:
            naive_engine.dispose()
            engine.dispose()
    return agreed


def agree(
    work: DayWork, naive: Counter[str], fast: dict[str, Counter[Any]], slow: dict[str, Counter[Any]]
) -> bool:
    """Print whether the two jobs changed the same rows, by kind and row for row, and
    a few of the rows where they differ; True when they agree."""
    mine = {name: getattr(work, name) for name in COUNTS}
    theirs = {name: naive[name] for name in COUNTS}
    differ = [name for name in fast if fast[name] != slow[name]]
    verdict = "same" if mine == theirs else "DIFFERENT"
    print(f"              counts {verdict}: " + ", ".join(f"{k} {v:,}" for k, v in mine.items()))
    if mine != theirs:
        print("              row by row: " + ", ".join(f"{k} {v:,}" for k, v in theirs.items()))
    print(
        "              rows identical: "
        + (", ".join(name for name in fast if name not in differ) or "none")
        + (f"; DIFFERENT: {', '.join(differ)}" if differ else "")
    )
    for name in differ:
        only_naive, only_fast = slow[name] - fast[name], fast[name] - slow[name]
        print(f"              {name}: {sum(only_fast.values()):,} rows only set-based, e.g.")
        for row in list(only_fast)[:2]:
            print(f"                {tuple(row)}")
        print(f"              {sum(only_naive.values()):,} only row by row, e.g.")
        for row in list(only_naive)[:2]:
            print(f"                {tuple(row)}")
    return mine == theirs and not differ


def compare_rows(admin_url: str, million_url: str | None = None, rounds: int = 3) -> list[Row]:
    """The row "daily case work, 1M cases, typical day" of ``make bench-compare``:
    ``work_day``'s seconds over its SQL floor's (``FLOOR``: the overdue, stage and arrears steps),
    measured back to back on the same state, the median of ``rounds`` rounds (one run
    swings from 1.1x to 1.6x on this shared machine; the pages are medians of 3 rounds
    too). ``million_url`` is a database that ``prepared(url, 1_000_000, policy)`` built
    and nothing has worked since (no connection open to it): each round works the typical
    day on a copy of it, dropped after, and it is left as it was. Without it, a 1M-case
    database of its own is built (about five minutes), measured once and dropped."""
    policy = load_policy()
    count = 1_000_000

    def measured(engine: Engine) -> tuple[float, float]:
        try:
            return typical_against_floor(engine, policy, count)
        finally:
            engine.dispose()

    def row(results: list[tuple[float, float]]) -> list[Row]:
        ranked = sorted(results, key=lambda result: result[0] / result[1])
        seconds, floor = ranked[len(ranked) // 2]
        ratios = ", ".join(f"{spent / least:.2f}x" for spent, least in ranked)
        spread = f" (median of {len(ranked)}: {ratios})" if len(ranked) > 1 else ""
        return [
            at_most(
                "daily case work, 1M cases, typical day",
                f"{seconds:.2f} s{spread}",
                f"bare-SQL floor of its overdue, stage and arrears steps: {floor:.2f} s",
                seconds / floor,
                1.5,
            )
        ]

    if million_url is not None:
        results = []
        for _ in range(rounds):
            with copy_of("postgres", million_url, admin_url, BENCH_DATABASE) as url:
                engine = create_app({"DATABASE_URL": url}).extensions["haohuan.engine"]
                with engine.connect() as conn:
                    worked = conn.scalar(select(func.max(LifecycleRun.as_of)))
                if worked != SETTLE:
                    engine.dispose()
                    print(f"{million_url} was worked to {worked}, not {SETTLE}: building one")
                    break
                results.append(measured(engine))
        else:
            return row(results)
    with postgres_database(admin_url, BENCH_DATABASE) as url:
        return row([measured(prepared(url, count, policy, quiet=True))])


def main() -> None:
    """Parse the command line, run the big portfolio, then the row-by-row comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--cases", type=int, help="default 1,000,000 (postgres), 50,000 (sqlite)")
    parser.add_argument("--sample", type=int, default=10_000, help="cases for the comparison")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="also keep the prepared portfolio (seeded, settled, the night's payments in) as"
        " database NAME, for --reuse (PostgreSQL; dropped by hand)",
    )
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="work a copy of database NAME, which --keep left, instead of building the"
        " portfolio again (about five minutes at 1M); --cases is then NAME's",
    )
    args = parser.parse_args()
    if (args.keep or args.reuse) and args.backend != "postgres":
        raise SystemExit("--keep and --reuse are for PostgreSQL")
    count = args.cases or (1_000_000 if args.backend == "postgres" else 50_000)
    if args.backend == "postgres" and (why := postgres_unreachable(args.postgres_url)):
        # ``make bench`` on a machine without PostgreSQL still measures SQLite.
        print(f"postgres unreachable ({why}): measuring SQLite with 50,000 cases instead")
        args.backend, count = "sqlite", args.cases or 50_000
    policy = load_policy()
    cases = f"the cases of {args.reuse}" if args.reuse else f"{count:,} cases"
    print(f"{args.backend}, {cases}; {load()}")
    if args.reuse and args.backend == "postgres":
        kept = urlsplit(args.postgres_url)._replace(path=f"/{args.reuse}").geturl()
        with copy_of("postgres", kept, args.postgres_url, BENCH_DATABASE) as url:
            rerun_clean = big_run(url, count, policy, reuse=True)
    else:
        with database(args.backend, args.postgres_url, BENCH_DATABASE) as url:
            rerun_clean = big_run(url, count, policy, args.postgres_url, args.keep)
    agreed = True
    if args.sample:
        with database(args.backend, args.postgres_url, f"{BENCH_DATABASE}_sample") as url:
            agreed = compare_run(args.backend, url, args.postgres_url, args.sample, policy)
    # Every figure is printed first; then a failed check fails the run (and make bench).
    if not rerun_clean:
        raise SystemExit("the re-run changed rows: it must change none")
    if not agreed:
        raise SystemExit("work_day and the row-by-row job disagree (see DIFFERENT above)")


if __name__ == "__main__":
    main()
