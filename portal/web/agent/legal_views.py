"""The case page's legal section and its actions (issue 19): an agent refers an eligible
case; a supervisor other than that agent approves or refuses it; the final notice goes
out; each milestone of the market's path is recorded with its date, costs and documents;
a person stops or closes the track. Supervisors see the referrals awaiting approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from negotiation.legal import Ineligibility, MilestoneRefusal
from portal.core import db
from portal.core.db import Session
from portal.legal import queries, service
from portal.legal.service import LegalError
from portal.models import Case, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.legal_forms import (
    DecideForm,
    EndForm,
    MilestoneForm,
    NoticeForm,
    ReferForm,
)
from portal.web.common.forms import in_currency
from portal.web.common.fragments import respond
from portal.web.staff.auth import staff_required
from portal.wording import legal as words
from portal.wording.cases import EVENT_ACTORS

# The legal documents' downloads (``portal.letters.legal``, another branch): linked when
# the app has them.
DOCUMENT_ENDPOINTS = {
    "final_notice": "agent.legal_final_notice",
    "payment_order_app": "agent.legal_payment_order_application",
}


def _document_links(case: Case) -> dict[str, str]:
    return {
        kind: url_for(endpoint, case_id=case.id)
        for kind, endpoint in DOCUMENT_ENDPOINTS.items()
        if endpoint in current_app.view_functions
    }


def _reason_words(error: LegalError) -> list[str]:
    found = []
    for reason in error.reasons:
        if reason in set(Ineligibility):
            found.append(str(words.INELIGIBILITY[Ineligibility(reason)]))
        elif reason in set(MilestoneRefusal):
            found.append(str(words.MILESTONE_REFUSALS[MilestoneRefusal(reason)]))
    return found


def _panel(
    database: Session, case: Case, member: StaffMember, moment: datetime, **forms: Any
) -> dict[str, Any]:
    rules = service.rules()
    tracks = queries.tracks_of(database, case.id)
    live = next((t for t in tracks if t.status.value in LIVE), None)
    file = queries.track_file(database, live, rules) if live is not None else None
    ids = {t.referred_by_id for t in tracks} | {t.approved_by_id for t in tracks}
    if file is not None:
        ids |= {s.recorded_by_id for s in file.steps}
    names = {
        i: person.email
        for i in ids
        if i is not None and (person := database.get(StaffMember, i)) is not None
    }
    problems = () if live else service.referral_problems(database, case, _today(case, moment))
    milestone_form = forms.get("milestone_form") or MilestoneForm(
        formdata=None,
        meta=in_currency(case.loan.currency),
        milestone=file.next.milestone.value if file and file.next else None,
    )
    return {
        "legal": {
            "case": case,
            "live": file,
            "history": [t for t in tracks if t is not live],
            "problems": [str(words.INELIGIBILITY[p]) for p in problems],
            "may_decide": live is not None
            and live.status == "referred"
            and "supervisor" in member.role_set
            and live.referred_by_id != member.id,
            "is_supervisor": "supervisor" in member.role_set,
            "names": names,
            "currency": case.loan.currency,
            "refer_form": forms.get("refer_form") or ReferForm(formdata=None),
            "decide_form": forms.get("decide_form") or DecideForm(formdata=None),
            "notice_form": NoticeForm(formdata=None),
            "milestone_form": milestone_form,
            "end_form": forms.get("end_form") or EndForm(formdata=None),
            "error": forms.get("error"),
            "reasons": forms.get("reasons", []),
            "document_links": _document_links(case),
            "words": words,
            "actor_names": EVENT_ACTORS,
        }
    }


LIVE = ("referred", "approved", "noticed", "active", "paused")


def _today(case: Case, moment: datetime) -> Any:
    from portal.cases.overdue import borrower_today

    return borrower_today(case.loan.borrower.timezone, moment)


@case_section(65, "agent/_case_legal.html", name="legal", label=words.SECTION_LABEL)
def legal_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's legal track: where it stands, what may be done next, its steps, costs
    and documents, and the tracks before it."""
    return _panel(database, case, member, moment)


def _back(case: Case) -> Response:
    page = url_for("agent.case", case_id=case.id, section="legal", _anchor="legal")
    return redirect(page, code=303)


