"""Policy versions: the service functions behind the admin console's policy pages and
the ``haohuan policy`` commands, with the same rules for both.

A version is an override TOML file laid over ``negotiation/default_policy.toml``. One
admin proposes it (with a reason); a different admin approves it (it is in force at
once, in every process, from their next request) or rejects it (with a note). Only one
proposal may be open at a time, so a proposal is always judged against the version in
force; an approval still refuses a proposal whose base is no longer in force (a
version 1 recorded after it, a concurrent approval). Each function that changes
something commits once, with its audit entry; a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from negotiation import (
    Policy,
    PolicyChange,
    PolicyError,
    changes,
    effective_table,
    parse_overrides,
    with_values,
)
from portal.audit import trail
from portal.models import PolicyVersion, PolicyVersionStatus, StaffMember
from portal.staff.accounts import find_member

# A whole default policy is about 12,000 characters; an override is usually a few lines.
MAX_TOML = 100_000
MAX_NOTE = 2_000
FIRST_REASON = "The policy file in force when policy versions began."


class Refusal(StrEnum):
    """Why a proposal, approval or rejection changed nothing."""

    INVALID = "invalid"  # the file does not parse: ``detail`` names the key
    TOO_LONG = "too_long"
    NO_REASON = "no_reason"
    NO_NOTE = "no_note"
    NO_CHANGE = "no_change"
    OPEN_PROPOSAL = "open_proposal"
    NOT_PROPOSED = "not_proposed"
    SAME_PERSON = "same_person"
    STALE = "stale"
    NOT_ADMIN = "not_admin"
    NO_SUCH_VERSION = "no_such_version"


class PolicyChangeError(Exception):
    """A refusal, with the parser's message for ``Refusal.INVALID``."""

    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        super().__init__(f"{refusal.value}: {detail}" if detail else refusal.value)
        self.refusal = refusal
        self.detail = detail


def normalise(text: str) -> str:
    """A file's text as stored and hashed: line endings as ``\\n`` (a browser's textarea
    sends ``\\r\\n``), ending in one newline when it is not empty."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return f"{lines}\n" if lines.strip() else ""


def sha256(text: str) -> str:
    """The SHA-256 of a stored file's text, as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(text: str) -> Policy:
    """The policy an override file makes; ``PolicyChangeError(INVALID)`` naming the
    first bad key, or the TOML line, when it does not parse."""
    if len(text) > MAX_TOML:
        raise PolicyChangeError(Refusal.TOO_LONG)
    try:
        return parse_overrides(text)
    except PolicyError as error:
        raise PolicyChangeError(Refusal.INVALID, str(error)) from None


@dataclass(frozen=True)
class Head:
    """The version in force: its number and its file's hash."""

    version: int
    sha256: str


def active_head(db: Session) -> Head | None:
    """The version in force, in one query on the partial unique index; None before the
    first version is recorded."""
    query = select(PolicyVersion.version, PolicyVersion.sha256).where(
        PolicyVersion.status == PolicyVersionStatus.ACTIVE
    )
    row = db.execute(query).first()
    return Head(row.version, row.sha256) if row else None


def active_head_columns() -> tuple[ScalarSelect[int], ScalarSelect[str]]:
    """The version in force's number and hash as two scalar subqueries (each NULL before
    the first version is recorded), for a statement that reads them with its own rows
    rather than in a round trip of their own (``head_of`` reads them back)."""
    active = PolicyVersion.status == PolicyVersionStatus.ACTIVE
    return (
        select(PolicyVersion.version).where(active).scalar_subquery(),
        select(PolicyVersion.sha256).where(active).scalar_subquery(),
    )


def head_of(version: int | None, sha256: str | None) -> Head | None:
    """The ``Head`` read by ``active_head_columns``, or None when no version is recorded."""
    return Head(version, sha256) if version is not None and sha256 is not None else None


def _first_row(file_text: str, now: datetime) -> PolicyVersion:
    text = normalise(file_text)
    return PolicyVersion(
        version=1,
        override_toml=text,
        sha256=sha256(text),
        status=PolicyVersionStatus.ACTIVE,
        made_by="system",
        made_at=now,
        reason=FIRST_REASON,
        checked_by="system",
        checked_at=now,
    )


def _columns(row: PolicyVersion) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in PolicyVersion.__table__.columns}


