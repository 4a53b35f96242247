"""A combined plan: one schedule and one payment covering several loans, split exactly.

Where the policy allows it (``Policy.combined_plans``), one plan may cover several loans
of one borrower in one currency. The borrower sees and pays one installment per date;
the ledger still keeps each loan's own payments, so every amount that comes in or goes
back out is split across the loans. This module holds the one rule that splits, and
what it builds: values in, values out, integers in minor units.

The rule: **a payment is split across the loans in proportion to what each is due on
that installment, by the largest-remainder method.** In detail:

- Each loan's exact share is ``payment * due / combined due``. Each loan first gets the
  whole minor units of its share (rounded down); the few units left over (fewer than
  the number of loans) go one each to the loans with the largest fractional remainders,
  ties broken by the loan's position in the plan (first listed first). So the parts sum
  exactly to the payment, each is within one minor unit of its exact share, none is
  negative, and a loan due nothing gets nothing.
- No loan ever gets more than it is due: a share of at most the whole due rounds up to
  at most the due, an integer.
- A payment of the whole combined installment pays each loan's due exactly.
- An overpayment: each loan first gets its whole due; what is beyond the combined due is
  split by the same method in proportion to each loan's outstanding balance beyond that
  due, so no loan gets more than it owes in all. More than the loans owe together is
  refused (``AllocationError``): the portal never takes it.
- A refund of a combined payment is split by the same method in proportion to what
  each loan still holds of that payment (its part less what earlier refunds of the same
  payment took back). The first refund is therefore in the payment's own proportions;
  no refund ever takes back more from a loan than it got from that payment; the parts
  sum exactly to the refund; and refunding all that is left returns each loan's
  remainder exactly, whatever partial refunds came before.

Why proportional and not oldest-first (paying one loan off before the next): a combined
plan is one promise covering every loan, so each loan should move along its own
schedule as the promise is kept, and a short payment should leave every loan equally
behind rather than one loan wholly missed (which would break that loan's own plan and
start its consequences while the others run ahead). Why largest remainder: it is the
exact, order-independent rounding with the least error (each part within one unit of
its share), and the tie-break by position makes it deterministic, so a split computed
again (a receipt, a statement, an audit) gives the same parts.

A payment's parts are in minor units, so a Taiwan-dollar payment may give a loan a part
with cents (only when it is not its whole due); the ledger is exact in minor units and
the charge itself stays whole dollars. A combined schedule keeps each loan's regular
installments to the currency's installment step where it can (``split_schedule``), the
cents falling on the last installment, as a single loan's plan does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from negotiation.money import split_evenly
from negotiation.policy import CombinedPlanRules


class AllocationError(ValueError):
    """Amounts that cannot be split: negative, more than is owed, or mismatched."""


def _check(amounts: Iterable[int], what: str) -> tuple[int, ...]:
    values = tuple(amounts)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AllocationError(f"{what}: amounts must be whole minor units")
        if value < 0:
            raise AllocationError(f"{what}: amounts must not be negative")
    return values


def apportion(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """``total`` split in proportion to ``weights`` by the largest-remainder method.

    The parts sum exactly to ``total``; each is the floor or the ceiling of its exact
    share ``total * weight / sum(weights)``; leftover units go to the largest remainders,
    ties to the earlier position. ``total`` may not exceed ``sum(weights)``, so no part
    exceeds its weight and a zero weight gets nothing.
    """
    (total,) = _check((total,), "total")
    parts = _check(weights, "weights")
    whole = sum(parts)
    if total > whole:
        raise AllocationError("total: more than the weights together")
    if total == 0:
        return (0,) * len(parts)
    floors = [total * weight // whole for weight in parts]
    remainders = [total * weight % whole for weight in parts]
    left = total - sum(floors)
    # Fewer leftover units than positive remainders (each remainder is below `whole` and
    # they sum to left * whole), so a zero weight never gets one.
    for index in sorted(range(len(parts)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return tuple(floors)


def split_payment(amount: int, due: Sequence[int], outstanding: Sequence[int]) -> tuple[int, ...]:
    """One payment to a combined plan split across its loans, in the plan's order.

    ``due`` is each loan's amount due on the installment paid (its share of the combined
    installment), ``outstanding`` each loan's whole outstanding balance (at least its
    due). Up to the combined due, the parts are in proportion to the dues; beyond it,
    each loan's due is paid whole and the rest goes in proportion to what each owes
    beyond its due. Raises ``AllocationError`` for more than the loans owe together.
    """
    (amount,) = _check((amount,), "amount")
    dues = _check(due, "due")
    balances = _check(outstanding, "outstanding")
    if len(dues) != len(balances):
        raise AllocationError("due and outstanding: one of each per loan")
    if any(d > b for d, b in zip(dues, balances, strict=True)):
        raise AllocationError("due: a loan's due cannot exceed its outstanding balance")
    combined = sum(dues)
    if amount <= combined:
        return apportion(amount, dues)
    beyond = [b - d for d, b in zip(dues, balances, strict=True)]
    if amount - combined > sum(beyond):
        raise AllocationError("amount: more than the loans owe together")
    extra = apportion(amount - combined, beyond)
    return tuple(d + e for d, e in zip(dues, extra, strict=True))


def split_refund(
    amount: int, paid: Sequence[int], refunded: Sequence[int] | None = None
) -> tuple[int, ...]:
    """A refund of one combined payment split across its loans.

    ``paid`` is each loan's part of that payment (``split_payment``), ``refunded`` what
    earlier refunds of the same payment took back from each. The refund is split in
    proportion to what each loan still holds of the payment; raises ``AllocationError``
    when it is more than is left of the payment.
    """
    (amount,) = _check((amount,), "amount")
    parts = _check(paid, "paid")
    back = _check(refunded if refunded is not None else (0,) * len(parts), "refunded")
    if len(back) != len(parts):
        raise AllocationError("paid and refunded: one of each per loan")
    held = [p - r for p, r in zip(parts, back, strict=True)]
    if any(h < 0 for h in held):
        raise AllocationError("refunded: more than a loan got from the payment")
    if amount > sum(held):
        raise AllocationError("amount: more than is left of the payment")
    return apportion(amount, held)


@dataclass(frozen=True)
class CombinedSchedule:
    """A combined plan's schedule: the borrower's installments and each loan's parts."""

    # The dates and the combined installment on each (what the borrower pays).
    dates: tuple[date, ...]
    combined: tuple[int, ...]
    # Per loan, in the plan's order: its amount on each date. Each loan's amounts sum to
    # its outstanding arrears, each date's amounts to the combined installment.
    per_loan: tuple[tuple[int, ...], ...]

    def due_on(self, index: int) -> tuple[int, ...]:
        """Each loan's due on installment ``index`` (the ``due`` of ``split_payment``)."""
        return tuple(amounts[index] for amounts in self.per_loan)


