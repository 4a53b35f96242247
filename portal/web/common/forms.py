"""Fields and forms every blueprint uses. Every message is translated, including the
ones WTForms would otherwise word itself."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField

from portal.finance.reports import EARLIEST, LATEST

# What a date input sends, and what we ask for.
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class GetForm(FlaskForm):
    """A form read from the query string: no CSRF token, since reading changes nothing."""

    class Meta:
        csrf = False


class DayField(DateField):
    """A calendar day typed as YYYY-MM-DD (what a date input sends; full-width digits
    too), between 2000 and 2099 unless ``any_year``; anything else is a translated error,
    not WTForms' own English. ``unreadable`` is the error for text that is no such day
    (a borrower's form says it in its own words)."""

    def __init__(
        self,
        label: Any = None,
        validators: Any = None,
        *,
        unreadable: Any = None,
        any_year: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, format="%Y-%m-%d", **kwargs)
        self.unreadable = unreadable or _l("Enter a date as YYYY-MM-DD, like 2026-11-29.")
        self.any_year = any_year

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        text = unicodedata.normalize("NFKC", str(valuelist[0])).strip()
        try:
            day = date.fromisoformat(text) if ISO_DAY.fullmatch(text) else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(self.unreadable)
        if not self.any_year and not EARLIEST <= day <= LATEST:
            raise ValueError(_l("Enter a date between 2000 and 2099."))
        self.data = day
