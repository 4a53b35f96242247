"""Partner agencies (joint collection, 聯合): the agencies a lender places cases with, and
each placement of a case with one for a period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes, utcnow


class PlacementStatus(StrEnum):
    """A placement is live until it is recalled: by a supervisor, or by the daily work
    when its period ends."""

    PLACED = "placed"
    RECALLED = "recalled"


class Agency(Base):
    """An external collection agency. ``commission_rate`` is the fraction of each payment
    on a placed case the agency earns (0.15 for 15%); a placement copies it, so a later
    change does not rewrite what was earned. ``letterhead_allowed`` says whether the
    agency may print letters on the lender's letterhead."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    commission_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    letterhead_allowed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The offer authority the lender sets for the agency (``portal.agencies.authority``),
    # within the policy's agent authority: the most installments a plan its staff offer
    # may have, and the most of the penalties and of the fees it may waive (percent).
    offer_max_installments: Mapped[int] = mapped_column(
        Integer, default=1, server_default=text("1")
    )
    offer_max_penalty_waiver_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal(0), server_default=text("0")
    )
    offer_max_fee_waiver_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal(0), server_default=text("0")
    )


class AgencyPlacement(Base):
    """One case placed with one agency from ``placed_at`` until ``ends_at`` (the period's
    end), or until recalled earlier. A case has at most one live placement.
    ``placed_balance`` is what the borrower owed when placed (minor units of
    ``currency``): the base of the agency's liquidation rate."""

    __tablename__ = "agency_placements"
    __table_args__ = (
        Index(
            "uq_agency_placements_one_live_per_case",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'placed'"),
            postgresql_where=text("status = 'placed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[PlacementStatus] = mapped_column(
        codes(PlacementStatus, name="status", length=16), default=PlacementStatus.PLACED
    )
    commission_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    placed_balance: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    placed_by: Mapped[str] = mapped_column(String(254))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Who recalled it: a supervisor's e-mail, or "period-end" for the daily work.
    recalled_by: Mapped[str | None] = mapped_column(String(254))
