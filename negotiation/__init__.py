"""Haohuan's negotiation engine: the pure domain.

Standard library only. Values in, values out; ``today`` is always a parameter. Reasons
come back as enums, never text: the portal translates them.
"""

from negotiation.affordability import Assessment, ExpenseFlag, Statement, assess
from negotiation.consequences import EventKind, TimelineEvent, plan_timeline, timeline
from negotiation.contact import (
    Blackout,
    Channel,
    ContactAttempt,
    ContactDecision,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    ContactRules,
    ContactWindow,
    Recipient,
    letter_deadline,
    may_contact,
    next_allowed,
    schedule,
)
from negotiation.dates import Frequency, add_months, due_dates
from negotiation.money import Currency, percent_of, split_evenly
from negotiation.moves import (
    MoveDecision,
    MoveRefusal,
    MoveWindow,
    PlanPayment,
    judge_move,
    movable,
    move_window,
    moved,
)
from negotiation.offers import Authority, OfferJudgement, judge_offer
from negotiation.plans import Installment, Plan, Terms, Waiver, build_plan
from negotiation.policy import (
    Bounds,
    ExpenseCategory,
    PlanKind,
    Policy,
    PolicyError,
    Stage,
    StageRules,
    load_policy,
)
from negotiation.proposals import Decision, Label, PlanRequest, Proposal, evaluate_request, propose
from negotiation.reasons import Rejection, RejectionReason
from negotiation.snapshot import Arrears, Hold, LoanSnapshot

__all__ = [
    "Arrears",
    "Assessment",
    "Authority",
    "Blackout",
    "Bounds",
    "Channel",
    "ContactAttempt",
    "ContactDecision",
    "ContactHistory",
    "ContactRefusal",
    "ContactRequest",
    "ContactRules",
    "ContactWindow",
    "Currency",
    "Decision",
    "EventKind",
    "ExpenseCategory",
    "ExpenseFlag",
    "Frequency",
    "Hold",
    "Installment",
    "Label",
    "LoanSnapshot",
    "MoveDecision",
    "MoveRefusal",
    "MoveWindow",
    "OfferJudgement",
    "Plan",
    "PlanKind",
    "PlanPayment",
    "PlanRequest",
    "Policy",
    "PolicyError",
    "Proposal",
    "Recipient",
    "Rejection",
    "RejectionReason",
    "Stage",
    "StageRules",
    "Statement",
    "Terms",
    "TimelineEvent",
    "Waiver",
    "add_months",
    "assess",
    "build_plan",
    "due_dates",
    "evaluate_request",
    "judge_move",
    "judge_offer",
    "letter_deadline",
    "load_policy",
    "may_contact",
    "movable",
    "move_window",
    "moved",
    "next_allowed",
    "percent_of",
    "plan_timeline",
    "propose",
    "schedule",
    "split_evenly",
    "timeline",
]
