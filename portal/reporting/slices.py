"""What the figures beside the roll rates share when they are read: the whole book (no
slice chosen), exact shares, and averages in whole minor units rounded half to even. The
slice a case is counted under is decided when its month is counted
(``portal.reporting.cells.month_slices``).
"""

from __future__ import annotations

from fractions import Fraction

from portal.reporting.portfolio import Slice

WHOLE_BOOK = Slice()


def share(part: int, whole: int) -> Fraction | None:
    """``part`` of ``whole`` as an exact fraction; None when there is no whole."""
    return Fraction(part, whole) if whole else None


def average(total: int, count: int) -> int | None:
    """``total`` over ``count`` in whole minor units, rounded half to even (Python's
    ``round`` of a Fraction); None when nothing was counted."""
    return round(Fraction(total, count)) if count else None
