from decimal import Decimal

import pytest

from negotiation.money import Currency, ceil_to_step, per_period, percent_of, split_evenly


@pytest.mark.parametrize(
    ("total", "count", "step", "expected"),
    [
        (100, 1, 1, [100]),
        (100, 3, 1, [33, 33, 34]),
        (1, 3, 1, [0, 0, 1]),
        (0, 2, 1, [0, 0]),
        (1_000_050, 4, 100, [250_000, 250_000, 250_000, 250_050]),
        (99_999, 2, 100, [49_900, 50_099]),
        (1200, 12, 100, [100] * 12),
    ],
)
def test_split_evenly_sums_exactly_with_remainder_last(total, count, step, expected):
    parts = split_evenly(total, count, step)
    assert parts == expected
    assert sum(parts) == total


@pytest.mark.parametrize(("total", "count"), [(10, 0), (-1, 2)])
def test_split_evenly_refuses_nonsense(total, count):
    with pytest.raises(ValueError, match="must"):
        split_evenly(total, count)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (45_000, Decimal(50), 22_500),
        (45_001, Decimal(50), 22_500),  # rounded down: a cap is never exceeded
        (999, Decimal("33.3"), 332),
        (0, Decimal(100), 0),
        (12_345, Decimal(100), 12_345),
    ],
)
def test_percent_of_rounds_down(amount, percent, expected):
    assert percent_of(amount, percent) == expected


def test_ceil_to_step():
    assert ceil_to_step(Decimal("100.01"), 100) == 200
    assert ceil_to_step(Decimal(200), 100) == 200
    assert ceil_to_step(Decimal("0.2"), 1) == 1


@pytest.mark.parametrize(
    ("monthly", "periods", "round_up", "expected"),
    [(1300, 52, False, 300), (1301, 52, False, 300), (1301, 52, True, 301), (1300, 12, True, 1300)],
)
def test_per_period(monthly, periods, round_up, expected):
    assert per_period(monthly, periods, round_up=round_up) == expected


def test_taiwan_dollar_installments_are_whole_dollars():
    assert Currency.TWD.installment_step == 100
    assert {c.installment_step for c in (Currency.CNY, Currency.HKD, Currency.USD)} == {1}
    assert all(c.minor_digits == 2 for c in Currency)
