"""Who owns a case: the case page's owner section, and a supervisor giving one case to an
agent with a note (``portal.cases.assignment.reassign``: pinned, a case event, audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, g, make_response, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.cases import assignment
from portal.core import db
from portal.core.db import Session, by_id
from portal.models import Case, StaffMember, Team
from portal.staff import directory
from portal.web.agent import blueprint, case_section, find_case, no_case
from portal.web.common.forms import Form
from portal.web.common.pages import problem_html
from portal.web.staff.auth import staff_required

NOTE_LENGTH = 1000
FLASH = "owner"

REFUSALS: dict[str, Any] = {
    "owner_unavailable": _l("That agent is away or deactivated: choose another."),
    "already_owner": _l("That agent already owns this case."),
}


class ReassignForm(Form):
    """A supervisor's choice of owner, with the reason."""

    # Ids of their own: the case page's owner section is ``#owner`` and the call log has
    # a "note" too.
    owner = SelectField(_l("Give the case to"), coerce=str, id="reassign-owner")
    note = TextAreaField(
        _l("Why (kept on the case's timeline)"),
        validators=[
            DataRequired(message=_l("Say why the case changes hands.")),
            Length(max=NOTE_LENGTH, message=_l("Write at most 1,000 characters.")),
        ],
        id="reassign-note",
    )


def _form(database: Session) -> ReassignForm:
    """The form, its choices the members a case may be given to (on a POST, as posted)."""
    form = ReassignForm()
    form.owner.choices = [
        *((str(member.id), member.name) for member in assignment.assignable(database)),
        *(
            (f"team:{team.id}", _("Team %(name)s (least loaded first)", name=team.name))
            for team in directory.teams(database)
        ),
    ]
    return form


@case_section(90, "agent/_case_owner.html", name="owner", label=_l("Owner"))
def owner_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's owner, and for a supervisor the form that gives it to someone else."""
    owner = database.get(StaffMember, case.owner_id) if case.owner_id else None
    supervisor = "supervisor" in member.role_set
    return {
        "owner_panel": {
            "case": case,
            "owner": owner,
            "form": _form(database) if supervisor else None,
        }
    }


@blueprint.post("/cases/<int:case_id>/owner")
@staff_required("supervisor")
def reassign_case(case_id: int) -> Response:
    """Give the case to the chosen agent, with a note; back to the case page."""
    case = find_case(case_id)
    if case is None:
        return no_case(case_id)
    database = db.session()
    form = _form(database)
    back = url_for("agent.case", case_id=case.id, section="owner", _anchor="owner-section")
    if not form.validate_on_submit():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return _refused(" ".join(problems), back)
    chosen = form.owner.data or ""
    if chosen.startswith("team:"):
        return _to_team(database, case, int(chosen.removeprefix("team:")), form.note.data, back)
    owner = database.get(StaffMember, int(chosen))
    if owner is None:
        return _refused(str(REFUSALS["owner_unavailable"]), back)
    try:
        assignment.reassign(database, case, owner, form.note.data or "", g.staff, g.now)
    except assignment.ReassignError as error:
        return _refused(str(REFUSALS.get(error.reason, error.reason)), back)
    flash(_("The case now belongs to %(name)s.", name=owner.name), FLASH)
    return redirect(back, code=303)


def _to_team(database: Session, case: Case, team_id: int, note: str | None, back: str) -> Response:
    """The case to the least loaded available agent of the team."""
    team = by_id(database, Team, team_id)
    agents = directory.team_agents(database, team_id) if team is not None else []
    if team is None or not agents:
        return _refused(_("That team has no available agent: choose another."), back)
    done = assignment.reassign_to_team(
        database, case, assignment.SegmentTarget(agents, team), note or "", g.staff, g.now
    )
    if not done.changing:
        return _refused(_("The case is already with an agent of that team."), back)
    flash(_("The case now belongs to the team %(name)s.", name=team.name), FLASH)
    return redirect(back, code=303)


def _refused(message: str, back: str) -> Response:
    html = problem_html(_("The case was not reassigned"), message, back, _("Back to the case"))
    return make_response(html, 422)
