"""The staff's actions on a case's legal track, each audited and committed once.

- ``refer``: an agent refers an eligible case (``negotiation.legal.eligibility``);
- ``approve`` / ``refuse``: a supervisor other than the referring agent decides;
- ``send_final_notice``: the letter (through the contact gate, recorded as a posted
  message) and an email, else an SMS (``portal.messaging``: the gate, the borrower's
  language), with the deadline the policy gives; the first commit records the letter and
  the track, ``send_message`` commits the electronic one;
- ``record_milestone``: the next step of the market's path, dated, with its costs (each
  added to what the borrower owes only where the policy says the law allows it) and
  documents;
- ``stop`` / ``close``: a person ends the track.

Each raises ``LegalError`` with a code the console words; nothing is written then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from negotiation.contact import Channel
from negotiation.legal import (
    Ineligibility,
    LegalCost,
    LegalMilestone,
    LegalRules,
    MilestoneRefusal,
    cost_allowed,
    eligibility,
    milestone_refusals,
    notice_deadline,
)
from portal.audit import trail
from portal.cases.facts import policy, record_event, view_case
from portal.cases.overdue import borrower_today
from portal.contact.gate import judge, record_attempt
from portal.core.i18n import market_of
from portal.legal.hooks import live_track
from portal.legal.queries import reached_steps
from portal.letters.content import letter_locale, postal_lines
from portal.messaging.purposes import LEGAL_NOTICE
from portal.messaging.service import address_for, send_message
from portal.models import (
    Case,
    CaseStatus,
    LegalCostEntry,
    LegalDocument,
    LegalDocumentKind,
    LegalStep,
    LegalTrack,
    LegalTrackStatus,
    LoanCharge,
    Message,
    MessageStatus,
    StaffMember,
    TrackEnd,
)

# The purpose of the final notice's messages (``Message.purpose``; its words are
# ``portal.messaging.purposes``).
FINAL_NOTICE = LEGAL_NOTICE
# A legal cost added to what the borrower owes is a loan charge of kind "fee" with this
# description prefix and the cost's kind (``portal.wording.cases.CHARGE_DESCRIPTIONS``).
CHARGE_PREFIX = "legal_"


class LegalError(Exception):
    """Why an action on the legal track was refused; ``code`` is worded by the console,
    ``reasons`` the rule's own (eligibility or milestone refusals)."""

    def __init__(self, code: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.reasons = reasons


@dataclass(frozen=True)
class CostLine:
    """A cost to record with a milestone; ``charge``: add it to what the borrower owes."""

    kind: LegalCost
    amount: int
    charge: bool


@dataclass(frozen=True)
class DocumentLine:
    """A document to keep with a milestone, by kind and name."""

    kind: LegalDocumentKind
    name: str


def rules() -> LegalRules:
    """The legal rules of the policy in force."""
    found = policy().legal
    if found is None:  # only a hand-built policy lacks them
        raise LegalError("no_rules")
    return found


def referral_problems(db: Session, case: Case, today: date) -> tuple[Ineligibility, ...]:
    """Why ``case`` may not be referred on ``today``; empty when it may."""
    view = view_case(db, case, today)
    return eligibility(
        rules(),
        days_past_due=view.snapshot.days_past_due,
        overdue=view.snapshot.arrears.total,
        currency=case.loan.currency,
        market=market_of(case.loan.currency),
        on_hold=case.hold is not None,
        plan_active=view.plan is not None,
    )


def _today(case: Case, moment: datetime) -> date:
    return borrower_today(case.loan.borrower.timezone, moment)


def refer(db: Session, case: Case, member: StaffMember, moment: datetime, note: str) -> LegalTrack:
    """An agent refers ``case`` for legal action, for a supervisor to approve."""
    if live_track(db, case.id) is not None:
        raise LegalError("already_live")
    problems = referral_problems(db, case, _today(case, moment))
    if problems:
        trail.record(
            db, member, "legal.refuse_referral", moment, case_id=case.id, reasons=list(problems)
        )
        db.commit()
        raise LegalError("not_eligible", tuple(problems))
    track = LegalTrack(
        case_id=case.id,
        market=market_of(case.loan.currency),
        status=LegalTrackStatus.REFERRED,
        referred_by_id=member.id,
        referred_at=moment,
        referral_note=note.strip(),
    )
    db.add(track)
    db.flush()
    record_event(db, case, "legal_referred", "agent", at=moment, by=member.email, track_id=track.id)
    trail.record(db, member, "legal.refer", moment, case_id=case.id, track_id=track.id)
    db.commit()
    return track


def _track(db: Session, case: Case, *statuses: LegalTrackStatus) -> LegalTrack:
    track = live_track(db, case.id)
    if track is None:
        raise LegalError("no_track")
    if statuses and track.status not in statuses:
        raise LegalError("wrong_state")
    return track


def approve(db: Session, case: Case, member: StaffMember, moment: datetime) -> LegalTrack:
    """A supervisor other than the referring agent approves the referral (maker-checker)."""
    track = _track(db, case, LegalTrackStatus.REFERRED)
    if "supervisor" not in member.role_set:
        raise LegalError("not_supervisor")
    if track.referred_by_id == member.id:
        raise LegalError("same_person")
    _not_on_hold(case)
    track.status = LegalTrackStatus.APPROVED
    track.approved_by_id, track.approved_at = member.id, moment
    record_event(db, case, "legal_approved", "agent", at=moment, by=member.email, track_id=track.id)
    trail.record(db, member, "legal.approve", moment, case_id=case.id, track_id=track.id)
    db.commit()
    return track


def _not_on_hold(case: Case) -> None:
    """A dispute or a hardship hold: nothing escalates while it lasts, so no approval,
    no step and no cost charged (the gate already keeps the final notice back)."""
    if case.hold is not None:
        raise LegalError("on_hold")


def _end(
    db: Session,
    case: Case,
    track: LegalTrack,
    member: StaffMember,
    moment: datetime,
    status: LegalTrackStatus,
    end: TrackEnd,
    note: str,
    action: str,
) -> LegalTrack:
    track.status, track.end = status, end
    track.ended_at, track.ended_by, track.end_note = moment, member.email, note.strip()
    record_event(
        db,
        case,
        f"legal_{status.value}",
        "agent",
        at=moment,
        by=member.email,
        track_id=track.id,
        end=end,
    )
    trail.record(db, member, action, moment, case_id=case.id, track_id=track.id, end=end)
    db.commit()
    return track


def refuse(db: Session, case: Case, member: StaffMember, moment: datetime, note: str) -> LegalTrack:
    """A supervisor other than the referring agent refuses the referral, saying why."""
    track = _track(db, case, LegalTrackStatus.REFERRED)
    if "supervisor" not in member.role_set:
        raise LegalError("not_supervisor")
    if track.referred_by_id == member.id:
        raise LegalError("same_person")
    if not note.strip():
        raise LegalError("note_required")
    return _end(
        db,
        case,
        track,
        member,
        moment,
        LegalTrackStatus.STOPPED,
        TrackEnd.REFUSED,
        note,
        "legal.refuse",
    )


def stop(db: Session, case: Case, member: StaffMember, moment: datetime, note: str) -> LegalTrack:
    """A person stops the live track, saying why."""
    track = _track(db, case)
    if not note.strip():
        raise LegalError("note_required")
    return _end(
        db,
        case,
        track,
        member,
        moment,
        LegalTrackStatus.STOPPED,
        TrackEnd.STAFF,
        note,
        "legal.stop",
    )


def close(db: Session, case: Case, member: StaffMember, moment: datetime, note: str) -> LegalTrack:
    """A supervisor closes a track that has done its work: the debt is paid or the path
    reached its end."""
    track = _track(db, case, LegalTrackStatus.ACTIVE, LegalTrackStatus.PAUSED)
    if "supervisor" not in member.role_set:
        raise LegalError("not_supervisor")
    done = TrackEnd.PAID if case.status == CaseStatus.RESOLVED else TrackEnd.COMPLETED
    return _end(db, case, track, member, moment, LegalTrackStatus.CLOSED, done, note, "legal.close")


def _notice_body(case: Case, deadline: date, locale: str) -> str:
    """The stored copy of the posted final notice (the printable PDF is made from the
    case by ``portal.letters.legal``); words in the borrower's language."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from portal.core.i18n import long_date

    with force_locale(locale):
        return _(
            "Final notice before legal action on loan %(number)s. Unless you pay or agree "
            "a plan by %(date)s, we may apply to the court.",
            number=case.loan.number,
            date=long_date(deadline),
        )


def send_final_notice(db: Session, case: Case, member: StaffMember, moment: datetime) -> LegalTrack:
    """Send the approved track's final notice: the letter, which the contact gate must
    allow (holds, opt-outs, blackouts), recorded as posted, and the deadline (the
    policy's days from today, the post included); then the same notice by email, else
    SMS, through the gate in the borrower's language (kept for the first allowed moment
    when refused for a while). Commits the letter and the track, then the message."""
    track = _track(db, case, LegalTrackStatus.APPROVED)
    borrower = case.loan.borrower
    if not postal_lines(borrower):
        raise LegalError("no_postal_address")
    decision = judge(db, case, Channel.LETTER, moment, lock=True)
    if not decision.allowed:
        trail.record(
            db,
            member,
            "legal.notice_refused",
            moment,
            case_id=case.id,
            reasons=[r.value for r in decision.reasons],
        )
        db.commit()
        raise LegalError("gate_refused", tuple(r.value for r in decision.reasons))
    today = _today(case, moment)
    deadline = notice_deadline(rules(), today)
    locale = letter_locale(borrower, case.loan.currency)
    letter = Message(
        case_id=case.id,
        borrower_id=borrower.id,
        channel=Channel.LETTER.value,
        purpose=FINAL_NOTICE,
        address="\n".join(postal_lines(borrower))[:254],
        locale=locale,
        subject=None,
        body=_notice_body(case, deadline, locale),
        status=MessageStatus.SENT,
        send_at=moment,
        sent_at=moment,
        provider="print",
        created_by=member.email,
        created_at=moment,
    )
    db.add(letter)
    db.flush()
    record_attempt(
        db, case, Channel.LETTER, moment, member.email, outcome="sent", message_id=letter.id
    )
    track.status = LegalTrackStatus.NOTICED
    track.notice_sent_by_id, track.notice_sent_on, track.deadline = member.id, today, deadline
    track.letter_message_id = letter.id
    db.add(
        LegalDocument(
            track_id=track.id,
            case_id=case.id,
            kind=LegalDocumentKind.FINAL_NOTICE,
            name=f"final-notice-{case.loan.number}-{today.isoformat()}.pdf",
            recorded_by_id=member.id,
            recorded_at=moment,
        )
    )
    record_event(
        db,
        case,
        "legal_noticed",
        "agent",
        by=member.email,
        at=moment,
        track_id=track.id,
        deadline=deadline.isoformat(),
    )
    trail.record(
        db,
        member,
        "legal.notice",
        moment,
        case_id=case.id,
        track_id=track.id,
        message_id=letter.id,
        deadline=deadline.isoformat(),
    )
    db.commit()
    channel = Channel.EMAIL if address_for(borrower, Channel.EMAIL) else Channel.SMS
    sent = send_message(
        db, case, channel, actor=member, moment=moment, schedule=True, purpose=FINAL_NOTICE
    )
    if sent.message_id is not None:
        track.notice_message_id = sent.message_id
        db.commit()
    return track


def record_milestone(
    db: Session,
    case: Case,
    member: StaffMember,
    moment: datetime,
    milestone: LegalMilestone,
    reached_on: date,
    note: str,
    costs: tuple[CostLine, ...] = (),
    documents: tuple[DocumentLine, ...] = (),
) -> LegalStep:
    """Record the next milestone of the market's path, dated ``reached_on``, with its
    costs and documents. A cost is added to what the borrower owes (a loan charge dated
    the milestone's day) only where the policy says the market's law allows it; asking
    to charge one it does not allow refuses the whole step."""
    track = _track(db, case, LegalTrackStatus.NOTICED, LegalTrackStatus.ACTIVE)
    _not_on_hold(case)
    legal = rules()
    today = _today(case, moment)
    assert track.deadline is not None  # noqa: S101 (a noticed track has its deadline)
    reached = reached_steps(db, track.id)
    refusals: tuple[MilestoneRefusal, ...] = milestone_refusals(
        legal,
        track.market,
        [(step.milestone, step.reached_on) for step in reached],
        track.deadline,
        milestone,
        reached_on,
        today,
    )
    if refusals:
        raise LegalError("milestone_refused", tuple(refusals))
    if any(line.amount <= 0 for line in costs):
        raise LegalError("amount_invalid")
    if any(line.charge and not cost_allowed(legal, track.market, line.kind) for line in costs):
        trail.record(
            db,
            member,
            "legal.cost_refused",
            moment,
            case_id=case.id,
            track_id=track.id,
            kinds=[line.kind.value for line in costs if line.charge],
        )
        db.commit()
        raise LegalError("cost_not_allowed")
    track.status = LegalTrackStatus.ACTIVE
    step = LegalStep(
        track_id=track.id,
        case_id=case.id,
        milestone=milestone,
        reached_on=reached_on,
        recorded_by_id=member.id,
        recorded_at=moment,
        note=note.strip(),
    )
    db.add(step)
    db.flush()
    for line in costs:
        charge = None
        if line.charge:
            charge = LoanCharge(
                loan_id=case.loan.id,
                kind="fee",
                description=f"{CHARGE_PREFIX}{line.kind.value}",
                amount=line.amount,
                charged_on=reached_on,
            )
            case.loan.charges.append(charge)
            db.flush()
        db.add(
            LegalCostEntry(
                track_id=track.id,
                case_id=case.id,
                step_id=step.id,
                kind=line.kind,
                amount=line.amount,
                currency=case.loan.currency,
                incurred_on=reached_on,
                charge_id=charge.id if charge else None,
                recorded_by_id=member.id,
                recorded_at=moment,
            )
        )
    for document in documents:
        db.add(
            LegalDocument(
                track_id=track.id,
                case_id=case.id,
                step_id=step.id,
                kind=document.kind,
                name=document.name.strip()[:200],
                recorded_by_id=member.id,
                recorded_at=moment,
            )
        )
    record_event(
        db,
        case,
        "legal_milestone",
        "agent",
        by=member.email,
        at=moment,
        track_id=track.id,
        milestone=milestone.value,
        reached_on=reached_on.isoformat(),
    )
    trail.record(
        db,
        member,
        "legal.milestone",
        moment,
        case_id=case.id,
        track_id=track.id,
        milestone=milestone.value,
        reached_on=reached_on.isoformat(),
        costs=[[line.kind.value, line.amount, line.charge] for line in costs],
        documents=[document.kind.value for document in documents],
    )
    db.commit()
    return step