def _refused(database: Session, case: Case, status: int, **forms: Any) -> Response:
    page = render_template(
        "agent/legal_refused.html", **_panel(database, case, g.staff, g.now, **forms)
    )
    return respond(page, status)


def _failed(database: Session, case: Case, error: LegalError) -> Response:
    return _refused(
        database,
        case,
        409,
        error=words.LEGAL_ERRORS.get(error.code, error.code),
        reasons=_reason_words(error),
    )


def _act(
    case_id: int, form: FlaskForm, form_name: str | None, action: Callable[[Session, Case], Any]
) -> Response:
    """A legal step asked from the case page: the case (404), the form (422, shown again
    under ``form_name``), the service's one call (409 with its reasons), then back."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    if not form.validate_on_submit():
        return _refused(database, case, 422, **({form_name: form} if form_name else {}))
    try:
        action(database, case)
    except LegalError as error:
        return _failed(database, case, error)
    return _back(case)


@blueprint.post("/cases/<int:case_id>/legal/refer")
@staff_required("agent")
def legal_refer(case_id: int) -> Response:
    """Refer the case for legal action, for a supervisor to approve."""
    form = ReferForm()
    return _act(
        case_id,
        form,
        "refer_form",
        lambda database, case: service.refer(database, case, g.staff, g.now, form.note.data or ""),
    )


@blueprint.post("/cases/<int:case_id>/legal/decide")
@staff_required("agent", "supervisor")
def legal_decide(case_id: int) -> Response:
    """A supervisor other than the referring agent approves or refuses the referral."""
    form = DecideForm()

    def decide(database: Session, case: Case) -> object:
        if form.decision.data == "approve":
            return service.approve(database, case, g.staff, g.now)
        return service.refuse(database, case, g.staff, g.now, form.note.data or "")

    return _act(case_id, form, "decide_form", decide)


@blueprint.post("/cases/<int:case_id>/legal/notice")
@staff_required("agent")
def legal_notice(case_id: int) -> Response:
    """Send the approved track's final notice: the letter and an email or SMS."""
    return _act(
        case_id,
        NoticeForm(),
        None,
        lambda database, case: service.send_final_notice(database, case, g.staff, g.now),
    )


@blueprint.post("/cases/<int:case_id>/legal/milestone")
@staff_required("agent")
def legal_milestone(case_id: int) -> Response:
    """Record the next milestone with its date, costs and documents."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = MilestoneForm(meta=in_currency(case.loan.currency))
    if not form.validate_on_submit() or form.reached_on.data is None:
        return _refused(database, case, 422, milestone_form=form)
    try:
        service.record_milestone(
            database,
            case,
            g.staff,
            g.now,
            words.milestone_of(form.milestone.data),
            form.reached_on.data,
            form.note.data or "",
            form.costs(),
            form.documents(),
        )
    except LegalError as error:
        return _refused(
            database,
            case,
            409,
            milestone_form=form,
            error=words.LEGAL_ERRORS.get(error.code, error.code),
            reasons=_reason_words(error),
        )
    return _back(case)


@blueprint.post("/cases/<int:case_id>/legal/stop")
@staff_required("agent")
def legal_stop(case_id: int) -> Response:
    """Stop the live track, saying why."""
    form = EndForm()
    return _act(
        case_id,
        form,
        "end_form",
        lambda database, case: service.stop(database, case, g.staff, g.now, form.note.data or ""),
    )


@blueprint.post("/cases/<int:case_id>/legal/close")
@staff_required("agent", "supervisor")
def legal_close(case_id: int) -> Response:
    """A supervisor closes a track that has done its work."""
    form = EndForm()
    return _act(
        case_id,
        form,
        "end_form",
        lambda database, case: service.close(database, case, g.staff, g.now, form.note.data or ""),
    )


@blueprint.get("/legal/approvals")
@staff_required("agent", "supervisor")
def legal_approvals() -> Response:
    """The referrals waiting for a supervisor's approval, oldest first."""
    rows = queries.awaiting_approval(db.session())
    return respond(render_template("agent/legal_approvals.html", rows=rows))
