"""Partner agencies in words: why an agency is refused, why an agency's offer goes
beyond the authority the lender set for it, and why a case is not placed."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.agencies.agencies import AgencyProblem, BeyondAgency
from portal.models import Agency

AGENCY_PROBLEMS: dict[AgencyProblem, Any] = {
    AgencyProblem.BAD_CODE: _l(
        "A code has 2 to 32 capital letters, digits, hyphens or underscores."
    ),
    AgencyProblem.CODE_TAKEN: _l("Another agency already has that code."),
    AgencyProblem.NO_NAME: _l("Give the agency's name."),
    AgencyProblem.BAD_RATE: _l("The commission rate is a percentage from 0 to 50."),
    AgencyProblem.INSTALLMENTS_BEYOND_POLICY: _l(
        "The installments must be from 1 to the most the policy lets an agent offer."
    ),
    AgencyProblem.PENALTY_WAIVER_BEYOND_POLICY: _l(
        "The penalty waiver cannot go beyond what the policy lets an agent waive."
    ),
    AgencyProblem.FEE_WAIVER_BEYOND_POLICY: _l(
        "The fee waiver cannot go beyond what the policy lets an agent waive."
    ),
}


def beyond_agency_sentence(reason: BeyondAgency, agency: Agency) -> str:
    """Why an agency's offer is refused, with the limit the lender set, in words."""
    if reason is BeyondAgency.INSTALLMENTS:
        return _(
            "More installments than your agency may offer: at most %(count)s.",
            count=agency.offer_max_installments,
        )
    if reason is BeyondAgency.PENALTY_WAIVER:
        return _(
            "A larger penalty waiver than your agency may offer: at most %(pct)s%%.",
            pct=agency.offer_max_penalty_waiver_pct.normalize(),
        )
    if reason is BeyondAgency.FEE_WAIVER:
        return _(
            "A larger fee waiver than your agency may offer: at most %(pct)s%%.",
            pct=agency.offer_max_fee_waiver_pct.normalize(),
        )
    if reason is BeyondAgency.SETTLEMENT_DISCOUNT:
        return _(
            "A settlement discount forgives part of the debt: only the lender's own staff "
            "may offer one."
        )
    return _("Beyond an agent's own authority: an agency's offer is never sent for approval.")


# Why a case of a segment is not placed.
NOT_PLACED: dict[str, Any] = {
    "on_hold": _l(
        "On hold (a dispute or a declared hardship): no pressure while it stands, "
        "so it stays with the lender."
    ),
    "resolved": _l("Resolved: nothing to collect."),
    "already_placed": _l("Already placed with an agency."),
}
