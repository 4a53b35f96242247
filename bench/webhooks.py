"""Signed Stripe webhook deliveries under concurrent load, against a baseline handler.

For each backend: migrates a fresh database (a temporary SQLite file; a PostgreSQL
database created for the run and dropped after it, never the test database), opens cases
each with an accepted plan and an open Stripe payment for its first installment (through
``portal.demo.seed``), serves the app with gunicorn under the production configuration
(``portal/gunicorn_conf.py``), and has concurrent keep-alive clients deliver
``payment_intent.succeeded`` events signed as Stripe signs them. Every tenth delivery is a
redelivery of an event already acknowledged, reported apart. Then it checks that every
paid payment succeeded exactly once and that ``ledger.check`` finds no drift, and prints
deliveries per second, p50 and p99.

On PostgreSQL the same clients first deliver the same number of events to the baseline
(``bench/_webhook_baseline.py``: a minimal Flask app under the same gunicorn
configuration that verifies the signature, inserts one row and commits), and the ratio
Haohuan / baseline is printed; with ``--rounds N`` the two alternate N times and the
medians are compared. ``compare_rows`` gives that ratio as a row of ``make bench-compare``.
``--profile N`` instead profiles N deliveries in this process (statements, CPU time,
cProfile) on a PostgreSQL database of its own.

    .venv/bin/python bench/webhooks.py [--events 3000 | --seconds 10] [--clients 8]
        [--rounds 1] [--backend sqlite|postgres|both] [--profile N]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import pstats
import random
import sys
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import stripe
from _common import (
    ROOT,
    Figures,
    drive,
    figures,
    postgres_database,
    postgres_unreachable,
    production_served,
    sqlite_database,
)
from _compare import Row, at_least
from _webhook_baseline import create_table
from sqlalchemy import func, select
from sqlalchemy.event import listen
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from portal import create_app
from portal.core import db, migrate
from portal.core.clock import local_today, now
from portal.demo import seed
from portal.models import Case, CaseEvent, Payment, ProcessedEvent
from portal.payments import ledger

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_bench_" + "s" * 24
BENCH_DATABASE = "bench_webhooks"
# Stripe redelivers whenever an acknowledgement is slow or lost; one in ten is a
# pessimistic but realistic share.
REDELIVER_EVERY = 10
FRESH, REDELIVERY = "fresh", "redelivery"


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent the portal is waiting on: its id and amount in minor units."""

    reference: str
    amount: int
    currency: str


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--events", type=int, help="deliveries per backend (default 3000)")
    length.add_argument("--seconds", type=float, help="deliver for this long instead")
    parser.add_argument(
        "--cases", type=int, help="open payments to pay (default: enough for --events)"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=1, help="baseline and Haohuan alternate this many times"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead: profile N deliveries in this process, on PostgreSQL",
    )
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if args.seconds is None and args.events is None:
        args.events = 3000
    if args.cases is None:
        # With --seconds the rate is not known beforehand: size for a generous one, and
        # say so below if the payments run out first.
        wanted = args.events if args.events else int(args.seconds * 400)
        args.cases = wanted - wanted // REDELIVER_EVERY
    return args


def prepare(url: str, count: int) -> list[Intent]:
    """Migrate, then open ``count`` cases each with an accepted arrears plan and a pending
    Stripe payment for its first installment."""
    # Verification facts are hashed at a low cost: nobody signs in during the benchmark.
    app = create_app({"DATABASE_URL": url, "SCRYPT_COST": 2})
    with app.test_request_context("/"):
        migrate.upgrade(app)
        session = db.session()
        moment = now()
        cases = seed.overdue_cases(session, count, local_today("Asia/Taipei"), random.Random(1))
        intents = [_open_intent(session, case, moment) for case in cases]
        session.commit()
    app.extensions["haohuan.engine"].dispose()
    return intents


def _open_intent(session: Session, case: Case, moment: datetime) -> Intent:
    today = local_today(case.loan.borrower.timezone)
    plan = seed.accept_arrears_plan(session, case, today, moment)
    reference = f"pi_bench_{case.id:07d}"
    payment = seed.open_stripe_payment(session, plan, reference, moment)
    return Intent(reference, payment.amount, payment.currency)


