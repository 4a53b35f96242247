"""Contact strategies: the versions that ran, the switch that pauses them, each step
planned for a case, and each case's arm of an experiment (``portal.strategy``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes


class StrategySource(StrEnum):
    """Where a strategy version came from: the strategy file (each distinct document is
    kept the first time it runs) or a supervisor's promotion of a challenger."""

    FILE = "file"
    PROMOTION = "promotion"


class StrategyVersion(Base):
    """One strategy document as it ran: the newest version is the one in force. Kept for
    the record (which words and timing each case was sent by), never changed."""

    __tablename__ = "strategy_versions"

    version: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(48))
    digest: Mapped[str] = mapped_column(String(64), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[StrategySource] = mapped_column(codes(StrategySource, name="source", length=16))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class StrategySwitch(Base):
    """Whether the strategy runs: a supervisor pauses it with one switch (audited), and
    ``haohuan strategy run`` then plans nothing until it is resumed."""

    __tablename__ = "strategy_switches"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(254))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class PlannedStatus(StrEnum):
    """What a step planned for a case became: a message due at the moment the step wanted
    (``queued``) or at a later one the contact rules allow (``deferred``), a task for the
    case's owner (a call or a letter), or nothing (``skipped``, with the reason)."""

    QUEUED = "queued"
    DEFERRED = "deferred"
    TASK = "task"
    SKIPPED = "skipped"


class PlannedStep(Base):
    """One step of the strategy planned for one case and one occurrence of its event
    (an installment, a promise, an overdue spell...): planned once, however often the
    command runs (the unique key)."""

    __tablename__ = "strategy_steps"
    __table_args__ = (
        UniqueConstraint("case_id", "step", "occurrence", name="uq_strategy_steps_occurrence"),
        Index("ix_strategy_steps_as_of_step", "as_of", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(48))
    occurrence: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(ForeignKey("strategy_versions.version"))
    # "experiment:arm" when an experiment shaped the step for this case.
    variant: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(8))
    template: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[PlannedStatus] = mapped_column(codes(PlannedStatus, name="status", length=16))
    reason: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id"))
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("case_flags.id"))
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ExperimentAssignment(Base):
    """A case's arm of an experiment, recorded the first time the case meets it, with
    what it owed then (the base its outcomes are measured against)."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (
        UniqueConstraint("experiment", "case_id", name="uq_experiment_assignments_case"),
        Index("ix_experiment_assignments_arm", "experiment", "arm"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment: Mapped[str] = mapped_column(String(48))
    arm: Mapped[str] = mapped_column(String(48))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(ForeignKey("strategy_versions.version"))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    as_of: Mapped[date] = mapped_column(Date)
    arrears: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))


class StrategyRun(Base):
    """One day the strategy was planned (``haohuan strategy run``), recorded when the run
    finished: a step due on a day no run finished is planned late by the next run (up to
    ``negotiation.strategy.CATCH_UP_DAYS``), and the first run plans only its own day."""

    __tablename__ = "strategy_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    version: Mapped[int] = mapped_column(ForeignKey("strategy_versions.version"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
