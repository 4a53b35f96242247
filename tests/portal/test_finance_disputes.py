"""Chargebacks worked from the finance console: disputes kept from the gateway's events
(once, and never taken back by an event arriving late), the evidence assembled from the
consent, the plan, the messages and the payments, submitted once before its due date,
and the decision moving the ledger through the path every dispute event takes.

The sandbox tests need no Stripe; the ones marked ``needs_localstripe`` run against a real
local Stripe (localstripe as a process, taught disputes in ``localstripe_server``, its
signed webhooks delivered to the portal served by a real HTTP server).
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import pytest
import stripe
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from portal.cli import cli
from portal.core import db
from portal.demo.disputes import seed_open_dispute
from portal.finance import disputes as finance_disputes
from portal.models import AuditEntry, Case, Dispute, Payment, Plan
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.sandbox_disputes import open_dispute
from portal.payments.stripe_checkout import idempotency_key
from portal.payments.stripe_gateway import StripeSettings, create_intent

from .factories import NOW, PASSWORD, add_staff, build_case, notice_sent, sign_in, staff_sign_in
from .localstripe_server import (
    DISPUTE_FEE,
    decide_dispute,
    pay_at_stripe,
)
from .localstripe_server import (
    open_dispute as open_at_stripe,
)
from .test_localstripe import localstripe, served
from .test_money_paths import accept_first, pay_due
from .test_stripe_webhooks import deliver, stripe_payment, stripe_payment_for_a_new_plan

# Fixtures, used by name: localstripe as a process and the portal on a real HTTP server
# registered as its webhook endpoint (test_localstripe's), and a Stripe payment.
__all__ = ["localstripe", "served", "stripe_payment"]

needs_localstripe = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")
DUE = NOW + timedelta(days=7)
EPOCH_NOW = int(NOW.timestamp())


def books(app) -> list[str]:
    with app.app_context():
        return ledger.check(db.session())


def the_dispute(app) -> Dispute:
    with app.app_context():
        session = db.session()
        found = session.scalars(select(Dispute)).one()
        session.expunge(found)
        return found


def money_state(app, payment_id: int) -> tuple[int, str, int, str]:
    """The payment's amount held by disputes, its plan's status and first installment's
    paid amount, and its case's status."""
    with app.app_context():
        session = db.session()
        payment = session.get(Payment, payment_id)
        plan = session.get(Plan, payment.plan_id)
        case = session.get(Case, payment.case_id)
        return payment.disputed, plan.status, plan.installments[0].paid, case.status


# Disputes from Stripe's webhooks: kept once, never taken back ----------------------------


def dispute_event(kind: str, event_id: str, status: str, sent: int, amount: int) -> bytes:
    """A dispute event as Stripe sends it: the dispute object, its fee in its balance
    transaction, its evidence due date; sent ``sent`` seconds after the test's now."""
    dispute = {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": amount,
        "currency": "twd",
        "charge": "ch_test_1",
        "payment_intent": "pi_test_1",
        "reason": "product_not_received",
        "status": status,
        "created": EPOCH_NOW,
        "evidence_details": {"due_by": int(DUE.timestamp()), "has_evidence": False},
        "balance_transactions": [{"amount": -amount, "fee": DISPUTE_FEE, "currency": "twd"}],
    }
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": EPOCH_NOW + sent,
        "data": {"object": dispute},
    }
    return json.dumps(body).encode()


def succeeded(client) -> None:
    from .test_stripe_webhooks import event

    assert deliver(client, event("payment_intent.succeeded")).status_code == 200


