"""What a borrower may choose: the plans on offer, and their own custom requests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from negotiation.affordability import Assessment, Statement, assess
from negotiation.dates import Frequency
from negotiation.plans import ZERO, Plan, Terms
from negotiation.policy import PlanKind, Policy, StageRules
from negotiation.reasons import Rejection, RejectionReason
from negotiation.rules import (
    Context,
    fastest_affordable,
    first_installment_floor,
    fits_statement,
    judge,
    longest_term,
    regular_per_period,
)
from negotiation.snapshot import LoanSnapshot

# The order kinds are listed in when nothing else tells them apart.
KIND_ORDER = (
    PlanKind.PAY_IN_FULL,
    PlanKind.SETTLEMENT,
    PlanKind.DEFERRAL,
    PlanKind.ARREARS_PLAN,
    PlanKind.RESTRUCTURE,
)


class Label(StrEnum):
    """Why a proposal stands out, for the borrower's cards."""

    RECOMMENDED = "recommended"
    FASTEST_AFFORDABLE = "fastest_affordable"
    LOWEST_INSTALLMENT = "lowest_installment"


@dataclass(frozen=True)
class Proposal:
    """A plan the borrower may accept as it stands.

    ``affordable`` is None when no statement was given. ``monthly_burden`` is what the
    borrower pays in a typical month under the plan, the regular installment beside an
    arrears plan included; a single payment's burden is the payment.
    """

    plan: Plan
    affordable: bool | None
    conditional_waiver: bool
    monthly_burden: int
    labels: frozenset[Label] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PlanRequest:
    """A borrower's own choice of plan; down payment None lets the engine choose."""

    kind: PlanKind
    first_due_date: date
    installments: int = 1
    frequency: Frequency = Frequency.MONTHLY
    down_payment: int | None = None


@dataclass(frozen=True)
class Decision:
    """The answer to a custom request: a proposal, or the reasons it is refused.

    ``plan`` is what the request works out to when it could be computed, so a refusal
    can still show the borrower the numbers behind it.
    """

    proposal: Proposal | None
    plan: Plan | None
    rejections: tuple[Rejection, ...]

    @property
    def accepted(self) -> bool:
        """True when the request is within the bounds."""
        return self.proposal is not None


def propose(
    snapshot: LoanSnapshot, policy: Policy, today: date, statement: Statement | None = None
) -> tuple[Proposal, ...]:
    """Every plan the borrower may choose alone, best first.

    For each kind the stage allows: paying in full, a settlement and a deferral as
    single payments; arrears plans and restructures at each allowed frequency, over the
    longest term (lowest installment) and, with a statement, the fastest affordable
    term. Empty when nothing is overdue.
    """
    context = _context(snapshot, policy, today, statement)
    if context is None:
        return ()
    proposals: dict[tuple[PlanKind, Frequency, int], Proposal] = {}
    for terms in _candidates(context):
        plan, rejections = judge(context, terms, context.rules.bounds)
        if plan is None or any(r.reason is not RejectionReason.NOT_AFFORDABLE for r in rejections):
            continue
        key = (plan.kind, plan.frequency, len(plan.installments))
        proposals.setdefault(key, _proposal(context, plan))
    return _ranked(list(proposals.values()), context.assessment is not None)


def evaluate_request(
    snapshot: LoanSnapshot,
    policy: Policy,
    today: date,
    request: PlanRequest,
    statement: Statement | None = None,
) -> Decision:
    """Accept a borrower's own plan with its schedule, or refuse it with every reason."""
    context = _context(snapshot, policy, today, statement)
    if context is None:
        return Decision(None, None, (Rejection(RejectionReason.NOTHING_OVERDUE),))
    if not context.rules.self_service and request.kind is not PlanKind.PAY_IN_FULL:
        return Decision(None, None, (Rejection(RejectionReason.SELF_SERVICE_NOT_ALLOWED),))
    terms = _stage_terms(
        context.rules,
        request.kind,
        request.first_due_date,
        installments=request.installments,
        frequency=request.frequency,
        down_payment=request.down_payment,
    )
    plan, rejections = judge(context, terms, context.rules.bounds)
    if plan is None or rejections:
        return Decision(None, plan, tuple(rejections))
    return Decision(_proposal(context, plan), plan, ())


def _context(
    snapshot: LoanSnapshot, policy: Policy, today: date, statement: Statement | None
) -> Context | None:
    if today < snapshot.as_of:
        raise ValueError("today must not be before the snapshot's as_of date")
    rules = policy.rules_for(policy.stage_for(snapshot.days_past_due))
    if rules is None or snapshot.arrears.total == 0:
        return None
    assessment = assess(statement, policy, snapshot.currency) if statement else None
    return Context(snapshot, policy, rules, today, assessment)


