"""My work (the agent's landing page) and Next case (routes of the ``agent`` blueprint).

My work lists what needs the agent now (``portal.cases.worklist.my_work``); a supervisor
may open any agent's with ``?agent=ID``, recorded in the audit log as a read. A flag is
cleared and a callback canceled from the page with a note: with htmx only the row is
replaced; without JavaScript the form posts and the page comes back.

Next case is a POST (a form button on My work and the queue), never a GET: it is an
action recorded in the audit log, which a prefetching browser or a link scanner must not
set off; it answers with a redirect (303) to the case page, or with a page saying why no
case may be called now and from when one may.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from babel.dates import format_datetime
from flask import Response, abort, flash, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from portal.audit import trail
from portal.cases import worklist
from portal.contact.gate import allowed_from_text, refusal_reasons
from portal.core import db
from portal.core.clock import as_utc
from portal.core.db import by_id
from portal.core.i18n import DEFAULT, gap
from portal.models import StaffMember
from portal.web.agent import blueprint
from portal.web.agent.views import WORDS, console_time
from portal.web.common.clock import console_zone
from portal.web.common.forms import Form
from portal.web.common.fragments import leave_page, respond, wants_fragment
from portal.web.common.pages import problem_html
from portal.web.staff.auth import staff_required
from portal.wording.cases import FLAG_REASONS, HOLD_NAMES

FLASH = "my-work"

GROUP_TITLES = {
    worklist.Group.CALLBACKS: _l("Callbacks due now"),
    worklist.Group.LATER_TODAY: _l("Callbacks later today"),
    worklist.Group.PROMISES_DUE: _l("Promises due today"),
    worklist.Group.PROMISES_BROKEN: _l("Promises broken"),
    worklist.Group.HOLDS: _l("Holds to review"),
    worklist.Group.SIGN_OFF: _l("Disputes awaiting your sign-off"),
    worklist.Group.FLAGGED: _l("Flagged for an agent"),
    worklist.Group.REPLIES: _l("Borrower replies"),
    worklist.Group.TOP: _l("Your cases ranked highest"),
}
GROUP_HINTS = {
    worklist.Group.CALLBACKS: _l("Due within 30 minutes, or overdue."),
    worklist.Group.REPLIES: _l(
        "What the borrower sent from the portal since the case was last worked: a dispute "
        "or hardship, evidence, or a request to be called."
    ),
    worklist.Group.TOP: _l("Most days past due first, as the queue sorts them."),
}
REPLY_NAMES = {
    worklist.Reply.HOLD: _l("Declared from the portal"),
    worklist.Reply.EVIDENCE: _l("Sent evidence"),
    worklist.Reply.CALLBACK: _l("Asked to be called"),
}
CALLBACK_SOURCES = {
    "portal": _l("Borrower, from the portal"),
    "borrower": _l("Borrower, on a call"),
    "agent": _l("Planned by an agent"),
    "strategy": _l("A call step of the contact strategy"),
}
REFUSALS = {
    "not_found": _l("That is no longer open: someone has already dealt with it."),
    "not_yours": _l("That case belongs to another agent."),
    "note_required": _l("Write a note saying what was done."),
}
STATUSES = {"not_found": 404, "not_yours": 403, "note_required": 422}
NO_CASE = {
    worklist.NoCase.NONE_OWNED: _l(
        "You own no open overdue case that may be called: none off hold and not opted out of calls."
    ),
    worklist.NoCase.NONE_NOW: _l("Nobody you own may be called now."),
}


class NoteForm(Form):
    """What was done, for clearing a flag or canceling a callback."""

    note = TextAreaField(
        _l("Note"),
        validators=[
            InputRequired(message=REFUSALS["note_required"]),
            Length(max=worklist.NOTE_LIMIT, message=_l("Write at most 1,000 characters.")),
        ],
    )


def work_time(moment: datetime) -> str:
    """A time on My work, short, in the console's zone: the day and the time."""
    shown = as_utc(moment).astimezone(console_zone())
    return format_datetime(shown, "short", locale=str(get_locale() or DEFAULT))


