"""Pre-approved offers: built by an agent from the engine, approved by a supervisor when
they go beyond the agent's authority, sent as a link, and expired when not taken up.

Nothing here trusts an earlier judgement. A preview is only a preview: creating an offer
judges its terms again against the case as it is at that moment, and so does approving
one, days later, against the case as it is then. Amounts are never stored or carried:
an offer is its terms (the shape ``portal.arrangements.agreement.offer_terms`` reads), and the
schedule is worked out from them whenever it is shown.

Each write is one service function that commits once, with its case event and its
audit entry in the same transaction.

A case has at most one open offer (ready, or waiting for a supervisor): a new offer
withdraws the one before it, which names its successor (``replaced_by_id``), so the
borrower is never sent two offers and a supervisor never approves a stale one. The case
row is locked while this happens, and a partial unique index in the database refuses a
second open offer whatever the path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation import (
    Authority,
    Bounds,
    Hold,
    PlanKind,
    Rejection,
    Terms,
    judge_offer,
)
from negotiation import Plan as Schedule
from portal.agencies.agencies import BeyondAgency, agency_of, beyond_agency
from portal.arrangements.agreement import offer_terms
from portal.audit import trail
from portal.cases.facts import live_plan, policy, policy_version, record_event, snapshot_of
from portal.cases.overdue import borrower_today
from portal.core import settings
from portal.core.db import lock_row
from portal.models import (
    OPEN_OFFER_STATUSES,
    Agency,
    Case,
    Loan,
    Offer,
    OfferStatus,
    StaffMember,
)

# Offers still in play: sendable, or waiting for a supervisor.
SUPERVISOR = "supervisor"
ZERO = Decimal(0)


class Outcome(StrEnum):
    """What making an offer of some terms would lead to, for the staff member asking."""

    READY = "ready"
    NEEDS_APPROVAL = "needs_approval"
    OUTSIDE_POLICY = "outside_policy"
    BARRED = "barred"
    # Beyond the authority the lender set for the maker's partner agency: refused, never
    # sent for approval (``portal.agencies.agencies.beyond_agency``).
    BEYOND_AGENCY = "beyond_agency"


class Bar(StrEnum):
    """Why no offer may be made on a case at all, whatever its terms."""

    # A disputed debt is not pressed: offering a way to pay it while the borrower says
    # it is not owed is pressure, and the dispute must be answered first.
    DISPUTED = "disputed"
    # A borrower with a pending or active plan cannot accept another (one live plan per
    # case); a different arrangement means cancelling the plan first.
    HAS_PLAN = "has_plan"


class Refusal(StrEnum):
    """Why an approval, a decline or a withdrawal did not happen."""

    NOT_WAITING = "not_waiting"  # already decided, withdrawn, accepted or expired
    EXPIRED = "expired"
    OWN_OFFER = "own_offer"
    NOT_ALLOWED = "not_allowed"
    OUTSIDE_POLICY = "outside_policy"
    BARRED = "barred"


@dataclass(frozen=True)
class Preview:
    """Terms judged against a case today, for one staff member.

    ``plan`` is the exact schedule (its installments always sum to its total) or None
    when the terms are too malformed to build one; ``reasons`` say what goes beyond the
    agent's authority (needs approval) or beyond the policy (outside policy).
    ``by_supervisor`` is true when the terms need a supervisor and the member is one,
    so the offer is ready on their own authority.
    """

    terms: Terms
    today: date
    currency: str
    outcome: Outcome
    plan: Schedule | None
    reasons: tuple[Rejection, ...] = ()
    bars: tuple[Bar, ...] = ()
    by_supervisor: bool = False
    on_hardship_hold: bool = False
    # The open offer this one would withdraw when made (one open offer per case).
    replaces: int | None = None
    # For a partner agency's member: what goes beyond their agency's authority, and it.
    beyond_agency: tuple[BeyondAgency, ...] = ()
    agency: Agency | None = None

    @property
    def allowed(self) -> bool:
        """True when an offer of these terms may be stored."""
        return self.outcome in (Outcome.READY, Outcome.NEEDS_APPROVAL)


@dataclass(frozen=True)
class Made:
    """The outcome of ``create_offer``: the stored offer, or None and why (``preview``)."""

    offer: Offer | None
    preview: Preview
    # The open offers the new one withdrew (one open offer per case).
    replaced: tuple[int, ...] = ()


@dataclass(frozen=True)
class Decided:
    """The outcome of an approval, a decline or a withdrawal."""

    offer: Offer
    refusal: Refusal | None = None
    reasons: tuple[Rejection, ...] = ()
    bars: tuple[Bar, ...] = ()

    @property
    def done(self) -> bool:
        """True when the offer changed as asked."""
        return self.refusal is None


@dataclass(frozen=True)
class Limits:
    """What the agent may offer on a case alone, and what a supervisor may approve."""

    agent: Bounds
    supervisor: Bounds


def offer_validity() -> timedelta:
    """How long a new (or newly approved) offer may be taken up."""
    return timedelta(days=settings.current().offer_valid_days)


def case_today(case: Case, moment: datetime) -> date:
    """The borrower's own date at ``moment``: days past due count in their calendar, as
    on the borrower's pages."""
    return borrower_today(case.loan.borrower.timezone, moment)


