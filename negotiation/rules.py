"""Judging terms against bounds: the one place that says whether a plan is allowed.

Self-service requests are judged against the stage's bounds, agent offers against the
agent's and the supervisor's; the checks are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from math import ceil

from negotiation.affordability import Assessment
from negotiation.dates import Frequency
from negotiation.plans import (
    FLOAT_DOUBT,
    Plan,
    Terms,
    amortize_with,
    annuities,
    build_plan,
    level_payment,
    minimum_down,
    payable_under,
    periodic_rate,
    rate_fraction,
    schedule_amounts,
)
from negotiation.policy import Bounds, PlanKind, Policy, StageRules
from negotiation.reasons import Rejection, RejectionReason
from negotiation.snapshot import LoanSnapshot


@dataclass(frozen=True)
class Context:
    """Everything a judgement depends on besides the terms themselves."""

    snapshot: LoanSnapshot
    policy: Policy
    rules: StageRules
    today: date
    assessment: Assessment | None = None

    @property
    def minimum_installment(self) -> int:
        """The stage's minimum installment in the loan's currency."""
        return self.rules.minimum_installment[self.snapshot.currency]

    def latest_first_date(self, kind: PlanKind, bounds: Bounds) -> date:
        """The last day the first (or only) payment may fall on."""
        if kind is PlanKind.DEFERRAL:
            days = self.policy.max_deferral_days
        else:
            days = bounds.max_days_to_first_payment
        return self.today + timedelta(days=days)


def regular_per_period(snapshot: LoanSnapshot, kind: PlanKind, frequency: Frequency) -> int:
    """The contractual installment, converted to ``frequency`` (rounded up), that an
    arrears plan's borrower keeps paying beside it; zero for other kinds."""
    if kind is not PlanKind.ARREARS_PLAN:
        return 0
    yearly = snapshot.regular_installment * snapshot.frequency.periods_per_year
    return -(-yearly // frequency.periods_per_year)


def fits_statement(snapshot: LoanSnapshot, plan: Plan, assessment: Assessment) -> bool:
    """True when every payment the plan asks for fits what the statement can afford."""
    amounts = [item.amount for item in plan.installments]
    return amounts_fit(snapshot, plan.kind, plan.frequency, amounts, assessment)


def amounts_fit(
    snapshot: LoanSnapshot,
    kind: PlanKind,
    frequency: Frequency,
    amounts: Sequence[int],
    assessment: Assessment,
) -> bool:
    """True when every amount fits the statement: installments, with the regular
    installment an arrears plan runs beside, against the affordable amount per period;
    a single payment against the affordable month."""
    largest = max(amounts)
    if len(amounts) == 1:
        return largest <= assessment.affordable_monthly
    limit = assessment.affordable_per(frequency)
    return largest + regular_per_period(snapshot, kind, frequency) <= limit


def below_minimum(amounts: Sequence[int], minimum: int) -> bool:
    """True when an amount is not positive, or under ``minimum`` without being a
    smaller last installment."""
    if any(amount <= 0 for amount in amounts):
        return True
    return any(amount < minimum for amount in amounts[:-1])


def first_installment_floor(context: Context, bounds: Bounds, kind: PlanKind) -> int:
    """The smallest first installment an installment plan may start with."""
    if not kind.is_installment_plan:
        return 0
    return minimum_down(
        context.snapshot, bounds.minimum_down_payment_pct, context.minimum_installment
    )


def judge(context: Context, terms: Terms, bounds: Bounds) -> tuple[Plan | None, list[Rejection]]:
    """Build the plan ``terms`` describe and list every way it breaks ``bounds``.

    The plan is None when the terms are too malformed to build (a kind or term the
    bounds do not allow); otherwise it is returned even when rejected, so a caller can
    show what was asked for.
    """
    rejections = _shape_rejections(context, terms, bounds)
    if any(r.reason in _UNBUILDABLE for r in rejections):
        return None, rejections
    floor = first_installment_floor(context, bounds, terms.kind)
    plan = build_plan(context.snapshot, terms, smallest_first=floor)
    rejections += _amount_rejections(context, terms, bounds, plan, floor)
    return plan, rejections


_UNBUILDABLE = frozenset(
    {
        # A first date outside the window may be any date at all (year 9999): no
        # schedule is built from it.
        RejectionReason.FIRST_PAYMENT_IN_PAST,
        RejectionReason.FIRST_PAYMENT_TOO_LATE,
        RejectionReason.NOTHING_OVERDUE,
        RejectionReason.KIND_NOT_ALLOWED,
        RejectionReason.TERM_TOO_SHORT,
        RejectionReason.TERM_TOO_LONG,
    }
)


def _shape_rejections(context: Context, terms: Terms, bounds: Bounds) -> list[Rejection]:
    snapshot, policy = context.snapshot, context.policy
    kind = terms.kind
    found: list[Rejection] = []
    if snapshot.arrears.total == 0 and not kind.covers_whole_balance:
        found.append(Rejection(RejectionReason.NOTHING_OVERDUE))
    if not bounds.allows(kind):
        found.append(Rejection(RejectionReason.KIND_NOT_ALLOWED))
    if (
        kind is PlanKind.RESTRUCTURE
        and snapshot.restructures_last_12_months >= policy.max_restructures_per_12_months
    ):
        found.append(Rejection(RejectionReason.TOO_MANY_RESTRUCTURES))
    latest = context.latest_first_date(kind, bounds)
    if terms.first_due_date < context.today:
        found.append(Rejection(RejectionReason.FIRST_PAYMENT_IN_PAST, context.today))
    elif terms.first_due_date > latest:
        found.append(Rejection(RejectionReason.FIRST_PAYMENT_TOO_LATE, latest))
    if terms.penalty_waiver_pct > bounds.max_penalty_waiver_pct:
        found.append(
            Rejection(RejectionReason.PENALTY_WAIVER_TOO_HIGH, bounds.max_penalty_waiver_pct)
        )
    if terms.fee_waiver_pct > bounds.max_fee_waiver_pct:
        found.append(Rejection(RejectionReason.FEE_WAIVER_TOO_HIGH, bounds.max_fee_waiver_pct))
    if kind is PlanKind.SETTLEMENT and (
        terms.settlement_discount_pct > bounds.settlement_discount_cap_pct
    ):
        found.append(
            Rejection(RejectionReason.DISCOUNT_TOO_HIGH, bounds.settlement_discount_cap_pct)
        )
    if kind.is_installment_plan:
        found += _term_rejections(terms, bounds)
    return found


def _term_rejections(terms: Terms, bounds: Bounds) -> list[Rejection]:
    found: list[Rejection] = []
    longest = bounds.max_term(terms.kind)
    if terms.frequency not in bounds.frequencies:
        found.append(Rejection(RejectionReason.FREQUENCY_NOT_ALLOWED))
    if terms.installments < 2:
        found.append(Rejection(RejectionReason.TERM_TOO_SHORT, 2 if longest >= 2 else None))
    elif terms.installments > longest:
        found.append(Rejection(RejectionReason.TERM_TOO_LONG, longest if longest >= 2 else None))
    if (
        terms.kind is PlanKind.RESTRUCTURE
        and terms.interest_rate_pct < bounds.min_plan_interest_rate_pct
    ):
        found.append(
            Rejection(RejectionReason.INTEREST_RATE_TOO_LOW, bounds.min_plan_interest_rate_pct)
        )
    return found


def _amount_rejections(
    context: Context, terms: Terms, bounds: Bounds, plan: Plan, floor: int
) -> list[Rejection]:
    found: list[Rejection] = []
    payable = plan.restructured - plan.waiver.total
    if payable <= 0:
        return [Rejection(RejectionReason.INSTALLMENT_BELOW_MINIMUM)]
    if not terms.kind.is_installment_plan:
        return found
    down = terms.down_payment
    if down is not None and down < floor:
        # No down payment works when the floor leaves nothing for the other installments.
        nearest = floor if floor < payable else None
        found.append(Rejection(RejectionReason.DOWN_PAYMENT_TOO_LOW, nearest))
    elif down is not None and down >= payable:
        found.append(
            Rejection(RejectionReason.DOWN_PAYMENT_TOO_HIGH, _highest_down(context, terms, floor))
        )
    elif below_minimum(_amounts_of(plan), context.minimum_installment):
        longest = longest_term(context, terms, bounds, floor)
        found.append(Rejection(RejectionReason.INSTALLMENT_BELOW_MINIMUM, longest))
    elif context.assessment is not None and not fits_statement(
        context.snapshot, plan, context.assessment
    ):
        longest = longest_term(context, terms, bounds, floor)
        fastest = fastest_affordable(context, terms, floor, longest)
        found.append(Rejection(RejectionReason.NOT_AFFORDABLE, fastest))
    return found


def _highest_down(context: Context, terms: Terms, floor: int) -> int | None:
    """The largest down payment that leaves the other installments at the minimum."""
    payable = payable_under(context.snapshot, terms)
    highest = payable - (terms.installments - 1) * context.minimum_installment
    return highest if highest >= floor else None


def _amounts_of(plan: Plan) -> list[int]:
    return [item.amount for item in plan.installments]


# Amounts this large leave the margins of plans.last_installment_margin: the loop decides.
_LARGEST_OUTLINED = 10**18
# plans.Annuities.payment's float estimate: exact below 2**53, decided when the estimate
# give or take far more than a float's error rounds up to the same step.
_FLOAT_EXACT = 2**53
_BELOW, _ABOVE = 1 - FLOAT_DOUBT, 1 + FLOAT_DOUBT
# Schedules._all_keep's allowance for the floats and Decimal digits of an annuity's
# shares: their errors are below 1e-15, relative.
_RANGE_DOUBT = 1e-9


# How a schedule of three or more installments is outlined (Schedules._shape): only by
# listing it, without interest (exactly), or as an annuity (within a margin).
_LISTED, _PLAIN, _ANNUITY = 0, 1, 2
# An outline not worked out yet (None is an outline that only the list can give).
_UNKNOWN = (0, None, 0, 0)


class Schedules:
    """The schedules of one set of terms for one case, by number of installments.

    The searches below try several terms and the engine then builds and judges the ones
    they find; each schedule is worked out here once. Most questions a search asks (is
    every installment at least the minimum, is the largest affordable) are answered from
    a schedule's outline, its first, level and last installments, without listing it:
    exactly for a plan without interest, and for a restructure whenever the level
    payment is clear of ``last_installment_margin``; otherwise from the full list, as
    ``schedule_amounts`` gives it.

    ``rate`` is ``periodic_rate(terms)``, when the caller has it.
    """

    def __init__(
        self,
        context: Context,
        terms: Terms,
        floor: int,
        payable: int | None = None,
        rate: Decimal | None = None,
    ) -> None:
        snapshot = context.snapshot
        self.snapshot = snapshot
        self.terms = terms
        self.floor = floor
        self.payable = payable = payable_under(snapshot, terms) if payable is None else payable
        self.minimum = context.minimum_installment
        self.step = step = snapshot.currency.installment_step
        self.rate = rate = periodic_rate(terms) if rate is None else rate
        self._down = terms.down_payment
        # Only installment plans have terms to search; a payable below nothing is left to
        # schedule_amounts (which refuses it).
        finite = rate.is_finite()  # else schedule_amounts raises, as it should
        outlined = terms.kind.is_installment_plan and finite and 0 <= payable < _LARGEST_OUTLINED
        self._annuities = annuities(rate, step) if finite and rate > 0 else None
        plain = outlined and rate == 0
        # Two installments with interest of any sign have an outline of their own.
        self._two = outlined and not plain
        if plain:
            self._shape = _PLAIN
        elif outlined and self._annuities is not None:
            self._shape = _ANNUITY
        else:
            self._shape = _LISTED
        self._amounts: dict[int, list[int]] = {}
        self._outlines: dict[int, tuple[int, int | None, int, int] | None] = {}
        self._keeps: dict[int, bool] = {}
        self._longest: dict[int, int | None] = {}
        self._assessment = context.assessment
        self._limits: dict[Frequency, int] = {}

    def longest(self, most: int) -> int | None:
        """``longest_term``: the most installments, up to ``most``, that keep the
        minimum."""
        if most not in self._longest:
            if most > 2 and self._all_keep(most):
                # What the search finds when every term it could try keeps the minimum.
                self._longest[most] = most
            else:
                self._longest[most] = _last_true(self.keeps_minimum, 2, most)
        return self._longest[most]

    def _all_keep(self, most: int) -> bool:
        """True when every schedule of 2 to ``most`` installments keeps the minimum
        (``keeps_minimum``), shown from bounds without working one out: each first
        installment is at least the floor (or the down payment) and at most the largest
        first installment of the range, so each level one is at least what the largest
        first leaves, spread over the most periods. With two installments the second is
        the last, which only has to be positive: it is when the first leaves something.
        False says nothing: the search then decides."""
        shape = self._shape
        if shape == _LISTED:
            return False
        payable, step, minimum, down = self.payable, self.step, self.minimum, self._down
        if down is None:
            least_first = self.floor  # the first installment is never below the floor...
            if payable < least_first:
                return False  # ...unless it is the whole payable
        else:
            least_first = min(max(down, 0), payable)
        if least_first <= 0 or least_first < minimum:
            return False
        if shape == _PLAIN:
            # A first installment is the floor or the even share, which only shrinks as
            # the terms grow: at most the floor or the share of three. Each level one is
            # the rest over n - 1 rounded down to the step, so at least the least rest
            # over the most periods, and the last one is then at least a level one.
            largest_first = least_first
            if down is None:
                largest_first = max(self.floor, payable // 2 // step * step)
                if largest_first >= payable:
                    return False  # two installments might leave nothing for the second
                largest_first = max(self.floor, payable // 3 // step * step)
            elif least_first >= payable:
                return False
            least_level = (payable - largest_first) // (most - 1) // step * step
            return least_level > 0 and least_level >= minimum
        # An annuity: the share of its principal a level payment comes to shrinks as the
        # periods grow, and the payment is that share rounded up to the step. A first
        # installment is then at most the floor or the share of three periods of the
        # payable (and a step), each level one at least the share of the most periods of
        # what that leaves. The float shares are within 1e-15 of Decimal's quotients,
        # far inside _RANGE_DOUBT. Every outline is known when every margin is, and its
        # last installment is positive when the level one exceeds the widest margin.
        known = self._annuities
        if known is None:
            return False
        widest = known.widest_margin(most - 1)
        two_share, first_share = known.of(2)[0], known.of(3)[0]
        level_share = known.of(most - 1)[0]
        if widest is None or not two_share or not first_share or not level_share:
            return False
        first_bound: float = least_first
        if down is None:
            # Two installments' first is the larger; a positive rate adds to the second.
            two_first = max(self.floor, payable * two_share * (1 + _RANGE_DOUBT) + step)
            if two_first >= payable:
                return False
            first_bound = max(self.floor, payable * first_share * (1 + _RANGE_DOUBT) + step)
        elif least_first >= payable:
            return False
        level_bound = (payable - first_bound) * level_share * (1 - _RANGE_DOUBT)
        return level_bound > 0 and level_bound >= minimum and level_bound > widest

    def fastest(self, most: int, frequency: Frequency) -> int | None:
        """``fastest_affordable`` for the context's own statement (None without one):
        the fewest installments, up to ``most``, that are ``affordable`` at
        ``frequency``. It tries ``most`` first, so a term it returns, and ``most``, are
        affordable; when it returns None, ``most`` is not."""
        assessment = self._assessment
        if assessment is None:
            return None
        limit = self._limit(assessment, frequency)
        outline_of, amounts = self._outline, self.amounts

        def fits(count: int) -> bool:  # affordable(count, assessment, frequency)
            outline = outline_of(count)
            if outline is None:
                kind = self.terms.kind
                return amounts_fit(self.snapshot, kind, frequency, amounts(count), assessment)
            first, level, low, high = outline
            if first > limit or (level is not None and level > limit) or low > limit:
                return False
            return high <= limit or max(amounts(count)) <= limit

        return _first_true(fits, 2, most)

    def amounts(self, count: int) -> list[int]:
        """``schedule_amounts`` of the terms with ``count`` installments."""
        found = self._amounts.get(count)
        if found is None:
            found = self._amounts_from_outline(count)
            if found is None:
                terms, payable = self.terms, self.payable
                found = schedule_amounts(self.snapshot, terms, self.floor, payable, count)
            self._amounts[count] = found
        return found

    def _amounts_from_outline(self, count: int) -> list[int] | None:
        """The list from a known outline: exact without interest or with two
        installments; with interest, the loop for the last installment alone (the level
        payment is known, and the margin rules out plans._amortize's second try)."""
        outline = self._outline(count)
        if outline is None:
            return None
        first, level, low, high = outline
        if low == high:  # exact: the last installment is known
            if level is None:
                return [first, high]
            amounts = [level] * count
            amounts[0], amounts[-1] = first, high
            return amounts
        if level is None:
            return None
        rest = amortize_with(self.payable - first, count - 1, self.rate, level, self.step)
        if rest[-1] <= 0:
            return None  # never, by the margin; schedule_amounts would try again
        rest.insert(0, first)
        return rest

    def _outline(self, count: int) -> tuple[int, int | None, int, int] | None:
        """The first installment, the level one (None with only two), and bounds on the
        last, low and high, for ``count`` installments; None when only the full list can
        tell (see the class). schedule_amounts' own steps, without the list."""
        outline = self._outlines.get(count, _UNKNOWN)
        if outline is not _UNKNOWN:
            return outline
        shape = self._shape
        if count < 2:
            outline = None
        elif shape == _PLAIN:
            outline = self._plain_outline(count)
        elif count == 2:
            outline = self._two_installments() if self._two else None
        elif shape == _ANNUITY:
            outline = self._annuity_outline(count)
        else:
            outline = None
        self._outlines[count] = outline
        return outline

    def _plain_outline(self, count: int) -> tuple[int, int | None, int, int]:
        # schedule_amounts without interest: an even first installment (or the floor, or
        # the down payment), then the rest split evenly, the remainder on the last.
        payable, step, first = self.payable, self.step, self._down
        if first is None:
            first = max(self.floor, payable // count // step * step)
        first = min(max(first, 0), payable)
        principal, periods = payable - first, count - 1
        level = principal // periods // step * step
        last = principal - level * (periods - 1)
        return first, (level if periods > 1 else None), last, last

    def _two_installments(self) -> tuple[int, int | None, int, int]:
        # schedule_amounts with two installments and interest: the first, then the rest
        # with one period's interest (plans._amortize_with), to the unit when that leaves
        # nothing at the step (plans._amortize).
        payable, step, first = self.payable, self.step, self._down
        if first is None:
            first = max(self.floor, level_payment(payable, 2, self.rate, step))
        first = min(max(first, 0), payable)
        principal = payable - first
        numerator, denominator = rate_fraction(self.rate)
        last = (
            principal
            + (2 * principal * numerator + denominator * step) // (2 * denominator * step) * step
        )
        if last <= 0 and step > 1:
            last = principal + (2 * principal * numerator + denominator) // (2 * denominator)
        return first, None, last, last

    def _annuity_outline(self, count: int) -> tuple[int, int | None, int, int] | None:
        # Annuities.payment's float estimate, written out: searches ask this of many terms.
        known = self._annuities
        if known is None:
            return None  # never: an annuity's shape has them
        share, later_share, margin = known.around(count)
        if margin is None:
            return None
        payable, step, first = self.payable, self.step, self._down
        if first is None:
            even = -1
            if share and payable < _FLOAT_EXACT:
                estimate = payable * share / step
                steps = ceil(estimate * _BELOW)
                if steps == ceil(estimate * _ABOVE):
                    even = steps * step
            if even < 0:
                even = known.payment(payable, count)
            first = even if even > self.floor else self.floor
        first = min(max(first, 0), payable)
        principal = payable - first
        level = -1
        if later_share and principal < _FLOAT_EXACT:
            estimate = principal * later_share / step
            steps = ceil(estimate * _BELOW)
            if steps == ceil(estimate * _ABOVE):
                level = steps * step
        if level < 0:
            level = known.payment(principal, count - 1)
        if level - margin <= 0:
            # The last installment might come to nothing, which changes every one
            # (plans._amortize): only the list tells.
            return None
        return first, level, level - margin, level + margin

    def keeps_minimum(self, count: int) -> bool:
        """True when every installment of ``count`` is positive and at least the minimum
        (but a smaller last one): not ``below_minimum``."""
        known = self._keeps.get(count)
        if known is not None:
            return known
        minimum = self.minimum
        if self._shape == _PLAIN and count > 2:
            # _plain_outline, written out: the searches ask this most.
            payable, step, down = self.payable, self.step, self._down
            if down is None:
                down = max(self.floor, payable // count // step * step)
            down = min(max(down, 0), payable)
            principal = payable - down
            even = principal // (count - 1) // step * step
            keeps = (
                down > 0
                and down >= minimum
                and even > 0
                and even >= minimum
                and principal - even * (count - 2) > 0
            )
            self._keeps[count] = keeps
            return keeps
        outline = self._outline(count)
        if outline is None:
            keeps = not below_minimum(self.amounts(count), minimum)
        else:
            first, level, low, high = outline
            too_small = first <= 0 or first < minimum
            if too_small or (level is not None and (level <= 0 or level < minimum)):
                keeps = False
            elif low > 0:
                keeps = True
            elif high <= 0:
                keeps = False
            else:
                keeps = not below_minimum(self.amounts(count), minimum)
        self._keeps[count] = keeps
        return keeps

    def _limit(self, assessment: Assessment, frequency: Frequency) -> int:
        # What each installment may come to beside the regular one an arrears plan runs
        # with; kept for the context's own statement, which the searches ask about.
        limit = self._limits.get(frequency) if assessment is self._assessment else None
        if limit is None:
            regular = regular_per_period(self.snapshot, self.terms.kind, frequency)
            limit = assessment.affordable_per(frequency) - regular
            if assessment is self._assessment:
                self._limits[frequency] = limit
        return limit

    def affordable(
        self, count: int, assessment: Assessment, frequency: Frequency | None = None
    ) -> bool:
        """``amounts_fit`` for ``count`` installments, at ``frequency`` when it is not
        the terms' own but has the same periodic rate (an arrears plan's schedule is the
        same at every frequency; only its dates and what is affordable differ)."""
        outline = self._outline(count)
        if frequency is None:
            frequency = self.terms.frequency
        if outline is None:
            amounts = self.amounts(count)
            return amounts_fit(self.snapshot, self.terms.kind, frequency, amounts, assessment)
        limit = self._limit(assessment, frequency)
        first, level, low, high = outline
        if first > limit or (level is not None and level > limit) or low > limit:
            return False
        if high <= limit:
            return True
        return max(self.amounts(count)) <= limit


def longest_term(
    context: Context,
    terms: Terms,
    bounds: Bounds,
    floor: int,
    schedules: Schedules | None = None,
) -> int | None:
    """The most installments ``terms`` allow while every installment keeps the minimum.
    ``schedules`` are the terms' own, when the caller has them."""
    if schedules is None:
        schedules = Schedules(context, terms, floor)
    return _last_true(schedules.keeps_minimum, 2, bounds.max_term(terms.kind))


def fastest_affordable(
    context: Context,
    terms: Terms,
    floor: int,
    longest: int | None,
    schedules: Schedules | None = None,
) -> int | None:
    """The fewest installments, up to ``longest``, for which ``terms`` are affordable,
    or None when no such term is (or no statement was given)."""
    assessment = context.assessment
    if assessment is None or longest is None:
        return None
    if schedules is None:
        schedules = Schedules(context, terms, floor)
    known = schedules

    def affordable(count: int) -> bool:
        return known.affordable(count, assessment)

    return _first_true(affordable, 2, longest)


def _first_true(test: Callable[[int], bool], low: int, high: int) -> int | None:
    """The smallest n in [low, high] with test(n), for a test that stays true once true."""
    if high < low or not test(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _last_true(test: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in [low, high] with test(n), for a test that stays false once false."""
    if high < low or not test(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if test(middle):
            low = middle
        else:
            high = middle - 1
    return low
