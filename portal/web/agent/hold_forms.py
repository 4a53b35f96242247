"""The forms of a case's hold: lift a hardship, propose a dispute's resolution, sign it
off. Every message is translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from portal.cases.adjustments import Request
from portal.models import AdjustmentKind, Case
from portal.web.common.forms import AmountField, Form, in_currency, optional

NOTE_LENGTH = Length(max=2000, message=_l("Please keep it under 2000 characters."))


class LiftForm(Form):
    """End a hardship's breathing space before its date, saying why."""

    note = TextAreaField(
        _l("Why the hold is lifted"),
        validators=[InputRequired(message=_l("Say why the hold is lifted.")), NOTE_LENGTH],
        # Its own id: the case page has other forms with a "note" (the call log's).
        id="hold-note",
    )


class ProposeForm(Form):
    """How the agent proposes to resolve a dispute; a supervisor signs it off."""

    resolution = RadioField(
        _l("Proposed resolution"),
        choices=[
            SelectChoice("upheld", _l("Upheld: the borrower is right")),
            SelectChoice("rejected", _l("Rejected: the debt is owed as shown")),
        ],
        validators=[InputRequired(message=_l("Choose a resolution."))],
    )
    note = TextAreaField(
        _l("What was checked, and why"),
        validators=[InputRequired(message=_l("Say what was checked and why.")), NOTE_LENGTH],
        id="hold-note",
    )
    close_case = BooleanField(
        _l("Close the case: the debt is not theirs (write off the whole balance)")
    )

    def charge_fields(self) -> list[tuple[int, Any]]:
        """(charge id, its amount field), in the order the form was built."""
        return [(int(f.name.split("_")[1]), f) for f in self if f.name.startswith("charge_")]

    def installment_fields(self) -> list[tuple[int, Any]]:
        """(installment id, its amount field), in the order the form was built."""
        return [(int(f.name.split("_")[1]), f) for f in self if f.name.startswith("installment_")]

    def changes(self) -> list[Request]:
        """What the agent asks the books to change (empty amounts ask for nothing)."""
        if self.close_case.data:
            return [Request(AdjustmentKind.WRITE_OFF)]
        asked = [
            Request(AdjustmentKind.WAIVE_CHARGE, item, field.data)
            for item, field in self.charge_fields()
            if field.data is not None
        ]
        return asked + [
            Request(AdjustmentKind.REDUCE_INSTALLMENT, item, field.data)
            for item, field in self.installment_fields()
            if field.data is not None
        ]

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        amounts = [f for _, f in self.charge_fields() + self.installment_fields()]
        for field in amounts:
            if field.data == 0:
                field.errors.append(_l("Enter an amount above zero, or leave it empty."))
                valid = False
        given = any(field.data is not None for field in amounts)
        if self.resolution.data == "rejected" and (given or self.close_case.data):
            self.resolution.errors.append(
                _l("Only an upheld dispute changes what is owed: leave the amounts empty.")
            )
            valid = False
        elif self.resolution.data == "upheld" and not (given or self.close_case.data):
            self.resolution.errors.append(
                _l(
                    "Say what upholding changes: charges waived, installments reduced, or the "
                    "case closed."
                )
            )
            valid = False
        elif self.close_case.data and given:
            self.close_case.errors.append(
                _l("Closing the case writes off everything: leave the amounts empty.")
            )
            valid = False
        self._errors = None  # rebuilt from the fields' errors added here
        return bool(valid)


def propose_form(case: Case, **kwargs: Any) -> ProposeForm:
    """The proposal form for ``case``: an amount field for each charge and each
    installment still owed (``charge_<id>``, ``installment_<id>``), in the loan's currency.
    Fields for another case's items do not exist, so what a tampered form names is read
    as nothing."""

    class CaseProposeForm(ProposeForm):
        pass

    loan = case.loan
    for charge in sorted(loan.charges, key=lambda c: (c.charged_on, c.id)):
        if charge.outstanding > 0:
            field = AmountField(_l("Amount to take off"), validators=[optional()])
            setattr(CaseProposeForm, f"charge_{charge.id}", field)
    for installment in loan.installments:
        if installment.unpaid > 0:
            field = AmountField(_l("Amount to take off"), validators=[optional()])
            setattr(CaseProposeForm, f"installment_{installment.id}", field)
    return CaseProposeForm(meta=in_currency(loan.currency), **kwargs)


class SignOffForm(Form):
    """The supervisor's decision on a proposed resolution."""

    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("approve", _l("Sign off: resolve the dispute as proposed")),
            SelectChoice("send_back", _l("Send back to the agent")),
        ],
        validators=[InputRequired(message=_l("Choose a decision."))],
    )
