"""A borrower asks to be called: the times they may pick, and the request itself.

The times offered are the half hours of the next 7 days (on the borrower's clock) at
which the gate would let an agent call them: the hours and holidays of where they live,
their own quiet windows, and what already stands in the way (a hold, an opt-out of
calls, the caps of a day already used up). The request is a ``Callback`` of source
``borrower`` (``portal.contact.callbacks.schedule_callback``): their request, not contact
we made, so it counts toward no cap. A time no longer allowed when they send it is
refused and nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from negotiation import Hold
from negotiation.contact import (
    Channel,
    ContactRefusal,
    ContactRequest,
    Recipient,
    may_contact,
)
from portal.contact.callbacks import cancel_callback, open_callback, schedule_callback
from portal.contact.gate import (
    contact_history,
    judge,
    narrowed_rules,
    notices_sent,
    opted_out_channels,
)
from portal.models import Callback, CallbackSource, Case

SLOT = timedelta(minutes=30)
# The soonest time offered: an agent needs a moment to see the request.
LEAD = timedelta(minutes=30)
DAYS_AHEAD = 7
BORROWER = "borrower"


@dataclass(frozen=True)
class CallSlots:
    """The times a borrower may ask to be called (aware, on their clock), or, when none,
    why: the lasting reasons (a hold, calls turned off) or, when only time stands in the
    way, the reasons met over the week."""

    slots: tuple[datetime, ...]
    reasons: tuple[ContactRefusal, ...] = ()

    def by_day(self) -> list[tuple[datetime, list[datetime]]]:
        """The slots grouped by their local day, in order."""
        days: dict[object, list[datetime]] = {}
        for slot in self.slots:
            days.setdefault(slot.date(), []).append(slot)
        return [(times[0], times) for times in days.values()]


class CallbackRefusedError(ValueError):
    """The time asked for is not one the rules allow (any more)."""


def _first_slot(now: datetime, zone: ZoneInfo) -> datetime:
    """The first half hour on the borrower's clock at least ``LEAD`` from now (UTC)."""
    local = (now + LEAD).astimezone(zone)
    floor = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
    if floor < local:
        floor += SLOT
    return floor.astimezone(UTC)


def callback_slots(db: Session, case: Case, now: datetime) -> CallSlots:
    """Every half hour of the next ``DAYS_AHEAD`` days at which the borrower of ``case``
    may be called, judged as the gate judges a call. Reads only."""
    borrower = case.loan.borrower
    zone = ZoneInfo(borrower.timezone)
    rules = narrowed_rules(db, borrower, case.loan.currency)
    holds = frozenset({Hold(case.hold)}) if case.hold else frozenset()
    opted = opted_out_channels(db, borrower.id)
    history = contact_history(db, borrower.id, now)
    noticed = bool(notices_sent(db, [case.id]))
    moment, until = _first_slot(now, zone), now + timedelta(days=DAYS_AHEAD)
    slots: list[datetime] = []
    met: dict[ContactRefusal, None] = {}
    while moment <= until:
        request = ContactRequest(
            Channel.CALL,
            Recipient.BORROWER,
            moment,
            borrower.timezone,
            holds,
            opted,
            validation_notice_sent=noticed,
        )
        decision = may_contact(request, history, rules)
        lasting = tuple(reason for reason in decision.reasons if reason.is_permanent)
        if lasting:
            return CallSlots((), lasting)
        if decision.allowed:
            slots.append(moment.astimezone(zone))
        met.update(dict.fromkeys(decision.reasons))
        moment += SLOT
    return CallSlots(tuple(slots), () if slots else tuple(met))


def borrowers_callback(db: Session, case: Case) -> Callback | None:
    """The open callback the borrower asked for, if any (one an agent planned is theirs)."""
    callback = open_callback(db, case.id)
    if callback is None or callback.source != CallbackSource.BORROWER:
        return None
    return callback


def request_callback(db: Session, case: Case, due_at: datetime, now: datetime) -> Callback:
    """Ask for a call at ``due_at`` (one of ``callback_slots``), replacing an open
    callback, and commit. The time is judged again with the case locked: a hold placed or
    a cap reached since the list was shown refuses it (``CallbackRefusedError``, nothing kept)."""
    latest = now + timedelta(days=DAYS_AHEAD) + SLOT
    if not now + LEAD - SLOT < due_at <= latest:
        db.rollback()
        raise CallbackRefusedError("outside the times offered")
    decision = judge(db, case, Channel.CALL, due_at, lock=True)
    if not decision.allowed:
        db.rollback()
        raise CallbackRefusedError(",".join(reason.value for reason in decision.reasons))
    callback = schedule_callback(
        db, case, due_at.astimezone(UTC), CallbackSource.BORROWER, BORROWER, now
    )
    db.commit()
    return callback


def withdraw_callback(db: Session, case: Case, now: datetime) -> bool:
    """Cancel the callback the borrower asked for, and commit; False when there is none
    of theirs open (an agent's own follow-up is not theirs to cancel)."""
    if borrowers_callback(db, case) is None:
        db.rollback()
        return False
    cancel_callback(db, case, now, BORROWER)
    db.commit()
    return True
