"""The finance console's forms. Filters are GET forms (no CSRF: they change nothing);
starting a reconciliation is a POST with CSRF. Every message is translated, including
the ones WTForms would otherwise word itself."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, Regexp, ValidationError
from wtforms.widgets import HiddenInput

from portal.finance.journal_files import FORMATS
from portal.finance.payouts import REFERENCE_LENGTH, STATEMENT_LIMIT
from portal.finance.reports import PaymentFilters
from portal.web.common.forms import DayField, Form, GetForm, WholeNumberField, optional
from portal.web.common.pagination import Paged, page_field
from portal.wording.finance import (
    EXCEPTION_OWNER_FILTERS,
    EXCEPTION_STATUS_FILTERS,
    GATEWAYS,
    PAID_BY_NAMES,
    PAYMENT_STATUS_FILTERS,
    PURPOSES,
    RESOLUTIONS,
)

CURRENCIES = ("TWD", "CNY", "HKD", "USD")
LONGEST_RECONCILIATION = timedelta(days=93)  # a quarter: Stripe lists stay quick


def _choice(label: Any, names: dict[str, Any], any_label: Any) -> SelectField:
    """A select of stored codes with an "any" first; an unknown code is a clear error."""
    return SelectField(
        label,
        choices=[SelectChoice("", any_label), *(SelectChoice(k, v) for k, v in names.items())],
        default="",
        validate_choice=False,
        validators=[optional(), AnyOf(list(names), message=_l("Choose one of the listed values."))],
    )


class PaymentFilterForm(Paged, GetForm):
    """The payments list's filters and search."""

    status = _choice(_l("Status"), PAYMENT_STATUS_FILTERS, _l("Any status"))
    gateway = _choice(_l("Gateway"), GATEWAYS, _l("Any gateway"))
    currency = _choice(_l("Currency"), {c: c for c in CURRENCIES}, _l("Any currency"))
    purpose = _choice(_l("Purpose"), PURPOSES, _l("Any purpose"))
    paid_by = _choice(_l("Paid by"), PAID_BY_NAMES, _l("Automatically or by hand"))
    dated_by = SelectField(
        _l("Dates apply to"),
        choices=[
            SelectChoice("created", _l("Created")),
            SelectChoice("confirmed", _l("Confirmed")),
        ],
        default="created",
        validate_choice=False,
        validators=[
            optional(),
            AnyOf(["created", "confirmed"], message=_l("Choose one of the listed values.")),
        ],
    )
    since = DayField(_l("From"))
    until = DayField(_l("To"))
    q = StringField(
        _l("Search"),
        validators=[Length(max=100, message=_l("Search for at most 100 characters."))],
    )
    page = page_field()

    def validate_until(self, field: DayField) -> None:
        """The period runs forward."""
        if self.since.data and field.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))

    def filters(self) -> PaymentFilters:
        """The validated filters."""
        return PaymentFilters(
            status=self.status.data or "",
            gateway=self.gateway.data or "",
            currency=self.currency.data or "",
            purpose=self.purpose.data or "",
            paid_by=self.paid_by.data or "",
            dated_by=self.dated_by.data or "created",
            since=self.since.data,
            until=self.until.data,
            search=(self.q.data or "").strip(),
        )


class PeriodForm(GetForm):
    """A period of whole days, both included: the plan-kept report's."""

    since = DayField(_l("From"))
    until = DayField(_l("To"))

    def validate_until(self, field: DayField) -> None:
        """The period runs forward."""
        if self.since.data and field.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))


class DayForm(GetForm):
    """The day the overview reports."""

    day = DayField(_l("Day"))


class ChartForm(GetForm):
    """The collections chart's currency and last day."""

    currency = SelectField(
        _l("Currency"),
        choices=[SelectChoice(c, c) for c in CURRENCIES],
        validate_choice=False,
        validators=[
            optional(),
            AnyOf(list(CURRENCIES), message=_l("Choose one of the listed values.")),
        ],
    )
    until = DayField(_l("Last day"))


class ReconcileForm(Form):
    """The period a reconciliation covers: whole days, first and last included."""

    since = DayField(_l("First day"))
    until = DayField(_l("Last day"))

    def validate_since(self, field: DayField) -> None:
        """A run needs its first day."""
        if field.data is None and not field.errors:
            raise ValidationError(_l("Enter the first day."))

    def validate_until(self, field: DayField) -> None:
        """A run needs its last day, after the first, and at most a quarter later."""
        if field.data is None:
            if not field.errors:
                raise ValidationError(_l("Enter the last day."))
            return
        if self.since.data is None:
            return
        if field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))
        if field.data - self.since.data >= LONGEST_RECONCILIATION:
            raise ValidationError(_l("Reconcile at most 93 days at a time."))

    def period(self) -> tuple[date, date]:
        """The first and last day (after validation)."""
        since, until = self.since.data, self.until.data
        if since is None or until is None:
            raise ValueError("period() before the form validated")
        return since, until


# Reconciliation exceptions and the month's close --------------------------------------------

LONGEST_NOTE = 2000
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
LARGEST_ID = 2**53  # any stored id; more digits are refused, never read


def _choices(names: dict[str, Any], message: Any) -> SelectField:
    """A select of codes that must be one of ``names``."""
    return SelectField(
        choices=[SelectChoice(k, v) for k, v in names.items()],
        validate_choice=False,
        validators=[InputRequired(message=message), AnyOf(list(names), message=message)],
    )


