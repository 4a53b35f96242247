"""The form an agent fills in after a call. Every message is translated; amounts are
typed in major units and kept as exact minor units (the borrower calculator's field),
times are typed as the borrower's local clock reads them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, Length, ValidationError

from negotiation.contact import Channel
from negotiation.jurisdiction import JURISDICTIONS
from portal.contact.calls import (
    ANSWERERS,
    CALLBACK_WITHIN,
    DIRECTIONS,
    OPT_OUT_CHANNELS,
    OUTCOMES,
    OUTCOMES_FOR,
    Answerer,
    CallReport,
    Direction,
    Outcome,
)
from portal.contact.promises import PromiseLimits, PromiseProblem, promise_problems
from portal.core.i18n import long_date, money
from portal.web.common.forms import AmountField, DayField, Form, MultiCheckboxField, optional

# How long ago the call began, in minutes: a call is logged when it ends.
STARTED_CHOICES = (0, 5, 10, 15, 30, 60)
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends


class LocalTimeField(StringField):
    """A moment typed as the borrower's clock reads it (YYYY-MM-DDTHH:MM, what a
    datetime-local input sends; a space for the T is accepted); ``data`` is the text,
    ``moment(zone)`` the aware time."""

    def pre_validate(self, form: Any) -> None:
        """Only the shape here: the zone is the form's to apply."""
        if self.data and self.parsed() is None:
            raise ValidationError(_l("Enter a date and time like 2026-12-01T19:30."))

    def parsed(self) -> datetime | None:
        """The wall-clock time typed, or None when there is none or it is malformed."""
        text = (self.data or "").strip().replace(" ", "T")
        if not text:
            return None
        try:
            # A wall-clock time without a zone: the borrower's is applied by the caller.
            return datetime.strptime(text[:16], LOCAL_MINUTE)  # noqa: DTZ007
        except ValueError:
            return None

    def moment(self, zone: ZoneInfo) -> datetime | None:
        """The typed time in ``zone``, or None."""
        wall = self.parsed()
        return wall.replace(tzinfo=zone) if wall else None


def _coded_radio(label: Any, names: dict[Any, Any], default: str | None = None) -> RadioField:
    """Radio buttons for stored codes (``names``: code to words); a code not listed is a
    clear, translated error, not WTForms' own."""
    return RadioField(
        label,
        choices=[SelectChoice(code.value, words) for code, words in names.items()],
        default=default,
        validate_choice=False,
        validators=[
            optional(),
            AnyOf([code.value for code in names], message=_l("Choose one of the listed values.")),
        ],
    )


