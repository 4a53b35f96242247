"""The borrower's own narrowing (quiet windows) as one more layer of the contact rules,
public holidays that stop some channels only, and the check of a borrower's choice."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from negotiation import load_policy
from negotiation.contact import (
    MAX_QUIET_WINDOWS,
    Blackout,
    Channel,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    NarrowingProblem,
    QuietWindow,
    Recipient,
    borrower_layer,
    check_narrowing,
    may_contact,
    narrowed,
    strictest,
)

R = ContactRefusal
TAIPEI = ZoneInfo("Asia/Taipei")
POLICY = load_policy()
TW = POLICY.contact_for("TW")  # 07:00 to 22:00
WEEKDAYS = frozenset(range(5))
AT_WORK = QuietWindow(WEEKDAYS, 9 * 60, 18 * 60)


def tpe(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TAIPEI)


def decide(moment: datetime, rules=TW, channel: Channel = Channel.CALL, **extra):
    request = ContactRequest(channel, Recipient.BORROWER, moment, "Asia/Taipei", **extra)
    return may_contact(request, ContactHistory(), rules)


# 30 November 2026 is a Monday; 5 December a Saturday.
@pytest.mark.parametrize(
    ("moment", "reasons", "allowed_from"),
    [
        (tpe(11, 30, 8, 59), (), tpe(11, 30, 8, 59)),
        (tpe(11, 30, 9, 0), (R.BORROWER_HOURS,), tpe(11, 30, 18, 0)),
        (tpe(11, 30, 17, 59), (R.BORROWER_HOURS,), tpe(11, 30, 18, 0)),
        (tpe(11, 30, 18, 0), (), tpe(11, 30, 18, 0)),
        (tpe(12, 5, 10, 0), (), tpe(12, 5, 10, 0)),  # Saturday: not a workday
        # Friday after 22:00: Taiwan's hours, then the weekend is free from 07:00.
        (tpe(12, 4, 22, 30), (R.QUIET_HOURS,), tpe(12, 5, 7, 0)),
        # Sunday night: Monday 07:00 is allowed, before work.
        (tpe(12, 6, 23, 0), (R.QUIET_HOURS,), tpe(12, 7, 7, 0)),
    ],
)
def test_not_at_work_refuses_working_hours_and_names_six_in_the_evening(
    moment, reasons, allowed_from
):
    decision = decide(moment, narrowed(TW, [AT_WORK]))
    assert decision.reasons == reasons
    assert decision.allowed_from == allowed_from


@pytest.mark.parametrize("channel", [Channel.CALL, Channel.SMS, Channel.EMAIL])
def test_the_windows_bind_calls_and_messages(channel):
    assert decide(tpe(11, 30, 10), narrowed(TW, [AT_WORK]), channel).reasons == (R.BORROWER_HOURS,)


def test_letters_are_exempt_as_from_the_hours():
    assert decide(tpe(11, 30, 10), narrowed(TW, [AT_WORK]), Channel.LETTER).allowed


def test_windows_that_chain_are_waited_out_together():
    morning = QuietWindow(frozenset(range(7)), 7 * 60, 12 * 60)
    noon = QuietWindow(frozenset(range(7)), 12 * 60, 14 * 60)
    decision = decide(tpe(11, 30, 6), narrowed(TW, [noon, morning]))
    assert decision.reasons == (R.QUIET_HOURS,)
    assert decision.allowed_from == tpe(11, 30, 14, 0)


def test_a_window_to_midnight_moves_to_the_next_day():
    evenings = QuietWindow(WEEKDAYS, 18 * 60, 24 * 60)
    decision = decide(tpe(11, 30, 19), narrowed(TW, [evenings]))
    assert decision.reasons == (R.BORROWER_HOURS,)
    assert decision.allowed_from == tpe(12, 1, 7, 0)


def test_a_week_with_no_open_minute_has_no_allowed_moment():
    everything = QuietWindow(frozenset(range(7)), 0, 24 * 60)
    rules = narrowed(TW, [everything])
    assert not rules.leaves_time
    decision = decide(tpe(11, 30, 10), rules)
    assert decision.reasons == (R.BORROWER_HOURS,)
    assert decision.allowed_from is None


def test_the_layer_combines_by_strictest_and_keeps_every_other_rule():
    layer = borrower_layer([AT_WORK])
    combined = strictest(TW, layer)
    assert combined.quiet == (AT_WORK,)
    assert (combined.allowed_from, combined.allowed_until) == (TW.allowed_from, TW.allowed_until)
    assert combined.max_connected_calls_per_day == TW.max_connected_calls_per_day
    assert combined.max_call_attempts_per_7_days == TW.max_call_attempts_per_7_days
    assert combined.letter_notice_days == TW.letter_notice_days
    assert combined.blackouts == TW.blackouts
    # Order does not matter, and no windows is no layer.
    assert strictest(layer, TW).quiet == (AT_WORK,)
    assert narrowed(TW, []) is TW


def test_open_minutes_subtract_the_windows_from_the_hours():
    rules = narrowed(TW, [AT_WORK])
    assert rules.open_minutes(0) == [(7 * 60, 9 * 60), (18 * 60, 22 * 60)]
    assert rules.open_minutes(5) == [(7 * 60, 22 * 60)]


@pytest.mark.parametrize(
    ("days", "start", "end"),
    [
        (frozenset(), 0, 60),
        (frozenset({7}), 0, 60),
        (frozenset({-1}), 0, 60),
        (WEEKDAYS, 60, 60),
        (WEEKDAYS, 120, 60),
        (WEEKDAYS, -1, 60),
        (WEEKDAYS, 0, 1441),
    ],
)
def test_a_window_must_be_days_and_a_span_within_one_day(days, start, end):
    with pytest.raises(ValueError, match="quiet window"):
        QuietWindow(days, start, end)


@pytest.mark.parametrize(
    ("channels", "windows", "problem"),
    [
        (set(), [], NarrowingProblem.NO_CHANNEL),
        ({Channel.EMAIL}, [AT_WORK] * (MAX_QUIET_WINDOWS + 1), NarrowingProblem.TOO_MANY_WINDOWS),
        (
            {Channel.CALL},
            [QuietWindow(frozenset(range(7)), 0, 24 * 60)],
            NarrowingProblem.NO_TIME_LEFT,
        ),
        (
            {Channel.SMS},
            [QuietWindow(frozenset(range(7)), 7 * 60, 22 * 60)],
            NarrowingProblem.NO_TIME_LEFT,
        ),
        ({Channel.LETTER}, [QuietWindow(frozenset(range(7)), 0, 24 * 60)], None),
        ({Channel.EMAIL}, [AT_WORK], None),
        (set(Channel), [], None),
        # Every day but Sunday closed: Sunday is enough.
        ({Channel.CALL}, [QuietWindow(frozenset(range(6)), 0, 24 * 60)], None),
    ],
)
def test_a_borrowers_choice_is_checked(channels, windows, problem):
    assert check_narrowing(TW, channels, windows) is problem


# Public holidays ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "holiday"),
    [
        ("TW", date(2026, 10, 9)),
        ("TW", date(2027, 2, 8)),
        ("CN", date(2026, 10, 6)),
        ("CN", date(2027, 10, 2)),
        ("HK", date(2026, 4, 7)),
        ("HK", date(2027, 12, 27)),
        ("US", date(2026, 11, 26)),
        ("US", date(2027, 7, 5)),
        ("US-CA", date(2026, 7, 3)),
    ],
)
def test_a_public_holiday_stops_calls_sms_and_chat_only(jurisdiction, holiday):
    rules = POLICY.contact_for(jurisdiction)
    assert rules.blacked_out(holiday, Channel.CALL)
    assert rules.blacked_out(holiday, Channel.SMS)
    assert rules.blacked_out(holiday, Channel.LINE)
    assert rules.blacked_out(holiday, Channel.WECHAT)
    assert not rules.blacked_out(holiday, Channel.EMAIL)
    assert not rules.blacked_out(holiday, Channel.LETTER)


@pytest.mark.parametrize("jurisdiction", ["TW", "CN", "HK", "US"])
@pytest.mark.parametrize("year", [2026, 2027])
def test_each_jurisdiction_lists_its_holidays_for_both_years(jurisdiction, year):
    holidays = [
        b
        for b in POLICY.contact_holidays[jurisdiction]
        if b.first.year == year
        and b.channels == frozenset({Channel.CALL, Channel.SMS, Channel.LINE, Channel.WECHAT})
    ]
    # New Year's Day everywhere, and at least the handful each calendar has.
    assert any(b.covers(date(year, 1, 1)) for b in holidays)
    assert sum((b.last - b.first).days + 1 for b in holidays) >= 7


def test_holidays_are_where_the_borrower_lives_not_the_loans_market():
    # A Taipei borrower with a loan in US dollars: Thanksgiving is no holiday for them;
    # an American borrower with a loan in New Taiwan dollars keeps Thanksgiving.
    thanksgiving = date(2026, 11, 26)
    assert not POLICY.contact_for("TW", "US").blacked_out(thanksgiving, Channel.CALL)
    assert POLICY.contact_for("US", "TW").blacked_out(thanksgiving, Channel.CALL)
    assert not POLICY.contact_for("US", "TW").blacked_out(date(2026, 10, 9), Channel.CALL)


def test_a_holiday_call_waits_for_the_next_day_an_email_does_not():
    rules = POLICY.contact_for("TW")
    call = decide(tpe(12, 25, 10), rules)
    assert call.reasons == (R.HOLIDAY_BLACKOUT,)
    assert call.allowed_from == tpe(12, 26, 7, 0)
    assert decide(tpe(12, 25, 10), rules, Channel.EMAIL).allowed


def test_policy_holiday_channels_are_validated_and_may_be_set_per_jurisdiction():
    from negotiation import PolicyError

    with pytest.raises(PolicyError, match=r"contact\.holiday_channels"):
        load_policy({"contact": {"holiday_channels": ["fax"]}})
    with pytest.raises(PolicyError, match=r"contact\.holiday_channels"):
        load_policy({"contact": {"holiday_channels": []}})
    every = load_policy(
        {"contact": {"jurisdiction": {"US": {"holiday_channels": ["call", "sms", "email"]}}}}
    )
    assert every.contact_for("US").blacked_out(date(2026, 11, 26), Channel.EMAIL)
    assert not every.contact_for("TW").blacked_out(date(2026, 10, 9), Channel.EMAIL)


def test_a_blackout_binds_every_channel_unless_narrowed():
    whole = Blackout("CN", date(2026, 2, 15), date(2026, 2, 23))
    assert all(whole.covers(date(2026, 2, 16), channel) for channel in Channel)
    with pytest.raises(ValueError, match="at least one channel"):
        Blackout("CN", date(2026, 2, 15), date(2026, 2, 23), frozenset())
