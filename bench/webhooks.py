"""Signed Stripe webhook deliveries under concurrent load, against a baseline handler.

For each backend: migrates a fresh database (a temporary SQLite file; a PostgreSQL
database created for the run and dropped after it, never the test database), opens cases
each with an accepted plan and an open Stripe payment for its first installment (through
``portal.demo.seed``), serves the app with gunicorn under the production configuration
(``portal/gunicorn_conf.py``), and has concurrent keep-alive clients deliver
``payment_intent.succeeded`` events signed as Stripe signs them. Every tenth delivery is a
redelivery of an event already acknowledged, reported apart. Deliveries per second, p50
and p99 are what Stripe waits for: the acknowledgement (the event verified, recorded in
the webhook inbox, its settlement queued on Redis, ``--redis-url``, under a prefix of the
run's own that is deleted after it). The settlement is then measured apart, as a worker
runs it: the job function (``portal.payments.inbox.settle_job``) in a loop in this
process over every queued event, events settled per second and CPU per settlement.
Without Redis the web workers settle each event after answering it, so the rate includes
the settlement and there is nothing left to settle apart. Then it checks that every paid
payment succeeded exactly once and that ``ledger.check`` finds no drift.

On PostgreSQL the same clients first deliver the same number of events to the baseline
(``bench/_webhook_baseline.py``: a minimal Flask app under the same gunicorn
configuration that verifies the signature, inserts one row and commits), and the ratio
Haohuan / baseline is printed; with ``--rounds N`` the two alternate N times and the
medians are compared. ``compare_rows`` gives that ratio as a row of ``make bench-compare``,
and the settlement's rate beside it, a row with no goal.
``--profile N`` instead profiles N deliveries in this process (statements, CPU time,
cProfile) on a PostgreSQL database of its own.

    .venv/bin/python bench/webhooks.py [--events 3000 | --seconds 10] [--clients 8]
        [--rounds 1] [--backend sqlite|postgres|both] [--profile N]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import random
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
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
from _compare import Row, at_least, shown
from _webhook_baseline import create_table
from sqlalchemy import func, select
from sqlalchemy.event import listen
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from flask import Flask

from portal import create_app
from portal.core import db, migrate
from portal.core.clock import local_today, now
from portal.demo import seed
from portal.models import Case, CaseEvent, Payment, ProcessedEvent, WebhookInbox
from portal.payments import ledger
from portal.payments.inbox import settle_job

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_bench_" + "s" * 24
BENCH_DATABASE = "bench_webhooks"
# Stripe redelivers whenever an acknowledgement is slow or lost; one in ten is a
# pessimistic but realistic share.
REDELIVER_EVERY = 10
FRESH, REDELIVERY = "fresh", "redelivery"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


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
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="the settlements' queue (default $BENCH_REDIS_URL or %(default)s); keys under a"
        " prefix of the run's own, deleted after it; without an answer, none",
    )
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


@dataclass(frozen=True)
class JobQueue:
    """Where the served portal queues settlements: Redis under a prefix of the run's own,
    or nowhere (``url`` empty: the web workers settle each event after answering it)."""

    url: str
    prefix: str


@contextmanager
def job_queue(redis_url: str) -> Iterator[JobQueue]:
    """A queue on ``redis_url`` with a prefix of this run's own, its keys (the jobs nobody
    ran: the bench settles them itself) deleted afterwards; no queue when Redis does not
    answer."""
    from redis import Redis, RedisError

    prefix = f"bench-webhooks-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        redis = Redis.from_url(redis_url, socket_connect_timeout=2)
        redis.ping()
    except (RedisError, ValueError) as error:
        print(
            f"{'':<10} no Redis at {redis_url} ({type(error).__name__}): settled in the web workers"
        )
        yield JobQueue("", prefix)
        return
    try:
        yield JobQueue(redis_url, prefix)
    finally:
        # RQ keeps each job in a hash of its own (rq:job:<id>, no prefix in it): the ones
        # the queue lists go with it.
        queued = [f"rq:job:{job.decode()}" for job in redis.lrange(f"rq:queue:{prefix}", 0, -1)]
        keys = list(redis.scan_iter(f"{prefix}:*")) + list(redis.scan_iter(f"rq:*{prefix}*"))
        for start in range(0, len(queued + keys), 1000):
            redis.delete(*(queued + keys)[start : start + 1000])
        redis.srem("rq:queues", f"rq:queue:{prefix}")
        redis.close()


def serve_portal(url: str, queue: JobQueue) -> AbstractContextManager[int]:
    """The portal on ``url`` under the production gunicorn configuration, queueing its
    settlements on ``queue``."""
    jobs = {"REDIS_URL": queue.url, "HAOHUAN_REDIS_PREFIX": queue.prefix} if queue.url else {}
    return production_served(url, STRIPE_WEBHOOK_SECRET=SECRET, PAYMENT_GATEWAY="sandbox", **jobs)


@dataclass(frozen=True)
class Settled:
    """The settlement of the queued events, run apart: how many, in how long, and the
    CPU time of each."""

    count: int
    seconds: float
    cpu_ms: float

    @property
    def rate(self) -> float:
        """Events settled per second."""
        return self.count / self.seconds if self.seconds else 0.0


def settle_queued(url: str) -> Settled:
    """What a worker does with the queued settlements, in this process: the job function,
    each call in an app context of its own as RQ's worker runs it, over every inbox row
    not settled yet, oldest first, one after the other."""
    app = create_app({"DATABASE_URL": url, "PAYMENT_GATEWAY": "sandbox"})
    with app.app_context():
        unsettled = select(WebhookInbox.id).where(WebhookInbox.settled_at.is_(None))
        waiting = list(db.session().scalars(unsettled.order_by(WebhookInbox.id)))
    started, cpu = time.perf_counter(), time.process_time()
    for inbox_id in waiting:
        with app.app_context():
            settle_job(inbox_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    app.extensions["haohuan.engine"].dispose()
    return Settled(len(waiting), seconds, cpu * 1000 / len(waiting) if waiting else 0.0)


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
    """Prepare, serve, deliver, settle and verify on one backend, without the baseline."""
    intents = prepare(url, args.cases)
    with job_queue(args.redis_url) as queue:
        overall, deliveries = run(backend, serve_portal(url, queue), intents, args)
        _print_settled(settle_queued(url))
    checked(backend, url, deliveries.paid, deliveries)
    return overall


def compare(url: str, args: argparse.Namespace) -> tuple[Figures, Figures, Settled]:
    """On PostgreSQL: the baseline and the portal, ``args.rounds`` times each, one after
    the other on the same database, each portal round's queued events settled after it;
    the medians (by rate) of each, baseline first, then the settlements'."""
    intents = prepare(url, args.cases * args.rounds)
    synthetic = [Intent(f"pi_base_{n:07d}", 1000 + n, "TWD") for n in range(args.cases)]
    base: list[Figures] = []
    ours: list[Figures] = []
    settlements: list[Settled] = []
    paid: list[str] = []
    with job_queue(args.redis_url) as queue:
        for round_ in range(args.rounds):
            base.append(run("baseline", serve_baseline(url), synthetic, args)[0])
            mine = intents[round_ * args.cases : (round_ + 1) * args.cases]
            overall, deliveries = run("postgres", serve_portal(url, queue), mine, args)
            settlements.append(settle_queued(url))
            _print_settled(settlements[-1])
            paid += deliveries.paid
            checked("postgres", url, paid, deliveries)
            ours.append(overall)
            ratio = overall.rate / base[-1].rate
            print(f"{'':<10} round {round_ + 1}: {ratio:.2f}x the baseline")
    settled = sorted(settlements, key=lambda one: one.rate)[len(settlements) // 2]
    return _median(base), _median(ours), settled


def _median(runs: list[Figures]) -> Figures:
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def compare_rows(admin_url: str, redis_url: str | None = None) -> list[Row]:
    """``make bench-compare``'s rows: 3,000 signed deliveries (every tenth a redelivery),
    8 clients, against the baseline handler just before, on a PostgreSQL database of its
    own next to ``admin_url``, settlements queued on ``redis_url`` (default
    ``$BENCH_REDIS_URL`` or the local Redis); and, with no goal, the settlement of those
    events after the acknowledgement, by the job function in one process. One round:
    seeding the open payments is most of the time (``--rounds 3`` from the command line
    for medians)."""
    events = 3000
    args = argparse.Namespace(
        events=events,
        seconds=None,
        cases=events - events // REDELIVER_EVERY,
        clients=8,
        rounds=1,
        redis_url=redis_url or os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
    )
    with postgres_database(admin_url, BENCH_DATABASE) as url:
        base, ours, settled = compare(url, args)
    baseline = (
        f"verify the signature, insert one row, commit: {base.rate:,.0f}/s,"
        f" p99 {base.p99_ms:.0f} ms"
    )
    return [
        at_least(
            f"signed webhook (PostgreSQL, {events:,} deliveries)",
            f"{ours.rate:,.0f}/s, p99 {ours.p99_ms:.0f} ms",
            baseline,
            ours.rate / base.rate,
            0.5,
        ),
        shown(
            "webhook settlement (after the acknowledgement)",
            f"{settled.rate:,.0f}/s, {settled.cpu_ms:.1f} ms CPU each ({settled.count:,} events)",
            baseline,
            settled.rate / base.rate,
            "none: the work moved off the request, by one worker process",
        ),
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


def _print_settled(settled: Settled) -> None:
    if not settled.count:
        print(f"{'':<10} nothing left to settle: the web workers settled each event")
        return
    print(
        f"{'':<10} settled after: {settled.count:,} queued events in {settled.seconds:5.1f} s"
        f"   {settled.rate:6.0f}/s   {settled.cpu_ms:.2f} ms CPU each"
        " (the job function in a loop, one process)"
    )


def _print_verification(deliveries: Deliveries, problems: list[str]) -> None:
    if problems:
        print(f"{'':<10} NOT VERIFIED: {len(problems)} problems, first: {problems[:5]}")
        return
    print(
        f"{'':<10} verified: {len(deliveries.paid):,} payments succeeded, each recorded once;"
        " no other payment moved; ledger.check finds no drift"
    )


def profile(url: str, count: int, redis_url: str) -> None:
    """In this process, through Flask's test client (no gunicorn, no concurrency), the
    acknowledgement and the settlement apart: the SQL statements of one delivery and of
    its settlement, then the CPU time of ``count`` deliveries each (beside a redelivery
    and an event the portal only acknowledges) and of their settlements, and where the
    settlements' CPU time goes (cProfile on ``time.process_time``, by cumulative time).
    Settlements are queued on ``redis_url``, as served; the test client never closes an
    answer, so without Redis nothing is settled in the request either."""
    intents = prepare(url, count + 1)
    with job_queue(redis_url) as queue:
        jobs = {"REDIS_URL": queue.url, "REDIS_PREFIX": queue.prefix} if queue.url else {}
        config = {"STRIPE_WEBHOOK_SECRET": SECRET, "PAYMENT_GATEWAY": "sandbox", **jobs}
        app = create_app({"DATABASE_URL": url, **config})
        _profile(app, intents, count)
        app.extensions["haohuan.engine"].dispose()


def _profile(app: Flask, intents: list[Intent], count: int) -> None:
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

    def settle_all() -> int:
        with app.app_context():
            unsettled = select(WebhookInbox.id).where(WebhookInbox.settled_at.is_(None))
            waiting = list(db.session().scalars(unsettled.order_by(WebhookInbox.id)))
        for inbox_id in waiting:
            with app.app_context():
                settle_job(inbox_id)
        return len(waiting)

    post(event_body(0, intents[0]))
    settle_all()
    statements.clear()
    post(event_body(1, intents[1]))
    _print_statements("one payment_intent.succeeded, acknowledged", statements)
    statements.clear()
    settle_all()
    _print_statements("its settlement (the job)", statements)
    fresh = [event_body(n, intents[n]) for n in range(2, count + 1)]
    half = len(fresh) // 2
    unacted = json.dumps(
        {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    ).encode()
    acknowledged = cpu_ms(fresh[:half])
    started = time.process_time()
    settled = settle_all()
    settlement = (time.process_time() - started) * 1000 / settled
    print(
        f"CPU a delivery: success {acknowledged:.2f} ms acknowledged + {settlement:.2f} ms"
        f" settled after, redelivery {cpu_ms(fresh[:half]):.2f} ms,"
        f" not acted on {cpu_ms([unacted] * half):.2f} ms"
    )
    for body in fresh[half:]:
        post(body)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    settled = settle_all()
    profiler.disable()
    print(f"\n{settled} settlements under cProfile (CPU time), by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def _print_statements(what: str, statements: list[str]) -> None:
    print(f"{len(statements)} statements for {what}:")
    for statement in statements:
        print("   ", " ".join(statement.split())[:150])


def main() -> None:
    """Run the chosen backends and print their figures and ratios."""
    args = parse_args()
    if args.profile:
        with postgres_database(args.postgres_url, BENCH_DATABASE) as url:
            profile(url, args.profile, args.redis_url)
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
            base, ours, _settled = compare(url, args)
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
