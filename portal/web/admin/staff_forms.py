"""The admin console's forms for staff accounts and teams. Choices that come from the
database (the teams) are set by the view before validating."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from portal.staff.accounts import AGENCY, ROLES
from portal.staff.directory import TEAM_NAME_LENGTH, StaffFilter
from portal.web.common.forms import Form, GetForm, MultiCheckboxField, optional, whole_number
from portal.wording.staff import ROLE_NAMES

MAX_CAPACITY = 100_000
NO_TEAM = "0"


def _role_choices() -> list[SelectChoice]:
    # A partner agency's member is made from the command line, with their agency.
    return [SelectChoice(role, ROLE_NAMES[role]) for role in ROLES if role != AGENCY]


def team_choices(teams: list[Any], none_label: Any) -> list[SelectChoice]:
    """A team select's choices: none, then every team by name."""
    return [SelectChoice(NO_TEAM, none_label), *(SelectChoice(str(t.id), t.name) for t in teams)]


def chosen_team(value: str | None) -> int | None:
    """A team select's value as a team id (None: no team)."""
    return None if not value or value == NO_TEAM else int(value)


class StaffFilterForm(GetForm):
    """Who the staff list shows."""

    role = SelectField(_l("Role"), choices=[], default="")
    team = SelectField(_l("Team"), choices=[], default="")
    active = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("Active or not")),
            SelectChoice("yes", lazy_pgettext("in use", "Active")),
            SelectChoice("no", _l("Deactivated")),
        ],
        default="",
    )

    def offer(self, teams: list[Any]) -> None:
        """The choices: every role, every team."""
        self.role.choices = [SelectChoice("", _l("Any role")), *_role_choices()]
        self.team.choices = [SelectChoice("", _l("Any team")), *team_choices(teams, _l("No team"))]

    def filters(self) -> StaffFilter:
        """The validated filter."""
        team = self.team.data or ""
        return StaffFilter(
            role=self.role.data or None,
            team_id=None if team == "" else int(team),
            active=None if not self.active.data else self.active.data == "yes",
        )


class RolesField(MultiCheckboxField):
    """The staff roles as checkboxes; at least one."""

    def pre_validate(self, form: Any) -> None:
        """At least one role, and only staff roles."""
        if not self.data:
            raise ValidationError(_l("Choose at least one role."))
        super().pre_validate(form)


class NewMemberForm(Form):
    """A new member: email, name, roles and team (never a password: they set it)."""

    email = EmailField(
        lazy_pgettext("address", "Email"),
        validators=[
            DataRequired(message=_l("Enter an email address.")),
            Length(max=254, message=_l("That email address is too long.")),
        ],
    )
    name = StringField(
        _l("Name"),
        validators=[optional(), Length(max=120, message=_l("Write at most 120 characters."))],
    )
    roles = RolesField(_l("Roles"), choices=_role_choices(), default=["agent"])
    team = SelectField(_l("Team"), choices=[], default=NO_TEAM)


class RolesForm(Form):
    """A member's roles."""

    roles = RolesField(_l("Roles"), choices=_role_choices())


class TeamChoiceForm(Form):
    """A member's team."""

    team = SelectField(_l("Team"), choices=[])


class AvailabilityForm(Form):
    """How many open cases the rules may give a member, and whether they are away."""

    capacity = StringField(
        _l("Capacity (open cases)"),
        validators=[DataRequired(message=_l("Enter a whole number from 0 to 100,000."))],
    )
    away = BooleanField(_l("Away: their cases go to others at the next assignment run"))

    def validate_capacity(self, field: StringField) -> None:
        """A whole number of cases, 0 to 100,000."""
        if whole_number(field.data, MAX_CAPACITY) is None:
            raise ValidationError(_l("Enter a whole number from 0 to 100,000."))

    def capacity_number(self) -> int:
        """The validated capacity."""
        return whole_number(self.capacity.data, MAX_CAPACITY) or 0


class ConfirmForm(Form):
    """A button that changes one thing (its CSRF token only)."""


class TeamForm(Form):
    """A team's name."""

    name = StringField(
        _l("Team name"),
        validators=[
            DataRequired(message=_l("Enter the team's name.")),
            Length(max=TEAM_NAME_LENGTH, message=_l("A team's name has 1 to 80 characters.")),
        ],
    )
