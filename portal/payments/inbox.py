"""The webhook inbox: a verified gateway event is recorded in one statement and
acknowledged, and settled afterwards, off the request, by a job.

``record`` is all the webhook does with an event: one INSERT under the (gateway, event
id) unique constraint, so a redelivery (or twenty at once) records nothing more and is
answered as a duplicate. ``settle_job`` then rebuilds the event and puts it through
``events.handle``, unchanged: exactly once (its processed-events claim), safe out of
order, the ledger as it always was. An event that overtook its payment's success
(``TooEarlyError``) stays unsettled, counts an attempt and is tried again later; so is
anything whose job was lost (Redis down, a worker killed): ``sweep`` settles every row
left unsettled for more than a minute, from ``haohuan payments sweep``. A redelivery of an
event whose row has waited that long queues its settlement again (``waiting``).

A row still held after ``GIVE_UP_AFTER`` (Stripe's own window for redelivering an event)
will not settle by waiting: a refund whose payment's success never reached us. The sweep
keeps trying it (the payment sweeper may yet find that success at Stripe) but counts it
as ``stuck``, and ``haohuan payments sweep`` then exits non-zero, so cron's mail tells
whoever runs the books, every run until it is dealt with.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import cast

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.core import jobs
from portal.core.clock import now
from portal.core.db import session
from portal.models import WebhookInbox
from portal.payments.disputes import DisputeFacts
from portal.payments.events import GatewayEvent, TooEarlyError, handle

log = logging.getLogger(__name__)

_INBOX = cast(Table, WebhookInbox.__table__)

# Waits before each retry of an event that overtook its payment's success; after the
# last, the sweeper (from cron, every few minutes) carries on.
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))

# A row unsettled for this long has lost its job (or is waiting): the sweeper settles it.
LEFT_OVER = timedelta(minutes=1)

# Stripe redelivers an unacknowledged event for up to three days; a row still held after
# that is past retrying by itself (see the module's docstring).
GIVE_UP_AFTER = timedelta(days=3)


class Settlement(StrEnum):
    """What settling one inbox row did."""

    APPLIED = "applied"  # handle applied it
    DUPLICATE = "duplicate"  # handle had applied it already (processed_events)
    SETTLED_ALREADY = "settled_already"  # another job settled the row first
    HELD = "held"  # it overtook its payment's success: tried again later


@dataclass(frozen=True)
class Swept:
    """What one sweep of the inbox did: rows settled, rows still held (a row another
    job settled meanwhile is neither), and of those held, the ones stuck: unsettled for
    longer than ``GIVE_UP_AFTER``."""

    settled: int
    held: int
    stuck: int = 0


def record(db: Session, event: GatewayEvent, now: datetime) -> int | None:
    """Record a verified event in the inbox, in one statement, and commit. Returns the
    new row's id, or None when the event was recorded already (a redelivery)."""
    # On the session's connection, not through the ORM: this is all the request does, and
    # the ORM's execution path would cost as much again as the statement itself.
    connection = db.connection()
    row = {
        "gateway": event.gateway,
        "event_id": event.event_id,
        "reference": event.reference,
        "outcome": event.outcome,
        "amount": event.amount,
        "currency": event.currency,
        "details": event.dispute.as_json() if event.dispute is not None else None,
        "received_at": now,
        "attempts": 0,
    }
    inbox_id = connection.execute(_recording(connection.dialect.name), row).scalar()
    db.commit()
    return inbox_id


def waiting(db: Session, event: GatewayEvent, now: datetime) -> int | None:
    """The inbox row of ``event``, redelivered, when it has waited unsettled for longer
    than ``LEFT_OVER``: its job was lost or it was held, and the redelivery is the
    moment to queue it again (settling twice is harmless). None otherwise: settled, or
    recent enough that its first job is still on its way."""
    inbox_id = db.scalar(
        select(WebhookInbox.id).where(
            WebhookInbox.gateway == event.gateway,
            WebhookInbox.event_id == event.event_id,
            WebhookInbox.settled_at.is_(None),
            WebhookInbox.received_at < now - LEFT_OVER,
        )
    )
    db.rollback()
    return inbox_id


@functools.cache
def _recording(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect (its values
    are the parameters of each execution)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_INBOX)
        .on_conflict_do_nothing(index_elements=["gateway", "event_id"])
        .returning(_INBOX.c.id)
    )


