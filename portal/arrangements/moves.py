"""Moving one installment of the borrower's active plan to a later date.

The engine (``negotiation.moves``) decides; this module reads the plan, re-checks the
rule under a lock on the plan's row, changes the date, and records a case event that
agents read. There is no fee: nothing but the date changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation import MoveRefusal, MoveWindow, PlanPayment, judge_move, movable, move_window
from portal.cases.facts import live_plan, policy, record_event
from portal.core.db import lock_row
from portal.models import Case, Plan, PlanInstallment, PlanStatus

EVENT_KIND = "installment_moved"


def payments_of(installments: list[PlanInstallment]) -> tuple[PlanPayment, ...]:
    """A plan's installments, in order, as the engine's rule reads them."""
    return tuple(PlanPayment(i.due_date, i.outstanding, i.moved_from) for i in installments)


def move_choices(plan: Plan, today: date) -> list[tuple[PlanInstallment, MoveWindow]]:
    """The installments of ``plan`` the borrower may move today, each with its window."""
    installments = list(plan.installments)
    found = movable(
        payments_of(installments), today, policy(), active=plan.status == PlanStatus.ACTIVE
    )
    return [(installments[index], window) for index, window in found]


def plan_refusal(plan: Plan | None, today: date) -> MoveRefusal:
    """Why no installment of ``plan`` can be moved today (None: there is no plan): the
    rule's answer about the plan as a whole, else that no payment is one to move."""
    if plan is None:
        return MoveRefusal.PLAN_NOT_ACTIVE
    payments = payments_of(list(plan.installments))
    decision = move_window(payments, -1, today, policy(), active=plan.status == PlanStatus.ACTIVE)
    return decision.refusal or MoveRefusal.NO_SUCH_INSTALLMENT


def moved_installment(plan: Plan) -> PlanInstallment | None:
    """The plan's one moved installment, if the borrower has moved one."""
    return next((i for i in plan.installments if i.moved_from is not None), None)


@dataclass(frozen=True)
class MoveResult:
    """A move made (``installment`` is the moved row), or why not, with the window of
    dates that installment could take when only the date was wrong."""

    refusal: MoveRefusal | None
    window: MoveWindow | None = None
    installment: PlanInstallment | None = None


def check_move(
    db: Session, case: Case, installment_id: int | None, new_date: date, today: date
) -> MoveResult:
    """What ``move_installment`` would answer, with nothing changed or locked: for a
    page that shows a refused move again (in another language)."""
    plan = live_plan(db, case)
    if plan is None:
        return MoveResult(MoveRefusal.PLAN_NOT_ACTIVE)
    return _judged(plan, list(plan.installments), installment_id, new_date, today)[0]


def _judged(
    plan: Plan,
    installments: list[PlanInstallment],
    installment_id: int | None,
    new_date: date,
    today: date,
) -> tuple[MoveResult, PlanInstallment | None]:
    """The answer to a move by the rule, and the installment to move when it is allowed
    (None for a refusal, or for a repeat of the move already made, answered as that move)."""
    index = next((n for n, i in enumerate(installments) if i.id == installment_id), -1)
    decision = judge_move(
        payments_of(installments),
        index,
        new_date,
        today,
        policy(),
        active=plan.status == PlanStatus.ACTIVE,
    )
    chosen = installments[index] if index >= 0 else None
    if decision.allowed:
        return MoveResult(None, installment=chosen), chosen
    repeat = (
        decision.refusal is MoveRefusal.ALREADY_MOVED
        and chosen is not None
        and chosen.moved_from is not None
        and chosen.due_date == new_date
    )
    if repeat:
        return MoveResult(None, installment=chosen), None
    return MoveResult(decision.refusal, decision.window), None


def move_installment(
    db: Session, case: Case, installment_id: int | None, new_date: date, today: date
) -> MoveResult:
    """Move one installment of the case's active plan to ``new_date``, once. Commits.

    Concurrent submits are serialised on the plan's row and the rule is checked again
    on what is committed, so a plan is moved once. A repeat of the move already made
    (a double click, a resent form) is answered as that move, with no second event.
    An installment id that is not the plan's own (another borrower's, or tampered)
    is refused like any other; nothing tells whose it is.
    """
    plan = live_plan(db, case)
    if plan is None:
        return MoveResult(MoveRefusal.PLAN_NOT_ACTIVE)
    lock_row(db, Plan, plan.id)
    db.refresh(plan)
    installments = list(
        db.scalars(
            select(PlanInstallment)
            .where(PlanInstallment.plan_id == plan.id)
            .order_by(PlanInstallment.sequence)
            .execution_options(populate_existing=True)
        )
    )
    answer, chosen = _judged(plan, installments, installment_id, new_date, today)
    if chosen is None:
        db.rollback()  # ends the lock; nothing was written
        return answer
    original = chosen.due_date
    chosen.moved_from, chosen.due_date = original, new_date
    record_event(
        db,
        case,
        EVENT_KIND,
        "borrower",
        plan_id=plan.id,
        installment_id=chosen.id,
        sequence=chosen.sequence,
        amount=chosen.outstanding,
        moved_from=original.isoformat(),
        moved_to=new_date.isoformat(),
        days=(new_date - original).days,
        fee=0,
    )
    db.commit()
    return MoveResult(None, installment=chosen)
