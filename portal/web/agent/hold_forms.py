"""The forms of a case's hold: lift a hardship, propose a dispute's resolution, sign it
off. Every message is translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from portal.web.common.forms import Form

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
