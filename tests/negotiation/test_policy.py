from decimal import Decimal

import pytest

from negotiation import Currency, Frequency, PlanKind, PolicyError, Stage, load_policy
from negotiation.policy import ExpenseCategory


def test_default_policy_has_the_founding_documents_stages(policy):
    assert (policy.early_from_days, policy.mid_from_days, policy.late_from_days) == (1, 31, 91)
    assert policy.max_deferral_days == 14
    assert policy.misses_before_broken == 2
    assert policy.max_restructures_per_12_months == 1


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (0, Stage.CURRENT),
        (1, Stage.EARLY),
        (30, Stage.EARLY),
        (31, Stage.MID),
        (90, Stage.MID),
        (91, Stage.LATE),
        (3650, Stage.LATE),
    ],
)
def test_stage_boundaries_are_exact(policy, days, stage):
    assert policy.stage_for(days) is stage


def test_stage_rules_read_from_toml(policy):
    mid = policy.rules_for(Stage.MID)
    assert mid is not None
    assert mid.self_service is True
    assert PlanKind.RESTRUCTURE in mid.plan_kinds
    assert mid.frequencies == (Frequency.MONTHLY, Frequency.BIWEEKLY, Frequency.WEEKLY)
    assert mid.minimum_installment[Currency.TWD] == 100_000
    assert mid.minimum_down_payment_pct == Decimal(10)
    assert mid.plan_interest_rate_pct == Decimal(5)
    assert policy.rules_for(Stage.CURRENT) is None


def test_overrides_merge_key_by_key(policy):
    changed = load_policy(
        {
            "stages": {"mid_from_days": 45},
            "stage": {"late": {"settlement_discount_cap_pct": "12.5"}},
        }
    )
    assert changed.mid_from_days == 45
    assert changed.early_from_days == policy.early_from_days
    late = changed.rules_for(Stage.LATE)
    assert late is not None
    assert late.settlement_discount_cap_pct == Decimal("12.5")
    assert late.max_installments == policy.rules_for(Stage.LATE).max_installments


def test_a_product_file_overrides_the_defaults(tmp_path):
    product = tmp_path / "product.toml"
    product.write_text(
        '[plans]\ngrace_days = 10\n[stage.early]\nplan_kinds = ["pay_in_full"]\n', "utf-8"
    )
    policy = load_policy(path=product)
    assert policy.grace_days == 10
    assert policy.rules_for(Stage.EARLY).plan_kinds == frozenset({PlanKind.PAY_IN_FULL})
    # Overrides given in code still win over the product file.
    assert load_policy({"plans": {"grace_days": 3}}, path=product).grace_days == 3


def test_percentages_from_toml_are_exact_decimals(tmp_path):
    product = tmp_path / "product.toml"
    product.write_text("[consequences]\npenalty_monthly_pct = 0.1\n", "utf-8")
    assert load_policy(path=product).penalty_monthly_pct == Decimal("0.1")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"stages": {"mid_from_days": "31"}}, "stages.mid_from_days"),
        ({"stages": {"mid_from_days": 0}}, "stages.mid_from_days"),
        ({"stages": {"mid_from_days": 95}}, "stages:"),
        ({"plans": {"affordability_ratio_pct": 150}}, "plans.affordability_ratio_pct"),
        ({"plans": {"affordability_ratio_pct": "abc"}}, "plans.affordability_ratio_pct"),
        ({"plans": {"grace_days": True}}, "plans.grace_days"),
        ({"stage": {"mid": {"plan_kinds": ["loan_shark"]}}}, "stage.mid.plan_kinds"),
        ({"stage": {"mid": {"plan_kinds": []}}}, "stage.mid.plan_kinds"),
        ({"stage": {"mid": {"frequencies": ["daily"]}}}, "stage.mid.frequencies"),
        ({"stage": {"mid": {"self_service": "yes"}}}, "stage.mid.self_service"),
        ({"stage": {"early": {"max_installments": 100_000}}}, "stage.early.max_installments"),
        (
            {"stage": {"late": {"minimum_installment": {"TWD": 0}}}},
            "stage.late.minimum_installment.TWD",
        ),
        ({"stage": {"late": 5}}, "stage.late"),
        ({"authority": {"agent": {"max_fee_waiver_pct": -1}}}, "authority.agent.max_fee_waiver"),
        ({"expense_guidelines": {"HKD": {"food": [1]}}}, "expense_guidelines.HKD.food"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(overrides, key):
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        load_policy(overrides)


def test_expense_guidelines_grow_with_the_household(policy):
    one = policy.guideline(Currency.TWD, ExpenseCategory.FOOD, 1)
    three = policy.guideline(Currency.TWD, ExpenseCategory.FOOD, 3)
    assert one == 900_000
    assert three == 900_000 + 2 * 600_000


def test_staff_authority_never_narrower_than_self_service(policy):
    for stage in (Stage.EARLY, Stage.MID, Stage.LATE):
        rules = policy.rules_for(stage).bounds
        agent = policy.agent.widened_by(rules)
        assert rules.plan_kinds <= agent.plan_kinds
        assert agent.max_installments >= rules.max_installments
        assert agent.max_penalty_waiver_pct >= rules.max_penalty_waiver_pct
        assert agent.minimum_down_payment_pct <= rules.minimum_down_payment_pct


def test_installment_moves_are_bounded_and_can_be_turned_off(policy):
    assert policy.max_installment_move_days == 14
    assert load_policy({"plans": {"max_installment_move_days": 0}}).max_installment_move_days == 0
    for bad in (-1, 32, "14", True, 1.5):
        with pytest.raises(PolicyError, match=r"plans\.max_installment_move_days"):
            load_policy({"plans": {"max_installment_move_days": bad}})


def test_holds_lengths_come_from_the_policy_and_are_checked():
    default = load_policy()
    assert default.hardship_breathing_space_days == 60  # England's Debt Respite Scheme
    assert default.dispute_review_days == 30
    shorter = load_policy({"holds": {"hardship_breathing_space_days": 30}})
    assert shorter.hardship_breathing_space_days == 30
    for bad in (0, -1, 400, "60", True):
        with pytest.raises(PolicyError, match=r"holds\.hardship_breathing_space_days"):
            load_policy({"holds": {"hardship_breathing_space_days": bad}})