def event_body(number: int, intent: Intent) -> bytes:
    """A ``payment_intent.succeeded`` event as Stripe sends it."""
    event = {
        "id": f"evt_bench_{number:07d}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": intent.reference,
                "object": "payment_intent",
                "amount": intent.amount,
                "currency": intent.currency.lower(),
                "status": "succeeded",
            }
        },
    }
    return json.dumps(event).encode()


@dataclass
class Deliveries:
    """Hands the next delivery to whichever client is free: a success for the next open
    payment or, every ``REDELIVER_EVERY``th, an event already acknowledged once more."""

    intents: list[Intent]
    total: int | None
    deadline: float
    sent: int = 0
    paid: list[str] = field(default_factory=list)
    acknowledged: list[bytes] = field(default_factory=list)
    duplicates: int = 0
    ran_out: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def take(self) -> tuple[str, bytes] | None:
        """The next delivery (its kind and body), or None when the run is over."""
        with self.lock:
            if self.sent == self.total or time.perf_counter() >= self.deadline:
                return None
            self.sent += 1
            if self.sent % REDELIVER_EVERY == 0 and self.acknowledged:
                return REDELIVERY, self.rng.choice(self.acknowledged)
            fresh = self.sent - self.sent // REDELIVER_EVERY - 1
            if fresh >= len(self.intents):
                self.ran_out = True
                return None
        return FRESH, event_body(fresh, self.intents[fresh])

    def acknowledge(self, kind: str, body: bytes, duplicate: bool) -> None:
        """Record the portal's answer; a first delivery called a duplicate is a bug."""
        if kind == FRESH and duplicate:
            raise RuntimeError(f"a first delivery was called a duplicate: {body[:80]!r}")
        with self.lock:
            if kind == REDELIVERY:
                self.duplicates += duplicate
            else:
                self.acknowledged.append(body)
                self.paid.append(json.loads(body)["data"]["object"]["id"])


def deliver(port: int, deliveries: Deliveries, clients: int) -> dict[str, list[float]]:
    """Post every delivery, signed afresh each time as Stripe does on a retry."""

    def step(connection: http.client.HTTPConnection) -> str | None:
        taken = deliveries.take()
        if taken is None:
            return None
        kind, body = taken
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        connection.request("POST", "/webhooks/stripe", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"the webhook answered {response.status}: {answer[:200]!r}")
        deliveries.acknowledge(kind, body, bool(json.loads(answer).get("duplicate")))
        return kind

    return drive(port, clients, step)


