"""The sandbox gateway's checkout page: the stand-in for a provider's hosted page.

Its buttons produce gateway events that go through ``events.handle``, exactly the path
a provider's webhook takes, so the rest of the portal cannot tell the difference.

Its card page stands in for the provider's card form when a card is saved for automatic
payments: the borrower picks one of the test cards (``TEST_CARDS``), and is sent back
to the portal's return page as a provider would send them.
"""

from __future__ import annotations

import secrets

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
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from portal.core import db
from portal.models import Payment, PaymentStatus
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.sandbox import TEST_CARDS, case_checkout, chosen_reference, setup_borrower
from portal.web.borrower import session as borrower_session
from portal.web.borrower.forms import ConfirmForm, SandboxCardForm
from portal.web.borrower.session import borrower_required

blueprint = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _payment(reference: str) -> Payment:
    payment = case_checkout(db.session(), g.case, reference)
    if payment is None and borrower_session.follow_payment(reference=reference):
        payment = case_checkout(db.session(), g.case, reference)
    if payment is None:
        abort(404)
    return payment


@blueprint.get("/checkout/<reference>")
@borrower_required
def checkout(reference: str) -> Response:
    """The simulated provider page: pay, or decline."""
    payment = _payment(reference)
    if payment.status != PaymentStatus.PENDING:
        return redirect(url_for("borrower.payment_result", payment_id=payment.id), code=303)
    return make_response(
        render_template("sandbox/checkout.html", payment=payment, form=ConfirmForm())
    )


@blueprint.post("/checkout/<reference>")
@borrower_required
def complete(reference: str) -> Response:
    """Simulate the provider's answer and deliver it as a gateway event."""
    payment = _payment(reference)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if payment.status != PaymentStatus.PENDING:
        # A declined, voided or already paid checkout cannot be paid again.
        return redirect(url_for("borrower.payment_result", payment_id=payment.id), code=303)
    outcome = Outcome.SUCCEEDED if request.form.get("outcome") == "succeed" else Outcome.FAILED
    event = GatewayEvent("sandbox", f"evt_{secrets.token_hex(12)}", reference, outcome)
    handle(db.session(), event, g.now)
    return redirect(url_for("borrower.payment_result", payment_id=payment.id), code=303)


# What each test card does when it is charged automatically (``TEST_CARDS``).
TEST_CARD_EFFECTS = {
    "4242": _l("Every charge succeeds."),
    "0341": _l("Every charge is declined."),
    "9995": _l("Every charge is declined: not enough money on the card."),
    "3184": _l("Every charge needs your confirmation, so it is not made automatically."),
    "0069": _l("The card has expired: the first charge turns automatic payments off."),
}


def _setup(reference: str) -> str:
    """The setup, only for the borrower it was issued for (a guessed or another
    borrower's reference gets a 404)."""
    if setup_borrower(reference) != g.case.loan.borrower_id:
        abort(404)
    return reference


def _card_form() -> SandboxCardForm:
    form = SandboxCardForm()
    form.card.choices = [SelectChoice(last4, str(TEST_CARD_EFFECTS[last4])) for last4 in TEST_CARDS]
    return form


@blueprint.get("/card/<reference>")
@borrower_required
def card(reference: str) -> Response:
    """The simulated provider's card form: pick a test card to save."""
    _setup(reference)
    form = _card_form()
    form.card.data = form.card.data or "4242"
    return make_response(render_template("sandbox/card.html", form=form, reference=reference))


@blueprint.post("/card/<reference>")
@borrower_required
def save_card(reference: str) -> Response:
    """Save the chosen test card; back to the portal as the provider would send us."""
    setup = _setup(reference)
    form = _card_form()
    if not form.validate_on_submit():
        page = render_template("sandbox/card.html", form=form, reference=reference)
        return make_response(page, 422)
    chosen = chosen_reference(setup, form.card.data or "")
    if chosen is None:
        abort(404)
    return redirect(url_for("autopay.returned", setup=chosen), code=303)
