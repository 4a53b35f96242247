"""The legal track's pure rules: eligibility, the final notice's deadline, the order of
each market's milestones, which costs may be charged, and the borrower's timeline."""

from datetime import date

import pytest

from negotiation import EventKind, PolicyError, load_policy, timeline
from negotiation.legal import (
    Ineligibility,
    LegalCost,
    LegalMilestone,
    LegalStanding,
    MilestoneRefusal,
    cost_allowed,
    eligibility,
    milestone_refusals,
    next_milestone,
    notice_deadline,
)

from .conftest import snapshot

M = LegalMilestone


@pytest.fixture(scope="module")
def rules():
    return load_policy().legal


def test_referral_days_are_the_timelines_own(rules):
    assert rules.referral_days == load_policy().legal_referral_days


@pytest.mark.parametrize(
    ("days", "overdue", "expected"),
    [
        (91, 3_000_000, ()),
        (90, 3_000_000, (Ineligibility.TOO_FEW_DAYS,)),
        (120, 2_999_999, (Ineligibility.AMOUNT_TOO_LOW,)),
        (30, 100, (Ineligibility.TOO_FEW_DAYS, Ineligibility.AMOUNT_TOO_LOW)),
    ],
)
def test_eligibility_by_days_and_amount(rules, days, overdue, expected):
    found = eligibility(rules, days_past_due=days, overdue=overdue, currency="TWD", market="TW")
    assert found == expected


def test_a_hold_or_a_kept_plan_makes_a_case_ineligible(rules):
    found = eligibility(
        rules,
        days_past_due=200,
        overdue=9_000_000,
        currency="TWD",
        market="TW",
        on_hold=True,
        plan_active=True,
    )
    assert found == (Ineligibility.ON_HOLD, Ineligibility.PLAN_ACTIVE)


def test_a_market_without_a_path_is_ineligible(rules):
    found = eligibility(rules, days_past_due=200, overdue=900_000, currency="USD", market="US")
    assert found == (Ineligibility.NO_LEGAL_PATH,)


def test_the_deadline_allows_for_the_post(rules):
    assert notice_deadline(rules, date(2026, 12, 1)) == date(2026, 12, 22)


def test_a_notice_shorter_than_a_letters_is_refused():
    with pytest.raises(PolicyError, match="final_notice_days"):
        load_policy({"legal": {"final_notice_days": 7}})


def test_an_unknown_milestone_is_refused():
    with pytest.raises(PolicyError, match=r"legal\.market\.TW\.milestones"):
        load_policy({"legal": {"market": {"TW": {"milestones": ["lawsuit"]}}}})


DEADLINE = date(2026, 12, 22)


@pytest.mark.parametrize(
    ("market", "path"),
    [
        ("TW", [M.DEMAND_LETTER, M.PAYMENT_ORDER, M.FINALITY_CERTIFICATE, M.ENFORCEMENT]),
        ("CN", [M.LAWYER_LETTER, M.ARBITRATION_FILED, M.ARBITRAL_AWARD, M.ENFORCEMENT]),
        ("HK", [M.LETTER_BEFORE_ACTION, M.CLAIM_FILED, M.JUDGMENT, M.ENFORCEMENT]),
    ],
)
def test_each_market_walks_its_own_path_in_order(rules, market, path):
    reached: list[tuple[LegalMilestone, date]] = []
    walked = []
    while (step := next_milestone(rules, market, reached, DEADLINE)) is not None:
        walked.append(step.milestone)
        reached.append((step.milestone, step.earliest))
    assert walked == path


def test_the_finality_certificate_waits_twenty_days_after_the_payment_order(rules):
    reached = [(M.DEMAND_LETTER, date(2026, 12, 23)), (M.PAYMENT_ORDER, date(2027, 1, 5))]
    step = next_milestone(rules, "TW", reached, DEADLINE)
    assert step is not None
    assert step.earliest == date(2027, 1, 25)


@pytest.mark.parametrize(
    ("milestone", "on", "reached", "expected"),
    [
        (M.PAYMENT_ORDER, date(2026, 12, 23), [], (MilestoneRefusal.OUT_OF_ORDER,)),
        (M.JUDGMENT, date(2026, 12, 23), [], (MilestoneRefusal.NOT_ON_PATH,)),
        (M.DEMAND_LETTER, date(2026, 12, 22), [], (MilestoneRefusal.BEFORE_DEADLINE,)),
        (M.DEMAND_LETTER, date(2027, 3, 1), [], (MilestoneRefusal.IN_FUTURE,)),
        (M.DEMAND_LETTER, date(2026, 12, 23), [], ()),
        (
            M.FINALITY_CERTIFICATE,
            date(2027, 1, 20),
            [(M.DEMAND_LETTER, date(2026, 12, 23)), (M.PAYMENT_ORDER, date(2027, 1, 5))],
            (MilestoneRefusal.TOO_EARLY,),
        ),
        (
            M.PAYMENT_ORDER,
            date(2026, 12, 24),
            [(M.DEMAND_LETTER, date(2026, 12, 28))],
            (MilestoneRefusal.BEFORE_PREVIOUS,),
        ),
    ],
)
def test_milestone_refusals(rules, milestone, on, reached, expected):
    today = date(2027, 2, 1)
    found = milestone_refusals(rules, "TW", reached, DEADLINE, milestone, on, today)
    assert found == expected


@pytest.mark.parametrize(
    ("market", "cost", "allowed"),
    [
        ("TW", LegalCost.COURT_FEE, True),
        ("TW", LegalCost.ENFORCEMENT_FEE, True),
        ("TW", LegalCost.LAWYER_FEE, False),
        ("TW", LegalCost.SERVICE_FEE, False),
        ("CN", LegalCost.COURT_FEE, False),
        ("HK", LegalCost.COURT_FEE, False),
        ("US", LegalCost.COURT_FEE, False),
    ],
)
def test_costs_only_where_the_law_allows(rules, market, cost, allowed):
    assert cost_allowed(rules, market, cost) is allowed


def test_the_timeline_shows_the_real_milestone_instead_of_the_threat(policy):
    loan = snapshot(days_past_due=130)
    standing = LegalStanding(
        notice_sent_on=date(2026, 10, 1),
        deadline=date(2026, 10, 22),
        reached=((M.DEMAND_LETTER, date(2026, 10, 23)), (M.PAYMENT_ORDER, date(2026, 11, 2))),
    )
    items = timeline(loan, policy, standing)
    legal = [(e.date, e.kind, e.milestone) for e in items if e.kind.value.startswith("legal")]
    assert legal == [
        (date(2026, 10, 1), EventKind.LEGAL_NOTICE_SENT, None),
        (date(2026, 10, 23), EventKind.LEGAL_MILESTONE, M.DEMAND_LETTER),
        (date(2026, 11, 2), EventKind.LEGAL_MILESTONE, M.PAYMENT_ORDER),
    ]


def test_before_the_notice_the_dated_possible_referral_stays(policy):
    loan = snapshot(days_past_due=60)
    kinds = [e.kind for e in timeline(loan, policy, LegalStanding(None, None))]
    assert EventKind.LEGAL_REFERRAL in kinds
