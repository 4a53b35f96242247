"""The month of an agency's commission statement (``commission_views``)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Regexp

from portal.web.common.forms import Form, GetForm


class StatementMonthForm(GetForm):
    """Which month's statement: YYYY-MM (the finance timezone's month)."""

    month = StringField(
        _l("Month"),
        validators=[
            Regexp(
                r"^20[0-9]{2}-(0[1-9]|1[0-2])$",
                message=_l("Enter a month as YYYY-MM, like 2026-11."),
            )
        ],
    )

    def first_day(self) -> date:
        """The month's first day (the form is valid)."""
        year, month = (int(part) for part in str(self.month.data).split("-"))
        return date(year, month, 1)


class BookCommissionForm(Form):
    """Book the commission on every payment and refund not yet booked (CSRF only)."""
