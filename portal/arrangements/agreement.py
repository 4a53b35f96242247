"""Choosing, reviewing and accepting a plan: the engine decides, this module records.

Amounts never come from the browser: a choice is a kind and its parameters, and the
schedule is recomputed from the case on every step. What the borrower accepted is
recorded with a hash of exactly what they were shown.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from negotiation import (
    Authority,
    Frequency,
    LoanSnapshot,
    PlanKind,
    PlanRequest,
    Proposal,
    Rejection,
    Statement,
    Terms,
    evaluate_request,
    judge_offer,
)
from negotiation import Plan as Schedule
from portal.cases.facts import live_plan, policy, policy_version, record_event, snapshot_of
from portal.cases.holds import end_for_plan
from portal.legal import hooks as legal_hooks
from portal.models import (
    Case,
    Consent,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
)
from portal.payments.service import void_open_payments

TERMS_VERSION = "2026-11"


@dataclass(frozen=True)
class Choice:
    """What the borrower picked: a kind and its parameters, or an agent's offer."""

    kind: PlanKind
    installments: int = 1
    frequency: Frequency = Frequency.MONTHLY
    first_due_date: date | None = None
    down_payment: int | None = None
    offer_id: int | None = None


@dataclass(frozen=True)
class Worked:
    """A choice worked out: the schedule, or the reasons it is refused."""

    schedule: Schedule | None
    rejections: tuple[Rejection, ...]
    conditional_waiver: bool = False
    affordable: bool | None = None

    @property
    def allowed(self) -> bool:
        """True when the borrower may accept it."""
        return self.schedule is not None and not self.rejections


def work_out(
    db: Session,
    case: Case,
    today: date,
    choice: Choice,
    statement: Statement | None = None,
    *,
    snapshot: LoanSnapshot | None = None,
) -> Worked:
    """The schedule a choice means today, judged by the engine. ``snapshot``, when the
    caller has built the case's for ``today`` already, saves building it again."""
    if choice.offer_id is not None:
        return _work_out_offer(db, case, today, choice.offer_id, statement)
    snapshot = snapshot or snapshot_of(db, case, today)
    request = PlanRequest(
        kind=choice.kind,
        first_due_date=choice.first_due_date or today,
        installments=choice.installments,
        frequency=choice.frequency,
        down_payment=choice.down_payment,
    )
    decision = evaluate_request(snapshot, policy(), today, request, statement)
    if decision.proposal is None:
        return Worked(decision.plan, decision.rejections)
    return _worked(decision.proposal)


def _worked(proposal: Proposal) -> Worked:
    return Worked(proposal.plan, (), proposal.conditional_waiver, proposal.affordable)


def usable_offer(db: Session, case: Case, offer_id: int, now: datetime) -> Offer | None:
    """The case's own offer, if it is ready and has not expired."""
    offer = db.get(Offer, offer_id)
    if offer is None or offer.case_id != case.id or offer.status != OfferStatus.READY:
        return None
    return offer if offer.expires_at > now else None


def offer_reached(db: Session, case: Case, offer_id: int, link_offer_id: int | None) -> bool:
    """Whether the offer reached this borrower: the link their session came in on carries
    it (``link_offer_id``), or a message sent to them did. An offer that was made but
    never sent is the lender's draft, however its number is guessed."""
    if link_offer_id is not None and link_offer_id == offer_id:
        return True
    sent = select(Message.id).where(
        Message.case_id == case.id,
        Message.offer_id == offer_id,
        Message.status == MessageStatus.SENT,
    )
    return db.scalar(sent.limit(1)) is not None


def borrowers_offer(
    db: Session, case: Case, offer_id: int, now: datetime, link_offer_id: int | None
) -> Offer | None:
    """The offer, when this borrower may take it up: usable (``usable_offer``) and one
    that reached them (``offer_reached``)."""
    offer = usable_offer(db, case, offer_id, now)
    if offer is None or not offer_reached(db, case, offer_id, link_offer_id):
        return None
    return offer


