"""The borrower's forms. Every message is translated; amounts are typed in major units
(dollars, yuan) and converted to minor units exactly."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
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

from portal.web.common.forms import (
    AmountField,
    DayField,
    Form,
    MultiCheckboxField,
    WholeNumberField,
    optional,
)
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
    # Optional: the plan stands without it (``portal.payments.autopay``).
    autopay = BooleanField(_l("Pay each installment automatically from a card"))


class AutopayForm(Form):
    """Consent to the automatic payments mandate exactly as shown."""

    consent = BooleanField(
        _l("I agree to have my plan's payments charged to my card as described above."),
        validators=[
            DataRequired(message=_l("Please confirm that you agree to automatic payments."))
        ],
    )


class SandboxCardForm(Form):
    """The sandbox's card page: which test card to save (choices set by the view)."""

    card = RadioField(
        _l("Test card"),
        choices=[],
        validators=[InputRequired(message=_l("Choose a test card."))],
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


# The days a quiet window may cover, as a borrower names them: one list, no grid of
# checkboxes to fill on a phone.
DAY_SETS: dict[str, tuple[Any, frozenset[int]]] = {
    "weekdays": (_l("Monday to Friday"), frozenset(range(5))),
    "every_day": (_l("Every day"), frozenset(range(7))),
    "weekends": (_l("Saturday and Sunday"), frozenset({5, 6})),
    "mon": (_l("Mondays"), frozenset({0})),
    "tue": (_l("Tuesdays"), frozenset({1})),
    "wed": (_l("Wednesdays"), frozenset({2})),
    "thu": (_l("Thursdays"), frozenset({3})),
    "fri": (_l("Fridays"), frozenset({4})),
    "sat": (_l("Saturdays"), frozenset({5})),
    "sun": (_l("Sundays"), frozenset({6})),
}
QUIET_ROWS = 3
HALF_HOURS = [f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(0, 24 * 60 + 1, 30)]


def minute_of(text: str) -> int:
    """HH:MM (a half hour, 24:00 the end of the day) as minutes after midnight."""
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


def days_code(days: frozenset[int]) -> str | None:
    """The day-set code for ``days``, when one names them exactly."""
    return next((code for code, (_words, ds) in DAY_SETS.items() if ds == days), None)


class ContactChoiceForm(Form):
    """How we may contact the borrower: the channels, and up to three times not to."""

    channels = MultiCheckboxField(
        _l("Ways we may contact you"),
        choices=[
            SelectChoice("call", _l("Phone calls")),
            SelectChoice("sms", _l("SMS")),
            SelectChoice("email", lazy_pgettext("channel", "Email")),
            SelectChoice("letter", _l("Letters by post")),
        ],
        validate_choice=False,
    )

    def rows(self) -> list[tuple[Any, Any, Any]]:
        """Each quiet window's days, from and until fields."""
        return [
            (self[f"days_{n}"], self[f"from_{n}"], self[f"until_{n}"])
            for n in range(1, QUIET_ROWS + 1)
        ]

    def validate_channels(self, field: MultiCheckboxField) -> None:
        """Only the four channels; at least one (the service says so too)."""
        if any(value not in {"call", "sms", "email", "letter"} for value in field.data or ()):
            raise StopValidation(_l("Choose from the list."))
        if not field.data:
            raise StopValidation(_l("Keep at least one way for us to reach you about your loan."))

    def validate(self, extra_validators: Any = None) -> bool:
        """Each window used is a set of days and a from before its until."""
        valid = super().validate(extra_validators)
        for days, start, end in self.rows():
            if not days.data:
                continue
            if days.data not in DAY_SETS:
                days.errors = [*days.errors, _l("Choose from the list.")]
                valid = False
            if start.data not in HALF_HOURS[:-1] or end.data not in HALF_HOURS[1:]:
                start.errors = [*start.errors, _l("Choose from the list.")]
                valid = False
            elif minute_of(start.data) >= minute_of(end.data):
                end.errors = [*end.errors, _l("The end must be later than the start.")]
                valid = False
        return valid


for _row in range(1, QUIET_ROWS + 1):
    setattr(
        ContactChoiceForm,
        f"days_{_row}",
        SelectField(
            _l("Days"),
            choices=[
                SelectChoice("", _l("Not used")),
                *(SelectChoice(code, words) for code, (words, _days) in DAY_SETS.items()),
            ],
            validate_choice=False,
        ),
    )
    setattr(
        ContactChoiceForm,
        f"from_{_row}",
        SelectField(_l("From"), choices=HALF_HOURS[:-1], default="09:00", validate_choice=False),
    )
    setattr(
        ContactChoiceForm,
        f"until_{_row}",
        SelectField(_l("Until"), choices=HALF_HOURS[1:], default="18:00", validate_choice=False),
    )


class CallbackForm(Form):
    """Ask to be called at one of the times offered (the view sets the choices)."""

    slot = SelectField(
        _l("When should we call you?"),
        choices=[],
        validate_choice=False,
        validators=[InputRequired(message=_l("Choose a time."))],
    )
