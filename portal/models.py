"""The portal's tables, as typed SQLAlchemy 2 models.

Money columns are integers in the currency's minor unit; rates are exact decimals.
Timestamps are stored in UTC. Verification facts are stored only as salted hashes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time in UTC (the only clock read outside a request's ``now``)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """All models; money is BigInteger so any currency's balance fits."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger().with_variant(Integer(), "sqlite")
    }


class Borrower(Base):
    """A person who owes; contacted only about their own debt."""

    __tablename__ = "borrowers"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hant_TW")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Taipei")
    phone: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # Lines of a postal address, for letters to a borrower unreachable by phone.
    postal_address: Mapped[str | None] = mapped_column(Text)
    verification_salt: Mapped[str] = mapped_column(String(64))
    date_of_birth_hash: Mapped[str] = mapped_column(String(128))
    id_last4_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    loans: Mapped[list[Loan]] = relationship(back_populates="borrower")


class Loan(Base):
    """An installment loan and its contractual terms."""

    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    product: Mapped[str] = mapped_column(String(64), default="personal")
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[int]
    annual_rate_pct: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    frequency: Mapped[str] = mapped_column(String(16), default="monthly")
    start_date: Mapped[date] = mapped_column(Date)

    borrower: Mapped[Borrower] = relationship(back_populates="loans")
    installments: Mapped[list[LoanInstallment]] = relationship(
        back_populates="loan", order_by="LoanInstallment.sequence"
    )
    charges: Mapped[list[LoanCharge]] = relationship(back_populates="loan")
    case: Mapped[Case] = relationship(back_populates="loan")


# An installment with principal or interest still owed (neither paid nor waived).
UNPAID_INSTALLMENT = (
    "principal_paid + principal_waived < principal_due "
    "OR interest_paid + interest_waived < interest_due"
)


class LoanInstallment(Base):
    """One contractual installment: principal and interest due, and what was paid."""

    __tablename__ = "loan_installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "sequence"),
        # The daily work reads only installments still owed: in a healthy portfolio they
        # are a small part of the table, and this index is all it scans.
        Index(
            "ix_loan_installments_unpaid",
            "due_date",
            "loan_id",
            sqlite_where=text(UNPAID_INSTALLMENT),
            postgresql_where=text(UNPAID_INSTALLMENT),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal_due: Mapped[int]
    interest_due: Mapped[int]
    principal_paid: Mapped[int] = mapped_column(default=0)
    interest_paid: Mapped[int] = mapped_column(default=0)
    principal_waived: Mapped[int] = mapped_column(default=0)
    interest_waived: Mapped[int] = mapped_column(default=0)

    loan: Mapped[Loan] = relationship(back_populates="installments")

    @property
    def amount_due(self) -> int:
        """What this installment asks for in all."""
        return self.principal_due + self.interest_due

    @property
    def principal_outstanding(self) -> int:
        """Principal still owed: neither paid nor waived."""
        return self.principal_due - self.principal_paid - self.principal_waived

    @property
    def interest_outstanding(self) -> int:
        """Interest still owed: neither paid nor waived."""
        return self.interest_due - self.interest_paid - self.interest_waived

    @property
    def unpaid(self) -> int:
        """What is still owed on it."""
        return self.principal_outstanding + self.interest_outstanding


class LoanCharge(Base):
    """A fee or a penalty charged to a loan."""

    __tablename__ = "loan_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "fee" or "penalty"
    description: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int]
    paid: Mapped[int] = mapped_column(default=0)
    waived: Mapped[int] = mapped_column(default=0)
    charged_on: Mapped[date] = mapped_column(Date)

    loan: Mapped[Loan] = relationship(back_populates="charges")

    @property
    def outstanding(self) -> int:
        """What is still owed on the charge."""
        return self.amount - self.paid - self.waived


