"""The geometry of the roll-rate heat map: pure arithmetic, values in and values out, as
``portal.web.finance.chart`` is for the collections bars, so the layout and the shading
can be tested without a page.

A grid of rows (the buckets at the first month-end) by columns (where those cases were at
the next), each cell shaded by its share of its row: a level from 0 (no case) to
``LEVELS``, which the stylesheet colours (``.heat-N``); the strict CSP allows no inline
style, so no colour is computed here. Shares are exact fractions, never floats.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

LEVELS = 5  # shaded levels above 0: a fifth of the row each
# A column's label wraps at this many characters (two lines at most fit above the grid).
LABEL_CHARACTERS = 10


def level(share: Fraction | None, levels: int = LEVELS) -> int:
    """The shade of ``share``: 0 for no case (or no share at all, an empty row), else
    1 to ``levels``, each level a 1/``levels`` slice of the row (a share of exactly a
    fifth is level 1, anything above it level 2)."""
    if share is None or share <= 0:
        return 0
    shaded = -(-share.numerator * levels // share.denominator)  # ceiling, exactly
    return min(max(shaded, 1), levels)


def label_lines(text: str, characters: int = LABEL_CHARACTERS) -> list[str]:
    """A column's label on at most two lines of about ``characters`` each, broken at
    spaces ("181 days or more" over "181 days" and "or more"); a label without spaces
    (Chinese) or short enough stays whole."""
    lines = textwrap.wrap(text, characters) or [""]
    if len(lines) <= 2:
        return lines
    return [lines[0], " ".join(lines[1:])]


@dataclass(frozen=True)
class HeatCell:
    """One cell, in the map's coordinates (y grows downward, as in SVG)."""

    row: int
    column: int
    x: float
    y: float
    width: float
    height: float
    level: int

    @property
    def middle_x(self) -> float:
        """Where the cell's label is centred across."""
        return round(self.x + self.width / 2, 2)

    @property
    def middle_y(self) -> float:
        """Where the cell's label is centred down."""
        return round(self.y + self.height / 2, 2)


@dataclass(frozen=True)
class LegendKey:
    """One swatch of the legend under the grid, and the share its level stands for."""

    level: int
    x: float
    low: Fraction
    high: Fraction


@dataclass(frozen=True)
class HeatMap:
    """Where everything goes: the grid, the row labels' and column labels' positions, and
    the legend's swatches under the grid."""

    width: int
    height: int
    left: int
    top: int
    cell_width: int
    cell_height: int
    cells: tuple[HeatCell, ...]
    row_middles: tuple[float, ...]
    column_middles: tuple[float, ...]
    legend_y: float
    legend: tuple[LegendKey, ...]

    @property
    def grid_right(self) -> int:
        """The grid's right edge."""
        return self.left + self.cell_width * len(self.column_middles)

    @property
    def grid_bottom(self) -> int:
        """The grid's bottom edge."""
        return self.top + self.cell_height * len(self.row_middles)


def heat_map(
    shares: Sequence[Sequence[Fraction | None]],
    *,
    cell_width: int = 88,
    cell_height: int = 44,
    left: int = 140,
    top: int = 64,
    right: int = 8,
    legend_height: int = 56,
    levels: int = LEVELS,
) -> HeatMap:
    """Lay out a grid of ``shares`` (one sequence per row, all of one length), each cell
    at its level, with room on the left for the row labels, above for the column labels
    and below for the legend."""
    columns = len(shares[0]) if shares else 0
    if any(len(row) != columns for row in shares):
        raise ValueError("every row needs a share for every column")
    cells = tuple(
        HeatCell(
            row=r,
            column=c,
            x=left + cell_width * c,
            y=top + cell_height * r,
            width=cell_width,
            height=cell_height,
            level=level(share, levels),
        )
        for r, row in enumerate(shares)
        for c, share in enumerate(row)
    )
    grid_bottom = top + cell_height * len(shares)
    swatch = cell_width
    legend = tuple(
        LegendKey(
            level=n,
            x=left + swatch * n,
            low=Fraction(max(n - 1, 0), levels),
            high=Fraction(n, levels),
        )
        for n in range(levels + 1)
    )
    return HeatMap(
        width=left + cell_width * max(columns, levels + 1) + right,
        height=grid_bottom + legend_height,
        left=left,
        top=top,
        cell_width=cell_width,
        cell_height=cell_height,
        cells=cells,
        row_middles=tuple(top + cell_height * r + cell_height / 2 for r in range(len(shares))),
        column_middles=tuple(left + cell_width * c + cell_width / 2 for c in range(columns)),
        legend_y=grid_bottom + 12,
        legend=legend,
    )
