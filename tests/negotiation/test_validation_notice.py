"""The validation notice (US Regulation F, 12 CFR 1006.34): the policy's flag, the
contact rules' refusal of calls and SMS until it is sent, its itemization and its dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from negotiation import load_policy
from negotiation.contact import (
    Channel,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    Recipient,
    may_contact,
    strictest,
)
from negotiation.policy import PolicyError, parse_overrides
from negotiation.validation import (
    ChargeItem,
    DueItem,
    add_business_days,
    itemize,
    validation_period_end,
)

POLICY = load_policy()
PENDING = ContactRefusal.VALIDATION_NOTICE_PENDING
# 14:00 UTC on a Tuesday: inside the hours of New York (09:00) and Taipei (22:00 is not,
# so Taipei is judged at 03:00 UTC, 11:00 there).
NY_NOON = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
TPE_MORNING = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("jurisdictions", "required"),
    [
        (("US",), True),
        (("US-MA",), True),
        (("US-CA",), True),
        (("US", "US"), True),
        (("TW", "US"), True),  # a loan in dollars: the market's rules join the borrower's
        (("TW",), False),
        (("CN",), False),
        (("HK",), False),
        (("TW", "TW"), False),
    ],
)
def test_the_policy_asks_for_a_notice_in_the_us_and_its_states_only(jurisdictions, required):
    assert POLICY.contact_for(*jurisdictions).validation_notice is required


def test_the_lender_rules_alone_do_not_ask_for_it():
    assert POLICY.contact.validation_notice is False
    for name, rules in POLICY.contact_tables.items():
        assert rules.validation_notice is (name == "US"), name


def test_strictest_asks_for_it_when_any_layer_does():
    us, tw = POLICY.contact_tables["US"], POLICY.contact_tables["TW"]
    assert strictest(tw, us).validation_notice
    assert strictest(us, tw).validation_notice
    assert not strictest(tw, tw).validation_notice


def test_an_override_may_turn_it_on_or_off_and_must_be_a_boolean():
    assert (
        parse_overrides("[contact.jurisdiction.TW]\nvalidation_notice = true\n")
        .contact_for("TW")
        .validation_notice
    )
    assert (
        not parse_overrides("[contact.jurisdiction.US]\nvalidation_notice = false\n")
        .contact_for("US-NY", "US")
        .validation_notice
    )
    for bad in ('"yes"', "1", "[]"):
        with pytest.raises(PolicyError, match=r"^contact\.jurisdiction\.US\.validation_notice"):
            parse_overrides(f"[contact.jurisdiction.US]\nvalidation_notice = {bad}\n")


def _decide(channel: Channel, sent: bool, where: str, moment: datetime, zone: str, **extra):
    request = ContactRequest(
        channel, Recipient.BORROWER, moment, zone, validation_notice_sent=sent, **extra
    )
    return may_contact(request, ContactHistory(), POLICY.contact_for(where, "US"))


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("sent", [False, True])
def test_calls_and_texts_wait_for_the_notice_emails_and_letters_do_not(channel, sent):
    decision = _decide(channel, sent, "US-NY", NY_NOON, "America/New_York")
    held = channel in (Channel.CALL, Channel.SMS, Channel.LINE, Channel.WECHAT) and not sent
    assert decision.allowed is not held
    if held:
        assert decision.reasons == (PENDING,)
        assert decision.allowed_from is None  # waiting never lifts it: sending the notice does
    else:
        assert decision.reasons == ()


@pytest.mark.parametrize("channel", list(Channel))
def test_a_taiwan_borrower_is_never_held_back(channel):
    request = ContactRequest(channel, Recipient.BORROWER, TPE_MORNING, "Asia/Taipei")
    decision = may_contact(request, ContactHistory(), POLICY.contact_for("TW", "TW"))
    assert decision.allowed


def test_the_refusal_joins_the_others_and_is_permanent():
    assert PENDING.is_permanent
    night = NY_NOON + timedelta(hours=9)  # 21:00 in New York
    decision = _decide(Channel.CALL, False, "US", night, "America/New_York")
    assert set(decision.reasons) == {PENDING, ContactRefusal.QUIET_HOURS}
    assert decision.allowed_from is None


def _installment(due: date, paid: bool, waived: int = 0) -> DueItem:
    return DueItem(due, 10_000, 1_000, 10_000 if paid else 0, 1_000 if paid else 0, 0, waived)


def test_the_itemization_adds_up_to_what_is_owed_today():
    today = date(2026, 12, 8)
    start = date(2026, 1, 1)
    items = [
        _installment(date(2026, 2, 1), paid=True),
        _installment(date(2026, 3, 1), paid=False),
        _installment(date(2026, 4, 1), paid=False, waived=500),
        _installment(date(2027, 1, 1), paid=False),
        # Paid early, before it falls due: its interest counts as charged.
        _installment(date(2027, 2, 1), paid=True),
    ]
    charges = [ChargeItem(3_000, 1_000, 500), ChargeItem(1_500, 0, 0)]
    found = itemize(start, items, charges, today)
    assert found.itemization_date == start
    assert found.amount_then == 50_000
    assert found.interest == 3 * 1_000 + 1_000
    assert found.fees == 4_500
    assert found.payments == 2 * 11_000 + 1_000
    assert found.credits == 500 + 500
    owed_principal = sum(i.principal_due - i.principal_paid - i.principal_waived for i in items)
    owed_interest = sum(
        i.interest_due - i.interest_paid - i.interest_waived for i in items if i.due_date < today
    )
    owed_charges = sum(c.amount - c.paid - c.waived for c in charges)
    assert found.current == owed_principal + owed_interest + owed_charges


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        (date(2026, 12, 7), date(2026, 12, 14)),  # Monday: the next Monday
        (date(2026, 12, 9), date(2026, 12, 16)),  # Wednesday: the next Wednesday
        (date(2026, 12, 11), date(2026, 12, 18)),  # Friday: the next Friday
        (date(2026, 12, 12), date(2026, 12, 18)),  # Saturday: the next Friday
        (date(2026, 12, 13), date(2026, 12, 18)),  # Sunday: the next Friday
    ],
)
def test_a_letter_is_received_five_business_days_after_it_is_posted(sent, received):
    assert add_business_days(sent, 5) == received
    assert validation_period_end(sent, by_letter=True) == received + timedelta(days=30)


def test_an_email_is_received_when_it_is_sent():
    for offset in range(7):
        sent = date(2026, 12, 7) + timedelta(days=offset)
        assert validation_period_end(sent, by_letter=False) == sent + timedelta(days=30)