class CallForm(Form):
    """What came of a call: who called whom, who answered, the outcome, and what goes
    with it.

    Before ``validate``, the view sets ``limits`` (the promise bounds), ``zone`` (the
    borrower's) and ``now``.
    """

    direction = _coded_radio(_l("Who called?"), DIRECTIONS, default=Direction.OUTBOUND.value)
    answered = _coded_radio(_l("Who answered?"), ANSWERERS)
    outcome = _coded_radio(_l("Outcome"), OUTCOMES)
    started = SelectField(
        _l("The call began"),
        choices=[
            SelectChoice("0", _l("Just now")),
            *(
                SelectChoice(str(m), _l("%(minutes)s minutes ago", minutes=m))
                for m in STARTED_CHOICES[1:]
            ),
        ],
        default="0",
        validate_choice=False,
        validators=[
            optional(),
            AnyOf(
                [str(m) for m in STARTED_CHOICES], message=_l("Choose one of the listed values.")
            ),
        ],
    )
    callback_at = LocalTimeField(_l("Call back at (the borrower's local time)"))
    promise_date = DayField(_l("Promised payment date"))
    promise_amount = AmountField(_l("Promised amount"))
    opt_out = MultiCheckboxField(
        _l("The borrower asked not to be contacted again by"),
        choices=[SelectChoice(k.value, v) for k, v in OPT_OUT_CHANNELS.items()],
        validate_choice=False,
    )
    note = TextAreaField(
        _l("Note"),
        validators=[Length(max=2000, message=_l("Write at most 2,000 characters."))],
    )

    limits: PromiseLimits | None = None
    zone: ZoneInfo | None = None
    now: datetime | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields, then how they fit together: each answerer's outcomes, what each
        outcome needs, and nothing recorded that does not go with the outcome."""
        valid = super().validate(extra_validators)
        if not valid:
            return False
        self._fit_together()
        return not self.errors

    def _fail(self, field: Any, message: Any) -> None:
        field.errors = [*field.errors, message]

    def _direction(self) -> Direction:
        return Direction(self.direction.data or Direction.OUTBOUND.value)

    def _fit_together(self) -> None:
        if self._direction() is Direction.INBOUND:
            # Whoever rings us, it is the borrower on the line (no one else is told
            # anything about a debt, so no one else's call is logged here).
            if self.answered.data and self.answered.data != Answerer.BORROWER.value:
                self._fail(
                    self.answered,
                    _l("The borrower called: choose “the borrower” here, or leave it."),
                )
                return
            self.answered.data = Answerer.BORROWER.value
        if not self.answered.data:
            self._fail(self.answered, _l("Choose who answered."))
            return
        answerer = Answerer(self.answered.data)
        allowed = OUTCOMES_FOR[answerer]
        if not self.outcome.data and answerer is not Answerer.BORROWER:
            self.outcome.data = allowed[0].value
        if not self.outcome.data:
            self._fail(self.outcome, _l("Choose what came of the call."))
            return
        outcome = Outcome(self.outcome.data)
        if outcome not in allowed:
            if answerer is Answerer.SOMEONE_ELSE:
                self._fail(
                    self.outcome,
                    _l(
                        "Someone else answered: nothing about the debt may be discussed with "
                        "them, so only “someone else answered” or “wrong number” can be "
                        "recorded."
                    ),
                )
            elif answerer is Answerer.NOBODY:
                self._fail(self.outcome, _l("Nobody answered: the outcome is “no answer”."))
            else:
                self._fail(
                    self.outcome,
                    _l("The borrower answered: choose what they said, not “no answer”."),
                )
            return
        self._check_callback(outcome)
        self._check_promise(outcome)
        if self.opt_out.data:
            known = {c.value for c in OPT_OUT_CHANNELS}
            if answerer is not Answerer.BORROWER:
                self._fail(self.opt_out, _l("Only the borrower can ask not to be contacted."))
            elif not set(self.opt_out.data) <= known:
                self._fail(self.opt_out, _l("Choose one of the listed values."))

    def _check_callback(self, outcome: Outcome) -> None:
        if outcome is not Outcome.CALLBACK:
            if self.callback_at.data and self.callback_at.data.strip():
                self._fail(
                    self.callback_at,
                    _l("A callback time goes with the outcome “asked to be called back”."),
                )
            return
        moment = self.callback_at.moment(self.zone) if self.zone else None
        if moment is None:
            self._fail(self.callback_at, _l("Enter when the borrower asked to be called back."))
            return
        if self.now is not None and not self.now < moment <= self.now + CALLBACK_WITHIN:
            self._fail(self.callback_at, _l("Enter a time in the next 30 days."))

    def _check_promise(self, outcome: Outcome) -> None:
        given = self.promise_date.data is not None or self.promise_amount.data is not None
        if outcome is not Outcome.PROMISE:
            if given:
                self._fail(
                    self.promise_date,
                    _l("A promised date and amount go with the outcome “promised to pay”."),
                )
            return
        if self.promise_date.data is None:
            self._fail(self.promise_date, _l("Enter the date the borrower promised to pay by."))
        if self.promise_amount.data is None:
            self._fail(self.promise_amount, _l("Enter the amount the borrower promised."))
        if (
            self.limits is None
            or self.promise_date.data is None
            or self.promise_amount.data is None
        ):
            return
        limits = self.limits
        for problem in promise_problems(limits, self.promise_date.data, self.promise_amount.data):
            if problem is PromiseProblem.PAST:
                self._fail(self.promise_date, _l("The promised date is in the past."))
            elif problem is PromiseProblem.TOO_FAR:
                self._fail(
                    self.promise_date,
                    _l(
                        "A promise to pay may run at most %(days)s days: by %(date)s at the "
                        "latest.",
                        days=limits.days,
                        date=long_date(limits.latest),
                    ),
                )
            elif problem is PromiseProblem.NOT_POSITIVE:
                self._fail(self.promise_amount, _l("Enter an amount greater than zero."))
            else:
                self._fail(
                    self.promise_amount,
                    _l(
                        "That is more than everything owed (%(amount)s).",
                        amount=money(limits.most, limits.currency),
                    ),
                )

    def report(self, now: datetime) -> CallReport:
        """The validated form as the service's input."""
        answered = Answerer(self.answered.data)
        return CallReport(
            direction=self._direction(),
            answered=answered,
            outcome=Outcome(self.outcome.data),
            started=now - timedelta(minutes=int(self.started.data or 0)),
            note=self.note.data or "",
            callback_at=self.callback_at.moment(self.zone) if self.zone else None,
            promise_due=self.promise_date.data,
            promise_amount=self.promise_amount.data,
            opt_out=tuple(Channel(c) for c in self.opt_out.data or ()),
        )


class JurisdictionForm(Form):
    """Where the borrower lives, for the contact rules: a country, or a US state."""

    jurisdiction = SelectField(
        _l("Where the borrower lives"),
        # A code not in the list is refused by the field itself ("Not a valid choice").
        choices=[SelectChoice(code, code) for code in JURISDICTIONS],
    )