def split_schedule(
    outstanding: Sequence[int], combined: Sequence[int], step: int = 1
) -> tuple[tuple[int, ...], ...]:
    """Each loan's amount on each combined installment, per loan in the plan's order.

    Each installment is split in proportion to what each loan still has to be scheduled
    (the payment rule, applied to the balances left after the installments before it),
    so the last installment takes exactly what is left of each loan. Before the last, a
    loan's amounts are whole multiples of ``step`` (the currency's installment step)
    wherever the installment allows, so any cents fall on the last one.
    """
    balances = _check(outstanding, "outstanding")
    amounts = _check(combined, "combined")
    if step < 1:
        raise AllocationError("step: must be at least 1")
    if not amounts:
        raise AllocationError("combined: at least one installment")
    if sum(amounts) != sum(balances):
        raise AllocationError("combined: the installments must sum to the loans' outstanding")
    left = list(balances)
    columns: list[tuple[int, ...]] = []
    for number, amount in enumerate(amounts):
        if number == len(amounts) - 1:
            parts = tuple(left)
        else:
            units = [balance // step for balance in left]
            if step > 1 and amount % step == 0 and amount // step <= sum(units):
                parts = tuple(step * part for part in apportion(amount // step, units))
            else:
                parts = apportion(amount, left)
        left = [balance - part for balance, part in zip(left, parts, strict=True)]
        columns.append(parts)
    return tuple(zip(*columns, strict=True))


def combined_schedule(
    outstanding: Sequence[int], dates: Sequence[date], step: int = 1
) -> CombinedSchedule:
    """A combined plan over ``dates`` for loans owing ``outstanding`` (their arrears):
    the installments even (whole multiples of ``step``, the remainder on the last, as
    ``money.split_evenly``), each split across the loans by ``split_schedule``."""
    balances = _check(outstanding, "outstanding")
    if not dates:
        raise AllocationError("dates: at least one installment")
    if list(dates) != sorted(set(dates)):
        raise AllocationError("dates: in order, each once")
    combined = tuple(split_evenly(sum(balances), len(dates), step))
    return CombinedSchedule(
        dates=tuple(dates),
        combined=combined,
        per_loan=split_schedule(balances, combined, step),
    )


def combined_installments(
    schedules: Sequence[Sequence[tuple[date, int]]],
) -> tuple[tuple[date, int], ...]:
    """The combined installments of per-loan schedules: on each date any loan has an
    installment, the sum of all the loans' amounts on it, in date order."""
    totals: dict[date, int] = {}
    for schedule in schedules:
        for day, amount in schedule:
            _check((amount,), "amount")
            totals[day] = totals.get(day, 0) + amount
    return tuple(sorted(totals.items()))


class CombineRefusal(StrEnum):
    """Why several loans may not share one plan (the portal translates these)."""

    NOT_ALLOWED = "not_allowed"
    TOO_FEW_LOANS = "too_few_loans"
    TOO_MANY_LOANS = "too_many_loans"
    MIXED_CURRENCIES = "mixed_currencies"
    SAME_LOAN_TWICE = "same_loan_twice"


def combine_refusals(
    rules: CombinedPlanRules, market: str, currencies: Sequence[str], loans: Sequence[str] = ()
) -> tuple[CombineRefusal, ...]:
    """Why loans in ``currencies`` (one per loan) made in ``market`` may not share one
    plan; empty when they may. One currency is always required, whatever the policy:
    a split in two currencies is no exact sum. ``loans`` (their ids) must differ."""
    refusals = []
    if not rules.allows(market):
        refusals.append(CombineRefusal.NOT_ALLOWED)
    if len(currencies) < 2:
        refusals.append(CombineRefusal.TOO_FEW_LOANS)
    if len(currencies) > rules.max_loans:
        refusals.append(CombineRefusal.TOO_MANY_LOANS)
    if len(set(currencies)) > 1:
        refusals.append(CombineRefusal.MIXED_CURRENCIES)
    if len(set(loans)) != len(loans):
        refusals.append(CombineRefusal.SAME_LOAN_TWICE)
    return tuple(refusals)