def normalised(terms: Terms) -> Terms:
    """``terms`` with what their kind ignores set to its neutral value, so an offer
    stores, and a supervisor reads, only what applies: one payment unless the kind is
    paid in installments, no waiver on a promise to pay, a discount only on a
    settlement, a rate only on a restructure."""
    kind = terms.kind
    if not kind.is_installment_plan:
        terms = replace(terms, installments=1, down_payment=None)
    if kind is PlanKind.DEFERRAL:
        terms = replace(terms, penalty_waiver_pct=ZERO, fee_waiver_pct=ZERO)
    if kind is not PlanKind.SETTLEMENT:
        terms = replace(terms, settlement_discount_pct=ZERO)
    if kind is not PlanKind.RESTRUCTURE:
        terms = replace(terms, interest_rate_pct=ZERO)
    return terms


def terms_json(terms: Terms) -> dict[str, Any]:
    """Terms as an offer stores them (what ``offer_terms`` reads back): percentages as
    exact decimal strings, never floats."""
    return {
        "kind": terms.kind.value,
        "first_due_date": terms.first_due_date.isoformat(),
        "installments": terms.installments,
        "frequency": terms.frequency.value,
        "down_payment": terms.down_payment,
        "penalty_waiver_pct": str(terms.penalty_waiver_pct),
        "fee_waiver_pct": str(terms.fee_waiver_pct),
        "settlement_discount_pct": str(terms.settlement_discount_pct),
        "interest_rate_pct": str(terms.interest_rate_pct),
    }


def bars(db: Session, case: Case) -> tuple[Bar, ...]:
    """What stops any offer being made on ``case`` now.

    A hardship hold is not among them: a borrower who says they cannot pay is exactly
    who an affordable offer is for (mission.md: consider the real difficulty, encourage
    a plan). The hold still stops every collection message, so such an offer waits
    until the contact rules allow sending it, or is shown when the borrower opens a link.
    """
    found = []
    if case.hold == Hold.DISPUTE.value:
        found.append(Bar.DISPUTED)
    if live_plan(db, case) is not None:
        found.append(Bar.HAS_PLAN)
    return tuple(found)


def preview(
    db: Session, case: Case, member: StaffMember, terms: Terms, moment: datetime
) -> Preview:
    """What an offer of ``terms`` on ``case`` would be if ``member`` made it now: the
    schedule from the engine, and ready, needs approval, outside policy (with the
    reasons) or barred. Changes nothing."""
    terms = normalised(terms)
    today = case_today(case, moment)
    judgement = judge_offer(snapshot_of(db, case, today), policy(), today, terms)
    found = bars(db, case)
    supervisor = SUPERVISOR in member.role_set
    reasons = judgement.reasons
    if found:
        outcome, reasons = Outcome.BARRED, ()
    elif judgement.authority is Authority.OUTSIDE_POLICY or judgement.plan is None:
        outcome = Outcome.OUTSIDE_POLICY
    elif judgement.authority is Authority.NEEDS_APPROVAL and not supervisor:
        outcome = Outcome.NEEDS_APPROVAL
    else:
        outcome = Outcome.READY
    agency = agency_of(db, member)
    beyond: tuple[BeyondAgency, ...] = ()
    if agency is not None and outcome in (Outcome.READY, Outcome.NEEDS_APPROVAL):
        beyond = beyond_agency(agency, terms, outcome is Outcome.NEEDS_APPROVAL)
        if beyond:
            outcome = Outcome.BEYOND_AGENCY
    current = open_offer(db, case, moment)
    return Preview(
        terms=terms,
        today=today,
        currency=case.loan.currency,
        outcome=outcome,
        plan=judgement.plan,
        reasons=reasons,
        bars=found,
        by_supervisor=outcome is Outcome.READY and bool(reasons),
        on_hardship_hold=case.hold == Hold.HARDSHIP.value,
        replaces=current.id if current is not None else None,
        beyond_agency=beyond,
        agency=agency,
    )


