"""Staff accounts, their sign-in attempts, and the append-only audit log of their actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, utcnow


class StaffMember(Base):
    """Someone who works the cases or the books, signing in with a password.

    Roles are a comma-separated set (``agent``, ``supervisor``, ``finance``, ``admin``);
    a page asks for the role it needs. Changing the password or deactivating the account
    bumps ``session_generation``, which signs out every session at once. ``totp_secret``
    (base32), when set, asks for a one-time code after the password; ``totp_last_step``
    is the time step of the last code accepted, so no code is accepted twice.
    """

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    session_generation: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Case assignment (portal.cases.assignment): the most open cases the rules give this
    # member, and whether they are away (their cases go to others at the next run).
    capacity: Mapped[int] = mapped_column(Integer, default=500, server_default=text("500"))
    away: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The admin console (portal.web.admin): the member's team, if any; whether they must
    # have a one-time code (an account made by an admin, or whose code an admin reset:
    # with no secret yet, the sign-in asks them to enrol one); and the secret being
    # enrolled, kept here until its first code is confirmed.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    totp_required: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    # Staff of a partner agency (portal.models.agencies): they see only the cases placed
    # with it, and their actions are audited under it.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)

    @property
    def role_set(self) -> frozenset[str]:
        """The member's roles."""
        return frozenset(role for role in self.roles.split(",") if role)


class Team(Base):
    """A group of staff a supervisor reassigns cases to, and an assignment rule may feed
    (its active agents)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class StaffSetUpLink(Base):
    """A one-time link an admin hands a new member, who sets their password there (and
    then enrols a one-time code). Only the SHA-256 of the token is kept; it works once,
    until ``expires_at``, and a newer link for the same member revokes it."""

    __tablename__ = "staff_set_up_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StaffSignInAttempt(Base):
    """One staff sign-in attempt, kept to rate-limit guessing by account and by address."""

    __tablename__ = "staff_sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    succeeded: Mapped[bool]


class AuditEntry(Base):
    """One staff action, append-only: database triggers refuse UPDATE and DELETE.

    ``action`` is a dotted name (``case.view``, ``borrower.reveal``, ``offer.create``,
    ``message.send``, ...); ``details`` holds what the action was about, never a secret.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    actor: Mapped[str] = mapped_column(String(254), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64))
