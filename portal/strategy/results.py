"""Champion against challenger: what each arm of an experiment achieved, honestly measured.

Every case meets an experiment once (``ExperimentAssignment``: its arm, the moment, what it
owed then). Its outcomes are read from the ledger and the case's records, each within a
window counted from that moment, half-open: ``[assigned_at, assigned_at + window)``.

=====================  ====  ===================================================================
outcome                days  counts when
=====================  ====  ===================================================================
``link_opened_3d``        3  the borrower verified on one of the case's reminder links
``plan_accepted_14d``    14  the borrower accepted a plan for the case (whatever became of it)
``paid_30d``             30  share of the arrears at assignment the confirmed payments cover
``cured_60d``            60  the daily work found nothing overdue any more (``caught_up``) or
                             the case's plan was paid to the end (``plan_completed``)
``opted_out_30d``        30  the borrower opted out of a channel (lower is better)
``disputed_30d``         30  the borrower disputed the debt (a dispute hold; lower is better)
=====================  ====  ===================================================================

**Only mature cases count.** A case assigned two days ago cannot tell whether it opens its
link within three: it enters an outcome's denominator only once the whole window has
passed. ``paid_30d`` and ``cured_60d`` count only cases that owed something when assigned
(a courtesy reminder's case owes nothing: there is nothing to pay back or cure).

**Payments** count when the gateway confirmed them (status ``succeeded``, ``confirmed_at``
in the window), for what is still ours (the amount less what was refunded or lost to a
card dispute since: a refund a week later is no recovery), in the currency of the case.
Each case's share is capped at 1 (an overpayment or the balance not yet due does not make
one case weigh more than the arrears it owed). The totals paid per currency are not capped.

**Intervals.** Each arm's rate has a 95% Wilson score interval (right even near 0% and
100% and for small counts, where the textbook ``p ± 1.96·SE`` is not); the mean share paid a
Student t interval. A challenger is compared with the champion by the difference of rates
(challenger minus champion) with Newcombe's hybrid score interval (built from the two
Wilson intervals) and by the difference of mean shares with Welch's interval (unequal
variances). With several challengers each comparison's interval is widened by Bonferroni
(0.05 divided among the challengers), so that the chance of any false "better" stays 5%.
statsmodels computes every interval (``README``: libraries).

**Verdicts.** ``not_enough`` while either arm has fewer than ``MIN_CASES`` mature cases, or
the two arms together fewer than ``MIN_EVENTS`` cases with the outcome (or without it); then
``no_difference`` when the interval holds 0; else ``better`` or ``worse`` by the outcome's
direction. What this cannot say: six outcomes are looked at, and a page looked at every day
will sooner or later show a "difference" that is chance; decide the outcome that matters
and the number of cases before promoting.

Reads only: a few set-based queries per experiment (one per outcome, grouped by arm, and
one row per mature case for the shares paid), never one per case.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, case, exists, func, literal, select
from sqlalchemy.orm import Session

from negotiation.snapshot import Hold
from negotiation.strategy import Arm, Experiment, Strategy, StrategyError, load_strategy
from portal.models import (
    Case,
    CaseEvent,
    CaseHold,
    ExperimentAssignment,
    Loan,
    OptOut,
    Payment,
    PaymentStatus,
    Plan,
    ReminderLink,
    StrategyVersion,
    VerificationAttempt,
)

# Fewer mature cases than this in either arm: no verdict. At 100 a 95% interval on a rate
# is still about ±10 percentage points wide, which is as coarse as a verdict can honestly
# be; below it a "difference" is mostly which cases happened to come first.
MIN_CASES = 100
# Fewer than this many cases with the outcome (or without it) in the two arms together: no
# verdict. The score intervals lean on counts of events, not of cases; with a handful of
# events (a 1% dispute rate over 200 cases is 2) one case more or less flips the answer.
MIN_EVENTS = 10
CONFIDENCE = 0.95
# Case events that mean the case is current again: the daily work found nothing overdue
# (``portal.cases.lifecycle``), or the payment that completed a plan resolved it.
CURED_EVENTS = ("caught_up", "plan_completed")


class Verdict(StrEnum):
    """What a comparison of a challenger with the champion says."""

    NOT_ENOUGH = "not_enough"
    NO_DIFFERENCE = "no_difference"
    BETTER = "better"
    WORSE = "worse"


@dataclass(frozen=True)
class Outcome:
    """One measured outcome: its window in days from assignment, whether more is better,
    whether it is a rate of cases or a mean share (``paid_30d``), and whether only cases
    that owed something at assignment count."""

    code: str
    days: int
    higher_is_better: bool = True
    mean: bool = False
    owed_only: bool = False


OUTCOMES = (
    Outcome("link_opened_3d", 3),
    Outcome("plan_accepted_14d", 14),
    Outcome("paid_30d", 30, mean=True, owed_only=True),
    Outcome("cured_60d", 60, owed_only=True),
    Outcome("opted_out_30d", 30, higher_is_better=False),
    Outcome("disputed_30d", 30, higher_is_better=False),
)
OUTCOME_CODES = tuple(outcome.code for outcome in OUTCOMES)


@dataclass(frozen=True)
class Measure:
    """One arm's figure for one outcome: ``mature`` cases counted, ``count`` with the
    outcome (for ``paid_30d``: cases that paid anything), ``rate`` (for ``paid_30d``: the
    mean share of the arrears paid) and its 95% interval; None while nothing is mature."""

    mature: int
    count: int
    rate: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ArmResult:
    """One arm: its weight, the cases assigned to it so far, each outcome's measure, and
    the confirmed payments of its mature cases in their 30 days, per currency (minor
    units, not capped)."""

    name: str
    weight: int
    champion: bool
    cases: int
    outcomes: dict[str, Measure]
    paid_by_currency: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on one outcome: the difference (challenger minus
    champion; a rate or mean share, 0.05 is five percentage points) and its interval at
    ``confidence`` (above 95% when Bonferroni-adjusted for several challengers)."""

    arm: str
    outcome: str
    difference: float | None
    low: float | None
    high: float | None
    confidence: float
    verdict: Verdict

    @property
    def better_by(self) -> tuple[float, float, float] | None:
        """The size of the difference and its interval, as positive numbers read in the
        verdict's direction ("better by 3 points, 1 to 5"); None without a verdict."""
        if self.difference is None or self.low is None or self.high is None:
            return None
        if self.verdict not in (Verdict.BETTER, Verdict.WORSE):
            return None
        if self.difference > 0:
            return self.difference, self.low, self.high
        return -self.difference, -self.high, -self.low


