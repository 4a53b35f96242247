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

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
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
    """A promotion refused: no such experiment or arm, no note ("note"), or another
    promotion recorded at the same moment ("conflict")."""


def in_force(db: Session, file_document: dict[str, Any], moment: datetime) -> InForce:
    """The strategy in force, recording the configured file as a new version when it
    differs from the newest file version (not committed: the caller's transaction)."""
    if not file_recorded(db, file_document) and _locked(db, file_document):
        db.add(
            StrategyVersion(
                # Numbered as promotions are (the newest plus one), never by the table's
                # sequence: PostgreSQL's would not know of a promotion's explicit number
                # and hand it out again.
                version=_next_number(db),
                name=str(file_document.get("name", "default")),
                digest=digest(file_document),
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


def file_recorded(db: Session, file_document: dict[str, Any]) -> bool:
    """Whether the configured file is the newest file version. Compared with the newest
    only: a file put back to an earlier document is a change too, and is recorded again
    (it would otherwise leave the document it replaced in force)."""
    newest = db.scalar(
        select(StrategyVersion.digest)
        .where(StrategyVersion.source == StrategySource.FILE)
        .order_by(StrategyVersion.version.desc())
        .limit(1)
    )
    return newest == digest(file_document)


# The advisory lock that numbers versions one at a time (PostgreSQL): "STRV".
VERSIONS_LOCK = 0x5354_5256


def _lock_versions(db: Session) -> None:
    """Hold the versions' numbering until the transaction ends: two runs (or a run and a
    promotion) starting at once would otherwise both take the newest number plus one.
    SQLite serialises writers by itself."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": VERSIONS_LOCK})


def _locked(db: Session, file_document: dict[str, Any]) -> bool:
    """Take the numbering lock, then ask again whether the file still needs recording
    (another run may have recorded it while this one waited)."""
    _lock_versions(db)
    return not file_recorded(db, file_document)


def _next_number(db: Session) -> int:
    return (db.scalar(select(func.max(StrategyVersion.version))) or 0) + 1


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
    # Never set is running: resuming it changes nothing and records nothing.
    if (row.paused if row is not None else False) == paused:
        db.rollback()
        return False
    who = actor.email if isinstance(actor, StaffMember) else actor
    if row is None:
        row = StrategySwitch(name=SWITCH, paused=paused, changed_by=who, changed_at=moment)
        db.add(row)
    row.paused, row.changed_by, row.changed_at = paused, who, moment
    row.note = note.strip()[:MAX_NOTE] or None
    # Each code written out, so the audit log's words test finds both.
    if paused:
        trail.record(db, actor, "strategy.pause", moment, note=row.note)
    else:
        trail.record(db, actor, "strategy.resume", moment, note=row.note)
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
    # Judged against the version in force once no other promotion or run can change it.
    _lock_versions(db)
    current = in_force(db, file_document, moment)
    try:
        document = promoted(current.document, experiment, arm)
    except StrategyError as error:
        db.rollback()
        raise PromotionError(error.problems[0]) from error
    number = _next_number(db)
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
    try:
        db.commit()
    except IntegrityError as error:
        # Another promotion took the same version number first (both read the same
        # newest version): this one was made from a document no longer in force.
        db.rollback()
        raise PromotionError("conflict") from error
    return number
