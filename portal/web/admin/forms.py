"""The audit log's filters: a GET form (reading changes nothing, so no CSRF token);
every message translated."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, ValidationError

from portal.audit.search import AREA_PREFIX, AuditFilters
from portal.web.common.forms import DayField, GetForm
from portal.web.common.pagination import Paged, page_field
from portal.wording.audit import action_label


class AuditFilterForm(Paged, GetForm):
    """Who, what, which case, and when."""

    actor = StringField(
        _l("Who"),
        validators=[Length(max=254, message=_l("Search for at most 254 characters."))],
    )
    action = SelectField(_l("Action"), choices=[], default="", validate_choice=False)
    case = StringField(
        _l("Case"),
        validators=[Length(max=40, message=_l("Search for at most 40 characters."))],
    )
    since = DayField(_l("From"))
    until = DayField(_l("To"))
    page = page_field()

    def offer_actions(self, known: Sequence[str]) -> None:
        """The actions to choose from: each one in the log, and each family (``call.``)."""
        families = sorted({name.split(".", 1)[0] + "." for name in known if "." in name})
        self.action.choices = [
            SelectChoice("", _l("Any action")),
            SelectChoice(AREA_PREFIX + "finance", _l("All of finance's work")),
            *(SelectChoice(family, _l("All of %(family)s*", family=family)) for family in families),
            *(SelectChoice(name, f"{action_label(name)} ({name})") for name in known),
        ]

    def validate_action(self, field: SelectField) -> None:
        """Only an action (or family) the log holds."""
        offered = {str(choice[0]) for choice in field.iter_choices()}
        if field.data and field.data not in offered:
            raise ValidationError(_l("Choose one of the listed values."))

    def validate_until(self, field: DayField) -> None:
        """The period runs forward."""
        if self.since.data and field.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))

    def filters(self) -> AuditFilters:
        """The validated filters."""
        return AuditFilters(
            actor=(self.actor.data or "").strip(),
            action=self.action.data or "",
            case=(self.case.data or "").strip(),
            since=self.since.data,
            until=self.until.data,
        )
