"""Stripe webhooks: verified over the raw body, applied once, never moved backwards."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from portal.cli import cli
from portal.core import db
from portal.demo.seed import open_stripe_payment
from portal.models import Case, CaseEvent, Payment, Plan, ProcessedEvent, WebhookInbox
from portal.payments.stripe_checkout import settle
from portal.payments.stripe_gateway import Intent
from portal.web.security import BODY_LIMIT, WEBHOOK_BODY_LIMIT

from .factories import NOW, build_case, sign_in
from .test_journey import first_review_link, review_form
from .test_money_paths import books

SECRET = "whsec_test_secret"


def signed(payload: bytes, secret: str = SECRET, at: float | None = None) -> str:
    timestamp = int(at if at is not None else time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


# What Stripe took for each PaymentIntent the tests made, as its events report it (the
# amount and lower-case currency of the payment, unless a test says otherwise).
TAKEN: dict[str, tuple[int, str]] = {}


def event(
    kind: str,
    intent: str = "pi_test_1",
    event_id: str = "evt_1",
    taken: tuple[int, str] | None = None,
) -> bytes:
    amount, currency = taken or TAKEN.get(intent, (0, "twd"))
    found = {
        "id": intent,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
    }
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": found},
    }
    return json.dumps(body).encode()


def deliver(client, payload: bytes, signature: str | None = None):
    """Post a delivery as Stripe does, and close the answer as a server does once it is
    sent: the event's settlement, queued after the acknowledgement, then runs (in the
    process, without Redis)."""
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={
            "Stripe-Signature": signature or signed(payload),
            "Content-Type": "application/json",
        },
    )
    response.close()
    return response


def stripe_payment_for_a_new_plan(app, client, reference: str | None = None) -> Payment:
    """A borrower who accepted a plan, and an open Stripe payment for its first part
    (with ``reference`` as its PaymentIntent id, when known). Returns the payment."""
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan)).one()
        payment = open_stripe_payment(session, plan, reference, NOW)
        session.commit()
        if reference:
            TAKEN[reference] = (payment.amount, payment.currency.lower())
        return payment


@pytest.fixture
def stripe_payment(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    payment = stripe_payment_for_a_new_plan(app, client, "pi_test_1")
    client.post("/sign-out")
    return payment


def state(app):
    with app.app_context():
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        plan = session.scalars(select(Plan)).one()
        processed = session.scalar(select(func.count()).select_from(ProcessedEvent))
        case = session.get(Case, payment.case_id)
        return payment.status, plan.status, plan.installments[0].paid, processed, case.status


def test_a_signed_success_arranges_the_case_once(app, client, stripe_payment):
    payload = event("payment_intent.succeeded")
    assert deliver(client, payload).status_code == 200
    status, plan, paid, processed, case = state(app)
    assert (status, plan, processed, case) == ("succeeded", "active", 1, "arranged")
    again = deliver(client, payload)  # Stripe redelivers
    assert again.status_code == 200
    assert again.json["duplicate"] is True
    assert state(app) == (status, plan, paid, processed, case)


@pytest.mark.parametrize(
    ("taken", "why"),
    [
        ((100, "usd"), "another currency and amount"),
        ((1, None), "one minor unit in the right currency"),
        ((None, "usd"), "the right amount in another currency"),
        (("100", None), "an amount that is not a number"),
        ((None, ""), "no currency"),
    ],
)
def test_a_success_for_another_amount_or_currency_is_held_never_paid(
    app, client, stripe_payment, taken, why
):
    amount, currency = taken
    reported = (
        stripe_payment.amount if amount is None else amount,
        stripe_payment.currency.lower() if currency is None else currency,
    )
    assert deliver(client, event("payment_intent.succeeded", taken=reported)).status_code == 200
    status, plan, paid, processed, case = state(app)
    assert (status, plan, paid, processed, case) == ("mismatched", "pending", 0, 1, "open"), why
    with app.app_context():
        kinds = db.session().scalars(select(CaseEvent.kind)).all()
    assert "payment_mismatched" in kinds
    assert "payment_succeeded" not in kinds
    # Nor does a later success of the right amount (or the sweeper) turn it into money:
    # finance decides it.
    right = event("payment_intent.succeeded", event_id="evt_2")
    assert deliver(client, right).status_code == 200
    assert state(app)[:3] == ("mismatched", "pending", 0)


def test_the_return_page_holds_a_mismatched_success_too(app, client, stripe_payment):
    with app.test_request_context("/"):
        session = db.session()
        payment = session.get(Payment, stripe_payment.id)
        intent = Intent("pi_test_1", "succeeded", "secret", 1, "USD")
        assert settle(session, payment, intent, NOW, "return") is True
    assert state(app)[:3] == ("mismatched", "pending", 0)


@pytest.mark.parametrize(
    "how",
    ["tampered body", "wrong secret", "301 seconds old", "no signature", "garbage signature"],
)
def test_an_unverified_delivery_is_a_400_and_writes_nothing(app, client, stripe_payment, how):
    payload = event("payment_intent.succeeded")
    header = {
        "tampered body": signed(payload),
        "wrong secret": signed(payload, secret="whsec_other"),
        "301 seconds old": signed(payload, at=time.time() - 301),
        "no signature": "",
        "garbage signature": "t=1,v1=deadbeef",
    }[how]
    body = payload.replace(b"pi_test_1", b"pi_test_2") if how == "tampered body" else payload
    response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    response.close()  # as a server would: any queued settlement would run now
    assert response.status_code == 400
    assert state(app)[0] == "pending"
    assert state(app)[3] == 0
    assert inbox(app) == []


def test_a_delivery_299_seconds_old_is_accepted(app, client, stripe_payment):
    payload = event("payment_intent.succeeded")
    assert deliver(client, payload, signed(payload, at=time.time() - 299)).status_code == 200
    assert state(app)[0] == "succeeded"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("id", "evt_" + "9" * 125),
        ("intent", "pi_" + "9" * 126),
        ("amount", 2**63),
        ("amount", -(2**64)),
        ("refund", 2**70),
    ],
)
def test_a_signed_event_no_payment_could_have_is_acknowledged_and_stored_nowhere(
    app, client, stripe_payment, field, value
):
    # (An id that is not text is refused as no event at all: a 400, in verified_event.)
    if field == "refund":
        payload = charge_event("charge.refunded", "evt_big", amount_refunded=value)
    else:
        body = json.loads(event("payment_intent.succeeded"))
        if field == "id":
            body["id"] = value
        elif field == "intent":
            body["data"]["object"]["id"] = value
        else:
            body["data"]["object"]["amount"] = body["data"]["object"]["amount_received"] = value
        payload = json.dumps(body).encode()
    response = deliver(client, payload)
    assert response.status_code == 200
    assert response.json == {"received": True}
    assert state(app)[0] == "pending"
    assert inbox(app) == []


def test_a_signed_success_in_a_currency_too_long_to_be_one_is_held_as_mismatched(
    app, client, stripe_payment
):
    taken = (stripe_payment.amount, "t" * 40)
    assert deliver(client, event("payment_intent.succeeded", taken=taken)).status_code == 200
    assert state(app)[:3] == ("mismatched", "pending", 0)


def test_unknown_event_types_are_acknowledged(app, client, stripe_payment):
    response = deliver(client, event("customer.created", event_id="evt_other"))
    assert response.status_code == 200
    assert state(app)[0] == "pending"


def test_a_declined_card_leaves_the_payment_open_for_another(app, client, stripe_payment):
    # Stripe keeps the intent payable after a failed attempt: so do we, and the success
    # that follows (another card) ends in Stripe's true state.
    deliver(client, event("payment_intent.payment_failed", event_id="evt_fail"))
    assert state(app)[0] == "pending"
    with app.app_context():
        kinds = db.session().scalars(select(CaseEvent.kind)).all()
        assert "payment_declined" in kinds
    deliver(client, event("payment_intent.succeeded", event_id="evt_ok"))
    assert state(app)[:2] == ("succeeded", "active")


def test_a_cancelled_intent_closes_the_payment(app, client, stripe_payment):
    deliver(client, event("payment_intent.canceled", event_id="evt_cancel"))
    assert state(app)[0] == "failed"


def test_a_late_failure_never_undoes_a_success(app, client, stripe_payment):
    deliver(client, event("payment_intent.succeeded", event_id="evt_ok"))
    deliver(client, event("payment_intent.payment_failed", event_id="evt_late_fail"))
    assert state(app)[:2] == ("succeeded", "active")


def test_twenty_concurrent_deliveries_record_one_payment(app, stripe_payment):
    payload = event("payment_intent.succeeded")
    header = signed(payload)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def post() -> None:
        own = app.test_client()
        barrier.wait(timeout=10)
        statuses.append(deliver(own, payload, header).status_code)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 20
    status, plan, paid, processed, case = state(app)
    with app.app_context():
        amount = db.session().scalars(select(Payment)).one().amount
    assert (status, plan, processed, case) == ("succeeded", "active", 1, "arranged")
    assert paid == amount  # allocated once, not twenty times


def test_the_webhook_needs_no_csrf_but_everything_else_does(app, client, stripe_payment):
    app.config["WTF_CSRF_ENABLED"] = True
    assert deliver(client, event("payment_intent.succeeded")).status_code == 200
    assert client.post("/sign-out").status_code == 400


def charge_event(kind: str, event_id: str, **fields) -> bytes:
    """A charge or dispute event as Stripe sends it, naming the PaymentIntent."""
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": {"id": "ch_or_dp_1", "payment_intent": "pi_test_1", **fields}},
    }
    return json.dumps(body).encode()


def overdue(app, case_id):
    from portal.cases.facts import snapshot_of

    from .factories import TODAY

    with app.test_request_context("/"):
        session = db.session()
        return snapshot_of(session, session.get(Case, case_id), TODAY).arrears.total


def test_a_refunded_down_payment_undoes_the_arrangement(app, client, stripe_payment):
    before = overdue(app, stripe_payment.case_id)
    deliver(client, event("payment_intent.succeeded"))
    assert state(app)[4] == "arranged"
    amount = stripe_payment.amount
    assert overdue(app, stripe_payment.case_id) == before - amount
    refund = charge_event("charge.refunded", "evt_refund", amount_refunded=amount)
    assert deliver(client, refund).status_code == 200
    status, plan, paid, _processed, case = state(app)
    assert (status, plan, paid, case) == ("succeeded", "pending", 0, "open")
    assert overdue(app, stripe_payment.case_id) == before  # everything owed again
    assert books(app) == []
    # A redelivery of the refund takes nothing more back.
    deliver(client, refund)
    assert overdue(app, stripe_payment.case_id) == before


def test_a_partial_refund_takes_back_only_its_amount(app, client, stripe_payment):
    before = overdue(app, stripe_payment.case_id)
    deliver(client, event("payment_intent.succeeded"))
    deliver(client, charge_event("charge.refunded", "evt_r1", amount_refunded=10_000))
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 10_000
    assert state(app)[1] == "pending"  # the first installment is no longer fully paid
    # Stripe reports the running total: a second refund of 5,000 says 15,000.
    deliver(client, charge_event("charge.refunded", "evt_r2", amount_refunded=15_000))
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 15_000
    assert books(app) == []


def test_a_dispute_holds_the_money_until_it_is_won(app, client, stripe_payment):
    before = overdue(app, stripe_payment.case_id)
    amount = stripe_payment.amount
    deliver(client, event("payment_intent.succeeded"))
    deliver(
        client,
        charge_event("charge.dispute.created", "evt_d1", amount=amount, status="needs_response"),
    )
    assert overdue(app, stripe_payment.case_id) == before
    assert state(app)[4] == "open"
    assert books(app) == []
    deliver(client, charge_event("charge.dispute.closed", "evt_d2", amount=amount, status="won"))
    assert overdue(app, stripe_payment.case_id) == before - amount
    assert state(app)[1:3] == ("active", amount)
    assert state(app)[4] == "arranged"
    assert books(app) == []


def test_a_refund_that_overtakes_its_payment_is_held_and_applied_once_after_it(
    app, client, stripe_payment
):
    """Stripe does not promise order: a refund before its success is acknowledged (Stripe
    need not retry it), held in the inbox with nothing applied, and applied, exactly
    once, once the success is in (by its own retry with Redis, by the sweep here)."""
    before = overdue(app, stripe_payment.case_id)
    refund = charge_event("charge.refunded", "evt_r", amount_refunded=5_000)
    answer = deliver(client, refund)
    assert (answer.status_code, answer.json["duplicate"]) == (200, False)
    assert overdue(app, stripe_payment.case_id) == before
    assert state(app)[0] == "pending"
    assert state(app)[3] == 0  # not even marked as seen
    assert inbox(app) == [("evt_r", False, 1)]  # held, one attempt
    deliver(client, event("payment_intent.succeeded"))
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount
    assert sweep(app, minutes=2).exit_code == 0
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 5_000
    assert sorted(inbox(app)) == [("evt_1", True, 0), ("evt_r", True, 1)]
    # Neither a redelivery nor another sweep takes anything more back.
    assert deliver(client, refund).json["duplicate"] is True
    sweep(app, minutes=3)
    assert overdue(app, stripe_payment.case_id) == before - stripe_payment.amount + 5_000
    assert state(app)[3] == 2
    assert books(app) == []


def inbox(app) -> list[tuple[str, bool, int]]:
    """Each inbox row: its event id, whether it is settled, and its attempts."""
    with app.app_context():
        rows = db.session().execute(
            select(WebhookInbox.event_id, WebhookInbox.settled_at, WebhookInbox.attempts)
        )
        return [(event_id, settled is not None, attempts) for event_id, settled, attempts in rows]


def sweep(app, minutes: float):
    """``haohuan payments sweep`` run ``minutes`` after the test's now."""
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=minutes)).isoformat()
    try:
        return CliRunner().invoke(
            cli, ["payments", "sweep"], obj=ScriptInfo(create_app=lambda: app)
        )
    finally:
        app.config["HAOHUAN_NOW"] = NOW.isoformat()


