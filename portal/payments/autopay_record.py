"""What staff see of a case's automatic payments: each mandate (on, waiting for its card,
or off and why), the card it charges, and every attempt with what it came to. Reads
only: the agent's case page shows it (``portal.web.agent.autopay_views``), and that
page records its own view."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from negotiation import AttemptOutcome
from portal.models import Autopay, AutopayAttempt, Plan, PlanInstallment, SavedCard


@dataclass(frozen=True)
class AttemptLine:
    """One automatic charge: the installment's due date, the attempt's number (1 on the
    due date, then the retries) and day, the amount, what it came to and the provider's
    code for a refusal, and the payment it opened."""

    due_date: date
    number: int
    day: date
    amount: int
    currency: str
    outcome: AttemptOutcome
    decline_code: str | None
    payment_id: int | None


@dataclass(frozen=True)
class MandateRecord:
    """One autopay mandate of the case, its card, and its attempts, oldest first."""

    autopay: Autopay
    attempts: list[AttemptLine]

    @property
    def card(self) -> SavedCard | None:
        """The card the mandate charges (or charged)."""
        return self.autopay.card


def case_autopay(db: Session, case_id: int) -> list[MandateRecord]:
    """Every autopay mandate of the case's plans, newest first, each with its card and
    attempts. Two statements, however many attempts."""
    mandates = list(
        db.scalars(
            select(Autopay)
            .join(Plan, Plan.id == Autopay.plan_id)
            .where(Plan.case_id == case_id)
            .options(joinedload(Autopay.card))
            .order_by(Autopay.id.desc())
        )
    )
    if not mandates:
        return []
    rows = db.execute(
        select(
            AutopayAttempt.autopay_id,
            PlanInstallment.due_date,
            AutopayAttempt.number,
            AutopayAttempt.scheduled_on,
            AutopayAttempt.amount,
            AutopayAttempt.currency,
            AutopayAttempt.outcome,
            AutopayAttempt.decline_code,
            AutopayAttempt.payment_id,
        )
        .join(PlanInstallment, PlanInstallment.id == AutopayAttempt.installment_id)
        .where(AutopayAttempt.autopay_id.in_([m.id for m in mandates]))
        .order_by(PlanInstallment.due_date, AutopayAttempt.number, AutopayAttempt.id)
    )
    attempts: dict[int, list[AttemptLine]] = defaultdict(list)
    for autopay_id, due, number, day, amount, currency, outcome, code, payment_id in rows:
        attempts[autopay_id].append(
            AttemptLine(due, number, day, amount, currency, outcome, code, payment_id)
        )
    return [MandateRecord(m, attempts[m.id]) for m in mandates]
