"""Refunds from the finance console (portal.finance.refunds): in full or in part, reversed
through the waterfall as a gateway's refund is, once however often the form is sent, two
people above the limit, the borrower told in their language through the contact rules,
every step audited, and calm about bad input. Through the sandbox on both databases, and
through the real Stripe SDK against localstripe (HAOHUAN_TEST_LOCALSTRIPE; CI sets it)."""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.request
from collections.abc import Iterator

import pytest
import stripe
from flask import Flask
from sqlalchemy import func, select

from portal.core import db
from portal.demo.finance import demo_finance_account, seed_payment_history
from portal.finance import refunds
from portal.messaging import service
from portal.models import (
    Allocation,
    AuditEntry,
    Case,
    CaseStatus,
    Message,
    OptOut,
    Payment,
    Plan,
    PlanStatus,
    Refund,
    RefundReason,
    RefundStatus,
    StaffMember,
    WebhookInbox,
)
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle

from .factories import NOW, add_staff, build_case, staff_sign_in
from .localstripe_server import free_port, running
from .test_stripe_webhooks import SECRET, deliver, stripe_payment_for_a_new_plan

needs_localstripe = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)
LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")
KEY = "sk_test_haohuan"
# One finance member may refund up to NT$3,000 alone.
LIMIT = 300_000


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"FINANCE_APPROVAL_ABOVE": "TWD=3000", "STRIPE_WEBHOOK_SECRET": SECRET}


def paid(app: Flask, gateway: str = "sandbox", reference: str = "sbx_ref_1") -> int:
    """A borrower's plan whose first installment is paid through ``gateway``: the plan
    active, the case arranged. Returns the payment's id."""
    client = app.test_client()
    payment = stripe_payment_for_a_new_plan(app, client, reference)
    with app.app_context():
        session = db.session()
        found = session.get_one(Payment, payment.id)
        found.gateway = gateway
        session.commit()
        event = GatewayEvent(
            gateway, f"ok_{reference}", reference, Outcome.SUCCEEDED, found.amount, found.currency
        )
        assert handle(session, event, NOW)
        assert session.get_one(Plan, found.plan_id).status == PlanStatus.ACTIVE
        return found.id


@pytest.fixture
def finance(app):
    """A client signed in as the finance member who asks for refunds."""
    add_staff(app, "mei@haohuan.example", ("finance",))
    client = app.test_client()
    assert staff_sign_in(client, "mei@haohuan.example").status_code == 303
    return client


def second_member(app, email: str = "hao@haohuan.example", roles=("finance",)):
    add_staff(app, email, roles)
    client = app.test_client()
    assert staff_sign_in(client, email).status_code == 303
    return client


def form_of(client, payment_id: int) -> dict[str, str]:
    """The refund form as the payment page shows it: its key and prefilled amount."""
    page = client.get(f"/finance/payments/{payment_id}").get_data(as_text=True)
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="key"', page
    )
    amount = re.search(r'name="amount"[^>]*value="([^"]*)"', page) or re.search(
        r'value="([^"]*)"[^>]*name="amount"', page
    )
    assert key is not None, "no refund form on the page"
    assert amount is not None
    return {"key": key.group(1), "amount": amount.group(1), "reason": "borrower_request"}


def books(app, payment_id: int) -> dict[str, object]:
    """The payment, its allocations' sum, its plan and case, and the ledger's check."""
    with app.app_context():
        session = db.session()
        payment = session.get_one(Payment, payment_id)
        allocated = session.scalar(
            select(func.coalesce(func.sum(Allocation.amount), 0)).where(
                Allocation.payment_id == payment_id
            )
        )
        plan = session.get_one(Plan, payment.plan_id)
        case = session.get_one(Case, payment.case_id)
        return {
            "amount": payment.amount,
            "refunded": payment.refunded,
            "allocated": allocated,
            "allocations": session.scalar(
                select(func.count()).where(Allocation.payment_id == payment_id)
            ),
            "plan": plan.status,
            "first_paid": plan.installments[0].paid,
            "case": case.status,
            "problems": ledger.check(session),
        }


