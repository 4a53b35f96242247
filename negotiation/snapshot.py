"""A loan as the negotiation engine sees it on one day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from negotiation.dates import Frequency
from negotiation.money import Currency


class Hold(StrEnum):
    """Why a case is on hold: while any hold stands, nothing escalates."""

    DISPUTE = "dispute"
    HARDSHIP = "hardship"


@dataclass(frozen=True)
class Arrears:
    """What is overdue, itemised, in minor units."""

    principal: int = 0
    interest: int = 0
    fees: int = 0
    penalties: int = 0

    def __post_init__(self) -> None:
        for name in ("principal", "interest", "fees", "penalties"):
            if getattr(self, name) < 0:
                raise ValueError(f"arrears.{name} must not be negative")

    @property
    def total(self) -> int:
        """Everything overdue."""
        return self.principal + self.interest + self.fees + self.penalties


@dataclass(frozen=True)
class LoanSnapshot:
    """One loan's position on ``as_of``: what is overdue, what is still to come, and why.

    ``regular_installment`` is the contractual installment at ``frequency``; it keeps
    falling due beside an arrears plan and is replaced by a restructure.
    """

    as_of: date
    currency: Currency
    arrears: Arrears
    not_yet_due_principal: int
    regular_installment: int
    days_past_due: int
    frequency: Frequency = Frequency.MONTHLY
    restructures_last_12_months: int = 0
    holds: frozenset[Hold] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.not_yet_due_principal < 0:
            raise ValueError("not_yet_due_principal must not be negative")
        if self.regular_installment < 0:
            raise ValueError("regular_installment must not be negative")
        if self.days_past_due < 0:
            raise ValueError("days_past_due must not be negative")
        if self.restructures_last_12_months < 0:
            raise ValueError("restructures_last_12_months must not be negative")
        if self.days_past_due > 0 and self.arrears.total == 0:
            raise ValueError("a loan that is days past due must have arrears")

    @property
    def outstanding(self) -> int:
        """Everything the borrower owes: the arrears and the principal not yet due."""
        return self.arrears.total + self.not_yet_due_principal

    @property
    def first_missed_due_date(self) -> date | None:
        """The oldest unpaid due date, from which days past due are counted."""
        if self.days_past_due == 0:
            return None
        return self.as_of - timedelta(days=self.days_past_due)

    def date_at_days_past_due(self, days: int) -> date:
        """The date on which the loan is (or was) ``days`` days past due, if unpaid."""
        return self.as_of + timedelta(days=days - self.days_past_due)

    @property
    def on_hold(self) -> bool:
        """True while a dispute or declared hardship stands."""
        return bool(self.holds)