@dataclass(frozen=True)
class ExperimentResult:
    """One experiment: running in the strategy in force, or ended (a challenger promoted,
    or the experiment taken out of the file) with the moment it ended."""

    name: str
    label: str
    as_of: date
    ended: bool
    ended_at: datetime | None
    champion: str
    arms: tuple[ArmResult, ...]
    comparisons: tuple[Comparison, ...]

    def comparison(self, arm: str, outcome: str) -> Comparison | None:
        """The comparison of ``arm`` with the champion on ``outcome``."""
        return next((c for c in self.comparisons if c.arm == arm and c.outcome == outcome), None)


def results(db: Session, strategy: Strategy, as_of: date, now: datetime) -> list[ExperimentResult]:
    """Every experiment of ``strategy`` (the strategy in force), then every ended one that
    has assignments, measured at ``now``: nothing later counts, neither assignments nor
    what happened (``as_of`` is the day the figures are for, ``now`` its end or the
    present moment, whichever is earlier)."""
    running = {experiment.name: experiment for experiment in strategy.experiments}
    assigned = set(db.scalars(select(ExperimentAssignment.experiment).distinct()))
    found = [_measure(db, experiment, None, as_of, now) for experiment in running.values()]
    ended = sorted(assigned - set(running))
    if ended:
        definitions = _ended_definitions(db, set(ended))
        for name in ended:
            experiment, ended_at = definitions.get(name, (None, None))
            found.append(
                _measure(db, experiment or _unknown(db, name), ended_at or now, as_of, now)
            )
    return found