def test_a_won_dispute_is_kept_once_and_a_late_event_takes_nothing_back(
    app, client, stripe_payment
):
    amount = stripe_payment.amount
    succeeded(client)
    created = dispute_event("charge.dispute.created", "evt_d1", "needs_response", 10, amount)
    assert deliver(client, created).json["duplicate"] is False
    found = the_dispute(app)
    assert (found.reference, found.status, found.reason) == (
        "dp_test_1",
        "needs_response",
        "product_not_received",
    )
    assert (found.amount, found.currency, found.fee, found.fee_currency) == (
        amount,
        "TWD",
        DISPUTE_FEE,
        "TWD",
    )
    assert found.evidence_due_by == DUE
    assert found.payment_id == stripe_payment.id
    assert money_state(app, stripe_payment.id) == (amount, "pending", 0, "open")
    # Redelivered: nothing more.
    assert deliver(client, created).json["duplicate"] is True
    assert money_state(app, stripe_payment.id) == (amount, "pending", 0, "open")
    deliver(client, dispute_event("charge.dispute.updated", "evt_d2", "under_review", 20, amount))
    assert the_dispute(app).status == "under_review"
    # An older event, arriving after: the dispute does not go back to needing evidence.
    deliver(
        client,
        dispute_event("charge.dispute.funds_withdrawn", "evt_d0", "needs_response", 5, amount),
    )
    assert the_dispute(app).status == "under_review"
    won = dispute_event("charge.dispute.closed", "evt_d3", "won", 30, amount)
    deliver(client, won)
    decided = the_dispute(app)
    assert decided.status == "won"
    assert decided.closed_at is not None
    assert money_state(app, stripe_payment.id) == (0, "active", amount, "arranged")
    assert books(app) == []
    # The dispute's first event, arriving last (Stripe does not promise order): the money
    # a won dispute returned stays returned.
    deliver(
        client, dispute_event("charge.dispute.created", "evt_late", "needs_response", 1, amount)
    )
    deliver(client, won)
    assert the_dispute(app).status == "won"
    assert money_state(app, stripe_payment.id) == (0, "active", amount, "arranged")
    assert books(app) == []


def test_a_lost_dispute_sends_the_case_back_to_collection(app, client, stripe_payment):
    amount = stripe_payment.amount
    succeeded(client)
    assert money_state(app, stripe_payment.id) == (0, "active", amount, "arranged")
    deliver(client, dispute_event("charge.dispute.created", "evt_d1", "needs_response", 10, amount))
    deliver(client, dispute_event("charge.dispute.closed", "evt_d2", "lost", 20, amount))
    assert the_dispute(app).status == "lost"
    # The plan's first installment is unpaid again: not arranged, back in collection.
    assert money_state(app, stripe_payment.id) == (amount, "pending", 0, "open")
    assert books(app) == []
    deliver(client, dispute_event("charge.dispute.updated", "evt_d9", "under_review", 15, amount))
    assert the_dispute(app).status == "lost"
    assert money_state(app, stripe_payment.id) == (amount, "pending", 0, "open")


def test_an_inquiry_holds_no_money_and_a_closed_one_never_takes_any(app, client, stripe_payment):
    """An inquiry (warning_*) withdraws nothing at Stripe: the payment keeps its money
    through it, and keeps it when the inquiry closes; a chargeback after it holds it."""
    amount = stripe_payment.amount
    succeeded(client)
    kept = (0, "active", amount, "arranged")
    opened = dispute_event("charge.dispute.created", "evt_i1", "warning_needs_response", 10, amount)
    deliver(client, opened)
    assert the_dispute(app).status == "warning_needs_response"
    assert money_state(app, stripe_payment.id) == kept
    deliver(
        client,
        dispute_event("charge.dispute.updated", "evt_i2", "warning_under_review", 20, amount),
    )
    assert money_state(app, stripe_payment.id) == kept
    deliver(client, dispute_event("charge.dispute.closed", "evt_i3", "warning_closed", 30, amount))
    assert the_dispute(app).status == "warning_closed"
    assert money_state(app, stripe_payment.id) == kept
    assert books(app) == []


def test_an_inquiry_without_details_holds_no_money_either(app, client, stripe_payment):
    from .test_stripe_webhooks import charge_event

    amount = stripe_payment.amount
    succeeded(client)
    for kind, status in (
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.closed", "warning_closed"),
    ):
        deliver(client, charge_event(kind, f"evt_{status}", amount=amount, status=status))
        assert money_state(app, stripe_payment.id)[0] == 0
    assert books(app) == []


def test_a_dispute_event_without_details_moves_the_ledger_as_before(app, client, stripe_payment):
    """Events shaped as before (no dispute object) still hold and return the money."""
    from .test_stripe_webhooks import charge_event

    amount = stripe_payment.amount
    succeeded(client)
    deliver(client, charge_event("charge.dispute.created", "evt_a", amount=amount, status="x"))
    assert money_state(app, stripe_payment.id)[0] == amount
    with app.app_context():
        assert db.session().scalars(select(Dispute)).all() == []


# The console, on the sandbox ---------------------------------------------------------------


@pytest.fixture
def sandbox_dispute(app) -> int:
    """A borrower who accepted a plan, was sent a message and paid the first installment
    through the sandbox; the payment disputed, its evidence due in a week. Returns the
    dispute's id."""
    borrower = app.test_client()
    built = build_case(app, name="陳怡君")
    notice_sent(app, built.case_id, NOW - timedelta(days=3))
    sign_in(borrower, built)
    accept_first(borrower, "arrears_plan")
    pay_due(borrower)
    with app.test_request_context("/"):
        session = db.session()
        payment = session.scalars(select(Payment).where(Payment.status == "succeeded")).one()
        return open_dispute(session, payment.id, NOW, reason="fraudulent").id


