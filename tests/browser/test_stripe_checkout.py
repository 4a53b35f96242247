"""In Chromium, a borrower pays through the Payment Element served by localstripe's fake
Stripe.js, and the case becomes arranged once localstripe's signed webhook lands. Runs
with the browser tests when HAOHUAN_TEST_LOCALSTRIPE is set too (CI sets both)."""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.core import db, migrate
from portal.models import Case, CaseEvent, Payment, ProcessedEvent
from portal.web.payments import checkout_views
from tests.portal.factories import app_config, build_case

from . import fake_stripe
from .pages import SCREENSHOTS, to_pay_page

pytestmark = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

PHONE = {"width": 390, "height": 844}
SECRET_KEY = "sk_test_haohuan"
WEBHOOK_SECRET = "whsec_browser"


@pytest.fixture(scope="module")
def stripe_js() -> Iterator[str]:
    with fake_stripe.running() as url:
        yield url


@pytest.fixture(scope="module")
def stripe_server(
    tmp_path_factory: pytest.TempPathFactory, stripe_js: str, browser: object
) -> Iterator[tuple]:
    """The portal with Stripe as its gateway, registered for localstripe's webhooks."""
    path = tmp_path_factory.mktemp("stripe-browser") / "haohuan.db"
    app = create_app(
        {
            **app_config(f"sqlite:///{path}"),
            "WTF_CSRF_ENABLED": True,
            "PAYMENT_GATEWAY": "stripe",
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": "pk_test_haohuan",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_js,
            "STRIPE_JS_URL": f"{stripe_js}/_config/haohuan/stripe.js",
        }
    )
    migrate.upgrade(app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_port}"
    browser.watch(base)  # type: ignore[attr-defined]  # its pages are HTML-checked too
    registration = urllib.parse.urlencode(
        {"url": f"{base}/webhooks/stripe", "secret": WEBHOOK_SECRET}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
        f"{stripe_js}/_config/webhooks/haohuan",
        data=registration,
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status == 200
    yield base, app
    http.shutdown()
    http.server_close()  # closed now, not when a kept-alive connection's thread ends


def _to_checkout(page, base: str, built) -> None:
    """Link, verification, the arrears plan, consent, and Pay: on to the checkout."""
    to_pay_page(page, base, built)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay/checkout/**")


def _type_card(page, number: str) -> None:
    """Into the element localstripe's Stripe.js mounts (real Stripe's is an iframe)."""
    element = page.locator("#payment-element")
    element.locator("input[placeholder=number]").fill(number)
    element.locator("input[placeholder=exp_month]").fill("12")
    element.locator("input[placeholder=exp_year]").fill("30")
    element.locator("input[placeholder=cvc]").fill("123")
    element.locator("input[placeholder=postal_code]").fill("10491")


def _webhook_landed(app, case_id: int, seconds: float = 10.0) -> bool:
    """Whether localstripe's own signed payment_intent.succeeded reached us."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.app_context():
            session = db.session()
            landed = session.scalars(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.gateway == "stripe", ProcessedEvent.event_id.like("evt_%")
                )
            ).all()
            if landed and session.get(Case, case_id).status == "arranged":
                return True
        time.sleep(0.2)
    return False


CASES = [
    ("zh_Hant_TW", "TWD", "林雅婷", "4242424242424242"),
    ("en", "HKD", "Chan Tai Man", "4000002760003184"),  # asks for 3-D Secure
]


@pytest.mark.parametrize(("locale", "currency", "name", "card"), CASES, ids=["card", "3ds"])
def test_a_borrower_pays_through_the_payment_element(
    stripe_server, browser, locale, currency, name, card, monkeypatch
):
    base, app = stripe_server
    if card == "4242424242424242":
        # Only the webhook may settle it here: the return page shows "waiting" and
        # refreshes itself until localstripe's signed event has arranged the case.
        monkeypatch.setattr(checkout_views, "settle", lambda *args: False)
    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=47)
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _to_checkout(page, base, built)

    expect(page.locator("#payment-element input[placeholder=number]")).to_be_visible()
    expect(page.locator("#payment-form")).to_be_visible()
    _type_card(page, card)
    page.screenshot(path=SCREENSHOTS / f"{locale}-6-stripe-checkout.png", full_page=True)
    page.click("#payment-submit")
    if card == "4000002760003184":
        page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url("**/pay/result/**")
    expect(page.locator("main .good")).to_be_visible(timeout=15_000)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()

    assert _webhook_landed(app, built.case_id)
    with app.app_context():
        payment = (
            db.session().scalars(select(Payment).where(Payment.case_id == built.case_id)).one()
        )
        assert payment.status == "succeeded"
        assert payment.gateway_reference.startswith("pi_")


def test_a_declined_card_is_told_on_the_page_and_can_be_retried(stripe_server, browser):
    base, app = stripe_server
    built = build_case(app, locale="zh_Hans_CN", currency="CNY", name="赵敏", days_past_due=47)
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    _to_checkout(page, base, built)
    expect(page.locator("#payment-element input[placeholder=number]")).to_be_visible()
    _type_card(page, "4000000000000341")
    page.click("#payment-submit")
    message = page.locator("#payment-message")
    expect(message).to_be_visible()
    expect(message).to_have_text(re.compile(r"\S"))  # says something
    assert "/pay/checkout/" in page.url
    # localstripe's payment_intent.payment_failed lands; the payment stays open.
    assert _declined_landed(app, built.case_id)
    with app.app_context():
        payment = (
            db.session().scalars(select(Payment).where(Payment.case_id == built.case_id)).one()
        )
        assert payment.status == "pending"
    # Another card, on the same page and the same intent.
    _type_card(page, "4242424242424242")
    page.click("#payment-submit")
    page.wait_for_url("**/pay/result/**")
    assert page.locator("main .good").count() == 1
    context.close()
    assert _webhook_landed(app, built.case_id)


def _declined_landed(app, case_id: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.app_context():
            kinds = (
                db.session()
                .scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id))
                .all()
            )
        if "payment_declined" in kinds:
            return True
        time.sleep(0.2)
    return False


def test_without_javascript_the_checkout_says_what_to_do(stripe_server, browser):
    base, app = stripe_server
    built = build_case(app, locale="zh_Hant_TW", currency="TWD", name="黃志明", days_past_due=47)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    _to_checkout(page, base, built)
    assert "JavaScript" in page.inner_text("main")
    expect(page.locator("#payment-form")).to_be_hidden()
    context.close()


def test_a_borrower_saves_a_card_for_automatic_payments_through_the_payment_element(
    stripe_server, browser
):
    """After the first installment, the card for automatic payments goes through the
    same element (a SetupIntent): back on the status page, automatic payments are on."""
    base, app = stripe_server
    built = build_case(app, locale="en", currency="HKD", name="Lee Ka Yan", days_past_due=47)
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _to_checkout(page, base, built)
    _type_card(page, "4242424242424242")
    page.click("#payment-submit")
    page.wait_for_url("**/pay/result/**")

    page.goto(f"{base}/autopay")
    expect(page.locator("main .mandate")).to_contain_text("Alipay")  # HKD: cards only
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/autopay/card/seti_**")
    expect(page.locator("#payment-form")).to_be_visible()
    _type_card(page, "4242424242424242")
    page.screenshot(path=SCREENSHOTS / "en-autopay-stripe-card.png", full_page=True)
    page.click("#payment-submit")
    page.wait_for_url("**/status#autopay-title")
    expect(page.locator("section[aria-labelledby=autopay-title]")).to_contain_text("•••• 4242")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
