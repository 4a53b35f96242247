"""Chargebacks in the finance console: the disputes, those waiting for evidence first by
the date it is due, and one dispute's page with the evidence the system assembled and the
form that submits it through the payment gateway (``portal.finance.disputes``)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from portal.audit import trail
from portal.core import db
from portal.core.clock import as_utc
from portal.finance import disputes
from portal.payments.gateway import gateway
from portal.web.finance.dispute_forms import EvidenceForm
from portal.web.finance.views import _problem, blueprint
from portal.web.staff.auth import staff_required
from portal.wording.disputes import DISPUTE_REASONS, DISPUTE_STATUSES, EVIDENCE_LABELS, REFUSALS


@blueprint.context_processor
def dispute_wording() -> dict[str, Any]:
    """The chargeback pages' words for stored codes."""
    return {
        "DISPUTE_STATUS_NAMES": DISPUTE_STATUSES,
        "DISPUTE_REASON_NAMES": DISPUTE_REASONS,
        "EVIDENCE_LABELS": EVIDENCE_LABELS,
    }


@blueprint.get("/disputes")
@staff_required("finance")
def disputes_list() -> Response:
    """Every dispute: those waiting for evidence first, soonest due first."""
    database = db.session()
    lines = disputes.dispute_list(database)
    page = render_template("finance/disputes.html", lines=lines, now=g.now, as_utc=as_utc)
    # The list names borrowers: reading it is recorded.
    trail.record_read(database, g.staff, "finance.disputes.view", g.now, shown=len(lines))
    return make_response(page)


def _no_dispute(dispute_id: int) -> Response:
    return _problem(
        404,
        _("No such dispute"),
        _("There is no dispute number %(number)s.", number=dispute_id),
        "finance.disputes_list",
    )


def _dispute_page(
    found: disputes.DisputeFile, form: EvidenceForm, status: int = 200, refusal: str = ""
) -> Response:
    page = render_template(
        "finance/dispute.html",
        file=found,
        form=form,
        refusal=REFUSALS.get(refusal),
        past_due=found.dispute.evidence_due_by is not None
        and g.now > as_utc(found.dispute.evidence_due_by),
    )
    trail.record_read(
        db.session(),
        g.staff,
        "finance.dispute.view",
        g.now,
        case_id=found.case.id if found.case else None,
        dispute_id=found.dispute.id,
    )
    return make_response(page, status)


@blueprint.get("/disputes/<int:dispute_id>")
@staff_required("finance")
def dispute(dispute_id: int) -> Response:
    """One dispute: its facts, the evidence assembled (or as submitted), the form."""
    found = disputes.dispute_file(db.session(), dispute_id)
    if found is None:
        return _no_dispute(dispute_id)
    return _dispute_page(found, EvidenceForm(data=found.evidence))


@blueprint.post("/disputes/<int:dispute_id>/evidence")
@staff_required("finance")
def submit_evidence(dispute_id: int) -> ResponseReturnValue:
    """Submit the evidence as finance reviewed it; then back to the dispute."""
    database = db.session()
    found = disputes.dispute_file(database, dispute_id)
    if found is None:
        return _no_dispute(dispute_id)
    form = EvidenceForm()
    if not form.validate_on_submit():
        return _dispute_page(found, form, 422)
    try:
        disputes.submit(
            database,
            gateway(found.dispute.gateway),
            dispute_id,
            form.evidence(),
            g.staff,
            g.now,
        )
    except disputes.EvidenceRefusedError as refused:
        found = disputes.dispute_file(database, dispute_id) or found
        status = 503 if refused.reason is disputes.Refusal.UNAVAILABLE else 409
        return _dispute_page(found, form, status, refused.reason.value)
    return redirect(url_for("finance.dispute", dispute_id=dispute_id), code=303)