@pytest.fixture
def finance(app):
    """A client signed in as a finance staff member."""
    add_staff(app)
    signed = app.test_client()
    assert staff_sign_in(signed).status_code == 303
    return signed


def test_the_list_shows_reason_amount_fee_and_due_date_in_three_languages(
    app, finance, sandbox_dispute
):
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        amount = payment.amount
    reasons = {
        "zh_Hant_TW": "詐騙",
        "zh_Hans_CN": "欺诈",
        "en": "Fraudulent: not made by the cardholder",
    }
    for language in LANGUAGES:
        page = finance.get(f"/finance/disputes?lang={language}").get_data(as_text=True)
        assert f"/finance/disputes/{sandbox_dispute}" in page
        assert reasons[language] in page
        assert "陳怡君" in page
        assert f"{amount // 100:,}" in page
        assert "15" in page  # the sandbox's dispute fee, 15.00
    english = finance.get("/finance/disputes?lang=en").get_data(as_text=True)
    assert "1 dispute needs evidence." in english
    assert "Dec 7, 2026" in english  # due a week after the test's now
    with app.app_context():
        actions = db.session().scalars(select(AuditEntry.action)).all()
    assert "finance.disputes.view" in actions


def test_the_evidence_is_assembled_from_what_the_system_holds(app, finance, sandbox_dispute):
    with app.test_request_context("/"):
        session = db.session()
        found = finance_disputes.dispute_file(session, sandbox_dispute)
        evidence = finance_disputes.assemble(found)
        consent, plan = found.consent, found.plan
        assert consent is not None
        assert plan is not None
        hash_shown, address = consent.shown_hash, consent.ip_address
        terms = consent.terms_version
        first_due = plan.installments[0].due_date.isoformat()
    assert evidence["customer_name"] == "陳怡君"
    assert evidence["customer_purchase_ip"] == address
    assert hash_shown in evidence["access_activity_log"]
    assert f"terms version: {terms}" in evidence["access_activity_log"]
    assert f"due {first_due}" in evidence["uncategorized_text"]  # the plan's schedule
    assert "notice@example.com" in evidence["uncategorized_text"]  # the message sent
    assert "Payments received" in evidence["uncategorized_text"]
    assert "repayment plan" in evidence["product_description"]
    for language in LANGUAGES:
        page = finance.get(f"/finance/disputes/{sandbox_dispute}?lang={language}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert hash_shown in text
        assert 'name="product_description"' in text
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "finance.dispute.view"))
            .first()
        )
        assert entry is not None
        assert entry.details["dispute_id"] == sandbox_dispute


def test_another_id_is_a_translated_404(app, finance, sandbox_dispute):
    for language in LANGUAGES:
        answer = finance.get(f"/finance/disputes/{sandbox_dispute + 1}?lang={language}")
        assert answer.status_code == 404
    assert "没有" in finance.get("/finance/disputes/99?lang=zh_Hans_CN").get_data(as_text=True)
    assert finance.post("/finance/disputes/99/evidence", data={}).status_code == 404


def evidence_form(finance, dispute_id: int) -> dict[str, str]:
    """The evidence form's fields as the page fills them."""
    with finance.application.test_request_context("/"):
        found = finance_disputes.dispute_file(db.session(), dispute_id)
        return dict(found.evidence)


def test_evidence_is_submitted_once_through_the_gateway_and_audited(app, finance, sandbox_dispute):
    form = evidence_form(finance, sandbox_dispute)
    form["uncategorized_text"] += "\nChecked by finance."
    answer = finance.post(f"/finance/disputes/{sandbox_dispute}/evidence", data=form)
    assert answer.status_code == 303
    sent = the_dispute(app)
    assert sent.status == "under_review"
    assert sent.evidence["uncategorized_text"].endswith("Checked by finance.")
    assert sent.evidence_submitted_by == "mei@haohuan.example"
    assert sent.evidence_submitted_at == NOW
    again = finance.post(f"/finance/disputes/{sandbox_dispute}/evidence?lang=en", data=form)
    assert again.status_code == 409
    assert "submitted already" in again.get_data(as_text=True)
    shown = finance.get(f"/finance/disputes/{sandbox_dispute}?lang=en").get_data(as_text=True)
    assert "Evidence as submitted" in shown
    with app.app_context():
        entries = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "finance.dispute.submit"))
            .all()
        )
        assert len(entries) == 1
        assert entries[0].details["dispute_id"] == sandbox_dispute
        assert entries[0].case_id is not None


