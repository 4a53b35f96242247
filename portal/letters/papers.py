"""Papers a borrower can keep: a receipt for a payment, the agreement of a plan they
accepted, and a statement of their loan on any day, each worded in the language they
read the portal in and laid out by ``portal.letters.papers_pdf`` with the letters' fonts.

Every figure comes from the ledger: a receipt lists the allocations its payment made; a
statement takes the loan as it stands and winds back what was booked after its day
(allocations, waivers granted or reinstated, dispute corrections), so today's statement
states exactly what the status page does. A payment or a plan that is not the case's own
gives None: the caller answers 404 and shows nothing of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation import PlanKind
from negotiation.policy import Policy
from portal.cases.facts import policy
from portal.cases.overdue import borrower_today
from portal.core.clock import as_utc
from portal.core.db import by_id
from portal.core.i18n import gap, lender, long_date, market_of, money, zoned_time
from portal.models import (
    AdjustmentStatus,
    Allocation,
    AllocationCause,
    Case,
    Consent,
    HoldAdjustment,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    Plan,
    Waiver,
)
from portal.policy import versions
from portal.wording.engine import KIND_NAMES

# The components of what a loan owes, in the order the status page lists them.
COMPONENTS = ("principal", "interest", "fee", "penalty")


@dataclass(frozen=True)
class Section:
    """A part of a paper: a heading, a table (its column headings, rows whose first cell
    is a label and the rest amounts, a total row), then sentences."""

    heading: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    total: tuple[str, ...] | None = None
    sentences: tuple[str, ...] = ()
    # The sentences are numbered terms (a list), not running text.
    numbered: bool = False


@dataclass(frozen=True)
class Paper:
    """One document, worded: every string translated, every amount and date formatted."""

    locale: str
    title: str
    sender: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    issued: str
    page_pattern: str
    filename: str


class StatementRefusal(StrEnum):
    """Why a statement cannot be made for the day asked."""

    BEFORE_LOAN = "before_loan"
    FUTURE = "future"


# What a receipt says was paid for, by the payment's purpose.
def _purpose(purpose: str) -> str:
    return {
        "installment": _("An installment of your plan"),
        "arrears": _("What was overdue"),
        "partial": _("A part payment"),
    }.get(purpose, _("A payment"))


def _safe(text: str) -> str:
    """A file-name part: letters, digits, dashes and underscores only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _sender(locale: str, case: Case) -> str:
    return lender(locale, market_of(case.loan.currency)).name


def _page_pattern() -> str:
    return _("Page %(page)d of %(pages)d")


def _issued(moment: datetime, zone: str) -> str:
    return _("Issued on %(time)s", time=zoned_time(moment, zone, seconds=False))


# Receipts ----------------------------------------------------------------------------------


