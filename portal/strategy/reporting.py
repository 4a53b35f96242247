"""What the contact strategy did: for each step, how many cases it reached today and this
week, per experiment arm, what was skipped and why, and what became of its messages.

Read by the supervisors' strategy page (``/agent/strategy``). Two grouped queries over
``strategy_steps`` (the week's rows by ``as_of``, which its ``(as_of, step)`` index
ranges over), whatever the number of steps, arms or cases: the counts are folded into
the strategy's own order here, never one query per step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from negotiation.strategy import Arm, Experiment, Step, Strategy, load_strategy
from portal.models import (
    ExperimentAssignment,
    Message,
    MessageStatus,
    PlannedStatus,
    PlannedStep,
    StrategySwitch,
    StrategyVersion,
)
from portal.strategy import results, versions

# A step planned with no reason recorded (older rows, or a planner that gave none).
UNKNOWN_REASON = "unknown"


@dataclass(frozen=True)
class Counts:
    """What a step became for the cases it was due for."""

    queued: int = 0
    deferred: int = 0
    tasks: int = 0
    skipped: int = 0

    @property
    def reached(self) -> int:
        """Cases the step reached: a message (now or later) or a task for the owner."""
        return self.queued + self.deferred + self.tasks

    @property
    def total(self) -> int:
        """Every case the step was due for, skipped included."""
        return self.reached + self.skipped

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.queued + other.queued,
            self.deferred + other.deferred,
            self.tasks + other.tasks,
            self.skipped + other.skipped,
        )

    def plus(self, status: str, number: int) -> Counts:
        """These counts with ``number`` more of ``status`` (a ``PlannedStatus`` value)."""
        return Counts(
            self.queued + (number if status == PlannedStatus.QUEUED else 0),
            self.deferred + (number if status == PlannedStatus.DEFERRED else 0),
            self.tasks + (number if status == PlannedStatus.TASK else 0),
            self.skipped + (number if status == PlannedStatus.SKIPPED else 0),
        )


@dataclass(frozen=True)
class Outcomes:
    """What became of the messages the strategy planned (the week's), so far."""

    sent: int = 0
    failed: int = 0
    canceled: int = 0
    waiting: int = 0  # scheduled, or being sent right now

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(
            self.sent + other.sent,
            self.failed + other.failed,
            self.canceled + other.canceled,
            self.waiting + other.waiting,
        )

    def plus(self, status: str, number: int) -> Outcomes:
        """These outcomes with ``number`` more messages in ``status``."""
        return Outcomes(
            self.sent + (number if status == MessageStatus.SENT else 0),
            self.failed + (number if status == MessageStatus.FAILED else 0),
            self.canceled + (number if status == MessageStatus.CANCELLED else 0),
            self.waiting
            + (number if status in (MessageStatus.SCHEDULED, MessageStatus.SENDING) else 0),
        )


@dataclass(frozen=True)
class Line:
    """The counts of one step, or of one arm of it."""

    today: Counts = Counts()
    week: Counts = Counts()
    messages: Outcomes = Outcomes()


@dataclass(frozen=True)
class VariantRow:
    """One arm's share of a step: ``variant`` as stored ("experiment:arm")."""

    variant: str
    experiment: str
    arm: str
    weight: int | None  # the arm's share of cases (percent); None for an ended experiment
    champion: bool
    line: Line


@dataclass(frozen=True)
class StepRow:
    """One step of the strategy (or, ``step`` None, a step name planned this week that the
    strategy in force no longer has), with its counts and its arms'."""

    name: str
    step: Step | None
    # The challenger arm whose own step this is ("experiment:arm"), for a whole challenger.
    arm_of: str | None
    line: Line
    variants: tuple[VariantRow, ...] = ()


@dataclass(frozen=True)
class SkipRow:
    """How many due steps were skipped for one reason."""

    reason: str
    today: int
    week: int


@dataclass(frozen=True)
class StrategyReport:
    """The strategy page's numbers (see the module docstring)."""

    today: date
    week_start: date
    steps: tuple[StepRow, ...]
    skipped: tuple[SkipRow, ...]
    total: Line = field(default_factory=Line)


def step_report(db: Session, strategy: Strategy, today: date, week_start: date) -> StrategyReport:
    """Counts for each step of ``strategy`` (in the document's order, a challenger's own
    steps after the champion's), today and from ``week_start`` to ``today`` (by the day
    each step was planned for, ``as_of``): queued, deferred, tasks, skipped; the same per
    experiment arm; skipped by reason; and the week's planned messages by outcome."""
    week = PlannedStep.as_of.between(week_start, today)
    is_today = case((PlannedStep.as_of == today, 1), else_=0).label("is_today")
    planned = db.execute(
        select(
            PlannedStep.step,
            PlannedStep.variant,
            PlannedStep.status,
            PlannedStep.reason,
            is_today,
            func.count(),
        )
        .where(week)
        .group_by(PlannedStep.step, PlannedStep.variant, PlannedStep.status, PlannedStep.reason)
        .group_by(is_today)
    ).all()
    sent = db.execute(
        select(PlannedStep.step, PlannedStep.variant, Message.status, func.count())
        .join(Message, Message.id == PlannedStep.message_id)
        .where(week)
        .group_by(PlannedStep.step, PlannedStep.variant, Message.status)
    ).all()

    lines: dict[tuple[str, str | None], Line] = defaultdict(Line)
    reasons: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for step, variant, status, reason, on_day, number in planned:
        key = (step, variant)
        line = lines[key]
        week_counts = line.week.plus(status, number)
        today_counts = line.today.plus(status, number) if on_day else line.today
        lines[key] = Line(today_counts, week_counts, line.messages)
        if status == PlannedStatus.SKIPPED:
            tally = reasons[reason or UNKNOWN_REASON]
            tally[1] += number
            tally[0] += number if on_day else 0
    for step, variant, status, number in sent:
        line = lines[(step, variant)]
        lines[(step, variant)] = Line(line.today, line.week, line.messages.plus(status, number))

    rows = _rows(strategy, lines)
    skipped = tuple(
        SkipRow(reason, counts[0], counts[1])
        for reason, counts in sorted(reasons.items(), key=lambda item: (-item[1][1], item[0]))
    )
    return StrategyReport(today, week_start, rows, skipped, _sum(row.line for row in rows))


def _rows(strategy: Strategy, lines: Mapping[tuple[str, str | None], Line]) -> tuple[StepRow, ...]:
    """The steps in the strategy's order, each with its arms; then the step names planned
    this week that the strategy no longer has (a version since replaced)."""
    by_step: dict[str, dict[str | None, Line]] = defaultdict(dict)
    for (name, variant), line in lines.items():
        by_step[name][variant] = line
    own_arm = {
        step.name: f"{experiment.name}:{arm.name}"
        for experiment in strategy.experiments
        for arm in experiment.arms
        for step in arm.steps or ()
        if strategy.step(step.name) is None
    }
    rows = []
    for step in strategy.all_steps():
        found = by_step.pop(step.name, {})
        variants = _variants(_arms_running(strategy, step.name), found)
        rows.append(
            StepRow(step.name, step, own_arm.get(step.name), _sum(found.values()), variants)
        )
    for name in sorted(by_step):
        found = by_step[name]
        rows.append(StepRow(name, None, None, _sum(found.values()), _variants([], found)))
    return tuple(rows)


def _arms_running(strategy: Strategy, step: str) -> list[tuple[Experiment, Arm]]:
    """The arms of experiments that shape ``step`` and run it: every arm of a variant
    experiment on it; of a whole challenger, the arms whose strategy has the step."""
    found = []
    for experiment in strategy.experiments:
        if not experiment.touches(step):
            continue
        for arm in experiment.arms:
            steps = arm.steps if arm.steps is not None else strategy.steps
            if not experiment.whole or any(own.name == step for own in steps):
                found.append((experiment, arm))
    return found


def _variants(
    arms: Iterable[tuple[Experiment, Arm]], found: Mapping[str | None, Line]
) -> tuple[VariantRow, ...]:
    """A row for every arm running a step (zero when no case of it was planned yet),
    then for any other arm the week's rows name (an experiment since ended)."""
    rows = []
    named: set[str] = set()
    for experiment, arm in arms:
        tag = f"{experiment.name}:{arm.name}"
        named.add(tag)
        champion = arm is experiment.champion
        line = found.get(tag, Line())
        rows.append(VariantRow(tag, experiment.name, arm.name, arm.weight, champion, line))
    for tag in sorted(v for v in found if v is not None and v not in named):
        ended, _, arm_name = tag.partition(":")
        rows.append(VariantRow(tag, ended, arm_name, None, False, found[tag]))
    return tuple(rows)


def _sum(lines: Iterable[Line]) -> Line:
    total = Line()
    for line in lines:
        total = Line(
            total.today + line.today, total.week + line.week, total.messages + line.messages
        )
    return total


# The version shown -----------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The strategy the page shows: the newest recorded version, or, when the configured
    file is a document no run has recorded yet (``pending``), the file, which the next
    run records and runs. Read only: a page view records nothing."""

    strategy: Strategy
    version: StrategyVersion | None  # None until a run records one
    pending: bool


def shown(db: Session, file_document: dict[str, Any]) -> Shown:
    """What ``portal.strategy.versions.in_force`` will return at the next run, without
    recording the file: a page must not write a version by being looked at."""
    if not versions.file_recorded(db, file_document):
        return Shown(load_strategy(file_document), None, True)
    head = db.scalars(
        select(StrategyVersion).order_by(StrategyVersion.version.desc()).limit(1)
    ).one()
    return Shown(load_strategy(head.document), head, False)


# The page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """Everything the strategy page shows: the strategy, its counts, the pause switch and
    the versions' history."""

    shown: Shown
    report: StrategyReport
    switch: StrategySwitch | None
    history: list[StrategyVersion]
    # Each experiment's arms and verdicts (``portal.strategy.results``); empty when not
    # asked for (the counts' refresh).
    experiments: list[results.ExperimentResult]


def week_start(today: date) -> date:
    """The first day of the lender's week that holds ``today``: its Monday."""
    return today - timedelta(days=today.weekday())


def overview(
    db: Session,
    file_document: dict[str, Any],
    today: date,
    moment: datetime,
    *,
    with_results: bool = True,
) -> Overview:
    """The strategy page's data at ``today`` (the console's date) and ``moment``: the
    counts, the switch, the history and (``with_results``) the experiments' results.
    Reads only."""
    found = shown(db, file_document)
    report = step_report(db, found.strategy, today, week_start(today))
    measured = results.results(db, found.strategy, today, moment) if with_results else []
    return Overview(found, report, versions.switch(db), versions.history(db), measured)


# A case's record ------------------------------------------------------------------------------

CASE_STEPS_SHOWN = 10


@dataclass(frozen=True)
class CaseStep:
    """One step planned for the case, with the label its strategy version gave it."""

    planned: PlannedStep
    label: str
    message_status: str | None


@dataclass(frozen=True)
class CaseRecord:
    """What the strategy did for one case: its newest planned steps and its arms."""

    steps: list[CaseStep]
    arms: list[ExperimentAssignment]


def case_record(db: Session, case_id: int, shown: int = CASE_STEPS_SHOWN) -> CaseRecord:
    """The case's newest planned steps (each labelled by the version that planned it, and
    with its message's status) and its experiment arms: three queries."""
    rows = db.execute(
        select(PlannedStep, Message.status)
        .outerjoin(Message, Message.id == PlannedStep.message_id)
        .where(PlannedStep.case_id == case_id)
        .order_by(PlannedStep.as_of.desc(), PlannedStep.id.desc())
        .limit(shown)
    ).all()
    documents: dict[int, dict[str, Any]] = dict(
        db.execute(
            select(StrategyVersion.version, StrategyVersion.document).where(
                StrategyVersion.version.in_(sorted({row[0].version for row in rows}))
            )
        ).all()
    )
    labels = {
        (number, step.name): step.label or step.name
        for number, document in documents.items()
        for step in _all_steps(document)
    }
    steps = [
        CaseStep(
            planned,
            labels.get((planned.version, planned.step), planned.step),
            str(status) if status is not None else None,
        )
        for planned, status in rows
    ]
    arms = list(
        db.scalars(
            select(ExperimentAssignment)
            .where(ExperimentAssignment.case_id == case_id)
            .order_by(ExperimentAssignment.assigned_at)
        )
    )
    return CaseRecord(steps, arms)


def _all_steps(document: dict[str, Any]) -> tuple[Step, ...]:
    try:
        return load_strategy(document).all_steps()
    except ValueError:  # a version no longer valid by today's rules: its names serve
        return ()