def test_a_refund_unwinds_the_plan_the_money_counted_for(app, client, stripe_payment):
    """Money that came for no plan (a part payment paid from an old tab) counts for the
    live plan; its refund must undo that plan, not only the loan."""
    with app.app_context():
        session = db.session()
        payment = session.get(Payment, stripe_payment.id)
        payment.plan_id, payment.purpose = None, "partial"
        session.commit()
    deliver(client, event("payment_intent.succeeded"))
    assert state(app)[1] == "active"
    with app.app_context():
        session = db.session()
        assert session.get(Payment, stripe_payment.id).plan_id is not None
    deliver(client, charge_event("charge.refunded", "evt_r", amount_refunded=stripe_payment.amount))
    status, plan, paid, _processed, case = state(app)
    assert (status, plan, paid, case) == ("succeeded", "pending", 0, "open")
    assert books(app) == []


def test_a_body_past_the_limit_is_a_413_before_it_is_read(app, client, stripe_payment):
    # A signed event padded past the webhook's limit: refused on its length alone.
    padded = json.loads(event("payment_intent.succeeded"))
    padded["padding"] = "x" * WEBHOOK_BODY_LIMIT
    payload = json.dumps(padded).encode()
    response = client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": signed(payload)}
    )
    assert response.status_code == 413
    assert state(app)[0] == "pending"
    # Stripe's own events, far larger than any form, are still read and verified.
    padded["padding"] = "x" * (BODY_LIMIT * 2)
    payload = json.dumps(padded).encode()
    response = client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": signed(payload)}
    )
    response.close()  # sent: its settlement runs (in the process, without Redis)
    assert response.status_code == 200
    assert state(app)[0] == "succeeded"
