"""The portal's tables, as typed SQLAlchemy 2 models.

Money columns are integers in the currency's minor unit; rates are exact decimals.
Timestamps are stored in UTC. Verification facts are stored only as salted hashes.

The tables live in one module per aggregate; this package re-exports every model, so
``from portal.models import X`` and Alembic (``Base.metadata``) see them all.
"""

from __future__ import annotations

from portal.models.access import ReminderLink, SessionStatement, VerificationAttempt
from portal.models.arrangements import (
    LIVE_PLAN_STATUSES,
    OPEN_OFFER_STATUSES,
    Consent,
    Offer,
    OfferStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
    Waiver,
)
from portal.models.autopay import (
    LIVE_AUTOPAY_STATUSES,
    Autopay,
    AutopayAttempt,
    AutopayEnd,
    AutopayStatus,
    CardStatus,
    SavedCard,
)
from portal.models.base import NAMING, Base, utcnow
from portal.models.cases import (
    AssignmentRule,
    AssignmentRuleAgent,
    Case,
    CaseEvent,
    CaseFlag,
    CaseStatus,
    FlagReason,
    LifecycleRun,
)
from portal.models.contact import (
    Callback,
    CallbackSource,
    CallbackStatus,
    ContactAttempt,
    Message,
    MessageBatch,
    MessageStatus,
    OptOut,
    Promise,
    PromiseStatus,
    QuietHours,
)
from portal.models.holds import (
    AdjustmentKind,
    AdjustmentStatus,
    CaseHold,
    DisputeEvidence,
    DisputeReason,
    DisputeResolution,
    EvidenceType,
    HoldAdjustment,
    HoldOutcome,
    HoldStatus,
)
from portal.models.loans import UNPAID_INSTALLMENT, Borrower, Loan, LoanCharge, LoanInstallment
from portal.models.payments import (
    OPEN_PAYMENT_STATUSES,
    Allocation,
    EventOutcome,
    Payment,
    PaymentStatus,
    ProcessedEvent,
    WebhookInbox,
)
from portal.models.policy import PolicyVersion, PolicyVersionStatus
from portal.models.reconciliation import ReconciliationItem, ReconciliationRun, RunStatus
from portal.models.reporting import (
    ArrearsEntry,
    CaseMonthEnd,
    LiquidationCell,
    PortfolioTransition,
)
from portal.models.staff import (
    AuditEntry,
    StaffMember,
    StaffSetUpLink,
    StaffSignInAttempt,
    Team,
)
from portal.models.strategy import (
    ExperimentAssignment,
    PlannedStatus,
    PlannedStep,
    StrategyRun,
    StrategySource,
    StrategySwitch,
    StrategyVersion,
)

__all__ = [
    "LIVE_AUTOPAY_STATUSES",
    "LIVE_PLAN_STATUSES",
    "NAMING",
    "OPEN_OFFER_STATUSES",
    "OPEN_PAYMENT_STATUSES",
    "UNPAID_INSTALLMENT",
    "AdjustmentKind",
    "AdjustmentStatus",
    "Allocation",
    "ArrearsEntry",
    "AssignmentRule",
    "AssignmentRuleAgent",
    "AuditEntry",
    "Autopay",
    "AutopayAttempt",
    "AutopayEnd",
    "AutopayStatus",
    "Base",
    "Borrower",
    "Callback",
    "CallbackSource",
    "CallbackStatus",
    "CardStatus",
    "Case",
    "CaseEvent",
    "CaseFlag",
    "CaseHold",
    "CaseMonthEnd",
    "CaseStatus",
    "Consent",
    "ContactAttempt",
    "DisputeEvidence",
    "DisputeReason",
    "DisputeResolution",
    "EventOutcome",
    "EvidenceType",
    "ExperimentAssignment",
    "FlagReason",
    "HoldAdjustment",
    "HoldOutcome",
    "HoldStatus",
    "LifecycleRun",
    "LiquidationCell",
    "Loan",
    "LoanCharge",
    "LoanInstallment",
    "Message",
    "MessageBatch",
    "MessageStatus",
    "Offer",
    "OfferStatus",
    "OptOut",
    "Payment",
    "PaymentStatus",
    "Plan",
    "PlanInstallment",
    "PlanStatus",
    "PlannedStatus",
    "PlannedStep",
    "PolicyVersion",
    "PolicyVersionStatus",
    "PortfolioTransition",
    "ProcessedEvent",
    "Promise",
    "PromiseStatus",
    "QuietHours",
    "ReconciliationItem",
    "ReconciliationRun",
    "ReminderLink",
    "RunStatus",
    "SavedCard",
    "SessionStatement",
    "StaffMember",
    "StaffSetUpLink",
    "StaffSignInAttempt",
    "StrategyRun",
    "StrategySource",
    "StrategySwitch",
    "StrategyVersion",
    "Team",
    "VerificationAttempt",
    "Waiver",
    "WebhookInbox",
    "utcnow",
]
