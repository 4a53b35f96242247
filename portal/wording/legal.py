"""The legal track's words: its milestones per market (in the market's own legal terms),
its costs, statuses, and the reasons a referral, a step or a cost is refused."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from negotiation.legal import Ineligibility, LegalCost, LegalMilestone, MilestoneRefusal
from portal.models import LegalDocumentKind, LegalTrackStatus, TrackEnd

SECTION_LABEL = _l("Legal")


def milestone_of(code: str | None) -> LegalMilestone:
    """The milestone a form's choice names (the form's choices are exactly these)."""
    return LegalMilestone(code or "")


MILESTONE_NAMES: dict[LegalMilestone, Any] = {
    LegalMilestone.DEMAND_LETTER: _l("Certified demand letter (存證信函)"),
    LegalMilestone.PAYMENT_ORDER: _l("Payment order from the district court (支付命令)"),
    LegalMilestone.FINALITY_CERTIFICATE: _l(
        "Certificate of finality: no objection within 20 days (確定證明)"
    ),
    LegalMilestone.LAWYER_LETTER: _l("Lawyer's letter"),
    LegalMilestone.ARBITRATION_FILED: _l("Arbitration application filed"),
    LegalMilestone.ARBITRAL_AWARD: _l("Arbitral award"),
    LegalMilestone.LETTER_BEFORE_ACTION: _l("Letter before action"),
    LegalMilestone.CLAIM_FILED: _l("Claim filed in court"),
    LegalMilestone.JUDGMENT: _l("Judgment"),
    LegalMilestone.ENFORCEMENT: _l("Enforcement (for example, wage garnishment)"),
}

COST_NAMES: dict[LegalCost, Any] = {
    LegalCost.COURT_FEE: _l("Court fee"),
    LegalCost.SERVICE_FEE: _l("Service and postage fee"),
    LegalCost.ENFORCEMENT_FEE: _l("Enforcement fee"),
    LegalCost.LAWYER_FEE: _l("Lawyer's fee"),
}

TRACK_STATUSES: dict[LegalTrackStatus, Any] = {
    LegalTrackStatus.REFERRED: _l("Referred: waiting for a supervisor's approval"),
    LegalTrackStatus.APPROVED: _l("Approved: the final notice is to be sent"),
    LegalTrackStatus.NOTICED: _l("Final notice sent: waiting for its deadline"),
    LegalTrackStatus.ACTIVE: _l("Under way"),
    LegalTrackStatus.PAUSED: _l("Paused while a plan is kept"),
    LegalTrackStatus.STOPPED: _l("Stopped"),
    LegalTrackStatus.CLOSED: _l("Closed"),
}

TRACK_ENDS: dict[TrackEnd, Any] = {
    TrackEnd.PAYMENT: _l("The borrower paid before the deadline"),
    TrackEnd.PLAN: _l("The borrower agreed a plan before the deadline"),
    TrackEnd.REFUSED: _l("A supervisor refused the referral"),
    TrackEnd.STAFF: _l("Stopped by staff"),
    TrackEnd.PAID: _l("The debt is paid"),
    TrackEnd.COMPLETED: _l("The path is complete"),
}

DOCUMENT_KINDS: dict[LegalDocumentKind, Any] = {
    LegalDocumentKind.FINAL_NOTICE: _l("Final notice"),
    LegalDocumentKind.PAYMENT_ORDER_APPLICATION: _l("Payment order application (聲請狀)"),
    LegalDocumentKind.COURT_ORDER: _l("Court order"),
    LegalDocumentKind.CERTIFICATE: _l("Certificate"),
    LegalDocumentKind.OTHER: _l("Other document"),
}

INELIGIBILITY: dict[Ineligibility, Any] = {
    Ineligibility.TOO_FEW_DAYS: _l("Not enough days past due for a legal referral."),
    Ineligibility.AMOUNT_TOO_LOW: _l("Less is overdue than the policy's minimum for a referral."),
    Ineligibility.NO_LEGAL_PATH: _l("The policy has no legal path for this loan's market."),
    Ineligibility.ON_HOLD: _l("The case is on hold: nothing escalates."),
    Ineligibility.PLAN_ACTIVE: _l("The borrower has a plan: collection is paused."),
}

MILESTONE_REFUSALS: dict[MilestoneRefusal, Any] = {
    MilestoneRefusal.NOT_ON_PATH: _l("That step is not on this market's path."),
    MilestoneRefusal.OUT_OF_ORDER: _l("That is not the next step of the path."),
    MilestoneRefusal.TOO_EARLY: _l("Its waiting period after the step before has not passed."),
    MilestoneRefusal.BEFORE_DEADLINE: _l("The final notice's deadline has not passed."),
    MilestoneRefusal.BEFORE_PREVIOUS: _l("It is dated before the step it follows."),
    MilestoneRefusal.IN_FUTURE: _l("It is dated in the future."),
}

LEGAL_ERRORS: dict[str, Any] = {
    "already_live": _l("The case is already on the legal track."),
    "not_eligible": _l("The case may not be referred yet."),
    "no_track": _l("The case is not on the legal track."),
    "wrong_state": _l("The legal track is not at that step any more."),
    "not_supervisor": _l("Only a supervisor can do this."),
    "same_person": _l("The person who referred the case cannot approve it."),
    "note_required": _l("Say why."),
    "no_postal_address": _l(
        "There is no postal address for this borrower, so the final notice cannot be posted."
    ),
    "gate_refused": _l("The contact rules do not allow a letter to this borrower now."),
    "milestone_refused": _l("That step cannot be recorded."),
    "amount_invalid": _l("Each amount must be more than zero."),
    "cost_not_allowed": _l(
        "The law of this market, as the policy states it, does not let that cost be "
        "added to what the borrower owes. Record it without charging it."
    ),
    "no_rules": _l("The policy has no legal rules."),
    "on_hold": _l(
        "This case is on hold (a dispute or a hardship): nothing escalates while it lasts."
    ),
}
