"""The Stripe path against a real local Stripe: localstripe as a process on 127.0.0.1,
the real stripe SDK, and localstripe's own signed webhooks delivered to the portal served
by a real HTTP server. Runs when HAOHUAN_TEST_LOCALSTRIPE is set (CI sets it)."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import stripe
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.core import db
from portal.models import Payment, Plan
from portal.payments.stripe_checkout import idempotency_key
from portal.payments.stripe_gateway import StripeSettings, create_intent

from .factories import NOW
from .localstripe_server import empty, pay_at_stripe, register_webhook, running
from .test_stripe_webhooks import stripe_payment_for_a_new_plan

pytestmark = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

WEBHOOK_SECRET = "whsec_localstripe"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def served(app, localstripe) -> Iterator[str]:
    """The portal on a real HTTP server, registered as localstripe's webhook endpoint."""
    empty(localstripe)
    app.config.update(
        STRIPE_SECRET_KEY="sk_test_haohuan",
        STRIPE_PUBLISHABLE_KEY="pk_test_haohuan",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=localstripe,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    register_webhook(localstripe, url, WEBHOOK_SECRET)
    yield url
    server.shutdown()
    server.server_close()  # closed now, not when a kept-alive connection's thread ends
    thread.join()


def test_a_payment_confirmed_at_stripe_arranges_the_case(app, client, served, localstripe):
    payment, intent_id, secret = _open_intent(app, client)
    assert secret.startswith(intent_id)
    assert pay_at_stripe(localstripe, intent_id) == "succeeded"
    intent = stripe.StripeClient(
        "sk_test_haohuan", base_addresses={"api": localstripe}
    ).v1.payment_intents.retrieve(intent_id)
    assert intent.amount == payment.amount
    assert intent.metadata["payment_id"] == str(payment.id)

    # localstripe signs and delivers payment_intent.succeeded about a second later.
    for _ in range(100):
        with app.app_context():
            status = db.session().scalars(select(Payment)).one().status
        if status == "succeeded":
            break
        time.sleep(0.1)
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Payment)).one().status == "succeeded"
        assert session.scalars(select(Plan)).one().status == "active"


@pytest.fixture
def unregistered(app, localstripe):
    """The portal pointed at localstripe, with no webhook registered: nothing reports."""
    empty(localstripe)
    app.config.update(STRIPE_SECRET_KEY="sk_test_haohuan", STRIPE_API_BASE=localstripe)
    return localstripe


def _open_intent(app, client) -> tuple[Payment, str, str]:
    """A borrower's open Stripe payment for a new plan, and its intent at localstripe."""
    opened = stripe_payment_for_a_new_plan(app, client)
    with app.test_request_context("/"):
        session = db.session()
        payment = session.get(Payment, opened.id)
        intent_id, secret = create_intent(
            StripeSettings.from_config(),
            payment.id,
            idempotency_key(payment),
            payment.amount,
            payment.currency,
            {"case_id": str(payment.case_id), "plan_id": str(payment.plan_id)},
        )
        payment.gateway_reference, payment.status = intent_id, "pending"
        session.commit()
        session.expunge(payment)
    return payment, intent_id, secret


def _intent_for(app, client, confirm: bool, localstripe: str) -> str:
    _payment, intent_id, _secret = _open_intent(app, client)
    if confirm:
        pay_at_stripe(localstripe, intent_id)
    return intent_id


def test_the_sweeper_settles_what_no_webhook_reported(app, client, unregistered):
    from datetime import timedelta

    from click.testing import CliRunner

    from portal.cli import cli

    _intent_for(app, client, confirm=True, localstripe=unregistered)
    # Too recent to sweep: the borrower may still be paying.
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=1)).isoformat()
    runner = CliRunner()
    fresh = runner.invoke(cli, ["payments", "sweep"], obj=_script_info(app))
    assert "checked 0 open payments" in fresh.output, fresh.output
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=10)).isoformat()
    swept = runner.invoke(cli, ["payments", "sweep"], obj=_script_info(app))
    assert "checked 1 open payments: 1 succeeded, 0 failed, 0 still open" in swept.output
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Payment)).one().status == "succeeded"
        assert session.scalars(select(Plan)).one().status == "active"
    again = runner.invoke(cli, ["payments", "sweep"], obj=_script_info(app))
    assert "checked 0 open payments" in again.output


def test_the_sweeper_leaves_an_unpaid_intent_open(app, client, unregistered):
    from datetime import timedelta

    from portal.payments.sweeper import sweep

    _intent_for(app, client, confirm=False, localstripe=unregistered)
    later = NOW + timedelta(minutes=10)
    with app.test_request_context("/"):
        swept = sweep(db.session(), StripeSettings.from_config(), later, timedelta(minutes=5))
        assert (swept.checked, swept.succeeded, swept.failed) == (1, 0, 0)
        assert db.session().scalars(select(Payment)).one().status == "pending"


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_localstripe_answers_a_repeated_idempotency_key_as_stripe_does(localstripe):
    """The same key: the first answer again, marked replayed; other parameters: refused.
    (https://docs.stripe.com/api/idempotent_requests)"""
    empty(localstripe)

    def post(body: dict[str, str], key: str) -> tuple[int, dict[str, object], str | None]:
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL we built)
            f"{localstripe}/v1/customers",
            data=urllib.parse.urlencode(body).encode(),
            headers={"Authorization": "Bearer sk_test_haohuan", "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return answer.status, json.load(answer), answer.headers.get("Idempotent-Replayed")
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused), None

    first = post({"metadata[borrower]": "B1"}, "key-1")
    again = post({"metadata[borrower]": "B1"}, "key-1")
    assert first[0] == again[0] == 200
    assert again[1] == first[1]
    assert (first[2], again[2]) == (None, "true")
    other = post({"metadata[borrower]": "B2"}, "key-1")
    assert other[0] == 400
    assert other[1]["error"]["type"] == "idempotency_error"  # type: ignore[index]
    fresh = post({"metadata[borrower]": "B2"}, "key-2")
    assert fresh[1]["id"] != first[1]["id"]
    listed = stripe.StripeClient("sk_test_haohuan", base_addresses={"api": localstripe})
    assert len(listed.v1.customers.list().data) == 2
