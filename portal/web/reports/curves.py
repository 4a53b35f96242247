"""The liquidation curves' geometry: one line per entry cohort, months since entry
across, the share of the overdue at entry recovered up the side (0 to 100%). Pure
arithmetic, values in and values out (as ``heatmap`` is for the roll rates), so the
layout can be tested without a page. Rates are exact fractions; positions are whole
units, rounded half to even. The strict CSP allows no inline style: each line's colour is
the stylesheet's (``.curve-N``, N below ``SERIES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

SERIES = 6  # the colours the stylesheet gives lines; the chart draws at most this many
# The y axis's marks: 0%, 25%, 50%, 75%, 100%.
Y_MARKS = tuple(Fraction(n, 4) for n in range(5))


@dataclass(frozen=True)
class CurvePoint:
    """A point of a line: its month since entry, its rate, and where it is drawn."""

    months: int
    rate: Fraction
    x: int
    y: int


@dataclass(frozen=True)
class Curve:
    """One cohort's line (``series``: its colour), its points in order, and where its
    label goes (after its last point)."""

    series: int
    points: tuple[CurvePoint, ...]

    @property
    def path(self) -> str:
        """The points as an SVG ``points`` attribute."""
        return " ".join(f"{point.x},{point.y}" for point in self.points)


@dataclass(frozen=True)
class Mark:
    """A mark on an axis: its value and its position along the axis."""

    value: int | Fraction
    position: int


@dataclass(frozen=True)
class CurveChart:
    """Where everything goes: the plot's box, the lines, the axes' marks."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    curves: tuple[Curve, ...]
    x_marks: tuple[Mark, ...]
    y_marks: tuple[Mark, ...]

    @property
    def bottom(self) -> int:
        """The plot's bottom edge (the 0% line)."""
        return self.top + self.plot_height

    @property
    def right(self) -> int:
        """The plot's right edge."""
        return self.left + self.plot_width


def curve_chart(
    lines: Sequence[Sequence[tuple[int, Fraction | None]]],
    months: int,
    *,
    width: int = 560,
    height: int = 300,
    left: int = 52,
    right: int = 16,
    top: int = 12,
    bottom: int = 44,
) -> CurveChart:
    """Lay out ``lines`` (at most ``SERIES``; each a sequence of (months since entry,
    rate) in order, a point without a rate left out) across ``months`` months since
    entry (at least 1), with room on the left for the rates' marks and below for the
    months'."""
    if len(lines) > SERIES:
        raise ValueError(f"at most {SERIES} lines")
    span = max(months, 1)
    plot_width, plot_height = width - left - right, height - top - bottom

    def x_of(month: int) -> int:
        return left + round(Fraction(plot_width * month, span))

    def y_of(rate: Fraction) -> int:
        return top + round(plot_height * (1 - min(max(rate, Fraction(0)), Fraction(1))))

    curves = tuple(
        Curve(
            series=index,
            points=tuple(
                CurvePoint(month, rate, x_of(month), y_of(rate))
                for month, rate in line
                if rate is not None
            ),
        )
        for index, line in enumerate(lines)
    )
    return CurveChart(
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=plot_width,
        plot_height=plot_height,
        curves=curves,
        x_marks=tuple(Mark(month, x_of(month)) for month in range(span + 1)),
        y_marks=tuple(Mark(rate, y_of(rate)) for rate in Y_MARKS),
    )


__all__ = ["SERIES", "Curve", "CurveChart", "CurvePoint", "Mark", "curve_chart"]