def in_force(db: Session, file_document: dict[str, Any]) -> Strategy:
    """The strategy in force, read only: the newest version that ran, or the configured
    file when no run has recorded one yet."""
    head = db.scalars(
        select(StrategyVersion.document).order_by(StrategyVersion.version.desc()).limit(1)
    ).first()
    return load_strategy(head if head is not None else file_document)


# The experiments ---------------------------------------------------------------------------


def _ended_definitions(
    db: Session, names: set[str]
) -> dict[str, tuple[Experiment, datetime | None]]:
    """Each ended experiment as its newest version defined it, and the moment of the
    version that ended it."""
    found: dict[str, tuple[Experiment, datetime | None]] = {}
    for row in db.scalars(select(StrategyVersion).order_by(StrategyVersion.version)):
        try:
            experiments = {e.name: e for e in load_strategy(row.document).experiments}
        except StrategyError:  # a version is never changed; one unreadable now is skipped
            continue
        for name in names:
            if name in experiments:
                found[name] = (experiments[name], None)
            elif name in found and found[name][1] is None:
                found[name] = (found[name][0], row.created_at)
    return found


def _unknown(db: Session, name: str) -> Experiment:
    """An experiment no version defines any more (not expected: versions are kept): its
    arms from the assignments, the one called ``champion`` (or the first) as champion."""
    arms = sorted(
        db.scalars(
            select(ExperimentAssignment.arm)
            .where(ExperimentAssignment.experiment == name)
            .distinct()
        ),
        key=lambda arm: (arm != "champion", arm),
    )
    return Experiment(name, tuple(Arm(arm, 0) for arm in arms))


def _measure(
    db: Session, experiment: Experiment, ended_at: datetime | None, as_of: date, now: datetime
) -> ExperimentResult:
    a = ExperimentAssignment
    names = [arm.name for arm in experiment.arms]
    base = and_(a.experiment == experiment.name, a.assigned_at <= now)
    rows = db.execute(select(a.arm, func.count()).where(base).group_by(a.arm))
    cases = {arm: int(count) for arm, count in rows}
    # Arms the definition no longer names (an arm taken out mid-way) are still shown.
    names += sorted(set(cases) - set(names))
    mature = _mature(db, base, now)
    counts = {
        outcome.code: _counts(db, base, outcome, now) for outcome in OUTCOMES if not outcome.mean
    }
    shares, paid = _shares(db, base, now)
    weights = {arm.name: arm.weight for arm in experiment.arms}
    champion = experiment.arms[0].name if experiment.arms else ""
    arms = []
    for name in names:
        measures: dict[str, Measure] = {}
        for outcome in OUTCOMES:
            if outcome.mean:
                measures[outcome.code] = mean_measure(shares.get(name, []))
            else:
                n = mature.get(name, {}).get(outcome.code, 0)
                measures[outcome.code] = rate_measure(counts[outcome.code].get(name, 0), n)
        arms.append(
            ArmResult(
                name,
                weights.get(name, 0),
                name == champion,
                cases.get(name, 0),
                measures,
                dict(sorted(paid.get(name, {}).items())),
            )
        )
    challengers = [arm for arm in arms if not arm.champion]
    comparisons = []
    lead = next((arm for arm in arms if arm.champion), None)
    if lead is not None:
        # Bonferroni: the 5% chance of a false verdict is shared among the challengers.
        alpha = (1 - CONFIDENCE) / max(len(challengers), 1)
        for arm in challengers:
            for outcome in OUTCOMES:
                comparisons.append(
                    compare(
                        outcome,
                        arm,
                        lead,
                        alpha,
                        shares.get(arm.name, []),
                        shares.get(lead.name, []),
                    )
                )
    return ExperimentResult(
        experiment.name,
        experiment.label,
        as_of,
        ended_at is not None,
        ended_at,
        champion,
        tuple(arms),
        tuple(comparisons),
    )


