"""The borrower's automatic payments: the mandate page, the consent to it, saving a card
(Stripe's Payment Element, or the sandbox's test cards), changing it, and turning
automatic payments off.

The card goes from the borrower's browser to the provider, never through us. The return
page trusts its query string only as far as the session vouches for it: the setup it
names must be the one this session began (and, in the sandbox, one issued for this
borrower); the provider is then asked which card the setup saved.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from datetime import date
from html import unescape
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from negotiation import AttemptOutcome
from portal.cases.facts import live_plan, policy
from portal.contact.gate import borrower_rules
from portal.core import db
from portal.core.i18n import switching_language, zone_name
from portal.models import Autopay, AutopayStatus, Case, Plan, SavedCard
from portal.payments.autopay import (
    MANDATE_VERSION,
    MandateConsent,
    autopay_attempts,
    begin_setup,
    card_ended_autopay,
    enroll,
    finish_setup,
    live_autopay,
    turn_off,
)
from portal.payments.gateway import GatewayUnavailableError
from portal.payments.sandbox import chosen_for, setup_borrower
from portal.payments.stripe_gateway import WALLETS, StripeSettings, setup_secret
from portal.web.borrower.forms import AutopayForm, ConfirmForm
from portal.web.borrower.session import borrower_required
from portal.web.payments.checkout_views import STRIPE_LOCALES, stripe_policy
from portal.wording.autopay import brand_name

if TYPE_CHECKING:
    import stripe
else:
    from portal.payments import stripe_sdk as stripe

blueprint = Blueprint("autopay", __name__, url_prefix="/autopay")

# The setup this session began, and the provider's customer it is for: the return page
# accepts only that setup, and finishes it for that customer.
SETUP, CUSTOMER = "autopay_setup", "autopay_customer"
# Flashed messages: what was done (on the status page or this one), and what went wrong.
DONE, PROBLEM = "autopay", "autopay-problem"

# An HTML tag, in the mandate's own markup (no comments, no tags inside attributes).
TAG = re.compile(r"<[^>]*>")


def plan_rows(plan: Plan) -> list[tuple[date, int]]:
    """What is left to charge of the plan: each unpaid installment's date and amount."""
    return [(row.due_date, row.outstanding) for row in plan.installments if row.outstanding > 0]


def mandate(case: Case, rows: Iterable[tuple[date, int]]) -> dict[str, Any]:
    """What the mandate says for this case: the charges and their dates, the hours they
    are made in, the retry rule, and whether the currency has wallets that stay one-off
    (``borrower/_mandate.html`` words it)."""
    borrower = case.loan.borrower
    rules = borrower_rules(borrower, case.loan.currency)
    terms = policy()
    return {
        "rows": list(rows),
        "currency": case.loan.currency,
        "start": rules.allowed_from.strftime("%H:%M"),
        "end": rules.allowed_until.strftime("%H:%M"),
        "zone": zone_name(borrower.timezone),
        "retry_days": terms.autopay_retry_after_days,
        "grace_days": terms.grace_days,
        "wallets": case.loan.currency.upper() in WALLETS,
        "version": MANDATE_VERSION,
    }


def mandate_text(context: dict[str, Any]) -> str:
    """The mandate's words exactly as the page shows them, as plain text: what the
    consent's hash is taken of."""
    html = render_template("borrower/_mandate.html", mandate=context)
    return " ".join(unescape(TAG.sub(" ", html)).split())


def consent(shown: str) -> MandateConsent:
    """How this request agrees to the mandate ``shown``."""
    return MandateConsent(
        ip_address=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        locale=str(get_locale()),
        shown=shown,
    )


def status_section(case: Case, plan: Plan, today: date) -> dict[str, Any]:
    """The status page's automatic payments section: the mandate's state, its card, the
    next charge, and the last charge when it failed and its installment is still
    unpaid (declined, or waiting for the borrower to confirm it)."""
    database = db.session()
    autopay = live_autopay(database, plan.id)
    attempts = autopay_attempts(database, plan.id)
    last = attempts[-1] if attempts else None
    unpaid = {row.id: row for row in plan.installments if row.outstanding > 0}
    failed = None
    if (
        last is not None
        and last.installment_id in unpaid
        and last.outcome
        in (
            AttemptOutcome.DECLINED,
            AttemptOutcome.NEEDS_AUTHENTICATION,
        )
    ):
        failed = {
            "outcome": last.outcome.value,
            "amount": last.amount,
            "date": last.scheduled_on,
        }
    following = plan.next_due
    return {
        "state": autopay.status.value if autopay else AutopayStatus.OFF.value,
        # Off because the card failed: said, so the borrower knows to add another.
        "card_ended": None if autopay else card_ended_autopay(database, plan.id),
        "card": autopay.card if autopay and autopay.status is AutopayStatus.ON else None,
        "next": following if following is not None and following.due_date >= today else None,
        "failed": failed,
    }


def _on_message(card: SavedCard | None) -> str:
    if card is None:
        return _("Automatic payments are on.")
    return _("Automatic payments are on: card •••• %(last4)s.", last4=card.last4)


def _to_status() -> Response:
    return redirect(url_for("borrower.status", _anchor="autopay-title"), code=303)


