"""The home visit's steps, each a service that commits once at its end (the notice: the
messaging service's own commit, then the visit's).

1. ``propose``: an agent, when ``negotiation.visits.visit_bars`` finds nothing in the way.
2. ``approve``: a supervisor who is not the proposer; then ``send_notice``.
3. ``send_notice``: the written notice (``portal.messaging.purposes.VISIT_NOTICE``) in
   the borrower's language, through the contact gate (hours, caps, holds, opt-outs), by
   email when they have one, else a discreet SMS; its date range starts ``notice_days``
   after the day it goes. A visit the borrower asked for needs none.
4. ``schedule``: a moment inside the date range and the visiting hours of the borrower's
   zone (``negotiation.visits.visit_refusals``), and two distinct active field staff,
   each with the number of the identification they carry.
5. ``record``: by one of the two visitors: met or nobody home, what was said, a promise
   (``portal.contact.promises``) or a plan offer within an agent's authority
   (``portal.arrangements.offers``), photos of the notice left at the door, and the
   place only with the visitor's consent.

A hold placed on the case cancels its open visit (``portal.cases.holds.hold_case``), and
no step goes on while one stands.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from negotiation import Frequency, PlanKind, Terms
from negotiation.contact import Channel
from negotiation.money import Currency
from negotiation.visits import (
    VisitBar,
    VisitCase,
    VisitRefusal,
    VisitWindow,
    visit_bars,
    visit_hours,
    visit_refusals,
    visit_window,
)
from portal.arrangements import offers
from portal.audit import trail
from portal.cases.evidence import kind_of
from portal.cases.facts import live_plan, policy, record_event, snapshot_of
from portal.cases.overdue import borrower_today
from portal.contact.gate import borrower_rules, narrowed_rules
from portal.contact.promises import make_promise, promise_limits, promise_problems
from portal.core.db import by_id, lock_row
from portal.messaging.purposes import VISIT_NOTICE
from portal.messaging.service import Outcome, SendResult, address_for, send_message
from portal.models import (
    OPEN_VISIT_STATUSES,
    Case,
    EvidenceType,
    HomeVisit,
    PlanStatus,
    StaffMember,
    VisitPhoto,
    VisitStatus,
)

FIELD = "field"
SUPERVISOR = "supervisor"
# Photos of the notice left at the door: JPEG or PNG (never a PDF), a few per visit.
PHOTO_TYPES = (EvidenceType.JPEG, EvidenceType.PNG)
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 3
MAX_SAID = 4000
MAX_CARD = 32


class VisitError(Exception):
    """Why a step was refused: ``code`` (a key of the web layer's words), and the
    engine's bars or refusals when they are the reason."""

    def __init__(
        self,
        code: str,
        bars: tuple[VisitBar, ...] = (),
        refusals: tuple[VisitRefusal, ...] = (),
    ) -> None:
        super().__init__(code)
        self.code = code
        self.bars = bars
        self.refusals = refusals


def _today(case: Case, moment: datetime) -> date:
    return borrower_today(case.loan.borrower.timezone, moment)


def open_visit(db: Session, case: Case) -> HomeVisit | None:
    """The case's open visit (proposed to scheduled), if it has one."""
    return db.scalars(
        select(HomeVisit)
        .where(HomeVisit.case_id == case.id, HomeVisit.status.in_(OPEN_VISIT_STATUSES))
        .limit(1)
    ).first()


def case_visits(db: Session, case: Case) -> list[HomeVisit]:
    """Every visit of the case, newest first."""
    return list(
        db.scalars(
            select(HomeVisit).where(HomeVisit.case_id == case.id).order_by(HomeVisit.id.desc())
        )
    )


def visit_case(db: Session, case: Case, moment: datetime) -> VisitCase:
    """What the engine needs to know of ``case`` to judge a visit at ``moment``."""
    snapshot = snapshot_of(db, case, _today(case, moment))
    plan = live_plan(db, case)
    return VisitCase(
        stage=policy().stage_for(snapshot.days_past_due),
        days_past_due=snapshot.days_past_due,
        overdue=snapshot.arrears.total,
        currency=Currency(case.loan.currency),
        on_hold=case.hold is not None,
        arranged=plan is not None and plan.status == PlanStatus.ACTIVE,
        visit_open=open_visit(db, case) is not None,
    )


def bars(db: Session, case: Case, moment: datetime) -> tuple[VisitBar, ...]:
    """Every reason a visit may not be proposed on ``case`` now (none: it may)."""
    return visit_bars(policy().visits, visit_case(db, case, moment))


def propose(
    db: Session, case: Case, member: StaffMember, reason: str, agreed: bool, moment: datetime
) -> HomeVisit:
    """An agent proposes a visit, saying why (``agreed``: the borrower asked for one, so
    no notice is owed). Raises ``VisitError('barred')`` with the engine's bars. Commits."""
    lock_row(db, Case, case.id)
    db.refresh(case)
    found = bars(db, case, moment)
    if found:
        raise VisitError("barred", bars=found)
    visit = HomeVisit(
        case_id=case.id,
        status=VisitStatus.PROPOSED,
        agreed=agreed,
        reason=reason.strip()[:2000],
        proposed_by_id=member.id,
        proposed_at=moment,
        gps_consent=False,
    )
    db.add(visit)
    db.flush()
    details = {"visit_id": visit.id, "agreed": agreed}
    record_event(db, case, "visit_proposed", "agent", at=moment, by=member.email, **details)
    trail.record(db, member, "visit.propose", moment, case_id=case.id, **details)
    db.commit()
    return visit


def _must_be(visit: HomeVisit, *statuses: VisitStatus) -> None:
    if visit.status not in statuses:
        raise VisitError("wrong_status")


def _not_on_hold(case: Case) -> None:
    if case.hold is not None:
        raise VisitError("on_hold", refusals=(VisitRefusal.ON_HOLD,))


def approve(
    db: Session, case: Case, visit: HomeVisit, member: StaffMember, moment: datetime
) -> HomeVisit:
    """A supervisor other than the proposer approves the visit (commits), and the written
    notice goes out unless the borrower asked for the visit (``send_notice``)."""
    if SUPERVISOR not in member.role_set:
        raise VisitError("not_supervisor")
    if member.id == visit.proposed_by_id:
        raise VisitError("same_person")
    lock_row(db, Case, case.id)
    db.refresh(case)
    _must_be(visit, VisitStatus.PROPOSED)
    _not_on_hold(case)
    # A borrower who paid or chose a plan since the proposal avoided the visit, as the
    # notice would have promised: it is cancelled, never approved nor noticed.
    _cancel_avoided(db, case, visit, moment)
    visit.status = VisitStatus.APPROVED
    visit.approved_by_id = member.id
    visit.approved_at = moment
    if visit.agreed:
        window = visit_window(
            policy().visits, borrower_rules(case.loan.borrower, case.loan.currency),
            _today(case, moment), agreed=True,
        )  # fmt: skip
        visit.window_first, visit.window_last = window.first, window.last
    details = {"visit_id": visit.id}
    record_event(db, case, "visit_approved", "agent", at=moment, by=member.email, **details)
    trail.record(db, member, "visit.approve", moment, case_id=case.id, **details)
    db.commit()
    if not visit.agreed:
        send_notice(db, case, visit, member, moment)
    return visit


def send_notice(
    db: Session, case: Case, visit: HomeVisit, member: StaffMember, moment: datetime
) -> SendResult:
    """Send the visit's written notice now, or keep it for the contact rules' first
    allowed moment; the date range starts ``notice_days`` after the day it goes (its
    words are written when it goes, from the range stored here). The visit is noticed
    once the message is sent or kept; refused (no address, an opt-out, a hold), it stays
    approved for the notice to be sent again. Commits (the message's own commit, then
    the visit's)."""
    _must_be(visit, VisitStatus.APPROVED)
    if visit.agreed:
        raise VisitError("no_notice_needed")
    _not_on_hold(case)
    _cancel_avoided(db, case, visit, moment)
    borrower = case.loan.borrower
    channel = Channel.EMAIL if address_for(borrower, Channel.EMAIL) else Channel.SMS
    rules = borrower_rules(borrower, case.loan.currency)
    window = visit_window(policy().visits, rules, _today(case, moment))
    visit.window_first, visit.window_last = window.first, window.last
    db.flush()
    result = send_message(
        db, case, channel, actor=member, moment=moment, schedule=True, purpose=VISIT_NOTICE
    )
    visit = db.get(HomeVisit, visit.id) or visit
    if result.outcome in (Outcome.SENT, Outcome.SCHEDULED):
        going = moment
        if result.outcome is Outcome.SCHEDULED and result.decision is not None:
            going = result.decision.allowed_from or moment
        later = visit_window(policy().visits, rules, _today(case, going))
        visit.window_first, visit.window_last = later.first, later.last
        visit.status = VisitStatus.NOTICED
        visit.notice_message_id = result.message_id
        visit.noticed_at = going
        details = {
            "visit_id": visit.id,
            "message_id": result.message_id,
            "first": later.first.isoformat(),
            "last": later.last.isoformat(),
        }
        record_event(db, case, "visit_noticed", "agent", at=moment, by=member.email, **details)
        trail.record(db, member, "visit.notice", moment, case_id=case.id, **details)
    else:
        visit.window_first = visit.window_last = None
    db.commit()
    return result


def window_of(db: Session, case: Case, visit: HomeVisit) -> VisitWindow | None:
    """The visit's date range with the hours of each day and the days a blackout or
    holiday closes, by the rules of where the borrower lives; None before a range is
    set."""
    if visit.window_first is None or visit.window_last is None:
        return None
    rules = narrowed_rules(db, case.loan.borrower, case.loan.currency)
    start, end = visit_hours(policy().visits, rules)
    days = (visit.window_last - visit.window_first).days + 1
    closed = tuple(
        day
        for day in (visit.window_first + timedelta(days=n) for n in range(days))
        if rules.blacked_out(day)
    )
    return VisitWindow(visit.window_first, visit.window_last, start, end, closed)


def avoided(db: Session, case: Case, moment: datetime) -> str | None:
    """Why the visit is no longer wanted, as the notice promised: ``plan`` (the borrower
    keeps a plan) or ``paid`` (nothing is overdue any more); None while it stands."""
    now = visit_case(db, case, moment)
    if now.arranged:
        return "plan"
    if now.overdue <= 0:
        return "paid"
    return None


def _cancel_avoided(db: Session, case: Case, visit: HomeVisit, moment: datetime) -> None:
    """Cancel ``visit`` when the borrower avoided it (paid, or chose a plan), commit, and
    refuse the step asked for with ``VisitError('avoided')``."""
    reason = avoided(db, case, moment)
    if reason is None:
        return
    visit.status = VisitStatus.CANCELLED
    visit.cancelled_at = moment
    visit.cancelled_by = "system"
    visit.cancel_reason = reason
    details = {"visit_id": visit.id, "reason": reason}
    record_event(db, case, "visit_cancelled", "system", at=moment, **details)
    trail.record(db, "system", "visit.cancel", moment, case_id=case.id, **details)
    db.commit()
    raise VisitError("avoided")


def field_staff(db: Session) -> list[StaffMember]:
    """The active staff of the field role, who may be named visitors."""
    members = db.scalars(select(StaffMember).where(StaffMember.active).order_by(StaffMember.email))
    return [member for member in members if FIELD in member.role_set]


@dataclass(frozen=True)
class Visitor:
    """One named visitor and the number of the identification they carry."""

    member_id: int
    card: str


def schedule(
    db: Session,
    case: Case,
    visit: HomeVisit,
    member: StaffMember,
    at: datetime,
    visitors: tuple[Visitor, Visitor],
    moment: datetime,
) -> HomeVisit:
    """Set the visit for ``at`` (aware) with two distinct field staff, each with the
    number of their identification. Refused with the engine's reasons outside the date
    range, the hours of the borrower's zone, on a blackout day or while a hold runs.
    Commits."""
    lock_row(db, Case, case.id)
    db.refresh(case)
    if visit.agreed:
        _must_be(visit, VisitStatus.APPROVED, VisitStatus.SCHEDULED)
    else:
        _must_be(visit, VisitStatus.NOTICED, VisitStatus.SCHEDULED)
    _cancel_avoided(db, case, visit, moment)
    window = window_of(db, case, visit)
    if window is None:
        raise VisitError("wrong_status")
    rules = narrowed_rules(db, case.loan.borrower, case.loan.currency)
    refusals = visit_refusals(
        window, rules, at, case.loan.borrower.timezone, on_hold=case.hold is not None
    )
    if refusals:
        raise VisitError("refused", refusals=refusals)
    one, two = visitors
    cards = (one.card.strip(), two.card.strip())
    if one.member_id == two.member_id:
        raise VisitError("same_visitor")
    if not all(cards) or any(len(card) > MAX_CARD for card in cards):
        raise VisitError("card_required")
    allowed = {person.id for person in field_staff(db)}
    if one.member_id not in allowed or two.member_id not in allowed:
        raise VisitError("not_field")
    visit.status = VisitStatus.SCHEDULED
    visit.scheduled_for = at
    visit.scheduled_by_id = member.id
    visit.visitor_one_id, visit.visitor_one_card = one.member_id, cards[0]
    visit.visitor_two_id, visit.visitor_two_card = two.member_id, cards[1]
    details = {
        "visit_id": visit.id,
        "visit_at": at.isoformat(),
        "visitors": [one.member_id, two.member_id],
    }
    record_event(db, case, "visit_scheduled", "agent", at=moment, by=member.email, **details)
    trail.record(db, member, "visit.schedule", moment, case_id=case.id, **details)
    db.commit()
    return visit


def cancel(
    db: Session, case: Case, visit: HomeVisit, actor: StaffMember, reason: str, moment: datetime
) -> HomeVisit:
    """Withdraw an open visit, saying why. Commits."""
    _must_be(visit, *OPEN_VISIT_STATUSES)
    visit.status = VisitStatus.CANCELLED
    visit.cancelled_at = moment
    visit.cancelled_by = actor.email
    visit.cancel_reason = "withdrawn"
    details = {"visit_id": visit.id, "reason": "withdrawn", "note": reason.strip()[:500]}
    record_event(db, case, "visit_cancelled", "agent", at=moment, by=actor.email, **details)
    trail.record(db, actor, "visit.cancel", moment, case_id=case.id, **details)
    db.commit()
    return visit


# The field staff's own pages ----------------------------------------------------------


def case_of(db: Session, visit: HomeVisit) -> Case:
    """The visit's case (a case is never deleted, so it is always there)."""
    case = db.get(Case, visit.case_id)
    if case is None:
        raise LookupError(f"visit {visit.id}: its case {visit.case_id} is gone")
    return case


def _is_visitor(visit: HomeVisit, member: StaffMember) -> bool:
    return member.id in (visit.visitor_one_id, visit.visitor_two_id)


def moment_zero() -> datetime:
    """A moment before any visit, for sorting ones without a time."""
    return datetime.min.replace(tzinfo=UTC)


def assigned(db: Session, member: StaffMember) -> list[HomeVisit]:
    """The visits ``member`` is one of the two visitors of, scheduled ones first (the
    soonest first), then the latest recorded."""
    rows = db.scalars(
        select(HomeVisit)
        .where(
            or_(HomeVisit.visitor_one_id == member.id, HomeVisit.visitor_two_id == member.id),
            HomeVisit.status.in_(
                (VisitStatus.SCHEDULED, VisitStatus.VISITED, VisitStatus.NOBODY_HOME)
            ),
        )
        .order_by(HomeVisit.scheduled_for.desc())
        .limit(50)
    ).all()
    waiting = sorted(
        (v for v in rows if v.status is VisitStatus.SCHEDULED),
        key=lambda v: v.scheduled_for or moment_zero(),
    )
    return [*waiting, *(v for v in rows if v.status is not VisitStatus.SCHEDULED)]


def my_visits(db: Session, member: StaffMember, moment: datetime) -> list[HomeVisit]:
    """``assigned`` for the visitor's own list page, which shows the borrowers' names:
    the read is audited. Commits (``trail.record_read``)."""
    rows = assigned(db, member)
    trail.record_read(db, member, "visit.list", moment, visits=[visit.id for visit in rows])
    return rows


def assigned_visit(db: Session, member: StaffMember, visit_id: int) -> HomeVisit | None:
    """The visit ``visit_id`` when ``member`` is one of its visitors; None otherwise (an
    id no column could hold, another's visit, one not yet scheduled)."""
    visit = by_id(db, HomeVisit, visit_id)
    if visit is None or not _is_visitor(visit, member):
        return None
    if visit.status not in (VisitStatus.SCHEDULED, VisitStatus.VISITED, VisitStatus.NOBODY_HOME):
        return None
    return visit


def open_for_visitor(db: Session, visit: HomeVisit, member: StaffMember, moment: datetime) -> Case:
    """The case of the visit ``member`` opens to record it (the borrower's name and
    address are read): audited. Commits (``trail.record_read``)."""
    case = case_of(db, visit)
    trail.record_read(db, member, "visit.open", moment, case_id=case.id, visit_id=visit.id)
    return case


@dataclass(frozen=True)
class PromiseGiven:
    """A promise to pay the borrower made on the doorstep."""

    due: date
    amount: int


@dataclass(frozen=True)
class OfferGiven:
    """A plan offered on the doorstep: the overdue amount over ``installments`` monthly
    payments from ``first_due``, made through the offer rules within an agent's
    authority."""

    installments: int
    first_due: date


@dataclass(frozen=True)
class Photo:
    """One uploaded photo of the notice left at the door."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class VisitRecord:
    """What the visitor records; nothing here can say a third party was told anything."""

    met: bool
    said: str
    promise: PromiseGiven | None = None
    offer: OfferGiven | None = None
    photos: tuple[Photo, ...] = ()
    gps_consent: bool = False
    latitude: Decimal | None = None
    longitude: Decimal | None = None


def _check_photos(photos: tuple[Photo, ...]) -> list[tuple[Photo, EvidenceType]]:
    if len(photos) > MAX_PHOTOS:
        raise VisitError("too_many_photos")
    checked = []
    for photo in photos:
        if not photo.data:
            raise VisitError("photo_empty")
        if len(photo.data) > MAX_PHOTO_BYTES:
            raise VisitError("photo_too_large")
        kind = kind_of(photo.data)
        if kind is None or kind not in PHOTO_TYPES:
            raise VisitError("photo_type")
        checked.append((photo, kind))
    return checked


def _check_place(entry: VisitRecord) -> tuple[Decimal | None, Decimal | None]:
    if entry.latitude is None and entry.longitude is None:
        return None, None
    if not entry.gps_consent:
        raise VisitError("gps_without_consent")
    if entry.latitude is None or entry.longitude is None:
        raise VisitError("gps_invalid")
    if not (-90 <= entry.latitude <= 90 and -180 <= entry.longitude <= 180):
        raise VisitError("gps_invalid")
    return entry.latitude.quantize(Decimal("0.000001")), entry.longitude.quantize(
        Decimal("0.000001")
    )


def record(
    db: Session,
    visit: HomeVisit,
    member: StaffMember,
    entry: VisitRecord,
    moment: datetime,
    folder: Path,
) -> HomeVisit:
    """One of the two visitors records the visit: met or nobody home, what was said, a
    promise or a plan offer (only when the borrower was met), the photos of the notice
    left at the door, and the place only with consent. Everything is checked before
    anything is kept; the offer goes through ``offers.create_offer``, which commits the
    offer alone first (its own boundary). Commits."""
    if not _is_visitor(visit, member):
        raise VisitError("not_visitor")
    case = case_of(db, visit)
    lock_row(db, Case, case.id)
    db.refresh(case)
    _must_be(visit, VisitStatus.SCHEDULED)
    _not_on_hold(case)
    _cancel_avoided(db, case, visit, moment)
    said = entry.said.strip()
    if len(said) > MAX_SAID:
        raise VisitError("said_too_long")
    photos = _check_photos(entry.photos)
    latitude, longitude = _check_place(entry)
    if not entry.met and (entry.promise or entry.offer):
        raise VisitError("nobody_to_promise")
    if entry.promise and entry.offer:
        raise VisitError("promise_or_offer")
    if entry.promise is not None:
        limits = promise_limits(db, case, moment)
        if promise_problems(limits, entry.promise.due, entry.promise.amount):
            raise VisitError("promise_out_of_bounds")
    offer_id = None
    if entry.offer is not None:
        offer_id = _offer(db, case, visit, member, entry.offer, moment)
        case = db.get(Case, visit.case_id) or case
    visit.status = VisitStatus.VISITED if entry.met else VisitStatus.NOBODY_HOME
    visit.visited_at = moment
    visit.recorded_by_id = member.id
    visit.said = said
    visit.offer_id = offer_id
    visit.gps_consent = entry.gps_consent
    visit.latitude, visit.longitude = latitude, longitude
    if entry.promise is not None:
        promise = make_promise(
            db, case, None, member.email, moment, entry.promise.due, entry.promise.amount
        )
        visit.promise_id = promise.id
    folder.mkdir(parents=True, exist_ok=True)
    for photo, kind in photos:
        stored = secrets.token_hex(24)
        (folder / stored).write_bytes(photo.data)
        db.add(
            VisitPhoto(
                visit_id=visit.id,
                case_id=case.id,
                stored_name=stored,
                content_type=kind,
                size=len(photo.data),
                sha256=hashlib.sha256(photo.data).hexdigest(),
                uploaded_at=moment,
                uploaded_by_id=member.id,
            )
        )
    details = {
        "visit_id": visit.id,
        "outcome": visit.status.value,
        "photos": len(photos),
        "promise_id": visit.promise_id,
        "offer_id": offer_id,
        "gps": latitude is not None,
    }
    record_event(db, case, "visit_recorded", "agent", at=moment, by=member.email, **details)
    trail.record(db, member, "visit.record", moment, case_id=case.id, **details)
    db.commit()
    return visit


def _offer(
    db: Session,
    case: Case,
    visit: HomeVisit,
    member: StaffMember,
    given: OfferGiven,
    moment: datetime,
) -> int:
    """Make the doorstep's plan offer through the offer rules, within an agent's own
    authority (no supervisor's approval on a doorstep): an arrears plan of monthly
    payments. Raises ``VisitError('offer_refused')`` when it is not ready as it stands."""
    terms = Terms(
        kind=PlanKind.ARREARS_PLAN,
        first_due_date=given.first_due,
        installments=given.installments,
        frequency=Frequency.MONTHLY,
    )
    seen = offers.preview(db, case, member, terms, moment)
    if seen.outcome is not offers.Outcome.READY:
        raise VisitError("offer_refused")
    made = offers.create_offer(db, case, member, terms, moment)
    if made.offer is None:
        raise VisitError("offer_refused")
    return made.offer.id


def photos_of(db: Session, visit_ids: list[int]) -> dict[int, list[VisitPhoto]]:
    """The photos of each visit, by visit id."""
    found: dict[int, list[VisitPhoto]] = {}
    if not visit_ids:
        return found
    rows = db.scalars(
        select(VisitPhoto).where(VisitPhoto.visit_id.in_(visit_ids)).order_by(VisitPhoto.id)
    )
    for row in rows:
        found.setdefault(row.visit_id, []).append(row)
    return found


@dataclass(frozen=True)
class PhotoFile:
    """One photo as staff are given it."""

    photo: VisitPhoto
    data: bytes


def read_photo(
    db: Session, case: Case, photo_id: int, member: StaffMember, moment: datetime, folder: Path
) -> PhotoFile | None:
    """One of the case's visit photos for a staff member, the read audited; None when the
    case has no such photo or its file is gone. Commits (``trail.record_read``)."""
    photo = by_id(db, VisitPhoto, photo_id)
    if photo is None or photo.case_id != case.id:
        return None
    try:
        data = (folder / photo.stored_name).read_bytes()
    except FileNotFoundError:
        return None
    trail.record_read(db, member, "visit.photo", moment, case_id=case.id, photo_id=photo.id)
    return PhotoFile(photo, data)


@dataclass(frozen=True)
class Upcoming:
    """A noticed or scheduled visit as the borrower's status page tells it: the date
    range and the hours, in their zone."""

    first: date
    last: date
    start: str
    end: str


def upcoming(db: Session, case: Case, moment: datetime) -> Upcoming | None:
    """The case's visit the borrower has been told of and that has not happened yet;
    None without one (or while a hold stands: the visit is off)."""
    visit = open_visit(db, case)
    if visit is None or case.hold is not None:
        return None
    if visit.status not in (VisitStatus.NOTICED, VisitStatus.SCHEDULED):
        return None
    if avoided(db, case, moment) is not None:
        return None
    window = window_of(db, case, visit)
    if window is None or window.last < _today(case, moment):
        return None
    return Upcoming(
        window.first, window.last, window.start.strftime("%H:%M"), window.end.strftime("%H:%M")
    )


def local_moment(case: Case, day: date, clock: str) -> datetime | None:
    """The aware moment the borrower's local clock reads ``clock`` ("HH:MM") on ``day``;
    None for a malformed time."""
    try:
        hour, minute = (int(part) for part in clock.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute,
                        tzinfo=ZoneInfo(case.loan.borrower.timezone))  # fmt: skip
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Waiting:
    """A proposed visit waiting for a supervisor, with its case."""

    visit: HomeVisit
    case: Case


def waiting_approval(db: Session, limit: int = 50) -> list[Waiting]:
    """Proposed visits waiting for a supervisor's approval, the oldest first."""
    rows = db.execute(
        select(HomeVisit, Case)
        .join(Case, Case.id == HomeVisit.case_id)
        .where(HomeVisit.status == VisitStatus.PROPOSED)
        .order_by(HomeVisit.proposed_at, HomeVisit.id)
        .limit(limit)
    ).all()
    return [Waiting(visit, case) for visit, case in rows]


def case_visit(db: Session, case: Case, visit_id: int) -> HomeVisit | None:
    """The case's visit ``visit_id``; None for another case's or no such visit."""
    visit = by_id(db, HomeVisit, visit_id)
    return visit if visit is not None and visit.case_id == case.id else None


def names_of(db: Session, visits: list[HomeVisit]) -> dict[int, StaffMember]:
    """The staff named on ``visits`` (proposers, approvers, visitors), by id."""
    ids = {
        i
        for v in visits
        for i in (v.proposed_by_id, v.approved_by_id, v.visitor_one_id, v.visitor_two_id)
        if i is not None
    }
    if not ids:
        return {}
    return {m.id: m for m in db.scalars(select(StaffMember).where(StaffMember.id.in_(ids)))}
