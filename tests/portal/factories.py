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
from portal.models import Borrower, Case, Loan, LoanCharge, LoanInstallment, Plan
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
