"""Automatic plan payments (``haohuan payments autopay``: ``portal.payments.autopay.run``)
on PostgreSQL: the charges per second against localstripe, and the re-run at 100,000
plans on autopay.

Creates databases of its own (``bench_autopay_…``, dropped afterwards; never the test
database), migrates them and seeds loans as ``bench/lifecycle.py`` does, each case with
an active plan of two monthly installments, the first due on the run's day (10:00 in the
borrowers' zones, inside their allowed hours), a saved card and autopay on. Then:

* **charges** (``--charges``, default 2,000): localstripe runs on 127.0.0.1 (as the
  tests run it, ``tests/portal/localstripe_server``, with the idempotency keys and
  off-session refusals it is taught there); each card is a PaymentMethod attached to a
  Customer there. The run charges every installment, end to end (the attempt and its
  payment committed, the off-session PaymentIntent created and confirmed at localstripe
  through the stripe SDK, the answer committed, the payment settled and allocated through
  the one payment handler). Beside it, in the same run, the floor: the same number of
  bare off-session PaymentIntents created through the SDK on the same localstripe (what
  the run cannot go faster than, whatever it does in its database). Then the re-run of
  the same day, which must charge nothing (counted at localstripe too).
* **re-run** (``--plans``, default 100,000): every installment due today already charged
  (its attempt succeeded, its payment settled, the installment paid), as after the
  morning's run; the run again, which must do nothing. Its baseline, in the same
  process on the same database: one bare SQL SELECT of the same rows (each installment
  in the run's window with its attempts), fetched whole.

    .venv/bin/python bench/autopay.py [--charges 2000] [--plans 100000] [--runs 3]
        [--only charges,rerun] [--compare]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]

``compare_rows`` (``--compare`` prints it alone) is ``make bench-compare``'s row: the
re-run at ``--plans`` plans against the bare SELECT.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import ROOT, postgres_database, postgres_unreachable
from _compare import Row, at_most
from sqlalchemy import Engine, func, select, text

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from lifecycle import TYPICAL, Portfolio, _add_plan, analyze, load, portfolio, seed

from negotiation import Currency, load_policy
from portal import create_app
from portal.core import db as database
from portal.core import migrate
from portal.models import AutopayAttempt, Payment, PlanInstallment
from portal.payments import autopay
from tests.portal.localstripe_server import running

BENCH_DATABASE = "bench_autopay"
# 10:00 in Taipei, Shanghai and Hong Kong on the run's day: inside every jurisdiction's
# allowed hours.
MOMENT = datetime(TYPICAL.year, TYPICAL.month, TYPICAL.day, 2, 0, tzinfo=UTC)
KEY = "sk_test_haohuan"
# The re-run's goal: at most this many times the bare SELECT of the same rows.
RERUN_GOAL = 10.0

STRIPE = {
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": KEY,
    "STRIPE_PUBLISHABLE_KEY": "pk_test_haohuan",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
}


def plans_due_today(count: int) -> Portfolio:
    """``count`` loans as ``bench/lifecycle.py`` makes them, each case arranged (no hold)
    with an active plan of two monthly installments: one due today, one a month later."""
    built = portfolio(count, load_policy())
    built.loans = [(*loan[:9], "arranged", loan[10], None, loan[12]) for loan in built.loans]
    built.plans, built.plan_installments, built.payments = [], [], []
    for loan in built.loans:
        case_id, currency, principal_part = loan[0], loan[1], loan[7]
        step = Currency(currency).installment_step
        amount = max(step, principal_part // step * step)
        dues = [(TYPICAL, amount, 0), (TYPICAL + timedelta(days=30), amount, 0)]
        _add_plan(built, case_id, currency, "active", "arrears_plan", dues, 0, MOMENT)
    return built


def on_autopay(engine: Engine, gateway: str) -> None:
    """A saved card per borrower (``method_ref`` a placeholder, set by the caller when
    the cards are real) and autopay on for every plan."""
    at = {"at": MOMENT - timedelta(days=3), "gateway": gateway}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO saved_cards (borrower_id, gateway, customer_ref, method_ref, brand,"
                " last4, exp_month, exp_year, status, created_at)"
                " SELECT l.borrower_id, :gateway, 'cus_bench', 'pm_bench_' || l.borrower_id,"
                " 'visa', '4242', 12, 2030, 'active', :at FROM loans l ORDER BY l.id"
            ),
            at,
        )
        conn.execute(
            text(
                "INSERT INTO autopays (plan_id, card_id, status, consented_at, terms_version,"
                " locale, shown_hash, ip_address, user_agent, started_at)"
                " SELECT p.id, s.id, 'on', :at, :version, 'zh_Hant_TW', 'bench', '127.0.0.1',"
                " 'bench', :at FROM plans p JOIN cases c ON c.id = p.case_id"
                " JOIN loans l ON l.id = c.loan_id"
                " JOIN saved_cards s ON s.borrower_id = l.borrower_id ORDER BY p.id"
            ),
            {**at, "version": autopay.MANDATE_VERSION},
        )


def charged_this_morning(engine: Engine) -> None:
    """Every installment due today charged, as the morning's run leaves it: a settled
    automatic payment, its attempt succeeded, the installment paid."""
    at = {"at": MOMENT - timedelta(hours=1), "today": TYPICAL}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO payments (case_id, plan_id, purpose, amount, currency, status,"
                " gateway, gateway_reference, automatic, created_at, confirmed_at, refunded,"
                " disputed)"
                " SELECT p.case_id, p.id, 'installment', i.amount, p.currency, 'succeeded',"
                " 'stripe', 'pi_bench_' || i.id, true, :at, :at, 0, 0"
                " FROM plan_installments i JOIN plans p ON p.id = i.plan_id"
                " WHERE i.due_date = :today ORDER BY i.id"
            ),
            at,
        )
        conn.execute(
            text(
                "INSERT INTO autopay_attempts (autopay_id, installment_id, number,"
                " scheduled_on, outcome, payment_id, card_id, amount, currency, key,"
                " created_at, finished_at)"
                " SELECT a.id, i.id, 1, i.due_date, 'succeeded', m.id, a.card_id, i.amount,"
                " m.currency,"
                " 'haohuan-autopay-bench-' || i.id, :at, :at"
                " FROM plan_installments i JOIN autopays a ON a.plan_id = i.plan_id"
                " JOIN payments m ON m.gateway_reference = 'pi_bench_' || i.id"
                " WHERE i.due_date = :today ORDER BY i.id"
            ),
            at,
        )
        conn.execute(text("UPDATE plan_installments SET paid = amount WHERE due_date = :today"), at)


def prepared(url: str, count: int, extra: dict[str, object]) -> Any:
    """The app on a migrated database seeded with ``count`` plans on autopay."""
    app = create_app({"DATABASE_URL": url, "HAOHUAN_NOW": MOMENT.isoformat(), **extra})
    with app.app_context():
        migrate.upgrade(app)
    engine: Engine = app.extensions["haohuan.engine"]
    started = time.perf_counter()
    rows = seed(engine, plans_due_today(count), MOMENT - timedelta(days=365))
    on_autopay(engine, str(extra.get("PAYMENT_GATEWAY", "sandbox")))
    print(
        f"seeded {rows['cases']:,} cases, {rows['plans']:,} plans on autopay"
        f" ({rows['plan_installments']:,} installments) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return app


def run_once(app: Any) -> tuple[float, autopay.RunCounts]:
    """The run, as ``payments autopay`` makes it: its seconds and counts."""
    with app.app_context():
        started = time.perf_counter()
        counts = autopay.run(database.session(), MOMENT)
        return time.perf_counter() - started, counts


# Charges against localstripe -----------------------------------------------------------


def cards_at_stripe(engine: Engine, base: str) -> None:
    """One Customer at localstripe, a test card attached to it for every saved card here;
    the saved cards pointed at them."""
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": base})
    customer = client.v1.customers.create(params={"metadata": {"bench": "autopay"}})
    with engine.connect() as conn:
        ids = list(conn.scalars(text("SELECT id FROM saved_cards ORDER BY id")))
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    methods = []
    for card_id in ids:
        method = client.v1.payment_methods.create(params={"type": "card", "card": card})
        client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
        methods.append({"id": card_id, "method": method.id, "customer": customer.id})
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE saved_cards SET method_ref = :method, customer_ref = :customer"
                " WHERE id = :id"
            ),
            methods,
        )


def bare_charges(base: str, count: int) -> float:
    """The floor: ``count`` off-session PaymentIntents created and confirmed through the
    SDK on the same localstripe, one after another, nothing else. Returns the seconds."""
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": base}, max_network_retries=1)
    customer = client.v1.customers.create(params={"metadata": {"bench": "floor"}})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    params = {
        "amount": 100_000,
        "currency": "twd",
        "customer": customer.id,
        "payment_method": method.id,
        "off_session": True,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        "metadata": {"bench": "floor"},
    }
    started = time.perf_counter()
    for number in range(count):
        client.v1.payment_intents.create(
            params=params, options={"idempotency_key": f"bench-floor-{number}"}
        )
    return time.perf_counter() - started


def intents_at(base: str) -> int:
    """How many PaymentIntents localstripe holds."""
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": base})
    listed = client.v1.payment_intents.list(params={"limit": 100})
    return sum(1 for _ in listed.auto_paging_iter())


def charges(admin_url: str, count: int) -> tuple[float, float]:
    """The run's charges per second against localstripe, and the floor's."""
    with running() as base, postgres_database(admin_url, BENCH_DATABASE) as url:
        app = prepared(url, count, {**STRIPE, "STRIPE_API_BASE": base})
        engine: Engine = app.extensions["haohuan.engine"]
        try:
            started = time.perf_counter()
            cards_at_stripe(engine, base)
            print(
                f"{count:,} cards attached at localstripe in {time.perf_counter() - started:.1f} s"
            )
            analyze(engine)
            floor = count / bare_charges(base, count)
            print(f"floor: bare off-session PaymentIntents  {floor:7,.1f}/s   [{load()}]")
            before = intents_at(base)
            seconds, counts = run_once(app)
            rate = counts.charged / seconds
            print(
                f"payments autopay: charged {counts.charged:,} in {seconds:.1f} s ="
                f" {rate:,.1f} installments/s ({rate / floor:.2f} of the floor);"
                f" {counts.as_json()}   [{load()}]"
            )
            made = intents_at(base) - before
            again, recounted = run_once(app)
            after = intents_at(base) - before
            print(
                f"re-run: {again:.2f} s, charged {recounted.charged}; PaymentIntents at"
                f" localstripe {made:,} after the run, {after:,} after the re-run"
            )
            if counts.charged != count or recounted.charged or made != count or after != count:
                raise SystemExit("an installment was not charged, or charged twice")
        finally:
            engine.dispose()
    return rate, floor


# The re-run at 100,000 plans --------------------------------------------------------


BARE = """
SELECT i.id, i.due_date, i.amount - i.paid, p.id, p.case_id, a.id, b.timezone,
       b.jurisdiction, p.currency, t.number, t.scheduled_on, t.outcome
