"""Contact strategies as data: the document's validation, arms by a stable hash, the
steps a case in an arm runs, promotion, and the timing of each event and offset."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, date, datetime, time

import pytest

from negotiation.policy import Stage
from negotiation.strategy import (
    CaseFacts,
    Event,
    Skip,
    StepChannel,
    StrategyError,
    Template,
    arm_for,
    default_document,
    digest,
    event_window,
    load_strategy,
    mismatch,
    planned_moment,
    promoted,
    steps_for,
)

DAY = date(2026, 12, 7)


def _step(**changes: object) -> dict[str, object]:
    step: dict[str, object] = {
        "name": "s1",
        "event": "overdue",
        "days": 1,
        "channels": ["sms"],
        "template": "reminder",
    }
    step.update(changes)
    return step


def _problems(document: dict[str, object]) -> tuple[str, ...]:
    with pytest.raises(StrategyError) as raised:
        load_strategy(document)
    return raised.value.problems


def test_the_default_strategy_is_the_founding_documents_early_stage() -> None:
    strategy = load_strategy(default_document())
    steps = {step.name: step for step in strategy.steps}
    overdue = {s.days: s for s in strategy.steps if s.event is Event.OVERDUE}
    assert sorted(overdue) == [1, 3, 5, 10, 20]
    assert overdue[1].channels[0] is StepChannel.SMS
    assert overdue[3].channels[0] is StepChannel.EMAIL
    assert overdue[3].when.not_opened_within_days == 3
    assert overdue[5].channels == (StepChannel.CALL,)
    assert overdue[10].channels[0] is StepChannel.SMS
    assert overdue[20].channels[0] is StepChannel.EMAIL
    assert steps["mid_letter"].channels == (StepChannel.LETTER,)
    assert steps["mid_letter"].when.stages == frozenset({Stage.MID})
    assert steps["plan_due_3"].event is Event.PLAN_DUE
    assert steps["plan_due_3"].days == 3
    assert steps["plan_missed_0"].event is Event.PLAN_MISSED
    assert steps["plan_missed_0"].days == 0
    # An open promise suppresses overdue reminders; a plan in force pauses them.
    assert all(s.when.has_open_promise is False for s in overdue.values())
    assert all(s.when.has_plan is False for s in overdue.values())
    assert [e.name for e in strategy.experiments] == ["day1-plan-first"]


def test_every_problem_is_named_with_its_key() -> None:
    problems = _problems(
        {
            "name": "Bad Name",
            "steps": [
                _step(event="fortnight", days=-1, channels=["fax"]),
                _step(name="s1", template="shout", send_at="25:00", extra=1),
                _step(name="s1"),
            ],
            "experiments": [{"name": "e", "arms": [{"name": "a", "weight": 50}]}],
            "colour": "red",
        }
    )
    joined = "\n".join(problems)
    for expected in (
        "name: must be a name",
        "steps[0].event: 'fortnight' is not one of",
        "steps[0].days: must be a whole number of days from 0 to 365",
        "steps[0].channels[0]: 'fax' is not one of sms, email, letter, call",
        "steps[1].extra: unknown key",
        "steps[1].template: 'shout' is not one of",
        "steps[1].send_at: must be a local time HH:MM",
        "steps[2].name: 's1' is used twice",
        "experiments[0].arms: an experiment needs a champion and a challenger",
        "experiments[0].arms: weights add up to 50, not 100",
        "colour: unknown key",
    ):
        assert expected in joined, expected


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (_step(days=0), "an overdue step starts on day 1 or later"),
        (_step(event="before_due", days=3), "before a due date only a courtesy reminder goes"),
        (_step(template="courtesy"), "a courtesy reminder is for before a due date only"),
        (_step(event="stage_entry", days=0), "a stage_entry step names the stage"),
        (_step(when={"stages": ["middle"]}), "middle not among"),
        (_step(when={"markets": ["JP"]}), "JP not among"),
        (_step(when={"arrears_at_least": {"TWD": -5}}), "must map currencies"),
        (_step(when={"has_plan": "yes"}), "must be true or false"),
        (_step(channels=["sms", "sms"]), "sms is listed twice"),
        (_step(channels=[]), "must list one channel or more"),
    ],
)
def test_a_wrong_step_is_refused_with_its_reason(step: dict[str, object], expected: str) -> None:
    assert any(expected in problem for problem in _problems({"steps": [step]}))


def test_experiments_are_checked_against_the_champion() -> None:
    steps = [_step(), _step(name="s2", days=3)]
    arms = [
        {"name": "champion", "weight": 80},
        {"name": "b", "weight": 20, "steps": {"nope": {"template": "reminder_plan"}}},
    ]
    assert any(
        "no champion step has this name" in p
        for p in _problems({"steps": steps, "experiments": [{"name": "e", "arms": arms}]})
    )
    arms[1]["steps"] = {"s1": {"event": "plan_due"}}
    assert any(
        "only channels, days, label, send_at, template may vary" in p
        for p in _problems({"steps": steps, "experiments": [{"name": "e", "arms": arms}]})
    )
    arms[1]["steps"] = {"s1": {"template": "reminder_plan"}}
    twice = [{"name": "e", "arms": arms}, {"name": "f", "arms": copy.deepcopy(arms)}]
    assert any(
        "is varied by both 'e' and 'f'" in p
        for p in _problems({"steps": steps, "experiments": twice})
    )
    champion_changes = [{"name": "champion", "weight": 80, "steps": {"s1": {"days": 2}}}, arms[1]]
    assert any(
        "the first arm is the champion" in p
        for p in _problems(
            {"steps": steps, "experiments": [{"name": "e", "arms": champion_changes}]}
        )
    )


def test_arms_come_in_the_proportions_set_within_tolerance_at_100000_cases() -> None:
    strategy = load_strategy(default_document())
    experiment = strategy.experiments[0]
    counts = Counter(arm_for(experiment, case_id).name for case_id in range(1, 100_001))
    # 80/20 of 100,000: the binomial standard deviation is about 126; 4 of them either side.
    assert abs(counts["champion"] - 80_000) < 510
    assert abs(counts["plan-first"] - 20_000) < 510
    # Stable: the same case is always in the same arm; another experiment is independent.
    assert all(arm_for(experiment, n) == arm_for(experiment, n) for n in range(1, 1000))
    renamed = type(experiment)("another", experiment.arms)
    same = sum(arm_for(experiment, n).name == arm_for(renamed, n).name for n in range(1, 10_001))
    # Independent 80/20 draws agree 68% of the time (0.8² + 0.2²).
    assert 6_600 < same < 7_000


def test_a_case_runs_its_arms_steps() -> None:
    strategy = load_strategy(default_document())
    champion = steps_for(strategy, {"day1-plan-first": "champion"})
    challenger = steps_for(strategy, {"day1-plan-first": "plan-first"})
    assert champion["overdue_1_sms"][0].template is Template.REMINDER
    assert challenger["overdue_1_sms"][0].template is Template.REMINDER_PLAN
    assert challenger["overdue_1_sms"][1] == "day1-plan-first:plan-first"
    assert champion["overdue_3_email"][1] is None
    assert challenger["overdue_3_email"][0] == champion["overdue_3_email"][0]


def test_a_whole_challenger_strategy_replaces_every_step_for_its_arm() -> None:
    document = {
        "steps": [_step(), _step(name="s2", days=3)],
        "experiments": [
            {
                "name": "email-first",
                "arms": [
                    {"name": "champion", "weight": 50},
                    {
                        "name": "email",
                        "weight": 50,
                        "strategy": [_step(name="e1", channels=["email"], days=2)],
                    },
                ],
            }
        ],
    }
    strategy = load_strategy(document)
    assert set(steps_for(strategy, {"email-first": "email"})) == {"e1"}
    assert set(steps_for(strategy, {"email-first": "champion"})) == {"s1", "s2"}
    assert {step.name for step in strategy.all_steps()} == {"s1", "s2", "e1"}
    document["experiments"].append(  # type: ignore[attr-defined]
        {"name": "x", "arms": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}]}
    )
    assert any("a whole challenger strategy is tested alone" in p for p in _problems(document))


def test_promoting_a_challenger_makes_its_steps_the_champions_and_ends_the_experiment() -> None:
    document = default_document()
    new = promoted(document, "day1-plan-first", "plan-first")
    strategy = load_strategy(new)
    assert strategy.experiments == ()
    assert strategy.step("overdue_1_sms").template is Template.REMINDER_PLAN  # type: ignore[union-attr]
    assert digest(new) != digest(document)
    # The original document is untouched.
    assert load_strategy(document).experiments
    with pytest.raises(StrategyError):
        promoted(document, "day1-plan-first", "nobody")


@pytest.mark.parametrize(
    ("event", "days", "catch_up", "window"),
    [
        ("overdue", 1, 0, (date(2026, 12, 6), date(2026, 12, 6))),
        ("overdue", 3, 2, (date(2026, 12, 2), date(2026, 12, 4))),
        ("plan_due", 3, 0, (date(2026, 12, 10), date(2026, 12, 10))),
        ("promise_due", 1, 1, (date(2026, 12, 7), date(2026, 12, 8))),
        ("plan_missed", 0, 0, (DAY, DAY)),
    ],
)
def test_the_event_dates_a_step_is_due_for(
    event: str, days: int, catch_up: int, window: tuple[date, date]
) -> None:
    step = load_strategy({"steps": [_step(event=event, days=days, template="reminder")]}).steps[0]
    assert event_window(step, DAY, catch_up) == window


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # 09:00 in Taipei: the step's 10:00 there is still to come.
        (
            "Asia/Taipei",
            datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 2, 0, tzinfo=UTC),
        ),
        # 11:00 in Taipei: 10:00 has passed, so now.
        (
            "Asia/Taipei",
            datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
        ),
        # Los Angeles' 10:00 on the same date is 18:00 UTC.
        (
            "America/Los_Angeles",
            datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 18, 0, tzinfo=UTC),
        ),
        # Hong Kong shares Taipei's offset.
        (
            "Asia/Hong_Kong",
            datetime(2026, 12, 7, 1, 30, tzinfo=UTC),
            datetime(2026, 12, 7, 2, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_step_is_wanted_at_its_local_time_or_now(
    zone: str, now: datetime, expected: datetime
) -> None:
    step = load_strategy({"steps": [_step(send_at="10:00")]}).steps[0]
    assert planned_moment(step, DAY, zone, now) == expected


def test_last_opened_sends_at_the_hour_the_borrower_last_opened_a_link() -> None:
    step = load_strategy({"steps": [_step(send_at="last_opened")]}).steps[0]
    early = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # midnight in Taipei
    assert planned_moment(step, DAY, "Asia/Taipei", early, opened_hour=20) == datetime(
        2026, 12, 7, 12, 0, tzinfo=UTC
    )
    # Never opened: the default hour.
    assert planned_moment(step, DAY, "Asia/Taipei", early).astimezone(UTC).time() == time(2, 0)


def _facts(**changes: object) -> CaseFacts:
    values: dict[str, object] = {
        "stage": Stage.EARLY,
        "market": "TW",
        "currency": "TWD",
        "arrears": 50_000,
        "has_plan": False,
        "has_open_promise": False,
    }
    values.update(changes)
    return CaseFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("when", "facts", "skip"),
    [
        ({}, {}, None),
        ({}, {"has_open_promise": True}, Skip.OPEN_PROMISE),
        ({"has_open_promise": True}, {"has_open_promise": True}, None),
        ({}, {"has_plan": True}, Skip.HAS_PLAN),
        ({"stages": ["mid"]}, {}, Skip.STAGE),
        ({"markets": ["CN"]}, {}, Skip.MARKET),
        ({"currencies": ["HKD"]}, {}, Skip.CURRENCY),
        ({"arrears_at_least": {"TWD": 50_001}}, {}, Skip.AMOUNT_BAND),
        ({"arrears_below": {"TWD": 50_000}}, {}, Skip.AMOUNT_BAND),
        ({"arrears_at_least": {"TWD": 50_000}, "arrears_below": {"TWD": 50_001}}, {}, None),
        ({"arrears_at_least": {"CNY": 99_999_999}}, {}, None),  # another currency's band
        ({"not_opened_within_days": 3}, {"last_opened": date(2026, 12, 5)}, Skip.OPENED),
        ({"not_opened_within_days": 3}, {"last_opened": date(2026, 12, 4)}, None),
        ({}, {"arrears": 0}, Skip.NOTHING_OWED),
        ({}, {"resolved": True}, Skip.RESOLVED),
    ],
)
def test_a_steps_conditions(
    when: dict[str, object], facts: dict[str, object], skip: Skip | None
) -> None:
    step = load_strategy({"steps": [_step(when=when)]}).steps[0]
    assert mismatch(step, _facts(**facts), DAY) is skip
