"""Test builders: cases built to exact figures, plans, staff accounts, and the steps that
sign a borrower or a staff member in. Fixtures stay in conftest.py; tests import these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from negotiation import add_months
from portal.access.verification import issue_link
from portal.core import db
from portal.core.hashing import fact_hash, new_salt
from portal.core.settings import finance_zone_anywhere
from portal.models import (
    Borrower,
    Case,
    Loan,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
    Plan,
)
from portal.reporting import monthly
from portal.staff import accounts

# Dates and amounts are wrapped in a nowrap span in HTML (one line on a phone).
NOWRAP = re.compile(r'<span class="nowrap">([^<]*)</span>')


def unwrapped(html: str) -> str:
    """A page's HTML without the nowrap spans around its dates and amounts, for
    assertions on the words around them."""
    return NOWRAP.sub(r"\1", html)


# The frozen moment: 10:00 in Taipei on 2026-11-30.
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)


def app_config(url: str) -> dict[str, object]:
    """The configuration of a test app on the database at ``url``."""
    return {
        "TESTING": True,
        "DATABASE_URL": url,
        "HAOHUAN_NOW": NOW.isoformat(),
        "SCRYPT_COST": 2,
        # Staff passwords at Argon2's floor: the suite signs in hundreds of times.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
    }


@dataclass
class Built:
    """A case built for a test, with the answers that verify it and a fresh link."""

    case_id: int
    borrower_id: int
    token: str
    date_of_birth: str
    id_last4: str


def build_case(
    app: Flask,
    *,
    currency: str = "TWD",
    days_past_due: int = 47,
    locale: str = "zh_Hant_TW",
    timezone: str = "Asia/Taipei",
    installments: int = 12,
    paid: int = 4,
    principal_part: int = 500_000,
    interest_part: int = 50_000,
    fees: int = 30_000,
    penalties: int = 15_000,
    hold: str | None = None,
    name: str = "陳怡君",
    date_of_birth: str = "1985-03-07",
    id_last4: str = "6789",
) -> Built:
    """A loan of equal installments (principal_part + interest_part), ``paid`` of them
    paid, the first unpaid one ``days_past_due`` days ago, plus one fee and one penalty.
    """
    with app.test_request_context("/"):
        session = db.session()
        salt = new_salt()
        borrower = Borrower(
            reference=f"B-{session.query(Borrower).count() + 1:05d}",
            full_name=name,
            locale=locale,
            timezone=timezone,
            phone="+886 912 345 678",
            verification_salt=salt,
            date_of_birth_hash=fact_hash(date_of_birth, salt),
            id_last4_hash=fact_hash(id_last4, salt),
        )
        first_unpaid = TODAY - timedelta(days=days_past_due) if days_past_due else TODAY
        first_due = add_months(first_unpaid, -paid)
        loan = Loan(
            number=f"LN-T-{borrower.reference}",
            currency=currency,
            principal=principal_part * installments,
            annual_rate_pct=Decimal("12"),
            frequency="monthly",
            start_date=add_months(first_due, -1),
            borrower=borrower,
        )
        for sequence in range(1, installments + 1):
            settled = sequence <= paid or (days_past_due == 0 and sequence <= paid)
            loan.installments.append(
                LoanInstallment(
                    sequence=sequence,
                    due_date=add_months(first_due, sequence - 1, first_due.day),
                    principal_due=principal_part,
                    interest_due=interest_part,
                    principal_paid=principal_part if settled else 0,
                    interest_paid=interest_part if settled else 0,
                )
            )
        if days_past_due:
            if fees:
                loan.charges.append(
                    LoanCharge(
                        kind="fee", description="late_fee", amount=fees, charged_on=first_unpaid
                    )
                )
            if penalties:
                loan.charges.append(
                    LoanCharge(
                        kind="penalty",
                        description="default_penalty",
                        amount=penalties,
                        charged_on=first_unpaid,
                    )
                )
        case = Case(loan=loan, hold=hold, hold_since=NOW if hold else None)
        session.add_all([borrower, loan, case])
        session.flush()
        token = issue_link(session, case, NOW)
        session.commit()
        return Built(case.id, borrower.id, token, date_of_birth, id_last4)


def another_loan(
    app: Flask,
    built: Built,
    *,
    days_past_due: int = 20,
    currency: str = "TWD",
    installments: int = 10,
    paid: int = 3,
    principal_part: int = 300_000,
    interest_part: int = 20_000,
    number: str | None = None,
) -> int:
    """Another loan of ``built``'s borrower, ``days_past_due`` behind (no fees), and its
    case; returns the case's id. No link: one verification shows every loan."""
    with app.app_context():
        session = db.session()
        borrower = session.get(Borrower, built.borrower_id)
        assert borrower is not None
        first_unpaid = TODAY - timedelta(days=days_past_due) if days_past_due else TODAY
        first_due = add_months(first_unpaid, -paid)
        count = len(borrower.loans)
        loan = Loan(
            number=number or f"LN-T-{borrower.reference}-{count + 1}",
            currency=currency,
            principal=principal_part * installments,
            annual_rate_pct=Decimal("12"),
            frequency="monthly",
            start_date=add_months(first_due, -1),
            borrower=borrower,
        )
        for sequence in range(1, installments + 1):
            settled = sequence <= paid
            loan.installments.append(
                LoanInstallment(
                    sequence=sequence,
                    due_date=add_months(first_due, sequence - 1, first_due.day),
                    principal_due=principal_part,
                    interest_due=interest_part,
                    principal_paid=principal_part if settled else 0,
                    interest_paid=interest_part if settled else 0,
                )
            )
        case = Case(loan=loan)
        session.add_all([loan, case])
        session.commit()
        return case.id


