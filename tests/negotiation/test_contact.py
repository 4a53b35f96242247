"""The contact rules: who, on which channel, when, how often; and when a refusal lifts.

Table-driven cases for each rule and reason and its next allowed moment, then properties
checked against an oracle written here from the raw rules, not the engine's helpers.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from negotiation import (
    Channel,
    ContactAttempt,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    ContactRules,
    Hold,
    PolicyError,
    Recipient,
    letter_deadline,
    load_policy,
    may_contact,
    next_allowed,
    schedule,
)
from negotiation.contact import QuietWindow, borrower_layer, strictest

R = ContactRefusal
TAIPEI = ZoneInfo("Asia/Taipei")
NEW_YORK = ZoneInfo("America/New_York")
# A mainland borrower's rules: the lender's (Taiwan's) and China's together.
RULES = load_policy().contact_for("CN")
STRICTER = load_policy({"contact": {"jurisdictions": ["CN", "US"]}}).contact


def tpe(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TAIPEI)


def nyc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def request(moment: datetime, **changes: Any) -> ContactRequest:
    """A call to the borrower in Taipei unless told otherwise (the US validation notice
    sent: tests/negotiation/test_validation_notice.py is about it)."""
    values: dict[str, Any] = {
        "channel": Channel.CALL,
        "recipient": Recipient.BORROWER,
        "moment": moment,
        "time_zone": "Asia/Taipei",
        "validation_notice_sent": True,
    }
    values.update(changes)
    return ContactRequest(**values)


def calls(*moments: datetime, connected: bool = True, agent: str = "") -> list[ContactAttempt]:
    return [ContactAttempt(m, Channel.CALL, connected, agent) for m in moments]


def messages(channel: Channel, *moments: datetime) -> list[ContactAttempt]:
    return [ContactAttempt(m, channel) for m in moments]


THREE_CONNECTED_TODAY = calls(tpe(11, 30, 9), tpe(11, 30, 9, 30), tpe(11, 30, 10))
ONE_ATTEMPT_A_DAY = calls(*(tpe(11, d, 10) for d in range(24, 31)), connected=False)
SEVEN_ON_ONE_DAY = calls(*(tpe(11, 25, 9 + h) for h in range(7)), connected=False)
TWO_SMS_TODAY = messages(Channel.SMS, tpe(11, 30, 9), tpe(11, 30, 12))
ONE_MESSAGE_A_DAY = messages(Channel.EMAIL, *(tpe(11, d, 9) for d in range(24, 31)))

CASES = [
    # (id, request, history, rules, reasons, allowed from)
    ("daytime call", request(tpe(11, 30, 10)), [], RULES, (), tpe(11, 30, 10)),
    ("last allowed minute", request(tpe(11, 30, 21, 59)), [], RULES, (), tpe(11, 30, 21, 59)),
    ("first allowed minute", request(tpe(11, 30, 8)), [], RULES, (), tpe(11, 30, 8)),
    ("22:00 is quiet", request(tpe(11, 30, 22)), [], RULES, (R.QUIET_HOURS,), tpe(12, 1, 8)),
    (
        "07:59 waits a minute",
        request(tpe(11, 30, 7, 59)),
        [],
        RULES,
        (R.QUIET_HOURS,),
        tpe(11, 30, 8),
    ),
    (
        "quiet hours cross midnight",
        request(tpe(11, 30, 23, 30)),
        [],
        RULES,
        (R.QUIET_HOURS,),
        tpe(12, 1, 8),
    ),
    ("after midnight", request(tpe(12, 1, 0, 30)), [], RULES, (R.QUIET_HOURS,), tpe(12, 1, 8)),
    (
        "stricter US hours: 21:30",
        request(tpe(11, 30, 21, 30)),
        [],
        STRICTER,
        (R.QUIET_HOURS,),
        tpe(12, 1, 8),
    ),
    (
        "stricter US hours: 20:59",
        request(tpe(11, 30, 20, 59)),
        [],
        STRICTER,
        (),
        tpe(11, 30, 20, 59),
    ),
    (
        "Shanghai time",
        request(utc(11, 30, 23), time_zone="Asia/Shanghai"),  # 07:00 in Shanghai
        [],
        RULES,
        (R.QUIET_HOURS,),
        utc(12, 1, 0),
    ),
    (
        "Hong Kong time",
        request(utc(11, 30, 14), time_zone="Asia/Hong_Kong"),
        [],
        RULES,
        (R.QUIET_HOURS,),
        utc(12, 1, 0),
    ),
    (
        "New York, the night before clocks spring forward",
        request(nyc(3, 7, 23), time_zone="America/New_York"),
        [],
        RULES,
        (R.QUIET_HOURS,),
        utc(3, 8, 12),  # 08:00 EDT
    ),
    (
        "New York, the night before clocks fall back",
        request(nyc(10, 31, 22, 30), time_zone="America/New_York"),
        [],
        RULES,
        (R.QUIET_HOURS,),
        utc(11, 1, 13),  # 08:00 EST
    ),
    (
        "blackout day",
        request(tpe(2, 16, 10)),
        [],
        RULES,
        (R.HOLIDAY_BLACKOUT,),
        tpe(2, 24, 8),
    ),
    (
        "quiet hours the night before a blackout",
        request(tpe(2, 14, 23)),
        [],
        RULES,
        (R.QUIET_HOURS,),
        tpe(2, 24, 8),
    ),
    (
        "blackout's last day",
        request(tpe(2, 23, 21)),
        [],
        RULES,
        (R.HOLIDAY_BLACKOUT,),
        tpe(2, 24, 8),
    ),
    ("the day after the blackout", request(tpe(2, 24, 8)), [], RULES, (), tpe(2, 24, 8)),
    (
        "a letter waits out the blackout, not the hours",
        request(tpe(2, 16, 23), channel=Channel.LETTER),
        [],
        RULES,
        (R.HOLIDAY_BLACKOUT,),
        tpe(2, 24, 0),
    ),
    (
        "a letter at night",
        request(tpe(11, 30, 23), channel=Channel.LETTER),
        [],
        RULES,
        (),
        tpe(11, 30, 23),
    ),
    (
        "3 connected calls today",
        request(tpe(11, 30, 11)),
        THREE_CONNECTED_TODAY,
        RULES,
        (R.CONNECTED_CALLS_PER_DAY,),
        tpe(12, 1, 8),
    ),
    (
        "unanswered calls are not connected calls",
        request(tpe(11, 30, 11)),
        calls(tpe(11, 30, 9), tpe(11, 30, 9, 30), tpe(11, 30, 10), connected=False),
        RULES,
        (),
        tpe(11, 30, 11),
    ),
    (
        "the daily cap resets at local midnight",
        request(tpe(12, 1, 8)),
        THREE_CONNECTED_TODAY,
        RULES,
        (),
        tpe(12, 1, 8),
    ),
    (
        "the day is the borrower's, not UTC's",
        request(nyc(12, 1, 9), time_zone="America/New_York"),
        # 20:00-20:20 EST on 30 November is 1 December in UTC.
        calls(nyc(11, 30, 20), nyc(11, 30, 20, 10), nyc(11, 30, 20, 20)),
        RULES,
        (),
        nyc(12, 1, 9),
    ),
    (
        "the daily cap on a day clocks fall back",
        request(nyc(11, 1, 20), time_zone="America/New_York"),
        calls(nyc(11, 1, 9), nyc(11, 1, 10), nyc(11, 1, 11)),
        RULES,
        (R.CONNECTED_CALLS_PER_DAY,),
        utc(11, 2, 13),  # 08:00 EST the next morning
    ),
    (
        "caps are shared across agents",
        request(tpe(11, 30, 11)),
        calls(tpe(11, 30, 9), agent="wang")
        + calls(tpe(11, 30, 9, 30), tpe(11, 30, 10), agent="lin"),
        RULES,
        (R.CONNECTED_CALLS_PER_DAY,),
        tpe(12, 1, 8),
    ),
    (
        "7 attempts in 7 days: the oldest day frees a slot",
        request(tpe(11, 30, 15)),
        ONE_ATTEMPT_A_DAY,
        RULES,
        (R.CALL_ATTEMPTS_PER_7_DAYS,),
        tpe(12, 1, 8),
    ),
    (
        "7 attempts on one day: free once that day leaves the window",
        request(tpe(11, 30, 15)),
        SEVEN_ON_ONE_DAY,
        RULES,
        (R.CALL_ATTEMPTS_PER_7_DAYS,),
        tpe(12, 2, 8),
    ),
    (
        "calls already scheduled count too",
        request(tpe(11, 24, 10)),
        calls(*(tpe(11, d, 10) for d in range(25, 31)), tpe(11, 30, 11), connected=False),
        RULES,
        (R.CALL_ATTEMPTS_PER_7_DAYS,),
        tpe(11, 25, 8) + timedelta(days=7),
    ),
    (
        "7 attempts in 7 days, at night",
        request(tpe(11, 30, 23)),
        ONE_ATTEMPT_A_DAY,
        RULES,
        (R.QUIET_HOURS, R.CALL_ATTEMPTS_PER_7_DAYS),
        tpe(12, 1, 8),
    ),
    (
        "2 messages today",
        request(tpe(11, 30, 15), channel=Channel.EMAIL),
        TWO_SMS_TODAY,
        RULES,
        (R.MESSAGES_PER_DAY,),
        tpe(12, 1, 8),
    ),
    (
        "messages do not cap calls",
        request(tpe(11, 30, 15)),
        TWO_SMS_TODAY,
        RULES,
        (),
        tpe(11, 30, 15),
    ),
    (
        "calls do not cap messages",
        request(tpe(11, 30, 11), channel=Channel.SMS),
        THREE_CONNECTED_TODAY,
        RULES,
        (),
        tpe(11, 30, 11),
    ),
    (
        "7 messages in 7 days",
        request(tpe(11, 30, 15), channel=Channel.SMS),
        ONE_MESSAGE_A_DAY,
        RULES,
        (R.MESSAGES_PER_7_DAYS,),
        tpe(12, 1, 8),
    ),
    (
        "letters have no cap",
        request(tpe(11, 30, 15), channel=Channel.LETTER),
        THREE_CONNECTED_TODAY + ONE_ATTEMPT_A_DAY + TWO_SMS_TODAY,
        RULES,
        (),
        tpe(11, 30, 15),
    ),
    (
        "a guarantor may be contacted",
        request(tpe(11, 30, 10), recipient=Recipient.GUARANTOR),
        [],
        RULES,
        (),
        tpe(11, 30, 10),
    ),
]


@pytest.mark.parametrize(
    ("contact", "history", "rules", "reasons", "allowed_from"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_rule_refuses_and_says_when(contact, history, rules, reasons, allowed_from):
    decision = may_contact(contact, ContactHistory(tuple(history)), rules)
    assert decision.reasons == reasons
    assert decision.allowed is (not reasons)
    assert decision.allowed_from == allowed_from
    assert next_allowed(contact, ContactHistory(tuple(history)), rules) == allowed_from
    # The moment is told in the borrower's own zone, for the agent to read.
    assert decision.allowed_from.tzinfo == contact.zone


def test_a_spring_forward_morning_in_new_york_opens_at_eight_daylight_time():
    decision = may_contact(
        request(nyc(3, 8, 1, 30), time_zone="America/New_York"), ContactHistory(), RULES
    )
    assert decision.allowed_from == utc(3, 8, 12)
    assert decision.allowed_from.strftime("%H:%M %Z") == "08:00 EDT"


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("moment", [tpe(11, 30, 10), tpe(11, 30, 23), tpe(2, 16, 10)])
def test_a_third_party_is_always_refused_and_never_allowed(channel, moment):
    decision = may_contact(
        request(moment, channel=channel, recipient=Recipient.THIRD_PARTY), ContactHistory(), RULES
    )
    assert decision.reasons[0] is R.THIRD_PARTY
    assert decision.allowed_from is None


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("holds", [{Hold.DISPUTE}, {Hold.HARDSHIP}, {Hold.DISPUTE, Hold.HARDSHIP}])
def test_a_hold_stops_every_collection_contact_on_every_channel(channel, holds):
    decision = may_contact(
        request(tpe(11, 30, 10), channel=channel, holds=frozenset(holds)), ContactHistory(), RULES
    )
    assert decision.reasons == (R.ON_HOLD,)
    assert decision.allowed_from is None


@pytest.mark.parametrize("channel", list(Channel))
def test_an_opted_out_channel_is_never_allowed_and_the_others_are(channel):
    opted_out = frozenset({channel})
    refused = may_contact(
        request(tpe(11, 30, 10), channel=channel, opted_out=opted_out), ContactHistory(), RULES
    )
    assert refused.reasons == (R.OPTED_OUT,)
    assert refused.allowed_from is None
    for other in set(Channel) - opted_out:
        assert may_contact(
            request(tpe(11, 30, 10), channel=other, opted_out=opted_out), ContactHistory(), RULES
        ).allowed


def test_every_reason_is_given_at_once():
    decision = may_contact(
        request(
            tpe(2, 16, 23),
            recipient=Recipient.THIRD_PARTY,
            holds=frozenset({Hold.DISPUTE}),
            opted_out=frozenset({Channel.CALL}),
        ),
        ContactHistory(),
        RULES,
    )
    assert decision.reasons == (
        R.THIRD_PARTY,
        R.ON_HOLD,
        R.OPTED_OUT,
        R.QUIET_HOURS,
        R.HOLIDAY_BLACKOUT,
    )
    assert decision.allowed_from is None


def test_bulk_sending_schedules_messages_outside_the_hours_instead_of_dropping_them():
    wanted = [request(tpe(11, 30, 23, m), channel=Channel.SMS) for m in range(4)]
    planned = schedule(wanted, ContactHistory(), RULES)
    # Two a day: the late evening's four messages go out over the next two mornings.
    assert planned == [tpe(12, 1, 8), tpe(12, 1, 8), tpe(12, 2, 8), tpe(12, 2, 8)]
    on_hold = request(tpe(11, 30, 10), channel=Channel.SMS, holds=frozenset({Hold.HARDSHIP}))
    assert schedule([on_hold], ContactHistory(), RULES) == [None]


def test_requests_and_attempts_must_be_aware_and_zones_known():
    with pytest.raises(ValueError, match="aware"):
        request(datetime(2026, 11, 30, 10))  # noqa: DTZ001 - the naive moment under test
    with pytest.raises(ValueError, match="aware"):
        ContactAttempt(datetime(2026, 11, 30, 10), Channel.CALL)  # noqa: DTZ001
    with pytest.raises(ValueError, match="time zone"):
        request(tpe(11, 30, 10), time_zone="Asia/Nowhere")


# The [contact] policy section.


def test_a_mainland_borrowers_rules_are_chinas():
    assert (RULES.allowed_from, RULES.allowed_until) == (time(8), time(22))
    assert RULES.max_connected_calls_per_day == 3
    assert RULES.max_call_attempts_per_7_days == 7
    assert (RULES.max_messages_per_day, RULES.max_messages_per_7_days) == (2, 7)
    assert RULES.letter_notice_days == 14
    assert RULES.blacked_out(date(2026, 2, 17))
    assert not RULES.blacked_out(date(2026, 2, 24))


@pytest.mark.parametrize(
    ("next_event", "notice", "deadline"),
    [
        # Dated Dec 6, the next thing happens Dec 7: the post takes longer than that.
        (date(2026, 12, 7), None, date(2026, 12, 20)),
        (date(2026, 12, 6), None, date(2026, 12, 20)),
        (date(2026, 12, 19), None, date(2026, 12, 20)),
        (date(2026, 12, 20), None, date(2026, 12, 20)),
        (date(2027, 1, 15), None, date(2027, 1, 15)),
        (None, None, None),
        # The policy sets the notice.
        (date(2026, 12, 7), 21, date(2026, 12, 27)),
        (date(2026, 12, 7), 1, date(2026, 12, 7)),
    ],
)
def test_a_letters_deadline_allows_for_the_post(next_event, notice, deadline):
    if notice is None:
        rules = RULES
    else:
        rules = load_policy({"contact": {"letter_notice_days": notice}}).contact
    assert letter_deadline(rules, date(2026, 12, 6), next_event) == deadline


def test_the_stricter_jurisdiction_wins():
    assert (STRICTER.allowed_from, STRICTER.allowed_until) == (time(8), time(21))
    narrow = load_policy(
        {
            "contact": {
                "jurisdictions": ["CN", "US"],
                "jurisdiction": {"US": {"allowed_from": "09:00", "allowed_until": "23:00"}},
            }
        }
    ).contact
    assert (narrow.allowed_from, narrow.allowed_until) == (time(9), time(22))


def test_blackouts_read_from_json_strings_and_single_days():
    rules = load_policy(
        {
            "contact": {
                "jurisdiction": {"CN": {"blackouts": ["2026-10-01", ["2027-02-05", "2027-02-07"]]}}
            }
        }
    ).contact_for("CN")
    # The public holidays (calls and SMS only) come beside them.
    assert [(b.first, b.last) for b in rules.blackouts if b.channels == frozenset(Channel)] == [
        (date(2026, 10, 1), date(2026, 10, 1)),
        (date(2027, 2, 5), date(2027, 2, 7)),
    ]


@pytest.mark.parametrize(
    ("contact", "message"),
    [
        ({"jurisdictions": []}, "contact.jurisdictions"),
        ({"jurisdictions": ["XX"]}, "contact.jurisdictions"),
        ({"jurisdictions": "CN"}, "contact.jurisdictions"),
        ({"max_connected_calls_per_day": 0}, "contact.max_connected_calls_per_day"),
        ({"max_call_attempts_per_7_days": True}, "contact.max_call_attempts_per_7_days"),
        ({"max_messages_per_day": 1000}, "contact.max_messages_per_day"),
        ({"letter_notice_days": 0}, "contact.letter_notice_days"),
        ({"letter_notice_days": "14"}, "contact.letter_notice_days"),
        (
            {"jurisdiction": {"CN": {"allowed_from": "8:00"}}},
            "contact.jurisdiction.CN.allowed_from",
        ),
        (
            {"jurisdiction": {"CN": {"allowed_until": "25:00"}}},
            "contact.jurisdiction.CN.allowed_until",
        ),
        (
            {"jurisdiction": {"CN": {"allowed_from": "22:00"}}},
            "contact.jurisdiction.CN.allowed_from",
        ),
        (
            {"jurisdiction": {"CN": {"blackouts": "2026-02-17"}}},
            "contact.jurisdiction.CN.blackouts",
        ),
        ({"jurisdiction": {"CN": {"blackouts": ["17 Feb"]}}}, "contact.jurisdiction.CN.blackouts"),
        (
            {"jurisdiction": {"CN": {"blackouts": [["2026-02-23", "2026-02-15"]]}}},
            "contact.jurisdiction.CN.blackouts",
        ),
        (
            {"jurisdiction": {"CN": {"blackouts": [["2026-01-01", "2027-06-01"]]}}},
            "contact.jurisdiction.CN.blackouts",
        ),
        (
            {
                "jurisdictions": ["CN", "US"],
                "jurisdiction": {
                    "CN": {"allowed_from": "08:00", "allowed_until": "12:00"},
                    "US": {"allowed_from": "13:00", "allowed_until": "21:00"},
                },
            },
            "do not overlap",
        ),
    ],
)
def test_invalid_contact_policy_names_the_key(contact, message):
    with pytest.raises(PolicyError, match=message):
        load_policy({"contact": contact})


# Properties, against an oracle written from the raw rules.

ZONES = ["Asia/Taipei", "Asia/Shanghai", "Asia/Hong_Kong", "America/New_York"]
# Days around New York's clock changes and the default blackout, and any day of the year.
ANCHORS = [utc(3, 7, 12), utc(10, 31, 12), utc(2, 13, 12), utc(11, 28, 0)]
SCAN_MINUTES = 3 * 24 * 60


def _windows(day: date) -> list[tuple[date, date]]:
    return [(day + timedelta(days=k - 6), day + timedelta(days=k)) for k in range(7)]


class Oracle:
    """Whether one contact is allowed, recomputed from the rules' raw numbers."""

    def __init__(self, rules: ContactRules, zone: ZoneInfo, attempts: list[ContactAttempt]):
        self.rules = rules
        self.zone = zone
        self.start = max(w.start for w in rules.windows)
        self.end = min(w.end for w in rules.windows)
        self.calls = [a.moment.astimezone(zone).date() for a in attempts if a.channel == "call"]
        self.connected = [
            a.moment.astimezone(zone).date()
            for a in attempts
            if a.channel == "call" and a.connected
        ]
        self.messages = [
            a.moment.astimezone(zone).date()
            for a in attempts
            if a.channel in ("sms", "email", "line", "wechat")
        ]

    def day_allows(self, channel: Channel, day: date) -> bool:
        if any(b.first <= day <= b.last and channel in b.channels for b in self.rules.blackouts):
            return False
        if channel == "call":
            if self.connected.count(day) + 1 > self.rules.max_connected_calls_per_day:
                return False
            # Regulation F's pause: no call on the conversation's day or the 6 after it.
            pause = self.rules.days_after_conversation
            if any(0 <= (day - talked).days < pause for talked in self.connected):
                return False
            daily, weekly, cap = None, self.calls, self.rules.max_call_attempts_per_7_days
        elif channel in ("sms", "email", "line", "wechat"):
            daily, weekly, cap = self.messages, self.messages, self.rules.max_messages_per_7_days
            if daily.count(day) + 1 > self.rules.max_messages_per_day:
                return False
        else:
            return True
        return all(
            sum(first <= d <= last for d in weekly) + 1 <= cap for first, last in _windows(day)
        )

    def allows(self, channel: Channel, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if channel != "letter" and not self.start <= local.time() < self.end:
            return False
        minute = local.hour * 60 + local.minute
        if channel != "letter" and any(
            local.weekday() in q.days and q.start <= minute < q.end for q in self.rules.quiet
        ):
            return False
        return self.day_allows(channel, local.date())


RULE_SETS = st.sampled_from([RULES, STRICTER]) | st.builds(
    lambda calls, attempts, per_day, per_week, first, length: (
        load_policy(
            {
                "contact": {
                    "max_connected_calls_per_day": calls,
                    "max_call_attempts_per_7_days": attempts,
                    "max_messages_per_day": per_day,
                    "max_messages_per_7_days": per_week,
                    "jurisdiction": {
                        "CN": {
                            "blackouts": [
                                [first.isoformat(), (first + timedelta(days=length)).isoformat()]
                            ]
                        }
                    },
                }
            }
        ).contact
    ),
    st.integers(1, 4),
    st.integers(1, 8),
    st.integers(1, 3),
    st.integers(1, 8),
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.integers(0, 10),
)
# The borrower's narrowing on top: up to three quiet windows, any days and minutes.
QUIET_WINDOWS = st.lists(
    st.builds(
        lambda days, start, length: QuietWindow(frozenset(days), start, min(1440, start + length)),
        st.sets(st.integers(0, 6), min_size=1),
        st.integers(0, 1439),
        st.integers(1, 1440),
    ),
    max_size=3,
)
RULE_SETS = st.builds(
    lambda rules, quiet: strictest(rules, borrower_layer(quiet)) if quiet else rules,
    RULE_SETS,
    QUIET_WINDOWS,
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ContactRequest, ContactHistory, ContactRules]:
    # hypothesis takes naive bounds and attaches the zone itself.
    any_day = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))  # noqa: DTZ001
    base = draw(st.sampled_from(ANCHORS) | any_day)
    moment = base + timedelta(seconds=draw(st.integers(0, 3 * 24 * 3600)))
    attempts = draw(
        st.lists(
            st.builds(
                ContactAttempt,
                st.integers(-7 * 24 * 60, 7 * 24 * 60).map(lambda m: moment + timedelta(minutes=m)),
                st.sampled_from(list(Channel)),
                st.booleans(),
            ),
            max_size=30,
        )
    )
    contact = ContactRequest(
        channel=draw(st.sampled_from(list(Channel))),
        recipient=Recipient.BORROWER,
        moment=moment,
        time_zone=draw(st.sampled_from(ZONES)),
        validation_notice_sent=True,
    )
    return contact, ContactHistory(tuple(attempts)), draw(RULE_SETS)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_an_allowed_contact_keeps_every_rule(scenario):
    contact, history, rules = scenario
    decision = may_contact(contact, history, rules)
    oracle = Oracle(rules, contact.zone, list(history.attempts))
    assert decision.allowed is oracle.allows(contact.channel, contact.moment)
    if decision.allowed:
        assert decision.allowed_from == contact.moment


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_the_next_allowed_moment_is_allowed_and_the_first_one(scenario):
    contact, history, rules = scenario
    decision = may_contact(contact, history, rules)
    if decision.allowed:
        return
    if decision.allowed_from is None:
        # Only the borrower's quiet windows can close every minute of the week.
        assert not rules.leaves_time
        return
    assert decision.allowed_from > contact.moment
    again = may_contact(
        ContactRequest(
            contact.channel,
            contact.recipient,
            decision.allowed_from,
            contact.time_zone,
            validation_notice_sent=True,
        ),
        history,
        rules,
    )
    assert again.allowed
    oracle = Oracle(rules, contact.zone, list(history.attempts))
    assert oracle.allows(contact.channel, decision.allowed_from)
    # Every whole minute in between is refused: the first three days after the request
    # and the last three before the answer.
    first = contact.moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    last = decision.allowed_from.astimezone(UTC)
    minutes = int((last - first).total_seconds() // 60)
    steps = (
        range(minutes)
        if minutes <= 2 * SCAN_MINUTES
        else [
            *range(SCAN_MINUTES),
            *range(minutes - SCAN_MINUTES, minutes),
        ]
    )
    allowed_days: dict[date, bool] = {}
    for step in steps:
        moment = first + timedelta(minutes=step)
        if moment >= last:
            break
        local = moment.astimezone(contact.zone)
        day = local.date()
        if day not in allowed_days:
            allowed_days[day] = oracle.day_allows(contact.channel, day)
        in_hours = oracle.allows(contact.channel, moment)
        assert not (in_hours and allowed_days[day]), f"{moment} was allowed"


@pytest.mark.parametrize("permanent", ["third_party", "hold", "opt_out"])
@settings(max_examples=30, deadline=None)
@given(scenario=scenarios())
def test_holds_opt_outs_and_third_parties_are_never_allowed(permanent, scenario):
    contact, history, rules = scenario
    changes: dict[str, Any] = {
        "third_party": {"recipient": Recipient.THIRD_PARTY},
        "hold": {"holds": frozenset({Hold.DISPUTE})},
        "opt_out": {"opted_out": frozenset({contact.channel})},
    }[permanent]
    values = {
        "channel": contact.channel,
        "recipient": contact.recipient,
        "moment": contact.moment,
        "time_zone": contact.time_zone,
        "validation_notice_sent": True,
        **changes,
    }
    decision = may_contact(ContactRequest(**values), history, rules)
    assert not decision.allowed
    assert decision.allowed_from is None


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_decisions_are_deterministic_whatever_the_history_order(scenario, rng: random.Random):
    contact, history, rules = scenario
    shuffled = list(history.attempts)
    rng.shuffle(shuffled)
    first = may_contact(contact, history, rules)
    assert may_contact(contact, history, rules) == first
    assert may_contact(contact, ContactHistory(tuple(shuffled)), rules) == first


def test_a_week_of_closed_days_around_a_capped_day_still_finds_that_weekday_next_week():
    """Only Wednesdays are open (quiet the rest of the week), and this Wednesday's SMS cap
    is spent: the next allowed moment is next Wednesday, not "never" (found by the
    property test: the search once gave up after any seven closed days)."""
    quiet = (QuietWindow(frozenset({0, 1, 3, 4, 5, 6}), 0, 1440),)
    rules = strictest(RULES, borrower_layer(quiet))
    assert rules.leaves_time
    saturday_evening = tpe(3, 7, 20)
    wednesday = tpe(3, 11, 9)
    history = ContactHistory(tuple(messages(Channel.SMS, *[wednesday] * 5)))
    decision = may_contact(request(saturday_evening, channel=Channel.SMS), history, rules)
    assert not decision.allowed
    assert decision.allowed_from is not None
    assert decision.allowed_from.date() == date(2026, 3, 18)
    assert decision.allowed_from.weekday() == 2