# The queries --------------------------------------------------------------------------------


def _until(db: Session, moment: Any, days: int) -> ColumnElement[datetime]:
    """``moment`` (a column) plus ``days`` days, in SQL: an interval on PostgreSQL; on
    SQLite (the demo), which stores moments as text, the same text form to the
    millisecond."""
    if db.get_bind().dialect.name == "postgresql":
        result: ColumnElement[datetime] = moment + literal(timedelta(days=days), Interval())
        return result
    return func.strftime("%Y-%m-%d %H:%M:%f", moment, f"+{days} days")


def _within(db: Session, column: Any, days: int) -> ColumnElement[bool]:
    """``column`` (a moment) in the outcome's window from the case's assignment."""
    a = ExperimentAssignment
    return and_(column >= a.assigned_at, column < _until(db, a.assigned_at, days))


def _ripe(outcome: Outcome, now: datetime) -> ColumnElement[bool]:
    """Whether an assignment is mature for ``outcome`` at ``now`` (and owed something,
    for the outcomes about arrears)."""
    a = ExperimentAssignment
    ripe = a.assigned_at <= now - timedelta(days=outcome.days)
    return and_(ripe, a.arrears > 0) if outcome.owed_only else ripe


def _mature(db: Session, base: ColumnElement[bool], now: datetime) -> dict[str, dict[str, int]]:
    """Mature cases per arm and outcome: one query."""
    a = ExperimentAssignment
    columns = [
        func.sum(case((_ripe(outcome, now), 1), else_=0)).label(outcome.code)
        for outcome in OUTCOMES
    ]
    rows = db.execute(select(a.arm, *columns).where(base).group_by(a.arm)).mappings()
    return {row["arm"]: {code: int(row[code] or 0) for code in OUTCOME_CODES} for row in rows}


def _happened(db: Session, outcome: Outcome) -> ColumnElement[bool]:
    """Whether ``outcome`` happened to the assignment's case within its window."""
    a = ExperimentAssignment
    days = outcome.days
    sources: dict[str, Callable[[], ColumnElement[bool]]] = {
        "link_opened_3d": lambda: exists(
            select(VerificationAttempt.id)
            .join(ReminderLink, ReminderLink.id == VerificationAttempt.link_id)
            .where(
                ReminderLink.case_id == a.case_id,
                VerificationAttempt.succeeded.is_(True),
                _within(db, VerificationAttempt.at, days),
            )
        ),
        "plan_accepted_14d": lambda: exists(
            select(Plan.id).where(Plan.case_id == a.case_id, _within(db, Plan.accepted_at, days))
        ),
        "cured_60d": lambda: exists(
            select(CaseEvent.id).where(
                CaseEvent.case_id == a.case_id,
                CaseEvent.kind.in_(CURED_EVENTS),
                _within(db, CaseEvent.at, days),
            )
        ),
        "opted_out_30d": lambda: exists(
            select(OptOut.id)
            .join(Loan, Loan.borrower_id == OptOut.borrower_id)
            .join(Case, Case.loan_id == Loan.id)
            .where(Case.id == a.case_id, _within(db, OptOut.at, days))
        ),
        "disputed_30d": lambda: exists(
            select(CaseHold.id).where(
                CaseHold.case_id == a.case_id,
                CaseHold.kind == Hold.DISPUTE,
                _within(db, CaseHold.placed_at, days),
            )
        ),
    }
    return sources[outcome.code]()


