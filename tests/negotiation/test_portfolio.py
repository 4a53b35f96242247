"""The buckets and the transition matrix: edges of each band, rates as exact fractions,
sums of matrices."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from negotiation.portfolio import (
    DESTINATIONS,
    OPEN_BUCKETS,
    Bucket,
    Cell,
    Matrix,
    bucket_of,
    combined,
    matrix_of,
)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-3, Bucket.CURRENT),
        (0, Bucket.CURRENT),
        (1, Bucket.D1_30),
        (30, Bucket.D1_30),
        (31, Bucket.D31_60),
        (60, Bucket.D31_60),
        (61, Bucket.D61_90),
        (90, Bucket.D61_90),
        (91, Bucket.D91_180),
        (180, Bucket.D91_180),
        (181, Bucket.D181_PLUS),
        (5000, Bucket.D181_PLUS),
    ],
)
def test_each_band_includes_both_its_ends(days, bucket):
    assert bucket_of(days) is bucket


def test_rates_are_exact_and_empty_rows_have_none():
    matrix = matrix_of(
        [
            ("1_30", "current", 2, 200),
            ("1_30", "31_60", 1, 700),
            ("1_30", "closed", 1, 100),
            ("31_60", "1_30", 1, 50),
            ("31_60", "61_90", 3, 950),
            ("current", "current", 10, 0),
        ]
    )
    assert matrix.rate(Bucket.D1_30, Bucket.CURRENT) == matrix.rate(Bucket.D1_30, "current")
    assert matrix.rate(Bucket.D1_30, Bucket.CURRENT).cases == Fraction(1, 2)
    assert matrix.rate(Bucket.D1_30, Bucket.CURRENT).amount == Fraction(200, 1000)
    assert matrix.roll_forward(Bucket.D1_30).cases == Fraction(1, 4)
    assert matrix.roll_back(Bucket.D1_30).cases == Fraction(2, 4)
    assert matrix.roll_back(Bucket.D31_60).cases == Fraction(1, 4)
    assert matrix.roll_forward(Bucket.D31_60).amount == Fraction(950, 1000)
    # Cured: to current from any overdue bucket; closed is not cured.
    assert matrix.cure_rate.cases == Fraction(2, 8)
    assert matrix.cure_rate.amount == Fraction(200, 2000)
    assert matrix.roll_back(Bucket.CURRENT).cases == 0
    assert matrix.rate(Bucket.D181_PLUS, Bucket.CLOSED).cases is None
    # current → current owes nothing: no amount share there.
    assert matrix.rate(Bucket.CURRENT, Bucket.CURRENT).amount is None
    assert matrix.column_total(Bucket.CURRENT) == Cell(12, 200)


def test_closed_is_only_a_destination_and_unknown_buckets_are_refused():
    with pytest.raises(ValueError, match="closed"):
        matrix_of([("closed", "current", 1, 0)])
    with pytest.raises(ValueError, match="2_29"):
        matrix_of([("2_29", "current", 1, 0)])


cells = st.lists(
    st.tuples(
        st.sampled_from(OPEN_BUCKETS),
        st.sampled_from(DESTINATIONS),
        st.integers(0, 1000),
        st.integers(0, 10**9),
    ),
    max_size=30,
)


@given(cells, cells)
def test_the_sum_of_two_matrices_is_the_matrix_of_their_rows(first, second):
    together = combined([matrix_of(first), matrix_of(second)])
    assert together == matrix_of(first + second)
    assert together.total == matrix_of(first).total + matrix_of(second).total
    for bucket in OPEN_BUCKETS:
        row = together.row_total(bucket)
        shares = [together.rate(bucket, then).cases for then in DESTINATIONS]
        if row.cases:
            assert sum(s for s in shares if s is not None) == 1
        else:
            assert all(s is None for s in shares)


def test_an_empty_matrix():
    empty = Matrix()
    assert empty.total == Cell()
    assert empty.cure_rate.cases is None