def test_a_form_without_the_required_evidence_is_refused_clearly(app, finance, sandbox_dispute):
    form = evidence_form(finance, sandbox_dispute)
    form["customer_name"] = ""
    answer = finance.post(f"/finance/disputes/{sandbox_dispute}/evidence?lang=en", data=form)
    assert answer.status_code == 422
    assert "Enter the cardholder's name." in answer.get_data(as_text=True)
    assert the_dispute(app).evidence is None


def test_evidence_after_its_due_date_is_refused(app, finance, sandbox_dispute):
    form = evidence_form(finance, sandbox_dispute)
    with app.app_context():
        session = db.session()
        session.get(Dispute, sandbox_dispute).evidence_due_by = NOW - timedelta(minutes=1)
        session.commit()
    answer = finance.post(f"/finance/disputes/{sandbox_dispute}/evidence?lang=en", data=form)
    assert answer.status_code == 409
    assert "no longer be submitted" in answer.get_data(as_text=True)
    late = the_dispute(app)
    assert late.evidence is None
    assert late.status == "needs_response"


def sandbox_decides(app, dispute_id: int, outcome: str):
    return CliRunner().invoke(
        cli,
        ["sandbox", "dispute", outcome, str(dispute_id)],
        obj=ScriptInfo(create_app=lambda: app),
    )


def test_the_sandbox_decides_won_and_lost_through_the_ledger(app, sandbox_dispute):
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        payment_id, amount = payment.id, payment.amount
    assert money_state(app, payment_id) == (amount, "pending", 0, "open")
    result = sandbox_decides(app, sandbox_dispute, "--won")
    assert result.exit_code == 0, result.output
    assert "won" in result.output
    assert money_state(app, payment_id) == (0, "active", amount, "arranged")
    assert books(app) == []
    assert sandbox_decides(app, sandbox_dispute, "--lost").exit_code == 1  # decided already
    assert sandbox_decides(app, sandbox_dispute + 5, "--lost").exit_code == 1


def test_a_lost_sandbox_dispute_leaves_the_case_in_collection(app, sandbox_dispute):
    assert sandbox_decides(app, sandbox_dispute, "--lost").exit_code == 0
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
    assert money_state(app, payment.id) == (payment.amount, "pending", 0, "open")
    assert the_dispute(app).status == "lost"
    assert books(app) == []


def test_the_demo_opens_its_dispute_on_the_disputed_payment_once(app):
    borrower = app.test_client()
    built = build_case(app)
    sign_in(borrower, built)
    accept_first(borrower, "arrears_plan")
    pay_due(borrower)
    with app.test_request_context("/"):
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        held = GatewayEvent(
            "sandbox", "evt_demo_dispute", payment.gateway_reference, Outcome.DISPUTED, 500
        )
        handle(session, held, NOW)
        opened = seed_open_dispute(session, NOW)
        assert opened is not None
        assert opened.evidence_due_by == DUE
        assert opened.answerable
        assert seed_open_dispute(session, NOW) is None  # a re-run adds nothing
    # The dispute takes the whole payment, as the sandbox's bank disputes it.
    assert books(app) == []


def test_evidence_needs_the_csrf_token(app, sandbox_dispute):
    add_staff(app)
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    page = browser.get("/staff/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed = browser.post(
        "/staff/sign-in",
        data={"email": "mei@haohuan.example", "password": PASSWORD, "csrf_token": token},
    )
    assert signed.status_code == 303
    answer = browser.post(
        f"/finance/disputes/{sandbox_dispute}/evidence", data={"customer_name": "x"}
    )
    assert answer.status_code in (400, 422)
    assert the_dispute(app).evidence is None


# Against localstripe --------------------------------------------------------------------


def paid_at_stripe(app, client, localstripe: str) -> tuple[int, str]:
    """A borrower's first plan installment paid at localstripe, its success reported by
    the webhook; returns the payment's id and its PaymentIntent."""
    opened = stripe_payment_for_a_new_plan(app, client)
    with app.test_request_context("/"):
        session = db.session()
        payment = session.get(Payment, opened.id)
        intent_id, _secret = create_intent(
            StripeSettings.from_config(),
            payment.id,
            idempotency_key(payment),
            payment.amount,
            payment.currency,
            {"case_id": str(payment.case_id), "plan_id": str(payment.plan_id)},
        )
        payment.gateway_reference, payment.status = intent_id, "pending"
        session.commit()
    client.post("/sign-out")
    assert pay_at_stripe(localstripe, intent_id) == "succeeded"
    wait_for(app, lambda s: s.get(Payment, opened.id).status == "succeeded")
    return opened.id, intent_id


