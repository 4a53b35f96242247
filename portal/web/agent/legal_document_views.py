"""The legal track's documents from the case: the borrower's final notice (agents; it
issues a fresh reminder link, so it is a POST) and the draft application for a payment
order (supervisors; a read). Both are audited; a case that may not have them gets a
translated 409 naming why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, g, make_response, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.access.verification import LETTER_LINK_LIFETIME
from portal.core import db
from portal.core.db import Session
from portal.core.i18n import gap
from portal.letters.legal import (
    LEGAL_REFUSAL_TEXT,
    DrawnDocument,
    LegalDocument,
    legal_document,
    legal_refusals,
)
from portal.models import Case, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.common.pages import problem_page
from portal.web.staff.auth import staff_required


@case_section(
    55, "agent/_case_legal_documents.html", name="legal_documents", label=_l("Legal documents")
)
def legal_documents_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case page's legal documents: each one's button, or why the case may not have
    it. Everything is under ``legal_panel``."""
    return {
        "legal_panel": {
            "case": case,
            "supervisor": "supervisor" in member.role_set,
            "link_days": LETTER_LINK_LIFETIME.days,
            "notice_reasons": [
                str(LEGAL_REFUSAL_TEXT[r])
                for r in legal_refusals(database, case, moment, LegalDocument.FINAL_NOTICE)
            ],
            "application_reasons": [
                str(LEGAL_REFUSAL_TEXT[r])
                for r in legal_refusals(
                    database, case, moment, LegalDocument.PAYMENT_ORDER_APPLICATION
                )
            ],
        }
    }


def _download(case_id: int, document: LegalDocument) -> Response:
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    result = legal_document(database, case, g.staff, g.now, document)
    if not isinstance(result, DrawnDocument):
        return _refused(case, result.reasons)
    response = make_response(result.pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(case: Case, reasons: tuple[str, ...]) -> Response:
    return problem_page(
        _("This document cannot be drawn"),
        gap().join(reasons),
        url_for("agent.case", case_id=case.id, section="legal_documents"),
        _("Back to the case"),
        status=409,
    )


@blueprint.post("/cases/<int:case_id>/legal/final-notice.pdf")
@staff_required("agent")
def legal_final_notice(case_id: int) -> Response:
    """The final notice before legal action, in the borrower's language."""
    return _download(case_id, LegalDocument.FINAL_NOTICE)


@blueprint.get("/cases/<int:case_id>/legal/payment-order-application.pdf")
@staff_required("supervisor")
def legal_payment_order_application(case_id: int) -> Response:
    """The draft 支付命令聲請狀, for counsel to complete."""
    return _download(case_id, LegalDocument.PAYMENT_ORDER_APPLICATION)
