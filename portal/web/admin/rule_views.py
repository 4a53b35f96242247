"""The assignment rules, for supervisors and admins: the rules in the order they decide,
each with the agents it feeds; a new rule, a changed one, one deactivated; and "run
assignment now", the service ``haohuan cases assign`` runs. Every change is audited by
``portal.cases.assignment``."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.cases import assignment
from portal.core import db
from portal.core.currency import minor_per_major
from portal.core.db import by_id
from portal.core.i18n import NAMES, listed
from portal.models import AssignmentRule, StaffMember
from portal.staff import directory
from portal.web.admin import blueprint
from portal.web.admin.rule_forms import RuleForm
from portal.web.admin.staff_forms import ConfirmForm, team_choices
from portal.web.common.pages import problem_page
from portal.web.staff.auth import staff_required_any
from portal.wording.engine import STAGE_NAMES

FLASH = "rules"
RULE_ROLES = ("supervisor", "admin")


def _agent_choices(rule: AssignmentRule | None) -> list[tuple[str, str]]:
    """Every agent a rule may feed (active, not away), and the rule's own agents even if
    they are away or deactivated now (so saving does not drop them unseen)."""
    database = db.session()
    members = {member.id: member for member in assignment.assignable(database)}
    if rule is not None:
        for member in assignment.rule_agents(database, rule):
            members.setdefault(member.id, member)
    ordered = sorted(members.values(), key=lambda m: (m.name, m.id))
    return [(str(m.id), _person(m)) for m in ordered]


def _person(member: StaffMember) -> str:
    """A member's name, saying when they are away or deactivated."""
    if member.active and not member.away:
        return member.name
    return _("%(name)s (away or deactivated)", name=member.name)


def people(members: list[StaffMember]) -> str:
    """Members' names as one list, each saying when away or deactivated."""
    return listed(_person(member) for member in members)


def _form(rule: AssignmentRule | None, formdata: Any = None, **values: Any) -> RuleForm:
    form = RuleForm(formdata=formdata, **values) if formdata is None else RuleForm()
    form.agents.choices = _agent_choices(rule)
    form.team.choices = team_choices(directory.teams(db.session()), _("No team"))
    return form


def _filled(rule: AssignmentRule) -> RuleForm:
    """The form with the rule's values."""
    per_major = minor_per_major(rule.currency) if rule.currency else 1
    agents = [member.id for member in assignment.rule_agents(db.session(), rule)]
    return _form(
        rule,
        None,
        name=rule.name,
        priority=str(rule.priority),
        stage=rule.stage.value if rule.stage else "",
        locale=rule.locale or "",
        currency=rule.currency or "",
        timezone=rule.timezone or "",
        min_amount="" if rule.min_amount is None else str(rule.min_amount // per_major),
        max_amount="" if rule.max_amount is None else str(rule.max_amount // per_major),
        agents=[str(agent) for agent in agents],
        team=str(rule.team_id or 0),
    )


def _chosen_agents(form: RuleForm) -> list[StaffMember]:
    ids = [int(value) for value in form.agents.data or []]
    return assignment.members_with_ids(db.session(), ids)


def _words() -> dict[str, Any]:
    return {"STAGE_NAMES": STAGE_NAMES, "LANGUAGES": NAMES, "people": people}


@blueprint.get("/rules")
@staff_required_any(*RULE_ROLES)
def rules() -> Response:
    """The rules, active first in the order they decide, with the agents each feeds."""
    page = render_template(
        "admin/rules.html",
        rules=assignment.rules(db.session()),
        confirm_form=ConfirmForm(formdata=None),
        **_words(),
    )
    return make_response(page)


@blueprint.post("/rules/assign")
@staff_required_any(*RULE_ROLES)
def run_assignment() -> Response:
    """Run the assignment now (what ``haohuan cases assign`` runs) and say what changed."""
    if not ConfirmForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), FLASH)
        return redirect(url_for("admin.rules"), code=303)
    run = assignment.assign(current_app.extensions["haohuan.engine"], g.now, g.staff)
    flash(
        _(
            "Assignment done: %(assigned)s assigned, %(reassigned)s reassigned, "
            "%(unassigned)s left without an owner; %(waiting)s open cases have no owner.",
            assigned=run.assigned,
            reassigned=run.reassigned,
            unassigned=run.unassigned,
            waiting=run.waiting,
        ),
        FLASH,
    )
    return redirect(url_for("admin.rules"), code=303)


