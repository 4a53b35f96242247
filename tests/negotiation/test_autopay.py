"""The autopay schedule: the days an installment is charged, and which attempt a run
makes, whatever days the runs happen on."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from negotiation import AttemptOutcome, MadeAttempt, attempt_dates, next_attempt

DUE = date(2027, 1, 5)


def test_the_default_schedule_is_the_due_date_three_days_on_and_the_graces_last_day():
    assert attempt_dates(DUE, 3, 5) == (DUE, date(2027, 1, 8), date(2027, 1, 10))


def test_a_retry_past_the_grace_period_is_dropped_and_days_are_never_repeated():
    assert attempt_dates(DUE, 7, 5) == (DUE, date(2027, 1, 10))
    assert attempt_dates(DUE, 5, 5) == (DUE, date(2027, 1, 10))
    assert attempt_dates(DUE, 0, 5) == (DUE, date(2027, 1, 10))
    assert attempt_dates(DUE, 3, 0) == (DUE,)


def test_nothing_before_the_due_date_nor_after_the_grace_period():
    assert next_attempt(DUE, DUE - timedelta(days=1), [], 3, 5) is None
    assert next_attempt(DUE, DUE + timedelta(days=6), [], 3, 5) is None


def test_no_retry_after_authentication_an_unusable_card_or_a_success():
    for outcome in (
        AttemptOutcome.NEEDS_AUTHENTICATION,
        AttemptOutcome.CARD_UNUSABLE,
        AttemptOutcome.SUCCEEDED,
    ):
        made = [MadeAttempt(DUE, outcome)]
        for days in range(6):
            assert next_attempt(DUE, DUE + timedelta(days=days), made, 3, 5) is None


def test_an_unfinished_attempt_is_made_again_even_past_the_grace_period():
    made = [
        MadeAttempt(DUE, AttemptOutcome.DECLINED),
        MadeAttempt(date(2027, 1, 8), AttemptOutcome.UNKNOWN),
    ]
    step = next_attempt(DUE, DUE + timedelta(days=30), made, 3, 5)
    assert step is not None
    assert (step.number, step.scheduled_on, step.resume) == (2, date(2027, 1, 8), True)


def test_a_missed_run_is_made_up_once_on_the_latest_day_that_has_come():
    step = next_attempt(DUE, date(2027, 1, 9), [], 3, 5)
    assert step is not None
    assert (step.number, step.scheduled_on) == (1, date(2027, 1, 8))
    made = [MadeAttempt(step.scheduled_on, AttemptOutcome.DECLINED)]
    assert next_attempt(DUE, date(2027, 1, 9), made, 3, 5) is None
    last = next_attempt(DUE, date(2027, 1, 10), made, 3, 5)
    assert last is not None
    assert (last.number, last.scheduled_on) == (2, date(2027, 1, 10))


@given(
    retry=st.integers(0, 10),
    grace=st.integers(0, 15),
    run_days=st.lists(st.integers(-3, 20), max_size=40),
)
def test_runs_on_any_days_declining_every_time(retry, grace, run_days):
    """Whatever days the runs happen on (repeated, out of order: sorted as time goes),
    every attempt is on a scheduled day that has come, each scheduled day at most once,
    in order, numbered 1, 2, 3..., never more than the schedule has, never after the
    grace period; and a run every day makes exactly the schedule."""
    schedule = attempt_dates(DUE, retry, grace)
    made: list[MadeAttempt] = []
    for offset in sorted(run_days):
        today = DUE + timedelta(days=offset)
        step = next_attempt(DUE, today, made, retry, grace)
        if step is None:
            continue
        assert not step.resume
        assert step.number == len(made) + 1
        assert step.scheduled_on in schedule
        assert DUE <= step.scheduled_on <= today <= DUE + timedelta(days=grace)
        assert not made or step.scheduled_on > made[-1].scheduled_on
        made.append(MadeAttempt(step.scheduled_on, AttemptOutcome.DECLINED))
    assert len(made) <= len(schedule)
    every_day: list[MadeAttempt] = []
    for offset in range(-1, grace + 2):
        step = next_attempt(DUE, DUE + timedelta(days=offset), every_day, retry, grace)
        if step is not None:
            every_day.append(MadeAttempt(step.scheduled_on, AttemptOutcome.DECLINED))
    assert tuple(attempt.scheduled_on for attempt in every_day) == schedule
