"""The legal track's rules: when a case may be referred, the final notice's deadline, and
which milestone may come next in each market (issue 19).

Values in, values out: the days past due, the amount overdue, the market, the milestones
already reached with their dates, and ``today``. Reasons are enums; ``portal`` words them.
The rules themselves (thresholds, paths, waiting periods, recoverable costs) are the
policy's ``[legal]`` table (``negotiation.policy.LegalRules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class LegalMilestone(StrEnum):
    """A step of a market's legal path, as the policy lists it (at most 24 characters).

    Taiwan (督促程序 then 強制執行):
    - ``demand_letter``: 存證信函, a certified letter from the post office;
    - ``payment_order``: 支付命令, the district court's payment order (民事訴訟法 §508);
    - ``finality_certificate``: 確定證明, once the debtor filed no objection within 20
      days of service (§516, §521);
    - ``enforcement``: 強制執行, e.g. 薪資扣押 (強制執行法 §115).

    Mainland China (arbitration, where the contract has an arbitration clause):
    - ``lawyer_letter``: 律师函;
    - ``arbitration_filed``: 仲裁申请;
    - ``arbitral_award``: 仲裁裁决;
    - ``enforcement``: 申请强制执行 at the intermediate court.

    Hong Kong (litigation):
    - ``letter_before_action``: a solicitor's letter before action;
    - ``claim_filed``: a claim issued (Small Claims Tribunal, District Court or High
      Court by amount);
    - ``judgment``: judgment (by default when no defence is filed);
    - ``enforcement``: execution, e.g. a garnishee order.
    """

    DEMAND_LETTER = "demand_letter"
    PAYMENT_ORDER = "payment_order"
    FINALITY_CERTIFICATE = "finality_certificate"
    LAWYER_LETTER = "lawyer_letter"
    ARBITRATION_FILED = "arbitration_filed"
    ARBITRAL_AWARD = "arbitral_award"
    LETTER_BEFORE_ACTION = "letter_before_action"
    CLAIM_FILED = "claim_filed"
    JUDGMENT = "judgment"
    ENFORCEMENT = "enforcement"


class LegalCost(StrEnum):
    """A kind of legal cost the lender may incur on a track."""

    COURT_FEE = "court_fee"  # 裁判費 / 仲裁费 / court filing fee
    SERVICE_FEE = "service_fee"  # 送達費 and the post office's 存證信函 fee
    ENFORCEMENT_FEE = "enforcement_fee"  # 執行費
    LAWYER_FEE = "lawyer_fee"  # 律師費


class Ineligibility(StrEnum):
    """Why a case may not (yet) be referred for legal action."""

    TOO_FEW_DAYS = "too_few_days"  # fewer days past due than the policy's threshold
    AMOUNT_TOO_LOW = "amount_too_low"  # less overdue than the policy's minimum
    NO_LEGAL_PATH = "no_legal_path"  # the loan's market has no path in the policy
    ON_HOLD = "on_hold"  # a hardship or dispute hold: nothing escalates
    PLAN_ACTIVE = "plan_active"  # a plan is kept: collection is paused


class MilestoneRefusal(StrEnum):
    """Why a milestone may not be recorded now."""

    NOT_ON_PATH = "not_on_path"  # not a step of this market's path
    OUT_OF_ORDER = "out_of_order"  # not the next step
    TOO_EARLY = "too_early"  # its waiting period (e.g. 20 days) has not passed
    BEFORE_DEADLINE = "before_deadline"  # the final notice's deadline has not passed
    BEFORE_PREVIOUS = "before_previous"  # dated before the step it follows
    IN_FUTURE = "in_future"  # dated after today


@dataclass(frozen=True)
class MarketPath:
    """One market's legal path: its milestones in order, the days each must wait after
    the one before (a missing entry: none), and the costs its law lets the lender add to
    what the borrower owes."""

    milestones: tuple[LegalMilestone, ...]
    wait_days: dict[LegalMilestone, int]
    recoverable_costs: frozenset[LegalCost]


@dataclass(frozen=True)
class LegalRules:
    """The policy's ``[legal]`` table, validated (``negotiation.policy``)."""

    # Days past due from which a case may be referred: the policy's
    # ``consequences.legal_referral_days``, the same day the timeline names.
    referral_days: int
    # The least amount overdue, per currency code, for a referral.
    referral_minimum: dict[str, int]
    # Days the final notice gives the borrower, from the day it is sent (post included).
    final_notice_days: int
    paths: dict[str, MarketPath]