def books_of(app, payment_id: int) -> dict[str, object]:
    """A payment with no plan: what is refunded, its allocations' sum, the ledger's check."""
    with app.app_context():
        session = db.session()
        payment = session.get_one(Payment, payment_id)
        allocated = session.scalar(
            select(func.coalesce(func.sum(Allocation.amount), 0)).where(
                Allocation.payment_id == payment_id
            )
        )
        return {
            "refunded": payment.refunded,
            "allocated": allocated,
            "problems": ledger.check(session),
        }


def refund_rows(app) -> list[tuple[RefundStatus, int, str | None]]:
    with app.app_context():
        rows = db.session().scalars(select(Refund).order_by(Refund.id))
        return [(r.status, r.amount, r.failure_code) for r in rows]


def actions(app) -> list[str]:
    with app.app_context():
        found = db.session().scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("finance.refund.%"))
            .order_by(AuditEntry.id)
        )
        return list(found)


# Through the sandbox ----------------------------------------------------------------------


def test_a_part_refund_is_made_at_once_and_taken_back_through_the_waterfall(app, finance):
    payment_id = paid(app)
    before = books(app, payment_id)
    assert before["problems"] == []
    form = form_of(finance, payment_id)
    # What can be refunded is filled in: the whole payment, in major units.
    assert int(form["amount"]) * 100 == before["amount"]
    # (Asked in English: the sentence that follows is written when the refund is made.)
    response = finance.post(
        f"/finance/payments/{payment_id}/refunds?lang=en", data={**form, "amount": "100"}
    )
    assert response.status_code == 303
    after = books(app, payment_id)
    assert after["refunded"] == 10_000
    assert after["allocated"] == before["amount"] - 10_000
    assert after["problems"] == []
    # The plan's first installment is no longer paid in full: the plan waits for it again,
    # and the case is no longer arranged (the plan's rules, as for a gateway's refund).
    assert after["first_paid"] == before["first_paid"] - 10_000
    assert after["plan"] == PlanStatus.PENDING
    assert after["case"] == CaseStatus.OPEN
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, 10_000, None)]
    assert actions(app) == ["finance.refund.request", "finance.refund.succeed"]
    page = finance.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Refunded NT$100" in page


def test_a_full_refund_takes_back_every_allocation(app, finance):
    payment_id = paid(app)
    before = books(app, payment_id)
    form = form_of(finance, payment_id)
    # A second person is not needed for this amount, or the refund would wait.
    assert before["amount"] <= LIMIT
    response = finance.post(f"/finance/payments/{payment_id}/refunds", data=form)
    assert response.status_code == 303
    after = books(app, payment_id)
    assert (after["refunded"], after["allocated"]) == (before["amount"], 0)
    assert after["first_paid"] == 0
    assert after["problems"] == []
    # Nothing is left to refund: the page offers no form.
    page = finance.get(f"/finance/payments/{payment_id}").get_data(as_text=True)
    assert 'name="key"' not in page


def test_the_same_form_sent_twice_refunds_once(app, finance):
    payment_id = paid(app)
    form = {**form_of(finance, payment_id), "amount": "50"}
    for _ in range(2):
        assert finance.post(f"/finance/payments/{payment_id}/refunds", data=form).status_code == 303
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, 5_000, None)]
    assert books(app, payment_id)["refunded"] == 5_000


def test_a_webhook_for_the_same_refund_changes_nothing(app, finance):
    payment_id = paid(app)
    form = {**form_of(finance, payment_id), "amount": "100"}
    finance.post(f"/finance/payments/{payment_id}/refunds", data=form)
    before = books(app, payment_id)
    with app.app_context():
        # The gateway's own event for it, with its running total: one refund, not two.
        event = GatewayEvent("sandbox", "evt_refund", "sbx_ref_1", Outcome.REFUNDED, 10_000)
        handle(db.session(), event, NOW)
    assert books(app, payment_id) == before


