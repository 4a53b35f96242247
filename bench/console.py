"""The agent console's heavy paths over a large portfolio, on PostgreSQL.

Creates a database of its own (``--database``, dropped afterwards; never the test
database), migrates it and seeds ``--cases`` loans as ``bench/lifecycle.py`` does (loans,
every installment, late fees, plans and payments, cases with their stage and
``overdue_since``), then in SQL gives each borrower a phone number of their own and most
an email, opts one in a hundred out of SMS, and logs contact attempts (up to four in the
last fortnight for each overdue case, two SMS this morning for one in ten of them, one a
month ago for some others) with each case's last contact. Then it measures:

* the case queue (``portal.cases.queue``): ``parse_filter`` and ``page_of`` as the
  queue page calls them, for the default page, each filter alone, each sort, a deep page
  and searches by loan number and by phone digits; the median of ``--runs`` runs in
  milliseconds, the slow ones marked, and for each slow one the plan of its slowest
  statement (EXPLAIN ANALYZE);
* bulk reminders (``portal.messaging.service``): for segments of ``--bulk`` cases, the
  segment's ids (``matching_cases``), the preview (``preview_bulk``) and the queueing
  (``queue_bulk``), in seconds and cases per second; then ``dispatch_due`` sending
  ``--dispatch`` of the queued messages through the outbox provider, messages per second;
* the contact gate (``portal.contact.gate.judge``) for one borrower with 30 attempts in the
  last 14 days and two messages scheduled: microseconds per call, locked and not, with the
  statistics the bulk send left and after ANALYZE, beside the rules alone
  (``negotiation.contact.may_contact``).

    .venv/bin/python bench/console.py [--cases 100000] [--bulk 10000,100000]
        [--dispatch 2000] [--runs 5] [--database bench_console]
        [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from _common import ROOT, postgres_database, postgres_unreachable
from sqlalchemy import Engine, delete, event, func, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from lifecycle import TYPICAL, analyze, load, portfolio, seed

from negotiation import load_policy
from negotiation.contact import Channel, ContactRequest, Recipient, may_contact
from portal import create_app
from portal.cases.facts import policy as portal_policy
from portal.cases.queue import QueueFilter, matching_cases, page_of, parse_filter
from portal.contact.gate import contact_history, judge
from portal.core import migrate
from portal.messaging import service
from portal.models import Case, ContactAttempt, Message

BENCH_DATABASE = "bench_console"
# The console's day: the day after the seeded portfolio's, 10:00 in Taipei, Shanghai and
# Hong Kong (inside every jurisdiction's allowed hours).
TODAY = TYPICAL
MOMENT = datetime(TODAY.year, TODAY.month, TODAY.day, 2, 0, tzinfo=UTC)
ACTOR = "bench@haohuan.example"
# A queue page slower than this (the median) is marked slow, and its plan shown.
SLOW_MS = 250.0
# Loan 12,345 (of any portfolio of that many cases or more) is searched for.
SOUGHT = 12_345


# Seeding what the lifecycle bench does not ----------------------------------------------


def seed_contact(engine: Engine) -> dict[str, int]:
    """Phones, emails, opt-outs, contact attempts and each case's last contact."""
    at = {"moment": MOMENT}
    with engine.begin() as conn:
        # Every borrower a phone of their own (+886 9xx xxx xxx, as people write it); three
        # in five an email.
        conn.execute(
            text(
                "UPDATE borrowers SET phone = '+886 9' || substr(p, 1, 2) || ' ' ||"
                " substr(p, 3, 3) || ' ' || substr(p, 6, 3),"
                " email = CASE WHEN id % 5 < 3 THEN 'b' || id || '@example.com' END"
                " FROM (SELECT id AS bid, lpad(CAST(id AS text), 8, '0') AS p FROM borrowers) n"
                " WHERE n.bid = borrowers.id"
            )
        )
        conn.execute(
            text(
                "INSERT INTO opt_outs (borrower_id, channel, at, source)"
                " SELECT id, 'sms', CAST(:moment AS timestamptz) - interval '40 days', 'link'"
                " FROM borrowers WHERE id % 100 = 7"
            ),
            at,
        )
        # Each overdue case 0 to 3 attempts (calls and SMS) in the last 14 days; one case in
        # twenty of the others one attempt a month ago.
        # Columns without a server default that these rows leave at false.
        falses = [name for name in ("inbound",) if name in ContactAttempt.__table__.columns]
        extra = "".join(f", {name}" for name in falses)
        false = ", false" * len(falses)
        conn.execute(
            text(
                "INSERT INTO contact_attempts (case_id, borrower_id, channel, at,"  # noqa: S608 (our names)
                f" connected{extra}, agent, outcome)"
                " SELECT c.id, l.borrower_id, CASE WHEN k % 2 = 1 THEN 'call' ELSE 'sms' END,"
                " CAST(:moment AS timestamptz) - make_interval(hours => CAST((c.id * 7 + k * 53)"
                f" % 330 + 1 AS int)), k % 3 = 1{false}, 'agent@haohuan.example',"
                " CASE WHEN k % 2 = 1 THEN 'no_answer' ELSE 'sent' END"
                " FROM cases c JOIN loans l ON l.id = c.loan_id"
                " CROSS JOIN LATERAL generate_series(1, CAST(c.id % 4 AS int)) AS g(k)"
                " WHERE c.overdue_since IS NOT NULL"
                " UNION ALL"
                " SELECT c.id, l.borrower_id, 'call', CAST(:moment AS timestamptz)"
                f" - interval '30 days', true{false}, 'agent@haohuan.example', 'reached'"
                " FROM cases c JOIN loans l ON l.id = c.loan_id"
                " WHERE c.overdue_since IS NULL AND c.id % 20 = 0"
                " UNION ALL"
                " SELECT c.id, l.borrower_id, 'sms', CAST(:moment AS timestamptz)"
                f" - make_interval(hours => k), false{false}, 'system', 'sent'"
                " FROM cases c JOIN loans l ON l.id = c.loan_id"
                " CROSS JOIN generate_series(1, 2) AS g(k)"
                " WHERE c.overdue_since IS NOT NULL AND c.id % 10 = 5"
            ),
            at,
        )
        conn.execute(
            text(
                "UPDATE cases SET last_contact_at = a.last FROM (SELECT case_id, max(at) AS last"
                " FROM contact_attempts GROUP BY case_id) a WHERE a.case_id = cases.id"
            )
        )
        return {
            "attempts": conn.scalar(select(func.count()).select_from(ContactAttempt)) or 0,
            "contacted": conn.scalar(select(func.count()).where(Case.last_contact_at.is_not(None)))
            or 0,
        }


