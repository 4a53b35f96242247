"""Fields and forms every blueprint uses. Every message is translated, including the
ones WTForms would otherwise word itself."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField

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


class AmountField(StringField):
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
        if not valuelist or not str(valuelist[0]).strip():
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


class GetForm(FlaskForm):
    """A form read from the query string: no CSRF token, since reading changes nothing."""

    class Meta:
        csrf = False


class DayField(DateField):
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

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
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