def succeeded_payments(db: Session, case: Case, limit: int | None = None) -> list[Payment]:
    """The case's payments that went through, newest first (the ``limit`` latest): each
    has a receipt."""
    query = (
        select(Payment)
        .where(Payment.case_id == case.id, Payment.status == PaymentStatus.SUCCEEDED)
        .order_by(Payment.confirmed_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    return list(db.scalars(query))


def _receipt_payment(db: Session, case: Case, payment_id: int) -> Payment | None:
    payment = by_id(db, Payment, payment_id)
    if payment is None or payment.case_id != case.id:
        return None
    if payment.status != PaymentStatus.SUCCEEDED or payment.confirmed_at is None:
        return None
    return payment


def payment_allocations(db: Session, payment: Payment) -> list[Allocation]:
    """What the payment paid when it was received, as the ledger booked it."""
    query = (
        select(Allocation)
        .where(Allocation.payment_id == payment.id, Allocation.cause == AllocationCause.PAYMENT)
        .order_by(Allocation.id)
    )
    return list(db.scalars(query))


def _allocation_label(
    allocation: Allocation,
    installments: dict[int, LoanInstallment],
    charges: dict[int, LoanCharge],
) -> str:
    if allocation.charge_id is not None and allocation.charge_id in charges:
        charge = charges[allocation.charge_id]
        day = long_date(charge.charged_on)
        if charge.kind == "penalty":
            return _("Penalty charged on %(date)s", date=day)
        return _("Fee charged on %(date)s", date=day)
    if allocation.installment_id is not None and allocation.installment_id in installments:
        row = installments[allocation.installment_id]
        values = {"number": row.sequence, "date": long_date(row.due_date)}
        if allocation.target == "interest":
            return _("Interest of installment %(number)d, due %(date)s", **values)
        return _("Principal of installment %(number)d, due %(date)s", **values)
    return _("Credit kept for what you owe next")


def receipt_for(
    db: Session, case: Case, payment_id: int, locale: str, moment: datetime
) -> Paper | None:
    """The receipt of one of the case's payments that went through, in ``locale``; None
    for any other payment (another case's, or one not received)."""
    payment = _receipt_payment(db, case, payment_id)
    if payment is None or payment.confirmed_at is None:
        return None
    loan = case.loan
    zone = loan.borrower.timezone
    currency = loan.currency
    installments = {row.id: row for row in loan.installments}
    charges = {charge.id: charge for charge in loan.charges}
    allocations = payment_allocations(db, payment)
    with force_locale(locale):
        rows = tuple(
            (_allocation_label(a, installments, charges), money(a.amount, currency))
            for a in allocations
        )
        notes: list[str] = []
        if payment.refunded:
            notes.append(
                _(
                    "Of this payment, %(amount)s was refunded to you afterwards.",
                    amount=money(payment.refunded, currency),
                )
            )
        if payment.disputed:
            notes.append(
                _(
                    "Of this payment, %(amount)s is held by a card dispute.",
                    amount=money(payment.disputed, currency),
                )
            )
        reference = f"P-{payment.id:06d}"
        return Paper(
            locale=locale,
            title=_("Payment receipt"),
            sender=_sender(locale, case),
            facts=(
                (_("Received from"), loan.borrower.full_name),
                (_("Loan number"), loan.number),
                (_("Amount"), money(payment.amount, currency)),
                (_("Received"), zoned_time(payment.confirmed_at, zone, seconds=False)),
                (_("What it paid"), _purpose(payment.purpose)),
                (_("Receipt number"), reference),
                (_("Payment provider's reference"), payment.gateway_reference or "—"),
            ),
            sections=(
                Section(
                    heading=_("How we applied it"),
                    columns=(_("Item"), _("Amount")),
                    rows=rows,
                    total=(
                        _("Total"),
                        money(sum(a.amount for a in allocations), currency),
                    ),
                    sentences=tuple(notes),
                ),
            ),
            issued=_issued(moment, zone),
            page_pattern=_page_pattern(),
            filename=f"receipt-{reference}.pdf",
        )


# Plan agreements ---------------------------------------------------------------------------


def agreed_plan(db: Session, case: Case, plan_id: int) -> Plan | None:
    """One of the case's plans the borrower accepted (a consent is recorded), or None."""
    plan = by_id(db, Plan, plan_id)
    if plan is None or plan.case_id != case.id:
        return None
    consent = db.scalars(select(Consent).where(Consent.plan_id == plan.id)).first()
    return plan if consent is not None else None


def latest_agreed_plan(db: Session, case: Case) -> Plan | None:
    """The case's newest plan with a recorded consent (the one the status page links)."""
    query = (
        select(Plan)
        .join(Consent, Consent.plan_id == Plan.id)
        .where(Plan.case_id == case.id)
        .order_by(Plan.id.desc())
    )
    return db.scalars(query).first()


def _plan_rules(db: Session, plan: Plan) -> Policy:
    """The policy the plan was decided under (the one in force if it predates versions)."""
    if plan.policy_version is not None:
        row = versions.version(db, plan.policy_version)
        if row is not None:
            try:
                return versions.parse(row.override_toml)
            except versions.PolicyChangeError:
                pass
    return policy()


def breaking_terms(plan: Plan, rules: Policy) -> tuple[str, ...]:
    """The plan's terms as the review page states them: when it starts, what a missed
    payment is and what missing them triggers."""
    several = len(plan.installments) > 1
    terms = [
        _("This plan starts when its first payment is received. Until then, nothing changes."),
        _("While you keep to the plan, we pause collection and add no new penalties."),
    ]
    if several:
        terms.append(
            ngettext(
                "A payment not received within %(num)d day of its due date counts as missed.",
                "A payment not received within %(num)d days of its due date counts as missed.",
                rules.grace_days,
            )
        )
        ends = ngettext(
            "If %(num)d payment is missed, the plan ends.",
            "If %(num)d payments are missed, the plan ends.",
            rules.misses_before_broken,
        )
        then = (
            _(
                "Anything we waived becomes due again, and collection resumes from where it "
                "stood, counting the days since your first missed installment."
            )
            if plan.conditional_waiver
            else _(
                "Collection then resumes from where it stood, counting the days since your "
                "first missed installment."
            )
        )
        terms.append(ends + gap() + then)
    elif plan.kind == PlanKind.DEFERRAL.value:
        terms.append(
            ngettext(
                "If the payment is not received within %(num)d day of the promised date, the "
                "promise ends and collection resumes from where it stood.",
                "If the payment is not received within %(num)d days of the promised date, the "
                "promise ends and collection resumes from where it stood.",
                rules.grace_days,
            )
        )
    terms += [
        _("You may pay more, or pay early, at any time, without a fee."),
        _("If your situation changes, tell us: we will look for another arrangement with you."),
    ]
    return tuple(terms)


def agreement_for(
    db: Session, case: Case, plan_id: int, locale: str, moment: datetime
) -> Paper | None:
    """The agreement of one of the case's accepted plans, in ``locale``; None for a plan
    that is not the case's own or was never accepted."""
    plan = agreed_plan(db, case, plan_id)
    if plan is None:
        return None
    consent = plan.consent
    loan = case.loan
    zone = loan.borrower.timezone
    currency = plan.currency
    rules = _plan_rules(db, plan)
    with force_locale(locale):
        schedule = tuple(
            (
                str(row.sequence),
                str(long_date(row.due_date)),
                money(row.amount, currency),
            )
            for row in plan.installments
        )
        waived: list[tuple[str, str]] = []
        if plan.waived_penalties:
            waived.append((_("Penalties waived"), money(plan.waived_penalties, currency)))
        if plan.waived_fees:
            waived.append((_("Fees waived"), money(plan.waived_fees, currency)))
        if plan.discount:
            waived.append((_("Settlement discount"), money(plan.discount, currency)))
        waiver_sentences: tuple[str, ...]
        if not waived:
            waiver_sentences = (_("Nothing is waived under this plan."),)
        elif plan.conditional_waiver:
            waiver_sentences = (
                _(
                    "When you complete the plan, we also waive %(amount)s of what was overdue.",
                    amount=money(plan.waived, currency),
                ),
            )
        else:
            waiver_sentences = ()
        covered = [(_("What this plan covers"), money(plan.restructured, currency))]
        if plan.interest:
            covered.append(
                (
                    _(
                        "Interest at %(rate)s%% a year",
                        rate=f"{plan.interest_rate_pct.normalize():f}",
                    ),
                    money(plan.interest, currency),
                )
            )
        return Paper(
            locale=locale,
            title=_("Repayment plan agreement"),
            sender=_sender(locale, case),
            facts=(
                (_("Borrower"), loan.borrower.full_name),
                (_("Loan number"), loan.number),
                (_("Plan"), str(KIND_NAMES[PlanKind(plan.kind)])),
                (_("Accepted"), zoned_time(consent.at, zone, seconds=False)),
            ),
            sections=(
                Section(
                    heading=_("Your payments"),
                    columns=(_("#"), _("Due date"), _("Amount")),
                    rows=schedule,
                    total=(
                        _("You pay in total"),
                        "",
                        money(sum(row.amount for row in plan.installments), currency),
                    ),
                ),
                Section(
                    heading=_("What is waived"),
                    columns=(_("Item"), _("Amount")),
                    rows=tuple(covered + waived),
                    sentences=waiver_sentences,
                ),
                Section(heading=_("Terms"), sentences=breaking_terms(plan, rules), numbered=True),
                Section(
                    heading=_("Your consent"),
                    sentences=(
                        _(
                            "You accepted these terms online on %(time)s.",
                            time=zoned_time(consent.at, zone, seconds=False),
                        ),
                        _("Terms version %(version)s.", version=consent.terms_version),
                    ),
                ),
            ),
            issued=_issued(moment, zone),
            page_pattern=_page_pattern(),
            filename=f"plan-agreement-{_safe(loan.number)}-{plan.id}.pdf",
        )


# Statements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One component of what the loan owed on a day: charged by then, paid and waived by
    the end of it, and what was left."""

    due: int
    paid: int
    waived: int

    @property
    def outstanding(self) -> int:
        """What was still owed at the end of the day."""
        return self.due - self.paid - self.waived


@dataclass(frozen=True)
class LoanStatement:
    """The loan at the end of ``on`` in the borrower's zone: what was overdue, component
    by component (principal and interest of installments due before that day, fees and
    penalties charged by then), the principal not yet due, and the credit held."""

    on: date
    lines: dict[str, Line]
    not_yet_due_principal: int
    credit: int
    received: int

    @property
    def overdue(self) -> int:
        """What was overdue in all."""
        return sum(line.outstanding for line in self.lines.values())


def statement_refusal(case: Case, on: date, today: date) -> StatementRefusal | None:
    """Why no statement can be made for ``on`` (before the loan began, or after the
    borrower's today), or None."""
    if on < case.loan.start_date:
        return StatementRefusal.BEFORE_LOAN
    if on > today:
        return StatementRefusal.FUTURE
    return None


def _end_of(on: date, zone: str) -> datetime:
    """The first moment after ``on`` on the borrower's clock."""
    return datetime.combine(on + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))


def _after(moment: datetime | None, cut: datetime) -> bool:
    return moment is not None and as_utc(moment) >= cut


# An item of the loan: ("charge", its id), or an installment's component and its id.
Item = tuple[str, int | None]


def _sums(items: Iterable[tuple[str, int | None, int | None, int]]) -> dict[Item, int]:
    """Amounts summed per item of the loan."""
    totals: dict[Item, int] = defaultdict(int)
    for target, charge_id, installment_id, amount in items:
        if charge_id is not None:
            totals[("charge", charge_id)] += amount
        elif installment_id is not None:
            totals[(target, installment_id)] += amount
        else:
            totals[(target, None)] += amount
    return totals


def loan_statement(db: Session, case: Case, on: date) -> LoanStatement:
    """The loan as it stood at the end of ``on`` (see ``LoanStatement``): today's figures,
    less what the ledger booked after that day."""
    loan = case.loan
    cut = _end_of(on, loan.borrower.timezone)
    payments = list(db.scalars(select(Payment).where(Payment.case_id == case.id)))
    payment_ids = [p.id for p in payments]
    allocations = (
        list(db.scalars(select(Allocation).where(Allocation.payment_id.in_(payment_ids))))
        if payment_ids
        else []
    )
    waivers = list(
        db.scalars(
            select(Waiver).join(Plan, Plan.id == Waiver.plan_id).where(Plan.case_id == case.id)
        )
    )
    adjustments = list(
        db.scalars(
            select(HoldAdjustment).where(
                HoldAdjustment.case_id == case.id,
                HoldAdjustment.status == AdjustmentStatus.APPLIED,
            )
        )
    )
    paid_later = _sums(
        (a.target, a.charge_id, a.installment_id, a.amount)
        for a in allocations
        if _after(a.booked_at, cut)
    )
    # Waived since: granted after the day, less what was taken back after it (a waiver
    # reinstated after the day still stood on it), plus dispute corrections applied after.
    waived_later = _sums(
        [
            *(
                (w.target, w.charge_id, w.installment_id, w.amount)
                for w in waivers
                if _after(w.granted_at, cut)
            ),
            *(
                (w.target, w.charge_id, w.installment_id, -w.amount)
                for w in waivers
                if _after(w.reinstated_at, cut)
            ),
            *(
                (h.target, h.charge_id, h.installment_id, h.amount)
                for h in adjustments
                if _after(h.applied_at, cut)
            ),
        ]
    )
    lines = {name: [0, 0, 0] for name in COMPONENTS}
    not_yet_due = 0
    for row in loan.installments:
        for target, due, paid, waived in (
            ("principal", row.principal_due, row.principal_paid, row.principal_waived),
            ("interest", row.interest_due, row.interest_paid, row.interest_waived),
        ):
            paid_then = paid - paid_later.get((target, row.id), 0)
            waived_then = waived - waived_later.get((target, row.id), 0)
            if row.due_date < on:
                lines[target][0] += due
                lines[target][1] += paid_then
                lines[target][2] += waived_then
            elif target == "principal":
                not_yet_due += due - paid_then - waived_then
    for charge in loan.charges:
        if charge.charged_on > on or charge.kind not in lines:
            continue
        line = lines[charge.kind]
        line[0] += charge.amount
        line[1] += charge.paid - paid_later.get(("charge", charge.id), 0)
        line[2] += charge.waived - waived_later.get(("charge", charge.id), 0)
    credit = sum(
        a.amount for a in allocations if a.target == "credit" and not _after(a.booked_at, cut)
    )
    received = sum(
        p.amount
        for p in payments
        if p.status == PaymentStatus.SUCCEEDED
        and p.confirmed_at is not None
        and not _after(p.confirmed_at, cut)
    )
    return LoanStatement(
        on=on,
        lines={name: Line(*values) for name, values in lines.items()},
        not_yet_due_principal=not_yet_due,
        credit=credit,
        received=received,
    )


def statement_for(db: Session, case: Case, on: date, locale: str, moment: datetime) -> Paper:
    """The statement of the loan at the end of ``on``, in ``locale`` (the caller checked
    the day with ``statement_refusal``)."""
    loan = case.loan
    zone = loan.borrower.timezone
    currency = loan.currency
    figures = loan_statement(db, case, on)
    with force_locale(locale):
        names = {
            "principal": _("Principal"),
            "interest": _("Interest"),
            "fee": _("Fees"),
            "penalty": _("Penalties"),
        }
        rows = tuple(
            (
                names[name],
                money(line.due, currency),
                money(line.paid, currency),
                money(line.waived, currency),
                money(line.outstanding, currency),
            )
            for name, line in figures.lines.items()
        )
        lines = figures.lines.values()
        total = (
            _("Total overdue"),
            money(sum(line.due for line in lines), currency),
            money(sum(line.paid for line in lines), currency),
            money(sum(line.waived for line in lines), currency),
            money(figures.overdue, currency),
        )
        after = [
            _(
                "Not yet due: %(amount)s of principal, paid in your regular installments.",
                amount=money(figures.not_yet_due_principal, currency),
            ),
            _(
                "Payments received up to this day: %(amount)s.",
                amount=money(figures.received, currency),
            ),
        ]
        if figures.credit:
            after.append(
                _(
                    "Credit kept for what you owe next: %(amount)s.",
                    amount=money(figures.credit, currency),
                )
            )
        return Paper(
            locale=locale,
            title=_("Statement of your loan"),
            sender=_sender(locale, case),
            facts=(
                (_("Borrower"), loan.borrower.full_name),
                (_("Loan number"), loan.number),
                (_("Statement date"), str(long_date(on))),
            ),
            sections=(
                Section(
                    heading=_("What was overdue at the end of %(date)s", date=long_date(on)),
                    columns=(_("Item"), _("Amount due"), _("Paid"), _("Waived"), _("Outstanding")),
                    rows=rows,
                    total=total,
                    sentences=tuple(after),
                ),
            ),
            issued=_issued(moment, zone),
            page_pattern=_page_pattern(),
            filename=f"statement-{_safe(loan.number)}-{on.isoformat()}.pdf",
        )


def paper_pdf(paper: Paper) -> bytes:
    """The paper as an A4 PDF (reportlab is loaded here, on first use)."""
    from portal.letters.papers_pdf import render_paper

    return render_paper(paper)


def statement_today(case: Case, moment: datetime) -> date:
    """The borrower's today: the statement's default day and its latest."""
    return borrower_today(case.loan.borrower.timezone, moment)
