"""A currency's minor unit: how many digits follow the decimal point, so an amount stored
in minor units is read, typed and shown in the currency's own major unit.

One function answers it for every currency: the engine's ``Currency.minor_digits`` for
the currencies Haohuan lends in, and ISO 4217's exponent as Stripe charges it for any
other a payment or a Stripe line may carry (0 for the yen or the won, 3 for the dinars).
"""

from __future__ import annotations

import re
from decimal import Decimal

from negotiation.money import Currency

# Most currencies count in hundredths.
DEFAULT_DIGITS = 2
# ISO 4217 currencies without a minor unit, as Stripe lists them.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
# ISO 4217 currencies with thousandths.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def minor_digits(currency: str) -> int:
    """Digits after the decimal point in ``currency``'s minor unit."""
    if currency in Currency.__members__:
        return Currency(currency).minor_digits
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else DEFAULT_DIGITS


def minor_per_major(currency: str) -> int:
    """Minor units in one whole unit of ``currency`` (100 for NT$, 1 for ¥)."""
    return int(10 ** minor_digits(currency))


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units as an exact decimal amount of the currency (12345 TWD is 123.45)."""
    return Decimal(amount).scaleb(-minor_digits(currency))


def to_minor_exact(amount: Decimal, currency: str) -> int:
    """An exact decimal amount of the currency in minor units (123.45 TWD is 12345);
    raises ``ValueError`` when it has more decimals than the currency's minor unit."""
    minor = amount.scaleb(minor_digits(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} {currency} is finer than the currency's minor unit")
    return int(minor)


def unusual_digits() -> dict[str, int]:
    """Every currency whose minor unit is not a hundredth, with its digits: what a query
    over loans of several currencies needs to scale each one's amounts."""
    return {code: minor_digits(code) for code in sorted(ZERO_DECIMAL | THREE_DECIMAL)}


def parse_rates(text: str) -> dict[str, Decimal]:
    """``CNY=4.45,HKD=4.1`` (the value of one unit of each currency in the reporting
    currency, as exact decimals) as a mapping; raises ``ValueError`` naming what is wrong."""
    rates: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, _, rate = (piece.strip() for piece in item.partition("="))
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"{item!r}: {code!r} is not a currency code such as CNY")
        if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,9})?", rate) or Decimal(rate) == 0:
            raise ValueError(f"{item!r}: the rate must be a positive decimal such as 4.45")
        rates[code] = Decimal(rate)
    return rates
