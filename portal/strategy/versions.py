"""Strategy versions and the pause switch.

The strategy in force is the newest recorded version. The configured file is recorded
as a new version the first time a run sees a document different from every earlier
file version (editing the file and restarting changes the strategy); a supervisor's
promotion of a challenger records a version of its own, which stays in force until the
file changes again. Versions are never changed: each planned step names the version
that planned it. Functions that change something commit once, with their audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation.strategy import Strategy, StrategyError, digest, load_strategy, promoted
from portal.audit import trail
from portal.models import StaffMember, StrategySource, StrategySwitch, StrategyVersion

MAX_NOTE = 2_000
SWITCH = "default"


@dataclass(frozen=True)
class InForce:
    """The strategy in force: its version number, document and parsed steps."""

    version: int
    document: dict[str, Any]
    strategy: Strategy
    source: StrategySource
    created_at: datetime
    created_by: str


class PromotionError(Exception):
    """A promotion refused: no such experiment or arm, or no note."""


def in_force(db: Session, file_document: dict[str, Any], moment: datetime) -> InForce:
    """The strategy in force, recording the configured file as a new version when it is
    a document no file version had (not committed: the caller's transaction)."""
    file_digest = digest(file_document)
    known = db.scalar(
        select(StrategyVersion.version).where(
            StrategyVersion.digest == file_digest, StrategyVersion.source == StrategySource.FILE
        )
    )
    if known is None:
        db.add(
            StrategyVersion(
                name=str(file_document.get("name", "default")),
                digest=file_digest,
                document=file_document,
                source=StrategySource.FILE,
                created_by="file",
                created_at=moment,
            )
        )
        db.flush()
    head = db.scalars(
        select(StrategyVersion).order_by(StrategyVersion.version.desc()).limit(1)
    ).one()
    return InForce(
        head.version,
        head.document,
        load_strategy(head.document),
        head.source,
        head.created_at,
        head.created_by,
    )


def history(db: Session, limit: int = 20) -> list[StrategyVersion]:
    """The newest versions first."""
    return list(
        db.scalars(select(StrategyVersion).order_by(StrategyVersion.version.desc()).limit(limit))
    )


def is_paused(db: Session) -> bool:
    """Whether a supervisor has paused the strategy."""
    return bool(db.scalar(select(StrategySwitch.paused).where(StrategySwitch.name == SWITCH)))


def switch(db: Session) -> StrategySwitch | None:
    """The pause switch's row (who set it last, when, why), if ever set."""
    return db.get(StrategySwitch, SWITCH)


def set_paused(
    db: Session, paused: bool, actor: StaffMember | str, moment: datetime, note: str = ""
) -> bool:
    """Pause or resume the strategy. Audited; commits. False when it already was so.
    Messages already planned still go (each is judged again when it is sent); pausing
    stops new plans."""
    row = db.get(StrategySwitch, SWITCH, with_for_update=True)
    if row is not None and row.paused == paused:
        db.rollback()
        return False
    who = actor.email if isinstance(actor, StaffMember) else actor
    if row is None:
        row = StrategySwitch(name=SWITCH, paused=paused, changed_by=who, changed_at=moment)
        db.add(row)
    row.paused, row.changed_by, row.changed_at = paused, who, moment
    row.note = note.strip()[:MAX_NOTE] or None
    trail.record(
        db, actor, "strategy.pause" if paused else "strategy.resume", moment, note=row.note
    )
    db.commit()
    return True


def promote(
    db: Session,
    file_document: dict[str, Any],
    experiment: str,
    arm: str,
    actor: StaffMember | str,
    moment: datetime,
    note: str,
) -> int:
    """Make ``arm`` of ``experiment`` the champion: a new version whose steps are the
    arm's, with the experiment ended. Cases whose steps are already planned keep them
    (their messages go as planned); from the next run every case runs the new version.
    Audited; commits; returns the new version's number."""
    if not note.strip():
        raise PromotionError("note")
    current = in_force(db, file_document, moment)
    try:
        document = promoted(current.document, experiment, arm)
    except StrategyError as error:
        db.rollback()
        raise PromotionError(error.problems[0]) from error
    number = (db.scalar(select(func.max(StrategyVersion.version))) or 0) + 1
    db.add(
        StrategyVersion(
            version=number,
            name=current.strategy.name,
            digest=digest(document),
            document=document,
            source=StrategySource.PROMOTION,
            created_by=actor.email if isinstance(actor, StaffMember) else actor,
            created_at=moment,
            note=note.strip()[:MAX_NOTE],
        )
    )
    trail.record(
        db,
        actor,
        "strategy.promote",
        moment,
        experiment=experiment,
        arm=arm,
        replaced_version=current.version,
        version=number,
        note=note.strip()[:MAX_NOTE],
    )
    db.commit()
    return number
