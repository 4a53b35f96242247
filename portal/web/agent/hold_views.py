"""The case page's hold section and its actions: an agent lifts a hardship (with a note)
or proposes how a dispute is resolved; a supervisor other than that agent signs it off
(maker-checker). A rejection sends the borrower an explanation in their language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, make_response, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from negotiation import Hold
from portal.cases import adjustments, evidence, holds
from portal.core import db
from portal.core.db import Session
from portal.messaging.service import send_dispute_outcome
from portal.models import AdjustmentKind, Case, DisputeResolution, HoldOutcome, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.agent.hold_forms import LiftForm, SignOffForm, propose_form
from portal.web.common.evidence import evidence_folder
from portal.web.common.fragments import respond
from portal.web.staff.auth import staff_required
from portal.wording.cases import (
    CHARGE_DESCRIPTIONS,
    CHARGE_KINDS,
    DISPUTE_REASONS,
    EVENT_ACTORS,
)

HOLD_ERRORS = {
    "no_hold": _l("The case is not on hold any more."),
    "not_dispute": _l("Only a dispute is resolved this way."),
    "not_hardship": _l("A dispute ends only when its resolution is signed off."),
    "not_proposed": _l("No resolution waits for a sign-off."),
    "already_proposed": _l("A resolution already waits for a supervisor's sign-off."),
    "same_person": _l("The agent who proposed a resolution cannot sign it off."),
    "not_supervisor": _l("Only a supervisor can sign off a resolution."),
    "note_required": _l("Say why."),
    "adjustment_not_upheld": _l("Only an upheld dispute changes what is owed."),
    "adjustment_required": _l(
        "Say what upholding changes: charges waived, installments reduced, or the case closed."
    ),
    "amount_invalid": _l("Each amount must be more than zero."),
    "unknown_item": _l("That charge or installment is not this case's."),
    "exceeds": _l("An amount is more than is owed on its charge or installment."),
    "close_alone": _l("Closing the case writes off everything: leave the amounts empty."),
    "duplicate_item": _l("Name each charge or installment once."),
    "nothing_owed": _l("Nothing is owed on the loan: there is nothing to write off."),
    "too_many": _l("Too many changes in one proposal."),
    "proposal_stale": _l(
        "What is owed changed since the proposal (a payment or a charge): send it back so "
        "the agent proposes again."
    ),
}

ADJUSTMENT_KINDS = {
    AdjustmentKind.WAIVE_CHARGE: _l("Charge waived"),
    AdjustmentKind.REDUCE_INSTALLMENT: _l("Installment reduced"),
    AdjustmentKind.WRITE_OFF: _l("Written off (case closed)"),
}

ADJUSTMENT_TARGETS = {
    "penalty": _l("Penalty"),
    "fee": _l("Fee"),
    "interest": _l("Interest"),
    "principal": _l("Principal"),
}

ADJUSTMENT_STATUSES = {
    "proposed": _l("waiting for sign-off"),
    "applied": _l("applied"),
    "withdrawn": _l("withdrawn (sent back)"),
}

OUTCOME_NAMES = {
    HoldOutcome.EXPIRED: _l("Ended on its date"),
    HoldOutcome.PLAN_AGREED: _l("Ended: a plan was agreed"),
    HoldOutcome.LIFTED: _l("Lifted by an agent"),
    HoldOutcome.UPHELD: _l("Dispute upheld"),
    HoldOutcome.REJECTED: _l("Dispute rejected"),
}

KIND_NAMES = {
    Hold.HARDSHIP: _l("Hardship (breathing space)"),
    Hold.DISPUTE: _l("Dispute"),
}

RESOLUTION_NAMES = {
    DisputeResolution.UPHELD: _l("Upheld"),
    DisputeResolution.REJECTED: _l("Rejected"),
}


def _panel(database: Session, case: Case, member: StaffMember, **forms: Any) -> dict[str, Any]:
    row = holds.standing(database, case)
    proposer = database.get(StaffMember, row.proposed_by_id) if row and row.proposed_by_id else None
    every = holds.history(database, case)
    lines = adjustments.of_holds(database, [r.id for r in every])
    loan = case.loan
    deciders = {r.proposed_by_id for r in every} | {r.signed_off_by_id for r in every}
    names = {
        i: person.email
        for i in deciders
        if i is not None and (person := database.get(StaffMember, i)) is not None
    }
    return {
        "hold_panel": {
            "case": case,
            "standing": row,
            "history": [r for r in every if r is not row],
            "proposer": proposer,
            "may_sign_off": (
                row is not None
                and proposer is not None
                and "supervisor" in member.role_set
                and proposer.id != member.id
            ),
            "lift_form": forms.get("lift_form") or LiftForm(formdata=None),
            "propose_form": forms.get("propose_form") or propose_form(case, formdata=None),
            "sign_off_form": forms.get("sign_off_form") or SignOffForm(formdata=None),
            "error": forms.get("error"),
            "outcome_names": OUTCOME_NAMES,
            "resolution_names": RESOLUTION_NAMES,
            "kind_names": KIND_NAMES,
            "reason_names": DISPUTE_REASONS,
            "actor_names": EVENT_ACTORS,
            "evidence": evidence.of_case(database, case),
            "lines": lines,
            "staff_names": names,
            "pending": [x for x in lines.get(row.id, []) if x.status == "proposed"] if row else [],
            "withdrawn": [x for x in lines.get(row.id, []) if x.status == "withdrawn"]
            if row
            else [],
            "charges": {c.id: c for c in loan.charges},
            "installments": {i.id: i for i in loan.installments},
            "currency": loan.currency,
            "adjustment_kinds": ADJUSTMENT_KINDS,
            "adjustment_targets": ADJUSTMENT_TARGETS,
            "adjustment_statuses": ADJUSTMENT_STATUSES,
            "charge_descriptions": CHARGE_DESCRIPTIONS,
            "charge_kinds": CHARGE_KINDS,
        }
    }


@case_section(60, "agent/_case_hold.html", name="holds", label=_l("Holds"))
def hold_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The standing hold (why, the borrower's own words, until when, a proposed
    resolution) with what may be done about it, and the holds before it."""
    return _panel(database, case, member)


