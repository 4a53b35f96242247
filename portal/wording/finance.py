"""The finance console's words for stored codes: statuses, gateways, purposes, where
money went, what happened to a payment, and what a reconciliation line means."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from portal.core.i18n import money, zoned_time
from portal.wording.disputes import DISPUTE_STATUSES

PAYMENT_STATUSES = {
    "created": _l("Not sent yet"),
    "pending": _l("Pending"),
    "unknown": _l("Unknown"),
    "succeeded": _l("Succeeded"),
    "failed": _l("Failed"),
    "voided": _l("Voided"),
    "mismatched": _l("Amount did not match: review"),
}

# What a payment is shown as: a succeeded one that money was taken back from says so
# (``Payment.shown_status``).
SHOWN_PAYMENT_STATUSES = {
    **PAYMENT_STATUSES,
    "refunded": _l("Refunded"),
    "partly_refunded": _l("Partly refunded"),
    "disputed": _l("Disputed by the cardholder"),
}

# The payments list's status filter: the stored statuses, any open one, and the
# succeeded payments money was taken back from.
PAYMENT_STATUS_FILTERS = {
    "open": _l("Open (created, pending or unknown)"),
    **PAYMENT_STATUSES,
    "refunded": _l("Refunded, in full or in part"),
    "disputed": _l("Disputed by the cardholder"),
}

GATEWAYS = {"sandbox": _l("Sandbox (test)"), "stripe": _l("Stripe")}

PURPOSES = {
    "installment": _l("Plan installment"),
    "arrears": _l("Overdue amount"),
    "partial": _l("Part payment"),
}

# The payments list's filter between automatic charges and payments made by hand
# (``portal.finance.reports.PAID_BY``).
PAID_BY_NAMES = {
    "automatic": _l("Automatic charges (autopay)"),
    "by_hand": _l("The borrower, by hand"),
}

ALLOCATION_TARGETS = {
    "penalty": _l("Penalties"),
    "fee": _l("Fees"),
    "interest": _l("Interest"),
    "principal": _l("Principal"),
    "credit": _l("Credit (overpaid)"),
}

# What moved the money a commission entry records (portal.models.AllocationCause).
COMMISSION_CAUSES = {
    "payment": _l("Payment"),
    "refund": _l("Refund (clawback)"),
    "dispute": _l("Chargeback"),
}

# The chart of accounts' kinds (negotiation.accounts.AccountKind), on the journals page.
ACCOUNT_KINDS = {
    "principal": _l("Principal"),
    "interest": _l("Interest"),
    "fee": _l("Fees"),
    "penalty": _l("Penalties"),
    "credit": _l("Credit (overpaid)"),
    "clearing": _l("Money at Stripe, not yet paid out"),
    "stripe_fee": _l("Stripe fees"),
    "suspense": _l("Suspense"),
    "refunds_payable": _l("Refunds payable"),
    "dispute": _l("Money held by disputes"),
    "dispute_fee": _l("Dispute fees"),
    "write_off": _l("Write-offs"),
}

# What upheld disputes forgave, by kind (portal.finance.reports.FORGIVEN_KINDS).
FORGIVEN_KINDS = {
    "waive_charge": _l("Fees and penalties waived"),
    "reduce_installment": _l("Installments reduced"),
    "write_off": _l("Balances written off (cases closed)"),
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


# Why a reconciliation run could not read Stripe (``portal.finance.reconcile.RunError``);
# the exception's own text is never stored nor shown.
RUN_ERRORS = {
    "unreachable": _l(
        "Stripe did not answer: no connection, or no answer in time. Try again later."
    ),
    "refused": _l(
        "Stripe refused our key, or the key may not read these records. Check the Stripe settings."
    ),
    "busy": _l("Stripe asked us to slow down. Try again in a few minutes."),
    "stripe_error": _l("Stripe answered with an error. Try again later."),
}
# A run stored before errors were codes: its stored text is not shown either.
UNKNOWN_RUN_ERROR = _l("Stripe could not be read.")


def run_error_sentence(code: str | None) -> str:
    """Why a failed run could not read Stripe, in the reader's language."""
    return str(RUN_ERRORS.get(code or "", UNKNOWN_RUN_ERROR))