class ExceptionFilterForm(GetForm):
    """The exceptions list's filters: whose, and in which status."""

    owner = _choice(_l("Owner"), EXCEPTION_OWNER_FILTERS, _l("Anyone"))
    status = _choice(_l("Status"), EXCEPTION_STATUS_FILTERS, _l("Open or under investigation"))


class ActionForm(Form):
    """A button that acts on an exception (take, investigate, approve): its CSRF token."""


class NoteForm(Form):
    """A note on an exception."""

    text = TextAreaField(
        _l("Note"),
        validators=[
            InputRequired(message=_l("Write the note.")),
            Length(max=LONGEST_NOTE, message=_l("Write at most 2,000 characters.")),
        ],
    )


class AssignForm(Form):
    """Who owns an exception: a staff member's number (the select offers finance's)."""

    owner = WholeNumberField(
        _l("Owner"),
        validators=[InputRequired(message=_l("Choose who owns it."))],
        low=1,
        high=LARGEST_ID,
        message=_l("Choose one of the listed values."),
    )


class ResolveForm(Form):
    """How an exception is resolved, the payment a line is linked to, and a note (required
    for a duplicate and a write-off: it says why)."""

    resolution = _choices(RESOLUTIONS, _l("Choose how it was resolved."))
    payment = WholeNumberField(
        _l("Payment number"),
        validators=[optional()],
        low=1,
        high=LARGEST_ID,
        message=_l("Enter a payment number."),
    )
    # "why", not "text": the page's note form has a "text" of its own, and ids are unique.
    why = TextAreaField(
        _l("Note"),
        validators=[Length(max=LONGEST_NOTE, message=_l("Write at most 2,000 characters."))],
    )

    def validate_payment(self, field: WholeNumberField) -> None:
        """Linking needs the payment."""
        if self.resolution.data == "linked_to_payment" and field.data is None:
            raise ValidationError(_l("Enter a payment number."))

    def validate_why(self, field: TextAreaField) -> None:
        """A duplicate or a write-off says why."""
        if self.resolution.data in ("duplicate", "written_off") and not (field.data or "").strip():
            raise ValidationError(_l("Say why, in a note."))


MONTH_MESSAGE = _l("Enter a month as year and month, such as 2026-11.")


class MonthForm(GetForm):
    """The month the close page shows."""

    month = StringField(
        _l("Month"), validators=[optional(), Regexp(MONTH_PATTERN, message=MONTH_MESSAGE)]
    )


class CloseForm(Form):
    """Closing a month."""

    month = StringField(
        _l("Month"),
        validators=[
            InputRequired(message=MONTH_MESSAGE),
            Regexp(MONTH_PATTERN, message=MONTH_MESSAGE),
        ],
    )


class ReopenForm(CloseForm):
    """Reopening a closed month: an admin's, with a reason."""

    reason = TextAreaField(
        _l("Why it is reopened"),
        validators=[
            InputRequired(message=_l("Say why the month is reopened.")),
            Length(max=LONGEST_NOTE, message=_l("Write at most 2,000 characters.")),
        ],
    )


class JournalForm(GetForm):
    """The month whose general-ledger journals to export, and in which format."""

    month = StringField(
        _l("Month"),
        validators=[
            Regexp(
                r"^20[0-9]{2}-(0[1-9]|1[0-2])$",
                message=_l("Enter a month as YYYY-MM, like 2026-11."),
            )
        ],
    )
    form = SelectField(
        _l("Format"),
        choices=[
            SelectChoice("csv", _l("General-ledger CSV")),
            SelectChoice("beancount", _l("Beancount ledger")),
        ],
        default="csv",
        validate_choice=False,
        validators=[
            optional(),
            AnyOf(list(FORMATS), message=_l("Choose one of the listed values.")),
        ],
    )

    def first_day(self) -> date:
        """The month's first day (the form is valid)."""
        year, month = (int(part) for part in str(self.month.data).split("-"))
        return date(year, month, 1)


class StatementForm(Form):
    """A bank statement file to import (camt.053 or MT940), at most ``STATEMENT_LIMIT``
    bytes."""

    statement = FileField(
        _l("Bank statement file (camt.053 or MT940)"),
        validators=[
            FileRequired(message=_l("Choose the statement file to import.")),
            FileSize(
                max_size=STATEMENT_LIMIT,
                message=_l(
                    "The file is larger than 5 MB: split the statement by month or account."
                ),
            ),
        ],
    )


class TickOffForm(Form):
    """A payout ticked off by hand: the deposit's booking date and the bank's reference,
    as the statement shows them."""

    booking_date = DayField(_l("Booking date on the statement"))
    reference = StringField(
        _l("Bank reference"),
        validators=[
            InputRequired(message=_l("Enter the bank's reference of the deposit.")),
            Length(max=REFERENCE_LENGTH, message=_l("Enter at most 128 characters.")),
        ],
    )

    def validate_reference(self, field: StringField) -> None:
        """A reference of more than spaces."""
        if not (field.data or "").strip():
            raise ValidationError(_l("Enter the bank's reference of the deposit."))

    def validate_booking_date(self, field: DayField) -> None:
        """The date is needed."""
        if field.data is None and not field.errors:
            raise ValidationError(_l("Enter the booking date."))


class DepositChoiceForm(Form):
    """An imported deposit a person chose for a payout."""

    deposit = WholeNumberField(
        widget=HiddenInput(),
        low=1,
        high=2**62,
        message=_l("Choose one of the listed deposits."),
        validators=[InputRequired(message=_l("Choose one of the listed deposits."))],
    )
