"""A supervisor reassigns a segment of the queue: every case the queue's current filter
matches goes to one agent, or is spread over a team's available agents, least loaded
first, with a note. The page shows how many cases would change hands before the
supervisor confirms; the segment is worked out again when they do
(``portal.cases.assignment.reassign_segment``: pinned, a case event per case, one audit
entry with the counts and the filter)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.cases import assignment
from portal.cases import queue as queue_service
from portal.core import db
from portal.core.db import Session, by_id
from portal.models import StaffMember, Team
from portal.staff import directory
from portal.web.agent import blueprint
from portal.web.agent.owner_views import NOTE_LENGTH, REFUSALS
from portal.web.common.clock import console_zone
from portal.web.common.forms import Form, GetForm
from portal.web.staff.auth import staff_required

# The queue's arguments a segment is chosen by: its filters, not its sorting or page.
NOT_SEGMENT = ("sort", "dir", "page")
FLASH = "segment"


class SegmentPreviewForm(GetForm):
    """Where the segment would go (reading changes nothing: no CSRF token)."""

    target = SelectField(_l("Give the cases to"), choices=[])


class SegmentForm(Form):
    """Where the segment goes, and why."""

    target = SelectField(_l("Give the cases to"), choices=[])
    note = TextAreaField(
        _l("Why (kept on each case's timeline)"),
        validators=[
            DataRequired(message=_l("Say why the cases change hands.")),
            Length(max=NOTE_LENGTH, message=_l("Write at most 1,000 characters.")),
        ],
    )


def _targets(database: Session) -> list[tuple[str, str]]:
    agents = [(f"agent:{m.id}", m.name) for m in assignment.assignable(database)]
    teams = [
        (f"team:{t.id}", _("Team %(name)s (least loaded first)", name=t.name))
        for t in directory.teams(database)
    ]
    return [*agents, *teams]


def _choices(database: Session) -> list[tuple[str, str]]:
    return [("", _("Choose an agent or a team")), *_targets(database)]


def _target(database: Session, value: str) -> assignment.SegmentTarget | None:
    """The agent or team a target choice names (None: no such one now)."""
    kind, _sep, number = value.partition(":")
    if not number.isdigit():
        return None
    if kind == "agent":
        member = by_id(database, StaffMember, int(number))
        return assignment.SegmentTarget([member]) if member is not None else None
    if kind == "team":
        team = by_id(database, Team, int(number))
        if team is None:
            return None
        return assignment.SegmentTarget(directory.team_agents(database, team.id), team)
    return None


def _segment(arguments: Any) -> tuple[queue_service.QueueFilter, list[str], dict[str, Any]]:
    values = {k: v for k, v in arguments.items() if k not in NOT_SEGMENT}
    chosen, problems = queue_service.parse_filter(values)
    kept: dict[str, Any] = {k: v for k, v in chosen.to_args().items() if k not in NOT_SEGMENT}
    return chosen, problems, kept


def _page(status: int = 200, **context: Any) -> Response:
    page = render_template("agent/reassign.html", active="agent.queue", **context)
    return make_response(page, status)


@blueprint.get("/reassign")
@staff_required("supervisor")
def reassign_segment() -> Response:
    """The segment (the queue's filter), where it would go, and with ``preview=1`` how
    many cases would change hands. Changes nothing."""
    database = db.session()
    chosen, problems, arguments = _segment(request.args)
    form = SegmentPreviewForm(formdata=request.args if request.args.get("target") else None)
    form.target.choices = _choices(database)
    segment = queue_service.matching_cases(chosen, g.now, console_zone())
    plan = None
    confirm = None
    if request.args.get("target") and form.validate():
        target = _target(database, form.target.data or "")
        if target is None or not target.agents:
            form.target.errors = [_("That team has no available agent: choose another.")]
        else:
            plan = assignment.plan_segment(database, segment, target)
            confirm = SegmentForm(formdata=None, target=form.target.data)
            confirm.target.choices = form.target.choices
    total = assignment.plan_segment(database, segment, assignment.SegmentTarget([])).matching
    return _page(
        form=form,
        confirm=confirm,
        arguments=arguments,
        problems=problems,
        plan=plan,
        total=total,
        queue_url=url_for("agent.queue", **arguments),
    )


@blueprint.post("/reassign")
@staff_required("supervisor")
def reassign_segment_submit() -> Response:
    """Reassign every case of the segment (worked out again now) to the chosen agent or
    team; back to the queue with the counts."""
    database = db.session()
    chosen, problems, arguments = _segment(request.form)
    form = SegmentForm()
    form.target.choices = _choices(database)
    back = url_for("agent.queue", **arguments)
    segment = queue_service.matching_cases(chosen, g.now, console_zone())
    total = assignment.plan_segment(database, segment, assignment.SegmentTarget([])).matching
    preview = SegmentPreviewForm(formdata=None, target=form.target.data)
    preview.target.choices = form.target.choices
    context = {
        "arguments": arguments,
        "problems": problems,
        "plan": None,
        "total": total,
        "form": preview,
        "confirm": form,
        "queue_url": back,
    }
    if problems or not form.validate_on_submit():
        return _page(422, **context)
    target = _target(database, form.target.data or "")
    if target is None:
        form.target.errors = [str(REFUSALS["owner_unavailable"])]
        return _page(422, **context)
    try:
        done = assignment.reassign_segment(
            database, segment, target, form.note.data or "", g.staff, g.now, arguments
        )
    except assignment.ReassignError as error:
        reason = error.reason
        form.target.errors = [
            _("That team has no available agent: choose another.")
            if reason == "team_empty"
            else str(REFUSALS.get(reason, reason))
        ]
        return _page(422, **context)
    flash(_done_words(done), FLASH)
    return redirect(back, code=303)


def _done_words(done: assignment.SegmentPlan) -> str:
    """What a segment reassignment did, in words."""
    return ngettext(
        "%(num)d case reassigned (%(unchanged)s already there, %(resolved)s resolved left alone).",
        "%(num)d cases reassigned (%(unchanged)s already there, %(resolved)s resolved left alone).",
        done.changing,
        unchanged=done.unchanged,
        resolved=done.resolved,
    )