def test_above_the_limit_a_second_finance_member_approves(app, finance):
    payment_id = paid(app)
    form = form_of(finance, payment_id)
    amount = books(app, payment_id)["amount"]
    # One person may refund NT$10 alone: the whole payment needs two.
    app.config["FINANCE_APPROVAL_ABOVE"] = "TWD=10"
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=form).status_code == 303
    assert refund_rows(app) == [(RefundStatus.AWAITING_APPROVAL, amount, None)]
    assert books(app, payment_id)["refunded"] == 0
    with app.app_context():
        refund_id = db.session().scalars(select(Refund.id)).one()
    # Whoever asked is not offered the approval, and cannot approve their own refund.
    mine = finance.get("/finance/refunds").get_data(as_text=True)
    assert f"/finance/refunds/{refund_id}/approve" not in mine
    assert f"/finance/refunds/{refund_id}/cancel" in mine
    assert finance.post(f"/finance/refunds/{refund_id}/approve").status_code == 403
    # An agent cannot either (the console is finance's).
    agent = second_member(app, "ling@haohuan.example", ("agent",))
    assert agent.post(f"/finance/refunds/{refund_id}/approve").status_code == 403
    assert refund_rows(app) == [(RefundStatus.AWAITING_APPROVAL, amount, None)]
    # The list shows it to another finance member, who approves it.
    other = second_member(app)
    listed = other.get("/finance/refunds?lang=en").get_data(as_text=True)
    assert f"/finance/refunds/{refund_id}/approve" in listed
    assert other.post(f"/finance/refunds/{refund_id}/approve").status_code == 303
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, amount, None)]
    assert books(app, payment_id)["refunded"] == amount
    assert actions(app) == [
        "finance.refund.request",
        "finance.refund.approve",
        "finance.refund.succeed",
    ]
    # Approved once: again is refused, and nothing more is refunded.
    assert other.post(f"/finance/refunds/{refund_id}/approve").status_code == 409
    with app.app_context():
        session = db.session()
        refund = session.get_one(Refund, refund_id)
        approver = session.scalars(
            select(StaffMember).where(StaffMember.email == "hao@haohuan.example")
        ).one()
        assert refund.decided_by == approver.id


def test_a_waiting_refund_can_be_cancelled_and_holds_its_amount_meanwhile(app, finance):
    payment_id = paid(app)
    amount = books(app, payment_id)["amount"]
    app.config["FINANCE_APPROVAL_ABOVE"] = "TWD=10"
    form = form_of(finance, payment_id)
    finance.post(f"/finance/payments/{payment_id}/refunds", data=form)
    # The waiting refund holds the whole payment: another refund cannot take any of it.
    again = {**form, "key": "a-second-form-key-0001", "amount": "1"}
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=again).status_code == 422
    with app.app_context():
        refund_id = db.session().scalars(select(Refund.id)).one()
    assert finance.post(f"/finance/refunds/{refund_id}/cancel").status_code == 303
    assert refund_rows(app) == [(RefundStatus.CANCELLED, amount, None)]
    assert books(app, payment_id)["refunded"] == 0
    assert actions(app) == ["finance.refund.request", "finance.refund.cancel"]


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("0", "more than zero"),
        ("-5", "cannot be negative"),
        ("abc", "in numbers"),
        ("1.505", "at most two digits"),
        ("99999999", "more than can be refunded"),
        ("", "Enter the amount to refund"),
    ],
)
def test_bad_amounts_are_refused_in_words(app, finance, amount, says):
    payment_id = paid(app)
    form = {**form_of(finance, payment_id), "amount": amount}
    response = finance.post(f"/finance/payments/{payment_id}/refunds?lang=en", data=form)
    assert response.status_code == 422
    assert says in response.get_data(as_text=True)
    assert refund_rows(app) == []