def _counts(
    db: Session, base: ColumnElement[bool], outcome: Outcome, now: datetime
) -> dict[str, int]:
    """Mature cases with ``outcome``, per arm: one query (a semi-join)."""
    a = ExperimentAssignment
    query = (
        select(a.arm, func.count())
        .where(base, _ripe(outcome, now), _happened(db, outcome))
        .group_by(a.arm)
    )
    return {arm: int(count) for arm, count in db.execute(query)}


def _shares(
    db: Session, base: ColumnElement[bool], now: datetime
) -> tuple[dict[str, list[float]], dict[str, dict[str, int]]]:
    """Each mature case's share of its arrears paid in 30 days (capped at 1), by arm, and
    the totals paid per arm and currency: one query, one row per mature case."""
    a = ExperimentAssignment
    outcome = next(outcome for outcome in OUTCOMES if outcome.mean)
    kept = Payment.amount - Payment.refunded - Payment.disputed
    query = (
        select(a.arm, a.currency, a.arrears, func.coalesce(func.sum(kept), 0))
        .outerjoin(
            Payment,
            and_(
                Payment.case_id == a.case_id,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.currency == a.currency,
                _within(db, Payment.confirmed_at, outcome.days),
            ),
        )
        .where(base, _ripe(outcome, now))
        .group_by(a.id, a.arm, a.currency, a.arrears)
    )
    shares: dict[str, list[float]] = defaultdict(list)
    paid: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for arm, currency, arrears, amount in db.execute(query):
        amount = max(int(amount), 0)
        shares[arm].append(min(amount, arrears) / arrears)
        if amount:
            paid[arm][currency] += amount
    return shares, {arm: dict(totals) for arm, totals in paid.items()}


# The statistics ----------------------------------------------------------------------------
# statsmodels takes a second to import: only measuring results needs it.


def _number(value: Any) -> float | None:
    """A statsmodels figure as a float; None for the NaN it gives when undefined."""
    number = float(value)
    return None if math.isnan(number) else number


