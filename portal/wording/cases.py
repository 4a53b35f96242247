"""The agent console's words for stored codes: a case's events, contact outcomes and
channels, case statuses, installment states, and which personal data a reveal shows."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from negotiation import Stage
from portal.core.i18n import money
from portal.models import CaseEvent
from portal.wording.engine import KIND_NAMES, STAGE_NAMES

# What happened on a case, by CaseEvent.kind. Events written by modules added later fall
# back to their code, so a new kind is never a blank line.
EVENT_NAMES: dict[str, Any] = {
    "became_overdue": _l("An installment became overdue"),
    "caught_up": _l("Nothing overdue any more"),
    "jurisdiction_set": _l("Where the borrower lives was set, for the contact rules"),
    "stage_changed": _l("Stage changed"),
    "penalty_charged": _l("Penalty charged"),
    "case_reopened": _l("Case reopened: overdue again"),
    "plan_accepted": _l("The borrower accepted a plan"),
    "legal_referred": _l("Referred for legal action"),
    "legal_approved": _l("Legal referral approved"),
    "legal_noticed": _l("Final notice before legal action sent"),
    "legal_milestone": _l("Legal milestone reached"),
    "legal_paused": _l("Legal track paused: a plan was agreed"),
    "legal_stopped": _l("Legal track stopped"),
    "legal_closed": _l("Legal track closed"),
    "plan_withdrawn": _l("The borrower withdrew an accepted plan"),
    "plan_activated": _l("Plan started: first payment made"),
    "plan_completed": _l("Plan completed"),
    "plan_installment_missed": _l("A plan installment was missed"),
    "plan_broken": _l("Plan broken"),
    "plan_lapsed": _l("Plan lapsed: first payment never made"),
    "plan_deactivated": _l("Plan paused: its payment was taken back"),
    "plan_reopened": _l("Plan reopened"),
    "installment_moved": _l("The borrower moved a plan payment"),
    "waivers_reinstated": _l("Waived amounts became due again"),
    "payment_started": _l("The borrower started a payment"),
    "payment_succeeded": _l("Payment received"),
    "payment_failed": _l("Payment failed"),
    "payment_declined": _l("Payment declined"),
    "payment_mismatched": _l("Payment held for review: the amount or currency did not match"),
    "payment_refunded": _l("Payment refunded"),
    "payment_disputed": _l("Payment disputed at the card issuer"),
    "payment_for_closed_plan": _l("Payment arrived for a plan that had ended"),
    "credit": _l("Overpayment kept as credit"),
    "hardship_declared": _l("The borrower declared hardship: case on hold"),
    "dispute_declared": _l("The borrower disputes the debt: case on hold"),
    "hold_ended": _l("The hold ended"),
    "dispute_proposed": _l("An agent proposed how to resolve the dispute"),
    "dispute_sent_back": _l("A supervisor sent the dispute's resolution back"),
    "dispute_adjusted": _l("An upheld dispute changed what is owed (signed off)"),
    "case_closed": _l("Case closed: the balance was written off"),
    "link_disabled": _l("Reminder link disabled after wrong answers"),
    "verification_locked": _l("Verification locked after wrong answers"),
    "offer_created": _l("An agent made an offer"),
    "offer_approved": _l("A supervisor approved an offer"),
    "offer_declined": _l("A supervisor declined an offer"),
    "offer_withdrawn": _l("An offer was withdrawn"),
    "offer_expired": _l("An offer expired"),
    "call_logged": _l("Call logged"),
    "call_received": _l("The borrower called"),
    "callback_requested": _l("The borrower asked to be called back"),
    "callback_done": _l("Callback made"),
    "callback_canceled": _l("Callback canceled"),
    "contact_preferences_set": _l("The borrower changed how we may contact them"),
    "chat_consent": _l("The borrower agreed to be messaged on a chat app"),
    "chat_linked": _l("The borrower linked a chat app"),
    "chat_unlinked": _l("The borrower unlinked a chat app"),
    "flag_raised": _l("Flagged for an agent"),
    "flag_cleared": _l("Flag cleared"),
    "promise_made": _l("The borrower promised to pay"),
    "promise_kept": _l("Promise to pay kept"),
    "promise_partly_kept": _l("Promise to pay partly kept"),
    "promise_broken": _l("Promise to pay broken"),
    "promise_superseded": _l("Promise to pay replaced by a new one"),
    "owner_changed": _l("Owner changed"),
    "visit_proposed": _l("A home visit was proposed"),
    "visit_approved": _l("A supervisor approved the home visit"),
    "visit_noticed": _l("The home visit's written notice was sent"),
    "visit_scheduled": _l("The home visit was scheduled"),
    "visit_recorded": _l("The home visit was recorded"),
    "visit_cancelled": _l("The home visit was canceled"),
    # Partner agencies (``portal.agencies.placement``).
    "agency_placed": _l("Placed with a partner agency"),
    "agency_recalled": _l("Recalled from a partner agency"),
    # The portal funnel's steps (``portal.reporting.funnel``), each with a device class.
    "portal_verified": _l("The borrower opened the portal"),
    "options_seen": _l("The borrower looked at the plan options"),
    "plan_reviewed": _l("The borrower reviewed a plan"),
}

EVENT_ACTORS: dict[str, Any] = {
    "borrower": _l("Borrower"),
    "agent": _l("Agent"),
    "system": _l("System"),
}

CASE_STATUSES: dict[str, Any] = {
    "open": lazy_pgettext("case status", "Open"),
    "arranged": _l("Arranged: plan active"),
    "resolved": lazy_pgettext("case status", "Resolved"),
}

HOLD_NAMES: dict[str, Any] = {
    "dispute": _l("On hold: dispute"),
    "hardship": _l("On hold: hardship"),
}

# Why a borrower disputes the debt (``DisputeReason``), beside their own words.
# Why a case asks for an agent, by CaseFlag.reason.
FLAG_REASONS: dict[str, Any] = {
    "verification_locked": _l("Locked out after wrong answers"),
    "promise_broken": _l("Promise to pay not kept"),
    "hold_placed": _l("New hold to review"),
    "hold_review": _l("Hold to review before it ends"),
    "hold_ended": _l("Hold ended by itself"),
    "borrower_request": _l("The borrower sent a request"),
    "agent": _l("Flagged by staff"),
    "letter_due": _l("The contact strategy asks for a letter"),
    "other": _l("Needs an agent"),
}

DISPUTE_REASONS: dict[str, Any] = {
    "not_mine": _l("This is not my loan"),
    "already_paid": _l("I have already paid"),
    "wrong_amount": _l("The amount is wrong"),
    "fraud": _l("Someone took this loan in my name"),
    "other": _l("Something else"),
}

STAGE_LABELS: dict[str, Any] = {stage.value: STAGE_NAMES[stage] for stage in Stage}

PLAN_KIND_NAMES: dict[str, Any] = {kind.value: name for kind, name in KIND_NAMES.items()}

PLAN_STATUS_NAMES: dict[str, Any] = {
    "pending": _l("Accepted, first payment not made"),
    "active": _l("Active"),
    "completed": _l("Completed"),
    "broken": lazy_pgettext("plan status", "Broken"),
    "lapsed": _l("Lapsed (never started)"),
    "cancelled": _l("Withdrawn by the borrower"),
}

CHANNEL_NAMES: dict[str, Any] = {
    "call": _l("Phone call"),
    "sms": _l("SMS"),
    "email": lazy_pgettext("channel", "Email"),
    "letter": _l("Letter"),
    "line": _l("LINE"),
    "wechat": _l("WeChat"),
}

# Same English as the call log's own words (portal.contact.calls), so they share translations.
CONTACT_OUTCOMES: dict[str, Any] = {
    "reached": _l("Reached, talked"),
    "refused_to_talk": _l("Refused to talk"),
    "callback": _l("Asked to be called back"),
    "promise": _l("Promised to pay"),
    "dispute": _l("Disputes the debt"),
    "hardship": _l("Declared hardship"),
    "no_answer": _l("No answer"),
    "voicemail_none": _l("No answer"),
    "wrong_number": _l("Wrong number"),
    "third_party": _l("Someone else answered: the debt was not mentioned"),
    "sent": _l("Sent"),
}

# The state of one contractual installment on the case page.
INSTALLMENT_STATES: dict[str, Any] = {
    "paid": lazy_pgettext("installment status", "Paid"),
    "waived": lazy_pgettext("installment status", "Waived"),
    "settled": _l("Paid, part waived"),
    "part_paid": _l("Partly paid"),
    "overdue": _l("Overdue"),
    "due": _l("Not yet due"),
}

PRODUCT_NAMES: dict[str, Any] = {"personal": _l("Personal loan")}

CHARGE_KINDS: dict[str, Any] = {"fee": _l("Fee"), "penalty": _l("Penalty")}
CHARGE_DESCRIPTIONS: dict[str, Any] = {
    "late_fee": _l("Late fee"),
    "default_penalty": _l("Default penalty"),
    "legal_court_fee": _l("Court fee"),
    "legal_service_fee": _l("Service and postage fee"),
    "legal_enforcement_fee": _l("Enforcement fee"),
    "legal_lawyer_fee": _l("Lawyer's fee"),
}

# What each reveal button shows, and the words for it.
REVEAL_GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("full_name",),
    "contact": ("phone", "email"),
    "address": ("postal_address",),
}
REVEAL_LABELS: dict[str, Any] = {
    "name": _l("Reveal the name"),
    "contact": _l("Reveal the phone number and email"),
    "address": _l("Reveal the postal address"),
}


def event_name(event: CaseEvent) -> str:
    """The event's kind in words (its code when no words were written for it)."""
    return str(EVENT_NAMES.get(event.kind, event.kind.replace("_", " ")))


def event_detail(event: CaseEvent, currency: str) -> str:
    """What the event's data adds, in words: the amount, the stages, the plan's kind."""
    data = event.data or {}
    parts = []
    if event.kind == "stage_changed" and data.get("to") in STAGE_LABELS:
        before = STAGE_LABELS.get(str(data.get("from")), data.get("from"))
        parts.append(
            _("%(before)s to %(after)s", before=before, after=STAGE_LABELS[str(data["to"])])
        )
    if data.get("plan_kind") in PLAN_KIND_NAMES:
        parts.append(str(PLAN_KIND_NAMES[data["plan_kind"]]))
    for key in ("amount", "total", "kept"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(money(value, currency))
            break
    version = data.get("policy_version")
    if isinstance(version, int) and not isinstance(version, bool):
        parts.append(_("Policy version %(number)d", number=version))
    if event.kind == "visit_noticed" and data.get("first"):
        parts.append(
            _("from %(before)s to %(after)s", before=data.get("first"), after=data.get("last"))
        )
    if event.kind == "installment_moved" and data.get("moved_to"):
        parts.append(
            _("from %(before)s to %(after)s", before=data.get("moved_from"), after=data["moved_to"])
        )
    return " · ".join(parts)