def open_offer(db: Session, case: Case, moment: datetime) -> Offer | None:
    """The case's open offer at ``moment`` (ready, or waiting for a supervisor, and not
    past its expiry), if it has one: there is never more than one."""
    query = select(Offer).where(
        Offer.case_id == case.id,
        Offer.status.in_(OPEN_OFFER_STATUSES),
        Offer.expires_at > moment,
    )
    return db.scalars(query.order_by(Offer.id.desc()).limit(1)).first()


def limits(db: Session, case: Case, moment: datetime) -> Limits | None:
    """The agent's and the supervisor's bounds for ``case`` today (each role may always
    offer what the borrower could choose alone in the stage); None when nothing is
    overdue."""
    snapshot = snapshot_of(db, case, case_today(case, moment))
    rules = policy().rules_for(policy().stage_for(snapshot.days_past_due))
    if rules is None:
        return None
    agent = policy().agent.widened_by(rules.bounds)
    return Limits(agent, policy().supervisor.widened_by(agent))


def create_offer(
    db: Session, case: Case, member: StaffMember, terms: Terms, moment: datetime
) -> Made:
    """Store an offer of ``terms`` on ``case``, judged again here (never trusting a
    preview): ready when within the maker's authority, waiting for a supervisor when
    beyond an agent's; nothing is stored when it is outside policy or the case is
    barred. Records the case event and the audit entry ``offer.create``. Commits."""
    # The case row is locked so a plan accepted, or a dispute declared, at this very
    # moment is seen by the judgement rather than raced past.
    lock_row(db, Case, case.id)
    db.refresh(case)
    seen = preview(db, case, member, terms, moment)
    if not seen.allowed:
        db.rollback()
        return Made(None, seen)
    status = OfferStatus.READY if seen.outcome is Outcome.READY else OfferStatus.NEEDS_APPROVAL
    needs = "supervisor" if seen.reasons else "agent"
    # One open offer per case: those before it close first (the index allows no overlap).
    older = list(
        db.scalars(
            select(Offer).where(Offer.case_id == case.id, Offer.status.in_(OPEN_OFFER_STATUSES))
        )
    )
    was = {old.id: old.status for old in older}
    for old in older:
        old.status = OfferStatus.EXPIRED if old.expires_at <= moment else OfferStatus.WITHDRAWN
    db.flush()
    offer = Offer(
        case_id=case.id,
        status=status,
        terms=terms_json(seen.terms),
        created_by=member.email,
        created_at=moment,
        expires_at=moment + offer_validity(),
        authority=needs,
        policy_version=policy_version(),
    )
    if seen.by_supervisor:
        # Beyond an agent's authority but within the maker's own: the supervisor's
        # making it is the approval, recorded as theirs.
        offer.decided_by = member.email
        offer.decided_at = moment
    db.add(offer)
    db.flush()
    event = record_event(
        db,
        case,
        "offer_created",
        "agent",
        offer_id=offer.id,
        status=status,
        authority=needs,
        by=member.email,
        approved_by_maker=seen.by_supervisor,
        policy_version=offer.policy_version,
    )
    event.at = moment
    replaced = [old for old in older if old.status == OfferStatus.WITHDRAWN]
    trail.record(
        db,
        member,
        "offer.create",
        moment,
        case_id=case.id,
        offer_id=offer.id,
        status=status,
        authority=needs,
        approved_by_maker=seen.by_supervisor,
        reasons=[r.reason.value for r in seen.reasons],
        terms=offer.terms,
        replaces=[old.id for old in replaced],
    )
    for old in older:
        if old.status == OfferStatus.EXPIRED:
            # Past its expiry already: the daily work would have written it down.
            _event(db, case, "offer_expired", moment, old, member)
            continue
        old.replaced_by_id = offer.id
        _event(db, case, "offer_withdrawn", moment, old, member, replaced_by=offer.id)
        trail.record(
            db,
            member,
            "offer.withdraw",
            moment,
            case_id=case.id,
            offer_id=old.id,
            was=was[old.id],
            replaced_by=offer.id,
        )
    db.commit()
    return Made(offer, seen, replaced=tuple(old.id for old in replaced))


