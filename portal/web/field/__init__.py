"""The field visitors' pages: the visits they are named on, and the phone-first form
that records one. Staff of the ``field`` role see nothing else: every case and console
page is closed to them (``staff_required`` asks for other roles), and a visit they are
not named on is not found here (404)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core import db
from portal.core.i18n import zoned_time
from portal.models import HomeVisit
from portal.visits import service
from portal.web.common.evidence import evidence_folder
from portal.web.common.fragments import respond
from portal.web.common.pages import problem_html
from portal.web.field.forms import VisitRecordForm, record_form
from portal.web.security import allow_body, csrf, csrf_exempt
from portal.web.staff.auth import staff_blueprint, staff_required
from portal.wording.visits import VISIT_ERRORS, VISIT_STATUSES

blueprint = staff_blueprint("field", __name__, url_prefix="/field")

# The photos and the rest of the form together, read before anything is parsed.
BODY = service.MAX_PHOTOS * service.MAX_PHOTO_BYTES + 64 * 1024


def _not_found() -> Response:
    page = problem_html(
        _("No such visit"),
        _("This visit is not one of yours."),
        url_for("field.visits"),
        _("Back to your visits"),
    )
    return respond(page, 404)


@blueprint.get("/visits")
@staff_required("field")
def visits() -> Response:
    """The visits the signed-in visitor is named on: the next ones first."""
    rows = service.my_visits(db.session(), g.staff, g.now)
    cases = {visit.id: service.case_of(db.session(), visit) for visit in rows}
    page = render_template(
        "field/visits.html",
        rows=rows,
        cases=cases,
        statuses=VISIT_STATUSES,
        zoned=zoned_time,
        recorded=request.args.get("recorded") == "1",
    )
    return respond(page)


def _page(
    visit: HomeVisit, form: VisitRecordForm, status: int = 200, problem: str | None = None
) -> Response:
    case = service.case_of(db.session(), visit)
    names = service.names_of(db.session(), [visit])
    page = render_template(
        "field/visit.html",
        visit=visit,
        case=case,
        form=form,
        names=names,
        zoned=zoned_time,
        problem=problem,
        statuses=VISIT_STATUSES,
        photo_limits={"count": service.MAX_PHOTOS, "size": service.MAX_PHOTO_BYTES // 2**20},
    )
    return respond(page, status)


@blueprint.get("/visits/<int:visit_id>")
@staff_required("field")
def visit(visit_id: int) -> Response:
    """One of the visitor's visits: where, when, and the form to record it (the
    borrower's name and address read: audited)."""
    found = service.assigned_visit(db.session(), g.staff, visit_id)
    if found is None:
        return _not_found()
    case = service.open_for_visitor(db.session(), found, g.staff, g.now)
    return _page(found, record_form(case.loan.currency, formdata=None))


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


@blueprint.post("/visits/<int:visit_id>")
@csrf_exempt
@staff_required("field")
def record_visit(visit_id: int) -> Response:
    """Record the visit: the outcome, what was said, a promise or a plan, the photos of
    the notice left behind, and the place only with consent. The body's size is limited
    before it is read, and the CSRF token checked once it may be."""
    allow_body(BODY)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    found = service.assigned_visit(db.session(), g.staff, visit_id)
    if found is None:
        return _not_found()
    # The page comes back with the borrower's name and address when the form is refused:
    # a read, audited as the visit's first opening is.
    case = service.open_for_visitor(db.session(), found, g.staff, g.now)
    form = record_form(case.loan.currency)
    if not form.validate():
        return _page(found, form, 422)
    photos = tuple(
        service.Photo(sent.filename or "", sent.stream.read(service.MAX_PHOTO_BYTES + 1))
        for sent in request.files.getlist("photos")
        if sent.filename
    )
    follow = form.follow_up.data
    promise = offer = None
    if follow == "promise":
        if form.promise_amount.data is None or form.promise_due.data is None:
            return _page(found, form, 422, VISIT_ERRORS["promise_out_of_bounds"])
        promise = service.PromiseGiven(form.promise_due.data, form.promise_amount.data)
    elif follow == "plan":
        if form.plan_installments.data is None or form.plan_first_due.data is None:
            return _page(found, form, 422, VISIT_ERRORS["offer_refused"])
        offer = service.OfferGiven(form.plan_installments.data, form.plan_first_due.data)
    entry = service.VisitRecord(
        met=form.outcome.data == "met",
        said=form.said.data or "",
        promise=promise,
        offer=offer,
        photos=photos,
        gps_consent=bool(form.gps_consent.data),
        latitude=_decimal(form.latitude.data),
        longitude=_decimal(form.longitude.data),
    )
    try:
        service.record(db.session(), found, g.staff, entry, g.now, evidence_folder())
    except service.VisitError as error:
        return _page(found, form, 422, VISIT_ERRORS[error.code])
    return redirect(url_for("field.visits", recorded=1), code=303)
