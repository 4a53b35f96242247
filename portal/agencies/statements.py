"""Finance's monthly commission statement per agency, and the agencies side by side.

A statement lists every commission entry whose money moved in the month (the finance
timezone's calendar month): each payment, refund or chargeback on a placed case, the
case (its loan number and the borrower's name masked by ``portal.cases.masking``), what
moved and the commission booked or clawed back. Totals are per currency and are the
lines' own sums, so they add up exactly; over all months a placement's entries sum to the
rate on its net collected (``negotiation.commission``).

Written as CSV (``portal.core.csv_export``) and as an A4 PDF in the letters' fonts
(``portal.letters.pdf``). Reads only; the views record each read in the audit log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation import commission as rule
from portal.agencies.commission import placement_end
from portal.cases.masking import mask_name
from portal.core.csv_export import csv_lines, utc_text
from portal.core.db import by_id
from portal.finance.journals import month_days
from portal.finance.reports import day_bounds
from portal.models import (
    Agency,
    AgencyPlacement,
    AllocationCause,
    AuditEntry,
    Borrower,
    Case,
    CaseHold,
    CommissionEntry,
    Loan,
    StaffMember,
)
from portal.reporting.contact import REFUSED_ACTIONS


@dataclass(frozen=True)
class Line:
    """One movement on the statement."""

    entry_id: int
    moved_at: datetime
    cause: AllocationCause
    payment_id: int
    case_id: int
    loan_number: str
    borrower: str  # masked
    currency: str
    rate: Decimal
    moved: int
    commission: int


@dataclass(frozen=True)
class Total:
    """One currency's totals: the lines' sums."""

    currency: str
    moved: int
    commission: int


@dataclass(frozen=True)
class Statement:
    """An agency's month: its lines in the order the money moved, and totals."""

    agency_id: int
    agency_code: str
    agency_name: str
    month: date
    lines: list[Line]
    totals: list[Total] = field(default_factory=list)


def agencies(db: Session) -> list[Agency]:
    """Every agency, by name."""
    return list(db.scalars(select(Agency).order_by(Agency.name, Agency.id)))


def statement(db: Session, agency_id: int, month: date, zone: ZoneInfo) -> Statement | None:
    """The agency's statement for ``month``'s month in ``zone``'s days (None: no such
    agency)."""
    agency = by_id(db, Agency, agency_id)
    if agency is None:
        return None
    first, last = month_days(month)
    start, end = day_bounds(first, last, zone)
    rows = db.execute(
        select(CommissionEntry, Loan.number, Borrower.full_name)
        .join(Case, Case.id == CommissionEntry.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            CommissionEntry.agency_id == agency_id,
            CommissionEntry.moved_at >= start,
            CommissionEntry.moved_at < end,
        )
        .order_by(CommissionEntry.moved_at, CommissionEntry.id)
    ).all()
    lines = [
        Line(
            entry.id,
            entry.moved_at,
            entry.cause,
            entry.payment_id,
            entry.case_id,
            number,
            mask_name(name),
            entry.currency,
            Decimal(entry.rate),
            entry.moved,
            entry.commission,
        )
        for entry, number, name in rows
    ]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        sums[line.currency][0] += line.moved
        sums[line.currency][1] += line.commission
    totals = [Total(c, moved, earned) for c, (moved, earned) in sorted(sums.items())]
    return Statement(agency.id, agency.code, agency.name, first, lines, totals)


STATEMENT_COLUMNS = (
    "entry_id",
    "moved_at_utc",
    "cause",
    "payment_id",
    "case_id",
    "loan_number",
    "borrower_masked",
    "currency",
    "rate",
    "moved_minor",
    "moved",
    "commission_minor",
    "commission",
)


def csv_text(found: Statement, money: Callable[[int, str], str]) -> Iterator[str]:
    """The statement as CSV: a line per movement, then a total line per currency
    (``cause`` "total"), amounts as minor units beside the formatted amount."""
    rows: list[tuple[object, ...]] = [
        (
            line.entry_id,
            utc_text(line.moved_at),
            line.cause.value,
            line.payment_id,
            line.case_id,
            line.loan_number,
            line.borrower,
            line.currency,
            str(line.rate),
            line.moved,
            money(line.moved, line.currency),
            line.commission,
            money(line.commission, line.currency),
        )
        for line in found.lines
    ]
    rows += [
        (
            "",
            "",
            "total",
            "",
            "",
            "",
            "",
            total.currency,
            "",
            total.moved,
            money(total.moved, total.currency),
            total.commission,
            money(total.commission, total.currency),
        )
        for total in found.totals
    ]
    return csv_lines(STATEMENT_COLUMNS, rows)


