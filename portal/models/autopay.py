"""Automatic plan payments: the cards borrowers saved, the mandates (a plan's autopay,
with the consent to it) and every automatic charge attempted."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from negotiation import AttemptOutcome
from portal.models.base import Base, UtcDateTime, codes, utcnow


class CardStatus(StrEnum):
    """A saved card: usable, or no longer (the borrower removed or replaced it, it
    expired, or the provider says it is gone)."""

    ACTIVE = "active"
    REMOVED = "removed"
    EXPIRED = "expired"
    DETACHED = "detached"


class SavedCard(Base):
    """A payment method the borrower saved with the gateway for automatic payments.

    Only what a person is shown is kept (brand, last four digits, expiry): the card
    itself stays with the provider, known here by the provider's references (a Stripe
    Customer and PaymentMethod). At most one active card per borrower."""

    __tablename__ = "saved_cards"
    __table_args__ = (
        Index(
            "uq_saved_cards_one_active",
            "borrower_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        UniqueConstraint("gateway", "method_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(16))
    customer_ref: Mapped[str] = mapped_column(String(128))
    method_ref: Mapped[str] = mapped_column(String(128))
    brand: Mapped[str] = mapped_column(String(24))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    status: Mapped[CardStatus] = mapped_column(
        codes(CardStatus, name="status", length=16), default=CardStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def expired_by(self, day: date) -> bool:
        """True once ``day`` is past the card's expiry month (a card is good through the
        last day of the month printed on it)."""
        return (day.year, day.month) > (self.exp_year, self.exp_month)


class AutopayStatus(StrEnum):
    """A plan's autopay: waiting for the card (consent given, no card saved yet), on,
    or off."""

    PENDING = "pending"
    ON = "on"
    OFF = "off"


class AutopayEnd(StrEnum):
    """Why autopay was turned off."""

    BORROWER = "borrower"
    CARD_EXPIRED = "card_expired"
    CARD_UNUSABLE = "card_unusable"
    PLAN_ENDED = "plan_ended"
    # Turned on again with another consent (a new card after the old one failed).
    REPLACED = "replaced"


# The mandates still in force or waiting for their card: at most one per plan.
LIVE_AUTOPAY_STATUSES = (AutopayStatus.PENDING, AutopayStatus.ON)


class Autopay(Base):
    """A borrower's mandate to charge a plan's installments to a saved card on their due
    dates, with the consent as it was given: when, in which language, the version of
    the mandate's terms and a hash of exactly what was shown."""

    __tablename__ = "autopays"
    __table_args__ = (
        Index(
            "uq_autopays_one_live",
            "plan_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'on')"),
            postgresql_where=text("status IN ('pending', 'on')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("saved_cards.id"), index=True)
    status: Mapped[AutopayStatus] = mapped_column(
        codes(AutopayStatus, name="status", length=16), default=AutopayStatus.PENDING
    )
    consented_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    terms_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    shown_hash: Mapped[str] = mapped_column(String(64))
    ip_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(512))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_because: Mapped[AutopayEnd | None] = mapped_column(
        codes(AutopayEnd, name="ended_because", length=16)
    )

    card: Mapped[SavedCard | None] = relationship()


class AutopayAttempt(Base):
    """One automatic charge of one installment: its number (1 on the due date, then the
    retries), the day it was for, the payment it opened and what it came to.

    The number is unique per installment, so two runs at once make one attempt; the
    payment behind it is an ordinary payment (``Payment.automatic``), settled by the
    same handler as any other. ``key`` is the idempotency key sent with the charge:
    an attempt made again after an outage sends the same one, so the provider never
    charges it twice."""

    __tablename__ = "autopay_attempts"
    __table_args__ = (UniqueConstraint("installment_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    autopay_id: Mapped[int] = mapped_column(ForeignKey("autopays.id"), index=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("plan_installments.id"))
    number: Mapped[int]
    scheduled_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[AttemptOutcome] = mapped_column(
        codes(AttemptOutcome, name="outcome", length=24), default=AttemptOutcome.CHARGING
    )
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    # The card charged: an attempt made again goes to the same card with the same key,
    # even if the borrower has changed card since.
    card_id: Mapped[int] = mapped_column(ForeignKey("saved_cards.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    key: Mapped[str] = mapped_column(String(128), unique=True)
    # The provider's reason for a decline (``card_declined``, ``insufficient_funds``...).
    decline_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
