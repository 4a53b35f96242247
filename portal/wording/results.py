"""Experiment results in words: each outcome's name, rates and differences in the reader's
language, and each comparison's verdict as a sentence (``portal.strategy.results``).

A page that includes ``agent/strategy/_results.html`` passes ``**RESULT_WORDS`` with its
``experiments``."""

from __future__ import annotations

from typing import Any

from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core.i18n import listed, money
from portal.strategy.results import MIN_CASES, ArmResult, Comparison, Verdict
from portal.wording import strategy as strategy_words

OUTCOME_NAMES: dict[str, Any] = {
    "link_opened_3d": _l("Opened a link within 3 days"),
    "plan_accepted_14d": _l("Accepted a plan within 14 days"),
    "paid_30d": _l("Share of the arrears paid within 30 days"),
    "cured_60d": _l("Back to current within 60 days"),
    "opted_out_30d": _l("Opted out within 30 days (fewer is better)"),
    "disputed_30d": _l("Disputed the debt within 30 days (fewer is better)"),
}

# What "mature" and the counted figure mean for the outcomes that are not plain rates.
OUTCOME_NOTES: dict[str, Any] = {
    "paid_30d": _l(
        "Cases that owed something when assigned. Count: cases that paid anything; "
        "rate: the mean share of the arrears paid (confirmed payments, less refunds), each "
        "case at most all of it."
    ),
    "cured_60d": _l("Cases that owed something when assigned."),
    "disputed_30d": _l("Disputes of the debt; the portal keeps no separate record of complaints."),
}


def percent(rate: float | None) -> str:
    """A rate as a percentage to one decimal; a dash when there is none."""
    if rate is None:
        return "—"
    return str(format_percent(rate, "#,##0.0%"))


def points(value: float | None) -> str:
    """A difference of rates in percentage points, as a bare number (0.15 is 15.0)."""
    if value is None:
        return "—"
    return str(format_decimal(value * 100, "#,##0.0"))


def interval(low: float | None, high: float | None) -> str:
    """An arm's 95% interval, as percentages."""
    if low is None or high is None:
        return "—"
    return _("%(low)s to %(high)s", low=percent(low), high=percent(high))


def paid(arm: ArmResult) -> str:
    """What an arm's mature cases paid in their 30 days, each currency in its own."""
    return listed(money(amount, currency) for currency, amount in arm.paid_by_currency.items())


def verdict_sentence(comparison: Comparison) -> str:
    """What a comparison says: not yet enough cases, no difference shown, or which arm
    is better or worse by how many percentage points, with the interval."""
    if comparison.verdict is Verdict.NOT_ENOUGH:
        return _("Not yet enough cases")
    shown = comparison.better_by
    if comparison.verdict is Verdict.NO_DIFFERENCE or shown is None:
        return _("No difference shown")
    size, low, high = shown
    values = {
        "arm": comparison.arm,
        "difference": _("%(number)s percentage points", number=points(size)),
        "low": points(low),
        "high": points(high),
    }
    if comparison.verdict is Verdict.BETTER:
        return _("%(arm)s better by %(difference)s (95%% CI %(low)s to %(high)s)", **values)
    return _("%(arm)s worse by %(difference)s (95%% CI %(low)s to %(high)s)", **values)


RESULT_WORDS: dict[str, Any] = {
    "OUTCOME_NAMES": OUTCOME_NAMES,
    "OUTCOME_NOTES": OUTCOME_NOTES,
    "RESULT_MIN_CASES": MIN_CASES,
    "result_percent": percent,
    "result_interval": interval,
    "result_points": points,
    "result_paid": paid,
    "verdict_sentence": verdict_sentence,
    "strategy_label": strategy_words.label,
}