def pdf_bytes(
    found: Statement,
    locale: str,
    money: Callable[[int, str], str],
    when: Callable[[datetime], str],
    causes: dict[str, str],
    lender_name: str,
) -> bytes:
    """The statement as an A4 PDF in ``locale``, set in the letters' fonts and styles.
    ``money`` and ``when`` format amounts and times; ``causes`` names each cause."""
    # ReportLab and the letters' fonts load here, on the first statement drawn, not in
    # every web worker (tests/portal/test_app.py holds what a worker imports).
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from portal.letters.fonts import letter_fonts
    from portal.letters.pdf import BODY_WIDTH, BOTTOM, LEFT, RIGHT, TOP, styles

    fonts = letter_fonts(locale)
    s = styles(locale)

    def para(text: str, style: object = s.body) -> Paragraph:
        return Paragraph(fonts.markup(text), style)

    with force_locale(locale):
        title = _("Commission statement")
        month_text = found.month.strftime("%Y-%m")
        story: list[object] = [
            para(lender_name, s.muted),
            para(title, s.title),
            para(_("Agency: %(name)s (%(code)s)", name=found.agency_name, code=found.agency_code)),
            para(_("Month: %(month)s", month=month_text)),
            Spacer(0, 4 * mm),
        ]
        header = [
            _("Date"),
            _("Movement"),
            _("Case"),
            _("Borrower"),
            _("Amount"),
            _("Commission"),
        ]
        rows: list[list[object]] = [[para(h, s.strong) for h in header]]
        for line in found.lines:
            rows.append(
                [
                    para(when(line.moved_at), s.small),
                    para(causes.get(line.cause.value, line.cause.value), s.small),
                    para(f"{line.loan_number} #{line.case_id}", s.small),
                    para(line.borrower, s.small),
                    para(money(line.moved, line.currency), s.number),
                    para(money(line.commission, line.currency), s.number),
                ]
            )
        for total in found.totals:
            rows.append(
                [
                    para(_("Total (%(currency)s)", currency=total.currency), s.strong),
                    "",
                    "",
                    "",
                    para(money(total.moved, total.currency), s.number_strong),
                    para(money(total.commission, total.currency), s.number_strong),
                ]
            )
        if not found.lines:
            story.append(para(_("No payments or refunds on this agency's cases this month.")))
        first_total = len(found.lines) + 1
        widths = [w * BODY_WIDTH for w in (0.17, 0.14, 0.22, 0.13, 0.17, 0.17)]
        table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, "#555555"),
                    ("LINEABOVE", (0, first_total), (-1, first_total), 0.6, "#555555"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 2),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        story.append(table)
        story.append(Spacer(0, 4 * mm))
        story.append(
            para(
                _(
                    "Commission is the agency's rate on what its placed cases collected, "
                    "less refunds and chargebacks, rounded once to the minor unit, half to "
                    "even; a refund claws back the difference."
                ),
                s.muted,
            )
        )
        buffer = BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=LEFT,
            rightMargin=RIGHT,
            topMargin=TOP,
            bottomMargin=BOTTOM,
            title=f"{title} {found.agency_code} {month_text}",
            creator="Haohuan",
            lang=locale.replace("_", "-"),
        )
        doc.build(story)
    return buffer.getvalue()


@dataclass(frozen=True)
class AgencyFigures:
    """One agency's figures in one currency, side by side with the others'."""

    agency_id: int
    code: str
    name: str
    currency: str
    placements: int
    live: int
    placed: int
    collected: int
    liquidation: Decimal | None
    commission: int
    disputes: int
    refusals: int


def comparison(db: Session) -> list[AgencyFigures]:
    """Every agency with placements, per currency: placements (and those still live),
    what was owed when placed, what they collected net of refunds and chargebacks (the
    commission entries' net, from the ledger), the liquidation rate (collected over
    placed), the commission earned net of clawbacks, the disputes borrowers raised while
    placed (the portal's record of a complaint about the debt), and the contacts the gate
    refused to the agency's own staff."""
    placements = db.scalars(select(AgencyPlacement).order_by(AgencyPlacement.id)).all()
    names = {a.id: a for a in agencies(db)}
    moved = {
        (agency, currency): (int(n or 0), int(c or 0))
        for agency, currency, n, c in db.execute(
            select(
                CommissionEntry.agency_id,
                CommissionEntry.currency,
                func.sum(CommissionEntry.moved),
                func.sum(CommissionEntry.commission),
            ).group_by(CommissionEntry.agency_id, CommissionEntry.currency)
        ).all()
    }
    refusals = dict(
        db.execute(
            select(StaffMember.agency_id, func.count(AuditEntry.id))
            .join(StaffMember, StaffMember.id == AuditEntry.staff_id)
            .where(StaffMember.agency_id.is_not(None), AuditEntry.action.in_(REFUSED_ACTIONS))
            .group_by(StaffMember.agency_id)
        ).all()
    )
    holds = db.execute(
        select(CaseHold.case_id, CaseHold.placed_at).where(CaseHold.kind == "dispute")
    ).all()
    by_case: dict[int, list[datetime]] = defaultdict(list)
    for case_id, placed_at in holds:
        by_case[case_id].append(placed_at)
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for placement in placements:
        key = (placement.agency_id, placement.currency)
        counts[key][0] += 1
        counts[key][1] += placement.status == "placed"
        counts[key][2] += placement.placed_balance
        end = placement_end(placement)
        counts[key][3] += sum(
            placement.placed_at <= at < end for at in by_case.get(placement.case_id, [])
        )
    figures = []
    for (agency_id, currency), (number, live, placed, disputes) in counts.items():
        agency = names[agency_id]
        collected, earned = moved.get((agency_id, currency), (0, 0))
        figures.append(
            AgencyFigures(
                agency_id,
                agency.code,
                agency.name,
                currency,
                number,
                live,
                placed,
                collected,
                rule.liquidation_rate(collected, placed),
                earned,
                disputes,
                int(refusals.get(agency_id, 0)),
            )
        )
    return sorted(figures, key=lambda f: (f.currency, f.name, f.agency_id))
