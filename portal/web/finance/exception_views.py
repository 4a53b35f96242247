"""The finance console's reconciliation exceptions and month close, on the console's
``blueprint``: the exceptions (the viewer's first, oldest first), one exception with its
line, history and a form per action, and the month's close with what blocks it.

Views parse, check access, call one service function (``portal.finance.exceptions``,
``portal.finance.closing``) and render or redirect; a refusal is a translated page
with its 4xx status, never a 500.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.core import db
from portal.core.db import by_id
from portal.finance import closing
from portal.finance import exceptions as work
from portal.finance.reconcile import note_text
from portal.models import ReconciliationException, StaffMember
from portal.web.common.clock import finance_today
from portal.web.common.pages import problem_page
from portal.web.finance.forms import (
    ActionForm,
    AssignForm,
    CloseForm,
    ExceptionFilterForm,
    MonthForm,
    NoteForm,
    ReopenForm,
    ResolveForm,
)
from portal.web.finance.views import blueprint
from portal.web.staff.auth import staff_required
from portal.wording.finance import (
    CLOSE_REFUSALS,
    EXCEPTION_ACTIONS,
    EXCEPTION_REFUSALS,
    EXCEPTION_STATUSES,
    RESOLUTIONS,
    RESOLVED_AS,
)


@blueprint.context_processor
def exception_wording() -> dict[str, Any]:
    """The exception pages' words for stored codes."""
    return {
        "EXCEPTION_STATUS_NAMES": EXCEPTION_STATUSES,
        "RESOLUTION_NAMES": RESOLUTIONS,
        "RESOLVED_AS": RESOLVED_AS,
        "EXCEPTION_ACTION_NAMES": EXCEPTION_ACTIONS,
    }


def _not_found(number: int) -> Response:
    return problem_page(
        _("No such exception"),
        _("There is no reconciliation exception number %(number)s.", number=number),
        url_for("finance.exceptions"),
        _("Back"),
        404,
    )


def _refused(message: str, back: str, status: int = 409) -> Response:
    return problem_page(_("That could not be done"), message, back, _("Back"), status)


# The list ------------------------------------------------------------------------------------


@blueprint.get("/exceptions")
@staff_required("finance")
def exceptions() -> Response:
    """The exceptions the filters keep: the viewer's own first, then oldest first."""
    form = ExceptionFilterForm(formdata=request.args)
    valid = form.validate()
    filters = work.ExceptionFilters(
        owner=(valid and form.owner.data) or "anyone",
        status=(valid and form.status.data) or "active",
    )
    database = db.session()
    found = work.listing(database, g.staff, filters)
    owners = work.people(database, {e.owner_id for e in found if e.owner_id})
    page = render_template(
        "finance/exceptions.html", form=form, exceptions=found, owners=owners, note_text=note_text
    )
    return make_response(page, 200 if valid else 400)


# One exception ---------------------------------------------------------------------------------


def _page(
    found: ReconciliationException,
    status: int = 200,
    **forms: Any,
) -> Response:
    database = db.session()
    members = work.finance_members(database)
    named = (found.owner_id, found.write_off_by, found.approved_by, found.resolved_by)
    people = work.people(database, {who for who in named if who is not None})
    assign = forms.get("assign") or AssignForm(owner=str(found.owner_id or g.staff.id))
    page = render_template(
        "finance/exception.html",
        found=found,
        item=found.item,
        members=members,
        people=people,
        fitting=work.resolutions(found),
        amount_off=work.write_off_amount(found),
        closed=closing.closed(database, found.month) is not None,
        note_form=forms.get("note") or NoteForm(),
        assign_form=assign,
        resolve_form=forms.get("resolve") or ResolveForm(),
        action_form=ActionForm(),
        note_text=note_text,
    )
    return make_response(page, status)


def _exception(number: int) -> ReconciliationException | None:
    return by_id(db.session(), ReconciliationException, number)


@blueprint.get("/exceptions/<int:number>")
@staff_required("finance")
def exception(number: int) -> Response:
    """One exception: its line, its history, and a form for each action."""
    found = _exception(number)
    if found is None:
        return _not_found(number)
    response = _page(found)
    work.record_view(db.session(), found, g.staff, g.now)
    return response


def _done(found: ReconciliationException) -> ResponseReturnValue:
    return redirect(url_for("finance.exception", number=found.id), code=303)


def _act(number: int, action: Any) -> ResponseReturnValue:
    """Run ``action(found)`` on the exception after its CSRF-checked button; a refusal
    is explained with 409."""
    found = _exception(number)
    if found is None:
        return _not_found(number)
    if not ActionForm().validate_on_submit():
        return _page(found, 422)
    try:
        action(found)
    except work.ExceptionError as refused:
        back = url_for("finance.exception", number=number)
        return _refused(str(EXCEPTION_REFUSALS[refused.reason]), back)
    return _done(found)


@blueprint.post("/exceptions/<int:number>/take")
@staff_required("finance")
def take_exception(number: int) -> ResponseReturnValue:
    """The viewer takes the exception."""
    return _act(number, lambda found: work.assign(db.session(), found, g.staff, g.staff, g.now))


@blueprint.post("/exceptions/<int:number>/investigate")
@staff_required("finance")
def investigate_exception(number: int) -> ResponseReturnValue:
    """Mark the exception under investigation."""
    return _act(number, lambda found: work.investigate(db.session(), found, g.staff, g.now))


