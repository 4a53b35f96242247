"""Holds: a declared hardship or a dispute stops escalation and pressure at once, and
each ends.

A hold is ``Case.hold`` (the column every rule reads: the contact gate, the daily work's
stages and penalties, the queue) plus its ``CaseHold`` row, its record for good:

- A hardship is a breathing space of the policy's length (``holds.hardship_breathing_
  space_days``, 60 days by default as in England's Debt Respite Scheme). It ends by
  itself on its date in the daily work (``expire_holds``), which asks an agent to review
  the case; it ends early when the borrower agrees a plan (``end_for_plan``); an agent
  may lift it with a note (``lift``).
- A dispute has a reason (a fixed list and the borrower's own words) and a review-by
  date (``holds.dispute_review_days``). An agent proposes a resolution (upheld or
  rejected, with a note); a supervisor other than the agent signs it off, and the hold
  ends with that outcome (maker-checker: ``propose`` then ``sign_off``).

Every change is a case event and an audit entry, in the same transaction as the change.
The staff and borrower actions (``place_hold``, ``lift``, ``propose``, ``sign_off``)
commit; what runs inside another action (``hold_case`` on a call, ``end_for_plan`` when
a plan is accepted, ``expire_holds`` in the daily work) does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from negotiation import Hold, Policy
from portal.audit import trail
from portal.cases import adjustments
from portal.cases.facts import policy as current_policy
from portal.cases.facts import record_event
from portal.cases.flags import clear_reason, raise_flag
from portal.cases.overdue import borrower_today
from portal.core.db import lock_row
from portal.models import (
    OPEN_VISIT_STATUSES,
    AdjustmentStatus,
    Case,
    CaseFlag,
    CaseHold,
    DisputeReason,
    DisputeResolution,
    FlagReason,
    HoldAdjustment,
    HoldOutcome,
    HoldStatus,
    HomeVisit,
    StaffMember,
    VisitStatus,
)

Actor = StaffMember | str


class HoldError(Exception):
    """The hold change asked for cannot be made; ``code`` says why (stable, for the
    view to word): ``no_hold``, ``not_dispute``, ``not_proposed``, ``already_proposed``,
    ``same_person``, ``not_supervisor``, ``note_required``, ``not_hardship``,
    ``adjustment_not_upheld`` (only an upheld dispute changes the books), and the codes of
    ``portal.cases.adjustments.AdjustmentError``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _name(actor: Actor) -> str:
    return actor.email if isinstance(actor, StaffMember) else actor


def standing(db: Session, case: Case) -> CaseHold | None:
    """The hold that stands on the case, or None."""
    return db.scalars(
        select(CaseHold).where(CaseHold.case_id == case.id, CaseHold.ended_at.is_(None))
    ).first()


def latest(db: Session, case: Case, kind: Hold | None = None) -> CaseHold | None:
    """The case's most recent hold (standing or ended), of ``kind`` when given."""
    query = select(CaseHold).where(CaseHold.case_id == case.id)
    if kind is not None:
        query = query.where(CaseHold.kind == kind)
    return db.scalars(query.order_by(CaseHold.id.desc())).first()


def history(db: Session, case: Case) -> list[CaseHold]:
    """Every hold the case has had, newest first (ended ones included)."""
    return list(
        db.scalars(select(CaseHold).where(CaseHold.case_id == case.id).order_by(CaseHold.id.desc()))
    )


def hold_case(
    db: Session,
    case: Case,
    reason: str,
    details: str,
    now: datetime,
    *,
    actor: str = "borrower",
    member: StaffMember | None = None,
    dispute_reason: DisputeReason | None = None,
    rules: Policy | None = None,
    **data: object,
) -> bool:
    """Put the case on hold for an agent to review, and record why and who said so
    (``actor``: ``borrower`` from the portal, ``agent`` when told on a call, with the
    ``member`` who took it). Does not commit: the caller's action and the hold belong to
    one transaction. Returns False when the case was already on hold (the declaration is
    still recorded, and the standing hold is unchanged)."""
    if reason not in tuple(Hold):
        raise ValueError(f"unknown hold reason {reason!r}")
    kind = Hold(reason)
    placed = case.hold is None
    event_data: dict[str, object] = dict(data)
    if placed:
        rules = rules or current_policy()
        today = borrower_today(case.loan.borrower.timezone, now)
        row = CaseHold(
            case_id=case.id,
            kind=kind,
            status=HoldStatus.ACTIVE,
            reason=dispute_reason if kind is Hold.DISPUTE else None,
            details=details[:2000],
            placed_at=now,
            placed_by=member.email if member else actor,
        )
        if kind is Hold.HARDSHIP:
            row.ends_on = today + timedelta(days=rules.hardship_breathing_space_days)
            event_data["ends_on"] = row.ends_on.isoformat()
        else:
            row.review_by = today + timedelta(days=rules.dispute_review_days)
            event_data["review_by"] = row.review_by.isoformat()
        db.add(row)
        case.hold = kind
        case.hold_since = now
        cancel_visits(db, case, now, kind)
        if actor == "borrower":
            # An agent's own "hold.place" entry is written by the call's record.
            trail.record(
                db, "borrower", "hold.place", now, case_id=case.id, reason=reason, **event_data
            )
    if dispute_reason is not None:
        event_data["reason"] = dispute_reason.value
    raise_flag(
        db, case, FlagReason.HOLD_PLACED, now, member.email if member else actor, hold=reason
    )
    record_event(
        db, case, f"{reason}_declared", actor, at=now, details=details[:2000], **event_data
    )
    return placed


