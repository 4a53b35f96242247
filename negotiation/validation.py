"""The validation notice's figures and dates (US Regulation F, 12 CFR 1006.34).

A debt collector gives the borrower the validation information in the initial
communication about a debt or within five days after it (1006.34(a)(1)). As a
first-party lender we are likely not a "debt collector" under Regulation F, so it may not
bind us: following it is the lender's choice (``validation_notice`` in the policy's
contact tables), as for the US hours and call caps.

Decisions documented here, for the lender to confirm:

- The itemization date (1006.34(b)(3)) is the loan's transaction date, its start
  (1006.34(b)(3)(iv)): what was owed then is the principal lent (the installments'
  principal), and everything since is itemized from the loan's own records.
- Interest since: the interest of every installment fallen due, and of a later one what
  was already paid or waived on it. Fees since: every fee and penalty charged. Payments
  and credits since: everything paid or waived. So the current amount is exactly what
  the borrower owes today (the arrears and the principal not yet due).
- The validation period ends 30 days after the borrower receives the notice
  (1006.34(b)(5)). An email is taken to be received when it is sent; a letter five
  business days (Monday to Friday) after it is posted, the safe harbor of
  1006.34(b)(5) for the receipt of a mailed notice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

VALIDATION_PERIOD_DAYS = 30
LETTER_RECEIPT_BUSINESS_DAYS = 5


@dataclass(frozen=True)
class DueItem:
    """One installment's figures, minor units."""

    due_date: date
    principal_due: int
    interest_due: int
    principal_paid: int
    interest_paid: int
    principal_waived: int
    interest_waived: int


@dataclass(frozen=True)
class ChargeItem:
    """One fee or penalty, minor units."""

    amount: int
    paid: int
    waived: int


@dataclass(frozen=True)
class Itemization:
    """The debt on the itemization date and what changed it since, minor units."""

    itemization_date: date
    amount_then: int
    interest: int
    fees: int
    payments: int
    credits: int

    @property
    def current(self) -> int:
        """What is owed now: the amount then, plus interest and fees, less payments and
        credits since."""
        return self.amount_then + self.interest + self.fees - self.payments - self.credits


def itemize(
    start: date, installments: Iterable[DueItem], charges: Iterable[ChargeItem], today: date
) -> Itemization:
    """The itemization of a loan started on ``start``, as it stands on ``today``."""
    items = tuple(installments)
    fees = tuple(charges)
    return Itemization(
        itemization_date=start,
        amount_then=sum(item.principal_due for item in items),
        interest=sum(
            item.interest_due
            if item.due_date < today
            else item.interest_paid + item.interest_waived
            for item in items
        ),
        fees=sum(charge.amount for charge in fees),
        payments=sum(item.principal_paid + item.interest_paid for item in items)
        + sum(charge.paid for charge in fees),
        credits=sum(item.principal_waived + item.interest_waived for item in items)
        + sum(charge.waived for charge in fees),
    )


def add_business_days(day: date, count: int) -> date:
    """``count`` business days (Monday to Friday) after ``day``."""
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def validation_period_end(sent: date, *, by_letter: bool) -> date:
    """The last day of the validation period for a notice sent (or posted) on ``sent``:
    30 days after its receipt (the day it is sent for an email, five business days later
    for a letter)."""
    received = add_business_days(sent, LETTER_RECEIPT_BUSINESS_DAYS) if by_letter else sent
    return received + timedelta(days=VALIDATION_PERIOD_DAYS)
