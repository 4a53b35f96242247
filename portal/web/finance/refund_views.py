"""Refunds in the finance console: the refund form on a payment's page, and the refunds
waiting for a second finance member (or to be sent again). Views parse, check access,
call one service function (``portal.finance.refunds``), and render or redirect."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.audit import trail
from portal.core import db
from portal.core.i18n import money
from portal.finance import refunds, reports
from portal.finance.refunds import RefundError, RefundProblem
from portal.models import Payment, Refund, RefundReason, RefundStatus
from portal.web.common.forms import in_currency
from portal.web.common.pages import problem_page
from portal.web.finance.refund_forms import RefundActionForm, RefundForm
from portal.web.finance.views import blueprint
from portal.web.staff.auth import staff_required
from portal.wording.refunds import (
    REFUND_PROBLEMS,
    REFUND_REASONS,
    REFUND_STATUSES,
    failure_sentence,
)

FLASH = "refunds"


@blueprint.context_processor
def refund_wording() -> dict[str, Any]:
    """The refunds' words, and the payment page's refund panel, in every finance page."""
    return {
        "REFUND_STATUS_NAMES": REFUND_STATUSES,
        "REFUND_REASON_NAMES": REFUND_REASONS,
        "refund_failure": failure_sentence,
        "refund_panel": refund_panel,
    }


def refund_panel(payment: Payment, form: RefundForm | None = None) -> dict[str, Any]:
    """What the payment page shows of refunds: the form (with what can be refunded
    filled in, and a new key, unless a sent form is shown back with its errors), the
    payment's refunds, and the buttons for them."""
    found = refunds.payment_refunds(db.session(), payment)
    if form is None:
        form = RefundForm(formdata=None, meta=in_currency(payment.currency))
        form.amount.data = found.refundable.amount
        form.reason.data = RefundReason.BORROWER_REQUEST.value
        form.key.data = refunds.new_key()
    return {"found": found, "form": form, "action_form": RefundActionForm(formdata=None)}


def _problem(status: int, heading: str, message: str, back: str) -> Response:
    return problem_page(heading, message, back, _("Back"), status)


def _no_payment(payment_id: int) -> Response:
    return _problem(
        404,
        _("No such payment"),
        _("There is no payment number %(number)s.", number=payment_id),
        url_for("finance.payments"),
    )


@blueprint.post("/payments/<int:payment_id>/refunds")
@staff_required("finance")
def request_refund(payment_id: int) -> ResponseReturnValue:
    """Ask for a refund of the payment; it is sent at once unless it needs a second
    person. The same form sent twice is one refund."""
    database = db.session()
    story = reports.payment_story(database, payment_id)
    if story is None:
        return _no_payment(payment_id)
    form = RefundForm(meta=in_currency(story.payment.currency))
    if not form.validate_on_submit():
        return _payment_page(story, form, 422)
    try:
        refund = refunds.request_refund(
            database,
            payment_id,
            form.amount.data or 0,
            RefundReason(form.reason.data),
            form.note.data or "",
            g.staff,
            form.key.data or "",
            g.now,
        )
    except RefundError as error:
        if error.problem is RefundProblem.NO_SUCH_PAYMENT:
            return _no_payment(payment_id)
        form.amount.errors = [*form.amount.errors, REFUND_PROBLEMS[error.problem.value]]
        status = 409 if error.problem is RefundProblem.NOT_SUCCEEDED else 422
        # The page again, as it is now (another refund may have been made meanwhile).
        story = reports.payment_story(database, payment_id) or story
        return _payment_page(story, form, status)
    flash(_outcome(refund), FLASH)
    return redirect(url_for("finance.payment", payment_id=payment_id), code=303)


def _payment_page(story: reports.PaymentStory, form: RefundForm, status: int) -> Response:
    page = render_template("finance/payment.html", story=story, refund_form=form)
    return make_response(page, status)


def _outcome(refund: Refund) -> str:
    """What became of a refund, in a sentence for the page it leads back to."""
    amount = money(refund.amount, refund.currency)
    if refund.status is RefundStatus.SUCCEEDED:
        return _("Refunded %(amount)s. The borrower will be told.", amount=amount)
    if refund.status is RefundStatus.AWAITING_APPROVAL:
        return _(
            "The refund of %(amount)s waits for a second finance member's approval.",
            amount=amount,
        )
    if refund.status is RefundStatus.FAILED:
        return _(
            "The refund of %(amount)s was not made: %(reason)s",
            amount=amount,
            reason=failure_sentence(refund.failure_code),
        )
    if refund.status is RefundStatus.CANCELLED:
        return _("The refund of %(amount)s is canceled.", amount=amount)
    return _(
        "The payment provider could not be reached, so the refund of %(amount)s is not made "
        "yet. Send it again in a moment.",
        amount=amount,
    )


@blueprint.get("/refunds")
@staff_required("finance")
def open_refunds() -> Response:
    """Refunds waiting for a second finance member, and any left to send again."""
    return _refunds_page()


def _refunds_page(status: int = 200, problem: str | None = None) -> Response:
    database = db.session()
    lines = refunds.open_refunds(database)
    page = render_template(
        "finance/refunds.html",
        lines=lines,
        problem=problem,
        action_form=RefundActionForm(formdata=None),
    )
    # The list names borrowers' payments: seeing it is recorded.
    trail.record_read(database, g.staff, "finance.refunds.view", g.now, shown=len(lines))
    return make_response(page, status)


def _decide(refund_id: int, action: Any) -> ResponseReturnValue:
    """Run ``action`` (approve, cancel, send again) on the refund, then go back to where
    the refund is shown; a refusal is said on the refunds page."""
    if not RefundActionForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), FLASH)
        return redirect(url_for("finance.open_refunds"), code=303)
    try:
        refund = action(db.session(), refund_id, g.staff, g.now)
    except RefundError as error:
        if error.problem is RefundProblem.NO_SUCH_REFUND:
            return _problem(
                404,
                _("No such refund"),
                _("There is no refund number %(number)s.", number=refund_id),
                url_for("finance.open_refunds"),
            )
        status = 403 if error.problem is RefundProblem.SAME_PERSON else 409
        return _refunds_page(status, str(REFUND_PROBLEMS[error.problem.value]))
    flash(_outcome(refund), FLASH)
    return redirect(url_for("finance.payment", payment_id=refund.payment_id), code=303)


@blueprint.post("/refunds/<int:refund_id>/approve")
@staff_required("finance")
def approve_refund(refund_id: int) -> ResponseReturnValue:
    """A second finance member approves the refund, and it is sent."""
    return _decide(refund_id, refunds.approve_refund)


@blueprint.post("/refunds/<int:refund_id>/cancel")
@staff_required("finance")
def cancel_refund(refund_id: int) -> ResponseReturnValue:
    """Cancel a refund still waiting for approval."""
    return _decide(refund_id, refunds.cancel_refund)


@blueprint.post("/refunds/<int:refund_id>/send")
@staff_required("finance")
def send_refund_again(refund_id: int) -> ResponseReturnValue:
    """Send again a refund the gateway could not be reached for (the same key: never a
    second refund)."""
    return _decide(refund_id, refunds.send_again)
