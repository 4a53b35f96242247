from negotiation import Currency, Frequency, Statement, assess
from negotiation.policy import ExpenseCategory


def test_disposable_income_and_the_affordable_share(policy):
    statement = Statement(
        net_monthly_income=4_500_000,
        household_size=3,
        housing=1_500_000,
        utilities=300_000,
        food=1_200_000,
        transport=300_000,
    )
    result = assess(statement, policy, Currency.TWD)
    assert result.disposable_income == 1_200_000
    assert result.affordable_monthly == 960_000  # 80 % of the disposable income
    assert result.affordable_per(Frequency.MONTHLY) == 960_000
    assert result.affordable_per(Frequency.BIWEEKLY) == 960_000 * 12 // 26
    assert result.affordable_per(Frequency.WEEKLY) == 960_000 * 12 // 52
    assert result.flags == ()


def test_spending_above_the_guideline_is_flagged_not_refused(policy):
    statement = Statement(net_monthly_income=6_000_000, household_size=1, food=2_000_000)
    result = assess(statement, policy, Currency.TWD)
    assert [(f.category, f.amount, f.guideline) for f in result.flags] == [
        (ExpenseCategory.FOOD, 2_000_000, 900_000)
    ]
    assert result.affordable_monthly == 3_200_000  # the statement still counts as given


def test_a_household_spending_more_than_it_earns_can_afford_nothing(policy):
    statement = Statement(net_monthly_income=100_000, housing=200_000, other_debt_payments=50_000)
    result = assess(statement, policy, Currency.USD)
    assert result.disposable_income == -150_000
    assert result.affordable_monthly == 0


def test_larger_households_have_larger_guidelines(policy):
    spending = Statement(net_monthly_income=10_000_000, household_size=1, food=1_400_000)
    family = Statement(net_monthly_income=10_000_000, household_size=4, food=1_400_000)
    assert assess(spending, policy, Currency.TWD).flags
    assert not assess(family, policy, Currency.TWD).flags
