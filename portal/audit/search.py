"""Reading the staff audit log: entries narrowed by who, what, which case and when,
newest first; a page at a time for the console, all of them (in batches) for the
export. Read-only: the log itself cannot be changed (migration 0007's triggers)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from portal.core.csv_export import csv_lines, utc_text
from portal.core.db import MAX_ID, like_pattern
from portal.core.pagination import window
from portal.finance.reports import EARLIEST, LATEST, day_bounds
from portal.models import AuditEntry, Case, Loan

PER_PAGE = 50

# Areas of work an auditor reads as one, each the action families it spans: finance's
# money (payments viewed and exported, refunds, chargebacks, the month's close, journals)
# and its reconciliation (runs and their exceptions). Chosen as ``area:<name>``.
AREAS: dict[str, tuple[str, ...]] = {"finance": ("finance.", "reconcile.", "ledger.")}
AREA_PREFIX = "area:"

COLUMNS = (
    "entry_id",
    "at_utc",
    "at_local",
    "actor",
    "staff_id",
    "action",
    "case_id",
    "loan_number",
    "details",
    "address",
)


@dataclass(frozen=True)
class AuditFilters:
    """What the log is narrowed to; empty values narrow nothing. ``actor`` matches part
    of the actor (an email, ``cli`` or ``system``); ``action`` a whole action, a family
    when it ends with a dot (``call.``), or an area (``area:finance``, ``AREAS``);
    ``case`` a case number or a loan number."""

    actor: str = ""
    action: str = ""
    case: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """An entry as the log shows it, with the loan number of its case."""

    entry: AuditEntry
    loan_number: str | None


@dataclass(frozen=True)
class AuditPage:
    """One page of the log."""

    rows: list[AuditRow]
    total: int
    page: int
    pages: int


def _filtered(filters: AuditFilters, zone: ZoneInfo) -> Select[AuditEntry, str]:
    query = select(AuditEntry, Loan.number).outerjoin(Case, Case.id == AuditEntry.case_id)
    query = query.outerjoin(Loan, Loan.id == Case.loan_id)
    if filters.actor:
        pattern = "%" + like_pattern(filters.actor.strip()) + "%"
        query = query.where(AuditEntry.actor.ilike(pattern, escape="\\"))
    area = AREAS.get(filters.action.removeprefix(AREA_PREFIX), ())
    if filters.action.startswith(AREA_PREFIX) and area:
        query = query.where(
            or_(*(AuditEntry.action.like(like_pattern(f) + "%", escape="\\") for f in area))
        )
    elif filters.action.endswith("."):
        query = query.where(AuditEntry.action.like(like_pattern(filters.action) + "%", escape="\\"))
    elif filters.action:
        query = query.where(AuditEntry.action == filters.action)
    wanted = filters.case.strip().removeprefix("#")
    if wanted:
        matches = [Loan.number == wanted.upper(), Loan.number == wanted]
        if wanted.isascii() and wanted.isdigit() and int(wanted) <= MAX_ID:
            matches.append(AuditEntry.case_id == int(wanted))
        query = query.where(or_(*matches))
    if filters.since or filters.until:
        start, end = day_bounds(filters.since or EARLIEST, filters.until or LATEST, zone)
        query = query.where(AuditEntry.at >= start, AuditEntry.at < end)
    return query


def _newest_first(query: Select[AuditEntry, str]) -> Select[AuditEntry, str]:
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def audit_page(
    db: Session, filters: AuditFilters, zone: ZoneInfo, page: int, per_page: int = PER_PAGE
) -> AuditPage:
    """The ``page``-th page of matching entries, newest first (a page past the end
    shows the last)."""
    query = _filtered(filters, zone)
    span = window(db, query, page, per_page)
    rows = db.execute(span.of(_newest_first(query)))
    return AuditPage([AuditRow(*row) for row in rows], span.total, span.page, span.pages)


def all_entries(db: Session, filters: AuditFilters, zone: ZoneInfo) -> Iterator[AuditRow]:
    """Every matching entry, newest first, read in batches (for the export)."""
    query = _newest_first(_filtered(filters, zone)).execution_options(yield_per=500)
    for row in db.execute(query):
        yield AuditRow(*row)


def actions(db: Session) -> Sequence[str]:
    """The actions the log holds, for the filter's choices."""
    return db.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()


def details_text(details: dict[str, Any] | None) -> str:
    """An entry's details as compact JSON, keys sorted, CJK kept readable."""
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def audit_lines(rows: Iterator[AuditRow], zone: ZoneInfo) -> Iterator[str]:
    """The export: one CSV line per entry, times in UTC and in ``zone`` (ISO 8601 with
    the offset), every cell safe to open in a spreadsheet
    (``portal.core.csv_export.csv_lines``)."""
    return csv_lines(
        COLUMNS,
        (
            (
                row.entry.id,
                utc_text(row.entry.at),
                row.entry.at.astimezone(zone).isoformat(timespec="seconds"),
                row.entry.actor,
                row.entry.staff_id if row.entry.staff_id is not None else "",
                row.entry.action,
                row.entry.case_id if row.entry.case_id is not None else "",
                row.loan_number or "",
                details_text(row.entry.details),
                row.entry.address or "",
            )
            for row in rows
        ),
    )
