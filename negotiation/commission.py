"""A partner agency's commission on what a placed case collects, and its clawback.

The rule, exact and stated once:

- The agency earns ``rate`` (a ``Decimal`` fraction, 0.15 for 15%) of what its
  placement collected: the **net** amount allocated to the loan (minor units) by the
  payments confirmed while the case was placed, less what refunds and chargebacks took
  back from them. Net is never below zero.
- The commission on a net amount ``N`` is ``rate * N`` rounded to a whole minor unit,
  half to even (``ROUND_HALF_EVEN``, banker's rounding: 0.5 of a cent goes to the even
  cent, so halves do not all go one way).
- Each movement (a payment, a refund, a chargeback, a won chargeback's return) books the
  **difference** between the commission on the placement's cumulative net after it and
  what was already booked. A refund's entry is negative: the clawback.

So the sum of everything booked on a placement is always exactly
``commission_on(net collected)``, whatever the order of payments and partial refunds:
no per-line rounding adds up to drift, and a clawback never takes back more than was
earned. Standard library only; values in and out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

ROUNDING = ROUND_HALF_EVEN


def check_rate(rate: Decimal) -> None:
    """Refuse a rate that is not a fraction from 0 to 1 (a typo such as 15 for 15%)."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or not Decimal(0) <= rate <= 1:
        raise ValueError(f"a commission rate is a Decimal from 0 to 1, not {rate!r}")


def commission_on(net: int, rate: Decimal) -> int:
    """The commission on a net collected amount: ``rate * net`` to a whole minor unit,
    half to even; nothing on a net of zero or less."""
    check_rate(rate)
    if net <= 0:
        return 0
    return int((rate * net).to_integral_value(rounding=ROUNDING))


@dataclass(frozen=True)
class Booking:
    """One movement's entry: the net collected and the commission, both cumulative
    after it, and ``commission`` the change to book (negative: a clawback)."""

    moved: int
    net_after: int
    commission: int
    commission_after: int


def book(net_before: int, booked_before: int, moved: int, rate: Decimal) -> Booking:
    """The entry for one movement of ``moved`` minor units (negative for a refund or a
    chargeback) on a placement that had collected ``net_before`` net and booked
    ``booked_before`` commission. The net after is never taken below zero."""
    net_after = max(0, net_before + moved)
    due = commission_on(net_after, rate)
    return Booking(moved, net_after, due - booked_before, due)


def book_all(movements: Iterable[int], rate: Decimal) -> list[Booking]:
    """Each movement's entry, in order, from nothing booked."""
    entries: list[Booking] = []
    net = booked = 0
    for moved in movements:
        entry = book(net, booked, moved, rate)
        entries.append(entry)
        net, booked = entry.net_after, entry.commission_after
    return entries


def liquidation_rate(collected: int, placed: int) -> Decimal | None:
    """What a placement collected as a share of what was owed when placed (None when
    nothing was placed), to four decimal places, half to even."""
    if placed <= 0:
        return None
    return (Decimal(collected) / Decimal(placed)).quantize(Decimal("0.0001"), rounding=ROUNDING)
