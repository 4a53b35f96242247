"""The whole borrower journey through the portal, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.core import db
from portal.models import Case, CaseEvent, Consent, Payment, Plan, ReminderLink

from .factories import build_case, sign_in, unwrapped


def review_form(html: str) -> dict[str, str]:
    """The hidden fields of the review page's consent form."""
    fields = dict(re.findall(r'<input id="(\w+)" name="\w+" type="hidden" value="([^"]*)"', html))
    fields.pop("csrf_token", None)
    return fields


def first_review_link(html: str, kind: str) -> str:
    links = re.findall(r'href="(/plans/review\?[^"]+)"', html)
    chosen = next(link for link in links if f"kind={kind}" in link)
    return chosen.replace("&amp;", "&")


def count(app, model) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model))


def test_from_link_to_an_arranged_case(app, client):
    built = build_case(app)
    # The link's GET has no side effects: nothing is written, whatever prefetches it.
    assert client.get(f"/r/{built.token}").status_code == 200
    assert client.get(f"/r/{built.token}").status_code == 200
    assert count(app, CaseEvent) == 0

    sign_in(client, built)
    status = client.get("/status").get_data(as_text=True)
    # Two installments of NT$5,500 overdue, a NT$300 fee and a NT$150 penalty.
    assert "11,450" in status
    assert "47" in status

    plans = client.get("/plans").get_data(as_text=True)
    review = client.get(first_review_link(plans, "arrears_plan"))
    assert review.status_code == 200
    form = review_form(review.get_data(as_text=True))
    assert form["kind"] == "arrears_plan"

    refused = client.post("/plans/accept", data=form)  # no consent ticked
    assert refused.status_code == 422
    assert count(app, Plan) == 0

    accepted = client.post("/plans/accept", data={**form, "consent": "y"})
    assert accepted.status_code == 303
    assert accepted.location.endswith("/pay")
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        assert plan.status == "pending"
        consent = db.session().scalars(select(Consent)).one()
        assert consent.shown_hash == form["shown"]
        assert consent.terms_version
        first_amount = plan.installments[0].amount

    started = client.post("/pay", data={"purpose": "installment"})
    assert started.status_code == 303
    checkout = started.location
    assert "/sandbox/checkout/" in checkout
    # A refresh, or the back button and pay again, resumes the same payment.
    again = client.post("/pay", data={"purpose": "installment"})
    assert again.location == checkout
    assert count(app, Payment) == 1

    done = client.post(checkout, data={"outcome": "succeed"})
    assert done.status_code == 303
    receipt = client.get(done.location)
    assert receipt.status_code == 200

    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        plan = session.scalars(select(Plan)).one()
        payment = session.scalars(select(Payment)).one()
        assert payment.status == "succeeded"
        assert payment.amount == first_amount
        assert plan.status == "active"
        assert plan.installments[0].paid == first_amount
        assert case.status == "arranged"
        kinds = [event.kind for event in case.events]
        assert kinds[-4:] == ["payment_started", "payment_succeeded", "plan_activated"][-3:] or (
            {"plan_accepted", "payment_started", "payment_succeeded", "plan_activated"}
            <= set(kinds)
        )
    # Paying twice on the provider's page changes nothing more.
    client.post(checkout, data={"outcome": "succeed"})
    with app.app_context():
        assert db.session().scalars(select(Plan)).one().installments[0].paid == first_amount


def test_a_declined_payment_can_be_retried(app, client):
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "pay_in_full")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    declined = client.post(checkout, data={"outcome": "fail"})
    page = client.get(declined.location)
    assert page.status_code == 200
    with app.app_context():
        assert db.session().scalars(select(Payment)).one().status == "failed"
        assert db.session().scalars(select(Plan)).one().status == "pending"
    retry = client.post("/pay", data={"purpose": "installment"})
    assert retry.location != checkout  # a new attempt, not the failed one
    client.post(retry.location, data={"outcome": "succeed"})
    with app.app_context():
        session = db.session()
        assert session.get(Case, built.case_id).status == "resolved"
    status = client.get("/status").get_data(as_text=True)
    assert "11,450" not in status


