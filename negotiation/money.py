"""Money as integers in a currency's minor unit, and exact arithmetic on it.

No float ever decides an amount. Percentages and rates are ``Decimal``; any product of an
amount and a rate is rounded once, explicitly, back to an integer of minor units. (The
floats in the engine are ``plans.level_payment``'s estimate, used only when it proves that
Decimal's quotient rounds to the same step either way, otherwise Decimal computes it; and
``rules.Schedules``' bounds on a range of terms, which with a wide allowance for their
error only decide that a search need not try each term.)
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import lru_cache

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


# Decimal's default context keeps 28 significant digits; the engine never changes it.
_PRECISION = 28


@lru_cache(maxsize=512, typed=True)
def _fraction(percent: Decimal) -> tuple[int, int, int] | None:
    """``percent`` / 100 as an exact fraction, and the bound below which an amount's
    product with ``percent`` has at most 28 digits (so Decimal computes it exactly, and
    integer arithmetic gives the same result); None when it is not a finite number."""
    if not isinstance(percent, Decimal) or not percent.is_finite():
        return None
    numerator, denominator = percent.as_integer_ratio()
    # Digits of this representation: never fewer than the value's significant digits, so
    # the bound is safe for any equal Decimal the cache may answer for.
    digits = len(percent.as_tuple().digits)
    return numerator, denominator * 100, 10 ** max(_PRECISION - digits, 0)


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount``, rounded down: a cap computed this way is never exceeded."""
    fraction = _fraction(percent)
    if fraction is not None and -fraction[2] < amount < fraction[2]:
        # Exactly Decimal's answer (the product is exact at 28 digits, dividing by 100
        # only moves the point), in integers: a fraction of the time.
        return amount * fraction[0] // fraction[1]
    return int((Decimal(amount) * percent / HUNDRED).to_integral_value(ROUND_FLOOR))


def percent_up_to_step(amount: int, percent: Decimal, step: int) -> int:
    """``percent`` % of ``amount`` rounded up to a whole multiple of ``step``: what
    ``ceil_to_step(Decimal(amount) * percent / HUNDRED, step)`` gives."""
    fraction = _fraction(percent)
    if fraction is not None and step in (1, 100) and -fraction[2] < amount < fraction[2]:
        # Exact as in percent_of: dividing by a step of 1 or 100 only moves the point.
        return -(-amount * fraction[0] // (fraction[1] * step)) * step
    return ceil_to_step(Decimal(amount) * percent / HUNDRED, step)


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
