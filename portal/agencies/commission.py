"""Booking a partner agency's commission from the ledger.

A payment counts for a placement when it was confirmed while the case was placed: from
``placed_at`` until the placement's end (``ends_at``, or ``recalled_at`` when recalled
earlier). Everything the ledger later does to that payment (a refund, a chargeback, a
won chargeback's return) counts for the same placement, whenever it happens: that is
how a clawback finds the commission it takes back.

Each movement is one group of the payment's allocations booked together (the same
payment, cause and moment); what it moved is their sum less any credit (money beyond
what the loan owed earns nothing). ``negotiation.commission`` turns the movements, in
the order the ledger wrote them, into entries: the placement's total is always the
rate on its net collected, rounded once, half to even.

``book`` is idempotent: a movement whose allocations already have an entry is skipped,
and ``commission_entries.allocation_id`` is unique besides, so two runs at once cannot
book one twice. It runs in the daily case work (``daily_step``), from
``haohuan finance commission``, and from finance's statements page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from negotiation import commission as rule
from portal.core.db import lock_row
from portal.models import (
    AgencyPlacement,
    Allocation,
    AllocationCause,
    CommissionEntry,
    Payment,
)


@dataclass(frozen=True)
class _Movement:
    payment_id: int
    cause: AllocationCause
    moved_at: datetime
    moved: int
    allocation_ids: tuple[int, ...]


def placement_end(placement: AgencyPlacement) -> datetime:
    """When the placement stopped counting payments: its recall, or its period's end."""
    if placement.recalled_at is not None and placement.recalled_at < placement.ends_at:
        return placement.recalled_at
    return placement.ends_at


def book(db: Session, now: datetime) -> int:
    """Book every movement not yet booked, on every placement that has one; commits
    once. Returns how many entries were added (0 when run again)."""
    added = 0
    for placement_id in db.scalars(_with_new_money()):
        added += _book_placement(db, placement_id, now)
    db.commit()
    return added


def _with_new_money() -> Select[int]:
    """The placements whose payments have an allocation newer than the newest the
    placement booked: the only ones with anything to book (one statement, so a day's run
    reads the placements that changed, not all of them)."""
    placement = AgencyPlacement
    end = case(
        (
            and_(placement.recalled_at.is_not(None), placement.recalled_at < placement.ends_at),
            placement.recalled_at,
        ),
        else_=placement.ends_at,
    )
    booked = (
        select(func.coalesce(func.max(CommissionEntry.allocation_id), 0))
        .where(CommissionEntry.placement_id == placement.id)
        .scalar_subquery()
    )
    newer = (
        select(Allocation.id)
        .join(Payment, Payment.id == Allocation.payment_id)
        .where(
            Payment.case_id == placement.case_id,
            Payment.confirmed_at >= placement.placed_at,
            Payment.confirmed_at < end,
            Allocation.id > booked,
        )
        .exists()
    )
    return select(placement.id).where(newer).order_by(placement.id)


def daily_step(engine: Any, day: Any, _work: Any) -> None:
    """The daily case work's step (``portal.cases.lifecycle.work_day``): ``book`` at
    the run's moment, in its own transaction."""
    with Session(bind=engine) as db:
        book(db, day.now)


def _book_placement(db: Session, placement_id: int, now: datetime) -> int:
    lock_row(db, AgencyPlacement, placement_id)
    placement = db.get(AgencyPlacement, placement_id)
    if placement is None:
        return 0
    # Per payment, the newest allocation already booked: its movements up to there are.
    booked_upto = dict(
        db.execute(
            select(CommissionEntry.payment_id, func.max(CommissionEntry.allocation_id))
            .where(CommissionEntry.placement_id == placement_id)
            .group_by(CommissionEntry.payment_id)
        ).all()
    )
    last = db.scalars(
        select(CommissionEntry)
        .where(CommissionEntry.placement_id == placement_id)
        .order_by(CommissionEntry.id.desc())
        .limit(1)
    ).first()
    net, earned = (last.net_after, last.commission_after) if last else (0, 0)
    added = 0
    for movement in _movements(db, placement, booked_upto):
        entry = rule.book(net, earned, movement.moved, Decimal(placement.commission_rate))
        db.add(
            CommissionEntry(
                placement_id=placement.id,
                agency_id=placement.agency_id,
                case_id=placement.case_id,
                payment_id=movement.payment_id,
                allocation_id=max(movement.allocation_ids),
                cause=movement.cause,
                currency=placement.currency,
                rate=placement.commission_rate,
                moved=entry.moved,
                net_after=entry.net_after,
                commission=entry.commission,
                commission_after=entry.commission_after,
                moved_at=movement.moved_at,
                recorded_at=now,
            )
        )
        net, earned = entry.net_after, entry.commission_after
        added += 1
    db.flush()
    return added


def _movements(
    db: Session, placement: AgencyPlacement, booked_upto: dict[int, int]
) -> list[_Movement]:
    """The placement's movements not yet booked, in the order the ledger wrote them (by
    allocation id): a payment's allocations after the newest one booked."""
    rows = db.execute(
        select(
            Allocation.id,
            Allocation.payment_id,
            Allocation.cause,
            Allocation.booked_at,
            Allocation.target,
            Allocation.amount,
        )
        .join(Payment, Payment.id == Allocation.payment_id)
        .where(
            Payment.case_id == placement.case_id,
            Payment.confirmed_at.is_not(None),
            Payment.confirmed_at >= placement.placed_at,
            Payment.confirmed_at < placement_end(placement),
        )
        .order_by(Allocation.id)
    ).all()
    fresh = [row for row in rows if row.id > booked_upto.get(row.payment_id, 0)]
    return _grouped(fresh)


def _grouped(rows: Iterable[Any]) -> list[_Movement]:
    """Allocations in id order, grouped while they are the same payment's, cause's and
    moment's: one event of the ledger's."""
    groups: list[list[Any]] = []
    for row in rows:
        last = groups[-1][-1] if groups else None
        if last is not None and (last.payment_id, last.cause, last.booked_at) == (
            row.payment_id,
            row.cause,
            row.booked_at,
        ):
            groups[-1].append(row)
        else:
            groups.append([row])
    movements = [
        _Movement(
            payment_id=members[0].payment_id,
            cause=AllocationCause(members[0].cause),
            moved_at=members[0].booked_at,
            moved=sum(int(r.amount) for r in members if r.target != "credit"),
            allocation_ids=tuple(int(r.id) for r in members),
        )
        for members in groups
    ]
    return [m for m in movements if m.moved]


def total_booked(db: Session, agency_id: int, currency: str) -> int:
    """Everything an agency earned in one currency, net of clawbacks."""
    total = db.scalar(
        select(func.coalesce(func.sum(CommissionEntry.commission), 0)).where(
            CommissionEntry.agency_id == agency_id, CommissionEntry.currency == currency
        )
    )
    return int(total or 0)
