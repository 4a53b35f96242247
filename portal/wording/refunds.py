"""The finance console's words for refunds: their statuses, reasons, why one is refused,
and what a gateway's refusal code means."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

REFUND_STATUSES = {
    "awaiting_approval": _l("Waiting for a second person"),
    "sending": _l("Being sent"),
    "succeeded": _l("Refunded"),
    "failed": _l("Refused by the payment provider"),
    "cancelled": _l("Canceled"),
}

REFUND_REASONS = {
    "duplicate": _l("Paid twice"),
    "overpayment": _l("Paid more than was owed"),
    "borrower_request": _l("The borrower asked, and it was agreed"),
    "paid_in_error": _l("Paid in error (wrong loan or by mistake)"),
    "goodwill": _l("Goodwill (a complaint settled)"),
    "other": _l("Other (say why in the note)"),
}

# ``portal.finance.refunds.RefundProblem``, as the console says it.
REFUND_PROBLEMS = {
    "no_such_payment": _l("This refund form is not for this payment. Open the payment again."),
    "not_succeeded": _l("Only a payment that succeeded can be refunded."),
    "not_positive": _l("Enter an amount of more than zero."),
    "too_much": _l(
        "That is more than can be refunded: no more than the payment keeps, less refunds "
        "already waiting or being sent."
    ),
    "note_needed": _l("Say why in the note when the reason is “Other”."),
    "no_such_refund": _l("There is no such refund."),
    "not_waiting": _l("This refund is no longer waiting for approval."),
    "not_sending": _l("This refund is not waiting to be sent."),
    "same_person": _l(
        "A second finance member must approve this refund: not the person who asked for it."
    ),
}

# Refusal codes a gateway gives (Stripe's own), in words; any other is shown as itself.
FAILURE_CODES = {
    "resource_missing": _l("The payment provider does not know this payment."),
    "charge_already_refunded": _l("The payment provider says it is already refunded in full."),
    "amount_too_large": _l("The payment provider says the amount is more than is left."),
    "idempotency_error": _l("The payment provider has another refund under this form's key."),
    "no_payment_intent": _l("The payment has no reference at the payment provider."),
}


def failure_sentence(code: str | None) -> str:
    """Why the gateway refused a refund, in words, with its code."""
    known = FAILURE_CODES.get(code or "")
    if known is not None:
        return _("%(text)s (%(note)s)", text=known, note=code)
    return _("The payment provider refused the refund (%(code)s).", code=code or "?")
