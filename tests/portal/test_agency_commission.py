"""A partner agency's commission from the ledger (``portal.agencies.commission``), its
monthly statement for finance (CSV and PDF, in three languages) and the agencies side by
side (``portal.agencies.statements``), on both databases."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from decimal import Decimal

import pypdf
import pytest
from flask import Flask
from sqlalchemy import func, select

from negotiation.commission import commission_on
from portal.agencies import commission, statements
from portal.audit import trail
from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.models import (
    Agency,
    AgencyPlacement,
    AuditEntry,
    CaseHold,
    CommissionEntry,
    Payment,
    PaymentStatus,
    StaffMember,
)
from portal.payments.events import GatewayEvent, Outcome, handle

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in

RATE = Decimal("0.1500")
LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")


def place(app: Flask, case_id: int, *, code: str = "north", rate: Decimal = RATE) -> int:
    """The case placed with agency ``code`` (made if new) from ten days ago; its id."""
    with app.app_context():
        session = db.session()
        agency = session.scalars(select(Agency).where(Agency.code == code)).first()
        if agency is None:
            agency = Agency(code=code, name=f"{code.title()} Recoveries", commission_rate=rate)
            session.add(agency)
            session.flush()
        placement = AgencyPlacement(
            agency_id=agency.id,
            case_id=case_id,
            commission_rate=rate,
            placed_balance=1_000_000,
            currency="TWD",
            placed_by="lee@haohuan.example",
            placed_at=NOW - timedelta(days=10),
            ends_at=NOW + timedelta(days=80),
        )
        session.add(placement)
        session.commit()
        return placement.id


def pay(app: Flask, case_id: int, amount: int, reference: str, *, at=NOW) -> int:
    """A partial payment of ``amount`` confirmed by the sandbox at ``at``; its id."""
    with app.app_context():
        session = db.session()
        payment = Payment(
            case_id=case_id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status=PaymentStatus.PENDING,
            gateway="sandbox",
            gateway_reference=reference,
        )
        session.add(payment)
        session.commit()
        event = GatewayEvent("sandbox", f"ok_{reference}", reference, Outcome.SUCCEEDED)
        assert handle(session, event, at)
        return payment.id


def refund(app: Flask, reference: str, running_total: int, event_id: str) -> None:
    """The gateway's refund event: ``running_total`` refunded so far on the payment."""
    with app.app_context():
        event = GatewayEvent("sandbox", event_id, reference, Outcome.REFUNDED, running_total)
        handle(db.session(), event, NOW + timedelta(hours=1))


def book(app: Flask) -> int:
    with app.app_context():
        return commission.book(db.session(), NOW + timedelta(hours=2))


def entries(app: Flask, placement_id: int) -> list[tuple[str, int, int]]:
    with app.app_context():
        rows = db.session().scalars(
            select(CommissionEntry)
            .where(CommissionEntry.placement_id == placement_id)
            .order_by(CommissionEntry.id)
        )
        return [(row.cause.value, row.moved, row.commission) for row in rows]


def test_a_payment_while_placed_earns_the_rate_and_a_refund_claws_it_back(app):
    built = build_case(app)
    placement = place(app, built.case_id)
    pay(app, built.case_id, 100_500, "sbx_c1")
    book(app)
    refund(app, "sbx_c1", 500, "evt_r1")
    book(app)
    # 15% of 1,005.00 is 150.75; then 1,000.00 kept: 150.00, a clawback of 0.75.
    assert entries(app, placement) == [("payment", 100_500, 15_075), ("refund", -500, -75)]


def test_money_beyond_what_the_loan_owed_earns_nothing(app):
    """An overpayment's credit is not collected from the debt: no commission on it."""
    built = build_case(
        app, installments=1, paid=0, principal_part=10_000, interest_part=0, fees=0, penalties=0
    )
    placement = place(app, built.case_id)
    pay(app, built.case_id, 15_000, "sbx_over")
    book(app)
    assert entries(app, placement) == [("payment", 10_000, 1_500)]


def test_booking_twice_books_nothing_new(app):
    built = build_case(app)
    place(app, built.case_id)
    pay(app, built.case_id, 20_000, "sbx_c2")
    assert (book(app), book(app)) == (1, 0)


def test_a_payment_before_placement_or_after_recall_earns_nothing(app):
    built = build_case(app)
    placement = place(app, built.case_id)
    with app.app_context():
        session = db.session()
        found = session.get_one(AgencyPlacement, placement)
        found.status = "recalled"
        found.recalled_at = NOW - timedelta(days=1)
        session.commit()
    pay(app, built.case_id, 20_000, "sbx_c3")
    book(app)
    assert entries(app, placement) == []


def test_a_chargeback_claws_back_and_a_won_one_earns_again(app):
    """A dispute holds the money (clawed back); won, the money returns (earned again)."""
    built = build_case(app)
    placement = place(app, built.case_id)
    pay(app, built.case_id, 40_000, "sbx_d1")
    with app.app_context():
        session = db.session()
        held = GatewayEvent("sandbox", "evt_d1", "sbx_d1", Outcome.DISPUTED, 40_000)
        handle(session, held, NOW + timedelta(hours=1))
        book(app)
        won = GatewayEvent("sandbox", "evt_d2", "sbx_d1", Outcome.DISPUTED, 0)
        handle(session, won, NOW + timedelta(hours=3))
    book(app)
    assert [earned for _cause, _moved, earned in entries(app, placement)] == [6_000, -6_000, 6_000]


