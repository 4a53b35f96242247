"""What a borrower may choose: the plans on offer, and their own custom requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter

from negotiation.affordability import Assessment, Statement, assess
from negotiation.dates import Frequency
from negotiation.plans import (
    ZERO,
    Plan,
    Terms,
    Waiver,
    assembled,
    periodic_rate_of,
    plan_of,
    restructured_amount,
    waiver_of,
)
from negotiation.policy import PlanKind, Policy, StageRules
from negotiation.reasons import Rejection, RejectionReason
from negotiation.rules import (
    Context,
    Schedules,
    first_installment_floor,
    fits_statement,
    judge,
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

    Each candidate is what ``judge`` would accept against the stage's bounds (a plan it
    refuses only as unaffordable is still proposed, marked so). The candidates are the
    stage's own terms, so of judge's checks only three can fail here, and they are made
    directly: a restructure beyond the yearly limit, nothing to pay, an installment under
    the minimum. Each kind's waivers and payable amount are worked out once, and each
    schedule once (``Schedules``) for the searches, the judgement and the plan.
    """
    context = _context(snapshot, policy, today, statement)
    if context is None:
        return ()
    rules = context.rules
    found: list[_Candidate] = []
    # Paying in full, an arrears plan and a restructure waive the same penalties and fees.
    shared_waiver: Waiver | None = None
    for kind in _offered_kinds(rules):
        if kind is PlanKind.DEFERRAL or kind is PlanKind.SETTLEMENT:
            waiver = _stage_waiver(context, kind)
        else:
            if shared_waiver is None:
                shared_waiver = _stage_waiver(context, kind)
            waiver = shared_waiver
        if kind is PlanKind.DEFERRAL:
            latest = today + timedelta(days=policy.max_deferral_days)
            found += _single_payment(context, kind, latest, waiver)
        elif not kind.is_installment_plan:
            found += _single_payment(context, kind, today, waiver)
        elif (
            kind is PlanKind.RESTRUCTURE
            and snapshot.restructures_last_12_months >= policy.max_restructures_per_12_months
        ):
            continue  # judge: too many restructures
        else:
            found += _installment_plans(context, kind, waiver)
    return _ranked(context, found)


# A plan found for a borrower: how it ranks (see _ranked), the plan, whether it is
# affordable (None without a statement), its monthly burden and whether its waiver is
# conditional (_conditional).
_Candidate = tuple[tuple[bool, date, int, int], Plan, bool | None, int, bool]
_KIND_RANK = {kind: index for index, kind in enumerate(KIND_ORDER)}


def _stage_waiver(context: Context, kind: PlanKind) -> Waiver:
    """The most the stage's terms waive for a plan of ``kind`` (none for a deferral)."""
    rules = context.rules
    return waiver_of(
        context.snapshot,
        kind,
        rules.max_penalty_waiver_pct,
        rules.max_fee_waiver_pct,
        rules.settlement_discount_cap_pct,
    )


def _single_payment(
    context: Context, kind: PlanKind, due: date, waiver: Waiver
) -> list[_Candidate]:
    """The one payment of the stage's terms of ``kind`` due on ``due`` (build_plan's),
    with the stage's ``waiver`` of ``kind``, unless there is nothing to pay. A promise to
    pay waives nothing (_stage_terms)."""
    snapshot = context.snapshot
    restructured = restructured_amount(snapshot, kind)
    waived = waiver.total
    payable = restructured - waived
    if payable <= 0:
        return []  # judge: an installment below the minimum
    plan = plan_of(kind, Frequency.MONTHLY, due, [payable], restructured, waiver, ZERO, payable)
    assessment = context.assessment
    affordable = None if assessment is None else payable <= assessment.affordable_monthly
    order = (affordable is False, due, payable, _KIND_RANK[kind])
    conditional = waived > 0 and context.rules.conditional_waivers and kind in _WAIVER_REINSTATED
    return [(order, plan, affordable, payable, conditional)]


