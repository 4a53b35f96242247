"""Money as integers in a currency's minor unit, and exact arithmetic on it.

No float ever touches an amount. Percentages and rates are ``Decimal``; any product of an
amount and a rate is rounded once, explicitly, back to an integer of minor units.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

HUNDRED = Decimal(100)


class Currency(StrEnum):
    """The currencies Haohuan lends in (and USD for tests)."""

    TWD = "TWD"
    CNY = "CNY"
    HKD = "HKD"
    USD = "USD"

    @property
    def minor_digits(self) -> int:
        """Digits after the decimal point in the minor unit (ISO 4217, as Stripe expects)."""
        return 2

    @property
    def installment_step(self) -> int:
        """The granularity, in minor units, that planned installments are rounded to.

        Taiwan dollars are charged in whole dollars in practice (CLDR gives TWD no cash
        digits and Stripe requires TWD amounts divisible by 100), so a TWD plan's regular
        installments are whole dollars; the last installment absorbs any cents.
        """
        return 100 if self is Currency.TWD else 1


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount``, rounded down: a cap computed this way is never exceeded."""
    return int((Decimal(amount) * percent / HUNDRED).to_integral_value(ROUND_FLOOR))


def ceil_to_step(value: Decimal, step: int) -> int:
    """Round a Decimal amount up to a whole multiple of ``step`` minor units."""
    return int((value / step).to_integral_value(ROUND_CEILING)) * step


def split_evenly(total: int, count: int, step: int = 1) -> list[int]:
    """Split ``total`` into ``count`` parts that sum exactly to it.

    Every part but the last is the same multiple of ``step``; the last carries the
    rounding remainder, so it is never smaller than the others.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if total < 0:
        raise ValueError("total must not be negative")
    base = (total // count) // step * step
    return [base] * (count - 1) + [total - base * (count - 1)]


def per_period(monthly: int, periods_per_year: int, *, round_up: bool = False) -> int:
    """Convert a monthly amount to the same amount per period of another frequency."""
    numerator = monthly * 12
    if round_up:
        return -(-numerator // periods_per_year)
    return numerator // periods_per_year
