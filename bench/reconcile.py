"""Reconciliation of 10,000 balance transactions, over the real path.

Starts localstripe on 127.0.0.1 (as the tests do, from ``tests/portal/localstripe_server``),
pays ``--transactions`` PaymentIntents there by card with the real stripe SDK (one in a
hundred of them then partly refunded, so refunds are 1% of the transactions), records
the matching payments in a fresh SQLite database (or ``--database-url``), and runs
``portal.finance.reconcile.reconcile``: the SDK's auto-pagination over HTTP, 100 a page,
with each charge or refund expanded. Prints the run's time and transactions per second,
then runs it again under tracemalloc for the peak of Python allocations, and the
process's peak resident memory (getrusage maxrss, which includes the setup).

    .venv/bin/python bench/reconcile.py [--transactions 10000] [--threads 8]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stripe
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this file's folder holds bench/portal.py: the package must win

from portal import create_app  # noqa: E402 (after the path above)
from portal.core import db, migrate  # noqa: E402
from portal.core.clock import local_today, now  # noqa: E402
from portal.demo import seed  # noqa: E402
from portal.finance.reconcile import reconcile  # noqa: E402
from portal.models import Case, Payment, ReconciliationRun  # noqa: E402
from portal.payments.stripe_gateway import StripeSettings  # noqa: E402
from tests.portal.localstripe_server import running  # noqa: E402

KEY = "sk_test_bench"
REFUND_EVERY = 100


def pay_all(url: str, count: int, threads: int) -> list[tuple[str, int, int]]:
    """Paid intents, one in a hundred of them partly refunded: (intent, amount, refunded).
    A refund is one more balance transaction, so charges and refunds make ``count``."""
    refunds = count // REFUND_EVERY
    charges = count - refunds
    browser = stripe.StripeClient(KEY, base_addresses={"api": url})

    def pay(n: int) -> tuple[str, int, int]:
        amount = 100_000 + n * 100
        intent = browser.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": "twd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
        if n >= refunds:
            return str(intent.id), amount, 0
        browser.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1_000})
        return str(intent.id), amount, 1_000

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(pay, range(charges)))


def record(url: str, paid: list[tuple[str, int, int]], at: datetime) -> Any:
    """A migrated database with a demo portfolio and our side of every payment."""
    app = create_app({"DATABASE_URL": url, "STRIPE_SECRET_KEY": KEY})
    with app.test_request_context("/"):
        migrate.upgrade(app)
        session = db.session()
        seed.seed(session, local_today("Asia/Taipei"), random.Random(1), now())
        case_id = session.scalars(select(Case.id)).first()
        session.add_all(
            Payment(
                case_id=case_id,
                purpose="partial",
                amount=amount,
                currency="TWD",
                status="succeeded",
                gateway="stripe",
                gateway_reference=intent,
                created_at=at,
                confirmed_at=at,
                refunded=refunded,
            )
            for intent, amount, refunded in paid
        )
        session.commit()
    return app


def timed(app: Any, stripe_url: str, since: datetime, until: datetime) -> tuple[float, float, Any]:
    """One reconciliation run: its seconds, the CPU seconds of this process (the rest is
    spent waiting for localstripe), and its counts."""
    app.config["STRIPE_API_BASE"] = stripe_url
    with app.app_context():
        started, cpu = time.perf_counter(), time.process_time()
        run = reconcile(db.session(), StripeSettings.from_config(), since, until, "bench", now())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, _counts(run)


def _counts(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "items": len(run.items),
        "matched": run.matched,
        "unmatched": run.unmatched,
        "error": run.error,
    }


def peak(measure: Callable[[], object]) -> int:
    """The peak of Python allocations while ``measure`` runs, in bytes."""
    tracemalloc.start()
    try:
        measure()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    """Set up, reconcile, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default="")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running() as stripe_url:
        url = options.database_url or f"sqlite:///{folder}/bench.db"
        started = time.perf_counter()
        paid = pay_all(stripe_url, options.transactions, options.threads)
        moment = datetime.now(UTC)
        app = record(url, paid, moment)
        setup = time.perf_counter() - started
        since, until = moment - timedelta(hours=2), moment + timedelta(hours=1)
        seconds, cpu, counts = timed(app, stripe_url, since, until)
        traced = peak(lambda: timed(app, stripe_url, since, until))
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"setup: {len(paid)} intents paid at localstripe and recorded in {setup:.1f} s")
    print(f"run: {counts}")
    print(
        f"reconciled {counts['items']} lines in {seconds:.2f} s "
        f"({counts['items'] / seconds:,.0f} transactions/s); "
        f"{cpu:.2f} s of it this process's CPU, the rest waiting for localstripe"
    )
    print(f"peak Python allocations during a run (tracemalloc): {traced / 2**20:.1f} MiB")
    print(f"peak resident memory of the process (maxrss): {maxrss_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
