"""Allocating a confirmed payment to what the loan owes, and writing off waivers.

The default waterfall: penalties, then fees, then interest, then principal (configurable
with ``HAOHUAN_WATERFALL``); the oldest first within each; what is overdue before what is
to come. A conditional waiver is
reserved while its plan runs (the waterfall leaves that much of the penalties and fees
alone) and written off when the plan is kept to the end. The payments issue replaces
this with a double-entry ledger; the order is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.core import settings
from portal.models import (
    AdjustmentStatus,
    Allocation,
    CaseHold,
    HoldAdjustment,
    HoldOutcome,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    Waiver,
)


def waterfall() -> tuple[str, ...]:
    """The configured waterfall (checked when the app starts)."""
    return settings.current().waterfall


def apply_to_loan(
    loan: Loan,
    amount: int,
    on: date,
    *,
    reserved_penalties: int = 0,
    reserved_fees: int = 0,
) -> list[Allocation]:
    """Allocate ``amount`` as of ``on`` by the configured waterfall, leaving the reserved
    charges alone: what is overdue first, component by component, oldest first within
    each; then the installments still to come, in order. Returns the allocations (not
    yet added to a session), summing exactly to ``amount``: anything left once
    everything owed is paid is a credit."""
    shares: list[Allocation] = []
    order = waterfall()
    installments = sorted(loan.installments, key=lambda i: i.sequence)
    overdue = [i for i in installments if i.due_date < on]
    upcoming = [i for i in installments if i.due_date >= on]
    reserved = {"penalty": reserved_penalties, "fee": reserved_fees}
    for target in order:
        if target in reserved:
            amount = _pay_charges(_charges(loan, target), amount, reserved[target], shares)
        else:
            for installment in overdue:
                amount = _PAY[target](installment, amount, shares)
    for installment in upcoming:
        for target in order:
            if target not in reserved:
                amount = _PAY[target](installment, amount, shares)
    if amount > 0:
        shares.append(Allocation(target="credit", amount=amount))
    return shares


def write_off_charges(loan: Loan, *, penalties: int = 0, fees: int = 0) -> list[Waiver]:
    """Waive up to these amounts of the outstanding penalties and fees, oldest first.
    Returns what was waived, item by item (not yet added to a session)."""
    return _write_off(_charges(loan, "penalty"), penalties) + _write_off(
        _charges(loan, "fee"), fees
    )


def write_off_balance(loan: Loan, amount: int) -> list[Waiver]:
    """Waive up to ``amount`` of what is left of the loan, from its last installment
    back: a settlement discount closes the loan for less than was owed."""
    waived: list[Waiver] = []
    for installment in sorted(loan.installments, key=lambda i: -i.sequence):
        for target in ("interest", "principal"):
            share = min(amount, _outstanding(installment, target))
            if share:
                waived.append(_waive_installment(installment, target, share))
                amount -= share
    return waived


def write_off_future_interest(loan: Loan, on: date) -> list[Waiver]:
    """Waive the contractual interest of installments not yet due: a restructure charges
    its own interest instead. Returns what was waived."""
    return [
        _waive_installment(installment, "interest", installment.interest_outstanding)
        for installment in loan.installments
        if installment.due_date >= on and installment.interest_outstanding
    ]


def installment_shares(installment: LoanInstallment, amount: int) -> list[tuple[str, int]]:
    """How reducing what an installment asks for by ``amount`` falls on its components:
    its interest first, then its principal (a correction forgives the lender's charge for
    money before the money itself). Never more than is owed on it; the caller checks."""
    shares: list[tuple[str, int]] = []
    for target in ("interest", "principal"):
        share = min(amount, _outstanding(installment, target))
        if share > 0:
            shares.append((target, share))
            amount -= share
    return shares


def balance_lines(loan: Loan) -> list[tuple[str, LoanCharge | None, LoanInstallment | None, int]]:
    """Everything still owed on the loan, item by item (each charge, each installment's
    interest and principal, due or not yet due): what writing the balance off forgives."""
    lines: list[tuple[str, LoanCharge | None, LoanInstallment | None, int]] = []
    for kind in ("penalty", "fee"):
        lines += [(kind, c, None, c.outstanding) for c in _charges(loan, kind) if c.outstanding > 0]
    for installment in sorted(loan.installments, key=lambda i: i.sequence):
        for target in ("interest", "principal"):
            owed = _outstanding(installment, target)
            if owed > 0:
                lines.append((target, None, installment, owed))
    return lines


def owed_on(target: str, charge: LoanCharge | None, installment: LoanInstallment | None) -> int:
    """What is still owed on one item: a charge, or an installment's interest or
    principal."""
    if charge is not None:
        return charge.outstanding
    if installment is not None:
        return _outstanding(installment, target)
    return 0


def forgive(
    target: str, charge: LoanCharge | None, installment: LoanInstallment | None, amount: int
) -> None:
    """Raise the item's waived total by ``amount`` (what it asked for stays as it was).
    The caller has checked that ``amount`` is positive and no more than is owed on it."""
    if charge is not None:
        charge.waived += amount
    elif installment is not None:
        _waive_installment(installment, target, amount)


def reinstate(loan: Loan, waivers: Iterable[Waiver]) -> None:
    """Take waivers back, item by item: the loan owes again exactly what they forgave."""
    charges = {charge.id: charge for charge in loan.charges}
    installments = {installment.id: installment for installment in loan.installments}
    for waiver in waivers:
        if waiver.charge_id is not None:
            charge = charges[waiver.charge_id]
            charge.waived -= min(waiver.amount, charge.waived)
        elif waiver.installment_id is not None:
            installment = installments[waiver.installment_id]
            if waiver.target == "interest":
                installment.interest_waived -= min(waiver.amount, installment.interest_waived)
            else:
                installment.principal_waived -= min(waiver.amount, installment.principal_waived)


def _outstanding(installment: LoanInstallment, target: str) -> int:
    if target == "interest":
        return installment.interest_outstanding
    return installment.principal_outstanding


def _waive_installment(installment: LoanInstallment, target: str, amount: int) -> Waiver:
    if target == "interest":
        installment.interest_waived += amount
    else:
        installment.principal_waived += amount
    return Waiver(target=target, installment_id=installment.id, amount=amount)


def _pay_interest(installment: LoanInstallment, amount: int, shares: list[Allocation]) -> int:
    share = min(amount, installment.interest_outstanding)
    if share:
        installment.interest_paid += share
        shares.append(Allocation(target="interest", installment_id=installment.id, amount=share))
    return amount - share


def _pay_principal(installment: LoanInstallment, amount: int, shares: list[Allocation]) -> int:
    share = min(amount, installment.principal_outstanding)
    if share:
        installment.principal_paid += share
        shares.append(Allocation(target="principal", installment_id=installment.id, amount=share))
    return amount - share


_PAY = {"interest": _pay_interest, "principal": _pay_principal}


def _charges(loan: Loan, kind: str) -> list[LoanCharge]:
    return sorted((c for c in loan.charges if c.kind == kind), key=lambda c: (c.charged_on, c.id))


def _write_off(charges: Iterable[LoanCharge], amount: int) -> list[Waiver]:
    waived = []
    for charge in charges:
        share = min(amount, charge.outstanding)
        if share:
            charge.waived += share
            waived.append(Waiver(target=charge.kind, charge_id=charge.id, amount=share))
        amount -= share
    return waived


def _pay_charges(
    charges: list[LoanCharge], amount: int, reserved: int, shares: list[Allocation]
) -> int:
    payable = max(0, sum(c.outstanding for c in charges) - reserved)
    for charge in charges:
        share = min(amount, charge.outstanding, payable)
        if share:
            charge.paid += share
            shares.append(Allocation(target=charge.kind, charge_id=charge.id, amount=share))
        amount -= share
        payable -= share
    return amount


def check(db: Session) -> list[str]:
    """Every way the books disagree with themselves, as sentences (empty when they balance):
    each confirmed payment's allocations sum to it; nothing is allocated from money not
    received; no installment or charge is paid or waived beyond what it asked for, nor
    credited with more than it shows paid."""
    problems: list[str] = []
    allocated = dict(
        db.execute(
            select(Allocation.payment_id, func.sum(Allocation.amount)).group_by(
                Allocation.payment_id
            )
        ).all()
    )
    for payment in db.scalars(select(Payment)):
        total = int(allocated.get(payment.id, 0))
        if payment.status == PaymentStatus.SUCCEEDED and total != payment.kept:
            problems.append(f"payment {payment.id}: allocated {total} of {payment.kept} kept")
        if payment.status != PaymentStatus.SUCCEEDED and total:
            problems.append(f"payment {payment.id} is {payment.status} but allocated {total}")
    by_target = _allocated_by(db)
    for installment in db.scalars(select(LoanInstallment)):
        for component, paid, waived, due in (
            (
                "principal",
                installment.principal_paid,
                installment.principal_waived,
                installment.principal_due,
            ),
            (
                "interest",
                installment.interest_paid,
                installment.interest_waived,
                installment.interest_due,
            ),
        ):
            if paid + waived > due or min(paid, waived) < 0:
                problems.append(
                    f"installment {installment.id}: {component} paid and waived exceed what was due"
                )
            if by_target.get(("installment", installment.id, component), 0) > paid:
                problems.append(
                    f"installment {installment.id}: more {component} allocated than paid"
                )
    for charge in db.scalars(select(LoanCharge)):
        if charge.paid + charge.waived > charge.amount or min(charge.paid, charge.waived) < 0:
            problems.append(f"charge {charge.id}: paid and waived exceed the charge")
        if by_target.get(("charge", charge.id, charge.kind), 0) > charge.paid:
            problems.append(f"charge {charge.id}: more allocated than paid")
    problems += _check_adjustments(db)
    return problems


def _check_adjustments(db: Session) -> list[str]:
    """An upheld dispute's applied lines each raised their item's waived total by their
    amount: so no item shows less waived than its lines forgave, and every applied line
    belongs to a dispute that was upheld."""
    problems: list[str] = []
    applied = (HoldAdjustment.status == AdjustmentStatus.APPLIED,)
    for charge_id, total in db.execute(
        select(HoldAdjustment.charge_id, func.sum(HoldAdjustment.amount))
        .where(*applied, HoldAdjustment.charge_id.is_not(None))
        .group_by(HoldAdjustment.charge_id)
    ):
        charge = db.get(LoanCharge, charge_id)
        if charge is None or charge.waived < int(total):
            problems.append(f"charge {charge_id}: dispute adjustments exceed what is waived")
    for installment_id, target, total in db.execute(
        select(
            HoldAdjustment.installment_id, HoldAdjustment.target, func.sum(HoldAdjustment.amount)
        )
        .where(*applied, HoldAdjustment.installment_id.is_not(None))
        .group_by(HoldAdjustment.installment_id, HoldAdjustment.target)
    ):
        installment = db.get(LoanInstallment, installment_id)
        waived = (
            None
            if installment is None
            else installment.interest_waived
            if target == "interest"
            else installment.principal_waived
        )
        if waived is None or waived < int(total):
            problems.append(
                f"installment {installment_id}: dispute adjustments of {target} "
                "exceed what is waived"
            )
    stray = db.scalars(
        select(HoldAdjustment.id)
        .join(CaseHold, CaseHold.id == HoldAdjustment.hold_id)
        .where(
            *applied,
            (CaseHold.outcome.is_(None)) | (CaseHold.outcome != HoldOutcome.UPHELD),
        )
    ).all()
    problems += [f"adjustment {i}: applied but its dispute was not upheld" for i in stray]
    return problems


def _allocated_by(db: Session) -> dict[tuple[str, int, str], int]:
    rows = db.execute(
        select(
            Allocation.charge_id,
            Allocation.installment_id,
            Allocation.target,
            func.sum(Allocation.amount),
        ).group_by(Allocation.charge_id, Allocation.installment_id, Allocation.target)
    ).all()
    totals: dict[tuple[str, int, str], int] = {}
    for charge_id, installment_id, target, amount in rows:
        if charge_id is not None:
            totals[("charge", charge_id, target)] = int(amount)
        elif installment_id is not None:
            totals[("installment", installment_id, target)] = int(amount)
    return totals
