"""The sandbox gateway's checkout page: the stand-in for a provider's hosted page.

Its buttons produce gateway events that go through ``events.handle``, exactly the path
a provider's webhook takes, so the rest of the portal cannot tell the difference.
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
from werkzeug.wrappers import Response

from portal.core import db
from portal.models import Payment, PaymentStatus
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.sandbox import case_checkout
from portal.web.borrower.forms import ConfirmForm
from portal.web.borrower.session import borrower_required

blueprint = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _payment(reference: str) -> Payment:
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
