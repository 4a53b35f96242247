"""Turning a plan's terms into an exact, dated schedule of installments.

Building never judges: it computes what the terms mean. ``negotiation.rules`` decides
whether those terms are allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import repeat
from typing import Any, TypeVar

from negotiation.dates import Frequency, schedule_dates
from negotiation.money import HUNDRED, ceil_to_step, percent_of, percent_up_to_step, split_evenly
from negotiation.policy import PlanKind
from negotiation.snapshot import LoanSnapshot

ZERO = Decimal(0)


@dataclass(frozen=True)
class Terms:
    """What a borrower asks for or an agent offers.

    ``down_payment`` None lets the engine choose the smallest allowed first installment
    (``minimum_down``) or an even share, whichever is larger.
    """

    kind: PlanKind
    first_due_date: date
    installments: int = 1
    frequency: Frequency = Frequency.MONTHLY
    down_payment: int | None = None
    penalty_waiver_pct: Decimal = ZERO
    fee_waiver_pct: Decimal = ZERO
    settlement_discount_pct: Decimal = ZERO
    interest_rate_pct: Decimal = ZERO


@dataclass(frozen=True)
class Installment:
    """One payment of a plan; ``moved_from`` is its original date when the borrower
    moved it (see ``negotiation.moves``)."""

    due_date: date
    amount: int
    moved_from: date | None = None


@dataclass(frozen=True)
class Waiver:
    """What the lender forgoes under a plan, in minor units."""

    penalties: int = 0
    fees: int = 0
    discount: int = 0

    @property
    def total(self) -> int:
        """Everything waived."""
        return self.penalties + self.fees + self.discount


@dataclass(frozen=True)
class Plan:
    """A complete schedule: what is restructured, what is waived, and every installment.

    ``total`` always equals the sum of the installments, which equals ``restructured``
    less ``waiver.total`` plus ``interest``.
    """

    kind: PlanKind
    frequency: Frequency
    installments: tuple[Installment, ...]
    restructured: int
    waiver: Waiver
    interest: int
    interest_rate_pct: Decimal

    @property
    def total(self) -> int:
        """What the borrower pays under the plan."""
        return sum(item.amount for item in self.installments)

    @property
    def first_due_date(self) -> date:
        """When the first installment falls due."""
        return self.installments[0].due_date

    @property
    def last_due_date(self) -> date:
        """When the plan is complete, if kept."""
        return self.installments[-1].due_date

    @property
    def typical_installment(self) -> int:
        """The amount most installments come to (the second, when there is a down payment)."""
        return self.installments[1 if len(self.installments) > 1 else 0].amount


_new_object = object.__new__
_set_attribute = object.__setattr__
T = TypeVar("T")


def assembled(cls: type[T], fields: dict[str, Any]) -> T:
    """The frozen dataclass ``cls`` with ``fields`` (every one of its fields, by name), as
    its ``__init__`` makes it but at half the cost: ``__init__`` sets each field through
    ``object.__setattr__``, and the engine makes several plans and proposals per case.
    Only for classes without ``__post_init__`` or slots (tests/negotiation/
    test_installments.py holds each one used here equal to its constructor's)."""
    item = _new_object(cls)
    _set_attribute(item, "__dict__", fields)
    return item


def installments_of(dates: Sequence[date], amounts: Sequence[int]) -> tuple[Installment, ...]:
    """``tuple(map(Installment, dates, amounts))``, the same objects at half the cost.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; a
    plan has up to 600 installments and a case gets several plans, so here each
    installment's fields are written straight into its ``__dict__`` instead (Installment
    has no ``__post_init__`` and no slots: tests/negotiation/test_installments.py).
    """
    items = tuple(map(_new_object, repeat(Installment, len(amounts))))
    for item, due_date, amount in zip(items, dates, amounts, strict=True):
        fields = item.__dict__
        fields["due_date"] = due_date
        fields["amount"] = amount
        fields["moved_from"] = None
    return items


def restructured_amount(snapshot: LoanSnapshot, kind: PlanKind) -> int:
    """What a plan of ``kind`` deals with: the arrears, or the whole balance."""
    if kind.covers_whole_balance:
        return snapshot.outstanding
    return snapshot.arrears.total


def waiver_for(snapshot: LoanSnapshot, terms: Terms) -> Waiver:
    """The penalties, fees and settlement discount that ``terms`` forgo. A promise to pay
    forgoes nothing: it is a delay, not a concession."""
    return waiver_of(
        snapshot,
        terms.kind,
        terms.penalty_waiver_pct,
        terms.fee_waiver_pct,
        terms.settlement_discount_pct,
    )


def waiver_of(
    snapshot: LoanSnapshot,
    kind: PlanKind,
    penalty_waiver_pct: Decimal,
    fee_waiver_pct: Decimal,
    settlement_discount_pct: Decimal,
) -> Waiver:
    """``waiver_for`` terms of ``kind`` with these percentages."""
    if kind is PlanKind.DEFERRAL:
        return Waiver()
    step = snapshot.currency.installment_step  # whole Taiwan dollars, like the installments
    penalties = percent_of(snapshot.arrears.penalties, penalty_waiver_pct) // step * step
    fees = percent_of(snapshot.arrears.fees, fee_waiver_pct) // step * step
    discount = 0
    if kind is PlanKind.SETTLEMENT:
        payable = restructured_amount(snapshot, kind) - penalties - fees
        discount = percent_of(payable, settlement_discount_pct) // step * step
    return assembled(Waiver, {"penalties": penalties, "fees": fees, "discount": discount})


def minimum_down(snapshot: LoanSnapshot, percent: Decimal, minimum_installment: int) -> int:
    """The smallest first installment allowed: ``percent`` of the arrears, rounded up to
    the currency's step, and never below the minimum installment."""
    step = snapshot.currency.installment_step
    share = percent_up_to_step(snapshot.arrears.total, percent, step)
    return max(share, minimum_installment)


def build_plan(snapshot: LoanSnapshot, terms: Terms, smallest_first: int = 0) -> Plan:
    """The exact schedule ``terms`` describe for ``snapshot``.

    ``smallest_first`` is the least first installment the engine may choose when the
    terms leave the down payment open (see ``minimum_down``). The caller checks the
    result against the bounds; this function only guarantees the arithmetic: amounts sum
    to the total, and due dates strictly increase.
    """
    restructured = restructured_amount(snapshot, terms.kind)
    waiver = waiver_for(snapshot, terms)
    amounts = schedule_amounts(snapshot, terms, smallest_first, restructured - waiver.total)
    # Only a restructure charges interest of its own; state no rate for anything else.
    stated = terms.interest_rate_pct if periodic_rate(terms) else ZERO
    return plan_of(
        terms.kind, terms.frequency, terms.first_due_date, amounts, restructured, waiver, stated
    )


def plan_of(
    kind: PlanKind,
    frequency: Frequency,
    first_due_date: date,
    amounts: list[int],
    restructured: int,
    waiver: Waiver,
    interest_rate_pct: Decimal,
    payable: int | None = None,
) -> Plan:
    """The plan whose installments are ``amounts`` (``schedule_amounts``), dated from
    ``first_due_date``: what ``build_plan`` returns, for a caller that has the amounts
    (and maybe ``payable``, ``restructured`` less the waiver)."""
    if payable is None:
        payable = restructured - waiver.total
    dates = schedule_dates(first_due_date, len(amounts), frequency)
    plan = _new_object(Plan)  # assembled(Plan, ...), written out
    _set_attribute(
        plan,
        "__dict__",
        {
            "kind": kind,
            "frequency": frequency,
            "installments": installments_of(dates, amounts),
            "restructured": restructured,
            "waiver": waiver,
            "interest": sum(amounts) - payable,
            "interest_rate_pct": interest_rate_pct,
        },
    )
    return plan


def payable_under(snapshot: LoanSnapshot, terms: Terms) -> int:
    """What the borrower must pay under ``terms`` before any plan interest."""
    return restructured_amount(snapshot, terms.kind) - waiver_for(snapshot, terms).total


def schedule_amounts(
    snapshot: LoanSnapshot,
    terms: Terms,
    smallest_first: int = 0,
    payable: int | None = None,
    installments: int | None = None,
) -> list[int]:
    """The installment amounts of ``terms`` (with ``installments`` in place of the
    terms' own count, when given) without their dates: what searches over terms need,
    at a fraction of the cost of a whole plan."""
    if payable is None:
        payable = payable_under(snapshot, terms)
    count = installments if installments is not None else terms.installments
    if not terms.kind.is_installment_plan:
        count = 1
    if count == 1:
        return [payable]
    step = snapshot.currency.installment_step
    rate = periodic_rate(terms)
    first = terms.down_payment
    if first is None:
        first = max(smallest_first, _even_first(payable, count, rate, step))
    first = min(max(first, 0), payable)
    return [first, *_amortize(payable - first, count - 1, rate, step)]


def periodic_rate(terms: Terms) -> Decimal:
    """The interest rate per period that ``terms`` charge of their own."""
    return periodic_rate_of(terms.kind, terms.interest_rate_pct, terms.frequency)


def periodic_rate_of(kind: PlanKind, annual_pct: Decimal, frequency: Frequency) -> Decimal:
    """The interest rate per period that a plan of ``kind`` at ``annual_pct`` charges of
    its own at ``frequency``."""
    if kind is not PlanKind.RESTRUCTURE:
        # An arrears plan adds no interest of its own: the loan's contractual interest
        # keeps running on its regular schedule.
        return ZERO
    return _per_period(annual_pct, frequency)


@lru_cache(maxsize=256, typed=True)
def _per_period(annual_pct: Decimal, frequency: Frequency) -> Decimal:
    return annual_pct / HUNDRED / frequency.periods_per_year


@lru_cache(maxsize=256, typed=True)
def rate_fraction(rate: Decimal) -> tuple[int, int]:
    """``rate.as_integer_ratio()``, remembered: its greatest common divisor of two
    28-digit numbers costs more than a whole short schedule."""
    return rate.as_integer_ratio()


@lru_cache(maxsize=4096, typed=True)
def _growth(rate: Decimal, periods: int) -> tuple[Decimal, Decimal, float]:
    """``(1 + rate) ** periods``, that less one, and (as a float) the share of the
    principal a level payment comes to: a few rates and terms recur for every case, and
    the power is the dearest step of a level payment. (Decimal's results are its
    values' alone, so a cached equal rate of another exponent gives the same.)"""
    factor = (1 + rate) ** periods
    less_one = factor - 1
    share = float(rate * factor / less_one) if rate != 0 and factor != 1 else 0.0
    return factor, less_one, share


@lru_cache(maxsize=4096, typed=True)
def last_installment_margin(rate: Decimal, periods: int, step: int) -> int | None:
    """How far the last installment of ``_amortize(principal, periods, rate, step)`` can
    be from its level payment, whatever the principal (below 10**18), or None when no
    such margin is known (no positive rate).

    With the exact annuity ``A`` (the level payment before rounding) the balance would
    end at nothing; the level payment ``P`` is ``A`` rounded up to the step (``0 <= P - A
    < step``, give or take Decimal's last digit), and each period's interest is rounded
    to the step (by at most ``step / 2``). Each period's error grows with the interest
    until the last, so the last installment is ``A`` within ``(1.5 step + 1)`` times
    ``(periods - 1) (1 + rate) ** periods``, plus half a step; ``P`` is ``A`` within a
    step and one. The margin rounds all of that up generously. It lets a search decide
    most terms from the level payment alone, without the loop; near the margin the loop
    decides."""
    if rate <= 0:
        return None
    factor, less_one, _ = _growth(rate, periods)
    # A rate too small for Decimal's precision: the level payment is principal over
    # periods, not the annuity, and its Decimal digits are not to be trusted this way.
    if less_one < Decimal("1e-6"):
        return None
    spread = (1.5 * step + 1) * (periods - 1) * float(factor) * (1 + 1e-9)
    return math.ceil(spread) + 2 * step + 2


class Annuities:
    """Level payments and their margins (``last_installment_margin``) at one rate and
    step, by number of periods, for a search that tries many terms."""

    def __init__(self, rate: Decimal, step: int) -> None:
        self.rate = rate
        self.step = step
        # By periods: the float share of a level payment (0.0 where only Decimal will
        # do) and the margin of the last installment.
        self._periods: dict[int, tuple[float, int | None]] = {}
        self._around: dict[int, tuple[float, float, int | None]] = {}
        self._widest: dict[int, int | None] = {}

    def of(self, periods: int) -> tuple[float, int | None]:
        """For ``periods``: the float share of the principal a level payment comes to
        (0.0 where only Decimal will do) and ``last_installment_margin``."""
        known = self._periods.get(periods)
        if known is None:
            factor, _, share = _growth(self.rate, periods)
            margin = last_installment_margin(self.rate, periods, self.step)
            known = self._periods[periods] = (0.0 if factor == 1 else share, margin)
        return known

    def around(self, count: int) -> tuple[float, float, int | None]:
        """For a schedule of ``count`` installments: the shares (``of``) of ``count`` and
        ``count - 1`` periods, and the margin of ``count - 1``: what a search's every
        term asks."""
        known = self._around.get(count)
        if known is None:
            share, _ = self.of(count)
            later_share, margin = self.of(count - 1)
            known = self._around[count] = (share, later_share, margin)
        return known

    def margin(self, periods: int) -> int | None:
        """``last_installment_margin`` for ``periods``."""
        return self.of(periods)[1]

    def widest_margin(self, most: int) -> int | None:
        """The largest ``last_installment_margin`` from 2 to ``most`` periods, or None
        when one of them is unknown."""
        known = self._widest.get(most, -1)
        if known == -1:
            known = 0
            for periods in range(2, most + 1):
                margin = self.of(periods)[1]
                if margin is None:
                    known = None
                    break
                known = max(known, margin)
            self._widest[most] = known
        return known

    def payment(self, principal: int, periods: int) -> int:
        """``level_payment`` of ``principal`` over ``periods``."""
        share = self.of(periods)[0]
        step = self.step
        if share and 0 <= principal < 2**53:
            estimate = principal * share / step
            steps = math.ceil(estimate * (1 - FLOAT_DOUBT))
            if steps == math.ceil(estimate * (1 + FLOAT_DOUBT)):
                return steps * step
        return level_payment(principal, periods, self.rate, step)

    def outline(
        self, payable: int, count: int, smallest_first: int, down_payment: int | None
    ) -> tuple[int, int, int] | None:
        """The first installment, the level payment and the last installment's margin of
        ``schedule_amounts`` with ``count`` installments (three or more), or None when
        the margin is unknown. One call for what a search asks of each term."""
        margin = self.of(count - 1)[1]
        if margin is None:
            return None
        first = down_payment
        if first is None:
            first = max(smallest_first, self.payment(payable, count))
        first = min(max(first, 0), payable)
        return first, self.payment(payable - first, count - 1), margin


@lru_cache(maxsize=256, typed=True)
def annuities(rate: Decimal, step: int) -> Annuities:
    """The ``Annuities`` of a rate and step, shared by every case that uses them."""
    return Annuities(rate, step)


def _even_first(payable: int, count: int, rate: Decimal, step: int) -> int:
    """A first installment about the size of the others, so a plan with no required down
    payment has level installments."""
    if rate == 0:
        return split_evenly(payable, count, step)[0]
    return level_payment(payable, count, rate, step)


# A float's relative error is below 2**-53 (1.1e-16) per operation; this is far wider.
FLOAT_DOUBT = 1e-13


def level_payment(principal: int, periods: int, rate: Decimal, step: int) -> int:
    """The annuity installment repaying ``principal`` over ``periods``, rounded up to
    ``step`` so the last installment is the smaller one.

    Computed in Decimal (``principal * rate * factor / (factor - 1)``); but when a float
    estimate of that quotient, give or take far more than a float's error, rounds up to
    the same step either way, the rounded payment is known without it."""
    factor, less_one, share = _growth(rate, periods)
    if rate == 0 or factor == 1:
        # A rate too small to register at Decimal's precision is no interest at all.
        return ceil_to_step(Decimal(principal) / periods, step)
    if 0 <= principal < 2**53:
        estimate = principal * share / step
        steps = math.ceil(estimate * (1 - FLOAT_DOUBT))
        if steps == math.ceil(estimate * (1 + FLOAT_DOUBT)):
            return steps * step
    return ceil_to_step(Decimal(principal) * rate * factor / less_one, step)


def _amortize(principal: int, periods: int, rate: Decimal, step: int) -> list[int]:
    """Level installments repaying ``principal`` with interest at ``rate`` per period;
    the last one settles the exact balance."""
    if rate == 0:
        return split_evenly(principal, periods, step)
    payment = level_payment(principal, periods, rate, step)
    amounts = amortize_with(principal, periods, rate, payment, step)
    if amounts[-1] <= 0 and step > 1:
        # Rounding every installment up to the step overpaid so much that nothing is
        # left for the last one; level the installments to the unit instead.
        level = level_payment(principal, periods, rate, 1)
        amounts = amortize_with(principal, periods, rate, level, 1)
    return amounts


def amortize_with(
    principal: int, periods: int, rate: Decimal, payment: int, step: int
) -> list[int]:
    """``periods`` installments of ``payment`` repaying ``principal`` with interest at
    ``rate`` per period, the last settling the exact balance."""
    # Exact integer arithmetic on the rate as a fraction: each period's interest is the
    # balance times the rate, rounded half up to the currency's step (whole Taiwan
    # dollars), with no Decimal context in the loop.
    if periods < 1:
        return []
    # Every installment but the last is the payment; the loop only carries the balance.
    numerator, denominator = rate_fraction(rate)
    denominator *= step
    twice_numerator, twice_denominator = 2 * numerator, 2 * denominator
    balance = principal
    if step == 1:  # the same loop, one multiplication fewer
        for _ in range(periods - 1):
            balance += (balance * twice_numerator + denominator) // twice_denominator - payment
    else:
        for _ in range(periods - 1):
            interest = (balance * twice_numerator + denominator) // twice_denominator * step
            balance += interest - payment
    last = balance + (balance * twice_numerator + denominator) // twice_denominator * step
    amounts = [payment] * (periods - 1)
    amounts.append(last)
    return amounts
