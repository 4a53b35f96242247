"""Two-person approval for finance: a refund or a write-off above the currency's limit
(``HAOHUAN_FINANCE_APPROVAL_ABOVE``) is made only once a second finance member, never the
one who asked for it, approves it.

The rule lives here once, for every kind of money finance moves by hand; each service
keeps its own request (a refund, an exception's write-off) and asks these functions.
"""

from __future__ import annotations

from portal.core import settings as app_settings
from portal.models import StaffMember

FINANCE_ROLE = "finance"


class SamePersonError(ValueError):
    """The member approving is the one who asked, or is not an active finance member."""


def approval_limit(currency: str) -> int | None:
    """The largest amount (minor units) of ``currency`` one finance member may refund or
    write off alone; None when the currency has no limit set, so every amount needs a
    second person."""
    return app_settings.current().finance_approval_above.get(currency.upper())


def needs_second_person(amount: int, currency: str) -> bool:
    """Whether moving ``amount`` (minor units) of ``currency`` needs a second person."""
    limit = approval_limit(currency)
    return limit is None or amount > limit


def check_second_person(requested_by: int, approver: StaffMember) -> None:
    """Raise ``SamePersonError`` unless ``approver`` may approve a request made by the
    staff member ``requested_by``: another person, active, with the finance role."""
    if approver.id == requested_by:
        raise SamePersonError("the member who asked cannot approve their own request")
    if not approver.active or FINANCE_ROLE not in approver.role_set:
        raise SamePersonError("only an active finance member can approve")


__all__ = [
    "SamePersonError",
    "approval_limit",
    "check_second_person",
    "needs_second_person",
]
