"""The forms of a case's legal track. Every message is translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from negotiation.legal import LegalCost, LegalMilestone
from portal.legal.service import CostLine, DocumentLine
from portal.models import LegalDocumentKind
from portal.web.common.forms import AmountField, DayField, Form, optional
from portal.wording.legal import COST_NAMES, DOCUMENT_KINDS, MILESTONE_NAMES

NOTE_LENGTH = Length(max=2000, message=_l("Please keep it under 2000 characters."))
# Cost and document lines a milestone form offers.
LINES = 2


class ReferForm(Form):
    """Refer the case for legal action, saying why."""

    note = TextAreaField(
        _l("Why the case is referred"),
        validators=[InputRequired(message=_l("Say why the case is referred.")), NOTE_LENGTH],
        id="legal-refer-note",
    )


class DecideForm(Form):
    """A supervisor approves or refuses a referral (a refusal says why)."""

    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("approve", _l("Approve the referral")),
            SelectChoice("refuse", _l("Refuse the referral")),
        ],
        validators=[InputRequired(message=_l("Choose a decision."))],
    )
    note = TextAreaField(
        _l("Why (required to refuse)"), [optional(), NOTE_LENGTH], id="legal-decide-note"
    )


class NoticeForm(Form):
    """Send the final notice (the letter and an email or SMS)."""


class EndForm(Form):
    """Stop or close the track, saying why."""

    note = TextAreaField(
        _l("Why"),
        validators=[InputRequired(message=_l("Say why.")), NOTE_LENGTH],
        id="legal-end-note",
    )


def _cost_choices() -> list[SelectChoice]:
    return [SelectChoice("", _l("No cost"))] + [
        SelectChoice(c.value, COST_NAMES[c]) for c in LegalCost
    ]


def _document_choices() -> list[SelectChoice]:
    return [SelectChoice(d.value, DOCUMENT_KINDS[d]) for d in LegalDocumentKind]


class MilestoneForm(Form):
    """Record the next step of the path: its date, a note, costs and documents."""

    milestone = SelectField(
        _l("Step"),
        choices=[SelectChoice(m.value, MILESTONE_NAMES[m]) for m in LegalMilestone],
        validators=[InputRequired(message=_l("Choose the step."))],
    )
    reached_on = DayField(
        _l("Date reached"), validators=[InputRequired(message=_l("Enter the date reached."))]
    )
    note = TextAreaField(_l("Note"), [optional(), NOTE_LENGTH], id="legal-step-note")
    cost_kind_1 = SelectField(_l("Cost"), choices=_cost_choices(), validators=[optional()])
    cost_amount_1 = AmountField(_l("Amount"), validators=[optional()])
    cost_charge_1 = BooleanField(_l("Add it to what the borrower owes (only where the law allows)"))
    cost_kind_2 = SelectField(_l("Cost"), choices=_cost_choices(), validators=[optional()])
    cost_amount_2 = AmountField(_l("Amount"), validators=[optional()])
    cost_charge_2 = BooleanField(_l("Add it to what the borrower owes (only where the law allows)"))
    document_kind_1 = SelectField(_l("Document"), choices=_document_choices())
    document_name_1 = StringField(_l("Document name"), [optional(), Length(max=200)])
    document_kind_2 = SelectField(_l("Document"), choices=_document_choices())
    document_name_2 = StringField(_l("Document name"), [optional(), Length(max=200)])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for n in range(1, LINES + 1):
            kind, amount = self[f"cost_kind_{n}"], self[f"cost_amount_{n}"]
            if kind.errors or amount.errors:
                continue  # one message a field: its own says what is wrong
            if kind.data and not amount.data:
                amount.errors.append(_l("Enter an amount above zero for the cost."))
                valid = False
            elif amount.data and not kind.data:
                kind.errors.append(_l("Choose what the cost is for."))
                valid = False
        self._errors = None
        return bool(valid)

    def costs(self) -> tuple[CostLine, ...]:
        """The cost lines filled in."""
        return tuple(
            CostLine(
                LegalCost(self[f"cost_kind_{n}"].data),
                int(self[f"cost_amount_{n}"].data),
                bool(self[f"cost_charge_{n}"].data),
            )
            for n in range(1, LINES + 1)
            if self[f"cost_kind_{n}"].data and self[f"cost_amount_{n}"].data
        )

    def documents(self) -> tuple[DocumentLine, ...]:
        """The document lines named."""
        return tuple(
            DocumentLine(
                LegalDocumentKind(self[f"document_kind_{n}"].data),
                str(self[f"document_name_{n}"].data).strip(),
            )
            for n in range(1, LINES + 1)
            if str(self[f"document_name_{n}"].data or "").strip()
        )