def eligibility(
    rules: LegalRules,
    *,
    days_past_due: int,
    overdue: int,
    currency: str,
    market: str,
    on_hold: bool = False,
    plan_active: bool = False,
) -> tuple[Ineligibility, ...]:
    """Why a case may not be referred; empty when it may."""
    reasons = []
    if days_past_due < rules.referral_days:
        reasons.append(Ineligibility.TOO_FEW_DAYS)
    minimum = rules.referral_minimum.get(currency)
    if minimum is None or overdue < minimum:
        reasons.append(Ineligibility.AMOUNT_TOO_LOW)
    if market not in rules.paths:
        reasons.append(Ineligibility.NO_LEGAL_PATH)
    if on_hold:
        reasons.append(Ineligibility.ON_HOLD)
    if plan_active:
        reasons.append(Ineligibility.PLAN_ACTIVE)
    return tuple(reasons)


def notice_deadline(rules: LegalRules, sent_on: date) -> date:
    """The last day the final notice sent on ``sent_on`` gives the borrower to pay or
    agree a plan: nothing is filed until the day after."""
    return sent_on + timedelta(days=rules.final_notice_days)


@dataclass(frozen=True)
class NextMilestone:
    """The milestone that may come next, and the first day it may be dated."""

    milestone: LegalMilestone
    earliest: date


def next_milestone(
    rules: LegalRules,
    market: str,
    reached: Sequence[tuple[LegalMilestone, date]],
    deadline: date,
) -> NextMilestone | None:
    """The next step of ``market``'s path after ``reached`` (in order, with their dates),
    and the first day it may be dated: after the final notice's ``deadline``, on or after
    the step before, and after that step's waiting period. None at the path's end."""
    path = rules.paths.get(market)
    if path is None or len(reached) >= len(path.milestones):
        return None
    milestone = path.milestones[len(reached)]
    earliest = deadline + timedelta(days=1)
    if reached:
        earliest = max(earliest, reached[-1][1] + timedelta(days=path.wait_days.get(milestone, 0)))
    return NextMilestone(milestone, earliest)


def milestone_refusals(
    rules: LegalRules,
    market: str,
    reached: Sequence[tuple[LegalMilestone, date]],
    deadline: date,
    milestone: LegalMilestone,
    on: date,
    today: date,
) -> tuple[MilestoneRefusal, ...]:
    """Why ``milestone`` dated ``on`` may not be recorded after ``reached``; empty when
    it may."""
    path = rules.paths.get(market)
    if path is None or milestone not in path.milestones:
        return (MilestoneRefusal.NOT_ON_PATH,)
    nxt = next_milestone(rules, market, reached, deadline)
    if nxt is None or nxt.milestone is not milestone:
        return (MilestoneRefusal.OUT_OF_ORDER,)
    refusals = []
    if on > today:
        refusals.append(MilestoneRefusal.IN_FUTURE)
    if on <= deadline:
        refusals.append(MilestoneRefusal.BEFORE_DEADLINE)
    if reached and on < reached[-1][1]:
        refusals.append(MilestoneRefusal.BEFORE_PREVIOUS)
    elif on < nxt.earliest and on > deadline:
        refusals.append(MilestoneRefusal.TOO_EARLY)
    return tuple(refusals)


def cost_allowed(rules: LegalRules, market: str, cost: LegalCost) -> bool:
    """True when the law of ``market`` (as the policy says) lets ``cost`` be added to
    what the borrower owes. A cost it does not allow may be recorded but never charged."""
    path = rules.paths.get(market)
    return path is not None and cost in path.recoverable_costs


@dataclass(frozen=True)
class LegalStanding:
    """Where a case's legal track stands, for the borrower's timeline: the day the
    final notice was sent and its deadline (None before it is sent), and each milestone
    reached with its date, in order."""

    notice_sent_on: date | None
    deadline: date | None
    reached: tuple[tuple[LegalMilestone, date], ...] = ()
    paused: bool = False