def notice_sent(app: Flask, case_id: int, moment: datetime = NOW) -> None:
    """Record the case's validation notice (US Regulation F) as sent at ``moment``: for a
    test about something else, of a borrower whose rules hold calls and SMS until it is."""
    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        assert case is not None
        session.add(
            Message(
                case_id=case_id,
                borrower_id=case.loan.borrower_id,
                channel="email",
                purpose="validation",
                address="notice@example.com",
                locale=case.loan.borrower.locale,
                status=MessageStatus.SENT,
                send_at=moment,
                sent_at=moment,
                created_by="system",
                created_at=moment,
            )
        )
        session.commit()


def sign_in(client: FlaskClient, built: Built) -> None:
    """Open the case's link and verify with the date of birth."""
    response = client.post(
        f"/r/{built.token}", data={"method": "date_of_birth", "answer": built.date_of_birth}
    )
    assert response.status_code == 303, response.data[:500]


PASSWORD = "correct horse battery"


def add_staff(
    app: Flask,
    email: str = "mei@haohuan.example",
    roles: tuple[str, ...] = ("finance",),
    password: str = PASSWORD,
) -> int:
    """A staff account, created through the service the CLI uses; returns its id."""
    with app.app_context():
        member = accounts.add_member(db.session(), email, "林美", roles, password, NOW)
        return member.id


def staff_sign_in(
    client: FlaskClient, email: str = "mei@haohuan.example", password: str = PASSWORD, **kwargs: Any
) -> Any:
    """Post the sign-in form (tests run without CSRF unless they turn it on)."""
    return client.post("/staff/sign-in", data={"email": email, "password": password}, **kwargs)


def add_plan(app: Flask, case_id: int, status: str, *, currency: str = "TWD") -> None:
    """A bare arrears plan of the case in ``status`` (for what a plan's status changes)."""
    with app.app_context():
        session = db.session()
        session.add(
            Plan(
                case_id=case_id,
                status=status,
                kind="arrears_plan",
                currency=currency,
                restructured=100,
                total=100,
                accepted_at=NOW,
            )
        )
        session.commit()


