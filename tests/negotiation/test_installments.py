"""The engine builds installments, plans, proposals, waivers, terms and its context
without their dataclasses' __init__ (plans.installments_of, plans.assembled): they must
be the very objects __init__ makes."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from negotiation import (
    Arrears,
    Currency,
    Installment,
    LoanSnapshot,
    Plan,
    PlanKind,
    Proposal,
    Stage,
    Statement,
    Terms,
    Waiver,
    build_plan,
    load_policy,
    propose,
)
from negotiation.plans import installments_of
from negotiation.proposals import _context, _stage_terms
from negotiation.rules import Context


def test_installments_of_makes_what_the_constructor_makes() -> None:
    dates = [date(2026, 1, 31) + timedelta(days=7 * k) for k in range(5)]
    amounts = [100, 200, 200, 200, 150]
    built = installments_of(dates, amounts)
    expected = tuple(map(Installment, dates, amounts))
    assert built == expected
    assert [vars(item) for item in built] == [vars(item) for item in expected]
    assert [hash(item) for item in built] == [hash(item) for item in expected]
    assert all(type(item) is Installment for item in built)


def test_installment_is_still_what_installments_of_assumes() -> None:
    # installments_of writes these three fields into __dict__: a new field, a slot or a
    # __post_init__ would make it build something the constructor does not.
    assert [field.name for field in dataclasses.fields(Installment)] == [
        "due_date",
        "amount",
        "moved_from",
    ]
    assert not hasattr(Installment, "__post_init__")
    assert not hasattr(Installment, "__slots__")


def test_installments_stay_frozen() -> None:
    item = installments_of([date(2026, 1, 1)], [5])[0]
    try:
        item.amount = 6  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("an installment must stay frozen")


def test_plans_and_proposals_are_what_their_constructors_make() -> None:
    snapshot = LoanSnapshot(
        as_of=date(2026, 11, 30),
        currency=Currency.TWD,
        arrears=Arrears(principal=4_000_000, interest=500_000, fees=20_000, penalties=90_000),
        not_yet_due_principal=20_000_000,
        regular_installment=1_500_000,
        days_past_due=100,
    )
    statement = Statement(net_monthly_income=9_000_000, housing=2_000_000, food=1_000_000)
    proposals = propose(snapshot, load_policy(), date(2026, 11, 30), statement)
    assert {p.plan.kind for p in proposals} >= {PlanKind.RESTRUCTURE, PlanKind.SETTLEMENT}
    for proposal in proposals:
        plan = proposal.plan
        rebuilt_plan = Plan(**{f.name: getattr(plan, f.name) for f in dataclasses.fields(Plan)})
        rebuilt = Proposal(
            **{f.name: getattr(proposal, f.name) for f in dataclasses.fields(Proposal)}
        )
        assert type(plan) is Plan
        assert type(proposal) is Proposal
        assert vars(plan) == vars(rebuilt_plan)
        assert vars(proposal) == vars(rebuilt)
        assert hash(proposal) == hash(rebuilt)
        assert type(plan.waiver) is Waiver
        assert vars(plan.waiver) == vars(Waiver(**vars(plan.waiver)))
    terms = Terms(PlanKind.ARREARS_PLAN, date(2026, 12, 1), installments=3)
    assert build_plan(snapshot, terms) == Plan(**vars(build_plan(snapshot, terms)))
    rules = load_policy().rules_for(Stage.LATE)
    assert rules is not None
    for kind in PlanKind:
        stage_terms = _stage_terms(rules, kind, date(2026, 12, 1), installments=4, down_payment=9)
        assert type(stage_terms) is Terms
        assert vars(stage_terms) == vars(Terms(**vars(stage_terms)))
    context = _context(snapshot, load_policy(), date(2026, 11, 30), statement)
    assert type(context) is Context
    assert vars(context) == vars(Context(**vars(context)))
    for cls in (Plan, Proposal, Terms, Waiver, Context):
        assert not hasattr(cls, "__post_init__")
        assert not hasattr(cls, "__slots__")
