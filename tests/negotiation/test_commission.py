"""A partner agency's commission (``negotiation.commission``): exact on the net collected,
clawed back exactly, for any sequence of payments and partial refunds.

The reference rounding is recomputed here with ``Fraction`` (half to even by hand), not
with the module's ``Decimal`` call."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from negotiation.commission import book, book_all, commission_on, liquidation_rate

RATES = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)


def half_even(value: Fraction) -> int:
    """``value`` to the nearest integer, a half to the even one."""
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


@st.composite
def histories(draw: st.DrawFn) -> list[int]:
    """Payments (positive) and partial refunds or chargebacks of them (negative), never
    taking back more from a payment than it brought."""
    kept: list[int] = []
    movements: list[int] = []
    for _ in range(draw(st.integers(1, 40))):
        refundable = [i for i, amount in enumerate(kept) if amount > 0]
        if refundable and draw(st.booleans()):
            which = draw(st.sampled_from(refundable))
            back = draw(st.integers(1, kept[which]))
            kept[which] -= back
            movements.append(-back)
        else:
            amount = draw(st.integers(1, 10**9))
            kept.append(amount)
            movements.append(amount)
    return movements


@settings(max_examples=400, deadline=None)
@given(histories(), RATES)
@example([1, -1], Decimal("0.5"))
@example([3, -1, -1, -1], Decimal("0.5"))
@example([101, -1, -1, -1, -1, -1], Decimal("0.1250"))
def test_total_commission_is_the_rate_on_the_net_collected(
    movements: list[int], rate: Decimal
) -> None:
    """Whatever the order of payments and partial refunds, what was booked sums to
    round-half-even(rate * net collected): no drift from rounding each line."""
    entries = book_all(movements, rate)
    net = sum(movements)
    assert sum(e.commission for e in entries) == half_even(Fraction(rate) * net)


@settings(max_examples=300, deadline=None)
@given(histories(), RATES)
def test_net_and_commission_never_go_below_zero(movements: list[int], rate: Decimal) -> None:
    """At every step the net collected and the commission earned so far are at least
    zero: a clawback never takes back more than was earned."""
    entries = book_all(movements, rate)
    assert all(e.net_after >= 0 and e.commission_after >= 0 for e in entries)


@settings(max_examples=300, deadline=None)
@given(histories(), RATES)
@example([3, -2], Decimal("0.5"))  # 1.5 → 2, then 0.5 → 0: a clawback of 2 for 1
def test_each_clawback_is_the_rate_on_the_refunded_part(
    movements: list[int], rate: Decimal
) -> None:
    """A refund's clawback is the rate on what it took back, to within the one minor
    unit that rounding the running total may move (and never of the wrong sign)."""
    for entry in book_all(movements, rate):
        exact = Fraction(rate) * entry.moved
        assert abs(entry.commission - exact) <= 1
        assert entry.commission * entry.moved >= 0


@given(histories(), RATES)
def test_refunding_everything_claws_back_everything(movements: list[int], rate: Decimal) -> None:
    """Once every payment is refunded in full, the agency has earned nothing."""
    refunds = [-amount for amount in movements if amount > 0]
    paid = [amount for amount in movements if amount > 0]
    entries = book_all([*paid, *refunds], rate)
    assert entries[-1].commission_after == 0


@pytest.mark.parametrize(
    ("net", "rate", "expected"),
    [
        (100, Decimal("0.15"), 15),
        (5, Decimal("0.5"), 2),  # 2.5 goes to the even 2
        (7, Decimal("0.5"), 4),  # 3.5 goes to the even 4
        (0, Decimal("0.15"), 0),
        (-5, Decimal("0.15"), 0),
    ],
)
def test_commission_on_rounds_half_to_even(net: int, rate: Decimal, expected: int) -> None:
    """The stated rule, on the halves."""
    assert commission_on(net, rate) == expected


@pytest.mark.parametrize("rate", [Decimal("15"), Decimal("-0.1"), Decimal("NaN")])
def test_a_rate_that_is_not_a_fraction_is_refused(rate: Decimal) -> None:
    """15 for 15% is a typo, not a rate."""
    with pytest.raises(ValueError, match="commission rate"):
        commission_on(100, rate)


def test_a_refund_after_a_payment_books_the_difference() -> None:
    """Paid 1,005 at 15% (150.75 to 151), then 5 refunded (1,000 → 150): a clawback of 1."""
    paid = book(0, 0, 1005, Decimal("0.15"))
    refunded = book(paid.net_after, paid.commission_after, -5, Decimal("0.15"))
    assert (paid.commission, refunded.commission) == (151, -1)


def test_liquidation_rate() -> None:
    """Collected over placed, to four places; nothing placed has no rate."""
    assert (liquidation_rate(1, 3), liquidation_rate(5, 0)) == (Decimal("0.3333"), None)
