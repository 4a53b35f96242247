"""A case's fingerprint: one statement that reads every row a borrower's page can show
about a case and reduces them to a digest, so a page rendered once can be served again
for as long as nothing it was made from has changed (``portal.web.common.page_cache``).

The digest is of the rows' contents, not of a version number that each writer would have
to remember to move: an UPDATE from any path (the ORM, the daily work's set-based SQL, a
migration, a hand fix in psql) changes it. Every table that refers to a case, its loan,
its borrower, its plans, holds or links is either read (``WATCHED``) or named in
``UNWATCHED`` with the reason no borrower page shows it; a test holds the two lists to
the schema, so a new table has to be placed in one of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    LargeBinary,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from portal.models import Base


class Scope(StrEnum):
    """How a watched table's rows are found from the case."""

    CASE = "case"  # the case's own row
    LOAN = "loan"  # the loan's own row
    BORROWER = "borrower"  # the borrower's own row
    BY_CASE = "by_case"  # rows whose case_id is the case
    BY_LOAN = "by_loan"  # rows whose loan_id is the case's loan
    BY_BORROWER = "by_borrower"  # rows whose borrower_id is the case's borrower
    BY_PLAN = "by_plan"  # rows whose plan_id is one of the case's plans
    BY_LINK = "by_link"  # rows whose link_id is one of the case's reminder links
    BY_AUTOPAY = "by_autopay"  # rows whose autopay_id is one of the case's plans' autopays
    ACTIVE = "active"  # the one row whose status is active (the policy in force)


@dataclass(frozen=True)
class Watched:
    """A table the fingerprint reads: its rows in full, or (for a log that only grows
    and may hold many rows a case) its count and highest id."""

    table: str
    scope: Scope
    whole_rows: bool = True


WATCHED: tuple[Watched, ...] = (
    Watched("cases", Scope.CASE),
    Watched("loans", Scope.LOAN),
    Watched("borrowers", Scope.BORROWER),
    Watched("loan_installments", Scope.BY_LOAN),
    Watched("loan_charges", Scope.BY_LOAN),
    Watched("payments", Scope.BY_CASE),
    Watched("plans", Scope.BY_CASE),
    Watched("plan_installments", Scope.BY_PLAN),
    Watched("waivers", Scope.BY_PLAN),
    Watched("consents", Scope.BY_PLAN),
    # Automatic payments: the mandate, the card it charges, and each charge's outcome
    # (the status page says when the last one was declined or needs confirming).
    Watched("autopays", Scope.BY_PLAN),
    Watched("saved_cards", Scope.BY_BORROWER),
    Watched("autopay_attempts", Scope.BY_AUTOPAY),
    Watched("case_holds", Scope.BY_CASE),
    Watched("hold_adjustments", Scope.BY_CASE),
    Watched("dispute_evidence", Scope.BY_CASE, whole_rows=False),
    Watched("callbacks", Scope.BY_CASE),
    Watched("offers", Scope.BY_CASE),
    Watched("promises", Scope.BY_CASE),
    Watched("case_flags", Scope.BY_CASE),
    Watched("reminder_links", Scope.BY_CASE),
    Watched("session_statements", Scope.BY_LINK),
    Watched("quiet_hours", Scope.BY_BORROWER),
    Watched("opt_outs", Scope.BY_BORROWER),
    # The LINE and WeChat accounts linked (the contact page offers to link or unlink).
    Watched("chat_accounts", Scope.BY_BORROWER),
    Watched("case_events", Scope.BY_CASE, whole_rows=False),
    # The legal track: the status page and timeline show its notice, deadline, steps and
    # costs (issue 19).
    Watched("legal_tracks", Scope.BY_CASE),
    Watched("legal_steps", Scope.BY_CASE),
    Watched("legal_costs", Scope.BY_CASE),
    # A home visit the borrower was told of: the status page says when and how to avoid it.
    Watched("home_visits", Scope.BY_CASE),
    # The policy in force (the engine's limits and the stages' days).
    Watched("policy_versions", Scope.ACTIVE),
)

# Tables that refer to a case (or its borrower or links) but that no borrower page reads.
UNWATCHED: dict[str, str] = {
    "agency_placements": "which partner agency works the case; the borrower pays the lender",
    "commission_entries": "a partner agency's commission on payments; finance's alone",
    "audit_entries": "the staff's audit trail, never shown to a borrower",
    "contact_attempts": "the contact gate's log of calls and messages",
    "messages": "the outbox; the borrower reads messages on their phone, not in the portal",
    "experiment_assignments": "the strategy experiment's arms; invisible to the borrower",
    "case_month_ends": "the book's month-end history, for the staff's reports only",
    "arrears_entries": "the book's entries into arrears, for the staff's reports only",
    "strategy_steps": "the contact strategy's planned steps; invisible to the borrower",
    "legal_documents": "the legal track's papers, for staff and counsel only",
    "visit_photos": "photos of a visit's notice, for staff only",
    "verification_attempts": "failed answers: they end a session (checked first), never shown",
}


