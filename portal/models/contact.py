"""Contact with borrowers: opt-outs, messages and their batches, the contact log, promises."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes


class OptOut(Base):
    """A borrower's request to stop contact on one channel (sms, email, call, letter).

    Kept for the record: lifting one sets ``lifted_at`` rather than deleting the row.
    ``source`` is how it reached us: ``link`` (the opt-out link in a message), ``agent``
    (said on a call, recorded by the agent), ``borrower_portal`` or ``sms_reply`` (STOP
    or 退訂 sent back to an SMS: ``portal.messaging.inbound``).
    """

    __tablename__ = "opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class InboundSms(Base):
    """An SMS a borrower sent us, by the provider's id for it (Twilio's ``MessageSid``):
    kept so a delivery received twice (the provider's retry, or a replay of a captured
    one) acts once. Neither the number nor the words are kept: the opt-outs it made
    are the record (``opt_outs``, source ``sms_reply``); ``stop`` says whether it asked
    to stop and ``opted_out`` how many borrowers it opted out."""

    __tablename__ = "inbound_sms"
    __table_args__ = (CheckConstraint("opted_out >= 0", name="opted_out"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    stop: Mapped[bool]
    opted_out: Mapped[int] = mapped_column(SmallInteger)


class QuietHours(Base):
    """A time the borrower asked, from the portal, not to be contacted (e.g. at work):
    on ``days`` (a bit per weekday, 1 Monday to 64 Sunday) from ``start_minute`` to
    before ``end_minute`` of their local day (1440: to midnight). Replaced as a whole
    when they change them; each change is a case event."""

    __tablename__ = "quiet_hours"
    __table_args__ = (
        CheckConstraint("days BETWEEN 1 AND 127", name="days"),
        CheckConstraint(
            "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440",
            name="minutes",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    days: Mapped[int] = mapped_column(SmallInteger)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MessageBatch(Base):
    """One bulk send: a segment of the queue, a channel, and what became of each case."""

    __tablename__ = "message_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(8))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    queued: Mapped[int] = mapped_column(default=0)
    scheduled: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)


class MessageStatus(StrEnum):
    """A message's status (see ``Message``); sending is the moment a worker holds it."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Message(Base):
    """One reminder to a borrower on one channel: the outbox and the record of sending.

    ``status``: scheduled (waiting for ``send_at``, the next moment the contact rules
    allow), sent, failed (the provider refused; ``error`` says why), cancelled (the rules
    no longer allow it at sending time, e.g. a hold placed since; ``error`` says which).
    The body is what was sent, in the borrower's language.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "ix_messages_due",
            "send_at",
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
        # The reports' period: the reminders sent on some days (migration 0032).
        Index("ix_messages_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("message_batches.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms, email, letter
    purpose: Mapped[str] = mapped_column(String(16))  # reminder, offer
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_links.id"))
    address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(codes(MessageStatus, name="status", length=16))
    send_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ContactAttempt(Base):
    """One contact with (or attempt at) a borrower, by any agent or the system: the
    history the contact rules count, across every agent alike."""

    __tablename__ = "contact_attempts"
    __table_args__ = (
        Index("ix_contact_attempts_borrower_at", "borrower_id", "at"),
        # The reports' period: the attempts on some days (migration 0032).
        Index("ix_contact_attempts_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    channel: Mapped[str] = mapped_column(String(8))  # call, sms, email, letter
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    connected: Mapped[bool] = mapped_column(default=False)
    # The borrower called us: logged, but not contact the lender made, so the contact
    # rules neither judge it nor count it toward the caps.
    inbound: Mapped[bool] = mapped_column(default=False)
    agent: Mapped[str] = mapped_column(String(254))  # a staff email, or "system"
    # Calls: reached, no_answer, voicemail_none, wrong_number, refused_to_talk, callback,
    # promise, dispute, hardship. Messages: sent.
    outcome: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))


class PromiseStatus(StrEnum):
    """A promise's status (see ``Promise``); superseded when a newer promise replaced it."""

    OPEN = "open"
    KEPT = "kept"
    PARTLY_KEPT = "partly_kept"
    BROKEN = "broken"
    SUPERSEDED = "superseded"


class Promise(Base):
    """A borrower's promise to pay ``amount`` by ``due_date``, made on a call.

    ``status``: open, then kept (paid in full by the date), partly_kept (some paid) or
    broken (nothing paid), decided from the case's confirmed payments made since the
    promise (kept by the payment that completes it, else by the daily work;
    ``portal.contact.promises``); ``paid`` is what counted toward it.
    """

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    contact_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempts.id"))
    made_by: Mapped[str] = mapped_column(String(254))
    # The reports read the promises made on some days by it (migration 0032).
    made_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PromiseStatus] = mapped_column(
        codes(PromiseStatus, name="status", length=16), default=PromiseStatus.OPEN, index=True
    )
    paid: Mapped[int] = mapped_column(default=0)
    settled_on: Mapped[date | None] = mapped_column(Date)


class CallbackSource(StrEnum):
    """Who asked for a callback: the borrower (from the portal, or said on a call and
    noted by the agent), an agent planning their own follow-up, or the contact strategy
    (a call step: calls stay human, so the strategy asks the case's owner)."""

    BORROWER = "borrower"
    AGENT = "agent"
    STRATEGY = "strategy"  # a call step of the contact strategy (``portal.strategy``)


class CallbackStatus(StrEnum):
    """A callback's status: open until a call to the borrower is logged (done) or it is
    replaced by a newer one or canceled."""

    OPEN = "open"
    DONE = "done"
    CANCELED = "canceled"


class Callback(Base):
    """A call we owe the borrower at ``due_at`` (UTC). One open callback per case: a new
    one replaces it. A callback the borrower asked for is their request, not contact we
    made, so it never counts toward the caps; the call made for it is judged by the
    rules like any other (``portal.contact.callbacks``)."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_status_due_at", "status", "due_at"),
        Index(
            "uq_callbacks_open",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[CallbackSource] = mapped_column(codes(CallbackSource, name="source", length=16))
    status: Mapped[CallbackStatus] = mapped_column(
        codes(CallbackStatus, name="status", length=16), default=CallbackStatus.OPEN
    )
    requested_by: Mapped[str] = mapped_column(String(254))  # staff email, or "borrower"
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    contact_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempts.id"))
    note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(254))
