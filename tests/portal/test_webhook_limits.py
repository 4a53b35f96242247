"""The webhook's rate limit counts failures only: Stripe's signed bursts are never refused,
and a forged flood is refused, unverified, once its address has spent its allowance."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.core import db
from portal.models import Payment, ProcessedEvent
from portal.web.payments import webhooks
from portal.web.ratelimit import DEFAULT_LIMITS

from .test_stripe_webhooks import SECRET, deliver, event, signed, stripe_payment  # noqa: F401

ALLOWANCE = 5


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"RATE_LIMITS": f"webhook={ALLOWANCE}/60", "STRIPE_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def verifications(monkeypatch) -> list[bytes]:
    """Every body the webhook checked a signature on."""
    checked: list[bytes] = []
    real = webhooks.verified_event

    def counting(settings, payload, signature):
        checked.append(payload)
        return real(settings, payload, signature)

    monkeypatch.setattr(webhooks, "verified_event", counting)
    return checked


def forged(number: int) -> tuple[bytes, str]:
    payload = event("payment_intent.succeeded", event_id=f"evt_forged_{number}")
    return payload, signed(payload, secret="whsec_not_ours")


def books(app) -> tuple[str, int]:
    with app.app_context():
        session = db.session()
        status = session.scalars(select(Payment.status)).one()
        return status, session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0


def test_a_signed_burst_far_past_the_allowance_is_accepted(app, client, stripe_payment):  # noqa: F811
    # Stripe's own deliveries from one address, four times the allowance in a moment:
    # the payment among them, its redeliveries, and events the portal only acknowledges.
    answers = [deliver(client, event("payment_intent.succeeded")).status_code]
    for number in range(ALLOWANCE * 4):
        other = event("customer.created", event_id=f"evt_{number}")
        answers += [
            deliver(client, other).status_code,
            deliver(client, event("payment_intent.succeeded")).status_code,
        ]
    assert set(answers) == {200}
    assert books(app) == ("succeeded", 1)


@pytest.mark.parametrize("extra_config", [{"STRIPE_WEBHOOK_SECRET": SECRET}])
def test_a_burst_past_the_old_per_request_limit_is_accepted(app, client):
    # The default allowance once counted every delivery: 1,200 a minute from an address.
    allowance = DEFAULT_LIMITS["webhook"].requests
    payload = event("customer.created", event_id="evt_burst")
    answers = {deliver(client, payload).status_code for _ in range(allowance + 100)}
    assert answers == {200}


def test_a_forged_flood_is_refused_unverified_once_its_allowance_is_spent(
    app,
    client,
    stripe_payment,  # noqa: F811
    verifications,
):
    answers = []
    for number in range(ALLOWANCE * 4):
        payload, signature = forged(number)
        answers.append(deliver(client, payload, signature))
    assert [a.status_code for a in answers] == [400] * ALLOWANCE + [429] * ALLOWANCE * 3
    refused = answers[-1]
    assert refused.json == {"error": "rate limited"}
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Past the allowance a forged delivery costs a counter read: no signature is
    # checked, and nothing is ever written.
    assert len(verifications) == ALLOWANCE
    assert books(app) == ("pending", 0)


def test_the_allowance_comes_back_with_the_next_window(app, client, stripe_payment):  # noqa: F811
    limiter = app.extensions["haohuan.limiter"]
    moment = [6000.0]
    limiter.clock = lambda: moment[0]
    for number in range(ALLOWANCE + 1):
        deliver(client, *forged(number))
    assert deliver(client, *forged(99)).status_code == 429
    moment[0] += 60
    assert deliver(client, *forged(100)).status_code == 400
    assert deliver(client, event("payment_intent.succeeded")).status_code == 200
    assert books(app) == ("succeeded", 1)


def test_deliveries_while_no_secret_is_set_count_as_failures(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = ""
    payload = event("customer.created")
    answers = [deliver(client, payload).status_code for _ in range(ALLOWANCE + 2)]
    assert answers == [503] * ALLOWANCE + [429] * 2
