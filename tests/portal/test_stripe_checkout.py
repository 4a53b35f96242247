"""The Stripe checkout: one intent per payment, the Payment Element page and its policy,
the return page that asks Stripe itself, and Stripe outages that lose nothing.

The tests marked ``localstripe`` run against a real local Stripe (localstripe as a
process, the real SDK); the others need no Stripe at all.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import stripe
from sqlalchemy import func, select

from portal.core import db
from portal.models import Allocation, Case, Payment, Plan
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.stripe_checkout import StripeGateway, idempotency_key
from portal.payments.stripe_gateway import (
    StripeSettings,
    cancel_intent,
    create_intent,
    payment_method_types,
)
from portal.payments.sweeper import sweep
from portal.web.payments import checkout_views
from portal.web.payments.checkout_views import stripe_policy

from .factories import NOW, build_case, sign_in
from .localstripe_server import empty, free_port, pay_at_stripe, running
from .test_journey import first_review_link, review_form

needs_localstripe = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

KEYS = {
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_haohuan",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_haohuan",
    "STRIPE_WEBHOOK_SECRET": "whsec_haohuan",
}
# Nothing listens here: Stripe is "down".
CLOSED = f"http://127.0.0.1:{free_port()}"
LATER = NOW + timedelta(minutes=10)


@pytest.fixture
def stripe_base(request: pytest.FixtureRequest) -> str:
    """localstripe's address for the tests that ask for it; a closed port for the others."""
    if "local_stripe" in request.fixturenames:
        base = str(request.getfixturevalue("local_stripe"))
        empty(base)
        return base
    request.getfixturevalue("stripe_without_retries")  # an outage: fail at once
    return CLOSED


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[str]:
    """localstripe, started once for the module's tests that need it."""
    with running() as url:
        yield url


@pytest.fixture
def extra_config(stripe_base: str) -> dict[str, object]:
    return {**KEYS, "STRIPE_API_BASE": stripe_base, "STRIPE_JS_URL": f"{stripe_base}/v3/"}


def accept_a_plan(app, client) -> int:
    """A signed-in borrower with an accepted plan; returns the case id."""
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    return built.case_id


def start(client):
    return client.post("/pay", data={"purpose": "installment"})


def the_payment(app) -> Payment:
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        db.session().expunge(payment)
        return payment


