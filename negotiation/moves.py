"""Moving one installment of a plan: a few more days, once per plan, at no cost.

A borrower with an active plan may move one upcoming installment later by up to the
policy's ``max_installment_move_days`` (Ophelos's practice of delaying one payment by up
to 14 days, in mission.md). The plan keeps its order: an installment is never moved
onto or past the next one's date, so nothing else in the schedule changes. Refusals
come back as reasons for the portal to translate, with the window of allowed dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from negotiation.policy import Policy


class MoveRefusal(StrEnum):
    """Each way a requested move can be refused, in the order they are checked."""

    NOT_OFFERED = "not_offered"  # the product's policy allows no moves
    PLAN_NOT_ACTIVE = "plan_not_active"  # pending (first payment unpaid) or ended
    ALREADY_MOVED = "already_moved"  # this plan has had its one move
    NO_SUCH_INSTALLMENT = "no_such_installment"
    ALREADY_PAID = "already_paid"
    ALREADY_DUE = "already_due"  # its due date has passed: a move cannot undo a lateness
    NO_ROOM = "no_room"  # the next installment falls the day after
    NOT_LATER = "not_later"  # the new date is not after the current one
    TOO_LATE = "too_late"  # more days later than the policy allows
    NOT_BEFORE_NEXT = "not_before_next"  # on or after the next installment's date


@dataclass(frozen=True)
class PlanPayment:
    """One installment of a plan as the rule needs it: when, what is left, and whether
    the borrower already moved it (``moved_from`` is its original date)."""

    due_date: date
    unpaid: int
    moved_from: date | None = None


@dataclass(frozen=True)
class MoveWindow:
    """The dates an installment may be moved to, both included."""

    current: date
    earliest: date
    latest: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.earliest <= day <= self.latest


@dataclass(frozen=True)
class MoveDecision:
    """A move judged: allowed, or the reason it is not. ``window`` is set whenever the
    installment itself could move, so a refused date can be answered with the range."""

    refusal: MoveRefusal | None
    window: MoveWindow | None = None

    @property
    def allowed(self) -> bool:
        """True when the move may be made."""
        return self.refusal is None


def move_window(
    payments: Sequence[PlanPayment],
    index: int,
    today: date,
    policy: Policy,
    *,
    active: bool,
) -> MoveDecision:
    """Where the installment at ``index`` may be moved to on ``today``, or why it may not.

    ``payments`` are the plan's installments in order; ``active`` says whether the plan
    is active (its first payment made, not yet completed or broken).
    """
    days = policy.max_installment_move_days
    if days == 0:
        return MoveDecision(MoveRefusal.NOT_OFFERED)
    if not active:
        return MoveDecision(MoveRefusal.PLAN_NOT_ACTIVE)
    if any(payment.moved_from is not None for payment in payments):
        return MoveDecision(MoveRefusal.ALREADY_MOVED)
    if not 0 <= index < len(payments):
        return MoveDecision(MoveRefusal.NO_SUCH_INSTALLMENT)
    payment = payments[index]
    if payment.unpaid <= 0:
        return MoveDecision(MoveRefusal.ALREADY_PAID)
    # Due today is not late yet: the day a borrower learns their pay is late is the day
    # this is for. Once the day has passed, the grace days and the missed rules apply.
    if payment.due_date < today:
        return MoveDecision(MoveRefusal.ALREADY_DUE)
    latest = payment.due_date + timedelta(days=days)
    if index + 1 < len(payments):
        latest = min(latest, payments[index + 1].due_date - timedelta(days=1))
    earliest = payment.due_date + timedelta(days=1)
    if latest < earliest:
        return MoveDecision(MoveRefusal.NO_ROOM)
    return MoveDecision(None, MoveWindow(payment.due_date, earliest, latest))


def judge_move(
    payments: Sequence[PlanPayment],
    index: int,
    new_date: date,
    today: date,
    policy: Policy,
    *,
    active: bool,
) -> MoveDecision:
    """Whether the installment at ``index`` may be moved to ``new_date`` on ``today``."""
    decision = move_window(payments, index, today, policy, active=active)
    window = decision.window
    if window is None:
        return decision
    if new_date <= window.current:
        return MoveDecision(MoveRefusal.NOT_LATER, window)
    if new_date > window.current + timedelta(days=policy.max_installment_move_days):
        return MoveDecision(MoveRefusal.TOO_LATE, window)
    if new_date > window.latest:
        return MoveDecision(MoveRefusal.NOT_BEFORE_NEXT, window)
    return decision


def movable(
    payments: Sequence[PlanPayment], today: date, policy: Policy, *, active: bool
) -> tuple[tuple[int, MoveWindow], ...]:
    """Every installment that may be moved today, by index, with its window."""
    found = []
    for index in range(len(payments)):
        window = move_window(payments, index, today, policy, active=active).window
        if window is not None:
            found.append((index, window))
    return tuple(found)


def moved(payments: Sequence[PlanPayment], index: int, new_date: date) -> tuple[PlanPayment, ...]:
    """The plan's installments after the one at ``index`` moved to ``new_date`` (not
    judged: call ``judge_move`` first)."""
    payment = payments[index]
    changed = PlanPayment(new_date, payment.unpaid, moved_from=payment.due_date)
    return (*payments[:index], changed, *payments[index + 1 :])
