"""The words for the engine's enums: every reason, kind, stage and event, translated.

The engine returns values; this is the one place that turns them into sentences.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from negotiation import (
    EventKind,
    MoveRefusal,
    MoveWindow,
    PlanKind,
    Rejection,
    RejectionReason,
    Stage,
    TimelineEvent,
)
from portal.core import settings
from portal.core.i18n import gap, joined, long_date, market_of, money
from portal.core.i18n import phrase as _
from portal.wording.legal import MILESTONE_NAMES

STAGE_NAMES = {
    Stage.CURRENT: _l("Up to date"),
    Stage.EARLY: _l("Early stage"),
    Stage.MID: _l("Middle stage"),
    Stage.LATE: _l("Late stage"),
}

STAGE_EXPLANATIONS = {
    Stage.CURRENT: _l("Nothing is overdue on this loan."),
    Stage.EARLY: _l(
        "A payment is late. We send reminders and may call you to understand what happened."
    ),
    Stage.MID: _l(
        "Payments have been late for over a month. We will follow up by phone and may seek "
        "legal advice."
    ),
    Stage.LATE: _l(
        # The legal path differs by market (Taiwan: a payment order or a lawsuit; the
        # mainland: arbitration or a lawsuit): each catalog names its own.
        "Payments have been late for over three months. The loan may be referred for legal action."
    ),
}

KIND_NAMES = {
    PlanKind.PAY_IN_FULL: _l("Pay the overdue amount now"),
    PlanKind.DEFERRAL: _l("Promise to pay by a date"),
    PlanKind.ARREARS_PLAN: _l("Spread the overdue amount"),
    PlanKind.RESTRUCTURE: _l("Restructure the whole loan"),
    PlanKind.SETTLEMENT: _l("Settle the whole loan at a discount"),
}

KIND_EXPLANATIONS = {
    PlanKind.PAY_IN_FULL: _l("One payment today clears everything overdue."),
    PlanKind.DEFERRAL: _l(
        "Pay everything overdue in one payment on a date up to 14 days from now. "
        "Collection pauses until then."
    ),
    PlanKind.ARREARS_PLAN: _l(
        "Pay the overdue amount in parts, on top of your regular installments."
    ),
    PlanKind.RESTRUCTURE: _l(
        "Your whole remaining balance is repaid over a new term, replacing your regular "
        "installments."
    ),
    PlanKind.SETTLEMENT: _l("One payment today closes the whole loan for less than you owe."),
}

PERIOD_NAMES = {
    "monthly": _l("month"),
    "biweekly": _l("two weeks"),
    "weekly": _l("week"),
}

FREQUENCY_NAMES = {
    "monthly": _l("monthly"),
    "biweekly": _l("every two weeks"),
    "weekly": _l("weekly"),
}


def _nearest_text(rejection: Rejection, currency: str) -> str:
    nearest = rejection.nearest
    if isinstance(nearest, date):
        return long_date(nearest)
    if isinstance(nearest, Decimal):
        return f"{nearest}%"
    if isinstance(nearest, int) and rejection.reason in (
        RejectionReason.DOWN_PAYMENT_TOO_LOW,
        RejectionReason.DOWN_PAYMENT_TOO_HIGH,
    ):
        return money(nearest, currency)
    return str(nearest)


def rejection_sentence(rejection: Rejection, currency: str) -> str:
    """One refusal as a sentence, with the nearest allowed value when there is one."""
    reason = rejection.reason
    value = _nearest_text(rejection, currency) if rejection.nearest is not None else None
    R = RejectionReason  # noqa: N806 (a short alias keeps the table readable)
    if reason is R.TERM_TOO_LONG:
        if value:
            return _("That is too many installments. The most allowed is %(value)s.", value=value)
        return _("This kind of plan is not available for your loan.")
    if reason is R.TERM_TOO_SHORT:
        return _("A plan needs at least %(value)s installments.", value=value or "2")
    if reason is R.INSTALLMENT_BELOW_MINIMUM:
        if value:
            return _(
                "Each installment would be below the minimum. Choose at most %(value)s "
                "installments.",
                value=value,
            )
        return _("The amount is too small to spread over installments. Please pay it at once.")
    if reason is R.DOWN_PAYMENT_TOO_LOW:
        if value:
            return _("The first payment must be at least %(value)s.", value=value)
        return _("The amount is too small to spread over installments. Please pay it at once.")
    if reason is R.DOWN_PAYMENT_TOO_HIGH:
        if value:
            return _("The first payment can be at most %(value)s.", value=value)
        return _("The first payment would leave nothing for the other installments.")
    if reason is R.FIRST_PAYMENT_IN_PAST:
        return _(
            "The first payment date cannot be in the past. The earliest is %(value)s.", value=value
        )
    if reason is R.FIRST_PAYMENT_TOO_LATE:
        return _("The first payment date is too far away. The latest is %(value)s.", value=value)
    if reason is R.NOT_AFFORDABLE:
        if value:
            return _(
                "From what you told us, this would be hard to afford. %(value)s installments "
                "would fit your budget.",
                value=value,
            )
        return _(
            "From what you told us, no plan we can offer online fits your budget. Please "
            "tell us you cannot pay right now, and an adviser will contact you."
        )
    return str(OTHER_REASONS.get(reason, _l("This plan is not available.")))


OTHER_REASONS = {
    RejectionReason.NOTHING_OVERDUE: _l("Nothing is overdue on this loan."),
    RejectionReason.SELF_SERVICE_NOT_ALLOWED: _l(
        "At this stage, plans are arranged with an adviser. Please call us."
    ),
    RejectionReason.KIND_NOT_ALLOWED: _l("This kind of plan is not available for your loan."),
    RejectionReason.FREQUENCY_NOT_ALLOWED: _l("Payments cannot be made that often at this stage."),
    RejectionReason.TOO_MANY_RESTRUCTURES: _l(
        "This loan was restructured in the last 12 months, so it cannot be restructured again yet."
    ),
    RejectionReason.PENALTY_WAIVER_TOO_HIGH: _l("This plan is not available."),
    RejectionReason.FEE_WAIVER_TOO_HIGH: _l("This plan is not available."),
    RejectionReason.DISCOUNT_TOO_HIGH: _l("This plan is not available."),
    RejectionReason.INTEREST_RATE_TOO_LOW: _l("This plan is not available."),
}


def event_sentence(event: TimelineEvent, currency: str) -> str:
    """One dated consequence as a sentence (the date is shown beside it)."""
    kind = event.kind
    if kind is EventKind.PENALTY_ACCRUES:
        return _("A penalty of %(amount)s is added.", amount=money(event.amount or 0, currency))
    if kind is EventKind.CREDIT_REPORTED:
        # 聯徵中心 is named only where the lender reports to it: Taiwan loans, when the
        # lender says so (HAOHUAN_CREDIT_BUREAU).
        if settings.current().get("CREDIT_BUREAU") == "jcic" and market_of(currency) == "TW":
            if event.past:
                return _(
                    "From this date, the late payment can be reported to the Joint Credit "
                    "Information Center (JCIC)."
                )
            return _(
                "The late payment can be reported to the Joint Credit Information Center (JCIC)."
            )
        if event.past:
            return _("From this date, the late payment can be reported to the credit bureau.")
        return _("The late payment can be reported to the credit bureau.")
    if kind is EventKind.STAGE_CHANGES:
        stage = str(STAGE_NAMES[event.stage or Stage.LATE])
        if event.past:
            return _("Your case moved to: %(stage)s.", stage=stage)
        return _("Your case moves to: %(stage)s.", stage=stage)
    if kind is EventKind.LEGAL_REFERRAL:
        if event.past:
            return _("From this date, the loan can be referred for legal action.")
        return _("The loan may be referred for legal action.")
    if kind is EventKind.LEGAL_NOTICE_SENT:
        return _("We sent you a final notice before legal action, by post and electronically.")
    if kind is EventKind.LEGAL_NOTICE_DEADLINE:
        if event.past:
            return _("The final notice's deadline passed: legal action may go ahead.")
        return _(
            "The final notice's deadline: a payment or a plan agreed by this date stops "
            "legal action."
        )
    if kind is EventKind.LEGAL_MILESTONE and event.milestone is not None:
        return _("Legal action: %(step)s.", step=MILESTONE_NAMES[event.milestone])
    return plan_event_sentence(event, currency)


def plan_event_sentence(event: TimelineEvent, currency: str) -> str:
    """A consequence under a plan, as a sentence."""
    kind = event.kind
    texts = {
        EventKind.ON_HOLD: _("Your case is on hold: nothing escalates while we look into it."),
        EventKind.ESCALATION_PAUSED: _("Collection pauses once your first payment is made."),
        EventKind.PENALTIES_FROZEN: _("No new penalties are added while you keep to the plan."),
        EventKind.PLAN_COMPLETED: _("Your plan is complete when this payment is made."),
    }
    if kind in texts:
        return texts[kind]
    if kind is EventKind.MISSED_IF_UNPAID:
        return _(
            "If the next payment, %(amount)s, is not made by this date, it counts as missed.",
            amount=money(event.amount or 0, currency),
        )
    if kind is EventKind.PLAN_BROKEN:
        stage = str(STAGE_NAMES[event.stage or Stage.LATE])
        return _(
            "This is the earliest date on which missed payments could end the plan. Your "
            "case would then return to: %(stage)s.",
            stage=stage,
        )
    if kind is EventKind.INSTALLMENT_MOVED and event.moved_from is not None:
        return _(
            "Your payment of %(amount)s is due on this date instead of %(date)s, as you "
            "asked. Moving it costs nothing.",
            amount=money(event.amount or 0, currency),
            date=long_date(event.moved_from),
        )
    if kind is EventKind.WAIVER_REINSTATED:
        return _(
            "If the plan ends that way, the %(amount)s we waived becomes due again.",
            amount=money(event.amount or 0, currency),
        )
    return ""


# Moving one installment (negotiation.moves) ------------------------------------------

MOVE_REFUSALS = {
    MoveRefusal.NOT_OFFERED: _l(
        "Payments of this plan cannot be moved online. Please call us if you need more time."
    ),
    MoveRefusal.PLAN_NOT_ACTIVE: _l(
        "A payment can be moved once your plan has started, after its first payment."
    ),
    MoveRefusal.ALREADY_MOVED: _l(
        "You have already moved a payment of this plan, and a plan allows one move. "
        "Please call us if you need more time."
    ),
    MoveRefusal.NO_SUCH_INSTALLMENT: _l("Choose one of your plan's upcoming payments."),
    MoveRefusal.ALREADY_PAID: _l("That payment is already paid."),
    MoveRefusal.ALREADY_DUE: _l("That payment's date has passed, so it can no longer be moved."),
    MoveRefusal.NO_ROOM: _l(
        "That payment cannot be moved: your next payment is due the day after it."
    ),
}

# Refusals about the plan as a whole, shown above the form rather than beside a field.
PLAN_MOVE_REFUSALS = frozenset(
    {MoveRefusal.NOT_OFFERED, MoveRefusal.PLAN_NOT_ACTIVE, MoveRefusal.ALREADY_MOVED}
)
DATE_MOVE_REFUSALS = frozenset(
    {MoveRefusal.NOT_LATER, MoveRefusal.TOO_LATE, MoveRefusal.NOT_BEFORE_NEXT}
)


def move_range(window: MoveWindow) -> str:
    """The dates a payment may move to, as one sentence."""
    return _(
        "Choose a date from %(earliest)s to %(latest)s.",
        earliest=long_date(window.earliest),
        latest=long_date(window.latest),
    )


def move_refusal_sentence(refusal: MoveRefusal, window: MoveWindow | None) -> str:
    """A refused move as a sentence; a refused date says which dates would do."""
    if refusal in DATE_MOVE_REFUSALS and window is not None:
        if refusal is MoveRefusal.NOT_LATER:
            lead = _("The new date must be after %(date)s.", date=long_date(window.current))
        elif refusal is MoveRefusal.NOT_BEFORE_NEXT:
            lead = _("The new date must come before your next payment's date.")
        else:
            lead = _("That date is later than the plan allows.")
        return joined(lead, gap(), move_range(window))
    return str(MOVE_REFUSALS.get(refusal, MOVE_REFUSALS[MoveRefusal.NO_SUCH_INSTALLMENT]))
