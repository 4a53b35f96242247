"""Staff accounts and teams in the admin console: the list (by role, team, active), a new
member with a one-time set-up link (the admin never sees a password), and each member's
roles, team, capacity, away flag, activation and one-time codes. Views parse, call one
service of ``portal.staff`` (the ``haohuan staff`` commands use the same ones), and
render or redirect; every change is audited there."""

from __future__ import annotations

from typing import Any

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.cases import assignment
from portal.core import db
from portal.core.db import by_id
from portal.core.i18n import listed
from portal.models import StaffMember, Team
from portal.staff import accounts, directory
from portal.staff.accounts import AccountError
from portal.web.admin import blueprint
from portal.web.admin.staff_forms import (
    AvailabilityForm,
    ConfirmForm,
    NewMemberForm,
    RolesForm,
    StaffFilterForm,
    TeamChoiceForm,
    TeamForm,
    chosen_team,
    team_choices,
)
from portal.web.common.pages import problem_page
from portal.web.staff.auth import staff_required
from portal.wording.staff import ROLE_NAMES, account_refusal

FLASH = "staff"


def role_list(member: StaffMember) -> str:
    """The member's roles in words, as one list."""
    return listed(ROLE_NAMES.get(role, role) for role in sorted(member.role_set))


def _words() -> dict[str, Any]:
    return {"role_list": role_list}


@blueprint.get("/staff")
@staff_required("admin")
def staff() -> Response:
    """Every staff member, narrowed by role, team and whether active."""
    database = db.session()
    teams = directory.teams(database)
    form = StaffFilterForm(formdata=request.args)
    form.offer(teams)
    if not form.validate():
        page = render_template("admin/staff.html", form=form, rows=None, **_words())
        return make_response(page, 400)
    rows = directory.staff_list(database, form.filters())
    return make_response(render_template("admin/staff.html", form=form, rows=rows, **_words()))


def _new_form(teams: list[Team]) -> NewMemberForm:
    form = NewMemberForm()
    form.team.choices = team_choices(teams, _("No team"))
    return form


@blueprint.get("/staff/new")
@staff_required("admin")
def new_member() -> Response:
    """The form for a new member."""
    form = _new_form(directory.teams(db.session()))
    return make_response(render_template("admin/staff_new.html", form=form))


@blueprint.post("/staff/new")
@staff_required("admin")
def create_member() -> Response:
    """Create the account and show its set-up link, once (it is not kept anywhere)."""
    database = db.session()
    form = _new_form(directory.teams(database))
    if not form.validate_on_submit():
        return make_response(render_template("admin/staff_new.html", form=form), 422)
    try:
        member, token = accounts.invite_member(
            database,
            form.email.data or "",
            form.name.data,
            form.roles.data or [],
            chosen_team(form.team.data),
            g.staff,
            g.now,
        )
    except AccountError as error:
        form.email.errors = [account_refusal(error.reason)]
        return make_response(render_template("admin/staff_new.html", form=form), 422)
    return _link_page(member, token)


def _link_page(member: StaffMember, token: str) -> Response:
    link = url_for("staff.set_up", set_up_token=token, _external=True)
    page = render_template(
        "admin/staff_link.html", member=member, link=link, hours=accounts.SET_UP_LIFETIME
    )
    return make_response(page, 201)


def _member(member_id: int) -> StaffMember | None:
    return by_id(db.session(), StaffMember, member_id)


def _no_member(member_id: int) -> Response:
    return problem_page(
        _("No such staff member"),
        _("There is no staff member number %(number)s.", number=member_id),
        url_for("admin.staff"),
        _("Back to the staff"),
    )


def _member_page(member: StaffMember, status: int = 200, **forms: Any) -> Response:
    database = db.session()
    teams = directory.teams(database)
    roles = forms.get("roles") or RolesForm(formdata=None, roles=sorted(member.role_set))
    team = forms.get("team") or TeamChoiceForm(formdata=None, team=str(member.team_id or 0))
    team.team.choices = team_choices(teams, _("No team"))
    availability = forms.get("availability") or AvailabilityForm(
        formdata=None, capacity=str(member.capacity), away=member.away
    )
    page = render_template(
        "admin/staff_member.html",
        member=member,
        team_name=next((t.name for t in teams if t.id == member.team_id), None),
        roles_form=roles,
        team_form=team,
        availability_form=availability,
        confirm_form=ConfirmForm(formdata=None),
        problem=forms.get("problem"),
        **_words(),
    )
    return make_response(page, status)


@blueprint.get("/staff/<int:member_id>")
@staff_required("admin")
def member(member_id: int) -> Response:
    """One member: their account, and the forms that change it."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    return _member_page(found)


def _done(found: StaffMember, message: str) -> Response:
    flash(message, FLASH)
    return redirect(url_for("admin.member", member_id=found.id), code=303)


def _refused(found: StaffMember, error: AccountError, **forms: Any) -> Response:
    return _member_page(found, 422, problem=account_refusal(error.reason), **forms)


@blueprint.post("/staff/<int:member_id>/roles")
@staff_required("admin")
def member_roles(member_id: int) -> Response:
    """Set the member's roles."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    form = RolesForm()
    if not form.validate_on_submit():
        return _member_page(found, 422, roles=form)
    try:
        accounts.set_roles(db.session(), found, form.roles.data or [], g.staff, g.now)
    except AccountError as error:
        return _refused(found, error, roles=form)
    return _done(found, _("The roles are saved."))


