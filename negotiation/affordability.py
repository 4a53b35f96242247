"""Income-and-expenditure statements and what a borrower can afford to pay.

Modelled on the UK Standard Financial Statement: income less essential spending gives
the disposable income; the policy's affordability ratio of it may go to the plan, which
leaves a buffer for the unexpected. Spending above the guideline for the household size
is flagged for a person to look at, never refused: the borrower knows their life.
"""

from __future__ import annotations

from dataclasses import dataclass

from negotiation.dates import Frequency
from negotiation.money import Currency, per_period, percent_of
from negotiation.policy import ExpenseCategory, Policy

MAX_HOUSEHOLD = 20


@dataclass(frozen=True)
class Statement:
    """A borrower's monthly income and spending, in minor units.

    ``other_debt_payments`` are payments on other debts; the installment of the loan
    being negotiated is not among them.
    """

    net_monthly_income: int
    household_size: int = 1
    housing: int = 0
    utilities: int = 0
    food: int = 0
    transport: int = 0
    other_debt_payments: int = 0
    other: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.household_size <= MAX_HOUSEHOLD:
            raise ValueError(f"household_size must be between 1 and {MAX_HOUSEHOLD}")
        for name in (
            "net_monthly_income",
            "housing",
            "utilities",
            "food",
            "transport",
            "other_debt_payments",
            "other",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"statement.{name} must not be negative")

    @property
    def total_expenses(self) -> int:
        """All monthly spending, debts on other loans included."""
        return (
            self.housing
            + self.utilities
            + self.food
            + self.transport
            + self.other_debt_payments
            + self.other
        )

    def expense(self, category: ExpenseCategory) -> int:
        """The amount on one guideline-checked expense line."""
        return int(getattr(self, category.value))


@dataclass(frozen=True)
class ExpenseFlag:
    """An expense line above the guideline for the household: for review, not refusal."""

    category: ExpenseCategory
    amount: int
    guideline: int


@dataclass(frozen=True)
class Assessment:
    """What a statement says the borrower can pay each month."""

    disposable_income: int
    affordable_monthly: int
    flags: tuple[ExpenseFlag, ...]

    def affordable_per(self, frequency: Frequency) -> int:
        """The affordable installment at ``frequency`` (rounded down)."""
        return per_period(self.affordable_monthly, frequency.periods_per_year)


def assess(statement: Statement, policy: Policy, currency: Currency) -> Assessment:
    """Disposable income, the affordable monthly payment, and flagged expenses."""
    disposable = statement.net_monthly_income - statement.total_expenses
    affordable = percent_of(max(disposable, 0), policy.affordability_ratio_pct)
    household = statement.household_size
    flags = tuple(
        ExpenseFlag(category, statement.expense(category), guideline)
        for category, line, first, each_further in policy.guideline_lines(currency)
        if int(getattr(statement, line)) > (guideline := first + each_further * (household - 1))
    )
    return Assessment(disposable, affordable, flags)
