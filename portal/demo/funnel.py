"""The demo's portal funnel: the case events the portal writes as a borrower goes through
it (``portal.reporting.funnel``: ``portal_verified``, ``options_seen``, ``plan_reviewed``,
each with actor ``borrower`` and ``{"device": "phone" | "tablet" | "desktop"}``), so the
portfolio page's funnel means something on a fresh demo.

First, the reminders the strategy's past sent (``portal.demo.strategy``) each carried a
link (their words say ``[link]``), but the history keeps a link row only for those it
simulates as opened: each other one gets its link row now, expired, holding the hash of a
token nobody holds, so the funnel's first step counts every reminder sent, not only
those opened. Then the events, from two sources already in the demo:

* every successful verification of a reminder link (the strategy's simulated openings
  over its past days, ``portal.demo.strategy``) gets its ``portal_verified`` at the same
  moment, as ``portal.access.verification`` writes it; of those borrowers a share
  ``SAW_OPTIONS`` look at the plan options a few minutes later, and a share
  ``REVIEWED`` of those review a plan;
* every plan a borrower chose in the portal (no agent's offer) gets the three steps in the
  minutes before it was accepted, when the case has none of them yet on that day.

Each case keeps one device class, drawn by weight (``DEVICES``). **Simulated**: nothing
here is evidence about borrowers. Drawn from a generator of its own, so the book's, the
named borrowers' and the strategy history's draws stay as they were. Reads in three
statements (and the links' ids in chunks) and writes in bulk; running it again adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from negotiation.strategy import Template
from portal.core.hashing import new_token, token_hash
from portal.models import (
    CaseEvent,
    Message,
    MessageStatus,
    Plan,
    PlanStatus,
    ReminderLink,
    VerificationAttempt,
)
from portal.reporting.funnel import DEVICE_EVENTS, OPTIONS_SEEN, PLAN_REVIEWED, VERIFIED_EVENT
from portal.strategy.planner import SYSTEM

# The funnel's own generator seed.
FUNNEL_SEED = 20261207
# Of the borrowers who verified: the share who then looked at the plan options, and of
# those the share who reviewed a plan (a portal's usual fall-off, not a measurement).
SAW_OPTIONS = 0.7
REVIEWED = 0.45
# Device classes by weight: most borrowers answer a reminder on their phone.
DEVICES = (("phone", 66), ("desktop", 25), ("tablet", 9))
EVENTS = cast(Table, CaseEvent.__table__)
LINKS = cast(Table, ReminderLink.__table__)
MESSAGES = cast(Table, Message.__table__)
# Rows per INSERT statement (SQLite binds at most 32,766 parameters in one statement).
CHUNK = 1_000


def seed_funnel(db: Session, now: datetime) -> int:
    """Write the funnel's events (see the module's docstring); the number written.
    Commits."""
    if db.scalar(select(CaseEvent.id).where(CaseEvent.kind.in_(DEVICE_EVENTS)).limit(1)):
        return 0
    _link_reminders(db, now)
    rng = random.Random(FUNNEL_SEED)  # noqa: S311 (demo data, not secrets)
    devices: dict[int, str] = {}

    def device_of(case_id: int) -> str:
        if case_id not in devices:
            names = [name for name, _ in DEVICES]
            weights = [weight for _, weight in DEVICES]
            devices[case_id] = rng.choices(names, weights)[0]
        return devices[case_id]

    rows: list[dict[str, Any]] = []

    def event(case_id: int, kind: str, at: datetime) -> None:
        rows.append(
            {
                "case_id": case_id,
                "kind": kind,
                "actor": "borrower",
                "at": at,
                "data": {"device": device_of(case_id)},
            }
        )

    verified = db.execute(
        select(ReminderLink.case_id, VerificationAttempt.at)
        .join(VerificationAttempt, VerificationAttempt.link_id == ReminderLink.id)
        .where(VerificationAttempt.succeeded.is_(True), VerificationAttempt.at <= now)
        .order_by(VerificationAttempt.at, VerificationAttempt.id)
    ).all()
    for case_id, at in verified:
        event(case_id, VERIFIED_EVENT, at)
        if rng.random() >= SAW_OPTIONS:
            continue
        seen = at + timedelta(minutes=rng.randint(1, 8))
        event(case_id, OPTIONS_SEEN, seen)
        if rng.random() < REVIEWED:
            event(case_id, PLAN_REVIEWED, seen + timedelta(minutes=rng.randint(2, 12)))

    noted = {(row["case_id"], row["at"].date()) for row in rows}
    chosen = db.execute(
        select(Plan.case_id, Plan.accepted_at)
        .where(
            Plan.offer_id.is_(None),
            Plan.accepted_at.is_not(None),
            Plan.accepted_at <= now,
            Plan.status != PlanStatus.CANCELLED,
        )
        .order_by(Plan.accepted_at, Plan.id)
    ).all()
    for case_id, accepted in chosen:
        if (case_id, accepted.date()) in noted:
            continue
        event(case_id, VERIFIED_EVENT, accepted - timedelta(minutes=14))
        event(case_id, OPTIONS_SEEN, accepted - timedelta(minutes=10))
        event(case_id, PLAN_REVIEWED, accepted - timedelta(minutes=4))

    for start in range(0, len(rows), CHUNK):
        db.execute(insert(EVENTS), rows[start : start + CHUNK])
    db.commit()
    return len(rows)


def steps_before_plans(
    db: Session, plans: Sequence[tuple[int, datetime]], rng: random.Random
) -> int:
    """The three portal steps in the minutes before each of ``plans`` (case id, accepted
    at), as ``seed_funnel`` gives the plans chosen in the portal, for plans written after
    it (``portal.demo.outcomes``): each case under the device class its events already
    name, else one drawn by weight. The number of events written. Does not commit."""
    named: dict[int, dict[str, Any]] = dict(
        db.execute(
            select(CaseEvent.case_id, CaseEvent.data)
            .where(CaseEvent.kind.in_(DEVICE_EVENTS), CaseEvent.case_id.in_([c for c, _ in plans]))
            .order_by(CaseEvent.id)
        ).all()
    )
    devices = {case_id: data["device"] for case_id, data in named.items() if data}
    rows: list[dict[str, Any]] = []
    for case_id, accepted in plans:
        if case_id not in devices:
            devices[case_id] = rng.choices([n for n, _ in DEVICES], [w for _, w in DEVICES])[0]
        for kind, minutes in ((VERIFIED_EVENT, 14), (OPTIONS_SEEN, 10), (PLAN_REVIEWED, 4)):
            rows.append(
                {
                    "case_id": case_id,
                    "kind": kind,
                    "actor": "borrower",
                    "at": accepted - timedelta(minutes=minutes),
                    "data": {"device": devices[case_id]},
                }
            )
    for start in range(0, len(rows), CHUNK):
        db.execute(insert(EVENTS), rows[start : start + CHUNK])
    return len(rows)


def _link_reminders(db: Session, now: datetime) -> None:
    """A link row for each reminder the strategy's past sent without one (see the
    module's docstring), and the message pointed at it."""
    sent = [
        (message_id, case_id, at)
        for message_id, case_id, at in db.execute(
            select(Message.id, Message.case_id, Message.sent_at).where(
                Message.created_by == SYSTEM,
                Message.link_id.is_(None),
                Message.status == MessageStatus.SENT,
                Message.purpose.in_([template.value for template in Template]),
                Message.sent_at <= now,
            )
        )
        if at is not None
    ]
    hashes = [token_hash(new_token()) for _ in sent]
    links = [
        {
            "case_id": case_id,
            "token_hash": hashed,
            "purpose": "status",
            "offer_id": None,
            "created_at": at,
            "expires_at": at + timedelta(days=7),
            "session_generation": 0,
            "failed_attempts": 0,
        }
        for (_, case_id, at), hashed in zip(sent, hashes, strict=True)
    ]
    for start in range(0, len(links), CHUNK):
        db.execute(insert(LINKS), links[start : start + CHUNK])
    by_hash: dict[str, int] = {}
    for start in range(0, len(hashes), CHUNK):
        chunk = hashes[start : start + CHUNK]
        found = select(ReminderLink.token_hash, ReminderLink.id)
        by_hash.update(dict(db.execute(found.where(ReminderLink.token_hash.in_(chunk))).all()))
    pointed = [
        {"message": message_id, "link": by_hash[hashed]}
        for (message_id, _, _), hashed in zip(sent, hashes, strict=True)
    ]
    statement = (
        update(MESSAGES)
        .where(MESSAGES.c.id == bindparam("message"))
        .values(link_id=bindparam("link"))
    )
    for start in range(0, len(pointed), CHUNK):
        db.execute(statement, pointed[start : start + CHUNK])