def cancel_visits(db: Session, case: Case, now: datetime, kind: Hold) -> int:
    """A hold stops every collection step: the case's open home visit (proposed to
    scheduled) is cancelled, its notice not yet sent goes stale (``portal.messaging.
    purposes``), and a new one must be proposed after the hold. How many. Does not
    commit."""
    visits = db.scalars(
        select(HomeVisit).where(
            HomeVisit.case_id == case.id, HomeVisit.status.in_(OPEN_VISIT_STATUSES)
        )
    ).all()
    for visit in visits:
        visit.status = VisitStatus.CANCELLED
        visit.cancelled_at = now
        visit.cancelled_by = "system"
        visit.cancel_reason = "hold"
        record_event(
            db, case, "visit_cancelled", "system", at=now, visit_id=visit.id, reason="hold",
            hold=kind.value,
        )  # fmt: skip
    return len(visits)


def place_hold(
    db: Session,
    case: Case,
    reason: str,
    details: str,
    now: datetime,
    dispute_reason: DisputeReason | None = None,
) -> None:
    """The borrower declared a hardship or a dispute in the portal. Commits."""
    hold_case(db, case, reason, details, now, dispute_reason=dispute_reason)
    db.commit()


def _end(
    db: Session,
    case: Case,
    row: CaseHold,
    outcome: HoldOutcome,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    *,
    ask_agent: bool = False,
) -> None:
    """End ``row`` (kept, never deleted), lift the case's hold, and record both."""
    row.status = HoldStatus.ENDED
    row.outcome = outcome
    row.ended_at = now
    row.ended_by = _name(actor)
    row.end_note = note
    case.hold = None
    case.hold_since = None
    case.updated_at = now
    # What asked for a review of the hold is moot once it ends; an end nobody chose
    # (its date came) asks for an agent instead.
    for moot in (FlagReason.HOLD_PLACED, FlagReason.HOLD_REVIEW):
        clear_reason(db, case, moot, now, _name(actor))
    if ask_agent:
        raise_flag(db, case, FlagReason.HOLD_ENDED, now, _name(actor), hold=row.kind.value)
    details = {"hold_id": row.id, "hold": row.kind.value, "outcome": outcome.value}
    record_event(
        db,
        case,
        "hold_ended",
        "system" if actor == "system" else ("borrower" if actor == "borrower" else "agent"),
        at=now,
        note=note or "",
        by=_name(actor),
        **details,
    )
    trail.record(db, actor, "hold.end", now, case_id=case.id, **details)


def lift(db: Session, case: Case, member: StaffMember, note: str, now: datetime) -> CaseHold:
    """An agent lifts a standing hardship hold before its date, saying why. Commits."""
    if not note.strip():
        raise HoldError("note_required")
    row = standing(db, case)
    if row is None:
        raise HoldError("no_hold")
    if row.kind is Hold.DISPUTE:
        # A dispute ends only by its signed-off resolution.
        raise HoldError("not_hardship")
    _end(db, case, row, HoldOutcome.LIFTED, member, now, note.strip()[:2000])
    db.commit()
    return row


def end_for_plan(db: Session, case: Case, now: datetime) -> bool:
    """The borrower agreed a plan: a hardship's breathing space ends early (the plan is
    what the breathing space was for). A dispute stands. Does not commit."""
    row = standing(db, case)
    if row is None or row.kind is not Hold.HARDSHIP:
        return False
    _end(db, case, row, HoldOutcome.PLAN_AGREED, "borrower", now)
    return True