def effective_status(offer: Offer, moment: datetime) -> str:
    """An offer's status as it stands at ``moment``: one still open past its expiry is
    expired already, before the daily work writes it down."""
    if offer.status in OPEN_OFFER_STATUSES and offer.expires_at <= moment:
        return "expired"
    return offer.status


def case_offers(db: Session, case: Case) -> list[Offer]:
    """The case's offers, newest first."""
    query = select(Offer).where(Offer.case_id == case.id).order_by(Offer.id.desc())
    return list(db.scalars(query))


def case_offer(db: Session, case_id: int, offer_id: int) -> Offer | None:
    """The offer ``offer_id`` if it belongs to case ``case_id`` (a mismatched pair is
    no offer at all)."""
    offer = db.get(Offer, offer_id)
    return offer if offer is not None and offer.case_id == case_id else None


@dataclass(frozen=True)
class Waiting:
    """An offer in the approval queue, judged again against its case today."""

    offer: Offer
    case: Case
    loan: Loan
    preview: Preview


def approval_queue(
    db: Session, member: StaffMember, moment: datetime, limit: int = 100
) -> tuple[list[Waiting], int]:
    """Offers waiting for a supervisor, oldest first (at most ``limit``), each judged
    again today, and how many wait in all. Offers past their expiry are left out: they
    can no longer be approved."""
    waiting = (Offer.status == OfferStatus.NEEDS_APPROVAL, Offer.expires_at > moment)
    rows = db.scalars(
        select(Offer).where(*waiting).order_by(Offer.created_at, Offer.id).limit(limit)
    )
    items = []
    for offer in rows:
        case = db.get(Case, offer.case_id)
        assert case is not None  # a foreign key  # noqa: S101
        items.append(Waiting(offer, case, case.loan, rejudged(db, case, offer, member, moment)))
    count = len(items)
    if count == limit:
        count = int(db.scalar(select(func.count(Offer.id)).where(*waiting)) or 0)
    return items, count


def rejudged(
    db: Session, case: Case, offer: Offer, member: StaffMember, moment: datetime
) -> Preview:
    """A stored offer's terms judged against its case today. A first date already past moves
    to today, as it does when the borrower opens the offer
    (``portal.arrangements.agreement._work_out_offer``)."""
    terms = offer_terms(offer)
    today = case_today(case, moment)
    terms = replace(terms, first_due_date=max(terms.first_due_date, today))
    return preview(db, case, member, terms, moment)


def approve(
    db: Session, offer: Offer, member: StaffMember, moment: datetime, note: str = ""
) -> Decided:
    """A supervisor approves an offer waiting for one: judged again against the case
    today, it becomes ready, and may be taken up for a full validity period from now.
    Refused when it is no longer waiting or has expired, when the member made it
    (approval is always someone else's: four eyes), when the member is no supervisor,
    or when the case has changed so that it is now outside policy or barred. Records
    ``offer_approved`` and ``offer.approve``. Commits."""
    refused = _lock_waiting(db, offer, member, moment)
    if refused is not None:
        return refused
    case = db.get(Case, offer.case_id)
    assert case is not None  # a foreign key  # noqa: S101
    seen = rejudged(db, case, offer, member, moment)
    if seen.outcome is Outcome.BARRED:
        db.rollback()
        return Decided(offer, Refusal.BARRED, bars=seen.bars)
    if seen.outcome is Outcome.OUTSIDE_POLICY:
        db.rollback()
        return Decided(offer, Refusal.OUTSIDE_POLICY, seen.reasons)
    offer.expires_at = moment + offer_validity()
    return _decided(db, case, offer, member, moment, OfferStatus.READY, note.strip() or None)