def _installment_plans(context: Context, kind: PlanKind, waiver: Waiver) -> list[_Candidate]:
    """The plans of ``kind`` at each of the stage's frequencies, with the stage's
    ``waiver`` of ``kind``: the longest term (the lowest installment) and, with a
    statement, the fastest affordable one. Without a
    statement the shortest term is not offered: two large payments a week apart is rarely
    what anyone behind on a loan is looking for, and the calculator reaches every term in
    between."""
    rules, snapshot, assessment = context.rules, context.snapshot, context.assessment
    today = context.today
    bounds = rules.bounds
    floor = first_installment_floor(context, bounds, kind)
    restructured = restructured_amount(snapshot, kind)
    waived = waiver.total
    payable = restructured - waived  # the same at every frequency
    conditional = waived > 0 and rules.conditional_waivers and kind in _WAIVER_REINSTATED
    longest_allowed = bounds.max_term(kind)
    annual = rules.plan_interest_rate_pct
    rank = _KIND_RANK[kind]
    # A schedule depends on the frequency only through its periodic rate: frequencies with
    # the same rate (every frequency of an arrears plan) share one, and its searches.
    shared: dict[Decimal, Schedules] = {}
    plans: list[_Candidate] = []
    for frequency in rules.frequencies:
        rate = periodic_rate_of(kind, annual, frequency)
        schedules = shared.get(rate)
        if schedules is None:
            terms = _stage_terms(rules, kind, today, installments=2, frequency=frequency)
            schedules = shared[rate] = Schedules(context, terms, floor, payable, rate)
        longest = schedules.longest(longest_allowed)
        if longest is None:
            continue
        fastest = schedules.fastest(longest, frequency)
        # The fastest search tried the longest term first: both terms it could find are
        # affordable, and the longest is not when it found none (None without a statement).
        affordable = None if assessment is None else fastest is not None
        # Only a restructure charges interest of its own; state no rate for anything else.
        stated = annual if rate else ZERO
        regular = regular_per_period(snapshot, kind, frequency)
        periods_per_year = frequency.periods_per_year
        counts = (longest,) if fastest is None or fastest == longest else (fastest, longest)
        for count in counts:
            if payable <= 0 or not schedules.keeps_minimum(count):
                continue  # judge: an installment below the minimum
            amounts = schedules.amounts(count)
            plan = plan_of(kind, frequency, today, amounts, restructured, waiver, stated, payable)
            # _monthly_burden: the typical (second) installment and the regular one.
            burden = (amounts[1] + regular) * periods_per_year // 12
            order = (affordable is False, plan.installments[-1].due_date, burden, rank)
            plans.append((order, plan, affordable, burden, conditional))
    return plans


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
    return assembled(
        Context,
        {
            "snapshot": snapshot,
            "policy": policy,
            "rules": rules,
            "today": today,
            "assessment": assessment,
        },
    )


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
    return assembled(
        Terms,
        {
            "kind": kind,
            "first_due_date": first_due_date,
            "installments": installments,
            "frequency": frequency,
            "down_payment": down_payment,
            "penalty_waiver_pct": ZERO if deferral else rules.max_penalty_waiver_pct,
            "fee_waiver_pct": ZERO if deferral else rules.max_fee_waiver_pct,
            "settlement_discount_pct": rules.settlement_discount_cap_pct,
            "interest_rate_pct": rules.plan_interest_rate_pct,
        },
    )


def _offered_kinds(rules: StageRules) -> list[PlanKind]:
    if not rules.self_service:
        # Paying what is owed never needs an agent; anything else does in this stage.
        return [PlanKind.PAY_IN_FULL]
    return [kind for kind in KIND_ORDER if rules.bounds.allows(kind)]


def _proposal(context: Context, plan: Plan) -> Proposal:
    assessment: Assessment | None = context.assessment
    affordable = None if assessment is None else fits_statement(context.snapshot, plan, assessment)
    return Proposal(
        plan, affordable, _conditional(context, plan), _monthly_burden(context.snapshot, plan)
    )


# The kinds whose waiver is reinstated if the plan is broken, when the stage says so.
_WAIVER_REINSTATED = frozenset({PlanKind.DEFERRAL, PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE})


def _conditional(context: Context, plan: Plan) -> bool:
    """True when the plan's waiver is reinstated if the plan is broken."""
    return (
        context.rules.conditional_waivers
        and plan.kind in _WAIVER_REINSTATED
        and plan.waiver.total > 0
    )


def _monthly_burden(snapshot: LoanSnapshot, plan: Plan) -> int:
    if len(plan.installments) == 1:
        return plan.total
    regular = regular_per_period(snapshot, plan.kind, plan.frequency)
    per_period = plan.typical_installment + regular
    return per_period * plan.frequency.periods_per_year // 12


_NO_LABELS: frozenset[Label] = frozenset()


def _ranked(context: Context, found: list[_Candidate]) -> tuple[Proposal, ...]:
    """Affordable plans first, then the soonest finished, then the lightest month."""
    if not found:
        return ()
    ranked = sorted(found, key=itemgetter(0))  # stable: ties keep the kinds' order
    top_affordable = ranked[0][2]
    top: set[Label] = set()
    if top_affordable is not False:
        # Nothing is recommended that the borrower's own figures say they cannot pay.
        top.add(Label.RECOMMENDED)
    if context.assessment is not None and top_affordable:
        top.add(Label.FASTEST_AFFORDABLE)
    lightest, lightest_burden = -1, 0
    for position, (_, plan, _, burden, _) in enumerate(ranked):
        if len(plan.installments) > 1 and (lightest < 0 or burden < lightest_burden):
            lightest, lightest_burden = position, burden
    labels = {0: frozenset(top)} if top else {}
    if lightest >= 0:
        labels[lightest] = labels.get(lightest, _NO_LABELS) | {Label.LOWEST_INSTALLMENT}
    return tuple(
        assembled(
            Proposal,
            {
                "plan": plan,
                "affordable": affordable,
                "conditional_waiver": conditional,
                "monthly_burden": burden,
                "labels": labels.get(position, _NO_LABELS),
            },
        )
        for position, (_, plan, affordable, burden, conditional) in enumerate(ranked)
    )