# Timing statements -----------------------------------------------------------------------


@dataclass
class Statements:
    """Every statement the engine runs while ``capturing``: its seconds, text and
    parameters."""

    capturing: bool = False
    seen: list[tuple[float, str, Any]] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        """Listen to ``engine``'s statements."""
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if self.capturing:
            elapsed = time.perf_counter() - conn.info.pop("bench_started")
            self.seen.append((elapsed, statement, parameters))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[float, str, Any]]]:
        """The statements run inside the block."""
        self.seen, self.capturing = [], True
        try:
            yield self.seen
        finally:
            self.capturing = False


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The executed plan of one statement, as PostgreSQL prints it."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
        return [row[0] for row in rows]


def median_ms(run: Callable[[], object], runs: int) -> tuple[float, object]:
    """The median milliseconds of ``runs`` runs (after one unmeasured run, which warms
    the caches as a busy console's would be), and the last run's result."""
    result = run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


# The queue ----------------------------------------------------------------------------------


def queue_cases(count: int) -> list[tuple[str, dict[str, str]]]:
    """Each query the queue is measured with: a label and its query string."""
    sought = min(SOUGHT, count)
    return [
        ("default (overdue, most days first)", {}),
        ("stage=late", {"stage": "late"}),
        ("stage=early", {"stage": "early"}),
        ("dpd=1-30", {"dpd": "1-30"}),
        ("dpd=181+", {"dpd": "181+"}),
        ("dpd=0 (not overdue)", {"dpd": "0"}),
        ("dpd=all", {"dpd": "all"}),
        # Amounts are compared within one currency (portal.cases.queue.amount_basis).
        ("overdue amount 5,000-50,000 TWD", {"min": "5000", "max": "50000", "currency": "TWD"}),
        ("overdue amount from 1 TWD", {"min": "1", "currency": "TWD"}),
        ("currency=HKD", {"currency": "HKD"}),
        ("plan=active", {"plan": "active"}),
        ("plan=none", {"plan": "none"}),
        ("plan=completed, all cases", {"plan": "completed", "dpd": "all"}),
        ("hold=dispute", {"hold": "dispute"}),
        ("hold=none", {"hold": "none"}),
        ("contact=never", {"contact": "never"}),
        ("contact=today", {"contact": "today"}),
        ("contact=7d", {"contact": "7d"}),
        ("contact=over_7d, all cases", {"contact": "over_7d", "dpd": "all"}),
        ("sort=dpd asc", {"dir": "asc"}),
        ("sort=balance", {"sort": "balance"}),
        ("sort=last_contact", {"sort": "last_contact"}),
        ("sort=loan", {"sort": "loan"}),
        ("sort=balance, all cases", {"sort": "balance", "dpd": "all"}),
        ("sort=last_contact, all cases", {"sort": "last_contact", "dpd": "all"}),
        ("sort=loan, all cases", {"sort": "loan", "dpd": "all"}),
        ("page 500, all cases", {"dpd": "all", "page": "500"}),
        ("page 500, all cases, sort=balance", {"dpd": "all", "page": "500", "sort": "balance"}),
        ("search loan number (whole)", {"dpd": "all", "q": f"LN-{sought:09d}"}),
        ("search loan number (its end)", {"dpd": "all", "q": f"N-{sought:09d}"}),
        ("search digits (loan end or phone)", {"dpd": "all", "q": f"{sought}"}),
        ("search phone as written locally", {"dpd": "all", "q": _local_phone(sought)}),
    ]


