"""Home visits in the pure domain: when one may be proposed (the policy's thresholds),
and when it may take place (the notice's lead, the visiting hours inside the contact
rules of the borrower's zone, blackouts and holidays, holds). Every date is fixed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from negotiation import PolicyError, load_policy
from negotiation.money import Currency
from negotiation.policy import Stage
from negotiation.visits import (
    VisitBar,
    VisitCase,
    VisitRefusal,
    visit_bars,
    visit_hours,
    visit_refusals,
    visit_window,
)

POLICY = load_policy()
RULES = POLICY.visits
TAIPEI_RULES = POLICY.contact_for("TW", "TW")
# A Taiwan loan's borrower living in Los Angeles: Taiwan's and the US's rules together.
LOS_ANGELES_RULES = POLICY.contact_for("US-CA", "TW")
MAINLAND_RULES = POLICY.contact_for("CN", "CN")
BIG = 5_000_000


def case(**changes: object) -> VisitCase:
    values: dict[str, object] = {
        "stage": Stage.MID,
        "days_past_due": 60,
        "overdue": BIG,
        "currency": Currency.TWD,
    }
    values.update(changes)
    return VisitCase(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "bars"),
    [
        ({}, ()),
        ({"stage": Stage.LATE, "days_past_due": 120}, ()),
        (
            {"stage": Stage.EARLY, "days_past_due": 20},
            (VisitBar.STAGE_TOO_EARLY, VisitBar.TOO_FEW_DAYS),
        ),
        ({"days_past_due": 44}, (VisitBar.TOO_FEW_DAYS,)),
        ({"overdue": 2_999_999}, (VisitBar.AMOUNT_TOO_SMALL,)),
        ({"overdue": 3_000_000}, ()),
        ({"currency": Currency.CNY, "overdue": 599_999}, (VisitBar.AMOUNT_TOO_SMALL,)),
        ({"on_hold": True}, (VisitBar.ON_HOLD,)),
        ({"arranged": True}, (VisitBar.ARRANGED,)),
        ({"visit_open": True}, (VisitBar.VISIT_OPEN,)),
    ],
)
def test_a_visit_is_for_large_or_long_overdue_debts_only(changes, bars):
    assert visit_bars(RULES, case(**changes)) == bars


def test_the_date_range_starts_after_the_notice_and_skips_holidays():
    # Noticed on Monday 14 December 2026 in Taipei: 7 days' notice, 14 days long; the
    # 25th is a Taiwan public holiday, closed to visits though it stops only calls and SMS.
    window = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14))
    assert (window.first, window.last) == (date(2026, 12, 21), date(2027, 1, 3))
    assert window.closed_days == (date(2026, 12, 25), date(2027, 1, 1))
    assert date(2026, 12, 25) not in window.open_days()


def test_a_visit_the_borrower_asked_for_needs_no_notice():
    window = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14), agreed=True)
    assert window.first == date(2026, 12, 15)


def test_the_stricter_hours_hold():
    # The policy's visiting hours (09:00-19:00) inside Taiwan's contact hours (07:00-22:00).
    assert visit_hours(RULES, TAIPEI_RULES) == (time(9), time(19))
    wide = load_policy({"visits": {"visit_from": "06:00", "visit_until": "23:00"}}).visits
    # Taiwan's own hours and the US's (08:00-21:00) narrow visiting hours set wider.
    assert visit_hours(wide, TAIPEI_RULES) == (time(7), time(22))
    assert visit_hours(wide, LOS_ANGELES_RULES) == (time(8), time(21))


# 11:00 in Taipei on Thursday 24 December 2026 is 19:00 on the 23rd in Los Angeles.
TAIPEI_MORNING = datetime(2026, 12, 24, 3, 0, tzinfo=UTC)


def test_one_moment_is_allowed_in_taipei_and_refused_in_los_angeles():
    taipei = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14))
    assert visit_refusals(taipei, TAIPEI_RULES, TAIPEI_MORNING, "Asia/Taipei", on_hold=False) == ()
    abroad = visit_window(RULES, LOS_ANGELES_RULES, date(2026, 12, 14))
    refusals = visit_refusals(
        abroad, LOS_ANGELES_RULES, TAIPEI_MORNING, "America/Los_Angeles", on_hold=False
    )
    assert refusals == (VisitRefusal.OUTSIDE_HOURS,)


def test_the_borrower_abroad_is_visited_on_their_own_clock():
    abroad = visit_window(RULES, LOS_ANGELES_RULES, date(2026, 12, 14))
    # 10:00 on the 22nd in Los Angeles (PST, UTC-8): 02:00 on the 23rd in Taipei.
    morning = datetime(2026, 12, 22, 18, 0, tzinfo=UTC)
    assert (
        visit_refusals(abroad, LOS_ANGELES_RULES, morning, "America/Los_Angeles", on_hold=False)
        == ()
    )
    # The 25th is a US federal holiday as well as a Taiwan one: closed there too.
    christmas = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
    refusals = visit_refusals(
        abroad, LOS_ANGELES_RULES, christmas, "America/Los_Angeles", on_hold=False
    )
    assert refusals == (VisitRefusal.BLACKOUT_DAY,)


def test_a_day_outside_the_range_is_refused():
    window = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14))
    early = datetime(2026, 12, 18, 3, 0, tzinfo=UTC)
    late = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)
    assert visit_refusals(window, TAIPEI_RULES, early, "Asia/Taipei", on_hold=False) == (
        VisitRefusal.BEFORE_WINDOW,
    )
    assert visit_refusals(window, TAIPEI_RULES, late, "Asia/Taipei", on_hold=False) == (
        VisitRefusal.AFTER_WINDOW,
    )


def test_a_mainland_blackout_closes_the_spring_festival():
    window = visit_window(RULES, MAINLAND_RULES, date(2027, 1, 30))
    # The range 6-19 February 2027; the lender's Spring Festival blackout runs 5-13.
    assert window.first == date(2027, 2, 6)
    assert window.open_days()[0] == date(2027, 2, 14)
    festival = datetime(2027, 2, 8, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    assert VisitRefusal.BLACKOUT_DAY in visit_refusals(
        window, MAINLAND_RULES, festival, "Asia/Shanghai", on_hold=False
    )


def test_a_hold_refuses_every_moment():
    window = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14))
    assert visit_refusals(window, TAIPEI_RULES, TAIPEI_MORNING, "Asia/Taipei", on_hold=True) == (
        VisitRefusal.ON_HOLD,
    )


NAIVE = datetime(2026, 12, 24, 11)  # noqa: DTZ001  (the mistake under test)


def test_a_naive_moment_is_a_programming_error():
    window = visit_window(RULES, TAIPEI_RULES, date(2026, 12, 14))
    with pytest.raises(ValueError, match="aware"):
        visit_refusals(window, TAIPEI_RULES, NAIVE, "Asia/Taipei", on_hold=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_stage": "early"}, "visits.min_stage"),
        ({"visit_from": "19:00", "visit_until": "09:00"}, "visits.visit_from"),
        ({"min_days_past_due": 0}, "visits.min_days_past_due"),
        ({"notice_days": 0}, "visits.notice_days"),
        ({"min_overdue": {"TWD": 0}}, "visits.min_overdue.TWD"),
    ],
)
def test_the_policy_refuses_an_unlawful_or_broken_visits_table(overrides, message):
    with pytest.raises(PolicyError, match=message):
        load_policy({"visits": overrides})


def test_a_later_mid_stage_needs_no_edit_of_the_visits_table_and_still_governs():
    # The mid stage moved to day 60, past the visits' 45 days: the policy loads, and a
    # case at 50 days (early stage now) is barred by its stage.
    later = load_policy({"stages": {"mid_from_days": 60}})
    assert later.visits.min_days_past_due < later.stage_starts(Stage.MID)
    bars = visit_bars(later.visits, case(stage=Stage.EARLY, days_past_due=50))
    assert bars == (VisitBar.STAGE_TOO_EARLY,)