def test_other_payments_and_unpaid_ones_are_refused(app, finance):
    payment_id = paid(app)
    form = form_of(finance, payment_id)
    # No such payment.
    assert finance.post("/finance/payments/999999/refunds", data=form).status_code == 404
    # The reason must be one of the list, and "other" needs a note.
    bad = {**form, "reason": "because"}
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=bad).status_code == 422
    other = {**form, "reason": "other", "note": " "}
    response = finance.post(f"/finance/payments/{payment_id}/refunds?lang=en", data=other)
    assert response.status_code == 422
    assert "Say why in the note" in response.get_data(as_text=True)
    # A form without its key (or a forged one) is refused.
    keyless = {**form, "key": "<script>"}
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=keyless).status_code == 422
    # A payment that has not succeeded cannot be refunded.
    with app.app_context():
        session = db.session()
        case_id = session.get_one(Payment, payment_id).case_id
        unpaid = Payment(
            case_id=case_id,
            purpose="partial",
            amount=10_000,
            currency="TWD",
            status="pending",
            gateway="sandbox",
            gateway_reference="sbx_open",
        )
        session.add(unpaid)
        session.commit()
        unpaid_id = unpaid.id
    response = finance.post(
        f"/finance/payments/{unpaid_id}/refunds?lang=en", data={**form, "amount": "1"}
    )
    assert response.status_code == 409
    assert "Only a payment that succeeded" in response.get_data(as_text=True)
    # The first payment's form (its key) sent for the other payment, once used: nothing.
    finance.post(f"/finance/payments/{payment_id}/refunds", data={**form, "amount": "1"})
    replayed = finance.post(f"/finance/payments/{unpaid_id}/refunds", data={**form, "amount": "1"})
    assert replayed.status_code == 404
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, 100, None)]
    # No such refund to approve.
    assert finance.post("/finance/refunds/999999/approve").status_code == 404


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pages_in_three_languages(app, finance, lang):
    payment_id = paid(app)
    page = finance.get(f"/finance/payments/{payment_id}?lang={lang}").get_data(as_text=True)
    words = {
        "zh_Hant_TW": ("退款", "原因"),
        "zh_Hans_CN": ("退款", "原因"),
        "en": ("Refund", "Reason"),
    }[lang]
    for word in words:
        assert word in page
    listed = finance.get(f"/finance/refunds?lang={lang}")
    assert listed.status_code == 200
    title = {"zh_Hant_TW": "待核准的退款", "zh_Hans_CN": "待批准的退款", "en": "Refunds to approve"}
    assert title[lang] in listed.get_data(as_text=True)


@pytest.mark.parametrize(
    ("locale", "says"),
    [("zh_Hant_TW", "退款"), ("zh_Hans_CN", "退款"), ("en", "We have refunded NT$100")],
)
def test_the_borrower_is_told_in_their_language_through_the_contact_rules(
    app, finance, locale, says
):
    payment_id = paid(app)
    with app.app_context():
        session = db.session()
        case_id = session.get_one(Payment, payment_id).case_id
        borrower = session.get_one(Case, case_id).loan.borrower
        borrower.email, borrower.locale = "chen@example.com", locale
        session.commit()
    form = {**form_of(finance, payment_id), "amount": "100"}
    finance.post(f"/finance/payments/{payment_id}/refunds", data=form)
    with app.test_request_context("/"):
        session = db.session()
        message = session.scalars(select(Message)).one()
        assert (message.purpose, message.channel) == ("refund", "email")
        service.dispatch_due(session, NOW)
        session.expire_all()
        message = session.get_one(Message, message.id)
        assert message.status == "sent"
        assert message.locale == locale
        assert says in (message.body or "")


def test_no_message_when_the_borrower_stopped_every_channel(app, finance):
    payment_id = paid(app)
    with app.app_context():
        session = db.session()
        payment = session.get_one(Payment, payment_id)
        borrower_id = session.get_one(Case, payment.case_id).loan.borrower_id
        for channel in ("sms", "email"):
            session.add(OptOut(borrower_id=borrower_id, channel=channel, at=NOW, source="test"))
        session.commit()
    response = finance.post(
        f"/finance/payments/{payment_id}/refunds",
        data={**form_of(finance, payment_id), "amount": "100"},
    )
    assert response.status_code == 303
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, 10_000, None)]
    with app.app_context():
        assert db.session().scalars(select(Message)).all() == []


def test_the_service_refuses_with_codes(app):
    payment_id = paid(app)
    add_staff(app, "mei@haohuan.example", ("finance",))
    with app.app_context():
        session = db.session()
        staff = session.scalars(select(StaffMember)).one()
        with pytest.raises(refunds.RefundError) as raised:
            refunds.request_refund(
                session, payment_id, 0, RefundReason.DUPLICATE, "", staff, "k" * 20, NOW
            )
        assert raised.value.problem is refunds.RefundProblem.NOT_POSITIVE
        with pytest.raises(refunds.RefundError) as raised:
            refunds.request_refund(
                session, payment_id, 10**9, RefundReason.DUPLICATE, "", staff, "k" * 20, NOW
            )
        assert raised.value.problem is refunds.RefundProblem.TOO_MUCH
        assert session.scalars(select(Refund)).all() == []