def settle_job(inbox_id: int) -> None:
    """A job: settle one inbox row; one that overtook its payment's success is queued
    again, later, until the last of ``RETRY_DELAYS`` (then the sweeper carries on)."""
    database = session()
    settled = settle(database, inbox_id, now())
    if settled is Settlement.HELD:
        attempts = database.scalar(select(WebhookInbox.attempts).where(WebhookInbox.id == inbox_id))
        if attempts is not None and attempts <= len(RETRY_DELAYS):
            jobs.enqueue(settle_job, inbox_id, delay=RETRY_DELAYS[attempts - 1])


def settle(db: Session, inbox_id: int, now: datetime) -> Settlement:
    """Put one inbox row through ``events.handle`` and mark it settled, in the same
    transaction as the event's effects. Safe to run twice, or twice at once."""
    # One statement both locks the row and marks it settled, and reads the event back:
    # a second job on the same row waits here, then finds it settled and stops. The mark
    # is committed by handle's own commit, with the event's effects.
    claimed = db.execute(
        update(_INBOX)
        .where(_INBOX.c.id == inbox_id, _INBOX.c.settled_at.is_(None))
        .values(settled_at=now)
        .returning(
            _INBOX.c.gateway,
            _INBOX.c.event_id,
            _INBOX.c.reference,
            _INBOX.c.outcome,
            _INBOX.c.amount,
            _INBOX.c.currency,
            _INBOX.c.details,
        )
    ).first()
    if claimed is None:
        db.rollback()
        return Settlement.SETTLED_ALREADY
    gateway, event_id, reference, outcome, amount, currency, details = claimed
    event = GatewayEvent(
        gateway, event_id, reference, outcome, amount, currency, DisputeFacts.from_json(details)
    )
    try:
        applied = handle(db, event, now)
    except TooEarlyError:
        # handle rolled back, the mark with it: the row waits, one attempt more.
        log.info("gateway event %s held: its payment has not succeeded yet", event.event_id)
        _count_attempt(db, inbox_id)
        return Settlement.HELD
    except Exception:
        # Whatever failed is rolled back; the row is counted and left to the sweeper.
        db.rollback()
        _count_attempt(db, inbox_id)
        raise
    if applied:
        return Settlement.APPLIED
    # handle found the event processed already and rolled back, the mark with it. Its
    # processed-events claim is what makes this harmless: whoever applied it did so once,
    # so the row is marked settled now, on its own.
    _mark(db, inbox_id, now)
    return Settlement.DUPLICATE


def sweep(db: Session, now: datetime, older_than: timedelta = LEFT_OVER) -> Swept:
    """Settle every inbox row left unsettled for longer than ``older_than``, oldest
    first: a lost job, or an event still waiting for its payment's success."""
    left = db.execute(
        select(WebhookInbox.id, WebhookInbox.received_at)
        .where(WebhookInbox.settled_at.is_(None), WebhookInbox.received_at < now - older_than)
        .order_by(WebhookInbox.received_at)
    ).all()
    db.rollback()
    results = [(settle(db, inbox_id, now), received) for inbox_id, received in left]
    if any(outcome is Settlement.APPLIED for outcome, _ in results):
        # Oldest first put a held refund before a success this sweep went on to apply:
        # the held ones get one more try now rather than at the next sweep.
        results = [
            (settle(db, inbox_id, now), received)
            if outcome is Settlement.HELD
            else (outcome, received)
            for (inbox_id, received), (outcome, _) in zip(left, results, strict=True)
        ]
    outcomes = [outcome for outcome, _ in results]
    settled = outcomes.count(Settlement.APPLIED) + outcomes.count(Settlement.DUPLICATE)
    stuck = sum(
        1
        for outcome, received in results
        if outcome is Settlement.HELD and received < now - GIVE_UP_AFTER
    )
    return Swept(settled, outcomes.count(Settlement.HELD), stuck)


def _count_attempt(db: Session, inbox_id: int) -> None:
    db.execute(update(_INBOX).where(_INBOX.c.id == inbox_id).values(attempts=_INBOX.c.attempts + 1))
    db.commit()


def _mark(db: Session, inbox_id: int, now: datetime) -> None:
    db.execute(
        update(_INBOX)
        .where(_INBOX.c.id == inbox_id, _INBOX.c.settled_at.is_(None))
        .values(settled_at=now)
    )
    db.commit()
