"""The contact strategy, for supervisors (issue 14): the version in force, the pause
switch, each step's counts today and this week (per experiment arm), what was skipped
and why, a challenger's promotion, and the versions' history (``/agent/strategy``).

Admins see the page too (the assignment rules' pattern); pausing and promoting are a
supervisor's, each audited by ``portal.strategy.versions``. The page shows counts, no
borrower's data, so looking at it is not recorded. The switch works as a plain POST
(back to the page) and with htmx (only the switch's panel comes back); ``GET`` with
htmx answers the counts alone (``_fragment.html``), for the refresh button.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length

from negotiation.strategy import Experiment
from portal.core import db
from portal.core.i18n import gap
from portal.models import StrategySource
from portal.strategy import reporting, versions
from portal.web.agent import blueprint
from portal.web.agent.views import console_time
from portal.web.common.clock import console_today
from portal.web.common.forms import Form
from portal.web.common.fragments import respond, wants_fragment
from portal.web.staff.auth import staff_required, staff_required_any
from portal.wording import strategy as words
from portal.wording.results import RESULT_WORDS

FLASH = "strategy"
PAGE_ROLES = ("supervisor", "admin")
NOTE_LENGTH = 1000
PAUSE, RESUME = "pause", "resume"

SOURCE_NAMES: dict[str, Any] = {
    StrategySource.FILE: _l("The strategy file"),
    StrategySource.PROMOTION: _l("A challenger's promotion"),
}
PROMOTION_REFUSALS: dict[str, Any] = {
    "note": _l("Say why the challenger is promoted."),
    "conflict": _l(
        "Someone changed the strategy at the same moment: look at it again, then promote."
    ),
}
NOT_IN_FORCE = _l("That experiment or arm is not in the strategy in force.")
TOO_LONG = _l("Write at most 1,000 characters.")


class SwitchForm(Form):
    """Pause or resume: the state wanted (so a repeated POST changes nothing), and why."""

    state = HiddenField(validators=[InputRequired(), AnyOf((PAUSE, RESUME))])
    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Length(max=NOTE_LENGTH, message=TOO_LONG)],
        id="switch-note",
    )


class PromoteForm(Form):
    """A challenger arm of one experiment, and why it becomes the champion."""

    arm = RadioField(
        _l("Challenger to promote"),
        validators=[InputRequired(message=_l("Choose the challenger to promote."))],
    )
    note = TextAreaField(
        _l("Why (kept with the new version)"),
        validators=[
            DataRequired(message=PROMOTION_REFUSALS["note"]),
            Length(max=NOTE_LENGTH, message=TOO_LONG),
        ],
    )


def _file_document() -> dict[str, Any]:
    document: dict[str, Any] = current_app.extensions["haohuan.strategy_file"]
    return document


def _promote_form(experiment: Experiment, formdata: bool = False) -> PromoteForm:
    """The promotion form of ``experiment``: its challengers (never the champion) as the
    choices, its fields named by the experiment (one form per experiment on the page)."""
    prefix = f"promote-{experiment.name}"
    form = PromoteForm(prefix=prefix) if formdata else PromoteForm(formdata=None, prefix=prefix)
    form.arm.choices = [
        (arm.name, _("%(arm)s (%(weight)s%% of cases)", arm=arm.name, weight=arm.weight))
        for arm in experiment.arms
        if arm is not experiment.champion
    ]
    return form


def _context(overview: reporting.Overview) -> dict[str, Any]:
    return {
        "overview": overview,
        "report": overview.report,
        "switch": overview.switch,
        "active": "agent.strategy",
        "supervisor": "supervisor" in g.staff.role_set,
        "console_time": console_time,
        "SOURCE_NAMES": SOURCE_NAMES,
        "words": words,
        "experiments": overview.experiments,
        **RESULT_WORDS,
    }


def _page(
    status: int = 200,
    switch_form: SwitchForm | None = None,
    promote_forms: dict[str, PromoteForm] | None = None,
    problem: str | None = None,
) -> Response:
    """The page, with any form posted back with its errors, or a refusal above the forms."""
    fragment = wants_fragment() and status == 200
    overview = reporting.overview(
        db.session(), _file_document(), console_today(), g.now, with_results=not fragment
    )
    forms = dict(promote_forms or {})
    for experiment in overview.shown.strategy.experiments:
        forms.setdefault(experiment.name, _promote_form(experiment))
    context = _context(overview)
    if fragment:
        return respond(render_template("agent/strategy/_fragment.html", **context))
    html = render_template(
        "agent/strategy/index.html",
        **context,
        switch_form=switch_form or SwitchForm(formdata=None),
        promote_forms=forms,
        problem=problem,
    )
    return respond(html, status)


@blueprint.get("/strategy")
@staff_required_any(*PAGE_ROLES)
def strategy() -> Response:
    """The contact strategy and what it did today and this week."""
    return _page()


@blueprint.post("/strategy/switch")
@staff_required("supervisor")
def strategy_switch() -> Response:
    """Pause or resume the strategy (audited). Posting the state it already has changes
    nothing and says so."""
    form = SwitchForm()
    database = db.session()
    if not form.validate_on_submit():
        if wants_fragment():
            # htmx swaps only a 2xx answer: the panel comes back with the form's error.
            return _switch_fragment(form, None)
        return _page(422, switch_form=form)
    pausing = form.state.data == PAUSE
    changed = versions.set_paused(database, pausing, g.staff, g.now, form.note.data or "")
    if changed:
        message = _("The strategy is paused.") if pausing else _("The strategy runs again.")
    else:
        message = (
            _("The strategy was already paused.")
            if pausing
            else _("The strategy was already running.")
        )
    if wants_fragment():
        return _switch_fragment(SwitchForm(formdata=None), message)
    flash(message, FLASH)
    return redirect(url_for("agent.strategy"), code=303)


def _switch_fragment(form: SwitchForm, message: str | None) -> Response:
    """The switch's panel alone (what htmx swaps), with what was done or the form's error."""
    html = render_template(
        "agent/strategy/_switch.html",
        switch=versions.switch(db.session()),
        switch_form=form,
        switch_message=message,
        supervisor=True,
        console_time=console_time,
    )
    return respond(html)


@blueprint.post("/strategy/experiments/<name>/promote")
@staff_required("supervisor")
def strategy_promote(name: str) -> Response:
    """Make a challenger arm the champion: a new version, audited; the experiment ends.
    Steps already planned for cases go as planned."""
    database = db.session()
    strategy = reporting.shown(database, _file_document()).strategy
    experiment = next((e for e in strategy.experiments if e.name == name), None)
    if experiment is None:
        return _page(404, problem=str(NOT_IN_FORCE))
    form = _promote_form(experiment, formdata=True)
    if not form.validate_on_submit():
        return _page(422, promote_forms={name: form})
    arm = form.arm.data or ""
    try:
        number = versions.promote(
            database, _file_document(), name, arm, g.staff, g.now, form.note.data or ""
        )
    except versions.PromotionError as error:
        refusal = PROMOTION_REFUSALS.get(str(error), NOT_IN_FORCE)
        return _page(409 if str(error) == "conflict" else 422, problem=str(refusal))
    flash(
        _(
            "%(arm)s is the champion now: version %(number)s is in force.",
            arm=arm,
            number=number,
        )
        + gap()
        + _("Steps already planned for cases go as planned."),
        FLASH,
    )
    return redirect(url_for("agent.strategy"), code=303)
