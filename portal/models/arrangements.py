"""Offers, the plans borrowers accepted, their installments, consents and waivers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UtcDateTime, codes, utcnow


class OfferStatus(StrEnum):
    """An offer's status (see ``Offer``)."""

    READY = "ready"
    NEEDS_APPROVAL = "needs_approval"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


# The offers a borrower may still take up, or a supervisor still approve. At most one
# per case: a new offer withdraws the one before it (``replaced_by_id``).
OPEN_OFFER_STATUSES = (OfferStatus.READY, OfferStatus.NEEDS_APPROVAL)


class Offer(Base):
    """A plan an agent prepared for the borrower, judged against authority.

    ``status``: ready (within the maker's authority, or approved), needs_approval (beyond
    the agent's authority, waiting in the supervisors' queue), declined (a supervisor
    said no), withdrawn, accepted, expired. ``authority`` is the least authority the
    terms need (agent or supervisor), as the engine judged them when made. A case has at
    most one open offer (ready or needs_approval): a new one withdraws the one before it,
    which then names its successor in ``replaced_by_id``.
    """

    __tablename__ = "offers"
    __table_args__ = (
        Index(
            "uq_offers_one_open_per_case",
            "case_id",
            unique=True,
            sqlite_where=text("status IN ('ready', 'needs_approval')"),
            postgresql_where=text("status IN ('ready', 'needs_approval')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[OfferStatus] = mapped_column(
        codes(OfferStatus, name="status", length=24), index=True
    )
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    authority: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    # The policy version in force when the offer was made (None: made before versions).
    policy_version: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.version"))


class PlanStatus(StrEnum):
    """A plan's status: pending (accepted, first installment unpaid), active, completed,
    broken (missed too often), lapsed (never started: its first installment went unpaid
    past the grace days), cancelled (withdrawn by the borrower before it started)."""

    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    LAPSED = "lapsed"
    CANCELLED = "cancelled"


# At most one plan per case is live: pending or active.
LIVE_PLAN_STATUSES = (PlanStatus.PENDING, PlanStatus.ACTIVE)


class Plan(Base):
    """An accepted arrangement. At most one pending or active plan per case."""

    __tablename__ = "plans"
    __table_args__ = (
        Index(
            "uq_plans_one_live_per_case",
            "case_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'active')"),
            postgresql_where=text("status IN ('pending', 'active')"),
        ),
        # The reports' period: the plans accepted, or started, on some days (migration
        # 0032).
        Index("ix_plans_accepted_at", "accepted_at"),
        Index("ix_plans_activated_at", "activated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    status: Mapped[PlanStatus] = mapped_column(
        codes(PlanStatus, name="status", length=16), default=PlanStatus.PENDING
    )
    kind: Mapped[str] = mapped_column(String(24))
    frequency: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    restructured: Mapped[int]
    total: Mapped[int]
    waived_penalties: Mapped[int] = mapped_column(default=0)
    waived_fees: Mapped[int] = mapped_column(default=0)
    discount: Mapped[int] = mapped_column(default=0)
    interest: Mapped[int] = mapped_column(default=0)
    interest_rate_pct: Mapped[Decimal] = mapped_column(Numeric(9, 4), default=Decimal(0))
    conditional_waiver: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The policy version that decided the plan at acceptance (None: before versions).
    policy_version: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.version"))

    installments: Mapped[list[PlanInstallment]] = relationship(
        back_populates="plan", order_by="PlanInstallment.sequence"
    )
    consent: Mapped[Consent] = relationship(back_populates="plan")

    @property
    def waived(self) -> int:
        """Everything the plan forgoes."""
        return self.waived_penalties + self.waived_fees + self.discount

    @property
    def next_due(self) -> PlanInstallment | None:
        """The first installment not yet paid in full: what the borrower pays next."""
        return next((i for i in self.installments if i.outstanding > 0), None)

    @property
    def outstanding(self) -> int:
        """What is still to pay on the plan."""
        return sum(i.outstanding for i in self.installments)


class PlanInstallment(Base):
    """One installment of an accepted plan."""

    __tablename__ = "plan_installments"
    __table_args__ = (
        UniqueConstraint("plan_id", "sequence"),
        Index(
            "ix_plan_installments_unpaid",
            "due_date",
            sqlite_where=text("paid < amount"),
            postgresql_where=text("paid < amount"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int]
    paid: Mapped[int] = mapped_column(default=0)
    # Set by the daily work the day the installment counts as missed (unpaid past the
    # grace days); a plan breaks on the policy's number of misses.
    missed_on: Mapped[date | None] = mapped_column(Date)
    # The original due date, when the borrower moved this installment (once per plan).
    moved_from: Mapped[date | None] = mapped_column(Date)

    plan: Mapped[Plan] = relationship(back_populates="installments")

    @hybrid_property
    def outstanding(self) -> int:
        """What is still to pay on this installment."""
        return self.amount - self.paid


class Consent(Base):
    """The borrower's explicit acceptance of a plan, with what they were shown."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ip_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(512))
    locale: Mapped[str] = mapped_column(String(16))
    terms_version: Mapped[str] = mapped_column(String(32))
    shown_hash: Mapped[str] = mapped_column(String(64))

    plan: Mapped[Plan] = relationship(back_populates="consent")


class Waiver(Base):
    """Part of a loan a plan wrote off, item by item, so it can be taken back exactly.

    Earned on ``activation`` (an unconditional waiver, the contract's interest still to
    come) or on ``completion`` (a conditional waiver, a settlement's discount). If the
    payment that earned it is refunded or lost to a dispute, it is reinstated.
    """

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    earned_by: Mapped[str] = mapped_column(String(16))  # activation, completion
    target: Mapped[str] = mapped_column(String(16))  # penalty, fee, interest, principal
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("loan_charges.id"))
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("loan_installments.id"))
    amount: Mapped[int]
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reinstated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
