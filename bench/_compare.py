"""A row of ``make bench-compare``'s table: one hot path measured against its baseline
(or floor) in the same run, its ratio and whether its goal is met.

Each benchmark that has a row exposes ``compare_rows(admin_url, ...) -> list[Row]``, which
builds what it needs in databases of its own next to ``admin_url``'s and returns its rows
(the rows at a million cases also take ``million_url``, a database ``compare.py`` builds
once for them); ``compare.py`` calls them in turn and prints the table."""

from __future__ import annotations

from dataclasses import dataclass

TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Row:
    """One path's figures. ``ratio`` is Haohuan's figure over the baseline's: a share of
    the baseline's throughput for rates (higher is better, goal ``>=``), a multiple of the
    floor for times (lower is better, goal ``<=``). A goal that is not a ratio (a p95 in
    milliseconds, say) gives its own ``goal`` text and ``met``."""

    path: str
    haohuan: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None  # None: a row shown for context, with no goal of its own

    @property
    def ratio_text(self) -> str:
        """The ratio as the table prints it."""
        return "-" if self.ratio is None else f"{self.ratio:.2f}{TIMES}"


def at_least(path: str, haohuan: str, baseline: str, ratio: float, goal: float) -> Row:
    """A throughput row: met when ``ratio`` is at least ``goal`` times the baseline."""
    return Row(path, haohuan, baseline, ratio, f"≥ {goal}{TIMES}", ratio >= goal)


def at_most(path: str, haohuan: str, baseline: str, ratio: float, goal: float) -> Row:
    """A time row: met when ``ratio`` is at most ``goal`` times the floor."""
    return Row(path, haohuan, baseline, ratio, f"≤ {goal}{TIMES}", ratio <= goal)


def shown(path: str, haohuan: str, baseline: str, ratio: float, why: str) -> Row:
    """A row with no goal, shown beside the others for what it explains (``why``)."""
    return Row(path, haohuan, baseline, ratio, why, None)


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| path | Haohuan | baseline | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for row in rows:
        met = "-" if row.met is None else "yes" if row.met else "**no**"
        cells = [row.path, row.haohuan, row.baseline, row.ratio_text, row.goal, met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
