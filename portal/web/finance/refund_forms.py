"""The finance console's refund forms: the refund a finance member asks for (amount,
reason, note, and the key drawn when the form was shown), and the buttons that approve,
cancel or send a refund again (CSRF only)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, Regexp

from portal.finance.refunds import LONGEST_NOTE
from portal.web.common.forms import AmountField, Form
from portal.wording.refunds import REFUND_REASONS

# What ``portal.finance.refunds.new_key`` draws: URL-safe base64 (24 bytes, 32 characters).
KEY = r"[A-Za-z0-9_-]{16,64}"


class RefundForm(Form):
    """A refund of one payment, in its currency (``meta=in_currency(...)``)."""

    amount = AmountField(
        _l("Amount to refund"),
        validators=[InputRequired(message=_l("Enter the amount to refund."))],
    )
    reason = SelectField(
        _l("Reason"),
        choices=[SelectChoice(code, words) for code, words in REFUND_REASONS.items()],
        validate_choice=False,
        validators=[
            InputRequired(message=_l("Choose a reason.")),
            AnyOf(list(REFUND_REASONS), message=_l("Choose one of the listed values.")),
        ],
    )
    note = TextAreaField(
        _l("Note"),
        validators=[
            Length(
                max=LONGEST_NOTE,
                message=_l("Write at most %(count)s characters.", count=LONGEST_NOTE),
            )
        ],
    )
    key = HiddenField(
        _l("Form"),
        validators=[
            InputRequired(message=_l("The form has expired. Please try again.")),
            Regexp(KEY, message=_l("The form has expired. Please try again.")),
        ],
    )


class RefundActionForm(Form):
    """A button that approves, cancels or sends a refund again: its CSRF token only."""
