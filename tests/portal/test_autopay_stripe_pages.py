"""The automatic payments pages on the Stripe gateway: the card page with the Payment
Element for the session's own SetupIntent (and its CSP), the return page that asks
Stripe which card was saved, and a Stripe that cannot be reached.

The tests marked ``localstripe`` run against a real local Stripe (localstripe as a
process, the real SDK); the others need no Stripe at all."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.core import db
from portal.models import Autopay, SavedCard

from .factories import build_case, sign_in
from .test_journey import first_review_link, review_form

# The Stripe checkout's fixtures serve here too: localstripe for the tests that ask for
# it, a closed port (Stripe down) for the others.
from .test_stripe_checkout import (  # noqa: F401
    extra_config,
    local_stripe,
    needs_localstripe,
    stripe_base,
)


def with_a_plan(app, client) -> None:
    """A signed-in borrower with an accepted plan (its first payment not needed here)."""
    built = build_case(app, locale="en")
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(True))
    client.post("/plans/accept", data={**form, "consent": "y"})


def test_an_unreachable_stripe_saves_nothing_and_says_so(app, client):
    with_a_plan(app, client)
    page = client.post("/autopay", data={"consent": "y"})
    assert page.status_code == 503
    assert "Your card was not saved, and nothing was charged." in page.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalars(select(SavedCard)).all() == []
    # A card page for a setup this session never began is a 404, Stripe or not.
    assert client.get("/autopay/card/seti_guessed").status_code == 404


@needs_localstripe
@pytest.mark.usefixtures("local_stripe")
def test_a_card_saved_through_the_payment_element(app, client):
    import stripe

    base = app.config["STRIPE_API_BASE"]
    with_a_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    assert agreed.status_code == 303
    setup_id = agreed.location.rsplit("/", 1)[1]
    assert agreed.location.endswith(f"/autopay/card/{setup_id}")
    assert setup_id.startswith("seti_")

    page = client.get(f"/autopay/card/{setup_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'data-client-secret="seti_[^"]+"', html)
    assert re.search(r"/static/checkout\.\w+\.js", html)
    assert 'data-mode="setup"' in html
    assert "<script>" not in html  # no inline script: the CSP allows none
    policy = page.headers["Content-Security-Policy"]
    assert "https://js.stripe.com" in policy
    assert base in policy
    assert client.get("/autopay/card/seti_another").status_code == 404

    # What Stripe.js does in the browser: the card, then the setup confirmed.
    sdk = stripe.StripeClient("sk_test_haohuan", base_addresses={"api": base})
    number = "4242424242424242"
    card = sdk.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    sdk.v1.setup_intents.confirm(setup_id, params={"payment_method": card.id})

    # Stripe's redirect back names the intent; another one is refused.
    assert client.get("/autopay/return?setup_intent=seti_other").status_code == 404
    back = client.get(f"/autopay/return?setup_intent={setup_id}")
    assert back.status_code == 303
    assert back.location.endswith("/status#autopay-title")
    with app.app_context():
        saved = db.session().scalars(select(SavedCard)).one()
        mandate = db.session().scalars(select(Autopay)).one()
        assert saved.last4 == "4242"
        assert mandate.status == "on"
