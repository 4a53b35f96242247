"""A month's general-ledger journals at 1,000,000 payments, on PostgreSQL.

Builds, in a database of its own (``bench_journals_<pid>_<random>``, dropped afterwards),
``--payments`` succeeded payments spread over November 2026 across 100,000 loans of three
products in TWD, CNY and HKD, each allocated to fee, interest and principal; one in a
hundred partly refunded and one in two hundred lost to a dispute (their negative
allocations booked a few days later), and a reconciliation run whose lines carry Stripe's
fee on every charge. Then times ``haohuan ledger journal --month 2026-11`` as the command
writes it (``portal.finance.journal_files.export``: the month's journals, a day of
grouped queries at a time, as CSV and as Beancount), against a bare
``COPY (SELECT … FROM allocations JOIN payments …) TO STDOUT`` of the month's same rows
in the same run: the floor of reading them at all.

    .venv/bin/python bench/journals.py [--payments 1000000] [--postgres-url URL] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, postgres_database, postgres_unreachable
from _compare import Row, at_most

sys.path.insert(0, str(ROOT))

from portal import create_app
from portal.core import db, migrate
from portal.finance import journal_files, journals

MONTH = date(2026, 11, 1)
ZONE = ZoneInfo("Asia/Taipei")
LOANS = 100_000
# The export may take this many times the bare COPY of the rows it sums.
GOAL = 2.0
DATABASE = "bench_journals"

# Each statement builds one table from generate_series: set-based, as the portal's own
# daily work is, so a million payments take seconds to make.
BUILD = [
    """INSERT INTO borrowers (id, reference, full_name, locale, timezone, phone,
        verification_salt, date_of_birth_hash, id_last4_hash, created_at, jurisdiction)
    SELECT n, 'B-' || n, 'Borrower ' || n, 'zh_Hant_TW', 'Asia/Taipei', '+886 9' || n,
        'salt', 'x', 'x', '2026-01-01', 'TW'
    FROM generate_series(1, %(loans)s) AS n""",
    """INSERT INTO loans (id, borrower_id, number, product, currency, principal,
        annual_rate_pct, frequency, start_date)
    SELECT n, n, 'LN-' || n, (ARRAY['personal', 'auto', 'sme'])[1 + n %% 3],
        (ARRAY['TWD', 'CNY', 'HKD'])[1 + n %% 3], 6000000, 12, 'monthly', '2026-01-01'
    FROM generate_series(1, %(loans)s) AS n""",
    """INSERT INTO cases (id, loan_id, status, stage, needs_agent, updated_at)
    SELECT n, n, 'open', 'early', false, '2026-11-01'
    FROM generate_series(1, %(loans)s) AS n""",
    # Confirmed at a moment of November (UTC, so some fall on Taipei's December 1st).
    """INSERT INTO payments (id, case_id, purpose, amount, currency, status, gateway,
        gateway_reference, created_at, confirmed_at, refunded, disputed)
    SELECT n, 1 + n %% %(loans)s, 'installment', 100000 + (n %% 997) * 100,
        (ARRAY['TWD', 'CNY', 'HKD'])[1 + (1 + n %% %(loans)s) %% 3], 'succeeded', 'stripe',
        'pi_' || n, at, at,
        CASE WHEN n %% 100 = 0 THEN 10000 ELSE 0 END,
        CASE WHEN n %% 200 = 1 THEN 100000 + (n %% 997) * 100 ELSE 0 END
    FROM generate_series(1, %(payments)s) AS n,
        LATERAL (SELECT timestamptz '2026-11-01 00:00+00'
            + (n::float / %(payments)s) * interval '29 days 20 hours' AS at) AS moment""",
    # Fee 5,000, interest 20,000, principal the rest; booked at the confirmation.
    """INSERT INTO allocations (payment_id, target, amount, booked_at, cause)
    SELECT p.id, s.target, s.amount, p.confirmed_at, 'payment'
    FROM payments p, LATERAL (VALUES ('fee', 5000), ('interest', 20000),
        ('principal', p.amount - 25000)) AS s(target, amount)""",
    # A refund of 100.00 takes principal back three days on.
    """INSERT INTO allocations (payment_id, target, amount, booked_at, cause)
    SELECT id, 'principal', -refunded, confirmed_at + interval '3 days', 'refund'
    FROM payments WHERE refunded > 0""",
    # A lost dispute takes all of it back, last target first, a week on.
    """INSERT INTO allocations (payment_id, target, amount, booked_at, cause)
    SELECT p.id, s.target, -s.amount, p.confirmed_at + interval '7 days', 'dispute'
    FROM payments p, LATERAL (VALUES ('fee', 5000), ('interest', 20000),
        ('principal', p.amount - 25000)) AS s(target, amount)
    WHERE p.disputed > 0""",
    """INSERT INTO reconciliation_runs (id, started_at, since, until, started_by, status,
        matched, missing_here, missing_at_stripe, amount_mismatches, payout_mismatches)
    VALUES (1, '2026-12-01', '2026-11-01', '2026-12-01', 'bench', 'completed',
        %(payments)s, 0, 0, 0, 0)""",
    """INSERT INTO reconciliation_items (run_id, kind, currency, transaction_type,
        payment_id, payment_intent, balance_transaction, stripe_amount, our_amount, fee,
        net, occurred_at)
    SELECT 1, 'matched', lower(currency), 'charge', id, gateway_reference, 'txn_' || id,
        amount, amount, 340 + amount / 100 * 3, amount - 340 - amount / 100 * 3,
        confirmed_at
    FROM payments""",
]
# The bare floor: the month's same allocation rows, with what the journals group them by,
# dumped as they are.
BARE = """COPY (
    SELECT a.booked_at, a.cause, l.product, p.currency, a.target, a.amount
    FROM allocations a
    JOIN payments p ON p.id = a.payment_id
    JOIN cases c ON c.id = p.case_id
    JOIN loans l ON l.id = c.loan_id
    WHERE a.booked_at >= %(start)s AND a.booked_at < %(end)s
) TO STDOUT"""


def build(url: str, payments: int) -> None:
    """The migrated database with the payments, their allocations and Stripe's fees."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrate.upgrade(app)
    app.extensions["haohuan.engine"].dispose()
    with psycopg.connect(_driver_url(url), autocommit=True) as conn:
        for statement in BUILD:
            values = {"loans": LOANS, "payments": payments}
            conn.execute(statement, values if "%(" in statement else None)
        conn.execute("VACUUM ANALYZE")


