"""Races between the handlers of one payment (found in review): a webhook during a sweep,
a double click on the checkout, a part payment left open when a plan is agreed."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

import portal.payments.sweeper as sweeper
import portal.web.payments.sandbox_views as sandbox_views
from portal.core import db
from portal.models import Case, CaseEvent, Payment, Plan
from portal.payments.stripe_gateway import Intent, StripeSettings

from .factories import NOW, build_case, sign_in
from .test_money_paths import accept_first, books
from .test_stripe_webhooks import SECRET, deliver, event, stripe_payment_for_a_new_plan


def money_in(app, case_id):
    """What the loan has been paid, what each plan installment has, and the events."""
    with app.app_context():
        session = db.session()
        loan = session.get(Case, case_id).loan
        paid = sum(i.principal_paid + i.interest_paid for i in loan.installments)
        paid += sum(c.paid for c in loan.charges)
        plan = session.scalars(select(Plan)).first()
        events = [
            e.kind for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))
        ]
        return paid, [i.paid for i in plan.installments], events


def test_a_webhook_during_a_sweep_applies_the_payment_once(app, client, monkeypatch):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    payment = stripe_payment_for_a_new_plan(app, client, "pi_test_1")
    client.post("/sign-out")
    before, _, _ = money_in(app, payment.case_id)
    webhook = app.test_client()

    def stripe_says_succeeded(_settings, reference):
        # While the sweep asks Stripe, Stripe's webhook lands and is applied.
        assert deliver(webhook, event("payment_intent.succeeded")).status_code == 200
        return Intent(reference, "succeeded", "secret", payment.amount, payment.currency)

    monkeypatch.setattr(sweeper, "retrieve_intent", stripe_says_succeeded)
    with app.test_request_context("/"):
        sweeper.sweep(
            db.session(),
            StripeSettings.from_config(),
            NOW + timedelta(minutes=10),
            timedelta(minutes=5),
        )
    after, plan_paid, events = money_in(app, payment.case_id)
    assert after - before == payment.amount
    assert plan_paid[0] == payment.amount
    assert plan_paid[1] == 0
    assert events.count("payment_succeeded") == 1
    assert books(app) == []


def test_a_double_click_on_the_checkout_pays_once(app, client, monkeypatch):
    built = build_case(app)
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    before, _, _ = money_in(app, built.case_id)
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    cookie = client.get_cookie("haohuan").value
    handle = sandbox_views.handle
    barrier = threading.Barrier(2)

    def both_read_before_either_writes(*args, **kwargs):
        barrier.wait(timeout=10)
        return handle(*args, **kwargs)

    monkeypatch.setattr(sandbox_views, "handle", both_read_before_either_writes)

    def click() -> None:
        own = app.test_client()
        own.set_cookie("haohuan", cookie)
        own.post(checkout, data={"outcome": "succeed"})

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with app.app_context():
        amount = db.session().scalars(select(Payment)).one().amount
    after, plan_paid, events = money_in(app, built.case_id)
    assert after - before == amount
    assert plan_paid[0] == amount
    assert plan_paid[1] == 0
    assert events.count("payment_succeeded") == 1
    assert books(app) == []


def test_a_part_payment_left_open_is_void_once_a_plan_is_agreed(app, client):
    built = build_case(app)
    sign_in(client, built)
    checkout = client.post("/pay", data={"purpose": "partial", "amount": "100"}).location
    accept_first(client, "arrears_plan")
    client.post(checkout, data={"outcome": "succeed"})
    with app.app_context():
        assert db.session().scalars(select(Payment)).one().status == "voided"
    paid, plan_paid, _ = money_in(app, built.case_id)
    assert paid == 4 * 550_000  # only the four installments paid before the case opened
    assert plan_paid[0] == 0
