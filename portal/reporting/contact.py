"""Contact: the attempts made on the period's cases and the right-party contacts they
reached, the contacts the contact gate refused (by reason), and the opt-outs, counted
once a month into cells (``count_contact``, by the month-end step) and summed over a
period's months by the report (``contact``).

Definitions (``docs/reporting.md``, "Contact"):

- **Months and slices**: each month (``portal.reporting.cells``) counts what was logged
  in it (days of the finance time zone, both included), under the slice its case had
  when the month began (``cells.month_slices``).
- **Attempts**: the contact log's outbound rows (``ContactAttempt``, not ``inbound``),
  by channel: calls made, and messages and letters sent.
- **Right-party contacts**: the log's rows where the borrower themselves was reached
  (``connected``: a call the borrower answered), whoever called; **inbound**: the calls
  the borrower made to us, counted apart. The cells keep the agent (``ContactAttempt
  .agent``) so the agents' figures sum them too.
- **Per case**: over the case-months: the cases with any row in the log in a month
  (attempted or called in), summed over the period's months, as exact fractions.
- **Refusals**: each contact the gate refused, as the audit log records it: a call
  (``call.refused``), a letter (``letter.refused``), a message asked for alone or in a
  batch (``message.refused``), and a scheduled message canceled at sending time
  (``message.cancel``). One refused contact of one case is one refusal; it counts under
  each of the gate's reasons it gave (``negotiation.contact.ContactRefusal``), so the
  reasons may add up to more than the refusals. Reasons that are not the gate's (no
  address, a stale message, the letter rules) are left out, and so is a refusal that
  gave only those. The contact strategy's skipped steps are its own report
  (``portal.strategy.reporting``), not counted here.
- **Opt-outs**: the opt-outs recorded in the month (``OptOut.at``), by channel. An
  opt-out is the borrower's, not a case's: it is counted once, under the slice of one
  of their cases (``_opted_out_case``): the lowest-numbered of those in the book when
  the month began (a row at the month-end before), else their lowest-numbered case.

Nothing here commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from types import MappingProxyType
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from negotiation.contact import ContactRefusal
from portal.models import (
    AuditEntry,
    Case,
    CaseMonthEnd,
    ContactAttempt,
    ContactCaseMonth,
    ContactCell,
    ContactOptOutCell,
    ContactRefusalCell,
    Loan,
    OptOut,
)
from portal.reporting.cells import (
    connection_of,
    days_of,
    in_period,
    month_bounds,
    month_slices,
    temporary,
)
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.slices import WHOLE_BOOK, share
from portal.reporting.snapshots import SLICES, previous_month_end, rows_at

# The audit actions that record a contact the gate refused.
REFUSED_ACTIONS = ("call.refused", "letter.refused", "message.refused", "message.cancel")
REASONS = tuple(reason.value for reason in ContactRefusal)
# Every channel the contact log records (the chat apps since issue 20).
CHANNELS = ("call", "sms", "email", "letter", "line", "wechat")

LOG = cast(Table, ContactCell.__table__)
CASE_MONTHS = cast(Table, ContactCaseMonth.__table__)
REFUSALS = cast(Table, ContactRefusalCell.__table__)
OPT_OUTS = cast(Table, ContactOptOutCell.__table__)
CELLS = (LOG, CASE_MONTHS, REFUSALS, OPT_OUTS)


# A month's refused contacts, expanded from the audit entries' JSON in Python (a batch's
# entry lists its cases by reason, which neither SQLite nor PostgreSQL reads alike), by
# case and reason (NULL: the refusals, each once), for one statement to slice and count.
REFUSED = temporary(
    "contact_refused",
    Column("case_id", Integer, nullable=False),
    Column("reason", String(32)),
    Column("refusals", Integer, nullable=False),
)
# The month's log per case, channel, agent and direction (one read of its rows), and
# its cases with their slices (``month_slices``, the costly part at a million cases):
# each read twice.
LOGGED = temporary(
    "contact_logged",
    Column("case_id", Integer, nullable=False),
    Column("channel", String(8), nullable=False),
    Column("agent", String(254)),
    Column("inbound", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("connected", Integer, nullable=False),
)
SLICED = temporary(
    "contact_sliced",
    Column("case_id", Integer, primary_key=True),
    *(Column(name, Integer if name.endswith("_id") else String) for name in SLICES),
)


@dataclass(frozen=True)
class Contact:
    """The period's contact (see the module's docstring): ``first`` and ``last`` are the
    period's days; ``cases``, its case-months."""

    first: date
    last: date
    chosen: Slice
    attempts_by_channel: Mapping[str, int]
    right_party_contacts: int
    inbound: int
    cases: int
    refusals: int
    refusals_by_reason: Mapping[str, int]
    opt_outs_by_channel: Mapping[str, int]

    @property
    def attempts(self) -> int:
        """Every outbound attempt."""
        return sum(self.attempts_by_channel.values())

    @property
    def attempts_per_case(self) -> Fraction | None:
        """Attempts over the case-months in the log."""
        return share(self.attempts, self.cases)

    @property
    def right_party_contacts_per_case(self) -> Fraction | None:
        """Right-party contacts over the case-months in the log."""
        return share(self.right_party_contacts, self.cases)

    @property
    def opt_outs(self) -> int:
        """Every opt-out recorded."""
        return sum(self.opt_outs_by_channel.values())

    def as_json(self) -> dict[str, object]:
        """``contact``: attempts (and by channel), right-party contacts, inbound calls,
        cases, the two per-case fractions (``"n/d"``), refusals (and by reason: every
        reason, zeros included) and opt-outs (and by channel)."""
        return {
            "contact": {
                "attempts": self.attempts,
                "attempts_by_channel": dict(self.attempts_by_channel),
                "right_party_contacts": self.right_party_contacts,
                "inbound": self.inbound,
                "cases": self.cases,
                "attempts_per_case": share_text(self.attempts_per_case),
                "right_party_contacts_per_case": share_text(self.right_party_contacts_per_case),
                "refusals": self.refusals,
                "refusals_by_reason": dict(self.refusals_by_reason),
                "opt_outs": self.opt_outs,
                "opt_outs_by_channel": dict(self.opt_outs_by_channel),
            }
        }


