"""Words for home visits: the engine's bars and refusals, the visit's statuses and the
service's refusals, in the request's language."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from negotiation.visits import VisitBar, VisitRefusal

VISIT_BARS: dict[VisitBar, Any] = {
    VisitBar.STAGE_TOO_EARLY: _l("The case is not yet in the stage the policy allows visits in."),
    VisitBar.TOO_FEW_DAYS: _l("The loan is not yet overdue long enough for a visit."),
    VisitBar.AMOUNT_TOO_SMALL: _l(
        "The overdue amount is below the policy's threshold for a visit."
    ),
    VisitBar.ON_HOLD: _l("The case is on hold: no visit while a dispute or hardship runs."),
    VisitBar.ARRANGED: _l("The borrower is keeping a plan: no visit."),
    VisitBar.VISIT_OPEN: _l("A visit is already open on this case."),
}

VISIT_REFUSALS: dict[VisitRefusal, Any] = {
    VisitRefusal.ON_HOLD: _l("The case is on hold: no visit while a dispute or hardship runs."),
    VisitRefusal.BEFORE_WINDOW: _l("That day is before the date range the notice gave."),
    VisitRefusal.AFTER_WINDOW: _l("That day is after the date range the notice gave."),
    VisitRefusal.OUTSIDE_HOURS: _l(
        "That time is outside the visiting hours in the borrower's time zone."
    ),
    VisitRefusal.BORROWER_HOURS: _l("The borrower asked not to be contacted at that time."),
    VisitRefusal.BLACKOUT_DAY: _l(
        "That day is a blackout or public holiday where the borrower lives."
    ),
}

VISIT_STATUSES: dict[str, Any] = {
    "proposed": _l("Proposed: waiting for a supervisor"),
    "approved": _l("Approved"),
    "noticed": _l("Notice sent"),
    "scheduled": _l("Scheduled"),
    "visited": _l("Visited: the borrower was met"),
    "nobody_home": _l("Visited: nobody home"),
    "cancelled": _l("Canceled"),
}

CANCEL_REASONS: dict[str, Any] = {
    "hold": _l("a hold was placed"),
    "withdrawn": _l("withdrawn by staff"),
    "plan": _l("the borrower chose a plan"),
    "paid": _l("the borrower paid what was overdue"),
}

VISIT_ERRORS: dict[str, Any] = {
    "barred": _l("A visit cannot be proposed on this case now."),
    "avoided": _l(
        "The borrower paid or chose a plan, as the notice offered: the visit is canceled."
    ),
    "not_supervisor": _l("Only a supervisor can approve a visit."),
    "same_person": _l("The agent who proposed the visit cannot approve it."),
    "wrong_status": _l("The visit is not at that step any more."),
    "on_hold": _l("The case is on hold: no visit while a dispute or hardship runs."),
    "no_notice_needed": _l("The borrower asked for this visit: no notice is owed."),
    "refused": _l("The visit cannot be set for that time."),
    "same_visitor": _l("Name two different visitors."),
    "card_required": _l("Enter each visitor's identification number."),
    "not_field": _l("Each visitor must be active field staff."),
    "not_visitor": _l("Only one of the two visitors can record the visit."),
    "said_too_long": _l("Please keep it under 4000 characters."),
    "too_many_photos": _l("At most 3 photos."),
    "photo_empty": _l("A photo was empty."),
    "photo_too_large": _l("Each photo must be under 5 MB."),
    "photo_type": _l("Send photos as JPEG or PNG."),
    "gps_without_consent": _l("The place is kept only when you tick your consent."),
    "gps_invalid": _l("The place could not be read."),
    "nobody_to_promise": _l("A promise or a plan needs the borrower to have been met."),
    "promise_or_offer": _l("Record a promise or a plan, not both."),
    "promise_out_of_bounds": _l(
        "The promise is outside what the policy allows (its date or amount)."
    ),
    "offer_refused": _l("That plan is beyond an agent's own authority: offer it from the office."),
}

NOTICE_RESULTS: dict[str, Any] = {
    "sent": _l("The written notice was sent."),
    "scheduled": _l("The written notice will go at the first moment the contact rules allow."),
    "refused": _l("The written notice could not be sent: see the reminders for why."),
    "failed": _l("The written notice could not be delivered: try again."),
}
