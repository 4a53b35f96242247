"""The assignment rule form: a name and priority, the conditions a case must match (unset
matches any), and the agents (or a team) it feeds. Agent and team choices are set by the
view."""

from __future__ import annotations

import zoneinfo
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from negotiation import Stage
from portal.cases.queue import CURRENCIES
from portal.core.currency import minor_per_major
from portal.core.i18n import NAMES, SUPPORTED
from portal.web.admin.staff_forms import NO_TEAM, chosen_team
from portal.web.common.forms import Form, MultiCheckboxField, optional, whole_number
from portal.wording.engine import STAGE_NAMES

MAX_PRIORITY = 1_000_000
MAX_WHOLE_AMOUNT = 10**11
RULE_FIELDS = ("stage", "locale", "currency", "timezone", "min_amount", "max_amount")


def _any(label: Any, choices: list[SelectChoice]) -> list[SelectChoice]:
    return [SelectChoice("", label), *choices]


class RuleForm(Form):
    """One rule, as a supervisor writes it. Amounts are whole units of the chosen
    currency (the loan's principal, from and below)."""

    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(message=_l("Give the rule a name.")),
            Length(max=120, message=_l("Write at most 120 characters.")),
        ],
    )
    priority = StringField(
        _l("Priority (lowest first)"),
        default="100",
        validators=[DataRequired(message=_l("Enter a whole number from 0 to 1,000,000."))],
    )
    stage = SelectField(
        _l("Stage"),
        choices=_any(_l("Any stage"), [SelectChoice(s.value, STAGE_NAMES[s]) for s in Stage]),
        default="",
    )
    locale = SelectField(
        _l("Borrower's language"),
        choices=_any(_l("Any language"), [SelectChoice(code, NAMES[code]) for code in SUPPORTED]),
        default="",
    )
    currency = SelectField(
        _l("Currency"),
        choices=_any(_l("Any currency"), [SelectChoice(code, code) for code in CURRENCIES]),
        default="",
    )
    timezone = StringField(
        _l("Borrower's time zone"),
        validators=[optional(), Length(max=64, message=_l("Write at most 64 characters."))],
    )
    min_amount = StringField(_l("Principal from"), validators=[optional()])
    max_amount = StringField(_l("Principal below"), validators=[optional()])
    agents = MultiCheckboxField(_l("Agents"), choices=[], coerce=str)
    team = SelectField(_l("And every agent of the team"), choices=[], default=NO_TEAM)

    def validate_priority(self, field: StringField) -> None:
        """A whole number."""
        if whole_number(field.data, MAX_PRIORITY) is None:
            raise ValidationError(_l("Enter a whole number from 0 to 1,000,000."))

    def validate_timezone(self, field: StringField) -> None:
        """A zone of the IANA database, as borrowers' zones are stored (Asia/Taipei)."""
        zone = (field.data or "").strip()
        if zone and zone not in zoneinfo.available_timezones():
            raise ValidationError(
                _l("Enter a time zone such as Asia/Taipei or America/Los_Angeles.")
            )

    def _amount(self, field: StringField) -> int | None:
        raw = (field.data or "").replace(",", "").strip()
        if not raw:
            return None
        value = whole_number(raw, MAX_WHOLE_AMOUNT)
        if value is None:
            raise ValidationError(_l("Enter a whole amount such as 5000, without decimals."))
        if not self.currency.data:
            raise ValidationError(_l("Choose a currency to set an amount."))
        return value * minor_per_major(self.currency.data)

    def validate_min_amount(self, field: StringField) -> None:
        """Whole units, with a currency."""
        self._amount(field)

    def validate_max_amount(self, field: StringField) -> None:
        """Whole units, with a currency, above the lower bound."""
        high = self._amount(field)
        try:
            low = self._amount(self.min_amount)
        except ValidationError:
            return
        if low is not None and high is not None and high <= low:
            raise ValidationError(_l("The upper amount must be above the lower one."))

    def validate_agents(self, field: MultiCheckboxField) -> None:
        """Someone to give the cases to."""
        if not field.data and chosen_team(self.team.data) is None:
            raise ValidationError(_l("Choose at least one agent or a team."))

    def conditions(self) -> dict[str, Any]:
        """The validated conditions and team, as ``add_rule`` and ``edit_rule`` take them."""
        return {
            "stage": Stage(self.stage.data) if self.stage.data else None,
            "locale": self.locale.data or None,
            "currency": self.currency.data or None,
            "timezone": (self.timezone.data or "").strip() or None,
            "min_amount": self._amount(self.min_amount),
            "max_amount": self._amount(self.max_amount),
            "team_id": chosen_team(self.team.data),
        }

    def priority_number(self) -> int:
        """The validated priority."""
        return whole_number(self.priority.data, MAX_PRIORITY) or 0