def wait_for(app, condition, seconds: float = 30) -> None:
    """Until ``condition(session)`` holds: localstripe sends its events a second later,
    and again if a busy machine drops one."""
    for _ in range(int(seconds * 10)):
        with app.app_context():
            if condition(db.session()):
                return
        time.sleep(0.1)
    raise AssertionError("localstripe's event never arrived")


def dispute_status(reference: str):
    return lambda s: s.scalars(select(Dispute.status).where(Dispute.reference == reference)).first()


@needs_localstripe
def test_a_dispute_at_stripe_is_answered_and_won(app, client, served, localstripe):
    payment_id, intent_id = paid_at_stripe(app, client, localstripe)
    opened = open_at_stripe(localstripe, intent_id, reason="fraudulent")
    wait_for(app, dispute_status(opened["id"]))
    found = the_dispute(app)
    assert (found.reason, found.amount, found.fee, found.status) == (
        "fraudulent",
        opened["amount"],
        DISPUTE_FEE,
        "needs_response",
    )
    assert int(found.evidence_due_by.timestamp()) == opened["evidence_details"]["due_by"]
    amount = opened["amount"]
    assert money_state(app, payment_id) == (amount, "pending", 0, "open")
    add_staff(app)
    finance = app.test_client()
    staff_sign_in(finance)
    listed = finance.get("/finance/disputes?lang=en").get_data(as_text=True)
    assert "Fraudulent: not made by the cardholder" in listed
    assert f"/finance/disputes/{found.id}" in listed
    form = evidence_form(finance, found.id)
    answer = finance.post(f"/finance/disputes/{found.id}/evidence", data=form)
    assert answer.status_code == 303
    sdk = stripe.StripeClient("sk_test_haohuan", base_addresses={"api": localstripe})
    at_stripe = sdk.v1.disputes.retrieve(opened["id"])
    assert at_stripe.status == "under_review"
    assert at_stripe.evidence["customer_name"] == form["customer_name"]
    assert at_stripe.evidence["access_activity_log"] == form["access_activity_log"]
    decide_dispute(localstripe, opened["id"], "won")
    wait_for(app, lambda s: dispute_status(opened["id"])(s) == "won")
    assert money_state(app, payment_id) == (0, "active", amount, "arranged")
    assert books(app) == []


@needs_localstripe
def test_a_dispute_at_stripe_lost_sends_the_case_back(app, client, served, localstripe):
    payment_id, intent_id = paid_at_stripe(app, client, localstripe)
    opened = open_at_stripe(localstripe, intent_id, reason="product_not_received")
    wait_for(app, dispute_status(opened["id"]))
    decide_dispute(localstripe, opened["id"], "lost")
    wait_for(app, lambda s: dispute_status(opened["id"])(s) == "lost")
    assert money_state(app, payment_id) == (opened["amount"], "pending", 0, "open")
    assert books(app) == []
    lost = the_dispute(app)
    assert lost.fee == DISPUTE_FEE
    assert lost.closed_at is not None


@needs_localstripe
def test_late_evidence_is_refused_and_never_reaches_stripe(app, client, served, localstripe):
    _payment_id, intent_id = paid_at_stripe(app, client, localstripe)
    opened = open_at_stripe(localstripe, intent_id)
    wait_for(app, dispute_status(opened["id"]))
    found = the_dispute(app)
    # A second after the due date (localstripe dates it by the real clock).
    app.config["HAOHUAN_NOW"] = (found.evidence_due_by + timedelta(seconds=1)).isoformat()
    add_staff(app)
    finance = app.test_client()
    assert staff_sign_in(finance).status_code == 303
    form = evidence_form(finance, found.id)
    answer = finance.post(f"/finance/disputes/{found.id}/evidence", data=form)
    assert answer.status_code == 409
    sdk = stripe.StripeClient("sk_test_haohuan", base_addresses={"api": localstripe})
    at_stripe = sdk.v1.disputes.retrieve(opened["id"])
    assert at_stripe.status == "needs_response"
    assert at_stripe.evidence["customer_name"] is None