def warm_up(port: int, clients: int) -> None:
    """Boot both workers on an event type the portal acknowledges without acting on."""
    # Every event Stripe sends carries its object: one without is refused as unsigned.
    event = {"id": "evt_warm", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    body = json.dumps(event).encode()
    left = iter(range(clients * 20))

    def step(connection: http.client.HTTPConnection) -> str | None:
        if next(left, None) is None:
            return None
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        connection.request("POST", "/webhooks/stripe", body, {"Stripe-Signature": signature})
        connection.getresponse().read()
        return "warm"

    drive(port, clients, step)


def verify(url: str, paid: list[str]) -> list[str]:
    """Every way the database disagrees with the deliveries the portal acknowledged:
    each paid payment succeeded, with one success recorded; no other payment moved; one
    processed event per payment; and ``ledger.check`` finds no drift."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        session = db.session()
        payments = select(Payment.id, Payment.gateway_reference, Payment.status)
        statuses = {r: (i, s) for i, r, s in session.execute(payments)}
        recorded = Counter(
            data.get("payment_id")
            for data in session.scalars(
                select(CaseEvent.data).where(CaseEvent.kind == "payment_succeeded")
            )
        )
        processed = session.scalar(select(func.count()).select_from(ProcessedEvent))
        problems = ledger.check(session)
    app.extensions["haohuan.engine"].dispose()
    expected = set(paid)
    for reference, (payment_id, status) in statuses.items():
        if (status == "succeeded") != (reference in expected):
            problems.append(f"{reference} is {status}")
        if recorded[payment_id] != (reference in expected):
            problems.append(f"{reference} recorded {recorded[payment_id]} successes")
    if processed != len(expected):
        problems.append(f"{processed} processed events for {len(expected)} payments")
    return problems


def serve_portal(url: str) -> AbstractContextManager[int]:
    """The portal on ``url`` under the production gunicorn configuration."""
    return production_served(url, STRIPE_WEBHOOK_SECRET=SECRET, PAYMENT_GATEWAY="sandbox")


def serve_baseline(url: str) -> AbstractContextManager[int]:
    """The baseline handler on ``url`` (its table made afresh) under the same configuration."""
    create_table(url)
    return production_served(url, "_webhook_baseline:build()", BENCH, STRIPE_WEBHOOK_SECRET=SECRET)


def run(
    label: str,
    serving: AbstractContextManager[int],
    intents: list[Intent],
    args: argparse.Namespace,
) -> tuple[Figures, Deliveries]:
    """Warm up, then deliver (every delivery checked: a 200, a duplicate only when it is
    a redelivery); print and return the figures and what was delivered."""
    with serving as port:
        warm_up(port, args.clients)
        deadline = time.perf_counter() + (args.seconds or float("inf"))
        deliveries = Deliveries(intents, args.events, deadline)
        started = time.perf_counter()
        latencies = deliver(port, deliveries, args.clients)
        seconds = time.perf_counter() - started
    overall = figures(latencies[FRESH] + latencies.get(REDELIVERY, []), seconds)
    _print_figures(label, overall, deliveries, latencies.get(REDELIVERY, []))
    return overall, deliveries


def checked(label: str, url: str, paid: list[str], deliveries: Deliveries) -> None:
    """Verify the books against everything paid so far; stop on any disagreement."""
    problems = verify(url, paid)
    _print_verification(deliveries, problems)
    if problems:
        raise SystemExit(f"{label}: the books do not agree with the deliveries")


def bench(backend: str, url: str, args: argparse.Namespace) -> Figures:
    """Prepare, serve, deliver and verify on one backend, without the baseline."""
    intents = prepare(url, args.cases)
    overall, deliveries = run(backend, serve_portal(url), intents, args)
    checked(backend, url, deliveries.paid, deliveries)
    return overall


def compare(url: str, args: argparse.Namespace) -> tuple[Figures, Figures]:
    """On PostgreSQL: the baseline and the portal, ``args.rounds`` times each, one after
    the other on the same database; the medians (by rate) of each, baseline first."""
    intents = prepare(url, args.cases * args.rounds)
    synthetic = [Intent(f"pi_base_{n:07d}", 1000 + n, "TWD") for n in range(args.cases)]
    base: list[Figures] = []
    ours: list[Figures] = []
    paid: list[str] = []
    for round_ in range(args.rounds):
        base.append(run("baseline", serve_baseline(url), synthetic, args)[0])
        mine = intents[round_ * args.cases : (round_ + 1) * args.cases]
        overall, deliveries = run("postgres", serve_portal(url), mine, args)
        paid += deliveries.paid
        checked("postgres", url, paid, deliveries)
        ours.append(overall)
        print(f"{'':<10} round {round_ + 1}: {overall.rate / base[-1].rate:.2f}x the baseline")
    return _median(base), _median(ours)


def _median(runs: list[Figures]) -> Figures:
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def compare_rows(admin_url: str) -> list[Row]:
    """``make bench-compare``'s row: 3,000 signed deliveries (every tenth a redelivery),
    8 clients, against the baseline handler just before, on a PostgreSQL database of its
    own next to ``admin_url``. One round: seeding the open payments is most of the time
    (``--rounds 3`` from the command line for medians)."""
    events = 3000
    args = argparse.Namespace(
        events=events, seconds=None, cases=events - events // REDELIVER_EVERY, clients=8, rounds=1
    )
    with postgres_database(admin_url, BENCH_DATABASE) as url:
        base, ours = compare(url, args)
    return [
        at_least(
            f"signed webhook (PostgreSQL, {events:,} deliveries)",
            f"{ours.rate:,.0f}/s, p99 {ours.p99_ms:.0f} ms",
            "verify the signature, insert one row, commit:"
            f" {base.rate:,.0f}/s, p99 {base.p99_ms:.0f} ms",
            ours.rate / base.rate,
            0.5,
        )
    ]


def _print_figures(
    backend: str, overall: Figures, deliveries: Deliveries, redelivered: list[float]
) -> None:
    print(
        f"{backend:<10} {overall.count:>6,} deliveries in {overall.seconds:5.1f} s"
        f"   {overall.rate:6.0f}/s   p50 {overall.p50_ms:6.1f} ms   p99 {overall.p99_ms:6.1f} ms"
    )
    if redelivered:
        again = figures(redelivered, overall.seconds)
        print(
            f"{'':<10} {again.count:>6,} of them redeliveries, {deliveries.duplicates:,}"
            f" acknowledged as duplicates   p50 {again.p50_ms:6.1f} ms"
            f"   p99 {again.p99_ms:6.1f} ms"
        )
    if deliveries.ran_out:
        print(f"{'':<10} (the open payments ran out before the time: raise --cases)")


def _print_verification(deliveries: Deliveries, problems: list[str]) -> None:
    if problems:
        print(f"{'':<10} NOT VERIFIED: {len(problems)} problems, first: {problems[:5]}")
        return
    print(
        f"{'':<10} verified: {len(deliveries.paid):,} payments succeeded, each recorded once;"
        " no other payment moved; ledger.check finds no drift"
    )


def profile(url: str, count: int) -> None:
    """In this process, through Flask's test client (no gunicorn, no concurrency): the SQL
    statements of one delivery, then ``count`` deliveries' CPU time per delivery beside
    an event the portal only acknowledges and a redelivery, and where the CPU time goes
    (cProfile on ``time.process_time``, by cumulative time)."""
    intents = prepare(url, count + 1)
    app = create_app(
        {"DATABASE_URL": url, "STRIPE_WEBHOOK_SECRET": SECRET, "PAYMENT_GATEWAY": "sandbox"}
    )
    client = app.test_client()
    statements: list[str] = []
    listen(
        app.extensions["haohuan.engine"],
        "before_cursor_execute",
        lambda *a: statements.append(a[2]),
    )

    def post(body: bytes) -> None:
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        answer = client.post("/webhooks/stripe", data=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"the webhook answered {answer.status_code}")

    def cpu_ms(bodies: list[bytes]) -> float:
        started = time.process_time()
        for body in bodies:
            post(body)
        return (time.process_time() - started) * 1000 / len(bodies)

    post(event_body(0, intents[0]))
    statements.clear()
    post(event_body(1, intents[1]))
    print(f"{len(statements)} statements for one payment_intent.succeeded:")
    for statement in statements:
        print("   ", " ".join(statement.split())[:150])
    fresh = [event_body(n, intents[n]) for n in range(2, count + 1)]
    half = len(fresh) // 2
    unacted = json.dumps(
        {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    ).encode()
    print(
        f"CPU a delivery: success {cpu_ms(fresh[:half]):.2f} ms,"
        f" redelivery {cpu_ms(fresh[:half]):.2f} ms, not acted on {cpu_ms([unacted] * half):.2f} ms"
    )
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for body in fresh[half:]:
        post(body)
    profiler.disable()
    print(f"\n{len(fresh) - half} successes under cProfile (CPU time), by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    app.extensions["haohuan.engine"].dispose()


def main() -> None:
    """Run the chosen backends and print their figures and ratios."""
    args = parse_args()
    if args.profile:
        with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
            profile(url, args.profile)
        return
    length = f"{args.events:,} deliveries" if args.events else f"{args.seconds:.0f} s"
    print(
        f"gunicorn (portal/gunicorn_conf.py); {args.clients} concurrent clients, {length} per"
        f" run, every {REDELIVER_EVERY}th a redelivery; {args.cases:,} open Stripe payments"
    )
    rates: dict[str, float] = {}
    if args.backend in ("sqlite", "both"):
        with sqlite_database() as url:
            rates["sqlite"] = bench("sqlite", url, args).rate
    unreachable = postgres_unreachable(args.postgres_url)
    if args.backend == "both" and unreachable:
        # ``make bench`` on a machine without PostgreSQL still measures SQLite.
        print(f"postgres   skipped: {unreachable}")
    elif args.backend in ("postgres", "both"):
        with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
            base, ours = compare(url, args)
        rates["postgres"] = ours.rate
        print(
            f"ratio      Haohuan/baseline {ours.rate / base.rate:.2f}x deliveries per second"
            f" (medians of {args.rounds}: {ours.rate:,.0f}/s against {base.rate:,.0f}/s)"
        )
    if len(rates) == 2:
        print(
            f"ratio      SQLite/PostgreSQL {rates['sqlite'] / rates['postgres']:.2f}x"
            " deliveries per second"
        )


if __name__ == "__main__":
    main()
