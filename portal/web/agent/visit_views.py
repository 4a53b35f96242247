"""The case page's home visit section and its actions: an agent proposes a visit when
the policy allows one; a supervisor other than the proposer approves it, and the written
notice goes out through the contact gate; an agent sets the day, the time and the two
field visitors inside the contact rules of the borrower's zone; anyone may withdraw it.
The photos of the notice left behind are read here, each read audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, make_response, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from portal.core import db
from portal.core.db import Session
from portal.core.i18n import long_date, zoned_time
from portal.models import OPEN_VISIT_STATUSES, Case, HomeVisit, StaffMember, VisitStatus
from portal.visits import service
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.visit_forms import (
    ApproveVisitForm,
    CancelVisitForm,
    ProposeVisitForm,
    schedule_form,
)
from portal.web.common.evidence import evidence_folder
from portal.web.common.fragments import respond
from portal.web.staff.auth import staff_required
from portal.wording.visits import (
    CANCEL_REASONS,
    NOTICE_RESULTS,
    VISIT_BARS,
    VISIT_ERRORS,
    VISIT_REFUSALS,
    VISIT_STATUSES,
)


def _panel(
    database: Session, case: Case, member: StaffMember, moment: datetime, **forms: Any
) -> dict[str, Any]:
    visits = service.case_visits(database, case)
    current = next((v for v in visits if v.status in OPEN_VISIT_STATUSES), None)
    visitors = service.field_staff(database)
    window = service.window_of(database, case, current) if current else None
    return {
        "visit_panel": {
            "case": case,
            "current": current,
            "window": window,
            "closed_days": [long_date(day) for day in window.closed_days] if window else [],
            "history": [v for v in visits if v is not current],
            "bars": [VISIT_BARS[bar] for bar in service.bars(database, case, moment)]
            if current is None
            else [],
            "names": service.names_of(database, visits),
            "photos": service.photos_of(database, [v.id for v in visits]),
            "may_approve": current is not None
            and current.status is VisitStatus.PROPOSED
            and "supervisor" in member.role_set
            and current.proposed_by_id != member.id,
            "statuses": VISIT_STATUSES,
            "cancel_reasons": CANCEL_REASONS,
            "zone": case.loan.borrower.timezone,
            "zoned": zoned_time,
            "propose_form": forms.get("propose_form") or ProposeVisitForm(formdata=None),
            "approve_form": ApproveVisitForm(formdata=None),
            "cancel_form": forms.get("cancel_form") or CancelVisitForm(formdata=None),
            "schedule_form": forms.get("schedule_form") or schedule_form(visitors, formdata=None),
            "has_visitors": len(visitors) >= 2,
            "error": forms.get("error"),
            "reasons": forms.get("reasons", []),
            "notice": forms.get("notice"),
        }
    }


@case_section(65, "agent/_case_visits.html", name="visits", label=_l("Home visit"))
def visit_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's open visit and what may be done with it, or why none may be proposed;
    then the visits before it."""
    return _panel(database, case, member, moment)


def _back(case: Case) -> Response:
    page = url_for("agent.case", case_id=case.id, section="visits", _anchor="visits")
    return redirect(page, code=303)


def _refused(database: Session, case: Case, status: int, **forms: Any) -> Response:
    page = render_template(
        "agent/visit_refused.html", **_panel(database, case, g.staff, g.now, **forms)
    )
    return respond(page, status)


def _error(database: Session, case: Case, error: service.VisitError) -> Response:
    reasons = [VISIT_BARS[bar] for bar in error.bars]
    reasons += [VISIT_REFUSALS[refusal] for refusal in error.refusals]
    return _refused(database, case, 409, error=VISIT_ERRORS[error.code], reasons=reasons)


def _case_and_visit(case_id: int, visit_id: int) -> tuple[Case | None, HomeVisit | None]:
    case = find_case(case_id)
    if case is None:
        return None, None
    return case, service.case_visit(db.session(), case, visit_id)