def fingerprint(db: Session, case_id: int, loan_id: int, borrower_id: int) -> str:
    """A digest of every watched row of the case, in one statement; any change to any of
    them changes it."""
    connection = db.connection()
    sql, order = _compiled(connection.dialect)
    values = {"case": case_id, "loan": loan_id, "who": borrower_id}
    parameters = tuple(values[name] for name in order) if order else values
    cursor = connection.exec_driver_sql(sql, parameters).cursor
    # Sorted here, as plain strings: the database may return the same rows in another
    # order after a vacuum.
    rows = sorted(f"{tag}\x1f{text}" for tag, text in cursor.fetchall())
    return hashlib.blake2b("\x1e".join(rows).encode(), digest_size=16).hexdigest()


def statement(dialect: str = "") -> CompoundSelect[str, str]:
    """The fingerprint's statement, as SQLAlchemy builds it from the tables' metadata
    (on PostgreSQL each row as its own text: a statement a tenth as long)."""
    return union_all(*(_branch(watched, dialect) for watched in WATCHED))


_COMPILED: dict[str, tuple[str, tuple[str, ...]]] = {}


def _compiled(dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    # Compiled once per dialect and run as the driver's SQL: working out the statement's
    # cache key each request took longer than running it. A positional driver (SQLite's
    # qmark) takes the parameters in the compiled order.
    if dialect.name not in _COMPILED:
        compiled = statement(dialect.name).compile(dialect=dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else ()
        _COMPILED[dialect.name] = (compiled.string, order)
    return _COMPILED[dialect.name]


def _branch(watched: Watched, dialect: str) -> Select[str, str]:
    table = Base.metadata.tables[watched.table]
    # Constants written into the statement, not bound: some 300 parameters otherwise.
    tag = literal_column(f"'{watched.table}'", String)
    where = _where(table, watched.scope)
    if not watched.whole_rows:
        counted = cast(func.count(), String).concat(literal_column("':'", String))
        counted = counted.concat(
            cast(func.coalesce(func.max(table.c.id), literal_column("0")), String)
        )
        return select(tag, counted).where(where)
    if dialect == "postgresql":
        # The row's own text, every column: psycopg converts a statement's placeholders
        # again each time when it is longer than 4 kB, as the column-by-column form is.
        return select(tag, literal_column(f"{table.name}::text", String)).where(where)
    ordered = sorted(
        (column for column in table.columns if not isinstance(column.type, LargeBinary)),
        key=lambda column: column.name,
    )
    # A column's NULL as \x01 (PostgreSQL's text holds no \x00), columns parted by \x1f.
    null, unit = literal_column("'\x01'", String), literal_column("'\x1f'", String)
    text: ColumnElement[str] = literal_column("''", String)
    for column in ordered:
        text = text.concat(func.coalesce(cast(column, String), null)).concat(unit)
    return select(tag, text).where(where)


def _where(table: Table, scope: Scope) -> ColumnElement[bool]:
    plans = Base.metadata.tables["plans"]
    links = Base.metadata.tables["reminder_links"]
    autopays = Base.metadata.tables["autopays"]
    match scope:
        case Scope.CASE:
            return table.c.id == _param("case")
        case Scope.LOAN:
            return table.c.id == _param("loan")
        case Scope.BORROWER:
            return table.c.id == _param("who")
        case Scope.BY_CASE:
            return table.c.case_id == _param("case")
        case Scope.BY_LOAN:
            return table.c.loan_id == _param("loan")
        case Scope.BY_BORROWER:
            return table.c.borrower_id == _param("who")
        case Scope.BY_PLAN:
            return table.c.plan_id.in_(select(plans.c.id).where(plans.c.case_id == _param("case")))
        case Scope.ACTIVE:
            return table.c.status == literal_column("'active'", String)
        case Scope.BY_LINK:
            return table.c.link_id.in_(select(links.c.id).where(links.c.case_id == _param("case")))
        case Scope.BY_AUTOPAY:
            case_plans = select(plans.c.id).where(plans.c.case_id == _param("case"))
            return table.c.autopay_id.in_(
                select(autopays.c.id).where(autopays.c.plan_id.in_(case_plans))
            )


def _param(name: str) -> ColumnElement[int]:
    return bindparam(name)
