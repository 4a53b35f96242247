"""Every loan of one borrower, as their own pages list them (issue 20): one verification
shows them all, each with what is overdue on it, its stage and its plan, and the borrower
moves between them without verifying again.

Which loans: every loan of the borrower whose case is not resolved, and the one being
looked at even if it is (a borrower who just paid it off still sees it). The figures are
the status page's own (``portal.cases.facts.views_of``: the same engine on the same
rows), on the borrower's today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from negotiation import Stage
from portal.cases.facts import views_of
from portal.cases.overdue import borrower_today
from portal.core.db import MAX_ID
from portal.models import Case, CaseStatus, Loan, Payment


@dataclass(frozen=True)
class LoanLine:
    """One loan on the borrower's list."""

    case_id: int
    number: str
    currency: str
    overdue: int  # minor units of ``currency``
    days_past_due: int
    stage: Stage
    status: CaseStatus
    plan_status: str | None  # the live plan's status (pending, active), or None
    current: bool  # the loan the pages now show


def loans_of(
    db: Session, borrower_id: int, current_case_id: int, moment: datetime
) -> list[LoanLine]:
    """The borrower's loans (see the module's docstring), oldest loan first."""
    cases = db.scalars(
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .where(
            Loan.borrower_id == borrower_id,
            or_(Case.status != CaseStatus.RESOLVED, Case.id == current_case_id),
        )
        .options(joinedload(Case.loan).joinedload(Loan.borrower))
        .order_by(Loan.id)
    ).all()
    if not cases:
        return []
    today = borrower_today(cases[0].loan.borrower.timezone, moment)
    views = views_of(db, [(case, today) for case in cases])
    lines = []
    for case in cases:
        view = views[case.id]
        lines.append(
            LoanLine(
                case_id=case.id,
                number=case.loan.number,
                currency=case.loan.currency,
                overdue=view.snapshot.arrears.total,
                days_past_due=view.snapshot.days_past_due,
                stage=view.stage,
                status=case.status,
                plan_status=view.plan.status if view.plan is not None else None,
                current=case.id == current_case_id,
            )
        )
    return lines


def currency_to_show(db: Session, borrower_id: int, case_id: int) -> str | None:
    """The currency of ``case_id``'s loan when a borrower verified as ``borrower_id`` may
    look at it: a case of a loan of theirs that is not resolved. None for any other id
    (another person's, a resolved one, one that does not exist), saying nothing of which."""
    if not 0 < case_id <= MAX_ID:
        return None
    return db.scalar(
        select(Loan.currency)
        .join(Case, Case.loan_id == Loan.id)
        .where(
            Case.id == case_id,
            Loan.borrower_id == borrower_id,
            Case.status != CaseStatus.RESOLVED,
        )
    )


def case_of_payment(
    db: Session, borrower_id: int, *, payment_id: int | None = None, reference: str | None = None
) -> tuple[int, str] | None:
    """The case (and its loan's currency) of a payment of the borrower's, by its id or its
    gateway reference, when that case is one the borrower may look at (see
    ``currency_to_show``): a payment opened on one loan, then returned to or paid after
    the borrower moved to another. None for another person's payment or an unknown one."""
    query = select(Payment.case_id)
    if payment_id is not None:
        if not 0 < payment_id <= MAX_ID:
            return None
        query = query.where(Payment.id == payment_id)
    elif reference:
        query = query.where(Payment.gateway_reference == reference)
    else:
        return None
    case_id = db.scalar(query.limit(1))
    if case_id is None:
        return None
    currency = currency_to_show(db, borrower_id, case_id)
    return (case_id, currency) if currency is not None else None
