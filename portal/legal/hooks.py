"""What the rest of the portal does to a legal track, inside its own transaction.

- A payment before the final notice's deadline stops the track (``on_payment``), as does
  a plan accepted before it (``on_plan``); a plan accepted after it pauses the track.
- The daily work (``advance_tracks``): a noticed track whose deadline has passed becomes
  active; a paused track whose case has no live plan any more (the plan broke, lapsed or
  was cancelled) resumes.

None of these commits: the caller's commit carries them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from portal.cases.facts import record_event
from portal.models import (
    LIVE_PLAN_STATUSES,
    LIVE_TRACK_STATUSES,
    Case,
    LegalTrack,
    LegalTrackStatus,
    Plan,
    TrackEnd,
)

# Before these states' deadline has passed, a payment or a plan stops the track: the
# borrower was told so (or has not been told anything yet).
_BEFORE_DEADLINE = (
    LegalTrackStatus.REFERRED,
    LegalTrackStatus.APPROVED,
    LegalTrackStatus.NOTICED,
)


def live_track(db: Session, case_id: int) -> LegalTrack | None:
    """The case's live track (referred to paused), if any."""
    return db.scalars(
        select(LegalTrack).where(
            LegalTrack.case_id == case_id, LegalTrack.status.in_(LIVE_TRACK_STATUSES)
        )
    ).first()


def _before_deadline(track: LegalTrack, today: date) -> bool:
    return track.status in _BEFORE_DEADLINE and (track.deadline is None or today <= track.deadline)


def _stop(db: Session, case: Case, track: LegalTrack, end: TrackEnd, now: datetime) -> None:
    track.status = LegalTrackStatus.STOPPED
    track.end, track.ended_at, track.ended_by = end, now, "system"
    record_event(db, case, "legal_stopped", "system", at=now, track_id=track.id, end=end.value)


def on_payment(db: Session, case: Case, today: date, now: datetime) -> LegalTrack | None:
    """A payment confirmed on ``today`` (the borrower's day): a track not past its final
    notice's deadline stops. Returns the stopped track, if any."""
    track = live_track(db, case.id)
    if track is None or not _before_deadline(track, today):
        return None
    _stop(db, case, track, TrackEnd.PAYMENT, now)
    return track


def on_plan(db: Session, case: Case, today: date, now: datetime) -> LegalTrack | None:
    """A plan accepted on ``today``: before the deadline the track stops; after it the
    track pauses while the plan lives (``advance_tracks`` resumes it if it does not).
    Returns the track changed, if any."""
    track = live_track(db, case.id)
    if track is None:
        return None
    if _before_deadline(track, today):
        _stop(db, case, track, TrackEnd.PLAN, now)
        return track
    if track.status == LegalTrackStatus.ACTIVE or track.status == LegalTrackStatus.NOTICED:
        track.status = LegalTrackStatus.PAUSED
        record_event(db, case, "legal_paused", "system", at=now, track_id=track.id)
        return track
    return None


def advance_tracks(db: Session, today: date) -> tuple[int, int]:
    """The daily work's step: noticed tracks past their deadline become active, paused
    tracks of cases with no live plan resume. Two statements; returns how many of each."""
    activated = db.execute(
        update(LegalTrack)
        .where(LegalTrack.status == LegalTrackStatus.NOTICED, LegalTrack.deadline < today)
        .values(status=LegalTrackStatus.ACTIVE)
        .returning(LegalTrack.id)
        .execution_options(synchronize_session=False)
    ).all()
    planned = exists().where(
        Plan.case_id == LegalTrack.case_id, Plan.status.in_(LIVE_PLAN_STATUSES)
    )
    resumed = db.execute(
        update(LegalTrack)
        .where(LegalTrack.status == LegalTrackStatus.PAUSED, ~planned)
        .values(status=LegalTrackStatus.ACTIVE)
        .returning(LegalTrack.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(activated), len(resumed)