def offer_terms(offer: Offer) -> Terms:
    """An offer's stored terms as the engine's ``Terms``."""
    raw = offer.terms
    return Terms(
        kind=PlanKind(raw["kind"]),
        first_due_date=date.fromisoformat(raw["first_due_date"]),
        installments=int(raw.get("installments", 1)),
        frequency=Frequency(raw.get("frequency", "monthly")),
        down_payment=raw.get("down_payment"),
        penalty_waiver_pct=Decimal(raw.get("penalty_waiver_pct", "0")),
        fee_waiver_pct=Decimal(raw.get("fee_waiver_pct", "0")),
        settlement_discount_pct=Decimal(raw.get("settlement_discount_pct", "0")),
        interest_rate_pct=Decimal(raw.get("interest_rate_pct", "0")),
    )


def _work_out_offer(
    db: Session, case: Case, today: date, offer_id: int, statement: Statement | None
) -> Worked:
    offer = db.get(Offer, offer_id)
    if offer is None or offer.case_id != case.id:
        return Worked(None, ())
    snapshot = snapshot_of(db, case, today)
    terms = offer_terms(offer)
    # An offer is opened days after it was made: a first date already past moves to today.
    terms = replace(terms, first_due_date=max(terms.first_due_date, today))
    judgement = judge_offer(snapshot, policy(), today, terms, statement)
    if judgement.authority is Authority.OUTSIDE_POLICY or judgement.plan is None:
        return Worked(judgement.plan, judgement.reasons or (), affordable=judgement.affordable)
    rules = policy().rules_for(policy().stage_for(snapshot.days_past_due))
    conditional = bool(
        rules and rules.conditional_waivers and judgement.plan.waiver.total > 0
    ) and judgement.plan.kind not in (PlanKind.PAY_IN_FULL, PlanKind.SETTLEMENT)
    return Worked(judgement.plan, (), conditional, judgement.affordable)


def shown_hash(schedule: Schedule, conditional_waiver: bool, locale: str) -> str:
    """A hash of everything the review page shows about a plan, in canonical JSON."""
    shown = {
        "terms_version": TERMS_VERSION,
        "locale": locale,
        "kind": schedule.kind.value,
        "frequency": schedule.frequency.value,
        "installments": [[i.due_date.isoformat(), i.amount] for i in schedule.installments],
        "total": schedule.total,
        "waived": [schedule.waiver.penalties, schedule.waiver.fees, schedule.waiver.discount],
        "interest": schedule.interest,
        "rate": str(schedule.interest_rate_pct),
        "conditional_waiver": conditional_waiver,
    }
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Refusal(StrEnum):
    """Why an acceptance did not create a plan."""

    NOT_ALLOWED = "not_allowed"
    TERMS_CHANGED = "terms_changed"
    NO_CONSENT = "no_consent"


@dataclass(frozen=True)
class ConsentRecord:
    """Who accepted, from where, having seen what."""

    ip_address: str
    user_agent: str
    locale: str
    shown: str


@dataclass(frozen=True)
class Accepted:
    """The outcome of an acceptance: the case's live plan, or why there is none."""

    plan: Plan | None
    refusal: Refusal | None = None
    created: bool = False


