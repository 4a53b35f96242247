"""The chargeback pages' words for stored codes: a dispute's status, Stripe's reason
codes, the evidence fields, and why evidence was not submitted."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DISPUTE_STATUSES = {
    "warning_needs_response": _l("Inquiry: answer needed"),
    "warning_under_review": _l("Inquiry: under review"),
    "warning_closed": _l("Inquiry closed"),
    "needs_response": _l("Evidence needed"),
    "under_review": _l("Under the bank's review"),
    "won": _l("Won"),
    "lost": _l("Lost"),
    "prevented": _l("Prevented"),
}

# Stripe's reason codes (https://docs.stripe.com/disputes/categories); another code is
# shown as itself.
DISPUTE_REASONS = {
    "bank_cannot_process": _l("The bank cannot process it"),
    "check_returned": _l("Check returned"),
    "credit_not_processed": _l("Refund not processed"),
    "customer_initiated": _l("Started by the cardholder"),
    "debit_not_authorized": _l("Debit not authorized"),
    "duplicate": _l("Duplicate charge"),
    "fraudulent": _l("Fraudulent: not made by the cardholder"),
    "general": _l("General"),
    "incorrect_account_details": _l("Wrong account details"),
    "insufficient_funds": _l("Insufficient funds"),
    "noncompliant": _l("Not compliant with network rules"),
    "product_not_received": _l("Service not received"),
    "product_unacceptable": _l("Service not acceptable"),
    "subscription_canceled": _l("Subscription canceled"),
    "unrecognized": _l("Charge not recognized"),
}

EVIDENCE_LABELS = {
    "customer_name": _l("Cardholder's name"),
    "customer_email_address": _l("Cardholder's email address"),
    "customer_purchase_ip": _l("IP address the plan was accepted from"),
    "service_date": _l("Date of the payment (YYYY-MM-DD)"),
    "product_description": _l("What the payment was for"),
    "access_activity_log": _l("The borrower's consent, as recorded"),
    "uncategorized_text": _l("The plan, the payments and the messages sent"),
}

REFUSALS = {
    "closed": _l("This dispute is not waiting for evidence any more."),
    "submitted": _l("Evidence for this dispute was submitted already: it can be sent once."),
    "past_due": _l("The evidence was due before now: it can no longer be submitted."),
    "refused": _l("The payment provider refused the evidence. Check the dispute there."),
    "unavailable": _l("The payment provider could not be reached. Nothing was sent: try again."),
}
