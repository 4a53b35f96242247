"""The payouts pages' words for stored codes: Stripe's payout statuses, how a deposit was
ticked off, why a statement file or a tick-off was refused
(``portal.finance.payouts``)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

# Stripe's payout statuses.
PAYOUT_STATUSES: dict[str, Any] = {
    "pending": _l("Pending at Stripe"),
    "in_transit": _l("On its way to the bank"),
    "paid": _l("Paid out"),
    "failed": _l("Failed"),
    "canceled": _l("Canceled"),
}

MATCH_METHODS: dict[str, Any] = {
    "auto": _l("Matched by the rules"),
    "manual": _l("Ticked off by hand"),
}

# Why a statement file was refused (``StatementProblem``).
STATEMENT_PROBLEMS: dict[str, Any] = {
    "empty": _l("The file is empty."),
    "too_large": _l("The file is larger than 5 MB: split the statement by month or account."),
    "unsafe": _l(
        "The file declares a document type or entities, which no bank statement does: "
        "it was not read."
    ),
    "unknown_format": _l(
        "The file is neither a camt.053 (ISO 20022 XML) nor an MT940 statement: export the "
        "account statement in one of those formats."
    ),
    "not_xml": _l("The file starts as XML but is not well-formed XML: it was not read."),
    "not_camt053": _l(
        "The file is XML but not a camt.053 bank statement: export the account statement "
        "(camt.053), not a payment file or a report."
    ),
    "bad_entry": _l(
        "An entry's amount, currency or booking date cannot be read: nothing was imported."
    ),
}

# Why a tick-off was refused (``Refusal``), and the status each answers with.
REFUSALS: dict[str, Any] = {
    "already_matched": _l("This payout is already ticked off against a bank deposit."),
    "not_paid": _l("This payout failed or was canceled: no money reached the bank."),
    "no_such_deposit": _l("There is no such bank deposit."),
    "deposit_taken": _l("That deposit is already ticked off against another payout."),
    "deposit_differs": _l("That deposit is in another currency or amount than the payout."),
    "before_payout": _l("The booking date is before Stripe made the payout."),
}
REFUSAL_STATUS = {"no_such_deposit": 404, "deposit_differs": 422, "before_payout": 422}


def statement_problem(code: str) -> str:
    """Why a statement file was refused, in the current language."""
    return str(STATEMENT_PROBLEMS.get(code, STATEMENT_PROBLEMS["not_camt053"]))


def refusal_text(code: str) -> str:
    """Why a tick-off was refused, in the current language."""
    return str(REFUSALS[code])


def refusal_status(code: str) -> int:
    """The HTTP status a refused tick-off answers with (409: the payout or deposit is
    not in a state that allows it)."""
    return REFUSAL_STATUS.get(code, 409)