# How long recording version 1 on a connection of its own may wait for SQLite's write
# lock before it joins the caller's transaction instead (the caller holds the lock).
SQLITE_WAIT_MS = 250


def record_first(db: Session, file_text: str, now: datetime) -> Head:
    """Record version 1, the configured file (``file_text``, empty for none), in force.

    Committed on a connection of its own, so a read-only request or command records it
    too and the caller's work is not committed with it; another process recording it
    first is fine. When the caller's own transaction holds SQLite's write lock, it joins
    that transaction instead (flushed, not committed): whoever commits keeps it, and a
    rollback leaves it to be recorded again, the same. Not an audit entry: no one acted;
    the row itself says ``system``."""
    first = _first_row(file_text, now)
    head = Head(first.version, first.sha256)
    engine = db.get_bind().engine
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_WAIT_MS}")
            try:
                connection.execute(insert(PolicyVersion).values(_columns(first)))
                connection.commit()
            finally:
                if connection.dialect.name == "sqlite":
                    connection.invalidate()  # not back to the pool with a short wait
    except IntegrityError:
        return head  # recorded by another process at the same moment
    except OperationalError:
        if engine.dialect.name != "sqlite":
            raise
        db.add(_first_row(file_text, now))
        db.flush()
    return head


def version(db: Session, number: int) -> PolicyVersion | None:
    """One version by its number."""
    return db.get(PolicyVersion, number) if 0 < number < 2**31 else None


def open_proposal(db: Session) -> PolicyVersion | None:
    """The proposal waiting for a checker, if any."""
    query = select(PolicyVersion).where(PolicyVersion.status == PolicyVersionStatus.PROPOSED)
    return db.scalars(query).first()


def history(db: Session) -> Sequence[PolicyVersion]:
    """Every version, newest first."""
    return db.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc())).all()


def changes_of(db: Session, row: PolicyVersion) -> tuple[PolicyChange, ...]:
    """What ``row`` changes, key by key, from the version it was based on (from the
    defaults for version 1)."""
    base = version(db, row.based_on) if row.based_on else None
    return changes(base.override_toml if base else "", row.override_toml)


def admin(db: Session, email: str) -> StaffMember:
    """The active admin with this email (for the command line's ``--by``)."""
    member = find_member(db, email)
    if member is None or not member.active or "admin" not in member.role_set:
        raise PolicyChangeError(Refusal.NOT_ADMIN, email)
    return member


def _note(text: str | None, refusal: Refusal) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise PolicyChangeError(refusal)
    if len(cleaned) > MAX_NOTE:
        raise PolicyChangeError(Refusal.TOO_LONG)
    return cleaned


def check_proposal(db: Session, text: str, base: PolicyVersion | None) -> str:
    """``text`` normalised, once it parses and changes something from ``base``; refused
    otherwise. Changes nothing (the console's preview uses it too)."""
    text = normalise(text)
    parse(text)
    if open_proposal(db) is not None:
        raise PolicyChangeError(Refusal.OPEN_PROPOSAL)
    if not changes(base.override_toml if base else "", text):
        raise PolicyChangeError(Refusal.NO_CHANGE)
    return text


def in_force(db: Session) -> PolicyVersion | None:
    """The active version's row."""
    head = active_head(db)
    return version(db, head.version) if head else None


def propose(
    db: Session, text: str, reason: str, maker: StaffMember, now: datetime
) -> PolicyVersion:
    """Propose ``text`` as the next version, with ``reason``. Refused when it does not
    parse, changes nothing, or another proposal is open. Commits."""
    reason = _note(reason, Refusal.NO_REASON)
    base = in_force(db)
    text = check_proposal(db, text, base)
    number = int(db.scalar(select(func.coalesce(func.max(PolicyVersion.version), 0))) or 0) + 1
    row = PolicyVersion(
        version=number,
        based_on=base.version if base else None,
        override_toml=text,
        sha256=sha256(text),
        status=PolicyVersionStatus.PROPOSED,
        made_by=maker.email,
        made_at=now,
        reason=reason,
    )
    db.add(row)
    trail.record(
        db, maker, "policy.propose", now, version=number, based_on=row.based_on, sha256=row.sha256
    )
    try:
        db.commit()
    except IntegrityError:
        # Another admin's proposal (or version 1) took the number or the open slot first.
        db.rollback()
        raise PolicyChangeError(Refusal.OPEN_PROPOSAL) from None
    return row


