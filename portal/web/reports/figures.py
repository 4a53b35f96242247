"""The portfolio page's figures beside the roll rates, laid out for reading: the kept rate
of a tally of plans, and the portal funnel's horizontal bars. Pure arithmetic, values in
and values out (as ``heatmap`` is for the roll rates), so the layout can be tested without
a page. Shares are exact fractions, never floats; the strict CSP allows no inline style,
so the bars are shaded by the stylesheet's classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from portal.reporting.slices import share


@dataclass(frozen=True)
class FunnelBar:
    """One step's bar, in the chart's coordinates (y grows downward, as in SVG): its
    label sits above it at ``label_y``."""

    index: int
    cases: int
    share: Fraction | None
    x: int
    y: int
    width: int
    height: int
    label_y: int

    @property
    def middle_y(self) -> int:
        """Where the bar's figure is centred down."""
        return self.y + self.height // 2


@dataclass(frozen=True)
class FunnelChart:
    """The bars, one per step, full width for the first step's cases."""

    width: int
    height: int
    left: int
    plot_width: int
    bars: tuple[FunnelBar, ...]


def funnel_chart(
    cases: Sequence[int],
    *,
    width: int = 360,
    left: int = 4,
    right: int = 4,
    bar_height: int = 16,
    label_height: int = 18,
    gap: int = 10,
) -> FunnelChart:
    """A bar per step of ``cases`` (in order), each as long as its share of the first
    step's cases (of the largest step's when the first has none), rounded half to even to
    a whole unit; each bar's label above it."""
    base = cases[0] if cases and cases[0] else max(cases, default=0)
    plot = width - left - right
    row = label_height + bar_height + gap
    bars = []
    for index, number in enumerate(cases):
        length = round(Fraction(number * plot, base)) if base else 0
        top = row * index
        bars.append(
            FunnelBar(
                index=index,
                cases=number,
                share=share(number, cases[0]),
                x=left,
                y=top + label_height,
                width=max(length, 1 if number else 0),
                height=bar_height,
                label_y=top + label_height - 5,
            )
        )
    return FunnelChart(
        width=width, height=row * len(cases), left=left, plot_width=plot, bars=tuple(bars)
    )