def decline(db: Session, offer: Offer, member: StaffMember, moment: datetime, note: str) -> Decided:
    """A supervisor declines an offer waiting for one, saying why (``note``, required by
    the form). The same four-eyes rule as approval: never one's own. Records
    ``offer_declined`` and ``offer.decline``. Commits."""
    refused = _lock_waiting(db, offer, member, moment)
    if refused is not None:
        return refused
    case = db.get(Case, offer.case_id)
    assert case is not None  # a foreign key  # noqa: S101
    return _decided(db, case, offer, member, moment, OfferStatus.DECLINED, note.strip())


# A supervisor's decision: the case event and the audit action it is recorded as.
DECISIONS = {
    OfferStatus.READY: ("offer_approved", "offer.approve"),
    OfferStatus.DECLINED: ("offer_declined", "offer.decline"),
}


def _decided(
    db: Session,
    case: Case,
    offer: Offer,
    member: StaffMember,
    moment: datetime,
    status: OfferStatus,
    note: str | None,
) -> Decided:
    """Record a supervisor's decision on an offer (its event and audit entry). Commits."""
    event, action = DECISIONS[status]
    offer.status = status
    offer.decided_by = member.email
    offer.decided_at = moment
    offer.decision_note = note
    _event(db, case, event, moment, offer, member)
    trail.record(
        db,
        member,
        action,
        moment,
        case_id=case.id,
        offer_id=offer.id,
        maker=offer.created_by,
        note=offer.decision_note,
    )
    db.commit()
    return Decided(offer)


def may_withdraw(offer: Offer, member: StaffMember) -> bool:
    """Its maker or any supervisor may withdraw an offer."""
    return offer.created_by == member.email or SUPERVISOR in member.role_set


def withdraw(db: Session, offer: Offer, member: StaffMember, moment: datetime) -> Decided:
    """Withdraw an offer that is still open (ready or waiting): it can no longer be
    approved, sent or accepted (a link already sent then shows the borrower their own
    options instead). Only its maker or a supervisor may. Records ``offer_withdrawn``
    and ``offer.withdraw``. Commits."""
    if not may_withdraw(offer, member):
        return Decided(offer, Refusal.NOT_ALLOWED)
    lock_row(db, Offer, offer.id)
    db.refresh(offer)
    if offer.status not in OPEN_OFFER_STATUSES:
        db.rollback()
        return Decided(offer, Refusal.NOT_WAITING)
    case = db.get(Case, offer.case_id)
    assert case is not None  # a foreign key  # noqa: S101
    was = offer.status
    offer.status = OfferStatus.WITHDRAWN
    _event(db, case, "offer_withdrawn", moment, offer, member)
    trail.record(db, member, "offer.withdraw", moment, case_id=case.id, offer_id=offer.id, was=was)
    db.commit()
    return Decided(offer)


def _lock_waiting(
    db: Session, offer: Offer, member: StaffMember, moment: datetime
) -> Decided | None:
    """Lock the offer and check a supervisor may decide it now; the refusal if not.
    Two supervisors deciding at once are serialised here: the second finds it decided."""
    if SUPERVISOR not in member.role_set:
        return Decided(offer, Refusal.NOT_ALLOWED)
    lock_row(db, Offer, offer.id)
    db.refresh(offer)
    refusal = None
    if offer.status != OfferStatus.NEEDS_APPROVAL:
        refusal = Refusal.NOT_WAITING
    elif offer.expires_at <= moment:
        refusal = Refusal.EXPIRED
    elif offer.created_by == member.email:
        refusal = Refusal.OWN_OFFER
    if refusal is not None:
        db.rollback()
        return Decided(offer, refusal)
    return None


def _event(
    db: Session,
    case: Case,
    kind: str,
    moment: datetime,
    offer: Offer,
    member: StaffMember,
    **details: Any,
) -> None:
    event = record_event(db, case, kind, "agent", offer_id=offer.id, by=member.email, **details)
    event.at = moment