# Against localstripe ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def stripe_url(app: Flask, localstripe: str) -> str:
    """localstripe emptied, and the app pointed at it."""
    request = urllib.request.Request(f"{localstripe}/_config/data", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status == 200
    app.config.update(STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=localstripe)
    return localstripe


def stripe_paid(app: Flask, url: str) -> tuple[int, str]:
    """A plan's first installment paid by card at localstripe; the payment and intent."""
    client = app.test_client()
    probe = stripe_payment_for_a_new_plan(app, client, None)
    with app.app_context():
        session = db.session()
        payment = session.get_one(Payment, probe.id)
        sdk = stripe.StripeClient(KEY, base_addresses={"api": url})
        params = {"amount": payment.amount, "currency": "twd", "payment_method": "pm_card_visa"}
        intent = str(sdk.v1.payment_intents.create(params={**params, "confirm": True}).id)
        payment.gateway_reference = intent
        session.commit()
        event = GatewayEvent(
            "stripe", f"ok_{intent}", intent, Outcome.SUCCEEDED, payment.amount, "TWD"
        )
        assert handle(session, event, NOW)
        return payment.id, intent


def stripe_refunds(url: str, intent: str) -> list[int]:
    sdk = stripe.StripeClient(KEY, base_addresses={"api": url})
    return [int(r.amount) for r in sdk.v1.refunds.list(params={"payment_intent": intent}).data]


def charge_refunded(intent: str, total: int, event_id: str = "evt_charge_refunded") -> bytes:
    """Stripe's ``charge.refunded`` event for the intent's charge, with the running total."""
    found = {"id": "ch_x", "object": "charge", "payment_intent": intent, "amount_refunded": total}
    body = {
        "id": event_id,
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {"object": found},
    }
    return json.dumps(body).encode()


@needs_localstripe
def test_part_then_full_refund_through_stripe_and_the_webhook_after_changes_nothing(
    app, finance, stripe_url
):
    payment_id, intent = stripe_paid(app, stripe_url)
    before = books(app, payment_id)
    part = {**form_of(finance, payment_id), "amount": "100"}
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=part).status_code == 303
    assert stripe_refunds(stripe_url, intent) == [10_000]
    middle = books(app, payment_id)
    assert (middle["refunded"], middle["allocated"]) == (10_000, before["amount"] - 10_000)
    assert middle["problems"] == []
    # Stripe's event for that refund, afterwards: the same running total, nothing changes.
    assert deliver(app.test_client(), charge_refunded(intent, 10_000)).status_code == 200
    assert books(app, payment_id) == middle
    with app.app_context():
        # It was handled (not dropped): settled, and nothing left to do.
        inbox = db.session().scalars(select(WebhookInbox)).one()
        assert (inbox.event_id, inbox.settled_at is not None) == ("evt_charge_refunded", True)
    # The rest, in full: what the form fills in.
    rest = form_of(finance, payment_id)
    assert int(rest["amount"]) * 100 == before["amount"] - 10_000
    assert finance.post(f"/finance/payments/{payment_id}/refunds", data=rest).status_code == 303
    assert sorted(stripe_refunds(stripe_url, intent)) == sorted([10_000, before["amount"] - 10_000])
    after = books(app, payment_id)
    assert (after["refunded"], after["allocated"]) == (before["amount"], 0)
    assert after["first_paid"] == 0
    assert after["plan"] == PlanStatus.PENDING
    assert after["problems"] == []
    payload = charge_refunded(intent, before["amount"], "evt_charge_refunded_2")
    assert deliver(app.test_client(), payload).status_code == 200
    assert books(app, payment_id) == after
    assert [status for status, _, _ in refund_rows(app)] == [RefundStatus.SUCCEEDED] * 2


