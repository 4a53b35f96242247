"""Everything the case page shows about one case, read in one place: the borrower (kept
whole here; the page masks it), the loan and its contractual schedule, the arrears item
by item, what happens next and when, the events, the contact log, plans, payments and
where each payment went. Each is read when the page first shows it: the page opens one
section at a time, and reads only that one.

Reading a case is recorded (``case.view``), and so is each reveal of personal data
(``borrower.reveal``), each in its own transaction with what it records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import trail

# What the live plan means from today, exactly as the borrower's status page states it:
# the agent reads the same dated facts the borrower was shown.
from portal.cases.facts import CaseView, plan_events_of, view_case
from portal.cases.masking import mask_address, mask_email, mask_name, mask_phone
from portal.core.db import by_id
from portal.models import (
    Allocation,
    Borrower,
    Case,
    CaseEvent,
    ContactAttempt,
    LoanCharge,
    LoanInstallment,
    Payment,
    Plan,
    StaffMember,
)
from portal.wording.cases import REVEAL_GROUPS

# The newest rows shown of the long lists; the page says when there are more.
EVENTS_SHOWN = 200
CONTACTS_SHOWN = 100


@dataclass(frozen=True)
class BorrowerFacts:
    """The borrower's personal data as this page may show it: each field masked unless
    its group was revealed in this request."""

    reference: str
    name: str
    phone: str
    email: str
    postal_address: str
    locale: str
    timezone: str
    revealed: frozenset[str]
    # The groups that hold anything: an empty address has nothing to reveal.
    present: frozenset[str] = frozenset({"name", "contact", "address"})

    def shows(self, group: str) -> bool:
        """True when ``group`` (name, contact, address) is shown in full."""
        return group in self.revealed

    def can_reveal(self, group: str) -> bool:
        """True when ``group`` holds something still masked."""
        return group in self.present and group not in self.revealed


def borrower_facts(borrower: Borrower, revealed: frozenset[str] = frozenset()) -> BorrowerFacts:
    """The borrower's fields, masked except the groups in ``revealed``."""
    return BorrowerFacts(
        reference=borrower.reference,
        name=borrower.full_name if "name" in revealed else mask_name(borrower.full_name),
        phone=borrower.phone if "contact" in revealed else mask_phone(borrower.phone),
        email=(borrower.email or "") if "contact" in revealed else mask_email(borrower.email),
        postal_address=(borrower.postal_address or "")
        if "address" in revealed
        else mask_address(borrower.postal_address),
        locale=borrower.locale,
        timezone=borrower.timezone,
        revealed=revealed,
        present=frozenset(
            group
            for group, value in (
                ("name", borrower.full_name),
                ("contact", borrower.phone or borrower.email),
                ("address", borrower.postal_address),
            )
            if value
        ),
    )


@dataclass(frozen=True)
class ScheduleLine:
    """One contractual installment and where it stands."""

    installment: LoanInstallment
    state: str  # a key of wording.INSTALLMENT_STATES


@dataclass(frozen=True)
class AllocationLine:
    """Part of a payment and what it paid."""

    allocation: Allocation
    installment: LoanInstallment | None
    charge: LoanCharge | None


@dataclass(frozen=True)
class PaymentLines:
    """A payment with its allocations."""

    payment: Payment
    allocations: list[AllocationLine]


