"""The portal's tables, as typed SQLAlchemy 2 models.

Money columns are integers in the currency's minor unit; rates are exact decimals.
Timestamps are stored in UTC. Verification facts are stored only as salted hashes.

The tables live in one module per aggregate; this package re-exports every model, so
``from portal.models import X`` and Alembic (``Base.metadata``) see them all.
"""

from __future__ import annotations

from portal.models.access import ReminderLink, VerificationAttempt
from portal.models.arrangements import Consent, Offer, Plan, PlanInstallment, Waiver
from portal.models.base import NAMING, Base, utcnow
from portal.models.cases import Case, CaseEvent, LifecycleRun
from portal.models.contact import ContactAttempt, Message, MessageBatch, OptOut, Promise
from portal.models.loans import UNPAID_INSTALLMENT, Borrower, Loan, LoanCharge, LoanInstallment
from portal.models.payments import OPEN_PAYMENT_STATUSES, Allocation, Payment, ProcessedEvent
from portal.models.reconciliation import ReconciliationItem, ReconciliationRun
from portal.models.staff import AuditEntry, StaffMember, StaffSignInAttempt

__all__ = [
    "NAMING",
    "OPEN_PAYMENT_STATUSES",
    "UNPAID_INSTALLMENT",
    "Allocation",
    "AuditEntry",
    "Base",
    "Borrower",
    "Case",
    "CaseEvent",
    "Consent",
    "ContactAttempt",
    "LifecycleRun",
    "Loan",
    "LoanCharge",
    "LoanInstallment",
    "Message",
    "MessageBatch",
    "Offer",
    "OptOut",
    "Payment",
    "Plan",
    "PlanInstallment",
    "ProcessedEvent",
    "Promise",
    "ReconciliationItem",
    "ReconciliationRun",
    "ReminderLink",
    "StaffMember",
    "StaffSignInAttempt",
    "VerificationAttempt",
    "Waiver",
    "utcnow",
]
