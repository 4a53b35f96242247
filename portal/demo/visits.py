"""The demo's home visits (issue 19), through the visit service's own steps: one visit
proposed by the demo agent, approved by the supervisor, noticed in writing, scheduled
with the two field visitors and recorded from the form a fortnight ago (the borrower met,
a photo of the notice left behind); and one noticed and scheduled ahead, which the field
visitors find on their list and the borrower on their status page.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, HomeVisit
from portal.staff.accounts import find_member
from portal.visits import service

AGENT = "agent@haohuan.example"
SUPERVISOR = "supervisor@haohuan.example"
VISITORS = ("chen.zhiming@haohuan.example", "lin.jiahui@haohuan.example")
# How long ago the recorded visit was proposed (its notice's lead and range fit after).
RECORDED_DAYS_AGO = 21


def tiny_png() -> bytes:
    """A one-pixel grey PNG: the demo's stand-in for a photo of the notice at the door."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def _first_open(db: Session, case: Case, visit: HomeVisit, at: time) -> datetime:
    window = service.window_of(db, case, visit)
    if window is None:
        raise RuntimeError("the demo's visit has no date range")
    day = window.open_days()[0]
    return datetime.combine(day, at, tzinfo=ZoneInfo(case.loan.borrower.timezone))


def _eligible(db: Session, cases: list[Case], moment: datetime) -> list[Case]:
    """The cases a visit may be proposed on at ``moment``, Taiwan's first."""
    found = [case for case in cases if not service.bars(db, case, moment)]
    return sorted(found, key=lambda case: case.loan.currency != "TWD")


def seed_visits(db: Session, named: int, today: date, now: datetime, folder: Path | None) -> int:
    """The demo's two visits on named cases that the policy allows a visit on (a Taiwan
    one where there is one), once (none when any visit exists). How many were made.
    Commits (each step)."""
    if db.scalars(select(HomeVisit.id).limit(1)).first() is not None:
        return 0
    agent, boss = find_member(db, AGENT), find_member(db, SUPERVISOR)
    one, two = (find_member(db, email) for email in VISITORS)
    if agent is None or boss is None or one is None or two is None:
        return 0
    cases = list(db.scalars(select(Case).where(Case.id <= named).order_by(Case.id)))
    visitors = (service.Visitor(one.id, "HH-F-0107"), service.Visitor(two.id, "HH-F-0112"))
    past = now - timedelta(days=RECORDED_DAYS_AGO)
    made: list[Case] = []
    # The first: its whole life in the past three weeks, recorded from the field form.
    for case in _eligible(db, cases, past):
        try:
            visit = service.propose(
                db, case, agent, "Long overdue, no answer by phone.", False, past
            )
            service.approve(db, case, visit, boss, past + timedelta(hours=1))
            at = _first_open(db, case, visit, time(10, 30))
            service.schedule(db, case, visit, agent, at, visitors, past + timedelta(days=1))
            entry = service.VisitRecord(
                met=True,
                said="Met the borrower at the door; they will choose a plan on their page.",
                photos=(service.Photo("notice.png", tiny_png()),) if folder is not None else (),
            )
            service.record(db, visit, one, entry, at + timedelta(minutes=20), _photos(folder))
        except (service.VisitError, RuntimeError):
            db.rollback()
            continue
        made.append(case)
        break
    # The second: noticed today and set for the first open day of its range, for the
    # field visitors to record and the borrower to read on their status page.
    for case in _eligible(db, [c for c in cases if c not in made], now):
        try:
            visit = service.propose(db, case, agent, "Large amount long overdue.", False, now)
            service.approve(db, case, visit, boss, now)
            at = _first_open(db, case, visit, time(10, 0))
            service.schedule(db, case, visit, agent, at, visitors, now)
        except (service.VisitError, RuntimeError):
            db.rollback()
            continue
        made.append(case)
        break
    return len(made)


def _photos(folder: Path | None) -> Path:
    # The web layer keeps photos in ``<instance>/evidence`` (portal.web.common.evidence).
    return (folder or Path(".")) / "evidence"
