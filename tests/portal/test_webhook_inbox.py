"""The webhook inbox: a verified event is recorded once and acknowledged; its settlement
runs afterwards, exactly once however often it runs, and the sweep settles what a lost
job left behind."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.core import db, jobs
from portal.models import ProcessedEvent, WebhookInbox
from portal.payments.inbox import GIVE_UP_AFTER, RETRY_DELAYS, Settlement, settle, settle_job

from .factories import NOW
from .test_money_paths import books
from .test_production import prefix, redis_url, sibling, siblings  # noqa: F401
from .test_stripe_webhooks import (
    charge_event,
    deliver,
    event,
    inbox,
    overdue,
    signed,
    state,
    stripe_payment,  # noqa: F401
    sweep,
)


@pytest.fixture
def lost_jobs(monkeypatch) -> list[tuple]:
    """Jobs queued are kept here and never run, as when Redis is down or a worker dies."""
    queued: list[tuple] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda function, *args, **kw: queued.append((function, args, kw))
    )
    return queued


def inbox_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session().scalars(select(WebhookInbox.id).order_by(WebhookInbox.id)))


def processed(app) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(ProcessedEvent))


def settle_now(app, inbox_id: int) -> Settlement:
    with app.app_context():
        return settle(db.session(), inbox_id, NOW)


def test_the_same_event_twice_is_recorded_once(app, client, stripe_payment, lost_jobs):  # noqa: F811
    payload = event("payment_intent.succeeded")
    first, again = deliver(client, payload), deliver(client, payload)
    assert (first.json["duplicate"], again.json["duplicate"]) == (False, True)
    # Only the first queues a settlement; the redelivery, arriving before it ran, records
    # nothing and queues nothing.
    assert [(job[0], job[1]) for job in lost_jobs] == [(settle_job, (inbox_ids(app)[0],))]
    assert inbox(app) == [("evt_1", False, 0)]
    assert state(app)[0] == "pending"
    with app.app_context():
        settle_job(*lost_jobs[0][1])
    assert state(app)[:4] == ("succeeded", "active", state(app)[2], 1)
    assert inbox(app) == [("evt_1", True, 0)]
    assert deliver(client, payload).json["duplicate"] is True
    assert len(lost_jobs) == 1


def test_twenty_concurrent_deliveries_record_one_row_and_one_first(app, stripe_payment):  # noqa: F811
    payload = event("payment_intent.succeeded")
    header = signed(payload)
    barrier = threading.Barrier(20)
    answers: list[tuple[int, bool]] = []

    def post() -> None:
        own = app.test_client()
        barrier.wait(timeout=10)
        answer = deliver(own, payload, header)
        answers.append((answer.status_code, answer.json["duplicate"]))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [(200, False)] + [(200, True)] * 19
    assert inbox(app) == [("evt_1", True, 0)]
    assert state(app)[0] == "succeeded"
    assert processed(app) == 1


def test_a_job_that_runs_twice_applies_the_event_once(app, client, stripe_payment, lost_jobs):  # noqa: F811
    before = overdue(app, stripe_payment.case_id)
    deliver(client, event("payment_intent.succeeded"))
    (inbox_id,) = inbox_ids(app)
    assert settle_now(app, inbox_id) is Settlement.APPLIED
    assert settle_now(app, inbox_id) is Settlement.SETTLED_ALREADY
    # A row settled by a run whose mark was lost (or a job from before the inbox): handle's
    # processed-events claim stops it, and the row is marked settled.
    with app.app_context():
        session = db.session()
        session.execute(update(WebhookInbox).values(settled_at=None))
        session.commit()
    assert settle_now(app, inbox_id) is Settlement.DUPLICATE
    assert inbox(app) == [("evt_1", True, 0)]
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount
    assert processed(app) == 1
    assert books(app) == []


def test_two_jobs_at_once_apply_the_event_once(app, client, stripe_payment, lost_jobs):  # noqa: F811
    deliver(client, event("payment_intent.succeeded"))
    (inbox_id,) = inbox_ids(app)
    barrier = threading.Barrier(2)
    results: list[Settlement] = []

    def run() -> None:
        with app.app_context():
            barrier.wait(timeout=10)
            results.append(settle(db.session(), inbox_id, NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == sorted([Settlement.APPLIED, Settlement.SETTLED_ALREADY])
    assert processed(app) == 1
    assert books(app) == []


def test_the_sweep_settles_rows_whose_job_was_lost(app, client, stripe_payment, lost_jobs):  # noqa: F811
    deliver(client, event("payment_intent.succeeded"))
    deliver(client, event("payment_intent.payment_failed", event_id="evt_declined"))
    assert len(lost_jobs) == 2
    # Too recent: its job may still be on its way.
    early = sweep(app, minutes=0.5)
    assert "settled 0 webhook events left in the inbox, 0 still" in early.output, early.output
    assert state(app)[0] == "pending"
    swept = sweep(app, minutes=2)
    assert "settled 2 webhook events left in the inbox, 0 still" in swept.output, swept.output
    assert state(app)[:2] == ("succeeded", "active")
    assert sorted(inbox(app)) == [("evt_1", True, 0), ("evt_declined", True, 0)]
    again = sweep(app, minutes=3)
    assert "settled 0 webhook events" in again.output
    assert processed(app) == 2
    assert books(app) == []


def test_an_early_refund_is_retried_later_and_settled_once_its_payment_succeeds(
    app,
    client,
    stripe_payment,  # noqa: F811
    lost_jobs,
):
    before = overdue(app, stripe_payment.case_id)
    deliver(client, charge_event("charge.refunded", "evt_r", amount_refunded=5_000))
    (refund_id,) = inbox_ids(app)
    # Each try before the success is held, counted, and queued again a little later, until
    # the last delay; then the sweep carries on.
    for attempt, delay in enumerate(RETRY_DELAYS, start=1):
        lost_jobs.clear()
        with app.app_context():
            settle_job(refund_id)
        assert inbox(app) == [("evt_r", False, attempt)]
        assert [(job[1], job[2]) for job in lost_jobs] == [((refund_id,), {"delay": delay})]
    lost_jobs.clear()
    with app.app_context():
        settle_job(refund_id)
    assert lost_jobs == []
    assert inbox(app) == [("evt_r", False, len(RETRY_DELAYS) + 1)]
    held = sweep(app, minutes=2)
    assert "0 webhook events left in the inbox, 1 still waiting" in held.output, held.output
    assert overdue(app, stripe_payment.case_id) == before
    deliver(client, event("payment_intent.succeeded"))
    with app.app_context():
        settle_job(refund_id + 1)  # the success
        settle_job(refund_id)  # the refund's next retry
        settle_job(refund_id)  # and one more, as a sweep at the same time would
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 5_000
    assert processed(app) == 2
    assert books(app) == []


def delivered_at(app, client, payload: bytes, minutes: float):
    """A delivery ``minutes`` after the test's now."""
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=minutes)).isoformat()
    try:
        return deliver(client, payload)
    finally:
        app.config["HAOHUAN_NOW"] = NOW.isoformat()


