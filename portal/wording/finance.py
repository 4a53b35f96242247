"""The finance console's words for stored codes: statuses, gateways, purposes, where
money went, what happened to a payment, and what a reconciliation line means."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

PAYMENT_STATUSES = {
    "created": _l("Not sent yet"),
    "pending": _l("Pending"),
    "unknown": _l("Unknown"),
    "succeeded": _l("Succeeded"),
    "failed": _l("Failed"),
    "voided": _l("Voided"),
}

# What a payment is shown as: a succeeded one that money was taken back from says so
# (``Payment.shown_status``).
SHOWN_PAYMENT_STATUSES = {
    **PAYMENT_STATUSES,
    "refunded": _l("Refunded"),
    "partly_refunded": _l("Partly refunded"),
    "disputed": _l("Disputed"),
}

# The payments list's status filter: the stored statuses, any open one, and the
# succeeded payments money was taken back from.
PAYMENT_STATUS_FILTERS = {
    "open": _l("Open (created, pending or unknown)"),
    **PAYMENT_STATUSES,
    "refunded": _l("Refunded, in full or in part"),
    "disputed": _l("Disputed"),
}

GATEWAYS = {"sandbox": _l("Sandbox (test)"), "stripe": _l("Stripe")}

PURPOSES = {
    "installment": _l("Plan installment"),
    "arrears": _l("Overdue amount"),
    "partial": _l("Part payment"),
}

ALLOCATION_TARGETS = {
    "penalty": _l("Penalties"),
    "fee": _l("Fees"),
    "interest": _l("Interest"),
    "principal": _l("Principal"),
    "credit": _l("Credit (overpaid)"),
}

PAYMENT_EVENTS = {
    "payment_started": _l("Payment started by the borrower"),
    "payment_succeeded": _l("The gateway confirmed the payment"),
    "payment_failed": _l("The payment failed"),
    "payment_refunded": _l("Refunded"),
    "payment_disputed": _l("Dispute changed"),
}

RUN_STATUSES = {"completed": _l("Completed"), "failed": _l("Failed")}

# The order a run's lines are listed in: what a person has to look at first.
ITEM_KINDS = {
    "missing_here": _l("At Stripe but not here"),
    "missing_at_stripe": _l("Here but not at Stripe"),
    "amount_mismatch": _l("Amounts differ"),
    "payout_mismatch": _l("Payout does not add up"),
    "outside_window": _l("Belongs to another period"),
    "payout_unchecked": _l("Payout not checked"),
    "matched": _l("Matched"),
    "payout_ok": _l("Payout adds up"),
}