@dataclass
class Expired:
    """What one day's expiry ended: how many hardships, and the cases they paused."""

    hardships: int = 0
    cases: tuple[int, ...] = ()


def expire_holds(db: Session, as_of: date, now: datetime) -> Expired:
    """The daily work: each hardship whose breathing space ends on or before ``as_of``
    ends by itself, and asks an agent to review the case. Holds are few, so they are read
    at once. Does not commit (the daily work's step does)."""
    rows = db.scalars(
        select(CaseHold)
        .where(
            CaseHold.kind == Hold.HARDSHIP,
            CaseHold.ended_at.is_(None),
            CaseHold.ends_on <= as_of,
        )
        .order_by(CaseHold.id)
        .with_for_update()
    ).all()
    for row in rows:
        case = db.get(Case, row.case_id)
        if case is None:  # pragma: no cover - the foreign key forbids it
            continue
        _end(db, case, row, HoldOutcome.EXPIRED, "system", now, ask_agent=True)
    return Expired(hardships=len(rows), cases=tuple(row.case_id for row in rows))


def flag_reviews(db: Session, as_of: date, now: datetime, rules: Policy) -> int:
    """The daily work: ask for a review (a ``hold_review`` flag) of each standing hold
    that needs one by ``as_of``: a hardship whose breathing space ends within the
    policy's ``hardship_review_days_before`` days, and a dispute whose review-by date has
    come. One set-based read; each hold is asked about once, ever (a hold review flag
    raised since the hold was placed, open or cleared, answers it), so a re-run, the next
    day's run or an agent's clearing never raises it again. Returns how many flags
    opened. Does not commit (the daily work's step does)."""
    asked = (
        select(CaseFlag.id)
        .where(
            CaseFlag.case_id == CaseHold.case_id,
            CaseFlag.reason == FlagReason.HOLD_REVIEW,
            CaseFlag.raised_at >= CaseHold.placed_at,
        )
        .exists()
    )
    horizon = as_of + timedelta(days=rules.hardship_review_days_before)
    due = db.scalars(
        select(CaseHold)
        .where(
            CaseHold.ended_at.is_(None),
            or_(
                and_(CaseHold.kind == Hold.HARDSHIP, CaseHold.ends_on <= horizon),
                and_(CaseHold.kind == Hold.DISPUTE, CaseHold.review_by <= as_of),
            ),
            ~asked,
        )
        .order_by(CaseHold.id)
    ).all()
    opened = 0
    for row in due:
        case = db.get(Case, row.case_id)
        if case is None:  # pragma: no cover - the foreign key forbids it
            continue
        when = row.ends_on if row.kind is Hold.HARDSHIP else row.review_by
        details = {
            "hold": row.kind.value,
            "hold_id": row.id,
            "until": when.isoformat() if when else "",
        }
        if raise_flag(db, case, FlagReason.HOLD_REVIEW, now, "system", **details) is not None:
            opened += 1
    return opened


# Disputes ------------------------------------------------------------------------------


def propose(
    db: Session,
    case: Case,
    member: StaffMember,
    resolution: DisputeResolution,
    note: str,
    now: datetime,
    changes: Sequence[adjustments.Request] = (),
) -> CaseHold:
    """An agent proposes how a dispute is resolved; it waits for a supervisor's sign-off
    and the hold stands meanwhile. Upheld says what it changes in the books
    (``changes``: charges waived, installments reduced, or the case closed), checked
    against what is owed now and kept as proposed lines; nothing moves until the sign-off.
    Commits."""
    if not note.strip():
        raise HoldError("note_required")
    row = standing(db, case)
    if row is None:
        raise HoldError("no_hold")
    if row.kind is not Hold.DISPUTE:
        raise HoldError("not_dispute")
    if row.status is HoldStatus.PROPOSED:
        raise HoldError("already_proposed")
    if changes and resolution is not DisputeResolution.UPHELD:
        raise HoldError("adjustment_not_upheld")
    note = note.strip()[:2000]
    lines: list[HoldAdjustment] = []
    if resolution is DisputeResolution.UPHELD:
        try:
            lines = adjustments.plan(db, case, row, changes, member, note, now)
        except adjustments.AdjustmentError as error:
            db.rollback()
            raise HoldError(error.code) from error
    row.status = HoldStatus.PROPOSED
    row.proposed = resolution
    row.proposed_note = note
    row.proposed_by_id = member.id
    row.proposed_at = now
    db.flush()
    details: dict[str, object] = {"hold_id": row.id, "resolution": resolution.value}
    if lines:
        details["adjustments"] = [line.id for line in lines]
        details["amount"] = sum(line.amount for line in lines)
    record_event(db, case, "dispute_proposed", "agent", at=now, by=member.email, **details)
    trail.record(db, member, "dispute.propose", now, case_id=case.id, **details)
    db.commit()
    return row