def test_a_redelivery_queues_a_row_again_once_its_first_job_looks_lost(
    app,
    client,
    stripe_payment,  # noqa: F811
    lost_jobs,
):
    payload = event("payment_intent.succeeded")
    deliver(client, payload)
    (inbox_id,) = inbox_ids(app)
    # Within the minute its first job is still on its way: nothing more is queued.
    assert delivered_at(app, client, payload, 0.5).json["duplicate"] is True
    assert len(lost_jobs) == 1
    # Later, unsettled, it looks lost: the redelivery queues it again, and a settlement
    # from either job applies it once.
    assert delivered_at(app, client, payload, 5).json["duplicate"] is True
    assert [job[1] for job in lost_jobs] == [(inbox_id,), (inbox_id,)]
    with app.app_context():
        for job in lost_jobs:
            settle_job(*job[1])
    assert inbox(app) == [("evt_1", True, 0)]
    assert processed(app) == 1
    # Settled, a redelivery queues nothing however late.
    lost_jobs.clear()
    assert delivered_at(app, client, payload, 60 * 24).json["duplicate"] is True
    assert lost_jobs == []
    assert books(app) == []


def test_a_refund_held_past_stripes_window_is_reported_stuck_and_still_tried(
    app,
    client,
    stripe_payment,  # noqa: F811
    lost_jobs,
):
    before = overdue(app, stripe_payment.case_id)
    deliver(client, charge_event("charge.refunded", "evt_r", amount_refunded=5_000))
    minutes = GIVE_UP_AFTER.total_seconds() / 60
    within = sweep(app, minutes=minutes - 1)
    assert within.exit_code == 0, within.output
    assert "1 still waiting" in within.output
    past = sweep(app, minutes=minutes + 1)
    assert past.exit_code == 1
    assert "1 webhook events have waited more than 3 days" in past.output, past.output
    # Still tried: once its payment succeeds, the next sweep settles it and all is quiet.
    deliver(client, event("payment_intent.succeeded"))
    settled = sweep(app, minutes=minutes + 2)
    assert settled.exit_code == 0, settled.output
    # The success, its job lost too, and then the refund, in the same sweep.
    assert "settled 2 webhook events left in the inbox, 0 still" in settled.output
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 5_000
    assert books(app) == []


def test_with_redis_the_settlement_waits_for_a_worker(
    app,
    stripe_payment,  # noqa: F811
    siblings,  # noqa: F811
    redis_url,  # noqa: F811
    prefix,  # noqa: F811
):
    queued = sibling(app, siblings, REDIS_URL=redis_url, REDIS_PREFIX=prefix)
    answer = deliver(queued.test_client(), event("payment_intent.succeeded"))
    assert answer.json == {"received": True, "duplicate": False}
    assert state(app)[0] == "pending"  # acknowledged; nothing applied in the request
    assert len(jobs.queue(queued).job_ids) == 1
    assert jobs.worker(queued, simple=True).work(burst=True)
    assert state(app)[:2] == ("succeeded", "active")
    assert inbox(app) == [("evt_1", True, 0)]