def _local_phone(borrower_id: int) -> str:
    digits = f"{borrower_id:08d}"
    return f"09{digits[:2]} {digits[2:5]} {digits[5:]}"


def bench_queue(app: Any, engine: Engine, statements: Statements, count: int, runs: int) -> None:
    """Every queue query: its median time, its rows, and why the slow ones are slow."""
    print(
        f"\nqueue        parse_filter + page_of, median of {runs} runs;"
        f" slow is over {SLOW_MS:.0f} ms"
    )
    slow: list[tuple[str, float, str, Any]] = []
    for label, args in queue_cases(count):
        with app.test_request_context("/agent/?" + urlencode(args)), Session(engine) as db:

            def one(db: Session = db, args: dict[str, str] = args) -> Any:
                chosen, problems = parse_filter(args)
                if problems:
                    raise SystemExit(f"the queue refused {args}: {problems}")
                found = page_of(db, chosen, MOMENT)
                db.rollback()
                return found

            ms, found = median_ms(one, runs)
            with statements.capture() as seen:
                one()
        worst = max(seen)
        mark = "SLOW" if ms > SLOW_MS else ""
        print(
            f"  {label:<36} {ms:9.1f} ms  {found.total:>9,} cases, {len(found.rows):>2} rows"  # type: ignore[attr-defined]
            f"  (slowest of {len(seen)} statements {worst[0] * 1000:7.1f} ms)  {mark}"
        )
        if mark:
            slow.append((label, ms, worst[1], worst[2]))
    for label, ms, statement, parameters in slow:
        print(f"\n  why {label} ({ms:.0f} ms): its slowest statement's plan")
        for line in explain(engine, statement, parameters):
            print(f"    {line}")


# Bulk reminders ---------------------------------------------------------------------------