def sign_off(
    db: Session, case: Case, member: StaffMember, approve: bool, now: datetime
) -> CaseHold:
    """A supervisor (never the agent who proposed) approves the proposed resolution, which
    ends the hold with it, or sends it back to be proposed again (its lines withdrawn).
    An upheld resolution's lines are applied to the books here and only here, in the
    same transaction as the hold's end, with the case row locked (a payment or a second
    sign-off waits). Commits; the borrower is then told the outcome
    (``portal.messaging.service.send_dispute_outcome``) by the caller."""
    if "supervisor" not in member.role_set:
        raise HoldError("not_supervisor")
    lock_row(db, Case, case.id)
    # What was read before the lock may be stale (another sign-off, a payment).
    db.expire_all()
    row = standing(db, case)
    if row is None:
        raise HoldError("no_hold")
    if row.status is not HoldStatus.PROPOSED or row.proposed is None:
        raise HoldError("not_proposed")
    if row.proposed_by_id == member.id:
        raise HoldError("same_person")
    details: dict[str, object] = {"hold_id": row.id, "resolution": row.proposed.value}
    if not approve:
        row.status = HoldStatus.ACTIVE
        withdrawn = adjustments.withdraw(db, row, now)
        if withdrawn:
            details["adjustments_withdrawn"] = withdrawn
        record_event(db, case, "dispute_sent_back", "agent", at=now, by=member.email, **details)
        trail.record(db, member, "dispute.send_back", now, case_id=case.id, **details)
        db.commit()
        return row
    row.signed_off_by_id = member.id
    outcome = HoldOutcome(row.proposed.value)
    if outcome is HoldOutcome.UPHELD:
        try:
            applied = adjustments.apply(db, case, row, member, now)
        except adjustments.AdjustmentError as error:
            db.rollback()
            raise HoldError(error.code) from error
        details["amount"] = applied.total
        details["closed"] = applied.closed
    trail.record(db, member, "dispute.sign_off", now, case_id=case.id, **details)
    _end(db, case, row, outcome, member, now, row.proposed_note)
    db.commit()
    return row


class DisputeStage:
    """Where a borrower's dispute stands, as their status page says it."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    UPHELD = "upheld"
    REJECTED = "rejected"


def dispute_stage(row: CaseHold) -> str:
    """Received (no agent has proposed yet), under review (a resolution awaits its
    sign-off), upheld or rejected (signed off)."""
    if row.outcome is HoldOutcome.UPHELD:
        return DisputeStage.UPHELD
    if row.outcome is HoldOutcome.REJECTED:
        return DisputeStage.REJECTED
    if row.status is HoldStatus.PROPOSED:
        return DisputeStage.UNDER_REVIEW
    return DisputeStage.RECEIVED


# How long after its end a resolved dispute is still shown on the borrower's page.
RESOLVED_SHOWN_FOR = timedelta(days=90)


@dataclass(frozen=True)
class DisputeStatus:
    """What the borrower's status page says about their dispute: its stage, its review-by
    date, and for an upheld one what was taken off (minor units) and whether the balance
    was written off."""

    stage: str
    review_by: date | None
    corrected: int = 0
    closed: bool = False


def dispute_status(db: Session, case: Case, now: datetime) -> DisputeStatus | None:
    """Where the case's latest dispute stands, for the borrower: None when there is
    none, or when it was resolved long ago."""
    row = latest(db, case, Hold.DISPUTE)
    if row is None:
        return None
    if row.ended_at is not None and row.ended_at < now - RESOLVED_SHOWN_FOR:
        return None
    if row.ended_at is not None and row.outcome not in (HoldOutcome.UPHELD, HoldOutcome.REJECTED):
        return None
    applied = [
        line
        for line in adjustments.of_holds(db, [row.id])[row.id]
        if line.status is AdjustmentStatus.APPLIED
    ]
    return DisputeStatus(
        dispute_stage(row),
        row.review_by,
        corrected=sum(line.amount for line in applied),
        closed=any(line.kind == "write_off" for line in applied),
    )