class CaseFile:
    """The case page's facts, each read from the database the first time a template asks
    for it and kept for the request: a page that shows one section of the case queries
    only what that section shows (the summary above every section reads ``view``)."""

    def __init__(
        self, db: Session, case: Case, today: date, revealed: frozenset[str] = frozenset()
    ) -> None:
        self._db = db
        self.case = case
        self.today = today
        self.borrower = borrower_facts(case.loan.borrower, revealed)

    @cached_property
    def view(self) -> CaseView:
        """The case as the engine sees it today: stage, arrears, what happens next."""
        return view_case(self._db, self.case, self.today)

    @property
    def days_past_due(self) -> int:
        """Days past due as the borrower's own calendar counts them today."""
        return self.view.snapshot.days_past_due

    @cached_property
    def plan_events(self) -> tuple[Any, ...]:
        """The live plan's dated consequences as the borrower sees them (empty without
        one)."""
        plan = self.view.plan
        if plan is None:
            return ()
        return plan_events_of(self._db, self.case, plan, self.today, self.view.snapshot)

    @cached_property
    def schedule(self) -> list[ScheduleLine]:
        """The contract's installments, each with where it stands today."""
        return [
            ScheduleLine(i, installment_state(i, self.today)) for i in self.case.loan.installments
        ]

    @cached_property
    def charges(self) -> list[LoanCharge]:
        """Every fee and penalty charged, oldest first."""
        return sorted(self.case.loan.charges, key=lambda c: (c.charged_on, c.id))

    def _newest(self, model: type[CaseEvent] | type[ContactAttempt], shown: int) -> list[Any]:
        """The case's newest ``shown`` rows of ``model`` and one more (to tell there are
        more), newest first."""
        return list(
            self._db.scalars(
                select(model)
                .where(model.case_id == self.case.id)
                .order_by(model.at.desc(), model.id.desc())
                .limit(shown + 1)
            )
        )

    @cached_property
    def _events(self) -> list[CaseEvent]:
        return self._newest(CaseEvent, EVENTS_SHOWN)

    @property
    def events(self) -> list[CaseEvent]:
        """The newest events, newest first."""
        return self._events[:EVENTS_SHOWN]

    @property
    def more_events(self) -> bool:
        """True when older events are not shown."""
        return len(self._events) > EVENTS_SHOWN

    @cached_property
    def _contacts(self) -> list[ContactAttempt]:
        return self._newest(ContactAttempt, CONTACTS_SHOWN)

    @property
    def contacts(self) -> list[ContactAttempt]:
        """The newest contacts and attempts on any channel, newest first."""
        return self._contacts[:CONTACTS_SHOWN]

    @property
    def more_contacts(self) -> bool:
        """True when older contacts are not shown."""
        return len(self._contacts) > CONTACTS_SHOWN

    @cached_property
    def plans(self) -> list[Plan]:
        """Every plan accepted on the case, newest first."""
        return list(
            self._db.scalars(
                select(Plan).where(Plan.case_id == self.case.id).order_by(Plan.id.desc())
            )
        )

    @cached_property
    def payments(self) -> list[PaymentLines]:
        """The case's payments, newest first, each with its allocations."""
        return _payments(self._db, self.case)


def installment_state(installment: LoanInstallment, today: date) -> str:
    """Where one contractual installment stands on ``today``."""
    paid = installment.principal_paid + installment.interest_paid
    waived = installment.principal_waived + installment.interest_waived
    if installment.unpaid <= 0:
        if waived and paid:
            return "settled"
        return "waived" if waived else "paid"
    if installment.due_date < today:
        return "overdue"
    return "part_paid" if paid or waived else "due"


def find_case(db: Session, case_id: int) -> Case | None:
    """The case with this id, or None (ids out of any column's range included)."""
    return by_id(db, Case, case_id)


def read_case(
    db: Session, case: Case, today: date, revealed: frozenset[str] = frozenset()
) -> CaseFile:
    """The case page's facts as of the borrower's ``today``, each read when first shown."""
    return CaseFile(db, case, today, revealed)


def _payments(db: Session, case: Case) -> list[PaymentLines]:
    """The case's payments, newest first, each with its allocations (two statements)."""
    payments = list(
        db.scalars(
            select(Payment)
            .where(Payment.case_id == case.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
    )
    lines: dict[int, list[AllocationLine]] = defaultdict(list)
    if payments:
        rows = db.execute(
            select(Allocation, LoanInstallment, LoanCharge)
            .outerjoin(LoanInstallment, LoanInstallment.id == Allocation.installment_id)
            .outerjoin(LoanCharge, LoanCharge.id == Allocation.charge_id)
            .where(Allocation.payment_id.in_([p.id for p in payments]))
            .order_by(Allocation.id)
        )
        for allocation, installment, charge in rows:
            lines[allocation.payment_id].append(AllocationLine(allocation, installment, charge))
    return [PaymentLines(p, lines.get(p.id, [])) for p in payments]


def record_view(
    db: Session, member: StaffMember, case: Case, moment: datetime, **details: Any
) -> None:
    """Record that ``member`` opened the case (``details`` say where, when not on the case
    page: the offer builder shows its arrears too). Commits: the entry is a transaction
    of its own."""
    trail.record(db, member, "case.view", moment, case_id=case.id, **details)
    db.commit()


def parse_reveal(groups: list[str]) -> frozenset[str]:
    """The known field groups among those asked for (unknown ones are ignored)."""
    return frozenset(group for group in groups if group in REVEAL_GROUPS)


def record_reveal(
    db: Session, member: StaffMember, case: Case, groups: frozenset[str], moment: datetime
) -> None:
    """Record that ``member`` was shown the borrower's fields in ``groups``, which fields
    exactly. Commits."""
    fields = sorted(field for group in groups for field in REVEAL_GROUPS[group])
    trail.record(
        db,
        member,
        "borrower.reveal",
        moment,
        case_id=case.id,
        borrower_id=case.loan.borrower_id,
        fields=fields,
    )
    db.commit()
