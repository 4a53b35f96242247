"""Stripe's payouts to the lender's bank, the balance transactions each carried, and the
bank's side: statements imported and the deposits they list, each ticked off against at
most one payout (``portal.finance.payouts``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UtcDateTime, codes


class DepositMatch(StrEnum):
    """How a bank deposit was ticked off against its payout."""

    AUTO = "auto"  # by the matching rules, on a statement's import
    MANUAL = "manual"  # by a person


class StatementFormat(StrEnum):
    """The bank statement file formats read."""

    CAMT053 = "camt053"  # ISO 20022 camt.053 (XML)
    MT940 = "mt940"  # SWIFT MT940


class Payout(Base):
    """One Stripe payout, as the last reconciliation run that listed it saw it."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_id: Mapped[str] = mapped_column(String(128), unique=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The day Stripe expects the money in the bank (Stripe's own date, no time of day).
    arrival_date: Mapped[date | None] = mapped_column(Date)
    # Stripe's status: pending, in_transit, paid, failed or canceled (Stripe's codes).
    status: Mapped[str] = mapped_column(String(16))
    automatic: Mapped[bool]
    # What the bank statement shows as the payer's reference, when Stripe says.
    statement_descriptor: Mapped[str | None] = mapped_column(String(64))
    # The balance transactions it carried and their net sum (automatic payouts only).
    transaction_count: Mapped[int | None]
    transaction_sum: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # at Stripe
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))

    transactions: Mapped[list[PayoutTransaction]] = relationship(
        back_populates="payout",
        order_by="PayoutTransaction.id",
        cascade="all, delete-orphan",
    )
    deposit: Mapped[BankDeposit | None] = relationship(back_populates="payout")


class PayoutTransaction(Base):
    """A balance transaction an automatic payout carried, as Stripe listed it."""

    __tablename__ = "payout_transactions"
    __table_args__ = (UniqueConstraint("payout_id", "balance_transaction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), index=True)
    balance_transaction: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))  # Stripe's type: charge, refund, ...
    amount: Mapped[int]
    fee: Mapped[int]
    net: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    payment_intent: Mapped[str | None] = mapped_column(String(128))

    payout: Mapped[Payout] = relationship(back_populates="transactions")


class BankStatement(Base):
    """One bank statement file imported: its SHA-256 makes a second import of the same
    file a no-op."""

    __tablename__ = "bank_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    format: Mapped[StatementFormat] = mapped_column(
        codes(StatementFormat, name="format", length=16)
    )
    statement_date: Mapped[date | None] = mapped_column(Date)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    imported_by: Mapped[str] = mapped_column(String(254))  # a staff email, or "cli"

    deposits: Mapped[list[BankDeposit]] = relationship(
        back_populates="statement", order_by="BankDeposit.id"
    )


class BankDeposit(Base):
    """Money in on the lender's bank account: a credit entry of an imported statement, or
    one a person ticked off by hand from the statement they hold (no ``statement_id``)."""

    __tablename__ = "bank_deposits"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    statement_date: Mapped[date | None] = mapped_column(Date)
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The bank's own reference of the entry (camt.053 AcctSvcrRef), when it gives one.
    bank_reference: Mapped[str | None] = mapped_column(String(128), index=True)
    # What the payer wrote (remittance information, end-to-end id, entry information).
    details: Mapped[str] = mapped_column(Text, default="")
    account: Mapped[str] = mapped_column(String(64), default="")
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), unique=True)
    matched_how: Mapped[DepositMatch | None] = mapped_column(
        codes(DepositMatch, name="matched_how", length=16)
    )
    matched_by: Mapped[str | None] = mapped_column(String(254))  # staff email, "cli", ...
    matched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    statement: Mapped[BankStatement | None] = relationship(back_populates="deposits")
    payout: Mapped[Payout | None] = relationship(back_populates="deposit")
