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
from portal.web.common.forms import DayField, GetForm


class Days(GetForm):
    finance = DayField("Day")
    borrower = DayField("Day", unreadable="Like 2026-12-05.", any_year=True)


def _read(app: Flask, **values: str) -> Days:
    with app.test_request_context():
        form = Days(formdata=MultiDict(values))
        form.validate()
        return form


def test_one_day_field_reads_what_a_date_input_sends_full_width_too(app):
    form = _read(app, finance="2026-11-29", borrower="２０２６－１２－０５")
    assert (form.finance.data, form.borrower.data) == (date(2026, 11, 29), date(2026, 12, 5))
    assert not form.errors


def test_each_caller_keeps_its_own_words_and_range(app):
    form = _read(app, finance="29/11/2026", borrower="soon")
    assert [str(e) for e in form.errors["finance"]] == [
        "Enter a date as YYYY-MM-DD, like 2026-11-29."
    ]
    assert form.errors["borrower"] == ["Like 2026-12-05."]
    form = _read(app, finance="1999-12-31", borrower="2100-01-01")
    assert [str(e) for e in form.errors["finance"]] == ["Enter a date between 2000 and 2099."]
    assert form.borrower.data == date(2100, 1, 1)


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