@needs_localstripe
def test_a_double_submit_refunds_once_at_stripe(app, finance, stripe_url):
    payment_id, intent = stripe_paid(app, stripe_url)
    form = {**form_of(finance, payment_id), "amount": "100"}
    for _ in range(2):
        assert finance.post(f"/finance/payments/{payment_id}/refunds", data=form).status_code == 303
    assert stripe_refunds(stripe_url, intent) == [10_000]
    assert books(app, payment_id)["refunded"] == 10_000


@needs_localstripe
def test_a_refund_stripe_refuses_is_failed_with_a_clear_message(app, finance, stripe_url):
    payment_id, _intent = stripe_paid(app, stripe_url)
    before = books(app, payment_id)
    with app.app_context():
        # An intent Stripe does not know (as after a test account was emptied).
        session = db.session()
        session.get_one(Payment, payment_id).gateway_reference = "pi_unknown_at_stripe"
        session.commit()
    form = {**form_of(finance, payment_id), "amount": "100"}
    response = finance.post(f"/finance/payments/{payment_id}/refunds?lang=en", data=form)
    assert response.status_code == 303
    [(status, amount, code)] = refund_rows(app)
    assert (status, amount) == (RefundStatus.FAILED, 10_000)
    assert code == "resource_missing"
    page = finance.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "was not made" in page
    assert "does not know this payment" in page
    after = books(app, payment_id)
    assert (after["refunded"], after["allocated"]) == (0, before["allocated"])
    assert actions(app) == ["finance.refund.request", "finance.refund.fail"]
    # Failed, it holds nothing: the whole payment can be refunded again.
    assert int(form_of(finance, payment_id)["amount"]) * 100 == before["amount"]


def test_the_demo_finance_account_refunds_a_demo_payment_in_part(app):
    # What `make demo` seeds: a month of sandbox part payments, and the finance account.
    built = [build_case(app), build_case(app, name="林志明")]
    with app.app_context():
        session = db.session()
        cases = [session.get_one(Case, b.case_id) for b in built]
        seed_payment_history(session, cases, NOW, random.Random(7), days=5)
        email, password = demo_finance_account(session, NOW)
        session.commit()
        payment = session.scalars(
            select(Payment).where(Payment.refunded == 0, Payment.disputed == 0).limit(1)
        ).one()
        payment_id, amount = payment.id, payment.amount
    client = app.test_client()
    assert staff_sign_in(client, email, password).status_code == 303
    form = {**form_of(client, payment_id), "amount": "500"}
    assert client.post(f"/finance/payments/{payment_id}/refunds", data=form).status_code == 303
    after = books_of(app, payment_id)
    assert (after["refunded"], after["allocated"]) == (50_000, amount - 50_000)
    assert after["problems"] == []


@needs_localstripe
def test_an_unreachable_stripe_leaves_the_refund_to_send_again_once(
    app, finance, stripe_url, stripe_without_retries
):
    payment_id, intent = stripe_paid(app, stripe_url)
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"  # nobody listens
    form = {**form_of(finance, payment_id), "amount": "100"}
    response = finance.post(f"/finance/payments/{payment_id}/refunds?lang=en", data=form)
    assert response.status_code == 303
    assert refund_rows(app) == [(RefundStatus.SENDING, 10_000, None)]
    assert books(app, payment_id)["refunded"] == 0
    page = finance.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be reached" in page
    # Its amount stays spoken for until it is sent or fails.
    assert (
        int(form_of(finance, payment_id)["amount"]) * 100
        == books(app, payment_id)["amount"] - 10_000
    )
    # Stripe back: sent again with the same key, made once; sent again after that, refused.
    app.config["STRIPE_API_BASE"] = stripe_url
    with app.app_context():
        refund_id = db.session().scalars(select(Refund.id)).one()
    assert finance.post(f"/finance/refunds/{refund_id}/send").status_code == 303
    assert finance.post(f"/finance/refunds/{refund_id}/send").status_code == 409
    assert stripe_refunds(stripe_url, intent) == [10_000]
    assert refund_rows(app) == [(RefundStatus.SUCCEEDED, 10_000, None)]
    assert books(app, payment_id)["refunded"] == 10_000
    assert actions(app) == [
        "finance.refund.request",
        "finance.refund.unreachable",
        "finance.refund.succeed",
    ]