def _back(case: Case) -> Response:
    page = url_for("agent.case", case_id=case.id, section="holds", _anchor="hold")
    return redirect(page, code=303)


def _refused(database: Session, case: Case, status: int, **forms: Any) -> Response:
    page = render_template("agent/hold_refused.html", **_panel(database, case, g.staff, **forms))
    return respond(page, status)


@blueprint.post("/cases/<int:case_id>/hold/lift")
@staff_required("agent")
def lift_hold(case_id: int) -> Response:
    """Lift a hardship's breathing space before its date, with a note."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = LiftForm()
    if not form.validate_on_submit():
        return _refused(database, case, 422, lift_form=form)
    try:
        holds.lift(database, case, g.staff, form.note.data or "", g.now)
    except holds.HoldError as error:
        return _refused(database, case, 409, error=HOLD_ERRORS[error.code])
    return _back(case)


@blueprint.post("/cases/<int:case_id>/hold/propose")
@staff_required("agent")
def propose_resolution(case_id: int) -> Response:
    """Propose how a dispute is resolved, for a supervisor to sign off."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = propose_form(case)
    if not form.validate_on_submit():
        return _refused(database, case, 422, propose_form=form)
    try:
        holds.propose(
            database,
            case,
            g.staff,
            DisputeResolution(form.resolution.data),
            form.note.data or "",
            g.now,
            form.changes(),
        )
    except holds.HoldError as error:
        return _refused(database, case, 409, error=HOLD_ERRORS[error.code])
    return _back(case)


@blueprint.post("/cases/<int:case_id>/hold/sign-off")
@staff_required("agent", "supervisor")
def sign_off_resolution(case_id: int) -> Response:
    """A supervisor signs off (or sends back) the proposed resolution, which applies an
    upheld one's changes to the books; the borrower is told the outcome in their
    language."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    form = SignOffForm()
    if not form.validate_on_submit():
        return _refused(database, case, 422, sign_off_form=form)
    try:
        row = holds.sign_off(database, case, g.staff, form.decision.data == "approve", g.now)
    except holds.HoldError as error:
        return _refused(database, case, 409, error=HOLD_ERRORS[error.code])
    if row.outcome in (HoldOutcome.REJECTED, HoldOutcome.UPHELD):
        upheld = row.outcome is HoldOutcome.UPHELD
        send_dispute_outcome(database, case, upheld=upheld, actor=g.staff, moment=g.now)
    return _back(case)


@blueprint.get("/cases/<int:case_id>/evidence/<int:evidence_id>")
@staff_required("agent")
def evidence_file(case_id: int, evidence_id: int) -> Response:
    """One file the borrower sent with their dispute, to download (never shown inline:
    a PDF or image from outside is not rendered in the console's origin); audited. Only
    for staff who may open the case page (the agent role, which supervisors hold too);
    its type is the one its first bytes proved, never sniffed, and should a browser open
    it anyway it runs sandboxed with nothing allowed."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    found = evidence.read(database, case, evidence_id, g.staff, g.now, evidence_folder())
    if found is None:
        return no_case(case_id)
    response = make_response(found.data)
    response.headers["Content-Type"] = found.evidence.content_type.value
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
    name = f"evidence-{case.id}-{found.evidence.id}.{extension[found.evidence.content_type]}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
