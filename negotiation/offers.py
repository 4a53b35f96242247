"""Agent offers judged against authority: ready to send, needs approval, or refused."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from negotiation.affordability import Statement, assess
from negotiation.plans import Plan, Terms, build_plan
from negotiation.policy import Bounds, Policy, Stage
from negotiation.reasons import Rejection, RejectionReason
from negotiation.rules import Context, first_installment_floor, fits_statement, judge
from negotiation.snapshot import LoanSnapshot


class Authority(StrEnum):
    """Who may make an offer."""

    WITHIN_AUTHORITY = "within_authority"
    NEEDS_APPROVAL = "needs_approval"
    OUTSIDE_POLICY = "outside_policy"


@dataclass(frozen=True)
class OfferJudgement:
    """The verdict on an offer, with the schedule it works out to.

    ``reasons`` says what exceeds the agent's authority (needs approval) or the policy
    (outside policy). ``affordable`` is None when no statement was given.
    """

    authority: Authority
    plan: Plan | None
    reasons: tuple[Rejection, ...]
    affordable: bool | None


def judge_offer(
    snapshot: LoanSnapshot,
    policy: Policy,
    today: date,
    terms: Terms,
    statement: Statement | None = None,
) -> OfferJudgement:
    """Judge an agent's offer: within the agent's bounds, the supervisor's, or neither.

    Both roles may always offer what the borrower could choose alone in the stage.
    """
    if today < snapshot.as_of:
        raise ValueError("today must not be before the snapshot's as_of date")
    stage = policy.stage_for(snapshot.days_past_due)
    rules = policy.rules_for(stage)
    if rules is None or stage is Stage.CURRENT:
        refusal = (Rejection(RejectionReason.NOTHING_OVERDUE),)
        return OfferJudgement(Authority.OUTSIDE_POLICY, None, refusal, None)
    context = Context(snapshot, policy, rules, today)
    agent = policy.agent.widened_by(rules.bounds)
    supervisor = policy.supervisor.widened_by(agent)
    terms = _with_down_payment(context, terms, agent)
    plan, beyond_policy = judge(context, terms, supervisor)
    affordable = None
    if plan is not None and statement is not None:
        assessment = assess(statement, policy, snapshot.currency)
        affordable = fits_statement(snapshot, plan, assessment)
    if beyond_policy:
        return OfferJudgement(Authority.OUTSIDE_POLICY, plan, tuple(beyond_policy), affordable)
    _, beyond_agent = judge(context, terms, agent)
    if beyond_agent:
        return OfferJudgement(Authority.NEEDS_APPROVAL, plan, tuple(beyond_agent), affordable)
    return OfferJudgement(Authority.WITHIN_AUTHORITY, plan, (), affordable)


def _with_down_payment(context: Context, terms: Terms, bounds: Bounds) -> Terms:
    """Fix an open down payment to the one the agent's bounds imply, so that both roles
    judge the same schedule."""
    if not terms.kind.is_installment_plan or terms.down_payment is not None:
        return terms
    if terms.installments < 2:
        return terms
    floor = first_installment_floor(context, bounds, terms.kind)
    first = build_plan(context.snapshot, terms, smallest_first=floor).installments[0]
    return replace(terms, down_payment=first.amount)
