"""Calls and promises to pay on the agent console: "may I call now?", the record of a
call (and the promise, hold or opt-out that came of it), and the case page's section
listing recent calls and promises. Views parse, call ``portal.contact.calls``, and render."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from werkzeug.wrappers import Response

from portal.cases import casefile
from portal.contact import calls, jurisdiction
from portal.contact.promises import promise_limits
from portal.core import db
from portal.core.db import MAX_ID, Session
from portal.core.i18n import gap
from portal.models import Case, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.call_forms import CallForm, JurisdictionForm
from portal.web.common.forms import in_currency, whole_number
from portal.web.common.fragments import respond, wants_fragment
from portal.web.staff.auth import staff_required

SECTION = "agent/_case_calls.html"
PROMISE_STATUSES = {
    "open": lazy_pgettext("promise status", "Open"),
    "kept": lazy_pgettext("promise status", "Kept"),
    "partly_kept": lazy_pgettext("promise status", "Partly kept"),
    "broken": lazy_pgettext("promise status", "Broken"),
    "superseded": _l("Replaced by a later promise"),
}


@blueprint.context_processor
def call_wording() -> dict[str, Any]:
    """The words for stored call codes, in every agent template."""
    return {
        "ANSWERER_NAMES": calls.ANSWERERS,
        "DIRECTION_NAMES": {d.value: v for d, v in calls.DIRECTIONS.items()},
        "OUTCOME_NAMES": calls.OUTCOMES,
        "PROMISE_STATUS_NAMES": PROMISE_STATUSES,
        "OPT_OUT_NAMES": {c.value: v for c, v in calls.OPT_OUT_CHANNELS.items()},
    }


def _case_url(case: Case) -> str | None:
    """The case page, once the console serves one."""
    if "agent.case" in current_app.view_functions:
        return url_for("agent.case", case_id=case.id, section="calls", _anchor="calls")
    return None


def _form_for(database: Session, case: Case, moment: datetime, *, posted: bool) -> CallForm:
    meta = in_currency(case.loan.currency)
    form = CallForm(meta=meta) if posted else CallForm(formdata=None, meta=meta)
    form.limits = promise_limits(database, case, moment)
    form.zone = ZoneInfo(case.loan.borrower.timezone)
    form.now = moment
    return form


def calls_context(
    database: Session, case: Case, moment: datetime, form: CallForm | None = None
) -> dict[str, Any]:
    """What the calls section shows, under one name (``calls_panel``) so that it
    cannot collide with another section's: may the agent call now, the form, recent
    calls and promises."""
    return {
        "calls_panel": {
            "case": case,
            "check": calls.call_check(database, case, moment),
            "form": form or _form_for(database, case, moment, posted=False),
            "limits": promise_limits(database, case, moment),
            "calls": calls.recent_calls(database, case),
            "promises": calls.recent_promises(database, case),
        }
    }


@case_section(20, SECTION, name="calls", label=_l("Calls and promises to pay"))
def calls_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case page's calls and promises."""
    return calls_context(database, case, moment)


def _calls_page(
    case: Case, status: int = 200, form: CallForm | None = None, **extra: Any
) -> Response:
    # The page shows what the borrower said on each call and their promises: a view of
    # the case, recorded as the case page and the offer builder record theirs.
    casefile.record_view(db.session(), g.staff, case, g.now, page="calls")
    context = calls_context(db.session(), case, g.now, form)
    page = render_template(
        "agent/calls.html",
        case=case,
        case_url=_case_url(case),
        calls_page=True,
        **context,
        **extra,
    )
    return make_response(page, status)


@blueprint.get("/cases/<int:case_id>/calls")
@staff_required("agent")
def case_calls(case_id: int) -> Response:
    """The case's calls and promises on a page of their own (where a logged call lands)."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    logged = None
    asked = whole_number(request.args.get("logged"), MAX_ID)
    if asked:
        # Only this case's own call: another case's id shows nothing.
        logged = calls.case_call(db.session(), case, asked)
    answered = calls.answerer_of(logged) if logged else None
    return _calls_page(case, logged=logged, third_party=answered is calls.Answerer.SOMEONE_ELSE)


@blueprint.get("/cases/<int:case_id>/calls/check")
@staff_required("agent")
def call_check(case_id: int) -> Response:
    """May I call now? Allowed, or refused with the reasons and from when it is allowed;
    with the borrower's local time. A read: nothing is written (``calls.call_check``)."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    return _call_check_page(case)


def _call_check_page(
    case: Case, status: int = 200, form: JurisdictionForm | None = None
) -> Response:
    check = calls.call_check(db.session(), case, g.now)
    template = "agent/_call_check.html" if wants_fragment() else "agent/call_check.html"
    if form is None:
        form = JurisdictionForm(formdata=None, jurisdiction=case.loan.borrower.jurisdiction)
    page = render_template(
        template, case=case, check=check, case_url=_case_url(case), jurisdiction_form=form
    )
    return respond(page, status)


@blueprint.post("/cases/<int:case_id>/jurisdiction")
@staff_required("agent")
def set_jurisdiction(case_id: int) -> Response:
    """Set where the borrower lives (a country or a US state), for the contact rules;
    audited. Back to "may I call now?", which now answers by the new rules."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = JurisdictionForm()
    if not form.validate_on_submit():
        return _call_check_page(case, 422, form)
    jurisdiction.set_jurisdiction(db.session(), case, form.jurisdiction.data, g.staff, g.now)
    return redirect(url_for("agent.call_check", case_id=case.id), code=303)


@blueprint.post("/cases/<int:case_id>/calls")
@staff_required("agent")
def log_call(case_id: int) -> Response:
    """Record a call and what came of it, if the contact rules allow the call; else say
    why not and from when, and record nothing as made."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = _form_for(database, case, g.now, posted=True)
    if not form.validate_on_submit():
        return _calls_page(case, 422, form)
    result = calls.log_call(database, case, g.staff, g.now, form.report(g.now))
    if result.verdict is calls.Verdict.REFUSED:
        page = render_template(
            "agent/call_refused.html", case=case, result=result, case_url=_case_url(case)
        )
        return make_response(page, 422)
    if result.verdict is calls.Verdict.CALLBACK_REFUSED:
        sentences = [_("The rules do not allow a call then."), *result.reasons]
        if result.allowed_from:
            sentences.append(_("Allowed from %(moment)s.", moment=result.allowed_from))
        form.callback_at.errors = [*form.callback_at.errors, gap().join(sentences)]
        return _calls_page(case, 422, form)
    logged = result.attempt.id if result.attempt else None
    return redirect(url_for("agent.case_calls", case_id=case.id, logged=logged), code=303)