def wilson(count: int, n: int, alpha: float = 1 - CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``count`` out of ``n`` (n > 0)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(count, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def newcombe(
    count: int, n: int, base_count: int, base_n: int, alpha: float = 1 - CONFIDENCE
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``count/n - base_count/base_n`` (both n > 0)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(
        count, n, base_count, base_n, method="newcomb", compare="diff", alpha=alpha
    )
    return float(low), float(high)


def rate_measure(count: int, n: int) -> Measure:
    """An arm's rate: ``count`` of ``n`` mature cases, with its Wilson interval."""
    if n == 0:
        return Measure(0, 0)
    low, high = wilson(count, n)
    return Measure(n, count, count / n, low, high)


def mean_measure(shares: Sequence[float]) -> Measure:
    """An arm's mean share paid, with its t interval (none when the shares do not vary:
    no spread can be estimated from them)."""
    n = len(shares)
    paying = sum(1 for share in shares if share > 0)
    if n == 0:
        return Measure(0, 0)
    mean = sum(shares) / n
    if n < 2 or all(share == shares[0] for share in shares):
        # No spread to estimate: the t interval is undefined (every share equal, or one).
        return Measure(n, paying, mean)
    from statsmodels.stats.weightstats import DescrStatsW

    low, high = DescrStatsW(shares).tconfint_mean(alpha=1 - CONFIDENCE)
    return Measure(n, paying, mean, _number(low), _number(high))


def compare(
    outcome: Outcome,
    arm: ArmResult,
    champion: ArmResult,
    alpha: float,
    shares: Sequence[float],
    base_shares: Sequence[float],
) -> Comparison:
    """A challenger ``arm`` against the ``champion`` on ``outcome``, its interval at
    ``1 - alpha`` (Newcombe for a rate, Welch for the mean share, from the per-case
    ``shares``), and the verdict."""
    mine, theirs = arm.outcomes[outcome.code], champion.outcomes[outcome.code]
    confidence = round(1 - alpha, 6)

    def judged(difference: float | None, low: float | None, high: float | None) -> Comparison:
        return Comparison(
            arm.name,
            outcome.code,
            difference,
            low,
            high,
            confidence,
            _verdict(outcome, mine, theirs, difference, low, high),
        )

    if mine.rate is None or theirs.rate is None:
        return judged(None, None, None)
    difference = mine.rate - theirs.rate
    if not outcome.mean:
        low, high = newcombe(mine.count, mine.mature, theirs.count, theirs.mature, alpha)
        return judged(difference, low, high)
    if len(shares) < 2 or len(base_shares) < 2 or max(len(set(shares)), len(set(base_shares))) < 2:
        # Welch needs some spread in one arm at least; without any there is no interval.
        return judged(difference, None, None)
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    compared = CompareMeans(DescrStatsW(list(shares)), DescrStatsW(list(base_shares)))
    low, high = compared.tconfint_diff(alpha=alpha, usevar="unequal")
    return judged(difference, _number(low), _number(high))


def _verdict(
    outcome: Outcome,
    mine: Measure,
    theirs: Measure,
    difference: float | None,
    low: float | None,
    high: float | None,
) -> Verdict:
    """The documented rule (module docstring): enough cases and events, then the
    interval's side of zero, read in the outcome's direction."""
    if min(mine.mature, theirs.mature) < MIN_CASES:
        return Verdict.NOT_ENOUGH
    events = mine.count + theirs.count
    others = mine.mature + theirs.mature - events
    if events < MIN_EVENTS or (not outcome.mean and others < MIN_EVENTS):
        return Verdict.NOT_ENOUGH
    if difference is None or low is None or high is None:
        return Verdict.NOT_ENOUGH
    if low <= 0 <= high:
        return Verdict.NO_DIFFERENCE
    return Verdict.BETTER if (difference > 0) == outcome.higher_is_better else Verdict.WORSE


# For scripts ----------------------------------------------------------------------------


def as_json(found: Sequence[ExperimentResult], as_of: date) -> dict[str, Any]:
    """The results as ``haohuan strategy results --json`` prints them."""

    def figure(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    return {
        "as_of": as_of.isoformat(),
        "min_cases": MIN_CASES,
        "min_events": MIN_EVENTS,
        "confidence": CONFIDENCE,
        "note": (
            "Only mature cases count: a case enters an outcome once its whole window "
            "(3, 14, 30 or 60 days from its assignment) has passed; paid_30d and cured_60d "
            "count only cases that owed something when assigned. Rates have 95% Wilson "
            "intervals, paid_30d (mean share of arrears paid, each case capped at 1) a t "
            "interval; differences are challenger minus champion, Newcombe for rates and "
            "Welch for paid_30d, Bonferroni-adjusted when there are several challengers."
        ),
        "experiments": [
            {
                "name": result.name,
                "label": result.label,
                "ended": result.ended,
                "ended_at": result.ended_at.isoformat() if result.ended_at else None,
                "champion": result.champion,
                "arms": [
                    {
                        "name": arm.name,
                        "weight": arm.weight,
                        "cases": arm.cases,
                        "outcomes": {
                            code: {
                                "mature": measure.mature,
                                "count": measure.count,
                                "rate": figure(measure.rate),
                                "ci": [figure(measure.low), figure(measure.high)],
                            }
                            for code, measure in arm.outcomes.items()
                        },
                        "paid_by_currency": arm.paid_by_currency,
                    }
                    for arm in result.arms
                ],
                "comparisons": [
                    {
                        "arm": comparison.arm,
                        "outcome": comparison.outcome,
                        "difference": figure(comparison.difference),
                        "ci": [figure(comparison.low), figure(comparison.high)],
                        "confidence": comparison.confidence,
                        "verdict": comparison.verdict.value,
                    }
                    for comparison in result.comparisons
                ],
            }
            for result in found
        ],
    }