def _owner() -> StaffMember:
    """Whose work the page shows: the signed-in member's, or for a supervisor the agent
    named by ``?agent=``; anything else is a 404 (unknown) or 403 (not a supervisor)."""
    me: StaffMember = g.staff
    raw = (request.args.get("agent") or "").strip()
    if not raw or raw == str(me.id):
        return me
    if "supervisor" not in g.staff.role_set:
        abort(403)
    found = (
        by_id(db.session(), StaffMember, int(raw)) if re.fullmatch(r"[0-9]{1,18}", raw) else None
    )
    if found is None:
        abort(404)
    return found


WORK_WORDS = {
    "GROUP_TITLES": GROUP_TITLES,
    "GROUP_HINTS": GROUP_HINTS,
    "REPLY_NAMES": REPLY_NAMES,
    "CALLBACK_SOURCES": CALLBACK_SOURCES,
    "FLAG_REASONS": FLAG_REASONS,
    "HOLD_NAMES_ALL": HOLD_NAMES,
    "refusal_reasons": refusal_reasons,
    "work_time": work_time,
    "allowed_from_text": allowed_from_text,
}


@blueprint.get("/my-work")
@staff_required("agent")
def my_work() -> Response:
    """What needs the agent now, most pressing first; a supervisor's look at another
    agent's is recorded."""
    owner = _owner()
    database = db.session()
    work = worklist.my_work(database, owner, g.now)
    if owner.id != g.staff.id:
        trail.record_read(database, g.staff, "my_work.view", g.now, agent_id=owner.id)
    context = {
        "work": work,
        "mine": owner.id == g.staff.id,
        "form": NoteForm(formdata=None),
        "active": "agent.my_work",
        "console_time": console_time,
        **WORDS,
        **WORK_WORDS,
    }
    return respond(render_template("agent/my_work.html", **context))


def _done(kind: str, item_id: int, message: str, status: int = 200) -> WerkzeugResponse:
    """The answer to an action on a row: with htmx the row's new text; else back to My
    work with the message (or, refused, the problem page with its 4xx)."""
    if wants_fragment():
        html = render_template(
            "agent/_my_work_done.html", kind=kind, item_id=item_id, message=message
        )
        return respond(html)
    if status != 200:
        html = problem_html(
            _("That was not done"), message, url_for("agent.my_work"), _("Back to my work")
        )
        return respond(html, status)
    flash(message, FLASH)
    return leave_page(url_for("agent.my_work"))


def _with_note(
    kind: str, item_id: int, act: Callable[[str], object], done: str
) -> WerkzeugResponse:
    """A row's action that needs a note: the note checked, ``act`` called with it, and the
    row's answer (refusals in words, with their status)."""
    form = NoteForm()
    if not form.validate_on_submit():
        problems = gap().join(str(e) for errors in form.errors.values() for e in errors)
        return _done(kind, item_id, problems, 422)
    try:
        act(form.note.data or "")
    except worklist.WorkError as error:
        return _done(kind, item_id, str(REFUSALS[error.code]), STATUSES[error.code])
    return _done(kind, item_id, done)


@blueprint.post("/my-work/flags/<int:flag_id>/clear")
@staff_required("agent")
def clear_flag(flag_id: int) -> WerkzeugResponse:
    """Clear one open flag of the agent's case with a note (a case event, audited)."""
    return _with_note(
        "flag",
        flag_id,
        lambda note: worklist.clear(db.session(), g.staff, flag_id, note, g.now),
        _("Cleared, with your note."),
    )


@blueprint.post("/my-work/callbacks/<int:callback_id>/cancel")
@staff_required("agent")
def cancel_callback(callback_id: int) -> WerkzeugResponse:
    """Cancel one open callback of the agent's case with a note (a case event, audited)."""
    return _with_note(
        "callback",
        callback_id,
        lambda note: worklist.cancel(db.session(), g.staff, callback_id, note, g.now),
        _("Callback canceled, with your note."),
    )


@blueprint.post("/next-case")
@staff_required("agent")
def next_case() -> WerkzeugResponse:
    """Open the highest-priority case of the agent's that may be called now; or say why
    none may, and from when."""
    found = worklist.open_next(db.session(), g.staff, g.now)
    if found.case_id is not None:
        return leave_page(url_for("agent.case", case_id=found.case_id))
    html = render_template(
        "agent/next_case_none.html",
        found=found,
        reason=NO_CASE[found.reason or worklist.NoCase.NONE_NOW],
        active="agent.my_work",
        console_time=console_time,
    )
    return respond(html)