class Case(Base):
    """A loan's collection case: its stage, any hold, and whether a plan is active."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "ix_cases_overdue_since",
            "overdue_since",
            sqlite_where=text("overdue_since IS NOT NULL"),
            postgresql_where=text("overdue_since IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, arranged, resolved
    stage: Mapped[str] = mapped_column(String(16), default="current")
    hold: Mapped[str | None] = mapped_column(String(16))  # dispute, hardship
    hold_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The due date of the oldest installment still unpaid once due, kept by the daily
    # work (``haohuan cases advance``); days past due are counted from it.
    overdue_since: Mapped[date | None] = mapped_column(Date)
    needs_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The latest contact attempt on any channel, kept by ``portal.contact.gate.record_attempt``
    # so the queue can filter and sort by it without reading the contact log.
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    loan: Mapped[Loan] = relationship(back_populates="case")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """One entry of a case's append-only timeline."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(16))  # borrower, agent, system
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class ReminderLink(Base):
    """A reminder link: only the SHA-256 of its token is stored."""

    __tablename__ = "reminder_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16), default="status")  # status, offer
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sessions carry the generation they began in; signing out moves it on, so every
    # copy of an older session cookie stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship()
    offer: Mapped[Offer | None] = relationship()


class VerificationAttempt(Base):
    """A verification try, kept to enforce the per-borrower and per-address limits."""

    __tablename__ = "verification_attempts"
    __table_args__ = (
        Index("ix_verification_attempts_borrower_at", "borrower_id", "at"),
        Index("ix_verification_attempts_address_at", "address_hash", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("reminder_links.id"))
    address_hash: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Offer(Base):
    """A plan an agent prepared for the borrower, judged against authority.

    ``status``: ready (within the maker's authority, or approved), needs_approval (beyond
    the agent's authority, waiting in the supervisors' queue), declined (a supervisor
    said no), withdrawn, accepted, expired. ``authority`` is the least authority the
    terms need (agent or supervisor), as the engine judged them when made.
    """

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    authority: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)


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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    # pending (accepted, first installment unpaid), active, completed, broken, cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
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
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    installments: Mapped[list[PlanInstallment]] = relationship(
        back_populates="plan", order_by="PlanInstallment.sequence"
    )
    consent: Mapped[Consent] = relationship(back_populates="plan")

    @property
    def waived(self) -> int:
        """Everything the plan forgoes."""
        return self.waived_penalties + self.waived_fees + self.discount


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