def in_force_values(db: Session) -> dict[str, object]:
    """Every key of the policy in force, dotted, with its value (the form's defaults)."""
    row = in_force(db)
    return effective_table(row.override_toml if row else "")


def propose_values(
    db: Session, values: Mapping[str, object], reason: str, maker: StaffMember, now: datetime
) -> PolicyVersion:
    """Propose the version in force with some keys set to ``values`` (the console's form
    of the keys changed most), as ``propose``. Commits."""
    row = in_force(db)
    try:
        text = with_values(row.override_toml if row else "", values)
    except PolicyError as error:
        raise PolicyChangeError(Refusal.INVALID, str(error)) from None
    return propose(db, text, reason, maker, now)


def _proposal_to_check(db: Session, number: int, checker: StaffMember) -> PolicyVersion:
    row = version(db, number)
    if row is None:
        raise PolicyChangeError(Refusal.NO_SUCH_VERSION)
    if row.status != PolicyVersionStatus.PROPOSED:
        raise PolicyChangeError(Refusal.NOT_PROPOSED)
    if row.made_by.casefold() == checker.email.casefold():
        raise PolicyChangeError(Refusal.SAME_PERSON)
    return row


def approve(
    db: Session, number: int, checker: StaffMember, now: datetime, note: str | None = None
) -> PolicyVersion:
    """Put proposal ``number`` in force: the version before it is superseded. Refused
    for its own maker, for anything not proposed, and when the version it was based on
    is no longer the one in force. Commits; every process uses it from its next request."""
    row = _proposal_to_check(db, number, checker)
    cleaned = (note or "").strip()
    if len(cleaned) > MAX_NOTE:
        raise PolicyChangeError(Refusal.TOO_LONG)
    # Conditional updates, so two approvals at once cannot both win: the first takes the
    # active row, the second finds no version in force matching its base.
    superseded = db.execute(
        update(PolicyVersion)
        .where(PolicyVersion.status == PolicyVersionStatus.ACTIVE)
        .values(status=PolicyVersionStatus.SUPERSEDED)
        .returning(PolicyVersion.version)
    ).scalar()
    if superseded != row.based_on:
        db.rollback()
        raise PolicyChangeError(Refusal.STALE)
    activated = db.execute(
        update(PolicyVersion)
        .where(
            PolicyVersion.version == number, PolicyVersion.status == PolicyVersionStatus.PROPOSED
        )
        .values(
            status=PolicyVersionStatus.ACTIVE,
            checked_by=checker.email,
            checked_at=now,
            check_note=cleaned or None,
        )
        .returning(PolicyVersion.version)
    ).scalar()
    if activated is None:
        db.rollback()
        raise PolicyChangeError(Refusal.NOT_PROPOSED)
    trail.record(
        db, checker, "policy.approve", now, version=number, superseded=superseded, note=cleaned
    )
    db.commit()
    db.refresh(row)
    return row


def reject(
    db: Session, number: int, checker: StaffMember, now: datetime, note: str | None
) -> PolicyVersion:
    """Turn proposal ``number`` down, with a note saying why; refused for its own maker
    and for anything not proposed. Commits."""
    row = _proposal_to_check(db, number, checker)
    cleaned = _note(note, Refusal.NO_NOTE)
    rejected = db.execute(
        update(PolicyVersion)
        .where(
            PolicyVersion.version == number, PolicyVersion.status == PolicyVersionStatus.PROPOSED
        )
        .values(
            status=PolicyVersionStatus.REJECTED,
            checked_by=checker.email,
            checked_at=now,
            check_note=cleaned,
        )
        .returning(PolicyVersion.version)
    ).scalar()
    if rejected is None:
        db.rollback()
        raise PolicyChangeError(Refusal.NOT_PROPOSED)
    trail.record(db, checker, "policy.reject", now, version=number, note=cleaned)
    db.commit()
    db.refresh(row)
    return row


def record_view(db: Session, member: StaffMember | str, number: int, now: datetime) -> None:
    """Record that ``member`` read what version ``number`` changes. Commits (a read)."""
    trail.record(db, member, "policy.diff_view", now, version=number)
    db.commit()
