"""The page number of a paged list, read from its GET form (the query itself is cut to
that page by ``portal.core.pagination``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Regexp

from portal.web.common.forms import optional, whole_number

LAST_PAGE = 999999


def page_field() -> StringField:
    """A page number, 1 to 999999; anything else is a translated error."""
    return StringField(
        _l("Page"),
        validators=[optional(), Regexp(r"^[1-9][0-9]{0,5}$", message=_l("No such page."))],
    )


class Paged:
    """A GET form with a ``page = page_field()``."""

    page: StringField

    def page_number(self) -> int:
        """The page asked for (the first unless one was)."""
        return whole_number(self.page.data, LAST_PAGE) or 1