class Consent(Base):
    """The borrower's explicit acceptance of a plan, with what they were shown."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ip_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(512))
    locale: Mapped[str] = mapped_column(String(16))
    terms_version: Mapped[str] = mapped_column(String(32))
    shown_hash: Mapped[str] = mapped_column(String(64))

    plan: Mapped[Plan] = relationship(back_populates="consent")


OPEN_PAYMENT_STATUSES = ("created", "pending", "unknown")


class Payment(Base):
    """A payment through a gateway; it counts only once the gateway confirms it.

    At most one open payment per case, purpose and plan: a double click or a second tab
    resumes it rather than starting another charge.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_one_open",
            "case_id",
            "purpose",
            text("coalesce(plan_id, 0)"),
            unique=True,
            sqlite_where=text("status IN ('created', 'pending', 'unknown')"),
            postgresql_where=text("status IN ('created', 'pending', 'unknown')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))  # installment, arrears, partial
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # created, pending, unknown (open); succeeded, failed, voided (closed)
    status: Mapped[str] = mapped_column(String(16), default="created")
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When we closed it unpaid: the sweeper makes sure its intent is dead for a week.
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Money taken back after the payment succeeded: refunded in all, and held by a
    # dispute that is open or was lost. What stays allocated is amount less both.
    refunded: Mapped[int] = mapped_column(default=0, server_default="0")
    disputed: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def kept(self) -> int:
        """What of the payment is still ours."""
        return self.amount - self.refunded - self.disputed


class Allocation(Base):
    """Where part of a confirmed payment went: a charge, an installment's interest or
    principal, or a credit. A payment's allocations always sum to its amount."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    target: Mapped[str] = mapped_column(String(16))  # penalty, fee, interest, principal, credit
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("loan_charges.id"))
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("loan_installments.id"))
    amount: Mapped[int]


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
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reinstated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessedEvent(Base):
    """A gateway event already handled: written in the same transaction as its work."""

    __tablename__ = "processed_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("gateway", "event_id"),)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def role_set(self) -> frozenset[str]:
        """The member's roles."""
        return frozenset(role for role in self.roles.split(",") if role)


class StaffSignInAttempt(Base):
    """One staff sign-in attempt, kept to rate-limit guessing by account and by address."""

    __tablename__ = "staff_sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    succeeded: Mapped[bool]


class ReconciliationRun(Base):
    """One comparison of Stripe's balance history and payouts with our payments, for
    the balance transactions created in ``[since, until)``."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(254))  # a staff email, or "cli"
    # completed, or failed (Stripe could not be read; ``error`` says why)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[int] = mapped_column(default=0)
    missing_here: Mapped[int] = mapped_column(default=0)
    missing_at_stripe: Mapped[int] = mapped_column(default=0)
    amount_mismatches: Mapped[int] = mapped_column(default=0)
    payout_mismatches: Mapped[int] = mapped_column(default=0)

    items: Mapped[list[ReconciliationItem]] = relationship(
        back_populates="run", order_by="ReconciliationItem.id", cascade="all, delete-orphan"
    )

    @property
    def unmatched(self) -> int:
        """Everything that needs a person to look at it."""
        return (
            self.missing_here
            + self.missing_at_stripe
            + self.amount_mismatches
            + self.payout_mismatches
        )


class ReconciliationItem(Base):
    """One line of a reconciliation: a payment matched or not, or a payout checked."""

    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    # matched, missing_here, missing_at_stripe, amount_mismatch, outside_window (ours is in
    # the period, Stripe's record of it just outside: not a problem), payout_ok,
    # payout_mismatch, payout_unchecked (a manual or failed payout: nothing to sum)
    kind: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    # Stripe's type of the balance transaction (charge, refund, adjustment, ...): set on
    # exactly the lines of the period's balance history, so totals add each once.
    transaction_type: Mapped[str | None] = mapped_column(String(32))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    payment_intent: Mapped[str | None] = mapped_column(String(128))
    balance_transaction: Mapped[str | None] = mapped_column(String(128))
    payout: Mapped[str | None] = mapped_column(String(128))
    stripe_amount: Mapped[int | None]
    our_amount: Mapped[int | None]
    fee: Mapped[int] = mapped_column(default=0)
    net: Mapped[int | None]
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(255))

    run: Mapped[ReconciliationRun] = relationship(back_populates="items")


class LifecycleRun(Base):
    """One day of case work done: each day is worked once, in order, and re-running a
    day changes nothing."""

    __tablename__ = "lifecycle_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


__all__ = [
    "Allocation",
    "Base",
    "Borrower",
    "Case",
    "CaseEvent",
    "Consent",
    "LifecycleRun",
    "Loan",
    "LoanCharge",
    "LoanInstallment",
    "Offer",
    "Payment",
    "Plan",
    "PlanInstallment",
    "ProcessedEvent",
    "ReconciliationItem",
    "ReconciliationRun",
    "ReminderLink",
    "StaffMember",
    "StaffSignInAttempt",
    "VerificationAttempt",
    "Waiver",
]


class OptOut(Base):
    """A borrower's request to stop contact on one channel (sms, email, call, letter).

    Kept for the record: lifting one sets ``lifted_at`` rather than deleting the row.
    ``source`` is how it reached us: ``link`` (the opt-out link in a message), ``agent``
    (said on a call, recorded by the agent) or ``borrower_portal``.
    """

    __tablename__ = "opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MessageBatch(Base):
    """One bulk send: a segment of the queue, a channel, and what became of each case."""

    __tablename__ = "message_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(String(8))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    queued: Mapped[int] = mapped_column(default=0)
    scheduled: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)


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
    status: Mapped[str] = mapped_column(String(16))
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContactAttempt(Base):
    """One contact with (or attempt at) a borrower, by any agent or the system: the
    history the contact rules count, across every agent alike."""

    __tablename__ = "contact_attempts"
    __table_args__ = (Index("ix_contact_attempts_borrower_at", "borrower_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    channel: Mapped[str] = mapped_column(String(8))  # call, sms, email, letter
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
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
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    paid: Mapped[int] = mapped_column(default=0)
    settled_on: Mapped[date | None] = mapped_column(Date)


class AuditEntry(Base):
    """One staff action, append-only: database triggers refuse UPDATE and DELETE.

    ``action`` is a dotted name (``case.view``, ``borrower.reveal``, ``offer.create``,
    ``message.send``, ...); ``details`` holds what the action was about, never a secret.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    actor: Mapped[str] = mapped_column(String(254), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64))
