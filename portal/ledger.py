"""Allocating a confirmed payment to what the loan owes.

The default waterfall: penalties, then fees, then interest, then principal; within each,
the oldest first. Waivers are written off before the allocation. The payments issue
replaces this with a full double-entry ledger; the order is the same.
"""

from __future__ import annotations

from datetime import date

from portal.models import Loan, LoanCharge, LoanInstallment


def apply_to_loan(
    loan: Loan, amount: int, on: date, *, waived_penalties: int = 0, waived_fees: int = 0
) -> int:
    """Write off the waivers, then allocate ``amount`` as of the date ``on``. Returns
    what was left over (a credit, once the ledger keeps one)."""
    penalties = _charges(loan, "penalty")
    fees = _charges(loan, "fee")
    _write_off(penalties, waived_penalties)
    _write_off(fees, waived_fees)
    amount = _pay_charges(penalties, amount)
    amount = _pay_charges(fees, amount)
    installments = sorted(loan.installments, key=lambda i: i.sequence)
    overdue = [i for i in installments if i.due_date < on]
    upcoming = [i for i in installments if i.due_date >= on]
    # What is overdue first (interest, then principal, the oldest first); then anything
    # left goes to the coming installments in order, as an early payment.
    for installment in overdue:
        amount = _pay_interest(installment, amount)
    for installment in overdue:
        amount = _pay_principal(installment, amount)
    for installment in upcoming:
        amount = _pay_principal(installment, _pay_interest(installment, amount))
    return amount


def _pay_interest(installment: LoanInstallment, amount: int) -> int:
    share = min(amount, installment.interest_due - installment.interest_paid)
    installment.interest_paid += share
    return amount - share


def _pay_principal(installment: LoanInstallment, amount: int) -> int:
    share = min(amount, installment.principal_due - installment.principal_paid)
    installment.principal_paid += share
    return amount - share


def _charges(loan: Loan, kind: str) -> list[LoanCharge]:
    return sorted((c for c in loan.charges if c.kind == kind), key=lambda c: (c.charged_on, c.id))


def _write_off(charges: list[LoanCharge], amount: int) -> None:
    for charge in charges:
        share = min(amount, charge.outstanding)
        charge.waived += share
        amount -= share


def _pay_charges(charges: list[LoanCharge], amount: int) -> int:
    for charge in charges:
        share = min(amount, charge.outstanding)
        charge.paid += share
        amount -= share
    return amount
