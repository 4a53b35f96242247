"""The geometry of the collections bar chart: pure arithmetic, values in and values out,
so the scaling and the ticks can be tested without a page.

Amounts are integers (minor units). The vertical axis runs from zero to a "nice" top in
steps of 1, 2, 2.5 or 5 times a power of ten, never finer than ``unit`` (one whole
currency unit), so every tick label is a round amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NICE_STEPS = (10, 20, 25, 50)  # tenths of a power of ten: 1, 2, 2.5 and 5


@dataclass(frozen=True)
class Bar:
    """One bar, in the chart's coordinates (y grows downward, as in SVG)."""

    index: int
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line and its label's value."""

    value: int
    y: float


@dataclass(frozen=True)
class Geometry:
    """Where everything goes: the plot area, the bars, the ticks, which bars are labelled."""

    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    labelled: frozenset[int]

    @property
    def bottom(self) -> float:
        """The baseline's y (the zero line)."""
        return self.top + self.plot_height


def nice_step(largest: int, ticks: int, unit: int = 1) -> int:
    """The smallest round step (1, 2, 2.5 or 5 times a power of ten, and a whole number of
    ``unit``) such that ``ticks`` steps reach ``largest``."""
    if ticks < 1 or unit < 1:
        raise ValueError("ticks and unit must be positive")
    wanted = max(-(-max(largest, 0) // ticks), unit)
    power = 1
    while True:
        for tenths in NICE_STEPS:
            step = power * tenths // 10
            if step >= wanted and step % unit == 0 and step * 10 == power * tenths:
                return step
        power *= 10


def bar_chart(
    values: Sequence[int],
    *,
    width: int = 720,
    height: int = 280,
    left: int = 112,
    right: int = 12,
    top: int = 12,
    bottom: int = 40,
    ticks: int = 4,
    unit: int = 1,
    labels: int = 8,
) -> Geometry:
    """Lay out one bar per value (negative values are drawn as zero) under a round scale,
    with at most ``labels`` bars labelled on the horizontal axis (always the last)."""
    plot_width = width - left - right
    plot_height = height - top - bottom
    step = nice_step(max(values, default=0), ticks, unit)
    ceiling = step * ticks
    slot = plot_width / max(len(values), 1)
    bar_width = round(slot * 0.7, 2)

    def y_of(value: int) -> float:
        return round(top + plot_height * (1 - value / ceiling), 2)

    bars = tuple(
        Bar(
            index=index,
            value=value,
            x=round(left + slot * index + (slot - bar_width) / 2, 2),
            y=y_of(max(value, 0)),
            width=bar_width,
            height=round(plot_height * max(value, 0) / ceiling, 2),
        )
        for index, value in enumerate(values)
    )
    every = max(1, -(-len(values) // labels))
    last = len(values) - 1
    labelled = frozenset(i for i in range(len(values)) if (last - i) % every == 0)
    return Geometry(
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=plot_width,
        plot_height=plot_height,
        bars=bars,
        ticks=tuple(Tick(step * n, y_of(step * n)) for n in range(ticks + 1)),
        labelled=labelled,
    )
