"""Fields and forms every blueprint uses. Every message is translated, including the
ones WTForms would otherwise word itself."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateField, Field, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.currency import minor_digits
from portal.finance.reports import EARLIEST, LATEST

# What a date input sends, and what we ask for.
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# The same, with a month or day of one digit (2026-1-5), as the consoles have always read.
LOOSE_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")

MAX_MAJOR = Decimal(10) ** 11  # a hundred billion: far beyond any household figure
AMOUNT = re.compile(r"\d+(\.\d+)?")  # plain digits: no signs, exponents or underscores
GROUPED = re.compile(r"\d+(\.\d+)?|\d{1,3}(,\d{3})+(\.\d+)?")  # 1500 or 1,500 (not 1,5,0,0)


# What may follow the decimal point, by the currency's minor unit (ISO 4217 knows 0, 2, 3).
DECIMALS_ALLOWED = {
    0: _l("Enter a whole amount, with no decimal point."),
    2: _l("Use at most two digits after the decimal point."),
    3: _l("Use at most three digits after the decimal point."),
}


def in_currency(currency: str, **meta: Any) -> dict[str, Any]:
    """A form's ``meta`` for amounts in ``currency``: ``Form(meta=in_currency("TWD"))``."""
    return {"currency": currency, **meta}


def whole_number(text: object, most: int) -> int | None:
    """``text`` as a whole number from 0 to ``most`` (plain or full-width digits, spaces
    around allowed), or None for anything else: no sign, no exponent, no other script's
    digits, and never an ``int()`` of more digits than ``most`` has (Python refuses to read
    more than 4,300, and a database column holds far fewer)."""
    cleaned = unicodedata.normalize("NFKC", "" if text is None else str(text)).strip()
    if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > len(str(most)):
        return None
    value = int(cleaned)
    return value if value <= most else None


def optional() -> Optional:
    """WTForms' ``Optional`` for a value that may be left out, but not for one that is only
    spaces: ``Optional()`` ends the checks on "   " and leaves "   " as the data, so the
    checks after it (``AnyOf``, ``Regexp``) never see the value the view then uses."""
    return Optional(strip_whitespace=False)


def blank(field: Field, valuelist: list[Any]) -> bool:
    """Whether the field was sent nothing but spaces; if so it counts as not sent at all,
    so ``InputRequired`` asks for it and ``Optional`` lets it be (a typed field's data is
    then None, never a space the view cannot read)."""
    if valuelist and str(valuelist[0]).strip():
        return False
    field.raw_data = []
    return True


class OwnMessage:
    """A field that reads its own input stops at its own error: the validators after it
    (``InputRequired``, ``NumberRange``, the form's ``validate_<field>``) would only add a
    second message about the same input."""

    process_errors: list[Any]

    def pre_validate(self, form: Any) -> None:
        if self.process_errors:
            raise StopValidation()