@blueprint.get("/rules/new")
@staff_required_any(*RULE_ROLES)
def new_rule() -> Response:
    """The form for a new rule."""
    return _rule_page(None, _form(None, None))


@blueprint.post("/rules/new")
@staff_required_any(*RULE_ROLES)
def create_rule() -> Response:
    """Add the rule (it applies at the next assignment run)."""
    form = _form(None, True)
    if not form.validate_on_submit():
        return _rule_page(None, form, 422)
    rule = assignment.add_rule(
        db.session(),
        (form.name.data or "").strip(),
        _chosen_agents(form),
        g.staff,
        g.now,
        priority=form.priority_number(),
        **form.conditions(),
    )
    flash(_("The rule %(name)s is added. Run the assignment to apply it.", name=rule.name), FLASH)
    return redirect(url_for("admin.rules"), code=303)


def _rule_page(rule: AssignmentRule | None, form: RuleForm, status: int = 200) -> Response:
    page = render_template(
        "admin/rule.html", rule=rule, form=form, confirm_form=ConfirmForm(formdata=None)
    )
    return make_response(page, status)


def _no_rule(rule_id: int) -> Response:
    return problem_page(
        _("No such rule"),
        _("There is no assignment rule number %(number)s.", number=rule_id),
        url_for("admin.rules"),
        _("Back to the rules"),
    )


@blueprint.get("/rules/<int:rule_id>")
@staff_required_any(*RULE_ROLES)
def rule(rule_id: int) -> Response:
    """One rule, in its form."""
    found = by_id(db.session(), AssignmentRule, rule_id)
    if found is None:
        return _no_rule(rule_id)
    return _rule_page(found, _filled(found))


@blueprint.post("/rules/<int:rule_id>")
@staff_required_any(*RULE_ROLES)
def edit_rule(rule_id: int) -> Response:
    """Save the rule's new name, priority, conditions and agents."""
    database = db.session()
    found = by_id(database, AssignmentRule, rule_id)
    if found is None:
        return _no_rule(rule_id)
    form = _form(found, True)
    if not form.validate_on_submit():
        return _rule_page(found, form, 422)
    assignment.edit_rule(
        database,
        found,
        (form.name.data or "").strip(),
        _chosen_agents(form),
        g.staff,
        g.now,
        priority=form.priority_number(),
        **form.conditions(),
    )
    flash(_("The rule %(name)s is saved. Run the assignment to apply it.", name=found.name), FLASH)
    return redirect(url_for("admin.rules"), code=303)


@blueprint.post("/rules/<int:rule_id>/deactivate")
@staff_required_any(*RULE_ROLES)
def deactivate_rule(rule_id: int) -> Response:
    """Stop using the rule (kept, and listed, for the record)."""
    return _set_active(rule_id, False)


@blueprint.post("/rules/<int:rule_id>/activate")
@staff_required_any(*RULE_ROLES)
def activate_rule(rule_id: int) -> Response:
    """Use the rule again."""
    return _set_active(rule_id, True)


def _set_active(rule_id: int, active: bool) -> Response:
    database = db.session()
    found = by_id(database, AssignmentRule, rule_id)
    if found is None:
        return _no_rule(rule_id)
    if not ConfirmForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), FLASH)
        return redirect(url_for("admin.rules"), code=303)
    assignment.set_rule_active(database, found, active, g.staff, g.now)
    if active:
        flash(_("The rule %(name)s is active again.", name=found.name), FLASH)
    else:
        flash(_("The rule %(name)s is deactivated.", name=found.name), FLASH)
    return redirect(url_for("admin.rules"), code=303)