FROM plan_installments i
JOIN plans p ON p.id = i.plan_id
JOIN autopays a ON a.plan_id = p.id
JOIN cases c ON c.id = p.case_id
JOIN loans l ON l.id = c.loan_id
JOIN borrowers b ON b.id = l.borrower_id
LEFT JOIN autopay_attempts t ON t.installment_id = i.id
WHERE a.status = 'on' AND p.status IN ('active', 'pending')
  AND i.due_date BETWEEN :earliest AND :latest
ORDER BY i.due_date, i.id, t.number
"""


def bare_select(engine: Engine, grace: int) -> tuple[float, int]:
    """The baseline: the re-run's rows (each installment in its window, with its
    attempts) in one SELECT, fetched whole. Returns the seconds and the rows."""
    window = {
        "earliest": (MOMENT - timedelta(days=1)).date() - timedelta(days=grace),
        "latest": (MOMENT + timedelta(days=1)).date(),
    }
    with engine.connect() as conn:
        started = time.perf_counter()
        rows = conn.execute(text(BARE), window).all()
        return time.perf_counter() - started, len(rows)


def rerun(admin_url: str, plans: int, runs: int) -> tuple[float, float, int]:
    """The re-run's median seconds at ``plans`` plans all charged this morning, the bare
    SELECT's, and the rows it read."""
    with postgres_database(admin_url, BENCH_DATABASE) as url:
        app = prepared(url, plans, {"PAYMENT_GATEWAY": "sandbox"})
        engine: Engine = app.extensions["haohuan.engine"]
        try:
            charged_this_morning(engine)
            analyze(engine)
            grace = load_policy().grace_days
            bare_select(engine, grace)  # warm: both sides read a cached database
            times, bares = [], []
            for _ in range(runs):
                seconds, rows = bare_select(engine, grace)
                bares.append(seconds)
                taken, counts = run_once(app)
                times.append(taken)
                if counts.charged or counts.declined or counts.unreachable:
                    raise SystemExit(f"the re-run did something: {counts.as_json()}")
            print(
                f"re-run at {plans:,} plans: "
                + ", ".join(f"{t:.2f}" for t in times)
                + " s; bare SELECT of the same "
                + f"{rows:,} rows: "
                + ", ".join(f"{t:.3f}" for t in bares)
                + f" s   [{load()}]"
            )
            with engine.connect() as conn:
                made = conn.scalar(select(func.count()).select_from(AutopayAttempt))
                automatic = conn.scalar(
                    select(func.count()).select_from(Payment).where(Payment.automatic.is_(True))
                )
                due = conn.scalar(
                    select(func.count())
                    .select_from(PlanInstallment)
                    .where(PlanInstallment.due_date == TYPICAL)
                )
            if not made == automatic == due == plans:
                raise SystemExit(f"attempts {made}, payments {automatic}, due {due}")
        finally:
            engine.dispose()
    return statistics.median(times), statistics.median(bares), rows