def _driver_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def export(url: str, form: str) -> tuple[float, int, int]:
    """The month's journals written as ``form``: seconds, bytes and lines written."""
    app = create_app({"DATABASE_URL": url})
    first, last = journals.month_days(MONTH)
    try:
        with app.app_context():
            started = time.perf_counter()
            size = lines = 0
            for text in journal_files.export(db.session(), first, last, form, ZONE):
                size += len(text)
                lines += text.count("\n")
            return time.perf_counter() - started, size, lines
    finally:
        app.extensions["haohuan.engine"].dispose()


def bare(url: str) -> tuple[float, int]:
    """The bare COPY of the month's allocation rows: seconds and rows."""
    start, _ = journals.day_range(MONTH, ZONE)
    _, end = journals.day_range(journals.month_days(MONTH)[1], ZONE)
    with psycopg.connect(_driver_url(url)) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        rows = 0
        with cursor.copy(BARE, {"start": start, "end": end}) as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
        return time.perf_counter() - started, rows


def measure(admin_url: str, payments: int, runs: int) -> dict[str, float | int]:
    """Build, then the export's and the floor's median seconds over ``runs`` each."""
    with postgres_database(admin_url, DATABASE) as url:
        started = time.perf_counter()
        build(url, payments)
        print(f"built {payments:,} payments in {time.perf_counter() - started:.0f} s", flush=True)
        bare(url)  # warm: both sides read a cached database
        csv_times, bean_times, bare_times = [], [], []
        for _ in range(runs):
            seconds, rows = bare(url)
            bare_times.append(seconds)
            seconds, size, lines = export(url, "csv")
            csv_times.append(seconds)
            bean_seconds, bean_size, _ = export(url, "beancount")
            bean_times.append(bean_seconds)
            print(
                f"csv {seconds:.2f} s ({lines:,} lines, {size / 1024:.0f} KiB); "
                f"beancount {bean_seconds:.2f} s ({bean_size / 1024:.0f} KiB); "
                f"bare COPY {bare_times[-1]:.2f} s ({rows:,} rows)   [{_load()}]",
                flush=True,
            )
    return {
        "csv": statistics.median(csv_times),
        "beancount": statistics.median(bean_times),
        "bare": statistics.median(bare_times),
        "rows": rows,
        "lines": lines,
    }


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def compare_rows(admin_url: str, payments: int = 1_000_000) -> list[Row]:
    """``make bench-compare``'s row: the month's CSV journals at ``payments`` payments
    against a bare COPY of the same allocation rows, in the same run."""
    found = measure(admin_url, payments, 3)
    return [
        at_most(
            f"`ledger journal --month` CSV (PostgreSQL, {payments:,} payments)",
            f"{found['csv']:.2f} s ({found['lines']:,} lines)",
            f"COPY of the month's {found['rows']:,} allocation rows: {found['bare']:.2f} s",
            float(found["csv"]) / float(found["bare"]),
            GOAL,
        )
    ]


def main() -> None:
    """Build, export, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    found = measure(args.postgres_url, args.payments, args.runs)
    ratio = float(found["csv"]) / float(found["bare"])
    print(
        f"month's journals at {args.payments:,} payments: csv {found['csv']:.2f} s, "
        f"beancount {found['beancount']:.2f} s; bare COPY of {found['rows']:,} rows "
        f"{found['bare']:.2f} s; ratio {ratio:.2f}x (goal <= {GOAL:g}x)"
    )


if __name__ == "__main__":
    main()