def test_paying_in_full_clears_the_arrears_and_waives_penalties(app, client):
    built = build_case(app, days_past_due=10)  # early stage: penalties waived in full
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "pay_in_full")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    client.post(checkout, data={"outcome": "succeed"})
    with app.app_context():
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        assert payment.amount == 550_000 + 30_000  # one installment and the fee
        loan = session.get(Case, built.case_id).loan
        assert all(charge.outstanding == 0 for charge in loan.charges)
        overdue = [i for i in loan.installments if i.sequence == 5]
        assert overdue[0].unpaid == 0


def test_a_part_payment_without_a_plan(app, client):
    built = build_case(app)
    sign_in(client, built)
    started = client.post("/pay", data={"purpose": "partial", "amount": "2,000"})
    assert started.status_code == 303
    client.post(started.location, data={"outcome": "succeed"})
    with app.app_context():
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        assert payment.amount == 200_000
        loan = session.get(Case, built.case_id).loan
        # Waterfall: the NT$150 penalty, the NT$300 fee, then interest, then principal.
        assert sum(c.paid for c in loan.charges) == 45_000
        assert sum(i.interest_paid for i in loan.installments if i.sequence > 4) == 100_000
        assert sum(i.principal_paid for i in loan.installments if i.sequence > 4) == 55_000


def test_bad_part_payment_amounts_get_a_message(app, client):
    built = build_case(app)
    sign_in(client, built)
    for typed in ("abc", "-5", "10.555", ""):
        response = client.post("/pay", data={"purpose": "partial", "amount": typed})
        assert response.status_code == 422, typed
    assert count(app, Payment) == 0


def test_cannot_pay_more_than_is_overdue(app, client):
    built = build_case(app)
    sign_in(client, built)
    response = client.post("/pay", data={"purpose": "partial", "amount": "999999"})
    assert response.status_code == 422
    assert count(app, Payment) == 0


def test_a_pending_plan_can_be_withdrawn_for_another(app, client):
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    assert client.post("/plans/withdraw").status_code == 303
    with app.app_context():
        assert db.session().scalars(select(Plan)).one().status == "cancelled"
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "pay_in_full")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Plan)) == 2


def test_hardship_puts_the_case_on_hold(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    assert client.post("/help", data={}).status_code == 422
    response = client.post("/help", data={"reason": "hardship", "details": "lost my job"})
    assert response.status_code == 303
    assert client.get(response.location).status_code == 200
    with app.app_context():
        case = db.session().get(Case, built.case_id)
        assert case.hold == "hardship"
        assert case.needs_agent
        assert case.events[-1].kind == "hardship_declared"
    status = client.get("/status").get_data(as_text=True)
    assert "Your case is on hold" in status
    assert "What happens if nothing changes" in status
    assert "is reported to the credit bureau" not in status  # nothing future escalates


def test_links_are_stored_only_as_hashes(app):
    built = build_case(app)
    with app.app_context():
        stored = db.session().scalars(select(ReminderLink.token_hash)).all()
    assert built.token not in stored
    assert len(stored[0]) == 64


def test_an_active_plan_speaks_of_what_is_left(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    client.post(checkout, data={"outcome": "succeed"})
    status = unwrapped(client.get("/status").get_data(as_text=True))
    assert "Your plan is active" in status
    assert "Collection pauses once your first payment is made." not in status
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        second = plan.installments[1]
    # The next missed-payment rule is about the second installment, not the paid first.
    assert f"If the next payment, NT${second.amount // 100:,}," in status
    assert "Where your case stands" not in status


def test_the_hold_confirmation_is_only_for_a_case_on_hold(app, client):
    built = build_case(app)
    sign_in(client, built)
    assert client.get("/help/done").status_code == 303


def test_taiwan_dollars_read_nt_dollars_in_every_language(app, client):
    built = build_case(app, locale="zh_Hant_TW")
    sign_in(client, built)
    for language in ("zh_Hant_TW", "zh_Hans_CN", "en"):
        html = client.get(f"/status?lang={language}").get_data(as_text=True)
        assert "NT$11,450" in html, language
