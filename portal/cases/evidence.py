"""A dispute's evidence: a few photos or PDFs the borrower sends.

Each file is checked by its first bytes (JPEG, PNG or PDF; the name and the browser's
stated type are not trusted), by size (``MAX_BYTES``) and by number per dispute
(``MAX_FILES``), then stored under a random name in the folder the caller names (the
web layer's ``<instance>/evidence``), outside the web root: no URL serves that folder.
Staff read a file only through the case page's own route
(``portal.web.agent.hold_views``), and each read is audited.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation import Hold
from portal.audit import trail
from portal.cases.facts import record_event
from portal.cases.holds import standing
from portal.core.db import by_id
from portal.models import Case, DisputeEvidence, EvidenceType, StaffMember

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
MAGIC = (
    (b"\xff\xd8\xff", EvidenceType.JPEG),
    (b"\x89PNG\r\n\x1a\n", EvidenceType.PNG),
    (b"%PDF-", EvidenceType.PDF),
)


class EvidenceError(Exception):
    """Why a file is not taken: ``no_dispute``, ``too_many``, ``too_large``, ``empty``,
    ``wrong_type``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def kind_of(data: bytes) -> EvidenceType | None:
    """The file's type by its first bytes, or None when it is none we take."""
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def add(
    db: Session, case: Case, filename: str, data: bytes, now: datetime, folder: Path
) -> DisputeEvidence:
    """Keep one file the borrower sent with their standing dispute. Commits."""
    row = standing(db, case)
    if row is None or row.kind is not Hold.DISPUTE:
        raise EvidenceError("no_dispute")
    count = db.scalar(
        select(func.count()).select_from(DisputeEvidence).where(DisputeEvidence.hold_id == row.id)
    )
    if (count or 0) >= MAX_FILES:
        raise EvidenceError("too_many")
    if not data:
        raise EvidenceError("empty")
    if len(data) > MAX_BYTES:
        raise EvidenceError("too_large")
    kind = kind_of(data)
    if kind is None:
        raise EvidenceError("wrong_type")
    stored = secrets.token_hex(24)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(data)
    evidence = DisputeEvidence(
        hold_id=row.id,
        case_id=case.id,
        stored_name=stored,
        original_name=(Path(filename).name or "evidence")[:255],
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=now,
    )
    db.add(evidence)
    db.flush()
    details = {"evidence_id": evidence.id, "hold_id": row.id, "type": kind.value}
    record_event(db, case, "dispute_evidence", "borrower", at=now, size=len(data), **details)
    trail.record(db, "borrower", "evidence.add", now, case_id=case.id, **details)
    db.commit()
    return evidence


def of_case(db: Session, case: Case) -> list[DisputeEvidence]:
    """The case's evidence, oldest first."""
    return list(
        db.scalars(
            select(DisputeEvidence)
            .where(DisputeEvidence.case_id == case.id)
            .order_by(DisputeEvidence.id)
        )
    )


@dataclass(frozen=True)
class EvidenceFile:
    """One file as staff are given it."""

    evidence: DisputeEvidence
    data: bytes


def read(
    db: Session, case: Case, evidence_id: int, member: StaffMember, now: datetime, folder: Path
) -> EvidenceFile | None:
    """One of the case's files for a staff member, the read audited; None (nothing read,
    nothing audited) when the case has no such file (another case's included, or an id
    no column could hold) or its stored copy is gone. Commits (``trail.record_read``)."""
    evidence = by_id(db, DisputeEvidence, evidence_id)
    if evidence is None or evidence.case_id != case.id:
        return None
    path = folder / evidence.stored_name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.error("evidence %s of case %s: its stored file is missing", evidence.id, case.id)
        return None
    trail.record_read(db, member, "evidence.view", now, case_id=case.id, evidence_id=evidence.id)
    return EvidenceFile(evidence, data)
