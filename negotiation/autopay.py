"""When a plan installment on automatic payment is charged, and when it is tried again.

A plan on autopay has each installment charged on its due date. A declined charge is
tried again on the policy's schedule: ``retry_after_days`` after the due date, then on
the last day of the grace period (the last day the installment can be paid before it
counts as missed). A charge that needs the borrower's authentication is never retried
by itself: the borrower confirms it on their phone. Values in, values out; ``today`` is
a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class AttemptOutcome(StrEnum):
    """What one automatic charge came to."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    NEEDS_AUTHENTICATION = "needs_authentication"
    # The card can no longer be charged (expired, removed at the bank or the provider).
    CARD_UNUSABLE = "card_unusable"
    # The provider could not be reached: nothing is known to have happened, and the same
    # attempt is made again (with the same idempotency key) by the next run.
    UNKNOWN = "unknown"
    # Started, its outcome not yet recorded.
    CHARGING = "charging"


# The outcomes after which the same attempt is made again rather than a new one.
UNFINISHED = (AttemptOutcome.UNKNOWN, AttemptOutcome.CHARGING)


def attempt_dates(due: date, retry_after_days: int, grace_days: int) -> tuple[date, ...]:
    """The days an installment due on ``due`` is charged: the due date, then
    ``retry_after_days`` later, then the grace period's last day, each at most once and
    never after the grace period (a retry that would fall later is dropped)."""
    last = due + timedelta(days=grace_days)
    days = [due]
    if retry_after_days > 0:
        days.append(due + timedelta(days=retry_after_days))
    days.append(last)
    return tuple(sorted({day for day in days if day <= last}))


@dataclass(frozen=True)
class NextAttempt:
    """The attempt to make today: its number (1 for the first) and the day it is for.
    ``resume`` is true when it is the last attempt again, its outcome unknown, made
    with the same key."""

    number: int
    scheduled_on: date
    resume: bool = False


@dataclass(frozen=True)
class MadeAttempt:
    """An attempt already made: the day it was for, and what it came to."""

    scheduled_on: date
    outcome: AttemptOutcome


def next_attempt(
    due: date,
    today: date,
    made: Sequence[MadeAttempt],
    retry_after_days: int,
    grace_days: int,
) -> NextAttempt | None:
    """The attempt an unpaid installment is due for today, given the attempts already
    made (in order), or None.

    - An attempt whose outcome is unknown is made again (``resume``), however late.
    - After a success, an authentication request or an unusable card: nothing more.
    - After a decline: the next scheduled day after the declined attempt's, once it has
      come. A day a run missed is made up on the first run after it, but only once: the
      latest day that has come is taken, so two attempts are never made for one day,
      and none after the grace period.
    """
    if made and made[-1].outcome in UNFINISHED:
        # Whenever it is: the provider may have charged it, and only asking again (with
        # the same key) finds out.
        return NextAttempt(len(made), made[-1].scheduled_on, resume=True)
    days = attempt_dates(due, retry_after_days, grace_days)
    if today < due or today > days[-1]:
        return None
    if any(attempt.outcome is not AttemptOutcome.DECLINED for attempt in made):
        return None
    after = made[-1].scheduled_on if made else None
    come = [day for day in days if day <= today and (after is None or day > after)]
    if not come:
        return None
    return NextAttempt(len(made) + 1, come[-1])
