"""The options page: cards, the statement, and the live calculator with and without JS."""

from __future__ import annotations

from portal.arrangements import statements
from portal.core import db

from .factories import NOW, build_case, sign_in, unwrapped


def test_the_calculator_answers_htmx_with_a_fragment(app, client):
    built = build_case(app)
    sign_in(client, built)
    query = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-12-02"
    fragment = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="calculation"')
    assert "<html" not in html
    assert "HX-Request" in fragment.headers["Vary"]
    assert html.count("<tr>") >= 6 + 1  # six payments and the header row


def test_the_calculator_works_as_a_plain_form_without_javascript(app, client):
    built = build_case(app)
    sign_in(client, built)
    query = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-12-02"
    page = client.get(f"/plans/calculate?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<html" in html
    assert 'id="calculation"' in html
    assert "/plans/review?kind=arrears_plan&amp;installments=6" in html


def test_a_refused_plan_says_why_and_what_would_do(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    query = "kind=arrears_plan&installments=40&frequency=monthly&first_due_date=2026-12-02"
    html = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "The most allowed is 12." in html
    late = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2027-03-01"
    html = client.get(f"/plans/calculate?{late}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "December 14, 2026" in html


def test_malformed_calculator_input_gets_messages_not_errors(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    for query in (
        "kind=arrears_plan&installments=abc&frequency=monthly&first_due_date=2026-12-02",
        "kind=loan_shark&installments=6&frequency=monthly&first_due_date=2026-12-02",
        "kind=arrears_plan&installments=6&frequency=daily&first_due_date=2026-12-02",
        "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=02/12/2026",
        "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-12-02&down_payment=x",
    ):
        response = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"})
        assert response.status_code == 200, query
        assert 'class="alert"' in response.get_data(as_text=True), query


def test_a_statement_marks_what_fits(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    posted = client.post(
        "/plans",
        data={
            "net_monthly_income": "45,000",
            "household_size": "3",
            "housing": "15000",
            "food": "12000",
            "utilities": "3000",
            "transport": "3000",
        },
    )
    assert posted.status_code == 303
    html = unwrapped(client.get("/plans").get_data(as_text=True))
    assert "you can afford about NT$9,600 a month" in html
    assert "Fastest that fits your budget" in html


def session_of(app, client) -> tuple[str, dict]:
    """The session cookie as sent, and what anyone holding it can read from it (it is
    signed, not encrypted)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    return cookie, app.session_interface.get_signing_serializer(app).loads(cookie)


def test_the_statement_stays_on_the_server_not_in_the_cookie(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    figures = {"net_monthly_income": "45,678", "household_size": "3", "housing": "15432"}
    assert client.post("/plans", data=figures).status_code == 303
    _cookie, readable = session_of(app, client)
    assert "45678" not in repr(readable)
    assert "15432" not in repr(readable)
    assert not any("statement" in key and key != "statement_key" for key in readable)
    # Still the borrower's on the next page, and in the form to change it.
    html = client.get("/plans").get_data(as_text=True)
    assert "you can afford about" in html
    assert 'value="45678"' in html or 'value="45,678"' in html
    # The key finds it only for the session's own link.
    with app.app_context():
        key, link_id = readable["statement_key"], readable["link_id"]
        assert statements.load(db.session(), link_id, key, NOW).net_monthly_income == 4_567_800
        assert statements.load(db.session(), link_id + 1, key, NOW) is None
    # Skipping forgets it on the server too.
    assert client.post("/plans", data={"skip": "1"}).status_code == 200
    assert "you can afford about" not in client.get("/plans").get_data(as_text=True)


def test_a_bad_statement_keeps_what_was_typed(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    response = client.post(
        "/plans", data={"net_monthly_income": "lots", "household_size": "0", "food": "12000"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter an amount in numbers" in html
    assert "Enter a number from 1 to 20." in html
    assert 'value="12000"' in html  # nothing typed is lost
    assert 'value="lots"' in html


def test_skipping_the_statement(app, client):
    built = build_case(app)
    sign_in(client, built)
    assert client.post("/plans", data={"skip": "1"}).status_code == 200


def test_a_promise_to_pay_on_a_date_of_ones_own(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    query = "kind=deferral&installments=1&frequency=monthly&first_due_date=2026-12-09"
    html = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "December 9, 2026" in html
    assert "NT$11,450" in html  # a promise waives nothing
    late = "kind=deferral&installments=1&frequency=monthly&first_due_date=2026-12-20"
    html = client.get(f"/plans/calculate?{late}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "The latest is December 14, 2026." in unwrapped(html)


def test_the_review_of_an_arrears_plan_gives_the_real_monthly_cost(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    query = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-11-30"
    html = unwrapped(client.get(f"/plans/review?{query}").get_data(as_text=True))
    # NT$1,896 a month on the plan (after the first, NT$1,895) beside the regular NT$5,500.
    assert "come to about NT$7,396 per month" in html


def test_an_htmx_history_restore_gets_the_whole_page(app, client):
    built = build_case(app)
    sign_in(client, built)
    query = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-12-02"
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    html = client.get(f"/plans/calculate?{query}", headers=headers).get_data(as_text=True)
    assert "<html" in html


def test_the_calculator_after_the_session_ended_leaves_the_page_whole(app, client):
    # Without a session the htmx answer sends the whole page to "session ended" rather
    # than swapping that page into the calculator.
    query = "kind=arrears_plan&installments=6&frequency=monthly&first_due_date=2026-12-02"
    fragment = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.headers["HX-Redirect"].endswith("/session-ended")
    assert client.get(f"/plans/calculate?{query}").status_code in (302, 303)