def add_history(app: Flask, case_id: int, *, agent: str = "ling@haohuan.example") -> None:
    """A case with plenty behind it, as a case worked for months has: 60 calls and SMS in
    the contact log, 6 promises (one open, due today), an open callback, 3 plans (two
    ended, one pending) with their installments, 12 payments each with its allocations,
    20 messages, 150 events and two open flags. Rows written directly: what the case
    page shows of them, not the rules that made them, is under test."""
    from portal.models import (
        Allocation,
        Callback,
        CaseEvent,
        CaseFlag,
        ContactAttempt,
        Message,
        Payment,
        PlanInstallment,
        Promise,
    )

    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        assert case is not None
        borrower_id = case.loan.borrower_id
        currency = case.loan.currency
        charge = case.loan.charges[0] if case.loan.charges else None
        first = case.loan.installments[0]
        for number in range(60):
            at = NOW - timedelta(days=number + 1, hours=number % 5)
            session.add(
                ContactAttempt(
                    case_id=case_id,
                    borrower_id=borrower_id,
                    channel="call" if number % 3 else "sms",
                    at=at,
                    connected=number % 4 == 0,
                    agent=agent,
                    outcome="no_answer" if number % 4 else "promised_to_pay",
                    note=f"Call {number}: the borrower said they would look into it.",
                )
            )
        for number in range(6):
            session.add(
                Promise(
                    case_id=case_id,
                    made_by=agent,
                    made_at=NOW - timedelta(days=10 * (number + 1)),
                    due_date=TODAY - timedelta(days=10 * number),
                    amount=100_000 + number * 1_000,
                    currency=currency,
                    status="open" if number == 0 else "broken",
                    settled_on=None if number == 0 else TODAY - timedelta(days=10 * number - 1),
                )
            )
        session.add(
            Callback(
                case_id=case_id,
                due_at=NOW + timedelta(hours=3),
                source="borrower",
                requested_by="borrower",
                requested_at=NOW - timedelta(hours=1),
            )
        )
        plans = []
        for number, status in enumerate(("broken", "lapsed", "pending")):
            plan = Plan(
                case_id=case_id,
                status=status,
                kind="arrears_plan",
                frequency="monthly",
                currency=currency,
                restructured=600_000,
                total=600_000,
                accepted_at=NOW - timedelta(days=90 - 30 * number),
            )
            session.add(plan)
            session.flush()
            for sequence in range(1, 7):
                session.add(
                    PlanInstallment(
                        plan_id=plan.id,
                        sequence=sequence,
                        due_date=TODAY + timedelta(days=30 * (sequence - number)),
                        amount=100_000,
                    )
                )
            plans.append(plan)
        for number in range(12):
            payment = Payment(
                case_id=case_id,
                plan_id=plans[number % 2].id,
                purpose="installment",
                amount=20_000,
                currency=currency,
                status="succeeded",
                gateway="sandbox",
                gateway_reference=f"busy-{case_id}-{number}",
                created_at=NOW - timedelta(days=5 * number + 2),
                confirmed_at=NOW - timedelta(days=5 * number + 2),
            )
            session.add(payment)
            session.flush()
            session.add(
                Allocation(
                    payment_id=payment.id, target="interest", installment_id=first.id, amount=5_000
                )
            )
            session.add(
                Allocation(
                    payment_id=payment.id,
                    target="principal",
                    installment_id=first.id,
                    amount=10_000,
                )
            )
            if charge is not None:
                session.add(
                    Allocation(
                        payment_id=payment.id, target="penalty", charge_id=charge.id, amount=5_000
                    )
                )
        for number in range(20):
            at = NOW - timedelta(days=3 * number + 1)
            session.add(
                Message(
                    case_id=case_id,
                    borrower_id=borrower_id,
                    channel="sms" if number % 2 else "email",
                    purpose="reminder",
                    address="+886 912 345 678" if number % 2 else "someone@example.com",
                    locale="zh_Hant_TW",
                    body="A reminder.",
                    status="sent",
                    send_at=at,
                    sent_at=at,
                    created_by=agent,
                    created_at=at,
                )
            )
        kinds = ("stage_changed", "penalty_charged", "payment_succeeded", "plan_accepted")
        for number in range(150):
            session.add(
                CaseEvent(
                    case_id=case_id,
                    kind=kinds[number % len(kinds)],
                    actor="system",
                    at=NOW - timedelta(hours=12 * number + 1),
                    data={},
                )
            )
        for reason in ("promise_broken", "borrower_request"):
            session.add(
                CaseFlag(
                    case_id=case_id,
                    reason=reason,
                    raised_at=NOW - timedelta(hours=2),
                    raised_by="system",
                    details={},
                )
            )
        case.needs_agent = True
        case.last_contact_at = NOW - timedelta(days=1)
        session.commit()


def count_cells(app: Flask, first: date, last: date) -> None:
    """Every report section's cells of the months from ``first``'s to ``last``'s
    (month-ends), as the month-end step counts them (``portal.reporting.monthly``), in
    the finance time zone; committed."""
    with app.app_context():
        session = db.session()
        monthly.recount(session, first, last, finance_zone_anywhere())
        session.commit()
