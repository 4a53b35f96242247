"""Currency exponents come from the currency: a zero-decimal currency (the yen) is read,
filtered and shown in whole units, like the hundredths of the currencies we lend in."""

from __future__ import annotations

from decimal import Decimal

from portal.cases.queue import QueueFilter
from portal.core.currency import minor_digits, minor_per_major, to_major
from portal.core.i18n import money
from portal.finance.reconcile import major

from .test_agent_queue import ids_of, make_case


def test_each_currency_has_its_own_minor_unit():
    assert [minor_digits(code) for code in ("TWD", "CNY", "HKD", "USD")] == [2, 2, 2, 2]
    assert minor_digits("JPY") == 0
    assert minor_digits("KWD") == 3
    assert minor_digits("EUR") == 2
    assert [minor_per_major(code) for code in ("TWD", "JPY", "KWD")] == [100, 1, 1000]
    assert to_major(12345, "TWD") == Decimal("123.45")
    assert to_major(12345, "JPY") == Decimal(12345)


def test_money_shows_a_zero_decimal_currency_in_whole_units(app):
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        assert money(150_000, "JPY") == "¥150,000"
        assert money(150_000, "TWD") == "NT$1,500"
        assert money(150_050, "TWD") == "NT$1,500.50"
        assert money(150_050, "USD") == "$1,500.50"


def test_reconciliation_reads_stripe_amounts_in_the_currencys_unit():
    assert major(1500, "JPY") == Decimal(1500)
    assert major(1500, "TWD") == Decimal("15.00")
    assert major(1500, "KWD") == Decimal("1.500")
    assert major(None, "JPY") is None


def test_the_queue_balance_filter_counts_a_yen_loan_in_whole_yen(app):
    # Overdue: 5,500 + 300 + 150 whole units of each currency.
    twd = make_case(app, 20, currency="TWD", principal_part=500_000, interest_part=50_000).case_id
    jpy = make_case(
        app, 20, currency="JPY", principal_part=5_000, interest_part=500, fees=300, penalties=150
    ).case_id
    for currency, case_id in (("TWD", twd), ("JPY", jpy)):
        exact = QueueFilter(currency=currency, balance_min=5_950, balance_max=5_950)
        assert ids_of(app, exact) == {case_id}
        assert ids_of(app, QueueFilter(currency=currency, balance_min=5_951)) == set()
        assert ids_of(app, QueueFilter(currency=currency, balance_max=5_949)) == set()
    # With no currency chosen, converted at exact rates: ¥5,950 at 0.21 is NT$1,249.50; a
    # currency without a rate has no converted amount, so no amount filter selects it.
    app.config["REPORTING_RATES"] = "CNY=4.45,HKD=4.1,USD=32,JPY=0.21"
    assert ids_of(app, QueueFilter(balance_min=1_249, balance_max=1_250)) == {jpy}
    assert ids_of(app, QueueFilter(balance_min=1_250)) == {twd}
    app.config["REPORTING_RATES"] = "CNY=4.45,HKD=4.1,USD=32"
    assert ids_of(app, QueueFilter(balance_min=1)) == {twd}
