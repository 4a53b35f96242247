"""Allocating a confirmed payment to what the loan owes, and writing off waivers.

The default waterfall: penalties, then fees, then interest, then principal; the oldest
first within each; what is overdue before what is to come. A conditional waiver is
reserved while its plan runs (the waterfall leaves that much of the penalties and fees
alone) and written off when the plan is kept to the end. The payments issue replaces
this with a double-entry ledger; the order is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from portal.models import Loan, LoanCharge, LoanInstallment


def apply_to_loan(
    loan: Loan, amount: int, on: date, *, reserved_penalties: int = 0, reserved_fees: int = 0
) -> int:
    """Allocate ``amount`` as of ``on``, leaving the reserved charges alone. Returns what
    was left over, once everything owed is paid (a credit for the ledger to keep)."""
    amount = _pay_charges(_charges(loan, "penalty"), amount, reserved_penalties)
    amount = _pay_charges(_charges(loan, "fee"), amount, reserved_fees)
    installments = sorted(loan.installments, key=lambda i: i.sequence)
    overdue = [i for i in installments if i.due_date < on]
    upcoming = [i for i in installments if i.due_date >= on]
    for installment in overdue:
        amount = _pay_interest(installment, amount)
    for installment in overdue:
        amount = _pay_principal(installment, amount)
    for installment in upcoming:
        amount = _pay_principal(installment, _pay_interest(installment, amount))
    return amount


def write_off_charges(loan: Loan, *, penalties: int = 0, fees: int = 0) -> None:
    """Waive up to these amounts of the outstanding penalties and fees, oldest first."""
    _write_off(_charges(loan, "penalty"), penalties)
    _write_off(_charges(loan, "fee"), fees)


def write_off_balance(loan: Loan, amount: int) -> None:
    """Waive up to ``amount`` of what is left of the loan, from its last installment
    back: a settlement discount closes the loan for less than was owed."""
    for installment in sorted(loan.installments, key=lambda i: -i.sequence):
        share = min(amount, installment.interest_outstanding)
        installment.interest_waived += share
        amount -= share
        share = min(amount, installment.principal_outstanding)
        installment.principal_waived += share
        amount -= share


def write_off_future_interest(loan: Loan, on: date) -> int:
    """Waive the contractual interest of installments not yet due: a restructure charges
    its own interest instead. Returns the amount waived."""
    waived = 0
    for installment in loan.installments:
        if installment.due_date >= on:
            share = installment.interest_outstanding
            installment.interest_waived += share
            waived += share
    return waived


def _pay_interest(installment: LoanInstallment, amount: int) -> int:
    share = min(amount, installment.interest_outstanding)
    installment.interest_paid += share
    return amount - share


def _pay_principal(installment: LoanInstallment, amount: int) -> int:
    share = min(amount, installment.principal_outstanding)
    installment.principal_paid += share
    return amount - share


def _charges(loan: Loan, kind: str) -> list[LoanCharge]:
    return sorted((c for c in loan.charges if c.kind == kind), key=lambda c: (c.charged_on, c.id))


def _write_off(charges: Iterable[LoanCharge], amount: int) -> None:
    for charge in charges:
        share = min(amount, charge.outstanding)
        charge.waived += share
        amount -= share


def _pay_charges(charges: list[LoanCharge], amount: int, reserved: int) -> int:
    payable = max(0, sum(c.outstanding for c in charges) - reserved)
    for charge in charges:
        share = min(amount, charge.outstanding, payable)
        charge.paid += share
        amount -= share
        payable -= share
    return amount