def _page(case: Case, form: AutopayForm | None = None, status: int = 200) -> Response:
    """The mandate page in the state the live plan's autopay is in."""
    plan = live_plan(db.session(), case)
    autopay: Autopay | None = live_autopay(db.session(), plan.id) if plan else None
    if request.method == "POST":
        g.language_repost = True  # a language switch posts the consent form again
    html = render_template(
        "borrower/autopay.html",
        plan=plan,
        autopay=autopay,
        card=autopay.card if autopay and autopay.status is AutopayStatus.ON else None,
        mandate=mandate(case, plan_rows(plan)) if plan else None,
        form=form or AutopayForm(),
        brand_name=brand_name,
    )
    return make_response(html, status)


def _unavailable() -> Response:
    return make_response(render_template("borrower/autopay_unavailable.html"), 503)


def _begin(case: Case) -> Response:
    """Start saving a card at the provider, and send the borrower to enter it."""
    try:
        setup = begin_setup(db.session(), case, g.now)
    except GatewayUnavailableError:
        return _unavailable()
    session[SETUP], session[CUSTOMER] = setup.reference, setup.customer_ref
    return redirect(setup.redirect_url, code=303)


@blueprint.get("")
@borrower_required
def page() -> Response:
    """The mandate for the live plan: what is charged and when, how to stop; the card
    and the ways to change it or turn automatic payments off."""
    return _page(g.case)


@blueprint.post("")
@borrower_required
def agree() -> Response:
    """Record the consent to the mandate as shown, then on to saving a card (unless
    one is saved already, when automatic payments are on at once)."""
    case: Case = g.case
    plan = live_plan(db.session(), case)
    if plan is None:
        return redirect(url_for("autopay.page"), code=303)
    form = AutopayForm()
    if not form.validate_on_submit():
        return _page(case, form, status=422)
    if switching_language():
        return _page(case, form)
    shown = mandate_text(mandate(case, plan_rows(plan)))
    autopay = enroll(db.session(), case, consent(shown), g.now)
    if autopay is None:
        return redirect(url_for("autopay.page"), code=303)
    if autopay.status is AutopayStatus.ON:
        flash(_on_message(autopay.card), DONE)
        return _to_status()
    return _begin(case)


@blueprint.post("/card")
@borrower_required
def change_card() -> Response:
    """Save a card (the first, or another in place of the one on file) for the
    automatic payments the borrower agreed to."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    plan = live_plan(db.session(), g.case)
    if plan is None or live_autopay(db.session(), plan.id) is None:
        # No consent to charge a card: the mandate page asks for it first.
        return redirect(url_for("autopay.page"), code=303)
    return _begin(g.case)


@blueprint.get("/card/<reference>")
@borrower_required
def card(reference: str) -> Response:
    """Stripe's Payment Element for the SetupIntent this session began."""
    if current_app.config["PAYMENT_GATEWAY"] != "stripe" or reference != session.get(SETUP):
        abort(404)
    settings = StripeSettings.from_config()
    try:
        state, secret = setup_secret(settings, reference)
    except stripe.StripeError:
        state, secret = "", ""
    if state == "succeeded":
        return redirect(url_for("autopay.returned", setup_intent=reference), code=303)
    response = make_response(
        render_template(
            "borrower/autopay_card.html",
            secret=secret,
            settings=settings,
            stripe_locale=STRIPE_LOCALES.get(str(get_locale()), "auto"),
            return_url=url_for("autopay.returned", _external=True),
        ),
        200 if secret else 503,
    )
    response.headers["Content-Security-Policy"] = stripe_policy(settings)
    return response


def _returned_reference(setup: str) -> str | None:
    """The finished setup the provider sent the borrower back with, when it is the one
    this session began: Stripe names the SetupIntent; the sandbox names the test card
    chosen for its setup, signed (``chosen_reference``)."""
    if current_app.config["PAYMENT_GATEWAY"] == "stripe":
        returned = request.args.get("setup_intent", "")
        return returned if hmac.compare_digest(returned, setup) else None
    chosen = request.args.get("setup", "")
    if setup_borrower(setup) != g.case.loan.borrower_id:
        return None
    return chosen if chosen_for(setup, chosen) else None


@blueprint.get("/return")
@borrower_required
def returned() -> Response:
    """Where the provider sends the borrower back: keep the card the setup saved, and
    automatic payments are on with it."""
    setup, customer = session.get(SETUP), session.get(CUSTOMER)
    if not isinstance(setup, str) or not isinstance(customer, str):
        # Nothing begun in this session (a reload after the card was saved): the page.
        return redirect(url_for("autopay.page"), code=303)
    reference = _returned_reference(setup)
    if reference is None:
        abort(404)
    try:
        saved = finish_setup(db.session(), g.case, customer, reference, g.now)
    except GatewayUnavailableError:
        return _unavailable()
    if saved is None:
        flash(_("Your card was not saved, and nothing was charged. You can try again."), PROBLEM)
        return redirect(url_for("autopay.page"), code=303)
    session.pop(SETUP, None)
    session.pop(CUSTOMER, None)
    flash(_on_message(saved), DONE)
    return _to_status()


@blueprint.post("/off")
@borrower_required
def off() -> Response:
    """Turn automatic payments off, at once; the saved card is removed."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if turn_off(db.session(), g.case, g.now):
        flash(_("Automatic payments are off. Nothing more will be charged to your card."), DONE)
    session.pop(SETUP, None)
    session.pop(CUSTOMER, None)
    return _to_status()
