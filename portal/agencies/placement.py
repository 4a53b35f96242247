"""Placing a segment of cases with a partner agency for a period, and recalling it.

A supervisor chooses the segment with the queue's own filter (``portal.cases.queue``):
every case it selects is placed, except those resolved, those on hold (a dispute or a
declared hardship: no pressure, and no new hands on the case while it stands) and those
already placed. Each placement records what the borrower owed then (``placed_balance``,
the overdue amount in the loan's currency) and copies the agency's commission rate.

A placement ends when a supervisor recalls it, or when the daily work passes its end
(``daily_step``): the agency's staff lose the case at once, since every request of
theirs asks ``portal.agencies.access`` for the live placement. Each function commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.cases.facts import record_event
from portal.cases.queue import arrears_of
from portal.models import (
    Agency,
    AgencyPlacement,
    Case,
    CaseStatus,
    Loan,
    PlacementStatus,
    StaffMember,
)

PERIOD_END = "period-end"


@dataclass(frozen=True)
class SegmentPlacement:
    """What placing a segment does (or did): how many cases the filter matches, how many
    are placed, and why the others are not."""

    matching: int
    placing: int
    resolved: int
    on_hold: int
    already_placed: int


def _live() -> Any:
    return AgencyPlacement.status == PlacementStatus.PLACED


def _candidates(segment: Select[Any]) -> Select[int, int]:
    """The cases of ``segment`` (a select of case ids) that may be placed."""
    placed = select(AgencyPlacement.case_id).where(_live())
    return select(Case.id, Case.loan_id).where(
        Case.id.in_(segment),
        Case.status != CaseStatus.RESOLVED,
        Case.hold.is_(None),
        Case.id.not_in(placed),
    )


def _count(db: Session, query: Select[Any] | Select[int, int]) -> int:
    return int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)


def plan_placement(db: Session, segment: Select[Any]) -> SegmentPlacement:
    """How placing ``segment`` would go. Reads only."""
    matching = _count(db, segment)
    in_segment = Case.id.in_(segment)
    resolved = _count(db, select(Case.id).where(in_segment, Case.status == CaseStatus.RESOLVED))
    on_hold = _count(
        db,
        select(Case.id).where(
            in_segment, Case.status != CaseStatus.RESOLVED, Case.hold.is_not(None)
        ),
    )
    placing = _count(db, _candidates(segment))
    already = matching - resolved - on_hold - placing
    return SegmentPlacement(matching, placing, resolved, on_hold, already)


def place_segment(
    db: Session,
    agency: Agency,
    segment: Select[Any],
    ends_at: datetime,
    member: StaffMember,
    moment: datetime,
    filter_arguments: dict[str, Any],
) -> SegmentPlacement:
    """Place every case of ``segment`` that may be placed with ``agency`` until
    ``ends_at``: a placement each (the agency's rate, the overdue amount now), a case
    event each, and one audit entry ``agency.place`` with the counts and the filter.
    Raises ``ValueError`` for an inactive agency or an end not after ``moment``. Commits."""
    if not agency.active or ends_at <= moment:
        raise ValueError("an active agency and an end after now are needed")
    counts = plan_placement(db, segment)
    rows = db.execute(_candidates(segment).with_for_update()).all()
    loan_ids = [loan_id for _case_id, loan_id in rows]
    owed: dict[int, tuple[int, str]] = {}
    if loan_ids:
        arrears = arrears_of(moment, loan_ids)
        query = arrears.joined(
            select(Loan.id, arrears.amount, Loan.currency).where(Loan.id.in_(loan_ids))
        )
        owed = {
            int(loan): (int(amount or 0), currency) for loan, amount, currency in db.execute(query)
        }
    for case_id, loan_id in rows:
        balance, currency = owed.get(loan_id, (0, ""))
        db.add(
            AgencyPlacement(
                agency_id=agency.id,
                case_id=case_id,
                status=PlacementStatus.PLACED,
                commission_rate=agency.commission_rate,
                placed_balance=balance,
                currency=currency,
                placed_by=member.email,
                placed_at=moment,
                ends_at=ends_at,
            )
        )
        case = db.get(Case, case_id)
        if case is not None:
            record_event(
                db,
                case,
                "agency_placed",
                "agent",
                at=moment,
                agency=agency.code,
                until=ends_at.isoformat(),
                by=member.email,
            )
    done = SegmentPlacement(
        counts.matching,
        len(rows),
        counts.resolved,
        counts.on_hold,
        counts.matching - counts.resolved - counts.on_hold - len(rows),
    )
    trail.record(
        db,
        member,
        "agency.place",
        moment,
        agency_id=agency.id,
        placed=done.placing,
        on_hold=done.on_hold,
        resolved=done.resolved,
        already_placed=done.already_placed,
        until=ends_at.isoformat(),
        filter=filter_arguments,
    )
    db.commit()
    return done


def live_placements(db: Session, agency: Agency) -> list[AgencyPlacement]:
    """The agency's live placements, newest first."""
    query = select(AgencyPlacement).where(AgencyPlacement.agency_id == agency.id, _live())
    return list(db.scalars(query.order_by(AgencyPlacement.id.desc())))


def live_counts(db: Session) -> dict[int, int]:
    """How many live placements each agency has (by agency id)."""
    query = (
        select(AgencyPlacement.agency_id, func.count(AgencyPlacement.id))
        .where(_live())
        .group_by(AgencyPlacement.agency_id)
    )
    return {int(agency): int(count) for agency, count in db.execute(query)}


def recall_agency(db: Session, agency: Agency, member: StaffMember, moment: datetime) -> int:
    """Recall every live placement of ``agency`` by hand: its staff lose the cases at
    once. A case event each and one audit entry ``agency.recall``. How many. Commits."""
    placements = live_placements(db, agency)
    for placement in placements:
        _recall(db, placement, member.email, moment)
    trail.record(db, member, "agency.recall", moment, agency_id=agency.id, recalled=len(placements))
    db.commit()
    return len(placements)


def _recall(db: Session, placement: AgencyPlacement, by: str, moment: datetime) -> None:
    placement.status = PlacementStatus.RECALLED
    placement.recalled_at = moment
    placement.recalled_by = by
    case = db.get(Case, placement.case_id)
    if case is not None:
        record_event(db, case, "agency_recalled", "system" if by == PERIOD_END else "agent",
                     at=moment, placement=placement.id, by=by)  # fmt: skip


def recall_due(db: Session, moment: datetime) -> int:
    """Recall every live placement whose period has ended by ``moment`` (recalled by
    ``"period-end"``), with a case event each and one audit entry by ``system``; a
    re-run finds none. How many. Commits."""
    due = list(
        db.scalars(
            select(AgencyPlacement)
            .where(_live(), AgencyPlacement.ends_at <= moment)
            .order_by(AgencyPlacement.id)
            .with_for_update()
        )
    )
    for placement in due:
        _recall(db, placement, PERIOD_END, moment)
    if due:
        trail.record(db, "system", "agency.period_end", moment, recalled=len(due))
    db.commit()
    return len(due)


def daily_step(engine: Engine, day: Any, work: Any) -> None:
    """The daily case work's step (``portal.cases.lifecycle.work_day``): ``recall_due``
    at the run's moment, in one transaction of its own."""
    with Session(engine) as db:
        work.placements_recalled = recall_due(db, day.now)


def placement_of(db: Session, case_id: int) -> AgencyPlacement | None:
    """The case's live placement, if it has one."""
    return db.scalars(
        select(AgencyPlacement).where(AgencyPlacement.case_id == case_id, _live())
    ).first()


def agency_named(db: Session, agency_id: int) -> Agency | None:
    """The agency of this id, or None."""
    return db.get(Agency, agency_id)


def recall_case(db: Session, case: Case, member: StaffMember, moment: datetime) -> bool:
    """Recall the case's live placement by hand (False: it has none): the agency's staff
    lose it at once. A case event and the audit entry ``agency.recall_case``. Commits."""
    live = placement_of(db, case.id)
    if live is None:
        return False
    _recall(db, live, member.email, moment)
    trail.record(
        db, member, "agency.recall_case", moment, case_id=case.id, agency_id=live.agency_id
    )
    db.commit()
    return True
