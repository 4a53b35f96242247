"""The field visitor's form: what happened at the door, on a phone.

Its fields are exactly ``ALLOWED`` (a test holds them to it). There is deliberately no
field for anyone but the borrower: no "spoke to a neighbor", no "told the employer",
no third party's name or words. A visitor who meets someone else says only that they
came to see the borrower; the purpose is the borrower's business alone
(docs/visits.md, "Never to third parties")."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp

from portal.web.common.forms import AmountField, DayField, Form, WholeNumberField, in_currency

ALLOWED = frozenset(
    {
        "csrf_token",
        "outcome",
        "said",
        "follow_up",
        "promise_amount",
        "promise_due",
        "plan_installments",
        "plan_first_due",
        "photos",
        "gps_consent",
        "latitude",
        "longitude",
    }
)

COORDINATE = Regexp(r"^-?\d{1,3}(\.\d{1,6})?$", message=_l("Enter a number like 25.033964."))


class VisitRecordForm(Form):
    """The visit's record by one of its two visitors."""

    outcome = RadioField(
        _l("At the door"),
        choices=[
            SelectChoice("met", _l("I met the borrower")),
            SelectChoice("nobody_home", _l("Nobody home (or only someone else)")),
        ],
        validators=[InputRequired(message=_l("Choose what happened."))],
    )
    said = TextAreaField(
        _l("What you and the borrower said"),
        validators=[Length(max=4000, message=_l("Please keep it under 4000 characters."))],
    )
    follow_up = RadioField(
        _l("What the borrower agreed"),
        choices=[
            SelectChoice("none", _l("Nothing yet")),
            SelectChoice("promise", _l("A promise to pay")),
            SelectChoice("plan", _l("A monthly plan for what is overdue")),
        ],
        default="none",
        validators=[InputRequired(message=_l("Choose what the borrower agreed."))],
    )
    promise_amount = AmountField(_l("Promised amount"), validators=[Optional()])
    promise_due = DayField(_l("Promised by (date)"), validators=[Optional()])
    plan_installments = WholeNumberField(
        _l("Monthly payments"),
        validators=[Optional()],
        low=2,
        high=36,
        message=_l("Enter a number of payments from 2 to 36."),
    )
    plan_first_due = DayField(_l("First payment on"), validators=[Optional()])
    photos = MultipleFileField(_l("Photos of the visit notice you left"))
    gps_consent = BooleanField(_l("I consent to recording where I am now"))
    latitude = StringField(_l("Latitude"), validators=[Optional(), COORDINATE])
    longitude = StringField(_l("Longitude"), validators=[Optional(), COORDINATE])


def record_form(currency: str, **kwargs: Any) -> VisitRecordForm:
    """The form, its amounts in the loan's currency."""
    return VisitRecordForm(meta=in_currency(currency), **kwargs)
