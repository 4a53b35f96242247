"""The collection policy's versions: each one an override file, made by one admin and
checked by another (maker-checker) before it is in force."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes


class PolicyVersionStatus(StrEnum):
    """Where a version stands: proposed (waiting for a second admin), active (in force:
    exactly one), rejected, superseded (was active, replaced by a later approval)."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class PolicyVersion(Base):
    """One version of the policy: the full override TOML laid over
    ``negotiation/default_policy.toml``, its SHA-256, and who made and checked it.

    Version 1 is the override file configured when versions began (``HAOHUAN_POLICY_FILE``,
    empty when none), recorded by the app itself. ``based_on`` is the version that was
    active when this one was proposed: an approval of a proposal based on anything but
    the version in force is refused. At most one version is active, and at most one
    proposed, at a time (partial unique indexes); finding the active one is one indexed
    query, which every request makes to notice an approval made in another process.
    """

    __tablename__ = "policy_versions"
    __table_args__ = (
        Index(
            "uq_policy_versions_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "uq_policy_versions_one_proposed",
            "status",
            unique=True,
            sqlite_where=text("status = 'proposed'"),
            postgresql_where=text("status = 'proposed'"),
        ),
    )

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    based_on: Mapped[int | None]
    override_toml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[PolicyVersionStatus] = mapped_column(
        codes(PolicyVersionStatus, name="status", length=16)
    )
    made_by: Mapped[str] = mapped_column(String(254))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text)
    checked_by: Mapped[str | None] = mapped_column(String(254))
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    check_note: Mapped[str | None] = mapped_column(Text)
