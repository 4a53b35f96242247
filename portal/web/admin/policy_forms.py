"""The policy pages' forms: the keys admins change most (authority limits, hold lengths,
stage boundaries), the whole override file, and a checker's approval or rejection.
Every message is translated; the parser checks the rest when a proposal is made."""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from negotiation import Frequency, PlanKind
from portal.policy.versions import MAX_NOTE, MAX_TOML
from portal.web.common.forms import Form, MultiCheckboxField, OwnMessage, WholeNumberField, blank
from portal.wording.engine import FREQUENCY_NAMES, KIND_NAMES
from portal.wording.policy import KEY_NAMES

NOTE_LENGTH = Length(max=MAX_NOTE, message=_l("Please keep it under 2000 characters."))

ROLES = ("agent", "supervisor")
# (leaf, least, most) of each whole-number key; the parser's own bounds.
ROLE_WHOLE = (
    ("max_installments", 2, 600),
    ("max_restructure_installments", 0, 600),
    ("max_days_to_first_payment", 0, 36_500),
)
ROLE_PERCENT = (
    "minimum_down_payment_pct",
    "max_penalty_waiver_pct",
    "max_fee_waiver_pct",
    "settlement_discount_cap_pct",
    "min_plan_interest_rate_pct",
)
OTHER_WHOLE = (
    ("holds.hardship_breathing_space_days", 1, 366),
    ("holds.dispute_review_days", 1, 366),
    ("stages.early_from_days", 1, 36_500),
    ("stages.mid_from_days", 2, 36_500),
    ("stages.late_from_days", 3, 36_500),
)


def field_name(key: str) -> str:
    """A dotted key as a form field's name."""
    return key.replace(".", "__").replace("-", "_")


class PercentField(OwnMessage, StringField):
    """A percentage from 0 to 100, as an exact Decimal."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if blank(self, valuelist):
            return
        text = unicodedata.normalize("NFKC", str(valuelist[0])).strip().rstrip("%").strip()
        try:
            value = Decimal(text) if text.isascii() and len(text) <= 12 else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or not 0 <= value <= 100:
            raise ValueError(_l("Enter a percentage from 0 to 100."))
        self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else f"{Decimal(self.data):f}"


def _whole(key: str, low: int, high: int) -> WholeNumberField:
    return WholeNumberField(
        KEY_NAMES[key.rpartition(".")[2]],
        validators=[InputRequired(message=_l("Enter a number."))],
        low=low,
        high=high,
        message=_l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high),
    )


REQUIRED_CHOICE = _l("Choose at least one.")


class PolicyValuesForm(Form):
    """The keys admins change most, shown with the values in force."""

    reason = TextAreaField(
        _l("Why the policy should change"),
        validators=[InputRequired(message=_l("Say why the policy should change.")), NOTE_LENGTH],
    )

    def keyed_fields(self) -> list[tuple[str, Field]]:
        """Each (dotted key, field), in the page's order."""
        return [(key, self[field_name(key)]) for key in KEYS]

    def fill(self, values: dict[str, object]) -> None:
        """Show the values in force (a GET)."""
        for key, field in self.keyed_fields():
            field.data = values.get(key)

    def values(self, in_force: dict[str, object]) -> dict[str, object]:
        """The submitted values by dotted key; a list of the same choices as in force
        keeps the order in force (reordering is no change)."""
        found: dict[str, object] = {}
        for key, field in self.keyed_fields():
            value = field.data
            old = in_force.get(key)
            if isinstance(value, list) and isinstance(old, list) and set(value) == set(old):
                value = old
            found[key] = value
        return found


KEYS: list[str] = []


def _add(key: str, field: Any) -> None:
    KEYS.append(key)
    setattr(PolicyValuesForm, field_name(key), field)


for _role in ROLES:
    _add(
        f"authority.{_role}.plan_kinds",
        MultiCheckboxField(
            KEY_NAMES["plan_kinds"],
            choices=[SelectChoice(kind.value, KIND_NAMES[kind]) for kind in PlanKind],
            validators=[InputRequired(message=REQUIRED_CHOICE)],
        ),
    )
    _add(
        f"authority.{_role}.frequencies",
        MultiCheckboxField(
            KEY_NAMES["frequencies"],
            choices=[SelectChoice(f.value, FREQUENCY_NAMES[f.value]) for f in Frequency],
            validators=[InputRequired(message=REQUIRED_CHOICE)],
        ),
    )
    for _leaf, _low, _high in ROLE_WHOLE:
        _add(f"authority.{_role}.{_leaf}", _whole(_leaf, _low, _high))
    for _leaf in ROLE_PERCENT:
        _add(
            f"authority.{_role}.{_leaf}",
            PercentField(
                KEY_NAMES[_leaf],
                validators=[InputRequired(message=_l("Enter a percentage from 0 to 100."))],
                render_kw={"inputmode": "decimal"},
            ),
        )
for _key, _low, _high in OTHER_WHOLE:
    _add(_key, _whole(_key, _low, _high))


class PolicyTextForm(Form):
    """The whole override file, for any key (the advanced way)."""

    toml = TextAreaField(
        _l("The override file (TOML)"),
        validators=[Length(max=MAX_TOML, message=_l("The text is too long."))],
    )
    # Its own id: the values form on the same page has a "reason" too (ids are unique).
    reason = TextAreaField(
        _l("Why the policy should change"),
        validators=[InputRequired(message=_l("Say why the policy should change.")), NOTE_LENGTH],
        id="file-reason",
    )


class ApproveForm(Form):
    """A checker's approval, with an optional note."""

    note = TextAreaField(_l("Note (optional)"), validators=[NOTE_LENGTH])


class RejectForm(Form):
    """A checker's rejection, saying why."""

    note = TextAreaField(
        _l("Why it is rejected"),
        validators=[InputRequired(message=_l("Say why the proposal is rejected.")), NOTE_LENGTH],
    )