class WholeNumberField(OwnMessage, StringField):
    """A whole number from ``low`` to ``high``, typed in plain or full-width digits;
    ``message`` for anything else (a sign, a decimal, a 309-digit number...). Rendered as
    text with a numeric keyboard, so what was typed is shown back as typed."""

    def __init__(
        self,
        label: Any = None,
        validators: Any = None,
        *,
        low: int,
        high: int,
        message: Any,
        **kwargs: Any,
    ) -> None:
        render_kw = {"inputmode": "numeric", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.low, self.high, self.message = low, high, message

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if blank(self, valuelist):
            return
        value = whole_number(valuelist[0], self.high)
        if value is None or value < self.low:
            raise ValueError(self.message)
        self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else str(self.data)


class AmountField(OwnMessage, StringField):
    """A money amount typed in major units; ``data`` is minor units (int) or None. The
    currency comes from the form's meta (``in_currency``): its exponent says how many
    decimals may be typed and how an amount is written back."""

    def _digits(self) -> int:
        currency = getattr(self.meta, "currency", None)
        if not currency:
            # A programming error, not bad input: every form of amounts knows its currency.
            raise TypeError(f"{self.name}: build the form with meta=in_currency(...)")
        return minor_digits(str(currency))

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if blank(self, valuelist):
            return
        # Full-width digits and commas from CJK keyboards count as their ASCII selves.
        text = unicodedata.normalize("NFKC", str(valuelist[0])).strip()
        if text.startswith("-"):
            raise ValueError(_l("An amount cannot be negative."))
        if not GROUPED.fullmatch(text):
            raise ValueError(_l("Enter an amount in numbers, like 1500 or 1500.50."))
        text = text.replace(",", "")
        if not AMOUNT.fullmatch(text):
            raise ValueError(_l("Enter an amount in numbers, like 1500 or 1500.50."))
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(_l("Enter an amount in numbers, like 1500 or 1500.50.")) from None
        if not value.is_finite() or value < 0 or value >= MAX_MAJOR:
            raise ValueError(_l("Enter an amount of zero or more."))
        digits = self._digits()
        minor = value.scaleb(digits)
        if minor != minor.to_integral_value():
            raise ValueError(DECIMALS_ALLOWED[digits])
        self.data = int(minor)

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        text = f"{Decimal(self.data).scaleb(-self._digits()):f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


class OwnCatalogs:
    """WTForms' own messages ("Not a valid choice.") looked up in our catalogs: WTForms'
    catalogs know no zh_Hant_TW and answer a Taiwan page in Simplified Chinese. The
    messages are listed for extraction in ``portal.web.common.wtforms_messages``."""

    def gettext(self, string: str) -> str:
        return str(get_translations().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(get_translations().ungettext(singular, plural, n))


OWN_CATALOGS = OwnCatalogs()


class Form(FlaskForm):
    """Every form of the portal: WTForms' messages come from our catalogs, and a field
    shows one message, its first (a value it cannot read is not also "required" or "out
    of range")."""

    class Meta:
        def get_translations(self, form: Any) -> OwnCatalogs:
            return OWN_CATALOGS

        def render_field(self, field: Field, render_kw: dict[str, Any]) -> Any:
            html = super().render_field(field, render_kw)  # type: ignore[misc]
            if (
                isinstance(field, SelectField)
                and field.flags.required
                and html.startswith("<select")
            ):
                html = _empty_first_option(field, html)
            return html

    def validate(self, extra_validators: Any = None) -> bool:
        valid = bool(super().validate(extra_validators))
        for form_field in self:
            del form_field.errors[1:]
        self._errors = None  # the errors dict is rebuilt from the trimmed fields
        return valid


def _empty_first_option(field: SelectField, html: Markup) -> Markup:
    """A required select starts with an empty option (HTML requires it): nothing is
    chosen for the person, and choosing nothing is refused in words."""
    if any(str(choice[0]) == "" for choice in field.iter_choices()):
        return html
    opening, bracket, options = html.partition(">")  # the <select ...> tag, then its options
    empty = Markup('<option value="">{}</option>').format(_l("Choose one"))  # escaped
    return opening + bracket + empty + options


class GetForm(Form):
    """A form read from the query string: no CSRF token, since reading changes nothing."""

    class Meta:
        csrf = False


class DayField(OwnMessage, DateField):
    """A calendar day typed as YYYY-MM-DD (what a date input sends; full-width digits
    too), between 2000 and 2099 unless ``any_year``; anything else is a translated error,
    not WTForms' own English. ``unreadable`` is the error for text that is no such day
    (a borrower's form says it in its own words). A month or day of one digit (2026-1-5)
    is read too, unless ``padded`` (the borrower's form, which always took YYYY-MM-DD
    exactly)."""

    def __init__(
        self,
        label: Any = None,
        validators: Any = None,
        *,
        unreadable: Any = None,
        any_year: bool = False,
        padded: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, format="%Y-%m-%d", **kwargs)
        self.unreadable = unreadable or _l("Enter a date as YYYY-MM-DD, like 2026-11-29.")
        self.any_year = any_year
        self.padded = padded

    def __call__(self, **kwargs: Any) -> Any:
        """A date input, unless what is shown back is not YYYY-MM-DD: a browser blanks a
        date input given anything else, so the person would not see what they typed.
        Then it is a text input with a numeric keyboard (and the field's error says why)."""
        shown = self._value()
        if shown and _iso_day(shown) is None:
            for limit in ("min", "max"):
                kwargs.pop(limit, None)
            kwargs.update(type="text", inputmode="numeric", placeholder="YYYY-MM-DD")
        return super().__call__(**kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if blank(self, valuelist):
            return
        text = unicodedata.normalize("NFKC", str(valuelist[0])).strip()
        day = _iso_day(text) if self.padded else _loose_day(text)
        if day is None:
            raise ValueError(self.unreadable)
        if not self.any_year and not EARLIEST <= day <= LATEST:
            raise ValueError(_l("Enter a date between 2000 and 2099."))
        self.data = day


def _iso_day(text: str) -> date | None:
    """YYYY-MM-DD exactly, or None."""
    try:
        return date.fromisoformat(text) if ISO_DAY.fullmatch(text) else None
    except ValueError:
        return None


def _loose_day(text: str) -> date | None:
    """YYYY-M-D with one or two digits for the month and the day, or None."""
    found = LOOSE_DAY.fullmatch(text)
    try:
        return date(*(int(part) for part in found.groups())) if found else None
    except ValueError:
        return None


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for a multiple choice (no JavaScript, each with its label)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
