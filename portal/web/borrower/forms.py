"""The borrower's forms. Every message is translated; amounts are typed in major units
(dollars, yuan) and converted to minor units exactly."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation

from portal.web.common.forms import AmountField, DayField, Form, WholeNumberField, optional
from portal.wording.cases import DISPUTE_REASONS


class VerifyForm(Form):
    """Confirm who you are before anything about the debt is shown."""

    method = RadioField(
        _l("Confirm with"),
        choices=[
            SelectChoice("date_of_birth", _l("Date of birth")),
            SelectChoice("id_last4", _l("Last 4 characters of your ID number")),
        ],
        default="date_of_birth",
        validators=[InputRequired(message=_l("Choose how to confirm who you are."))],
    )
    answer = StringField(
        _l("Your answer"),
        validators=[
            DataRequired(message=_l("Enter your answer.")),
            Length(max=40, message=_l("That answer is too long.")),
        ],
    )


class StatementForm(Form):
    """An optional income-and-expenditure statement, monthly."""

    net_monthly_income = AmountField(
        _l("Income after tax, per month"),
        validators=[InputRequired(message=_l("Enter your monthly income, or skip this step."))],
    )
    household_size = WholeNumberField(
        _l("People in your household"),
        default=1,
        low=1,
        high=20,
        message=_l("Enter a number from 1 to 20."),
        validators=[InputRequired(message=_l("Enter how many people live in your household."))],
    )
    housing = AmountField(_l("Rent or mortgage"))
    utilities = AmountField(_l("Water, power, gas, phone and internet"))
    food = AmountField(_l("Food and groceries"))
    transport = AmountField(_l("Transport"))
    other_debt_payments = AmountField(_l("Payments on other debts"))
    other = AmountField(_l("Other essential spending"))


class CustomPlanForm(Form):
    """A plan of the borrower's own design (GET: no CSRF needed, nothing changes)."""

    class Meta:
        csrf = False

    kind = SelectField(_l("Kind of plan"), choices=[], validate_choice=True)
    installments = WholeNumberField(
        _l("Number of payments"),
        default=6,
        low=1,
        high=600,
        message=_l("Enter a number from 1 to 600."),
        validators=[InputRequired(message=_l("Enter the number of payments."))],
    )
    frequency = SelectField(_l("How often"), choices=[], validate_choice=True)
    first_due_date = DayField(
        _l("First payment date"),
        unreadable=_l("Enter a date like 2026-12-05."),
        any_year=True,
        padded=True,
        validators=[InputRequired(message=_l("Enter a date like 2026-12-05."))],
    )
    down_payment = AmountField(_l("First payment amount (optional)"), validators=[optional()])


class AcceptForm(Form):
    """Explicit consent to a plan exactly as shown."""

    kind = HiddenField()
    installments = HiddenField()
    frequency = HiddenField()
    first_due_date = HiddenField()
    down_payment = HiddenField()
    offer_id = HiddenField()
    shown = HiddenField()
    consent = BooleanField(
        _l("I have read the plan and its terms, and I agree to them."),
        validators=[DataRequired(message=_l("Please confirm that you agree to the terms."))],
    )


class HelpForm(Form):
    """I can't pay right now, or I dispute this debt."""

    reason = RadioField(
        _l("What is happening?"),
        choices=[
            SelectChoice("hardship", _l("I cannot pay right now")),
            SelectChoice("dispute", _l("I dispute this debt")),
        ],
        validators=[InputRequired(message=_l("Choose what is happening."))],
    )
    dispute_reason = RadioField(
        _l("If you dispute it, why?"),
        choices=[SelectChoice(code, name) for code, name in DISPUTE_REASONS.items()],
        # Checked below, and only for a dispute: a hardship leaves it out.
        validate_choice=False,
    )
    details = TextAreaField(
        _l("Tell us more (optional)"),
        validators=[
            optional(),
            Length(max=2000, message=_l("Please keep it under 2000 characters.")),
        ],
    )

    def validate_dispute_reason(self, field: RadioField) -> None:
        """A dispute says why (one of the list; its own words go in the details)."""
        if self.reason.data == "dispute" and field.data not in DISPUTE_REASONS:
            raise StopValidation(_l("Choose why you dispute this debt."))


class PartPaymentForm(Form):
    """Pay part of what is overdue, without a plan."""

    amount = AmountField(
        _l("Amount to pay"),
        validators=[InputRequired(message=_l("Enter the amount you want to pay."))],
    )


class ConfirmForm(Form):
    """A form with only its CSRF token: for buttons that change something."""


class MoveForm(Form):
    """Move one upcoming installment of an active plan to a later date."""

    # Choices are the plan's movable installments, set by the view; an id that is not
    # among them is answered by the service, in words, rather than by WTForms.
    installment = RadioField(_l("Which payment"), choices=[], validate_choice=False)
    new_date = DayField(
        _l("New date"),
        unreadable=_l("Enter a date like 2026-12-05."),
        any_year=True,
        padded=True,
        validators=[InputRequired(message=_l("Enter a date like 2026-12-05."))],
    )
