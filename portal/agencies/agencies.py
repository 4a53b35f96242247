"""The lender's partner agencies: made by a supervisor with a commission rate, whether
the agency may print on the lender's letterhead, and the offer authority the lender
sets for it, never wider than the policy's agent authority. Commits once per function."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.plans import Terms
from negotiation.policy import Bounds
from portal.audit import trail
from portal.cases.facts import policy
from portal.models import Agency, StaffMember

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
HUNDRED = Decimal(100)


class AgencyProblem(StrEnum):
    """Why an agency cannot be made as asked (``portal.wording.agencies`` words them)."""

    BAD_CODE = "bad_code"
    CODE_TAKEN = "code_taken"
    NO_NAME = "no_name"
    BAD_RATE = "bad_rate"
    INSTALLMENTS_BEYOND_POLICY = "installments_beyond_policy"
    PENALTY_WAIVER_BEYOND_POLICY = "penalty_waiver_beyond_policy"
    FEE_WAIVER_BEYOND_POLICY = "fee_waiver_beyond_policy"


class AgencyError(ValueError):
    """An agency is refused; ``problems`` says why."""

    def __init__(self, problems: list[AgencyProblem]) -> None:
        super().__init__(", ".join(problems))
        self.problems = problems


class BeyondAgency(StrEnum):
    """Why an offer is beyond the authority the lender set for the maker's agency."""

    NEEDS_APPROVAL = "needs_approval"  # an agency's offer is never sent for approval
    INSTALLMENTS = "installments"
    PENALTY_WAIVER = "penalty_waiver"
    FEE_WAIVER = "fee_waiver"
    # A settlement discount forgives part of the debt itself: the lender's own decision,
    # never an agency's (no authority the lender sets reaches it).
    SETTLEMENT_DISCOUNT = "settlement_discount"


@dataclass(frozen=True)
class NewAgency:
    """What a supervisor asks for: ``commission_pct`` and the waivers in percent."""

    code: str
    name: str
    commission_pct: Decimal
    letterhead_allowed: bool
    max_installments: int
    max_penalty_waiver_pct: Decimal
    max_fee_waiver_pct: Decimal


def agent_authority() -> Bounds:
    """The policy's agent authority: the widest an agency's may be."""
    return policy().agent


def problems_of(db: Session, asked: NewAgency) -> list[AgencyProblem]:
    """Everything wrong with ``asked`` (empty when it may be made)."""
    found = []
    if not CODE.match(asked.code):
        found.append(AgencyProblem.BAD_CODE)
    elif db.scalar(select(Agency.id).where(Agency.code == asked.code)) is not None:
        found.append(AgencyProblem.CODE_TAKEN)
    if not asked.name.strip():
        found.append(AgencyProblem.NO_NAME)
    if not Decimal(0) <= asked.commission_pct <= Decimal(50):
        found.append(AgencyProblem.BAD_RATE)
    bounds = agent_authority()
    if not 1 <= asked.max_installments <= bounds.max_installments:
        found.append(AgencyProblem.INSTALLMENTS_BEYOND_POLICY)
    if not Decimal(0) <= asked.max_penalty_waiver_pct <= bounds.max_penalty_waiver_pct:
        found.append(AgencyProblem.PENALTY_WAIVER_BEYOND_POLICY)
    if not Decimal(0) <= asked.max_fee_waiver_pct <= bounds.max_fee_waiver_pct:
        found.append(AgencyProblem.FEE_WAIVER_BEYOND_POLICY)
    return found


def create_agency(db: Session, asked: NewAgency, by: StaffMember | str, moment: datetime) -> Agency:
    """Make the agency (``AgencyError`` when ``problems_of`` finds anything); audited as
    ``agency.create``. The rate is stored as a fraction (15% as 0.15). Commits."""
    found = problems_of(db, asked)
    if found:
        raise AgencyError(found)
    agency = Agency(
        code=asked.code,
        name=asked.name.strip()[:120],
        commission_rate=(asked.commission_pct / HUNDRED).quantize(Decimal("0.0001")),
        letterhead_allowed=asked.letterhead_allowed,
        offer_max_installments=asked.max_installments,
        offer_max_penalty_waiver_pct=asked.max_penalty_waiver_pct,
        offer_max_fee_waiver_pct=asked.max_fee_waiver_pct,
        created_at=moment,
    )
    db.add(agency)
    db.flush()
    trail.record(
        db,
        by,
        "agency.create",
        moment,
        agency_id=agency.id,
        code=agency.code,
        commission_rate=str(agency.commission_rate),
        letterhead_allowed=agency.letterhead_allowed,
        max_installments=agency.offer_max_installments,
        max_penalty_waiver_pct=str(agency.offer_max_penalty_waiver_pct),
        max_fee_waiver_pct=str(agency.offer_max_fee_waiver_pct),
    )
    db.commit()
    return agency


def all_agencies(db: Session) -> list[Agency]:
    """Every agency, by code."""
    return list(db.scalars(select(Agency).order_by(Agency.code)))


def agency_of(db: Session, member: StaffMember) -> Agency | None:
    """The agency ``member`` works for, or None for the lender's own staff."""
    return db.get(Agency, member.agency_id) if member.agency_id is not None else None


def beyond_agency(agency: Agency, terms: Terms, needs_approval: bool) -> tuple[BeyondAgency, ...]:
    """What in ``terms`` goes beyond the authority the lender set for ``agency``
    (``needs_approval``: the engine says they are beyond an agent's own)."""
    found = []
    if needs_approval:
        found.append(BeyondAgency.NEEDS_APPROVAL)
    if terms.installments > agency.offer_max_installments:
        found.append(BeyondAgency.INSTALLMENTS)
    if terms.penalty_waiver_pct > agency.offer_max_penalty_waiver_pct:
        found.append(BeyondAgency.PENALTY_WAIVER)
    if terms.fee_waiver_pct > agency.offer_max_fee_waiver_pct:
        found.append(BeyondAgency.FEE_WAIVER)
    if terms.settlement_discount_pct > 0:
        found.append(BeyondAgency.SETTLEMENT_DISCOUNT)
    return tuple(found)


def agency_by_code(db: Session, code: str) -> Agency | None:
    """The agency with this code, or None."""
    return db.scalars(select(Agency).where(Agency.code == code)).first()
