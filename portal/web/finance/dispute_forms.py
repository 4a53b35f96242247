"""The chargeback evidence form: Stripe's evidence fields, as the system assembled them
and finance edits them, submitted with CSRF."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.finance.disputes import EVIDENCE_FIELDS, LONGEST_FIELD, LONGEST_SHORT_FIELD
from portal.web.common.forms import Form
from portal.wording.disputes import EVIDENCE_LABELS

SHORT = Length(
    max=LONGEST_SHORT_FIELD,
    message=_l("Write at most %(max)d characters.", max=LONGEST_SHORT_FIELD),
)
LONG = Length(max=LONGEST_FIELD, message=_l("Write at most %(max)d characters.", max=LONGEST_FIELD))


class EvidenceForm(Form):
    """The evidence to submit; the name and what the payment was for are required."""

    customer_name = StringField(
        EVIDENCE_LABELS["customer_name"],
        validators=[InputRequired(message=_l("Enter the cardholder's name.")), SHORT],
    )
    customer_email_address = StringField(EVIDENCE_LABELS["customer_email_address"], [SHORT])
    customer_purchase_ip = StringField(EVIDENCE_LABELS["customer_purchase_ip"], [SHORT])
    service_date = StringField(EVIDENCE_LABELS["service_date"], [SHORT])
    product_description = TextAreaField(
        EVIDENCE_LABELS["product_description"],
        validators=[InputRequired(message=_l("Say what the payment was for.")), LONG],
    )
    access_activity_log = TextAreaField(EVIDENCE_LABELS["access_activity_log"], [LONG])
    uncategorized_text = TextAreaField(EVIDENCE_LABELS["uncategorized_text"], [LONG])

    def evidence(self) -> dict[str, str]:
        """The fields as Stripe's evidence."""
        return {name: self[name].data or "" for name in EVIDENCE_FIELDS}
