from datetime import date, timedelta
from decimal import Decimal

from negotiation import (
    Arrears,
    Authority,
    Frequency,
    PlanKind,
    RejectionReason,
    judge_offer,
    load_policy,
)
from negotiation.plans import Terms

from .conftest import AS_OF, snapshot

R = RejectionReason


def offer(**changes):
    values = {
        "kind": PlanKind.ARREARS_PLAN,
        "first_due_date": AS_OF + timedelta(days=7),
        "installments": 10,
        "frequency": Frequency.MONTHLY,
    }
    values.update(changes)
    return Terms(**values)


def _policy():
    return load_policy()


def verdict(terms, loan=None):
    judgement = judge_offer(loan or snapshot(), _policy(), AS_OF, terms)
    return judgement.authority, [(r.reason, r.nearest) for r in judgement.reasons]


def test_what_the_borrower_could_choose_alone_is_within_authority():
    assert verdict(offer(penalty_waiver_pct=Decimal(50))) == (Authority.WITHIN_AUTHORITY, [])


def test_a_longer_term_needs_a_supervisor():
    assert verdict(offer(installments=15)) == (
        Authority.NEEDS_APPROVAL,
        [(R.TERM_TOO_LONG, 12)],
    )


def test_installments_below_the_minimum_are_outside_policy_at_any_level():
    # NT$16,725 over 18 months would be under the NT$1,000 minimum; 16 is the most.
    assert verdict(offer(installments=18)) == (
        Authority.OUTSIDE_POLICY,
        [(R.INSTALLMENT_BELOW_MINIMUM, 16)],
    )


def test_beyond_the_supervisor_is_outside_policy():
    assert verdict(offer(installments=30)) == (
        Authority.OUTSIDE_POLICY,
        [(R.TERM_TOO_LONG, 24)],
    )


def test_waivers_and_discounts_by_authority():
    # Mid stage, agent: fees 25 %; supervisor: 100 %.
    assert verdict(offer(fee_waiver_pct=Decimal(25)))[0] is Authority.WITHIN_AUTHORITY
    assert verdict(offer(fee_waiver_pct=Decimal(60))) == (
        Authority.NEEDS_APPROVAL,
        [(R.FEE_WAIVER_TOO_HIGH, Decimal(25))],
    )
    settle = offer(kind=PlanKind.SETTLEMENT, installments=1, settlement_discount_pct=Decimal(30))
    # Settlement is a supervisor's kind in the mid stage, and 30 % is within 40 %.
    authority, reasons = verdict(settle)
    assert authority is Authority.NEEDS_APPROVAL
    assert (R.KIND_NOT_ALLOWED, None) in reasons
    assert (R.DISCOUNT_TOO_HIGH, Decimal(10)) in reasons
    too_much = offer(kind=PlanKind.SETTLEMENT, installments=1, settlement_discount_pct=Decimal(45))
    assert verdict(too_much) == (Authority.OUTSIDE_POLICY, [(R.DISCOUNT_TOO_HIGH, Decimal(40))])


def test_restructure_rates_by_authority():
    restructure = offer(kind=PlanKind.RESTRUCTURE, installments=36)
    assert verdict(restructure) == (
        Authority.NEEDS_APPROVAL,
        [(R.INTEREST_RATE_TOO_LOW, Decimal(3))],
    )
    assert verdict(offer(kind=PlanKind.RESTRUCTURE, installments=36, interest_rate_pct=Decimal(3)))[
        0
    ] is (Authority.WITHIN_AUTHORITY)


def test_a_later_first_payment_within_the_agents_thirty_days():
    assert verdict(offer(first_due_date=AS_OF + timedelta(days=30)))[0] is (
        Authority.WITHIN_AUTHORITY
    )
    assert verdict(offer(first_due_date=AS_OF + timedelta(days=40))) == (
        Authority.NEEDS_APPROVAL,
        [(R.FIRST_PAYMENT_TOO_LATE, date(2026, 12, 30))],
    )


def test_a_lower_down_payment_needs_approval():
    # Mid stage, NT$40,000 overdue: the borrower alone needs 10 % (NT$4,000) down; an
    # agent may accept 5 % (NT$2,000); a supervisor anything down to the NT$1,000 minimum.
    loan = snapshot(arrears=Arrears(principal=4_000_000))
    assert verdict(offer(down_payment=300_000), loan) == (Authority.WITHIN_AUTHORITY, [])
    assert verdict(offer(down_payment=150_000), loan) == (
        Authority.NEEDS_APPROVAL,
        [(R.DOWN_PAYMENT_TOO_LOW, 200_000)],
    )
    assert verdict(offer(down_payment=50_000), loan) == (
        Authority.OUTSIDE_POLICY,
        [(R.DOWN_PAYMENT_TOO_LOW, 100_000)],
    )


def test_the_same_schedule_is_judged_at_both_levels():
    judgement = judge_offer(snapshot(), _policy(), AS_OF, offer(installments=12))
    # With the down payment left open, the agent's floor (5 % or the NT$1,000 minimum)
    # is below an even share, so the twelve installments are level, in whole dollars,
    # the cents on the last; the borrower alone would have had to put NT$1,695 down.
    amounts = [i.amount for i in judgement.plan.installments]
    assert amounts == [141_200] * 11 + [1_695_000 - 11 * 141_200]
    assert judgement.authority is Authority.WITHIN_AUTHORITY


def test_a_current_loan_has_nothing_to_offer():
    current = snapshot(days_past_due=0, arrears=Arrears())
    assert verdict(offer(), current) == (Authority.OUTSIDE_POLICY, [(R.NOTHING_OVERDUE, None)])
