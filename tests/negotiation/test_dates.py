from datetime import date

import pytest

from negotiation.dates import Frequency, add_months, due_dates


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (
            date(2027, 1, 31),
            [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)],
        ),
        (
            date(2028, 1, 31),  # a leap year: February has 29 days
            [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)],
        ),
        (
            date(2026, 11, 30),
            [date(2026, 11, 30), date(2026, 12, 30), date(2027, 1, 30), date(2027, 2, 28)],
        ),
        (
            date(2026, 12, 15),
            [date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15), date(2027, 3, 15)],
        ),
    ],
)
def test_monthly_dates_clamp_to_month_end_and_keep_their_day(first, expected):
    assert due_dates(first, 4, Frequency.MONTHLY) == expected


def test_biweekly_and_weekly():
    start = date(2026, 12, 28)
    assert due_dates(start, 3, Frequency.BIWEEKLY) == [
        date(2026, 12, 28),
        date(2027, 1, 11),
        date(2027, 1, 25),
    ]
    assert due_dates(start, 3, Frequency.WEEKLY) == [
        date(2026, 12, 28),
        date(2027, 1, 4),
        date(2027, 1, 11),
    ]


def test_add_months_crosses_years_both_ways():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 3, 31), -1) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 15), 24) == date(2028, 1, 15)


@pytest.mark.parametrize(
    ("frequency", "periods"),
    [(Frequency.MONTHLY, 12), (Frequency.BIWEEKLY, 26), (Frequency.WEEKLY, 52)],
)
def test_periods_per_year(frequency, periods):
    assert frequency.periods_per_year == periods
