"""The reminder forms of the agent console: send one from a case, record or lift an
opt-out, the outbox's filter, and the channel of a bulk send (its segment is the queue's
filter, read by ``portal.cases.queue.parse_filter``). Posted forms carry the CSRF token;
the GET forms change nothing and carry none. Every message is translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, ValidationError

from negotiation.contact import Channel
from portal.core.db import MAX_ID
from portal.messaging.queries import OUTBOX_CHANNELS
from portal.models import MessageStatus
from portal.web.common.forms import Form, GetForm, whole_number

# The channels a reminder is sent on (a letter is printed, a call is made).
SENT_CHANNELS = tuple(channel.value for channel in Channel if channel.is_message)
# The channels a borrower may opt out of: every one.
OPT_OUT_CHANNELS = tuple(channel.value for channel in Channel)
# A message's stored statuses (the outbox's filter).
STATUSES = tuple(MessageStatus)
LAST_PAGE = 100_000

CHOOSE_SENT_CHANNEL = _l("Choose SMS or email.")
CHOOSE_CHANNEL = _l("Choose a channel.")


def _known(choices: tuple[str, ...]) -> Any:
    """A filter: the value when it is one of ``choices``, else none ("")."""

    def known(value: str | None) -> str:
        return value if value in choices else ""

    return known


def _page(value: str | None) -> int:
    """A page number from 1 to ``LAST_PAGE``; anything else is the first page."""
    return whole_number(value, LAST_PAGE) or 1


class SendMessageForm(Form):
    """Send a reminder (or an offer's link) on a channel; ``schedule=1`` to schedule it
    for the first allowed moment when it may not go now."""

    channel = HiddenField(validators=[AnyOf(SENT_CHANNELS, message=CHOOSE_SENT_CHANNEL)])
    offer_id = HiddenField(filters=[lambda value: (value or "").strip()])
    schedule = HiddenField()
    # "validation": the debt's validation notice (US Regulation F), by email only.
    purpose = HiddenField(filters=[lambda value: "validation" if value == "validation" else ""])

    def validation_notice(self) -> bool:
        """Whether the validation notice is asked for, rather than a reminder."""
        return bool(self.purpose.data == "validation")

    def sent_channel(self) -> Channel:
        """The validated channel."""
        return Channel(self.channel.data)

    def offer_number(self) -> int | None:
        """The offer asked for: None when none is, 0 when the value names no offer."""
        raw = self.offer_id.data
        if not raw:
            return None
        return whole_number(raw, MAX_ID) or 0

    def scheduled(self) -> bool:
        """Whether to schedule the message when it may not go now."""
        return bool(self.schedule.data == "1")


class OptOutForm(Form):
    """Record an opt-out the borrower said, or lift one with their consent."""

    channel = StringField(validators=[AnyOf(OPT_OUT_CHANNELS, message=CHOOSE_CHANNEL)])
    action = StringField(
        default="record", validators=[AnyOf(("record", "lift"), message=CHOOSE_CHANNEL)]
    )
    consent = StringField()

    def validate_consent(self, field: StringField) -> None:
        """Lifting needs the borrower's agreement, confirmed by the agent."""
        if self.action.data == "lift" and field.data != "1":
            raise ValidationError(
                _l(
                    "An opt-out is lifted only when the borrower agrees: tick the box to "
                    "confirm they did."
                )
            )

    def problem(self) -> str | None:
        """The first problem found (the channel and action's before the consent's)."""
        for field in (self.channel, self.action, self.consent):
            if field.errors:
                return str(field.errors[0])
        return None

    def opted_channel(self) -> Channel:
        """The validated channel."""
        return Channel(self.channel.data)

    def lifting(self) -> bool:
        """Whether the opt-out is lifted (else it is recorded)."""
        return bool(self.action.data == "lift")


class OutboxForm(GetForm):
    """The outbox's status and channel filters and page; anything unknown is left out,
    not refused."""

    status = StringField(filters=[_known(STATUSES)])
    channel = StringField(filters=[_known(OUTBOX_CHANNELS)])
    page = StringField(filters=[_page])


class BulkPreviewForm(GetForm):
    """The channel of a bulk send being chosen, and whether to preview it."""

    channel = StringField(validators=[AnyOf(SENT_CHANNELS, message=CHOOSE_SENT_CHANNEL)])
    preview = StringField()

    def previewing(self) -> bool:
        """Whether the preview is asked for."""
        return bool(self.preview.data == "1")

    def chosen_channel(self) -> Channel | None:
        """The channel, or None when none of the sent ones is chosen."""
        return Channel(self.channel.data) if self.channel.data in SENT_CHANNELS else None


class BulkSendForm(Form):
    """The channel of a bulk send being queued (its segment comes with it)."""

    channel = StringField(validators=[AnyOf(SENT_CHANNELS, message=CHOOSE_SENT_CHANNEL)])

    def chosen_channel(self) -> Channel | None:
        """The channel, or None when none of the sent ones is chosen."""
        return Channel(self.channel.data) if self.channel.data in SENT_CHANNELS else None