def compare_rows(admin_url: str, plans: int = 100_000) -> list[Row]:
    """``make bench-compare``'s row: the re-run at ``plans`` plans on autopay, all
    charged this morning, against one bare SELECT of the same rows, in the same run."""
    seconds, bare, rows = rerun(admin_url, plans, 3)
    return [
        at_most(
            f"`payments autopay` re-run (PostgreSQL, {plans:,} plans, all charged)",
            f"{seconds:.2f} s",
            f"one SELECT of the same {rows:,} rows: {bare:.3f} s",
            seconds / bare,
            RERUN_GOAL,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=2_000, help="installments charged")
    parser.add_argument("--plans", type=int, default=100_000, help="plans at the re-run")
    parser.add_argument("--runs", type=int, default=3, help="re-runs measured")
    parser.add_argument("--only", default="charges,rerun", help="charges, rerun or both")
    parser.add_argument("--compare", action="store_true", help="print only bench-compare's row")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    if args.compare:
        from _compare import table

        print(table(compare_rows(args.postgres_url, args.plans)))
        return
    chosen = {name.strip() for name in args.only.split(",")}
    print(f"postgres; {load()}")
    if "charges" in chosen:
        rate, floor = charges(args.postgres_url, args.charges)
        print(f"charges: {rate:,.1f}/s against localstripe; floor {floor:,.1f}/s")
    if "rerun" in chosen:
        seconds, bare, _rows = rerun(args.postgres_url, args.plans, args.runs)
        print(
            f"re-run: {seconds:.2f} s at {args.plans:,} plans; bare SELECT {bare:.3f} s;"
            f" ratio {seconds / bare:.1f}x (goal <= {RERUN_GOAL:g}x)"
        )


if __name__ == "__main__":
    main()
