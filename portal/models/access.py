"""Reminder links and the verification attempts made through them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.arrangements import Offer
    from portal.models.cases import Case


class ReminderLink(Base):
    """A reminder link: only the SHA-256 of its token is stored."""

    __tablename__ = "reminder_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16), default="status")  # status, offer
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Sessions carry the generation they began in; signing out moves it on, so every
    # copy of an older session cookie stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    case: Mapped[Case] = relationship()
    offer: Mapped[Offer | None] = relationship()


class VerificationAttempt(Base):
    """A verification try, kept to enforce the per-borrower and per-address limits."""

    __tablename__ = "verification_attempts"
    __table_args__ = (
        Index("ix_verification_attempts_borrower_at", "borrower_id", "at"),
        Index("ix_verification_attempts_address_at", "address_hash", "at"),
        # The contact strategy reads the day's opened links (migration 0014_strategy).
        Index("ix_verification_attempts_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("reminder_links.id"))
    address_hash: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SessionStatement(Base):
    """A borrower's income-and-expenditure statement, kept on the server for the session
    that typed it: the session's cookie carries only a random key, whose SHA-256 finds
    the row (a copied cookie reads nothing it could not already see; the cookie itself
    shows nothing). Rows older than a session's longest life are deleted."""

    __tablename__ = "session_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("reminder_links.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