@blueprint.post("/staff/<int:member_id>/team")
@staff_required("admin")
def member_team(member_id: int) -> Response:
    """Put the member in a team, or in none."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    form = TeamChoiceForm()
    form.team.choices = team_choices(directory.teams(db.session()), _("No team"))
    if not form.validate_on_submit():
        return _member_page(found, 422, team=form)
    accounts.set_team(db.session(), found, chosen_team(form.team.data), g.staff, g.now)
    return _done(found, _("The team is saved."))


@blueprint.post("/staff/<int:member_id>/availability")
@staff_required("admin")
def member_availability(member_id: int) -> Response:
    """Set the member's capacity and away flag (the next assignment run acts on them)."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    form = AvailabilityForm()
    if not form.validate_on_submit():
        return _member_page(found, 422, availability=form)
    assignment.set_availability(
        db.session(),
        found,
        g.staff,
        g.now,
        away=bool(form.away.data),
        capacity=form.capacity_number(),
    )
    return _done(found, _("Capacity and away are saved."))


@blueprint.post("/staff/<int:member_id>/deactivate")
@staff_required("admin")
def member_deactivate(member_id: int) -> Response:
    """Deactivate the account: its sessions end; its cases move at the next run."""
    return _set_active(member_id, False)


@blueprint.post("/staff/<int:member_id>/reactivate")
@staff_required("admin")
def member_reactivate(member_id: int) -> Response:
    """Let the account sign in again."""
    return _set_active(member_id, True)


def _set_active(member_id: int, active: bool) -> Response:
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    if not ConfirmForm().validate_on_submit():
        return _member_page(found, 422, problem=_("The form has expired. Please try again."))
    try:
        accounts.set_active(db.session(), found, active, g.staff, g.now)
    except AccountError as error:
        return _refused(found, error)
    if active:
        return _done(found, _("The account is active again."))
    return _done(
        found,
        _(
            "The account is deactivated and its sessions have ended. Its cases go to "
            "others at the next assignment run."
        ),
    )


@blueprint.post("/staff/<int:member_id>/totp-reset")
@staff_required("admin")
def member_totp_reset(member_id: int) -> Response:
    """Forget the member's one-time codes: they enrol again at their next sign-in."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    if not ConfirmForm().validate_on_submit():
        return _member_page(found, 422, problem=_("The form has expired. Please try again."))
    accounts.reset_totp(db.session(), found, g.staff, g.now)
    return _done(
        found,
        _("One-time codes are reset and the sessions have ended: they enroll again at sign-in."),
    )


@blueprint.post("/staff/<int:member_id>/set-up-link")
@staff_required("admin")
def member_set_up_link(member_id: int) -> Response:
    """A new set-up link for the member (the older ones stop working), shown once."""
    found = _member(member_id)
    if found is None:
        return _no_member(member_id)
    if not ConfirmForm().validate_on_submit() or not found.active:
        return _member_page(found, 422, problem=_("The form has expired. Please try again."))
    token = accounts.issue_set_up_link(db.session(), found, g.staff, g.now)
    return _link_page(found, token)


# Teams ---------------------------------------------------------------------------------------


def _teams_page(status: int = 200, form: TeamForm | None = None, problem: str = "") -> Response:
    database = db.session()
    teams = directory.teams(database)
    page = render_template(
        "admin/teams.html",
        teams=teams,
        sizes=directory.team_sizes(database),
        form=form or TeamForm(formdata=None),
        problem=problem,
    )
    return make_response(page, status)


@blueprint.get("/teams")
@staff_required("admin")
def teams() -> Response:
    """The teams, their active members, and a form for a new one."""
    return _teams_page()


@blueprint.post("/teams")
@staff_required("admin")
def create_team() -> Response:
    """A new team."""
    form = TeamForm()
    if not form.validate_on_submit():
        return _teams_page(422, form)
    try:
        team = directory.add_team(db.session(), form.name.data or "", g.staff, g.now)
    except AccountError as error:
        form.name.errors = [account_refusal(error.reason)]
        return _teams_page(422, form)
    flash(_("The team %(name)s is created.", name=team.name), FLASH)
    return redirect(url_for("admin.teams"), code=303)


@blueprint.post("/teams/<int:team_id>")
@staff_required("admin")
def rename_team(team_id: int) -> Response:
    """Rename a team."""
    database = db.session()
    team = by_id(database, Team, team_id)
    if team is None:
        return problem_page(
            _("No such team"),
            _("There is no team number %(number)s.", number=team_id),
            url_for("admin.teams"),
            _("Back to the teams"),
        )
    form = TeamForm()
    if not form.validate_on_submit():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return _teams_page(422, problem=" ".join(problems))
    try:
        directory.rename_team(database, team, form.name.data or "", g.staff, g.now)
    except AccountError as error:
        return _teams_page(422, problem=account_refusal(error.reason))
    flash(_("The team is renamed."), FLASH)
    return redirect(url_for("admin.teams"), code=303)