@blueprint.post("/cases/<int:case_id>/visits")
@staff_required("agent")
def propose_visit(case_id: int) -> Response:
    """Propose a home visit, saying why."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = ProposeVisitForm()
    if not form.validate_on_submit():
        return _refused(database, case, 422, propose_form=form)
    try:
        service.propose(database, case, g.staff, form.reason.data or "", form.agreed.data, g.now)
    except service.VisitError as error:
        return _error(database, case, error)
    return _back(case)


@blueprint.post("/cases/<int:case_id>/visits/<int:visit_id>/approve")
@staff_required("supervisor")
def approve_visit(case_id: int, visit_id: int) -> Response:
    """Approve a proposed visit (a supervisor, not its proposer); the notice goes out."""
    database = db.session()
    case, visit = _case_and_visit(case_id, visit_id)
    if case is None or visit is None:
        return no_case(case_id)
    if not ApproveVisitForm().validate_on_submit():
        return _refused(database, case, 422)
    try:
        service.approve(database, case, visit, g.staff, g.now)
    except service.VisitError as error:
        return _error(database, case, error)
    return _back(case)


@blueprint.post("/cases/<int:case_id>/visits/<int:visit_id>/notice")
@staff_required("agent")
def send_visit_notice(case_id: int, visit_id: int) -> Response:
    """Send the written notice again (after a refusal: an address added, a hold gone)."""
    database = db.session()
    case, visit = _case_and_visit(case_id, visit_id)
    if case is None or visit is None:
        return no_case(case_id)
    if not ApproveVisitForm().validate_on_submit():
        return _refused(database, case, 422)
    try:
        result = service.send_notice(database, case, visit, g.staff, g.now)
    except service.VisitError as error:
        return _error(database, case, error)
    if result.outcome.value in ("refused", "failed"):
        return _refused(database, case, 409, notice=NOTICE_RESULTS[result.outcome.value])
    return _back(case)


@blueprint.post("/cases/<int:case_id>/visits/<int:visit_id>/schedule")
@staff_required("agent")
def schedule_visit(case_id: int, visit_id: int) -> Response:
    """Set the visit's day, time and two visitors."""
    database = db.session()
    case, visit = _case_and_visit(case_id, visit_id)
    if case is None or visit is None:
        return no_case(case_id)
    form = schedule_form(service.field_staff(database))
    if not form.validate_on_submit() or form.day.data is None:
        return _refused(database, case, 422, schedule_form=form)
    at = service.local_moment(case, form.day.data, form.at.data or "")
    if at is None:
        return _refused(database, case, 422, schedule_form=form)
    visitors = (
        service.Visitor(form.visitor_one.data, form.card_one.data or ""),
        service.Visitor(form.visitor_two.data, form.card_two.data or ""),
    )
    try:
        service.schedule(database, case, visit, g.staff, at, visitors, g.now)
    except service.VisitError as error:
        return _error(database, case, error)
    return _back(case)


@blueprint.post("/cases/<int:case_id>/visits/<int:visit_id>/cancel")
@staff_required("agent")
def cancel_visit(case_id: int, visit_id: int) -> Response:
    """Withdraw an open visit, saying why."""
    database = db.session()
    case, visit = _case_and_visit(case_id, visit_id)
    if case is None or visit is None:
        return no_case(case_id)
    form = CancelVisitForm()
    if not form.validate_on_submit():
        return _refused(database, case, 422, cancel_form=form)
    try:
        service.cancel(database, case, visit, g.staff, form.note.data or "", g.now)
    except service.VisitError as error:
        return _error(database, case, error)
    return _back(case)


@blueprint.get("/cases/<int:case_id>/visits/photos/<int:photo_id>")
@staff_required("agent")
def visit_photo(case_id: int, photo_id: int) -> Response:
    """One photo of a visit's notice left at the door (the read audited)."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    found = service.read_photo(db.session(), case, photo_id, g.staff, g.now, evidence_folder())
    if found is None:
        return no_case(case_id)
    response = make_response(found.data)
    response.headers["Content-Type"] = found.photo.content_type.value
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
