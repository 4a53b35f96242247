"""The page cache: a borrower's status page and calculator served again while nothing they
show has changed, and rendered anew the moment anything does, whichever path changed it.

Every test app runs with ``TESTING``, under which each page served from the cache is
rendered again and compared (``portal.web.common.page_cache``): the whole suite is this
module's oracle. The tests here check the parts that oracle cannot: that pages are kept
at all, that a change made behind the ORM's back is seen, that per-response values are
fresh, and that the oracle itself fires."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from portal.cases import fingerprint
from portal.core import db
from portal.models import Base, Case
from portal.web.common import page_cache

from .factories import NOW, build_case, sign_in

CALCULATOR = (
    "/plans/calculate?kind=arrears_plan&installments=6&frequency=monthly&first_due_date="
    + (NOW.date() + timedelta(days=7)).isoformat()
)
HTMX = {"HX-Request": "true"}


def kept(app: Flask) -> page_cache.PageCache:
    cache: page_cache.PageCache = app.extensions[page_cache.EXTENSION]
    return cache


# Where a page carries its CSRF token: htmx's request headers and the forms' hidden field.
TOKEN = re.compile(rb'("X-CSRFToken": "|name="csrf_token" value=")([^"]*)"')


def csrf_tokens(body: bytes) -> set[bytes]:
    """The CSRF tokens a page carries (one per response, however many places)."""
    return {found.group(2) for found in TOKEN.finditer(body)}


def without_tokens(body: bytes) -> bytes:
    """The page with its CSRF tokens left out."""
    return TOKEN.sub(rb'\1"', body)


def signed_in(app: Flask, client: FlaskClient) -> None:
    """A borrower signed in, the page cache empty. (A fresh database's first page records
    the policy in force as version 1, which moves every fingerprint once.)"""
    sign_in(client, build_case(app))
    client.get("/status")
    app.extensions[page_cache.EXTENSION] = page_cache.PageCache()


def test_every_table_that_names_a_case_is_watched_or_said_why_not() -> None:
    linking = {"case_id", "loan_id", "plan_id", "borrower_id", "link_id", "hold_id"}
    naming = {
        table.name for table in Base.metadata.tables.values() if linking & set(table.columns.keys())
    }
    watched = {item.table for item in fingerprint.WATCHED}
    assert not watched & set(fingerprint.UNWATCHED)
    assert naming - {"cases", "loans"} <= watched | set(fingerprint.UNWATCHED)
    assert watched | set(fingerprint.UNWATCHED) <= set(Base.metadata.tables)


def test_the_status_page_is_kept_and_served_again(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    first = client.get("/status")
    second = client.get("/status")
    assert first.status_code == second.status_code == 200
    assert (kept(app).misses, kept(app).hits) == (1, 1)
    # The same page, but for each response's own CSRF token: Flask-WTF signs it with the
    # second it is made, so two requests either side of a second differ there (CI saw it).
    assert without_tokens(first.data) == without_tokens(second.data)
    assert csrf_tokens(second.data)
    assert b"hh-page-cache-mark" not in second.data
    assert len(kept(app)) == 1


def test_the_calculator_is_kept_per_question(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    six = client.get(CALCULATOR, headers=HTMX)
    client.get(CALCULATOR, headers=HTMX)
    assert (kept(app).misses, kept(app).hits) == (1, 1)
    twelve = client.get(CALCULATOR.replace("installments=6", "installments=12"), headers=HTMX)
    assert (kept(app).misses, kept(app).hits) == (2, 1)
    assert six.data != twelve.data


def test_a_change_made_in_sql_behind_the_orm_is_shown_at_once(
    app: Flask, client: FlaskClient
) -> None:
    built = build_case(app)
    sign_in(client, built)
    assert "陳怡君" in client.get("/status").get_data(as_text=True)
    with app.app_context():
        db.session().execute(
            text("UPDATE borrowers SET full_name = :name WHERE id = :id"),
            {"name": "王小明", "id": built.borrower_id},
        )
        db.session().commit()
    page = client.get("/status").get_data(as_text=True)
    assert "王小明" in page
    assert "陳怡君" not in page


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE loan_installments SET due_date = due_date WHERE 1 = 0",  # no change
        "UPDATE loan_installments SET principal_paid = principal_paid + 1",
        "UPDATE loan_charges SET amount = amount + 1",
        "UPDATE cases SET needs_agent = NOT needs_agent",
        "UPDATE reminder_links SET session_generation = session_generation + 1",
        "UPDATE borrowers SET locale = 'en'",
        "DELETE FROM loan_charges",
    ],
)
def test_the_fingerprint_moves_with_any_row_it_watches(app: Flask, statement: str) -> None:
    built = build_case(app)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        assert case is not None
        ids = (case.id, case.loan_id, built.borrower_id)
        before = fingerprint.fingerprint(session, *ids)
        assert fingerprint.fingerprint(session, *ids) == before
        changed = session.execute(text(statement)).rowcount
        after = fingerprint.fingerprint(session, *ids)
        assert (after != before) == bool(changed)
        session.rollback()


def test_each_response_of_a_kept_page_has_its_own_valid_csrf_token(
    app: Flask, client: FlaskClient
) -> None:
    sign_in(client, build_case(app))
    app.config["WTF_CSRF_ENABLED"] = True
    client.get("/status")
    served = client.get("/status").get_data(as_text=True)
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', served))
    assert tokens
    assert not any("mark" in token for token in tokens)
    refused = client.post("/sign-out", data={"csrf_token": "forged"})
    assert refused.status_code == 400
    signed_out = client.post("/sign-out", data={"csrf_token": tokens.pop()})
    assert signed_out.status_code == 303


def test_a_kept_page_holds_marks_not_the_tokens_of_the_response_that_made_it(
    app: Flask, client: FlaskClient
) -> None:
    signed_in(app, client)
    served = client.get("/status").get_data(as_text=True)
    (page,) = (kept(app).get(key) for key in list(kept(app)._pages))
    assert page is not None
    tokens = set(re.findall(r'csrf_token" value="([^"]+)"|X-CSRFToken": "([^"]+)"', served))
    assert tokens
    for token in {value for pair in tokens for value in pair if value}:
        assert token not in page
    assert page.count(page_cache._mark("csrf")) == served.count('csrf_token" value="') + 1


def test_the_session_clock_on_a_kept_page_counts_down(app: Flask, client: FlaskClient) -> None:
    sign_in(client, build_case(app))
    for minutes in range(0, 110, 14):  # kept alive to near the session's two hours
        app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=minutes)).isoformat()
        client.get("/status")
    seconds = []
    for moment in (NOW + timedelta(minutes=110), NOW + timedelta(minutes=110, seconds=20)):
        app.config["HAOHUAN_NOW"] = moment.isoformat()
        found = re.search(r'data-seconds="(\d+)"', client.get("/status").get_data(as_text=True))
        assert found is not None
        seconds.append(int(found.group(1)))
    assert seconds == [600, 580]


def test_a_page_is_not_kept_past_its_minute(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    client.get("/status")
    client.get(CALCULATOR, headers=HTMX)
    assert len(kept(app)) == 2
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(seconds=59)).isoformat()
    client.get("/status")
    assert (kept(app).misses, kept(app).hits) == (2, 1)
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=1)).isoformat()
    client.get("/status")
    assert (kept(app).misses, kept(app).hits) == (3, 1)
    assert len(kept(app)) == 1  # the minute before is forgotten


def test_a_kept_page_that_differs_from_a_fresh_one_fails_loudly(
    app: Flask, client: FlaskClient
) -> None:
    signed_in(app, client)
    client.get("/status")
    cache = kept(app)
    for key in list(cache._pages):
        cache._pages[key] = zlib.compress(b"<p>a stale page</p>")
    assert client.get("/status").status_code == 500
    assert len(cache.mismatches) == 1
    assert "-<p>a stale page</p>" in cache.mismatches[0][1]
    cache.mismatches.clear()  # this test's own, expected


def test_another_borrower_never_gets_a_kept_page(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    sign_in(first, build_case(app, name="陳怡君"))
    sign_in(second, build_case(app, name="林志明", date_of_birth="1990-01-02"))
    assert "陳怡君" in first.get("/status").get_data(as_text=True)
    page = second.get("/status").get_data(as_text=True)
    assert "林志明" in page
    assert "陳怡君" not in page


def test_the_cache_forgets_the_least_recently_used_beyond_its_limit() -> None:
    cache = page_cache.PageCache(limit=2)
    cache.put(("a",), "A 頁")
    cache.put(("b",), "B")
    assert cache.get(("a",)) == "A 頁"
    cache.put(("c",), "C")
    assert cache.get(("b",)) is None
    assert cache.get(("a",)) == "A 頁"
    assert len(cache) == 2