def bench_bulk(app: Any, engine: Engine, sizes: list[int], dispatch: int) -> None:
    """Segments of ``sizes`` cases previewed and queued; then ``dispatch`` of the last
    batch's messages sent through the outbox."""
    print(f"\nbulk         SMS reminders at {MOMENT:%Y-%m-%d %H:%M} UTC (10:00 in Asia)")
    batch_id = None
    for size in sizes:
        with app.test_request_context("/agent/bulk"), Session(engine) as db:
            started = time.perf_counter()
            # The segment the console would send: every case, the first ``size`` of them.
            ids = sorted(db.scalars(matching_cases(QueueFilter(dpd_band="all"), MOMENT)))[:size]
            db.rollback()
            chosen = time.perf_counter() - started
            started = time.perf_counter()
            preview = service.preview_bulk(db, ids, Channel.SMS, MOMENT)
            previewed = time.perf_counter() - started
            started = time.perf_counter()
            batch = service.queue_bulk(
                db, ids, Channel.SMS, actor=ACTOR, moment=MOMENT, segment={"dpd": "all"}
            )
            queued = time.perf_counter() - started
            batch_id = batch.id
            print(
                f"  {len(ids):>7,} cases  segment ids {chosen:6.2f} s   preview {previewed:6.2f} s"
                f" ({len(ids) / previewed:7,.0f} cases/s)   queue_bulk {queued:6.2f} s"
                f" ({len(ids) / queued:7,.0f} cases/s)   [{load()}]"
            )
            print(
                f"           now {batch.queued:,}, later {batch.scheduled:,}, refused"
                f" {batch.refused:,} ("
                + ", ".join(f"{k} {v:,}" for k, v in sorted(preview.refused.items()))
                + ")"
            )
            if size != sizes[-1]:
                # The next segment overlaps this one: its cases would be "already queued".
                db.execute(delete(Message).where(Message.batch_id == batch.id))
                db.commit()
    if batch_id is None or not dispatch:
        return
    with app.app_context(), Session(engine) as db:
        due = db.scalar(
            select(func.count()).where(
                Message.batch_id == batch_id,
                Message.status == "scheduled",
                Message.send_at <= MOMENT,
            )
        )
        db.rollback()
        started = time.perf_counter()
        counts = service.dispatch_due(db, MOMENT, batch_id=batch_id, limit=dispatch)
        seconds = time.perf_counter() - started
        done = counts.sent + counts.failed + counts.cancelled + counts.rescheduled
        print(
            f"  dispatch_due {done:,} of the batch's {due:,} messages due now, outbox provider:"
            f" {seconds:.2f} s, {done / seconds:,.0f} messages/s ({seconds / done * 1000:.1f} ms"
            f" each)   sent {counts.sent:,}, rescheduled {counts.rescheduled:,}, cancelled"
            f" {counts.cancelled:,}, failed {counts.failed:,}   [{load()}]"
        )


# The contact gate ----------------------------------------------------------------------------