# The report: the cells summed ---------------------------------------------------------


def contact(db: Session, first: date, last: date, chosen: Slice = WHOLE_BOOK) -> Contact:
    """The contact of the month pairs whose first month-ends run from ``first`` to
    ``last`` (their days: the months after ``first`` up to the last pair's second), for
    the slice ``chosen``: four grouped reads of the counted cells."""
    attempts = dict.fromkeys(CHANNELS, 0)
    right_party = inbound = 0
    logged = db.execute(
        select(LOG.c.channel, LOG.c.inbound, func.sum(LOG.c.attempts), func.sum(LOG.c.connected))
        .where(*in_period(LOG, first, last, chosen))
        .group_by(LOG.c.channel, LOG.c.inbound)
    )
    for channel, called_in, rows, connected in logged:
        if called_in:
            inbound += rows
        else:
            attempts[str(channel)] += rows
        right_party += connected
    cases = db.scalar(
        select(func.sum(CASE_MONTHS.c.cases)).where(*in_period(CASE_MONTHS, first, last, chosen))
    )
    refused: dict[str | None, int] = {
        None if reason is None else str(reason): number
        for reason, number in db.execute(
            select(REFUSALS.c.reason, func.sum(REFUSALS.c.refusals))
            .where(*in_period(REFUSALS, first, last, chosen))
            .group_by(REFUSALS.c.reason)
        )
    }
    opted_out = dict.fromkeys(CHANNELS, 0)
    for channel, number in db.execute(
        select(OPT_OUTS.c.channel, func.sum(OPT_OUTS.c.opt_outs))
        .where(*in_period(OPT_OUTS, first, last, chosen))
        .group_by(OPT_OUTS.c.channel)
    ):
        opted_out[str(channel)] += number
    return Contact(
        *days_of(first, last),
        chosen,
        MappingProxyType(attempts),
        right_party,
        inbound,
        int(cases or 0),
        refused.get(None, 0),
        MappingProxyType({reason: refused.get(reason, 0) for reason in REASONS}),
        MappingProxyType(opted_out),
    )


