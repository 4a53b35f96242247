"""The forms of a case's home visit: propose, schedule, withdraw. Every message is
translated. None of them has a field for anyone but the borrower and the two visitors."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

from portal.models import StaffMember
from portal.web.common.forms import DayField, Form

NOTE_LENGTH = Length(max=2000, message=_l("Please keep it under 2000 characters."))
CARD_LENGTH = Length(max=32, message=_l("Please keep it under 32 characters."))


class ProposeVisitForm(Form):
    """An agent proposes a home visit, saying why."""

    reason = TextAreaField(
        _l("Why a visit"),
        validators=[InputRequired(message=_l("Say why a visit is needed.")), NOTE_LENGTH],
        id="visit-reason",
    )
    agreed = BooleanField(_l("The borrower asked us to visit (no written notice is owed)"))


class ApproveVisitForm(Form):
    """A supervisor approves the visit (the CSRF token only)."""


class CancelVisitForm(Form):
    """Withdraw an open visit, saying why."""

    note = TextAreaField(
        _l("Why the visit is withdrawn"),
        validators=[InputRequired(message=_l("Say why.")), NOTE_LENGTH],
        id="visit-cancel-note",
    )


class ScheduleVisitForm(Form):
    """The day and time of the visit (the borrower's local clock) and its two visitors,
    each with the number of the identification they carry."""

    day = DayField(
        _l("Day (the borrower's local date)"),
        validators=[InputRequired(message=_l("Enter the day."))],
        id="visit-day",
    )
    at = StringField(
        _l("Time (the borrower's local time, HH:MM)"),
        validators=[
            InputRequired(message=_l("Enter the time.")),
            Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("Enter a time as HH:MM, like 10:30.")),
        ],
        id="visit-time",
    )
    visitor_one = SelectField(
        _l("First visitor"),
        coerce=int,
        validators=[InputRequired(message=_l("Choose a visitor."))],
    )
    card_one = StringField(
        _l("First visitor's identification number"),
        validators=[InputRequired(message=_l("Enter the identification number.")), CARD_LENGTH],
    )
    visitor_two = SelectField(
        _l("Second visitor"),
        coerce=int,
        validators=[InputRequired(message=_l("Choose a visitor."))],
    )
    card_two = StringField(
        _l("Second visitor's identification number"),
        validators=[InputRequired(message=_l("Enter the identification number.")), CARD_LENGTH],
    )


def schedule_form(visitors: list[StaffMember], **kwargs: Any) -> ScheduleVisitForm:
    """The schedule form with the field staff to choose from."""
    form = ScheduleVisitForm(**kwargs)
    choices = [(member.id, f"{member.name} ({member.email})") for member in visitors]
    form.visitor_one.choices = choices
    form.visitor_two.choices = choices
    return form