def bench_judge(app: Any, engine: Engine, statements: Statements, calls: int) -> None:
    """``judge`` per call for a borrower with 30 attempts in 14 days."""
    with app.app_context(), Session(engine) as db:
        case = db.scalars(
            select(Case).where(Case.overdue_since.is_not(None)).order_by(Case.id).limit(1)
        ).one()
        borrower_id = case.loan.borrower_id
        db.execute(delete(ContactAttempt).where(ContactAttempt.borrower_id == borrower_id))
        for k in range(30):
            at = MOMENT - timedelta(hours=11 * k + 3)
            channel = Channel.CALL if k % 3 else Channel.SMS
            db.add(
                ContactAttempt(
                    case_id=case.id,
                    borrower_id=borrower_id,
                    channel=channel.value,
                    at=at,
                    connected=k % 5 == 0,
                    agent=f"agent{k % 4}@haohuan.example",
                    outcome="reached" if k % 5 == 0 else "no_answer",
                )
            )
        for days in (1, 2):
            db.add(
                Message(
                    case_id=case.id,
                    borrower_id=borrower_id,
                    channel="sms",
                    purpose="reminder",
                    address="+886 900 000 001",
                    locale="zh_Hant_TW",
                    status="scheduled",
                    send_at=MOMENT + timedelta(days=days),
                    created_by=ACTOR,
                    created_at=MOMENT,
                )
            )
        db.commit()
        history = contact_history(db, borrower_id, MOMENT)
        print(
            f"\njudge        one borrower: {len(history.attempts)} attempts and scheduled messages"
            f" within 14 days of the moment; {calls:,} calls each"
        )
        variants = [
            ("SMS, lock=True", True, Channel.SMS),
            ("call, lock=True", True, Channel.CALL),
            ("SMS, lock=False", False, Channel.SMS),
        ]
        # First with the statistics as the bulk send left them (this server may run no
        # autovacuum), then after ANALYZE, as autovacuum leaves them within a minute or so.
        for label, lock, channel in [*variants, ("analyzed", False, Channel.SMS), *variants]:
            if label == "analyzed":
                db.execute(text("ANALYZE messages, contact_attempts"))
                db.commit()
                print("  after ANALYZE messages, contact_attempts:")
                continue
            decision = judge(db, case, channel, MOMENT, lock=lock)
            started = time.perf_counter()
            for _ in range(calls):
                judge(db, case, channel, MOMENT, lock=lock)
            seconds = time.perf_counter() - started
            # One more, its statements timed (after the loop: the plans it settled on).
            with statements.capture() as seen:
                judge(db, case, channel, MOMENT, lock=lock)
            db.rollback()
            print(
                f"  {label:<16} {seconds / calls * 1e6:8.0f} µs per judge, {len(seen)} statements"
                f" ({', '.join(f'{t * 1000:.2f}' for t, _s, _p in seen)} ms)"
                f"  (allowed {decision.allowed}"
                + (f", {', '.join(r.value for r in decision.reasons)}" if decision.reasons else "")
                + ")"
            )
            worst = max(seen)
            if worst[0] > 0.002:
                print(f"    slowest: {' '.join(worst[1].split())[:160]}")
                for line in explain(engine, worst[1], worst[2]):
                    print(f"    {line}")
        borrower = case.loan.borrower
        request = ContactRequest(
            channel=Channel.SMS,
            recipient=Recipient.BORROWER,
            moment=MOMENT,
            time_zone=borrower.timezone,
            holds=frozenset(),
            opted_out=frozenset(),
        )
        rules = portal_policy().contact
        started = time.perf_counter()
        for _ in range(calls):
            may_contact(request, history, rules)
        seconds = time.perf_counter() - started
        print(f"  {'rules alone':<16} {seconds / calls * 1e6:8.0f} µs per may_contact")
        db.rollback()


# Running it ------------------------------------------------------------------------------


def main() -> None:
    """Parse the command line, seed, and measure the queue, bulk sending and the gate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases seeded (1000000 too)")
    parser.add_argument(
        "--bulk",
        default="10000,100000",
        help="segment sizes for bulk reminders, comma-separated (at most --cases)",
    )
    parser.add_argument("--dispatch", type=int, default=2_000, help="messages dispatch_due sends")
    parser.add_argument("--runs", type=int, default=5, help="runs of each queue query")
    parser.add_argument("--calls", type=int, default=1_000, help="calls of judge")
    parser.add_argument("--database", default=BENCH_DATABASE, help="created and dropped")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    sizes = [min(int(size), args.cases) for size in args.bulk.split(",") if size.strip()]
    policy = load_policy()
    print(f"postgres, {args.cases:,} cases; {load()}")
    with postgres_database(args.postgres_url, args.database) as url:
        app = create_app({"DATABASE_URL": url})
        with app.app_context():
            migrate.upgrade(app)
        engine: Engine = app.extensions["haohuan.engine"]
        try:
            started = time.perf_counter()
            rows = seed(engine, portfolio(args.cases, policy), MOMENT - timedelta(days=365))
            contact = seed_contact(engine)
            analyze(engine)
            print(
                f"seeded       {rows['cases']:,} cases, {rows['loan_installments']:,} installments,"
                f" {rows['plans']:,} plans, {contact['attempts']:,} contact attempts"
                f" ({contact['contacted']:,} cases contacted) in"
                f" {time.perf_counter() - started:.1f} s, VACUUM ANALYZE included"
            )
            statements = Statements()
            statements.attach(engine)
            bench_queue(app, engine, statements, args.cases, args.runs)
            bench_bulk(app, engine, sizes, args.dispatch)
            bench_judge(app, engine, statements, args.calls)
        finally:
            engine.dispose()  # the database is dropped next: no connection may stay open


if __name__ == "__main__":
    main()