# The month's cells --------------------------------------------------------------------


def count_contact(db: Session | Connection, month_end: date, zone: ZoneInfo) -> int:
    """The contact cells of the month ending ``month_end`` (days in ``zone``), replaced:
    the log's rows and the case-months (the month's rows grouped by case, its cases
    sliced, each into a temporary table, then two ``INSERT … SELECT``), the refusals
    (the month's audit entries read and expanded here into a temporary table, then one
    ``INSERT … SELECT``) and the opt-outs (one ``INSERT … SELECT``), each sliced by
    ``cells.month_slices``. Set-based but for the refusals' expansion. Returns the cells
    written."""
    for table in CELLS:
        db.execute(delete(table).where(table.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    _count_log(db, month_end, start, end)
    _count_refusals(db, month_end, start, end)
    _count_opt_outs(db, month_end, start, end)
    return sum(rows_at(db, table, month_end) for table in CELLS)


def _insert_cells(
    db: Session | Connection,
    table: Table,
    month_end: date,
    rows: Select[Any],
    slices: FromClause,
    by: Mapping[str, Any],
    counts: Mapping[str, Any],
) -> None:
    """Writes ``month_end``'s cells of ``table``: the ``rows`` counted (a select of its
    FROM, joined to ``slices``, a ``month_slices`` or a table of one, and its WHERE)
    grouped by the slice and ``by`` (column: expression), with ``counts`` (column:
    aggregate)."""
    grouping = [*(slices.c[name] for name in SLICES), *by.values()]
    grouped = rows.with_only_columns(
        literal(month_end, Date), *grouping, *counts.values()
    ).group_by(*grouping)
    db.execute(insert(table).from_select(["month_end", *SLICES, *by, *counts], grouped))


def _count_log(db: Session | Connection, month_end: date, start: datetime, end: datetime) -> None:
    """The log's rows per channel, agent and direction, and the case-months, through two
    temporary tables (``LOGGED``, ``SLICED``) so that the month's rows are read once and
    its cases sliced once."""
    connection = connection_of(db)
    LOGGED.create(connection)
    SLICED.create(connection)
    by = (ContactAttempt.case_id, ContactAttempt.channel, ContactAttempt.agent)
    per_case = (
        select(
            *by,
            ContactAttempt.inbound,
            func.count(),
            func.sum(case((ContactAttempt.connected, 1), else_=0)),
        )
        .where(ContactAttempt.at >= start, ContactAttempt.at < end)
        .group_by(*by, ContactAttempt.inbound)
    )
    db.execute(insert(LOGGED).from_select(list(LOGGED.c.keys()), per_case))
    # Counted, so that the planner looks each case's slice up by its keys rather than
    # read the whole month-end history (at a million cases: 6 s rather than 10 to 14).
    db.execute(text(f"ANALYZE {LOGGED.name}"))
    slices = month_slices(month_end, select(LOGGED.c.case_id).distinct())
    db.execute(insert(SLICED).from_select(list(SLICED.c.keys()), select(slices)))
    rows = select().select_from(LOGGED).join(SLICED, SLICED.c.case_id == LOGGED.c.case_id)
    _insert_cells(
        db,
        LOG,
        month_end,
        rows,
        SLICED,
        {name: LOGGED.c[name] for name in ("channel", "agent", "inbound")},
        {"attempts": func.sum(LOGGED.c.attempts), "connected": func.sum(LOGGED.c.connected)},
    )
    # Each case once, whatever its channels and agents: its own table (ContactCaseMonth).
    _insert_cells(
        db,
        CASE_MONTHS,
        month_end,
        select().select_from(SLICED),
        SLICED,
        {},
        {"cases": func.count()},
    )
    LOGGED.drop(connection)
    SLICED.drop(connection)


def _count_refusals(
    db: Session | Connection, month_end: date, start: datetime, end: datetime
) -> None:
    """The month's refused contacts, read from the audit log and expanded here (some
    10,000 entries, 35,000 case and reason rows a month at a million cases: about a
    second), counted by case and reason into a temporary table, then sliced and grouped
    in one statement."""
    entries = db.execute(
        select(AuditEntry.case_id, AuditEntry.details).where(
            AuditEntry.action.in_(REFUSED_ACTIONS), AuditEntry.at >= start, AuditEntry.at < end
        )
    )
    counted: Counter[tuple[int, str | None]] = Counter()
    for case_id, details in entries:
        for refused_case, reasons in _refused_in(case_id, details or {}):
            if refused_case is None or not reasons:
                continue
            counted[refused_case, None] += 1
            counted.update((refused_case, reason) for reason in reasons)
    if not counted:
        return
    connection = connection_of(db)
    REFUSED.create(connection)
    db.execute(
        insert(REFUSED),
        [
            {"case_id": case_id, "reason": reason, "refusals": number}
            for (case_id, reason), number in counted.items()
        ],
    )
    slices = month_slices(month_end, select(REFUSED.c.case_id).distinct())
    rows = select().select_from(REFUSED).join(slices, slices.c.case_id == REFUSED.c.case_id)
    _insert_cells(
        db,
        REFUSALS,
        month_end,
        rows,
        slices,
        {"reason": REFUSED.c.reason},
        {"refusals": func.sum(REFUSED.c.refusals)},
    )
    REFUSED.drop(connection)


def _refused_in(
    case_id: int | None, details: Mapping[str, Any]
) -> Iterable[tuple[int | None, tuple[str, ...]]]:
    """The refused contacts one audit entry records: its own case's (``reasons``), or a
    batch's (``refused``: each reason with its cases), each with the gate's reasons only."""
    if "refused" in details and case_id is None:
        for reason, case_ids in dict(details["refused"]).items():
            for refused_case in case_ids:
                yield int(refused_case), _gate_reasons([reason])
        return
    yield case_id, _gate_reasons(details.get("reasons") or ())


def _gate_reasons(reasons: Iterable[object]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(r) for r in reasons if str(r) in REASONS))


def _opted_out_case(month_end: date) -> Any:
    """The case an opt-out (``OptOut``, correlated) of the month ending ``month_end`` is
    counted under: the borrower's lowest-numbered case in the book when the month began
    (a row at the month-end before), else their lowest-numbered case (NULL: none)."""
    theirs = (
        select(func.min(Case.id))
        .join(Loan, Loan.id == Case.loan_id)
        .where(Loan.borrower_id == OptOut.borrower_id)
    )
    in_book = theirs.join(
        CaseMonthEnd,
        and_(
            CaseMonthEnd.case_id == Case.id,
            CaseMonthEnd.month_end == previous_month_end(month_end),
        ),
    )
    return func.coalesce(
        in_book.correlate(OptOut).scalar_subquery(), theirs.correlate(OptOut).scalar_subquery()
    )


def _count_opt_outs(
    db: Session | Connection, month_end: date, start: datetime, end: datetime
) -> None:
    """The month's opt-outs by channel, each under one case of its borrower's."""
    opted = (
        select(OptOut.channel.label("channel"), _opted_out_case(month_end).label("case_id"))
        .where(OptOut.at >= start, OptOut.at < end)
        .subquery("opted")
    )
    slices = month_slices(
        month_end, select(opted.c.case_id).where(opted.c.case_id.is_not(None)).distinct()
    )
    rows = select().select_from(opted).join(slices, slices.c.case_id == opted.c.case_id)
    _insert_cells(
        db,
        OPT_OUTS,
        month_end,
        rows,
        slices,
        {"channel": opted.c.channel},
        {"opt_outs": func.count()},
    )


__all__ = ["CHANNELS", "REASONS", "REFUSED_ACTIONS", "Contact", "contact", "count_contact"]
