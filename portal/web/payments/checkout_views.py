"""The Stripe checkout page and the page Stripe returns the borrower to.

The checkout page embeds Stripe's Payment Element (card, and Alipay or WeChat Pay where
the currency allows); the card details go from the borrower's browser to Stripe and
never touch our server. The return page trusts nothing in its query string: it asks
Stripe for the intent of the payment it already knows, settles it through the same
handler as the webhook, and shows the payment's state from our own records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from werkzeug.wrappers import Response

from portal.core import db
from portal.models import OPEN_PAYMENT_STATUSES, Payment
from portal.payments.service import mark_unknown, payment_for_case
from portal.payments.stripe_checkout import settle
from portal.payments.stripe_gateway import Intent, StripeSettings, retrieve_intent
from portal.web.borrower import session as borrower_session
from portal.web.borrower.session import borrower_required
from portal.web.security import content_security_policy

if TYPE_CHECKING:
    import stripe
else:
    from portal.payments import stripe_sdk as stripe

blueprint = Blueprint("checkout", __name__, url_prefix="/pay")

# What Stripe.js needs, per Stripe's guidance on Content Security Policy.
STRIPE_SOURCES = {
    "script-src": ("https://js.stripe.com", "https://*.js.stripe.com"),
    "frame-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
    "img-src": ("https://*.stripe.com",),
}

# Our locales in the names Stripe's Elements know.
STRIPE_LOCALES = {"zh_Hant_TW": "zh-TW", "zh_Hans_CN": "zh", "en": "en"}


def stripe_policy(settings: StripeSettings) -> str:
    """The page's CSP: ours, plus exactly the origins Stripe.js loads, frames and calls
    (a local Stripe's, when one is configured)."""
    extra = {directive: list(sources) for directive, sources in STRIPE_SOURCES.items()}
    for url, directives in (
        (settings.js_url, ("script-src", "connect-src", "frame-src")),
        (settings.api_base or "", ("connect-src",)),
    ):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            for directive in directives:
                extra[directive].append(f"{parts.scheme}://{parts.netloc}")
    return content_security_policy(extra)


def _payment(payment_id: int) -> Payment:
    payment = payment_for_case(db.session(), g.case, payment_id)
    if payment is None and borrower_session.follow_payment(payment_id=payment_id):
        payment = payment_for_case(db.session(), g.case, payment_id)
    if payment is None or payment.gateway != "stripe" or not payment.gateway_reference:
        abort(404)
    return payment


def _intent(payment: Payment) -> Intent | None:
    """Stripe's view of the payment, or None when Stripe cannot be reached."""
    try:
        return retrieve_intent(StripeSettings.from_config(), str(payment.gateway_reference))
    except stripe.StripeError:
        return None


def _result(payment: Payment) -> Response:
    return redirect(url_for("borrower.payment_result", payment_id=payment.id), code=303)


@blueprint.get("/checkout/<int:payment_id>")
@borrower_required
def page(payment_id: int) -> Response:
    """Pay through the Payment Element; a paid or closed payment goes to its result."""
    payment = _payment(payment_id)
    if payment.status not in OPEN_PAYMENT_STATUSES:
        return _result(payment)
    intent = _intent(payment)
    if intent is not None and settle(db.session(), payment, intent, g.now, "checkout"):
        return _result(payment)
    settings = StripeSettings.from_config()
    response = make_response(
        render_template(
            "borrower/checkout.html",
            payment=payment,
            intent=intent,
            retry=request.args.get("retry") == "1",
            settings=settings,
            stripe_locale=STRIPE_LOCALES.get(str(get_locale()), "auto"),
            return_url=url_for("checkout.returned", payment_id=payment.id, _external=True),
        ),
        200 if intent is not None else 503,
    )
    response.headers["Content-Security-Policy"] = stripe_policy(settings)
    return response


@blueprint.get("/return/<int:payment_id>")
@borrower_required
def returned(payment_id: int) -> Response:
    """Where Stripe sends the borrower back: settle from Stripe's answer, then show ours."""
    payment = _payment(payment_id)
    if payment.status not in OPEN_PAYMENT_STATUSES:
        return _result(payment)
    intent = _intent(payment)
    if intent is None:
        # The borrower may well have paid; until Stripe answers (or its webhook lands,
        # or the sweeper asks) the payment is neither paid nor failed.
        mark_unknown(db.session(), payment)
        return _result(payment)
    if settle(db.session(), payment, intent, g.now, "return"):
        return _result(payment)
    if intent.status == "requires_payment_method":
        # Declined or authentication failed: the same intent can be tried again.
        return redirect(url_for("checkout.page", payment_id=payment.id, retry=1), code=303)
    return _result(payment)
