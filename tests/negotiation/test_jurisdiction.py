"""The borrower's own jurisdiction: its contact rules, and the strictest where several meet."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from negotiation import (
    Channel,
    ContactAttempt,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    ContactRules,
    Recipient,
    load_policy,
    may_contact,
)
from negotiation.contact import Blackout, ContactWindow, strictest
from negotiation.jurisdiction import JURISDICTIONS, derive, layers

LA = ZoneInfo("America/Los_Angeles")
POLICY = load_policy()


def rules(start: int, end: int, *caps: int, pause: int = 0, notice: int = 14) -> ContactRules:
    connected, attempts, messages, messages_week = caps or (3, 7, 2, 7)
    return ContactRules(
        windows=(ContactWindow(f"{start}-{end}", time(start), time(end)),),
        blackouts=(Blackout(str(start), date(2026, 1, start), date(2026, 1, start)),),
        max_connected_calls_per_day=connected,
        max_call_attempts_per_7_days=attempts,
        max_messages_per_day=messages,
        max_messages_per_7_days=messages_week,
        letter_notice_days=notice,
        days_after_conversation=pause,
    )


def test_strictest_takes_each_rule_at_its_strictest():
    loose = rules(7, 22, 5, 7, 2, 9, pause=0, notice=20)
    tight = rules(8, 21, 3, 9, 4, 7, pause=7, notice=14)
    both = strictest(loose, tight)
    assert (both.allowed_from, both.allowed_until) == (time(8), time(21))
    assert both.max_connected_calls_per_day == 3
    assert both.max_call_attempts_per_7_days == 7
    assert (both.max_messages_per_day, both.max_messages_per_7_days) == (2, 7)
    assert both.days_after_conversation == 7
    assert both.letter_notice_days == 20
    assert both.blacked_out(date(2026, 1, 7))
    assert both.blacked_out(date(2026, 1, 8))
    # The order does not matter, and a rule met twice is itself.
    assert strictest(tight, loose).allowed_from == both.allowed_from
    assert strictest(tight, tight) == tight


def test_hours_that_do_not_overlap_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        strictest(rules(8, 12), rules(13, 20))


def test_the_default_policy_cites_and_sets_each_jurisdiction():
    assert POLICY.contact_for("TW").allowed_from == time(7)  # 委外處理要點: 07:00-22:00
    assert POLICY.contact_for("TW").allowed_until == time(22)
    cn = POLICY.contact_for("CN")
    assert (cn.allowed_from, cn.allowed_until, cn.max_connected_calls_per_day) == (
        time(8),
        time(22),
        3,
    )
    hk = POLICY.contact_for("HK")
    assert (hk.allowed_from, hk.allowed_until) == (time(8), time(21))
    us = POLICY.contact_for("US-CA")
    assert (us.allowed_from, us.allowed_until) == (time(8), time(21))
    assert (us.max_call_attempts_per_7_days, us.days_after_conversation) == (7, 7)
    # A state's table is laid on the country's: Massachusetts allows 2 calls in 7 days.
    assert POLICY.contact_for("US-MA").max_call_attempts_per_7_days == 2
    assert POLICY.contact_for("US-MA").days_after_conversation == 7


def test_where_the_borrower_and_the_loans_market_meet_the_stricter_wins():
    # A Taiwan loan to a borrower in California: Regulation F's hours, not Taiwan's.
    both = POLICY.contact_for("US-CA", "TW")
    assert (both.allowed_from, both.allowed_until) == (time(8), time(21))
    # A Hong Kong loan to a borrower on the mainland: China's blackouts, Hong Kong's end.
    mixed = POLICY.contact_for("CN", "HK")
    assert (mixed.allowed_from, mixed.allowed_until) == (time(8), time(21))
    assert mixed.blacked_out(date(2026, 2, 17))


def la_call(hour: int, minute: int = 0, day: int = 1) -> ContactRequest:
    return ContactRequest(
        channel=Channel.CALL,
        recipient=Recipient.BORROWER,
        moment=datetime(2026, 12, day, hour, minute, tzinfo=LA),
        time_zone="America/Los_Angeles",
        validation_notice_sent=True,
    )


def test_a_los_angeles_borrower_is_not_called_at_half_past_nine_at_night():
    decision = may_contact(la_call(21, 30), ContactHistory(), POLICY.contact_for("US-CA", "TW"))
    assert decision.reasons == (ContactRefusal.QUIET_HOURS,)
    assert decision.allowed_from == datetime(2026, 12, 2, 8, 0, tzinfo=LA)
    assert decision.allowed_from.isoformat() == "2026-12-02T08:00:00-08:00"
    # China's hours, which every borrower had before, would have allowed it.
    assert may_contact(la_call(21, 30), ContactHistory(), POLICY.contact_for("CN")).allowed


def test_after_a_conversation_regulation_f_pauses_calls_for_seven_days():
    us = POLICY.contact_for("US-CA")
    talked = ContactHistory(
        (ContactAttempt(datetime(2026, 12, 1, 10, tzinfo=LA), Channel.CALL, True),)
    )
    decision = may_contact(la_call(15), talked, us)
    assert decision.reasons == (ContactRefusal.RECENT_CONVERSATION,)
    # The conversation's day is the first of the 7: calls resume on the 8th day.
    assert decision.allowed_from == datetime(2026, 12, 8, 8, 0, tzinfo=LA)
    assert may_contact(la_call(10, day=8), talked, us).allowed
    # A message is not a call: the pause does not stop it.
    message = ContactRequest(
        channel=Channel.SMS,
        recipient=Recipient.BORROWER,
        moment=datetime(2026, 12, 1, 15, tzinfo=LA),
        time_zone="America/Los_Angeles",
        validation_notice_sent=True,
    )
    assert may_contact(message, talked, us).allowed
    # China has no such pause: a second connected call the same day is allowed.
    assert may_contact(la_call(15), talked, POLICY.contact_for("CN")).allowed


@pytest.mark.parametrize(
    ("address", "zone", "market", "expected"),
    [
        ("123 Main St\nLos Angeles, CA 90012", "America/Los_Angeles", None, "US-CA"),
        ("1 Beacon St, Boston, MA 02108-1234", "America/New_York", "TW", "US-MA"),
        (None, "America/Los_Angeles", None, "US"),
        ("No ZIP here", "America/Chicago", None, "US"),
        (None, "Pacific/Honolulu", None, "US-HI"),
        ("台北市信義區市府路1號", "Asia/Taipei", "TW", "TW"),
        (None, "Asia/Shanghai", "TW", "CN"),
        (None, "Asia/Hong_Kong", None, "HK"),
        # A Taipei zone outweighs an address that merely looks American.
        ("Room 5, CA 12345", "Asia/Taipei", None, "TW"),
        (None, "Europe/London", "CN", "CN"),
        (None, None, None, "TW"),
        ("Austin, TX 73301", None, None, "US-TX"),
        ("Nowhere, ZZ 12345", "America/Denver", None, "US"),
    ],
)
def test_a_jurisdiction_is_derived_from_the_record(address, zone, market, expected):
    found = derive(address, zone, market)
    assert found == expected
    assert found in JURISDICTIONS


def test_a_state_layers_on_its_country():
    assert layers("US-CA") == ("US", "US-CA")
    assert layers("TW") == ("TW",)
