"""The web layer's shared pieces (portal.web.common) and core's page window: each
caller's behaviour, kept when their near-copies became one."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.core import db
from portal.core.db import MAX_ID, by_id, like_pattern
from portal.core.pagination import window
from portal.models import Case
from portal.web.common.forms import AmountField, DayField, GetForm, in_currency


class Days(GetForm):
    finance = DayField("Day")
    borrower = DayField("Day", unreadable="Like 2026-12-05.", any_year=True, padded=True)


def _read(app: Flask, **values: str) -> Days:
    with app.test_request_context():
        form = Days(formdata=MultiDict(values))
        form.validate()
        return form


def test_one_day_field_reads_what_a_date_input_sends_full_width_too(app):
    form = _read(app, finance="2026-11-29", borrower="２０２６－１２－０５")
    assert (form.finance.data, form.borrower.data) == (date(2026, 11, 29), date(2026, 12, 5))
    assert not form.errors


def test_the_consoles_read_one_digit_months_and_days_and_the_borrower_form_does_not(app):
    form = _read(app, finance="2026-1-5", borrower="2026-1-5")
    assert form.finance.data == date(2026, 1, 5)
    assert form.borrower.data is None
    assert form.errors["borrower"] == ["Like 2026-12-05."]
    form = _read(app, finance="2026-2-30")
    assert form.finance.data is None


def test_each_caller_keeps_its_own_words_and_range(app):
    form = _read(app, finance="29/11/2026", borrower="soon")
    assert [str(e) for e in form.errors["finance"]] == [
        "Enter a date as YYYY-MM-DD, like 2026-11-29."
    ]
    assert form.errors["borrower"] == ["Like 2026-12-05."]
    form = _read(app, finance="1999-12-31", borrower="2100-01-01")
    assert [str(e) for e in form.errors["finance"]] == ["Enter a date between 2000 and 2099."]
    assert form.borrower.data == date(2100, 1, 1)


class Amounts(GetForm):
    amount = AmountField("Amount")


def _amount(app: Flask, currency: str, typed: str) -> Amounts:
    with app.test_request_context():
        form = Amounts(formdata=MultiDict({"amount": typed}), meta=in_currency(currency))
        form.validate()
        return form


@pytest.mark.parametrize(
    ("currency", "typed", "minor", "shown"),
    [
        ("TWD", "1,500.50", 150050, "1500.5"),
        ("JPY", "１５００", 1500, "1500"),
        ("KWD", "1.005", 1005, "1.005"),
        ("HKD", "0", 0, "0"),
    ],
)
def test_an_amount_is_read_in_its_currencys_minor_unit(app, currency, typed, minor, shown):
    form = _amount(app, currency, typed)
    assert not form.errors
    assert form.amount.data == minor
    form.amount.raw_data = []
    with app.test_request_context():
        assert form.amount._value() == shown


@pytest.mark.parametrize(
    ("currency", "typed", "error"),
    [
        ("TWD", "15.005", "Use at most two digits after the decimal point."),
        ("JPY", "1500.5", "Enter a whole amount, with no decimal point."),
        ("KWD", "1.0005", "Use at most three digits after the decimal point."),
    ],
)
def test_more_decimals_than_the_currency_has_are_refused(app, currency, typed, error):
    form = _amount(app, currency, typed)
    assert [str(e) for e in form.errors["amount"]] == [error]
    assert form.amount.data is None


def test_a_form_of_amounts_must_know_its_currency(app):
    with app.test_request_context(), pytest.raises(TypeError, match="in_currency"):
        Amounts(formdata=MultiDict({"amount": "1"}))


def test_like_pattern_matches_wildcards_as_themselves():
    assert like_pattern(r"50%_off\x") == r"50\%\_off\\x"


@pytest.mark.parametrize("row_id", [0, -1, MAX_ID + 1])
def test_by_id_looks_up_no_id_a_column_cannot_hold(app, row_id):
    with app.app_context():
        assert by_id(db.session(), Case, row_id) is None


def test_window_clamps_the_page_to_the_pages_there_are(app):
    with app.app_context():
        query = select(Case)
        empty = window(db.session(), query, page=5, per_page=50)
        assert (empty.total, empty.page, empty.pages) == (0, 1, 1)
        assert " LIMIT " in str(empty.of(query).compile())