def accept(
    db: Session,
    case: Case,
    now: datetime,
    today: date,
    choice: Choice,
    consent: ConsentRecord,
    statement: Statement | None = None,
    *,
    link_offer_id: int | None = None,
) -> Accepted:
    """Record the borrower's acceptance of a choice, once. An offer is accepted only
    while usable and only when it reached the borrower (``borrowers_offer``: the link of
    their session, ``link_offer_id``, or a message sent to them carried it).

    A second submit, or a concurrent one, finds the plan the first created: the unique
    index on live plans per case decides the race. Commits.
    """
    existing = live_plan(db, case)
    if existing is not None:
        return Accepted(existing)
    if choice.offer_id is not None and (
        borrowers_offer(db, case, choice.offer_id, now, link_offer_id) is None
    ):
        return Accepted(None, Refusal.NOT_ALLOWED)
    worked = work_out(db, case, today, choice, statement)
    if not worked.allowed or worked.schedule is None:
        return Accepted(None, Refusal.NOT_ALLOWED)
    if shown_hash(worked.schedule, worked.conditional_waiver, consent.locale) != consent.shown:
        return Accepted(None, Refusal.TERMS_CHANGED)
    # A part payment still open from before the plan must not be paid beside it, and a
    # hardship's breathing space ends early once the borrower agrees a plan. (Both done
    # before the plan is added: their queries would flush the plan outside the race
    # guard; a lost race rolls them back with it.)
    void_open_payments(db, case_id=case.id, plan_id=None, now=now)
    end_for_plan(db, case, now)
    # A plan before the final notice's deadline stops the legal track; after it, the
    # track pauses while the plan lives (issue 19).
    legal_hooks.on_plan(db, case, today, now)
    offer = db.get(Offer, choice.offer_id) if choice.offer_id is not None else None
    if offer is not None:
        offer.status = OfferStatus.ACCEPTED
    plan = _plan_row(case, worked, choice, now)
    db.add(plan)
    db.add(
        Consent(
            plan=plan,
            at=now,
            ip_address=consent.ip_address[:64],
            user_agent=consent.user_agent[:512],
            locale=consent.locale,
            terms_version=TERMS_VERSION,
            shown_hash=consent.shown,
        )
    )
    record_event(
        db,
        case,
        "plan_accepted",
        "borrower",
        plan_kind=plan.kind,
        total=plan.total,
        policy_version=plan.policy_version,
    )
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        winner = live_plan(db, case)
        return Accepted(winner, None if winner else Refusal.NOT_ALLOWED)
    return Accepted(plan, created=True)


def _plan_row(case: Case, worked: Worked, choice: Choice, now: datetime) -> Plan:
    schedule = worked.schedule
    assert schedule is not None  # checked by the caller  # noqa: S101
    plan = Plan(
        case_id=case.id,
        offer_id=choice.offer_id,
        status=PlanStatus.PENDING,
        kind=schedule.kind.value,
        frequency=schedule.frequency.value if len(schedule.installments) > 1 else None,
        currency=case.loan.currency,
        restructured=schedule.restructured,
        total=schedule.total,
        waived_penalties=schedule.waiver.penalties,
        waived_fees=schedule.waiver.fees,
        discount=schedule.waiver.discount,
        interest=schedule.interest,
        interest_rate_pct=schedule.interest_rate_pct,
        conditional_waiver=worked.conditional_waiver,
        accepted_at=now,
        policy_version=policy_version(),
    )
    plan.installments = [
        PlanInstallment(sequence=number, due_date=item.due_date, amount=item.amount)
        for number, item in enumerate(schedule.installments, start=1)
    ]
    return plan


def cancel_pending(db: Session, case: Case, now: datetime) -> bool:
    """Withdraw an accepted plan whose first installment is not paid yet. Commits."""
    plan = db.scalars(
        select(Plan).where(Plan.case_id == case.id, Plan.status == PlanStatus.PENDING)
    ).first()
    if plan is None:
        return False
    # Conditional, so a first payment that lands at the same moment wins: an activated
    # plan is never withdrawn.
    withdrawn = db.execute(
        update(Plan)
        .where(Plan.id == plan.id, Plan.status == PlanStatus.PENDING)
        .values(status=PlanStatus.CANCELLED)
        .returning(Plan.id)
    ).first()
    if withdrawn is None:
        db.rollback()
        return False
    void_open_payments(db, case_id=case.id, plan_id=plan.id, now=now)
    if plan.offer_id is not None:
        offer = db.get(Offer, plan.offer_id)
        if offer is not None and offer.status == OfferStatus.ACCEPTED:
            offer.status = OfferStatus.READY  # the offer may still be taken up, until it expires
    record_event(db, case, "plan_withdrawn", "borrower", plan_id=plan.id)
    db.commit()
    return True
