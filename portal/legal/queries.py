"""What the console and the borrower's status page read of the legal track."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.legal import LegalCost, LegalRules, NextMilestone, next_milestone
from portal.models import (
    Case,
    LegalCostEntry,
    LegalDocument,
    LegalStep,
    LegalTrack,
    LegalTrackStatus,
    Loan,
)


def reached_steps(db: Session, track_id: int) -> list[LegalStep]:
    """A track's milestones reached, in order."""
    return list(
        db.scalars(
            select(LegalStep)
            .where(LegalStep.track_id == track_id)
            .order_by(LegalStep.reached_on, LegalStep.id)
        )
    )


def tracks_of(db: Session, case_id: int) -> list[LegalTrack]:
    """Every track of a case, newest first."""
    return list(
        db.scalars(
            select(LegalTrack).where(LegalTrack.case_id == case_id).order_by(LegalTrack.id.desc())
        )
    )


@dataclass(frozen=True)
class TrackFile:
    """One track with its steps, costs and documents, and the step that may come next."""

    track: LegalTrack
    steps: list[LegalStep]
    costs: list[LegalCostEntry]
    documents: list[LegalDocument]
    next: NextMilestone | None


def track_file(db: Session, track: LegalTrack, rules: LegalRules) -> TrackFile:
    """``track`` with what was recorded on it."""
    steps = reached_steps(db, track.id)
    costs = list(
        db.scalars(
            select(LegalCostEntry)
            .where(LegalCostEntry.track_id == track.id)
            .order_by(LegalCostEntry.incurred_on, LegalCostEntry.id)
        )
    )
    documents = list(
        db.scalars(
            select(LegalDocument)
            .where(LegalDocument.track_id == track.id)
            .order_by(LegalDocument.id)
        )
    )
    upcoming = None
    if track.deadline is not None and track.status in (
        LegalTrackStatus.NOTICED,
        LegalTrackStatus.ACTIVE,
    ):
        upcoming = next_milestone(
            rules, track.market, [(s.milestone, s.reached_on) for s in steps], track.deadline
        )
    return TrackFile(track, steps, costs, documents, upcoming)


def awaiting_approval(db: Session, limit: int = 200) -> list[tuple[LegalTrack, str]]:
    """Referred tracks waiting for a supervisor, oldest first, with their loan number."""
    return [
        (track, number)
        for track, number in db.execute(
            select(LegalTrack, Loan.number)
            .join(Case, Case.id == LegalTrack.case_id)
            .join(Loan, Loan.id == Case.loan_id)
            .where(LegalTrack.status == LegalTrackStatus.REFERRED)
            .order_by(LegalTrack.referred_at, LegalTrack.id)
            .limit(limit)
        )
    ]


@dataclass(frozen=True)
class BorrowerCost:
    """A legal cost added to what the borrower owes, as their status page lists it."""

    kind: LegalCost
    amount: int
    charged_on: date


def borrower_costs(db: Session, case: Case) -> list[BorrowerCost]:
    """The legal costs added to what the borrower owes on ``case``, by date: only those
    charged (the law allowed them), never the lender's own."""
    rows = db.execute(
        select(LegalCostEntry.kind, LegalCostEntry.amount, LegalCostEntry.incurred_on)
        .where(LegalCostEntry.case_id == case.id, LegalCostEntry.charge_id.is_not(None))
        .order_by(LegalCostEntry.incurred_on, LegalCostEntry.id)
    )
    return [BorrowerCost(kind, amount, on) for kind, amount, on in rows]


def live_file(db: Session, case_id: int, rules: LegalRules) -> TrackFile | None:
    """The case's live track with its steps and the step that may come next, or None:
    what the case page's "waiting on this case" shows above the fold."""
    track = db.scalars(
        select(LegalTrack).where(
            LegalTrack.case_id == case_id,
            LegalTrack.status.in_(
                (
                    LegalTrackStatus.REFERRED,
                    LegalTrackStatus.APPROVED,
                    LegalTrackStatus.NOTICED,
                    LegalTrackStatus.ACTIVE,
                    LegalTrackStatus.PAUSED,
                )
            ),
        )
    ).first()
    return track_file(db, track, rules) if track is not None else None


def notice_terms(db: Session, case_id: int) -> tuple[date, date] | None:
    """The final notice's date and deadline on the case's live track once the notice was
    sent, or None: the printed notice and the court form carry the track's own dates."""
    row = db.execute(
        select(LegalTrack.notice_sent_on, LegalTrack.deadline).where(
            LegalTrack.case_id == case_id,
            LegalTrack.status.in_(
                (LegalTrackStatus.NOTICED, LegalTrackStatus.ACTIVE, LegalTrackStatus.PAUSED)
            ),
            LegalTrack.notice_sent_on.is_not(None),
            LegalTrack.deadline.is_not(None),
        )
    ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]