def _stage_terms(
    rules: StageRules,
    kind: PlanKind,
    first_due_date: date,
    *,
    installments: int = 1,
    frequency: Frequency = Frequency.MONTHLY,
    down_payment: int | None = None,
) -> Terms:
    """Terms as a borrower gets them alone: the stage's full waivers, discount and rate.

    A promise to pay waives nothing: it is a delay, not a concession.
    """
    deferral = kind is PlanKind.DEFERRAL
    return Terms(
        kind=kind,
        first_due_date=first_due_date,
        installments=installments,
        frequency=frequency,
        down_payment=down_payment,
        penalty_waiver_pct=ZERO if deferral else rules.max_penalty_waiver_pct,
        fee_waiver_pct=ZERO if deferral else rules.max_fee_waiver_pct,
        settlement_discount_pct=rules.settlement_discount_cap_pct,
        interest_rate_pct=rules.plan_interest_rate_pct,
    )


def _offered_kinds(rules: StageRules) -> list[PlanKind]:
    if not rules.self_service:
        # Paying what is owed never needs an agent; anything else does in this stage.
        return [PlanKind.PAY_IN_FULL]
    return [kind for kind in KIND_ORDER if rules.bounds.allows(kind)]


def _candidates(context: Context) -> list[Terms]:
    rules, today = context.rules, context.today
    candidates: list[Terms] = []
    for kind in _offered_kinds(rules):
        if kind is PlanKind.DEFERRAL:
            latest = today + timedelta(days=context.policy.max_deferral_days)
            candidates.append(_stage_terms(rules, kind, latest))
        elif not kind.is_installment_plan:
            candidates.append(_stage_terms(rules, kind, today))
        else:
            for frequency in rules.frequencies:
                candidates += _plan_candidates(context, kind, frequency)
    return candidates


def _plan_candidates(context: Context, kind: PlanKind, frequency: Frequency) -> list[Terms]:
    """The longest term (the lowest installment) and, with a statement, the fastest
    affordable one. Without a statement the shortest term is not offered: two large
    payments a week apart is rarely what anyone behind on a loan is looking for, and
    the calculator reaches every term in between."""
    bounds = context.rules.bounds
    template = _stage_terms(context.rules, kind, context.today, installments=2, frequency=frequency)
    floor = first_installment_floor(context, bounds, kind)
    longest = longest_term(context, template, bounds, floor)
    if longest is None:
        return []
    fastest = fastest_affordable(context, template, floor, longest)
    counts = dict.fromkeys(count for count in (fastest, longest) if count is not None)
    return [replace(template, installments=count) for count in counts]


def _proposal(context: Context, plan: Plan) -> Proposal:
    assessment: Assessment | None = context.assessment
    affordable = None if assessment is None else fits_statement(context.snapshot, plan, assessment)
    conditional = (
        context.rules.conditional_waivers
        and plan.kind in (PlanKind.DEFERRAL, PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE)
        and plan.waiver.total > 0
    )
    return Proposal(plan, affordable, conditional, _monthly_burden(context.snapshot, plan))


def _monthly_burden(snapshot: LoanSnapshot, plan: Plan) -> int:
    if len(plan.installments) == 1:
        return plan.total
    regular = regular_per_period(snapshot, plan.kind, plan.frequency)
    per_period = plan.typical_installment + regular
    return per_period * plan.frequency.periods_per_year // 12


def _ranked(proposals: list[Proposal], judged: bool) -> tuple[Proposal, ...]:
    """Affordable plans first, then the soonest finished, then the lightest month."""

    def order(item: Proposal) -> tuple[bool, date, int, int]:
        plan = item.plan
        return (
            item.affordable is False,
            plan.last_due_date,
            item.monthly_burden,
            KIND_ORDER.index(plan.kind),
        )

    ranked = sorted(proposals, key=order)
    if not ranked:
        return ()
    labels: dict[int, set[Label]] = {index: set() for index in range(len(ranked))}
    if ranked[0].affordable is not False:
        # Nothing is recommended that the borrower's own figures say they cannot pay.
        labels[0].add(Label.RECOMMENDED)
    if judged and ranked[0].affordable:
        labels[0].add(Label.FASTEST_AFFORDABLE)
    plans_only = [i for i, p in enumerate(ranked) if len(p.plan.installments) > 1]
    if plans_only:
        lightest = min(plans_only, key=lambda i: (ranked[i].monthly_burden, i))
        labels[lightest].add(Label.LOWEST_INSTALLMENT)
    return tuple(
        Proposal(p.plan, p.affordable, p.conditional_waiver, p.monthly_burden, frozenset(labels[i]))
        for i, p in enumerate(ranked)
    )
