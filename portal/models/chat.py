"""Chat accounts: a borrower's LINE or WeChat account, linked with their consent.

Nobody is messaged on a chat app before linking: the borrower asks for a link from the
portal (a row ``pending``, holding only the hash of a one-time linking token), the
platform's webhook then names the account that used the token (``linked``, with the
platform's id for them), and an unlink from the portal or an "unfollow" on the platform
ends it (``unlinked``). Rows are kept for the record; the consent's time and terms
version stay on the row that recorded them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes


class ChatLinkStatus(StrEnum):
    """Where a chat account's link stands."""

    PENDING = "pending"  # asked for from the portal; the platform has not confirmed it
    LINKED = "linked"  # messages may go to ``account_id`` (under the contact rules)
    UNLINKED = "unlinked"  # ended by the borrower (portal or platform), or never used


class ChatAccount(Base):
    """One borrower's account on one chat app (``line`` or ``wechat``).

    ``account_id`` is the platform's id of the borrower for our official account (LINE's
    userId, WeChat's openid), known once linked. ``token_hash`` is the hash of the
    one-time linking token shown to the borrower (as a QR code and a link) while the row
    is pending, cleared when it is used. ``consented_at`` and ``terms_version`` record the
    borrower's explicit consent, given on the portal when they asked to link.
    ``unlinked_by``: ``borrower_portal``, ``platform`` (they unfollowed or unsubscribed)
    or ``expired`` (a pending link never used).
    """

    __tablename__ = "chat_accounts"
    __table_args__ = (
        CheckConstraint("channel IN ('line', 'wechat')", name="channel"),
        Index("ix_chat_accounts_borrower_channel", "borrower_id", "channel"),
        Index("ix_chat_accounts_account", "channel", "account_id"),
        # One app account, one borrower: another's reminders must never reach it.
        Index(
            "uq_chat_accounts_linked_account",
            "channel",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'linked'"),
            postgresql_where=text("status = 'linked'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[ChatLinkStatus] = mapped_column(codes(ChatLinkStatus, name="status", length=16))
    account_id: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    consented_at: Mapped[datetime] = mapped_column(UtcDateTime())
    terms_version: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unlinked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unlinked_by: Mapped[str | None] = mapped_column(String(16))
