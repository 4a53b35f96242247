"""Borrowers and their loans: the contract, its installments and its charges."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column

from negotiation.jurisdiction import JURISDICTIONS, derive
from portal.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.cases import Case


def _derived_jurisdiction(context: DefaultExecutionContext) -> str:
    """A new borrower's jurisdiction when none is given: from their address and zone."""
    values = context.get_current_parameters()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
    return derive(values.get("postal_address"), values.get("timezone") or "Asia/Taipei")


# The CHECK on ``borrowers.jurisdiction`` (migration 0013_juris): a code the rules know.
JURISDICTION_CHECK = "jurisdiction IN ({})".format(", ".join(f"'{c}'" for c in JURISDICTIONS))


# The phone with the separators people write it with removed (``+886 912-345 678`` is
# ``886912345678``): what the queue's phone search compares, as a generated column so
# every write of the phone keeps it (migration 0014_queue1m).
PHONE_DIGITS = "phone"
for _separator in (" ", "+", "-", "(", ")", ".", "/"):
    PHONE_DIGITS = f"replace({PHONE_DIGITS}, '{_separator}', '')"


class Borrower(Base):
    """A person who owes; contacted only about their own debt."""

    __tablename__ = "borrowers"
    __table_args__ = (
        CheckConstraint(JURISDICTION_CHECK, name="jurisdiction"),
        # The queue's phone search (a whole number, its start or its end): the digits'
        # start, and on PostgreSQL the reversed digits' start for the end, each a range of
        # a b-tree (pattern operators: LIKE 'x%' reads them in any collation; migration
        # 0016_million). SQLite has no reverse(): it reads an end from the column.
        Index(
            "ix_borrowers_phone_digits",
            "phone_digits",
            postgresql_ops={"phone_digits": "varchar_pattern_ops"},
        ),
        Index(
            "ix_borrowers_phone_digits_reversed",
            func.reverse(text("phone_digits")).label("phone_reversed"),
            postgresql_ops={"phone_reversed": "text_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hant_TW")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Taipei")
    phone: Mapped[str] = mapped_column(String(32))
    # In the table, not on the object: written by the database, read by the queue's
    # search as ``Borrower.__table__.c.phone_digits``, and never selected with a borrower.
    phone_digits: Unmapped[str] = unmapped_column(
        String(32), Computed(PHONE_DIGITS, persisted=True)
    )
    email: Mapped[str | None] = mapped_column(String(254))
    # Lines of a postal address, for letters to a borrower unreachable by phone.
    postal_address: Mapped[str | None] = mapped_column(Text)
    # Where the borrower lives, for the contact rules (``negotiation.jurisdiction``): TW,
    # CN, HK, US or US-<state>. Derived from the address and zone unless an agent set it
    # (``jurisdiction_set_by``, the staff member's email).
    jurisdiction: Mapped[str] = mapped_column(String(5), default=_derived_jurisdiction)
    jurisdiction_set_by: Mapped[str | None] = mapped_column(String(254))
    verification_salt: Mapped[str] = mapped_column(String(64))
    date_of_birth_hash: Mapped[str] = mapped_column(String(128))
    id_last4_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    loans: Mapped[list[Loan]] = relationship(back_populates="borrower")


class Loan(Base):
    """An installment loan and its contractual terms."""

    __tablename__ = "loans"
    # The queue's loan-number search (its start or its end, any case): a trigram index on
    # PostgreSQL (migration 0014_queue1m).
    __table_args__ = (
        Index(
            "ix_loans_number_upper",
            func.upper(text("number")).label("number_upper"),
            postgresql_using="gin",
            postgresql_ops={"number_upper": "gin_trgm_ops"},
        ),
    )

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
        # A loan's unpaid installments in due order: its oldest unpaid due date and its
        # overdue amount, as the queue's rows and My work count them, read from a few
        # index entries (migration 0030_unpaid_by_loan).
        Index(
            "ix_loan_installments_unpaid_by_loan",
            "loan_id",
            "due_date",
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

    @hybrid_property
    def principal_outstanding(self) -> int:
        """Principal still owed: neither paid nor waived."""
        return self.principal_due - self.principal_paid - self.principal_waived

    @hybrid_property
    def interest_outstanding(self) -> int:
        """Interest still owed: neither paid nor waived."""
        return self.interest_due - self.interest_paid - self.interest_waived

    @hybrid_property
    def unpaid(self) -> int:
        """What is still owed on it (in a query too: the queue sums it per loan)."""
        return (
            self.principal_due
            - self.principal_paid
            - self.principal_waived
            + self.interest_due
            - self.interest_paid
            - self.interest_waived
        )


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

    @hybrid_property
    def outstanding(self) -> int:
        """What is still owed on the charge (in a query too)."""
        return self.amount - self.paid - self.waived