@blueprint.post("/exceptions/<int:number>/approve")
@staff_required("finance")
def approve_write_off(number: int) -> ResponseReturnValue:
    """A second finance member approves the write-off waiting on the exception."""
    return _act(number, lambda found: work.approve_write_off(db.session(), found, g.staff, g.now))


@blueprint.post("/exceptions/<int:number>/assign")
@staff_required("finance")
def assign_exception(number: int) -> ResponseReturnValue:
    """Give the exception to a finance member."""
    found = _exception(number)
    if found is None:
        return _not_found(number)
    form = AssignForm()
    if not form.validate_on_submit():
        return _page(found, 422, assign=form)
    owner = by_id(db.session(), StaffMember, form.owner.data or 0)
    back = url_for("finance.exception", number=number)
    if owner is None:
        return _refused(str(EXCEPTION_REFUSALS["not_finance"]), back, 422)
    try:
        work.assign(db.session(), found, owner, g.staff, g.now)
    except work.ExceptionError as refused:
        return _refused(str(EXCEPTION_REFUSALS[refused.reason]), back, 422)
    return _done(found)


@blueprint.post("/exceptions/<int:number>/note")
@staff_required("finance")
def note_exception(number: int) -> ResponseReturnValue:
    """Add a note to the exception's history."""
    found = _exception(number)
    if found is None:
        return _not_found(number)
    form = NoteForm()
    if not form.validate_on_submit():
        return _page(found, 422, note=form)
    try:
        work.add_note(db.session(), found, g.staff, form.text.data or "", g.now)
    except work.ExceptionError as refused:
        back = url_for("finance.exception", number=number)
        return _refused(str(EXCEPTION_REFUSALS[refused.reason]), back)
    return _done(found)


@blueprint.post("/exceptions/<int:number>/resolve")
@staff_required("finance")
def resolve_exception(number: int) -> ResponseReturnValue:
    """Resolve the exception by the chosen kind (a write-off above the limit waits for a
    second finance member)."""
    found = _exception(number)
    if found is None:
        return _not_found(number)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _page(found, 422, resolve=form)
    database, text = db.session(), form.why.data or ""
    try:
        match form.resolution.data:
            case "linked_to_payment":
                work.link_payment(database, found, form.payment.data or 0, g.staff, text, g.now)
            case "recorded_refund":
                work.record_refund(database, found, g.staff, g.now)
            case "recorded_payment":
                work.record_payment(database, found, g.staff, g.now)
            case "duplicate":
                work.mark_duplicate(database, found, g.staff, text, g.now)
            case _:
                work.write_off(database, found, g.staff, text, g.now)
    except work.ExceptionError as refused:
        back = url_for("finance.exception", number=number)
        status = (
            422 if refused.reason in (work.Refusal.NO_PAYMENT, work.Refusal.OTHER_CURRENCY) else 409
        )
        return _refused(str(EXCEPTION_REFUSALS[refused.reason]), back, status)
    return _done(found)


# The month's close -------------------------------------------------------------------------------


def _last_month() -> str:
    return (finance_today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def _close_page(month: str, status: int = 200, **forms: Any) -> Response:
    found = closing.state(db.session(), month, g.now)
    first_day = closing.month_start(month)
    page = render_template(
        "finance/close.html",
        state=found,
        month=month,
        first_day=first_day,
        last_day=closing.month_start(closing.next_month(month)) - timedelta(days=1),
        month_form=forms.get("month_form") or MonthForm(month=month),
        close_form=forms.get("close_form") or CloseForm(month=month),
        reopen_form=forms.get("reopen_form") or ReopenForm(month=month),
        is_admin=closing.ADMIN_ROLE in g.staff.role_set,
        refusal=forms.get("refusal"),
    )
    return make_response(page, status)


@blueprint.get("/close")
@staff_required("finance")
def month_close() -> Response:
    """A month's close (last month unless asked): closed or not, and what blocks it."""
    form = MonthForm(formdata=request.args)
    if not form.validate():
        return _close_page(_last_month(), 400, month_form=form)
    return _close_page(closing.parse_month(form.month.data or "") or _last_month())


@blueprint.post("/close")
@staff_required("finance")
def close_month() -> ResponseReturnValue:
    """Close the month's books."""
    form = CloseForm()
    if not form.validate_on_submit():
        return _close_page(_last_month(), 422, close_form=form)
    month = closing.parse_month(form.month.data or "") or _last_month()
    try:
        closing.close(db.session(), month, g.staff, g.now)
    except closing.CloseError as refused:
        return _close_page(month, 409, refusal=CLOSE_REFUSALS[refused.reason])
    return redirect(url_for("finance.month_close", month=month), code=303)


@blueprint.post("/close/reopen")
@staff_required("admin")
def reopen_month() -> ResponseReturnValue:
    """Reopen a closed month: admins only, with a reason."""
    form = ReopenForm()
    if not form.validate_on_submit():
        return _close_page(_last_month(), 422, reopen_form=form)
    month = closing.parse_month(form.month.data or "") or _last_month()
    try:
        closing.reopen(db.session(), month, g.staff, form.reason.data or "", g.now)
    except closing.CloseError as refused:
        return _close_page(month, 409, refusal=CLOSE_REFUSALS[refused.reason])
    return redirect(url_for("finance.month_close", month=month), code=303)
