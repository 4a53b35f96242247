"""How the book moves from one month-end to the next: the days-past-due buckets, and the
transition matrix (roll rates) between two month-ends with its cure, roll-forward and
roll-back rates. Values in, values out; rates are exact fractions, never floats.

Definitions (``docs/reporting.md`` says them in words):

- **Bucket**: a case's days past due at a month-end, on the borrower's own calendar:
  current (0), 1-30, 31-60, 61-90, 91-180, over 180.
- **Transition**: where each case that was in bucket *a* at one month-end sits at the next
  month-end: a bucket, or *closed* (the case resolved in between: paid off or settled,
  and no longer in the book).
- **Roll rate** *a → b*: the cases (or the overdue amount) in *a* at the first month-end
  that are in *b* at the next, over all the cases (amount) in *a* at the first.
- **Cure rate**: of the cases overdue at the first month-end (any bucket past current),
  the share that are back to current at the next. A case closed in between (paid off or
  settled) is not cured: it left the book, and has the closed column of its own.
- **Roll forward** from *a*: the share that moved to a later bucket; **roll back**: to an
  earlier bucket, current included (closed counts as neither: it is its own column).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction


class Bucket(StrEnum):
    """A band of days past due at a month-end, in order; CLOSED only as a destination."""

    CURRENT = "current"
    D1_30 = "1_30"
    D31_60 = "31_60"
    D61_90 = "61_90"
    D91_180 = "91_180"
    D181_PLUS = "181_plus"
    CLOSED = "closed"


# The buckets a case can be in at a month-end, in order of days past due.
OPEN_BUCKETS: tuple[Bucket, ...] = (
    Bucket.CURRENT,
    Bucket.D1_30,
    Bucket.D31_60,
    Bucket.D61_90,
    Bucket.D91_180,
    Bucket.D181_PLUS,
)
# Where a case can be at the next month-end.
DESTINATIONS: tuple[Bucket, ...] = (*OPEN_BUCKETS, Bucket.CLOSED)
# The first day past due of each open bucket: the bucket of ``days`` is the last whose
# start is at most ``days``.
_STARTS: tuple[tuple[int, Bucket], ...] = (
    (181, Bucket.D181_PLUS),
    (91, Bucket.D91_180),
    (61, Bucket.D61_90),
    (31, Bucket.D31_60),
    (1, Bucket.D1_30),
)


def bucket_of(days_past_due: int) -> Bucket:
    """The bucket of ``days_past_due`` (0 or less is current)."""
    for start, bucket in _STARTS:
        if days_past_due >= start:
            return bucket
    return Bucket.CURRENT


def bucket_starts() -> tuple[tuple[int, Bucket], ...]:
    """Each open bucket past current with its first day past due, latest first: what a
    set-based statement needs to place a case (a CASE of these)."""
    return _STARTS


@dataclass(frozen=True)
class Cell:
    """The cases that went from one bucket to another, and their overdue amount at the
    first month-end (minor units of one currency; 0 when amounts are not counted)."""

    cases: int = 0
    amount: int = 0

    def __add__(self, other: Cell) -> Cell:
        return Cell(self.cases + other.cases, self.amount + other.amount)


@dataclass(frozen=True)
class Rate:
    """A share of cases, and of amount (None when the amount's base is 0)."""

    cases: Fraction | None
    amount: Fraction | None


def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


@dataclass(frozen=True)
class Matrix:
    """The transition matrix: each (from bucket, to bucket) pair's cell. Pairs never seen
    are empty cells. Sums of several month pairs are matrices too (``combined``)."""

    cells: Mapping[tuple[Bucket, Bucket], Cell] = field(default_factory=dict)

    def cell(self, first: Bucket, then: Bucket) -> Cell:
        """The cell of ``first`` → ``then`` (empty when no case moved so)."""
        return self.cells.get((first, then), Cell())

    def row_total(self, first: Bucket) -> Cell:
        """Every case that was in ``first`` at the first month-end."""
        return sum((self.cell(first, then) for then in DESTINATIONS), Cell())

    def column_total(self, then: Bucket) -> Cell:
        """Every case that is in ``then`` at the next month-end."""
        return sum((self.cell(first, then) for first in OPEN_BUCKETS), Cell())

    @property
    def total(self) -> Cell:
        """Every case counted."""
        return sum((self.row_total(first) for first in OPEN_BUCKETS), Cell())

    def rate(self, first: Bucket, then: Bucket) -> Rate:
        """The roll rate ``first`` → ``then``, by cases and by amount."""
        whole = self.row_total(first)
        part = self.cell(first, then)
        return Rate(_share(part.cases, whole.cases), _share(part.amount, whole.amount))

    def roll_forward(self, first: Bucket) -> Rate:
        """The share of ``first`` that moved to a later bucket."""
        later = OPEN_BUCKETS[OPEN_BUCKETS.index(first) + 1 :]
        return self._moved(first, later)

    def roll_back(self, first: Bucket) -> Rate:
        """The share of ``first`` that moved to an earlier bucket (current included)."""
        earlier = OPEN_BUCKETS[: OPEN_BUCKETS.index(first)]
        return self._moved(first, earlier)

    def _moved(self, first: Bucket, to: Iterable[Bucket]) -> Rate:
        whole = self.row_total(first)
        part = sum((self.cell(first, then) for then in to), Cell())
        return Rate(_share(part.cases, whole.cases), _share(part.amount, whole.amount))

    @property
    def overdue(self) -> Cell:
        """Every case that was overdue (past current) at the first month-end."""
        return sum((self.row_total(first) for first in OPEN_BUCKETS[1:]), Cell())

    @property
    def cured(self) -> Cell:
        """The cases overdue at the first month-end that were current at the next."""
        return sum((self.cell(first, Bucket.CURRENT) for first in OPEN_BUCKETS[1:]), Cell())

    @property
    def cure_rate(self) -> Rate:
        """Cured over overdue, by cases and by amount (None when nothing was overdue)."""
        cured, overdue = self.cured, self.overdue
        return Rate(_share(cured.cases, overdue.cases), _share(cured.amount, overdue.amount))


def matrix_of(rows: Iterable[tuple[str, str, int, int]]) -> Matrix:
    """A matrix from (from bucket, to bucket, cases, amount) rows, as an aggregate query
    returns them; rows of the same pair are added. Raises ValueError for a bucket that
    is not one, or CLOSED as a starting bucket."""
    cells: dict[tuple[Bucket, Bucket], Cell] = {}
    for first_name, then_name, cases, amount in rows:
        first, then = Bucket(first_name), Bucket(then_name)
        if first is Bucket.CLOSED:
            raise ValueError("a case cannot start a month closed")
        cells[(first, then)] = cells.get((first, then), Cell()) + Cell(int(cases), int(amount))
    return Matrix(cells)


def combined(matrices: Iterable[Matrix]) -> Matrix:
    """The cell-by-cell sum of ``matrices`` (several month pairs read as one period)."""
    cells: dict[tuple[Bucket, Bucket], Cell] = {}
    for matrix in matrices:
        for pair, cell in matrix.cells.items():
            cells[pair] = cells.get(pair, Cell()) + cell
    return Matrix(cells)


__all__ = [
    "DESTINATIONS",
    "OPEN_BUCKETS",
    "Bucket",
    "Cell",
    "Matrix",
    "Rate",
    "bucket_of",
    "bucket_starts",
    "combined",
    "matrix_of",
]
