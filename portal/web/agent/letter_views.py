"""Printed letters from the case page: the "Print a letter" section and its route."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, g, make_response, render_template, url_for
from flask_babel import lazy_gettext as _l

from negotiation.contact import Channel
from portal.contact.gate import allowed_from_text, judge, refusal_reasons
from portal.core import db
from portal.core.db import Session
from portal.core.i18n import zoned_time
from portal.letters.service import (
    LETTER_REFUSAL_TEXT,
    PrintedLetter,
    letter_refusals,
    past_letters,
    print_letter,
)
from portal.models import Case, StaffMember
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.staff.auth import staff_required


def _case_url(case: Case) -> str | None:
    """The case page, once the console serves one."""
    if "agent.case" in current_app.view_functions:
        return url_for("agent.case", case_id=case.id, section="letters", _anchor="letters")
    return None


@case_section(50, "agent/_case_letter.html", name="letters", label=_l("Letters"))
def letter_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case page's letters: may one be printed now (and if not, why), the button,
    and the letters printed before. Everything is under ``letter_panel``."""
    zone = ZoneInfo(case.loan.borrower.timezone)
    decision = judge(database, case, Channel.LETTER, moment)
    refusals = letter_refusals(database, case, moment, member)
    reasons = [str(LETTER_REFUSAL_TEXT[r]) for r in refusals] + refusal_reasons(decision)
    return {
        "letter_panel": {
            "case": case,
            "reasons": reasons,
            "allowed_from": None if refusals else allowed_from_text(decision),
            "letters": [
                {"message": message, "local_time": zoned_time(message.created_at, str(zone))}
                for message in past_letters(database, case)
            ],
        }
    }


@blueprint.post("/cases/<int:case_id>/letter")
@staff_required("agent")
def print_case_letter(case_id: int) -> Response:
    """Print a reminder letter: the PDF to download, or why the rules refuse it."""
    database = db.session()
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    result = print_letter(database, case, g.staff, g.now)
    if not isinstance(result, PrintedLetter):
        page = render_template(
            "agent/letter_refused.html", case=case, result=result, case_url=_case_url(case)
        )
        return make_response(page, 409)
    response = make_response(result.pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response