def note_sentence(
    code: str | None,
    values: Mapping[str, object] | None,
    zone: str,
    legacy: str | None = None,
) -> str:
    """A reconciliation line's note (``portal.finance.reconcile.Note`` and its values) in
    the reader's language, amounts formatted in their currency, times on the clock of
    ``zone``. A line stored before notes were codes shows its stored ``legacy`` text."""
    if not code:
        return legacy or ""
    found = dict(values or {})

    def amount(key: str) -> str:
        return money(int(str(found.get(key, 0))), str(found.get("currency", "")))

    if code == "unmatched_type":
        return _("Stripe's “%(type)s” line: not matched automatically.", type=found.get("type"))
    if code == "not_succeeded":
        status = str(found.get("status", ""))
        return _(
            "Our payment is “%(status)s”, not succeeded.",
            status=PAYMENT_STATUSES.get(status, status),
        )
    if code == "stripe_charged":
        return _("Stripe charged %(amount)s.", amount=amount("amount"))
    if code == "refunded_in_all":
        return _("A refund: %(amount)s refunded in all.", amount=amount("amount"))
    if code == "refunds_differ":
        return _(
            "Stripe refunded %(stripe)s in all; we recorded %(ours)s.",
            stripe=amount("stripe"),
            ours=amount("ours"),
        )
    if code == "recorded_at":
        at = datetime.fromisoformat(str(found.get("at")))
        return _("Stripe recorded it at %(time)s.", time=zoned_time(at, zone))
    if code == "payout_not_paid":
        if found.get("status") == "canceled":
            return _("The payout was canceled.")
        return _("The payout failed.")
    if code in ("dispute_taken", "dispute_returned"):
        status = str(found.get("status", ""))
        named = {
            "dispute": found.get("dispute", ""),
            "status": DISPUTE_STATUSES.get(status, status),
        }
        if code == "dispute_returned":
            return _("Chargeback %(dispute)s (%(status)s): returned to us.", **named)
        return _("Chargeback %(dispute)s (%(status)s): taken back from us.", **named)
    if code == "payout_sum":
        return ngettext(
            "%(num)d transaction, net %(net)s.",
            "%(num)d transactions, net %(net)s.",
            int(str(found.get("count", 0))),
            net=amount("net"),
        )
    return str(NOTES.get(code, code))


# The notes that carry no values.
NOTES = {
    "no_payment": _l("No payment of ours has this PaymentIntent."),
    "second_charge": _l("A second charge for the same payment."),
    "refund_of_nothing": _l("A refund of no payment of ours."),
    "no_charge_at_stripe": _l("Stripe has no successful charge for this PaymentIntent."),
    "not_in_history": _l("Stripe's charge is in the period but not in its balance history."),
    "manual_payout": _l("A manual payout: Stripe ties no transactions to it."),
}


# Reconciliation exceptions and the month's close ----------------------------------------------

EXCEPTION_STATUSES = {
    "open": _l("Open"),
    "investigating": _l("Under investigation"),
    "resolved": _l("Resolved"),
    "written_off": _l("Written off"),
}

EXCEPTION_STATUS_FILTERS = {
    "active": _l("Open or under investigation"),
    **EXCEPTION_STATUSES,
    "all": _l("Every status"),
}

EXCEPTION_OWNER_FILTERS = {
    "mine": _l("Mine"),
    "nobody": _l("Nobody's yet"),
}

RESOLUTIONS = {
    "linked_to_payment": _l("Link the line to our payment"),
    "recorded_refund": _l("Record the missing refund"),
    "recorded_payment": _l("Record the missing payment"),
    "duplicate": _l("Mark it a duplicate"),
    "written_off": _l("Write off"),
}

# How a finished exception was resolved, as its page says it.
RESOLVED_AS = {
    "linked_to_payment": _l("Linked to our payment"),
    "recorded_refund": _l("Missing refund recorded"),
    "recorded_payment": _l("Missing payment recorded"),
    "duplicate": _l("A duplicate"),
    "written_off": _l("Written off"),
    "matched_later": _l("Matched by a later run"),
}

# An exception's history, one step each (``ExceptionNote.action``).
EXCEPTION_ACTIONS = {
    "opened": _l("Opened by a reconciliation run"),
    "assigned": _l("Assigned"),
    "note": _l("Note"),
    "investigating": _l("Under investigation"),
    "linked": _l("Linked to our payment"),
    "refund_recorded": _l("Missing refund recorded"),
    "payment_recorded": _l("Missing payment recorded"),
    "duplicate": _l("Marked a duplicate"),
    "written_off": _l("Written off"),
    "write_off_requested": _l("Write-off asked for: waits for a second finance member"),
    "write_off_approved": _l("Write-off approved"),
    "matched_later": _l("Matched by a later run: nothing left to do"),
}

EXCEPTION_REFUSALS = {
    "finished": _l("This exception is already resolved or written off."),
    "period_closed": _l("The month of this line is closed: reopen it first."),
    "not_finance": _l("Only an active finance member can own an exception."),
    "no_payment": _l("There is no such payment."),
    "other_currency": _l("That payment is in another currency than the line."),
    "not_applicable": _l("That resolution does not fit this line."),
    "already_recorded": _l("This has already been recorded."),
    "no_request": _l("No write-off waits for approval."),
    "same_person": _l(
        "A write-off above the limit needs another active finance member than the one who asked."
    ),
    "note_needed": _l("Write the note."),
    "pending_approval": _l("A write-off already waits for approval."),
}

CLOSE_REFUSALS = {
    "open_exceptions": _l("Exceptions of this month are still open."),
    "not_covered": _l("Completed reconciliation runs do not yet cover every day of the month."),
    "already_closed": _l("This month is already closed."),
    "not_closed": _l("This month is not closed."),
    "not_admin": _l("Only an admin can reopen a month."),
    "no_reason": _l("Say why the month is reopened."),
    "not_over": _l("The month is not over yet."),
}