def test_the_daily_work_books_the_commission(app):
    built = build_case(app)
    placement = place(app, built.case_id)
    pay(app, built.case_id, 20_000, "sbx_day")
    with app.app_context():
        lifecycle.work_day(app.extensions["haohuan.engine"], policy(), TODAY, NOW)
    assert entries(app, placement) == [("payment", 20_000, 3_000)]


def test_the_command_books_and_books_nothing_twice(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli

    built = build_case(app)
    place(app, built.case_id)
    pay(app, built.case_id, 20_000, "sbx_cli")
    runner = CliRunner()
    first, second = (
        runner.invoke(cli, ["finance", "commission"], obj=ScriptInfo(create_app=lambda: app))
        for _ in range(2)
    )
    assert (first.output, second.output) == (
        "1 commission entries booked\n",
        "0 commission entries booked\n",
    )


@pytest.mark.one_backend
def test_random_payments_and_partial_refunds_sum_to_the_rate_on_the_net(app):
    """Many partial refunds of several payments: the booked total is the rate on what
    the placement kept, rounded once, however the refunds fall."""
    built = build_case(app, installments=24, paid=0, days_past_due=700)
    placement = place(app, built.case_id, rate=Decimal("0.1333"))
    chance = random.Random(19)
    refunded: dict[str, int] = {}
    amounts: dict[str, int] = {}
    for n in range(6):
        reference = f"sbx_rand_{n}"
        amounts[reference] = chance.randint(101, 90_001)
        refunded[reference] = 0
        pay(app, built.case_id, amounts[reference], reference)
        if chance.random() < 0.5:
            book(app)
    for n in range(25):
        reference = chance.choice(list(amounts))
        left = amounts[reference] - refunded[reference]
        if left <= 0:
            continue
        refunded[reference] += chance.randint(1, min(left, 3_001))
        refund(app, reference, refunded[reference], f"evt_rand_{n}")
        if chance.random() < 0.3:
            book(app)
    book(app)
    net = sum(amounts.values()) - sum(refunded.values())
    booked = sum(earned for _cause, _moved, earned in entries(app, placement))
    assert booked == commission_on(net, Decimal("0.1333"))


@pytest.fixture
def statement_case(app):
    built = build_case(app)
    place(app, built.case_id)
    pay(app, built.case_id, 100_500, "sbx_s1")
    refund(app, "sbx_s1", 500, "evt_s1")
    book(app)
    with app.app_context():
        return db.session().scalars(select(Agency.id)).one()


def test_the_statement_csv_lists_each_movement_and_totals_exactly(app, statement_case):
    add_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    response = client.get(
        f"/finance/commission/{statement_case}/statement.csv", query_string={"month": "2026-11"}
    )
    rows = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert [row.split(",")[-2] for row in rows[1:]] == ["15075", "-75", "15000"]


def test_the_statement_masks_the_borrower(app, statement_case):
    add_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    page = client.get(f"/finance/commission/{statement_case}", query_string={"month": "2026-11"})
    assert "陳**" in page.get_data(as_text=True)
    assert "陳怡君" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("zh_Hant_TW", "佣金對帳單"),
        ("zh_Hans_CN", "佣金对账单"),
        ("en", "Commission statement"),
    ],
)
def test_the_statement_pdf_reads_in_each_language(app, statement_case, language, words):
    add_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    response = client.get(
        f"/finance/commission/{statement_case}/statement.pdf",
        query_string={"month": "2026-11", "lang": language},
    )
    text = "\n".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages
    )
    assert words in text
    assert "陳**" in text


def test_each_statement_read_is_audited(app, statement_case):
    add_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    client.get(f"/finance/commission/{statement_case}/statement.csv?month=2026-11")
    with app.app_context():
        count = db.session().scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "finance.commission.export"
            )
        )
    assert count == 1


def test_another_agency_id_or_a_bad_month_is_refused_kindly(app, statement_case):
    add_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    missing = client.get("/finance/commission/999999?month=2026-11")
    bad = client.get(f"/finance/commission/{statement_case}?month=2026-13")
    assert (missing.status_code, bad.status_code) == (404, 400)


def test_agencies_side_by_side(app, statement_case):
    add_staff(app, "lee@haohuan.example", ("supervisor",))
    client = app.test_client()
    staff_sign_in(client, "lee@haohuan.example")
    page = client.get("/finance/agencies").get_data(as_text=True)
    # Collected NT$1,000 of NT$10,000 placed: 10.0%.
    assert "10.0%" in page


def test_the_comparison_counts_disputes_while_placed_and_refusals_of_the_agencys_staff(
    app, statement_case
):
    outsider = add_staff(app, "ling@haohuan.example", ("agent",))
    insider = add_staff(app, "wu@north.example", ("agent",))
    with app.app_context():
        session = db.session()
        session.get_one(StaffMember, insider).agency_id = statement_case
        case_id = session.scalars(select(AgencyPlacement.case_id)).one()
        for staff_id in (outsider, insider, insider):
            member = session.get_one(StaffMember, staff_id)
            trail.record(session, member, "call.refused", NOW, case_id=case_id)
        session.add(
            CaseHold(
                case_id=case_id,
                kind="dispute",
                placed_at=NOW - timedelta(days=2),
                placed_by="borrower",
                ended_at=NOW - timedelta(days=1),
            )
        )
        session.commit()
        (figures,) = statements.comparison(session)
    assert (figures.refusals, figures.disputes) == (2, 1)


def test_an_agency_id_too_large_for_the_database_is_404(app):
    from .factories import add_staff, staff_sign_in

    add_staff(app, "fin@haohuan.example", ("finance",))
    client = app.test_client()
    assert staff_sign_in(client, "fin@haohuan.example").status_code == 303
    assert client.get("/finance/commission/99999999999999999999").status_code == 404
