"""Issue 12, "the borrower never loses their place": receipts, the status page under a
plan, the move form's dates, the calculator's start, part payments, language switches
on re-shown forms, and dates of birth as Hong Kong writes them."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.core import db
from portal.models import Payment

from .factories import build_case, sign_in
from .test_journey import first_review_link, review_form


def pay_in_full(client) -> str:
    """Choose "pay everything overdue", consent, pay; the receipt page's HTML."""
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "pay_in_full")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    done = client.post(checkout, data={"outcome": "succeed"})
    return client.get(done.location).get_data(as_text=True)


def test_paying_everything_overdue_says_it_is_paid_not_that_a_plan_is_complete(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    receipt = pay_in_full(client)
    assert "plan is complete" not in receipt
    assert "Everything that was overdue is now paid" in receipt


def test_a_part_payment_that_clears_the_arrears_says_so(app, client):
    built = build_case(app, locale="en", days_past_due=40, penalties=0, fees=0)
    sign_in(client, built)
    status = client.get("/status").get_data(as_text=True)
    overdue = re.search(r"Overdue now: NT\$([\d,]+)", status)
    assert overdue is not None
    started = client.post("/pay", data={"purpose": "partial", "amount": overdue.group(1)})
    assert started.status_code == 303, started.get_data(as_text=True)[:2000]
    done = client.post(started.location, data={"outcome": "succeed"})
    receipt = client.get(done.location).get_data(as_text=True)
    assert "Everything that was overdue is now paid" in receipt
    assert "plan is complete" not in receipt
    with app.app_context():
        assert db.session().scalars(select(Payment)).one().purpose == "partial"


def calculator_start(html: str) -> dict[str, str]:
    """The values the calculator's form is shown with."""
    section = html[html.index('class="calculator"') :]
    selected = r'<select[^>]*name="{}".*?<option selected value="([^"]*)"'
    values = {
        name: re.search(selected.format(name), section, re.DOTALL) for name in ("kind", "frequency")
    }
    found = {name: match.group(1) for name, match in values.items() if match}
    for name in ("installments", "first_due_date"):
        match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', section)
        assert match is not None, name
        found[name] = match.group(1)
    return found


def test_the_calculator_starts_on_a_plan_the_policy_allows(app, client):
    # NT$4,850 overdue: at the minimum installment of NT$1,000, at most 4 payments.
    for days, principal in ((40, 200_000), (47, 500_000)):
        built = build_case(app, locale="en", days_past_due=days, principal_part=principal)
        sign_in(client, built)
        start = calculator_start(client.get("/plans").get_data(as_text=True))
        assert start["kind"] == "arrears_plan", start
        fragment = client.get(
            "/plans/calculate", query_string=start, headers={"HX-Request": "true"}
        ).get_data(as_text=True)
        assert "This plan is not possible" not in fragment, (start, fragment)
        assert "Choose this plan" in fragment
        client.post("/sign-out")