def stripe_client(base: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_haohuan", base_addresses={"api": base})


def sweep_at(app, moment) -> object:
    with app.test_request_context("/"):
        return sweep(db.session(), StripeSettings.from_config(), moment, timedelta(minutes=5))


# Without Stripe ----------------------------------------------------------------------


def test_the_checkout_policy_allows_stripe_and_nothing_else():
    settings = StripeSettings(
        secret_key="sk",
        publishable_key="pk",
        webhook_secret="wh",
        api_base="http://127.0.0.1:9999",
        js_url="http://127.0.0.1:9999/v3/",
    )
    directives = dict(part.split(" ", 1) for part in stripe_policy(settings).split("; "))
    assert directives["script-src"].split() == [
        "'self'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "http://127.0.0.1:9999",
    ]
    assert "https://hooks.stripe.com" in directives["frame-src"]
    assert "'none'" not in directives["frame-src"]
    assert "https://api.stripe.com" in directives["connect-src"]
    assert directives["style-src"] == "'self'"  # still no inline style
    assert directives["frame-ancestors"] == "'none'"


def test_wallets_only_where_the_currency_allows_them():
    assert payment_method_types("TWD") == ["card"]
    assert payment_method_types("CNY") == ["card", "alipay", "wechat_pay"]
    assert payment_method_types("HKD", wallets=False) == ["card"]


def test_stripe_needs_its_keys(tmp_path):
    from portal import ConfigurationError, create_app

    with pytest.raises(ConfigurationError, match="STRIPE_WEBHOOK_SECRET"):
        create_app(
            {
                **KEYS,
                "STRIPE_WEBHOOK_SECRET": "",
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            }
        )


def test_a_stripe_outage_at_the_start_charges_nothing_and_loses_nothing(app, client):
    accept_a_plan(app, client)
    response = start(client)
    assert response.status_code == 422
    assert "無法連線到刷卡付款服務" in response.get_data(as_text=True)
    payment = the_payment(app)
    assert (payment.status, payment.gateway_reference) == ("unknown", None)
    # Trying again while Stripe is still down resumes the same payment.
    assert start(client).status_code == 422
    assert the_payment(app).id == payment.id
    assert sweep_at(app, LATER).checked == 1
    assert the_payment(app).status == "unknown"


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in for Stripe's API that remembers every request's headers."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, str | None]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(("POST", self.path, self.headers.get("Idempotency-Key")))
        body = json.dumps(
            {"id": "pi_recorded", "object": "payment_intent", "client_secret": "pi_recorded_s"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_every_post_to_stripe_carries_an_idempotency_key(recorder):
    settings = StripeSettings("sk_test", "pk_test", "wh", recorder, f"{recorder}/v3/")
    create_intent(settings, 42, "haohuan-payment-42-1", 120000, "TWD", {"case_id": "7"})
    create_intent(settings, 42, "haohuan-payment-42-1", 120000, "TWD", {"case_id": "7"})
    cancel_intent(settings, "pi_recorded")
    assert _Recorder.seen == [
        ("POST", "/v1/payment_intents", "haohuan-payment-42-1"),
        ("POST", "/v1/payment_intents", "haohuan-payment-42-1"),
        ("POST", "/v1/payment_intents/pi_recorded/cancel", "haohuan-cancel-pi_recorded"),
    ]


def test_two_databases_never_share_an_idempotency_key():
    """The same payment id, opened in a restored backup or another environment a moment
    apart, gets another key (a shared one would hand back the other's intent)."""
    first = Payment(id=7, created_at=NOW)
    again = Payment(id=7, created_at=NOW + timedelta(microseconds=1))
    naive = Payment(id=7, created_at=NOW.replace(tzinfo=None))
    assert idempotency_key(first) != idempotency_key(again)
    assert idempotency_key(first) == idempotency_key(naive)


# Against localstripe -------------------------------------------------------------------


@needs_localstripe
def test_a_borrower_pays_through_the_checkout_and_the_return_asks_stripe(
    local_stripe, app, client, stripe_base
):
    case_id = accept_a_plan(app, client)
    response = start(client)
    assert response.status_code == 303
    payment = the_payment(app)
    assert response.headers["Location"].endswith(f"/pay/checkout/{payment.id}")
    assert payment.status == "pending"
    assert payment.gateway_reference.startswith("pi_")

    intent = stripe_client(stripe_base).v1.payment_intents.retrieve(payment.gateway_reference)
    assert intent.amount == payment.amount
    assert intent.currency == "twd"
    # Sent as allowed_payment_method_types (the fake refuses the old name, as Stripe does
    # on the SDK's API version), reported back as the intent's payment_method_types.
    assert intent.payment_method_types == ["card"]
    assert intent.metadata["payment_id"] == str(payment.id)
    assert intent.metadata["case_id"] == str(case_id)
    assert intent.metadata["plan_id"] == str(payment.plan_id)
    assert "installment_id" in intent.metadata

    page = client.get(f"/pay/checkout/{payment.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-client-secret="{intent.client_secret}"' in html
    assert f'src="{stripe_base}/v3/"' in html
    assert (
        f"script-src 'self' https://js.stripe.com https://*.js.stripe.com {stripe_base}"
        in (page.headers["Content-Security-Policy"])
    )

    # A second click resumes the same intent: never a second charge.
    assert start(client).headers["Location"] == response.headers["Location"]
    assert the_payment(app).gateway_reference == payment.gateway_reference

    assert pay_at_stripe(stripe_base, payment.gateway_reference) == "succeeded"
    # The query string is not believed; Stripe is asked.
    back = client.get(f"/pay/return/{payment.id}?payment_intent=pi_forged&redirect_status=failed")
    assert back.headers["Location"].endswith(f"/pay/result/{payment.id}")
    assert the_payment(app).status == "succeeded"
    with app.app_context():
        session = db.session()
        assert session.get(Case, case_id).status == "arranged"
        assert session.scalars(select(Plan)).one().status == "active"
    receipt = client.get(back.headers["Location"]).get_data(as_text=True)
    assert f"P-{payment.id:06d}" in receipt


@needs_localstripe
def test_a_declined_card_returns_to_the_checkout_to_try_again(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    assert pay_at_stripe(stripe_base, payment.gateway_reference, "4000000000000341") == (
        "requires_payment_method"
    )
    back = client.get(f"/pay/return/{payment.id}")
    assert back.headers["Location"].endswith(f"/pay/checkout/{payment.id}?retry=1")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "付款沒有成功" in page
    # Still open: Stripe lets the same intent be confirmed again with another card
    # (localstripe cannot retry an intent after a declined charge, so that is not run).
    assert the_payment(app).status == "pending"
    assert f'data-client-secret="{payment.gateway_reference}_secret_' in page


@needs_localstripe
@pytest.mark.usefixtures("stripe_without_retries")
def test_stripe_down_on_the_return_leaves_it_unknown_until_the_sweeper(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    pay_at_stripe(stripe_base, payment.gateway_reference)
    app.config["STRIPE_API_BASE"] = CLOSED
    back = client.get(f"/pay/return/{payment.id}")
    assert back.status_code == 303
    assert the_payment(app).status == "unknown"
    assert "等待確認中" in client.get(back.headers["Location"]).get_data(as_text=True)
    app.config["STRIPE_API_BASE"] = stripe_base
    swept = sweep_at(app, LATER)
    assert (swept.checked, swept.succeeded) == (1, 1)
    assert the_payment(app).status == "succeeded"


@needs_localstripe
@pytest.mark.usefixtures("stripe_without_retries")
def test_an_unknown_start_is_recovered_with_the_same_payment(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    app.config["STRIPE_API_BASE"] = CLOSED
    assert start(client).status_code == 422
    lost = the_payment(app)
    app.config["STRIPE_API_BASE"] = stripe_base
    assert start(client).status_code == 303
    found = the_payment(app)
    assert found.id == lost.id
    assert (found.status, found.gateway_reference[:3]) == ("pending", "pi_")


@needs_localstripe
@pytest.mark.usefixtures("stripe_without_retries")
def test_the_sweeper_recovers_an_intent_the_outage_hid(local_stripe, app, client, stripe_base):
    accept_a_plan(app, client)
    app.config["STRIPE_API_BASE"] = CLOSED
    start(client)
    app.config["STRIPE_API_BASE"] = stripe_base
    sweep_at(app, LATER)
    payment = the_payment(app)
    assert (payment.status, payment.gateway_reference[:3]) == ("pending", "pi_")


@needs_localstripe
def test_withdrawing_the_plan_voids_it_and_the_sweeper_cancels_its_intent(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    client.post("/plans/withdraw")
    assert the_payment(app).status == "voided"
    # An old tab cannot be used to pay it here...
    assert client.get(f"/pay/checkout/{payment.id}").status_code == 303
    # ...and the sweeper (never a request holding the database) cancels it at Stripe.
    assert sweep_at(app, LATER).cancelled == 1
    intent = stripe_client(stripe_base).v1.payment_intents.retrieve(payment.gateway_reference)
    assert intent.status == "canceled"
    assert sweep_at(app, LATER).cancelled == 0


@needs_localstripe
def test_a_voided_payment_paid_anyway_is_applied_by_the_sweeper(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    client.post("/plans/withdraw")
    # Before the sweeper cancels it, an old tab pays it. The money is ours: applied.
    assert pay_at_stripe(stripe_base, payment.gateway_reference) == "succeeded"
    assert sweep_at(app, LATER).succeeded == 1
    assert the_payment(app).status == "succeeded"
    with app.app_context():
        session = db.session()
        assert ledger.check(session) == []
        allocated = session.scalar(
            select(func.sum(Allocation.amount)).where(Allocation.payment_id == payment.id)
        )
        assert allocated == payment.amount


@needs_localstripe
def test_the_return_page_never_undoes_what_the_webhook_settled(
    local_stripe, app, client, stripe_base, monkeypatch
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    pay_at_stripe(stripe_base, payment.gateway_reference)

    def stripe_fails_after_the_webhook_lands(settings, reference):
        # While the return page waits on Stripe, the webhook settles the payment.
        with app.test_request_context("/"):
            event = GatewayEvent("stripe", "evt_race", reference, Outcome.SUCCEEDED)
            handle(db.session(), event, NOW)
        raise stripe.APIConnectionError("timed out")

    monkeypatch.setattr(checkout_views, "retrieve_intent", stripe_fails_after_the_webhook_lands)
    client.get(f"/pay/return/{payment.id}")
    monkeypatch.undo()
    assert the_payment(app).status == "succeeded"
    sweep_at(app, LATER)
    with app.app_context():
        session = db.session()
        assert ledger.check(session) == []
        allocated = session.scalar(select(func.sum(Allocation.amount)))
        assert allocated == payment.amount


@needs_localstripe
@pytest.mark.usefixtures("stripe_without_retries")
def test_the_sweeper_never_reopens_a_payment_voided_while_it_asked(
    local_stripe, app, client, stripe_base, monkeypatch
):
    accept_a_plan(app, client)
    app.config["STRIPE_API_BASE"] = CLOSED
    start(client)
    app.config["STRIPE_API_BASE"] = stripe_base
    real = StripeGateway.new_intent

    def withdrawn_meanwhile(gateway, payment):
        client.post("/plans/withdraw")
        return real(gateway, payment)

    monkeypatch.setattr(StripeGateway, "new_intent", withdrawn_meanwhile)
    sweep_at(app, LATER)
    payment = the_payment(app)
    assert (payment.status, payment.gateway_reference) == ("voided", None)


@needs_localstripe
@pytest.mark.usefixtures("stripe_without_retries")
def test_an_unknown_payment_is_open_again_once_stripe_answers(
    local_stripe, app, client, stripe_base
):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    app.config["STRIPE_API_BASE"] = CLOSED
    client.get(f"/pay/return/{payment.id}")
    assert the_payment(app).status == "unknown"
    app.config["STRIPE_API_BASE"] = stripe_base
    sweep_at(app, LATER)  # the borrower never paid: nothing is decided
    assert the_payment(app).status == "pending"


@needs_localstripe
def test_another_borrowers_payment_is_not_found(local_stripe, app, client, stripe_base):
    accept_a_plan(app, client)
    start(client)
    payment = the_payment(app)
    other = app.test_client()
    sign_in(other, build_case(app))
    assert other.get(f"/pay/checkout/{payment.id}").status_code == 404
    assert other.get(f"/pay/return/{payment.id}").status_code == 404
