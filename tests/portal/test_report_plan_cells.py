"""The plans' and the promises' cells (``plan_cells``, ``promise_cells``): sliced as the
case stood when the month began, summed over a period's months, counted again to the
same cells, and recounted at a later month-end while a month holds a live plan or an open
promise. The figures themselves are checked in ``test_report_figures.py``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from portal.core import db
from portal.models import (
    Case,
    Offer,
    OfferStatus,
    Plan,
    PlanCell,
    PlanInstallment,
    Promise,
    PromiseCell,
)
from portal.reporting import arrangements as plans_section
from portal.reporting import monthly
from portal.reporting import promises as promises_section
from portal.reporting.arrangements import PlanTally, arrangements
from portal.reporting.portfolio import Slice
from portal.reporting.promises import PromiseTally, promises
from tests.portal.factories import add_staff, build_case, count_cells
from tests.portal.test_report_cells import _row
from tests.portal.test_report_figures import TAIPEI, taipei

SEPTEMBER, OCTOBER, NOVEMBER = date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)
JANUARY = date(2027, 1, 31)
LING = "ling@haohuan.example"


def _plan(case_id: int, status: str, at: datetime, **more: Any) -> Plan:
    plan = Plan(
        case_id=case_id,
        kind="arrears_plan",
        status=status,
        currency="TWD",
        restructured=90_000,
        total=90_000,
        accepted_at=at,
        **more,
    )
    plan.installments = [
        PlanInstallment(sequence=n, due_date=at.date() + timedelta(days=30 * n), amount=30_000)
        for n in (1, 2, 3)
    ]
    return plan


def _promise(case_id: int, status: str, at: datetime, paid: int = 0) -> Promise:
    return Promise(
        case_id=case_id,
        made_by=LING,
        made_at=at,
        due_date=at.date() + timedelta(days=7),
        amount=5_000,
        currency="TWD",
        status=status,
        paid=paid,
    )


def _cells(session: Any) -> list[tuple[Any, ...]]:
    """Every plan and promise cell, without its id, in a stable order."""
    found = [
        tuple(row)[1:]
        for table in (PlanCell.__table__, PromiseCell.__table__)
        for row in session.execute(select(table))
    ]
    return sorted(found, key=repr)


def test_a_month_is_sliced_by_the_case_when_it_began(app: Flask) -> None:
    ling = add_staff(app, LING, roles=("agent",))
    wei = add_staff(app, "wei@haohuan.example", roles=("agent",))
    a = build_case(app).case_id
    with app.app_context():
        session = db.session()
        # ling's at the end of October, wei's now: November's plan and promise are ling's.
        session.add(_row(OCTOBER, a, ling, "early"))
        session.get_one(Case, a).owner_id = wei
        session.add_all([_plan(a, "active", taipei(3)), _promise(a, "open", taipei(4))])
        session.commit()
    count_cells(app, NOVEMBER, NOVEMBER)
    with app.app_context():
        session = db.session()
        lings = arrangements(session, OCTOBER, OCTOBER, Slice(owner_id=ling))
        weis = arrangements(session, OCTOBER, OCTOBER, Slice(owner_id=wei))
        assert (lings.total, weis.total) == (PlanTally(live=1), PlanTally())
        assert promises(session, OCTOBER, OCTOBER, Slice(owner_id=ling)).total.open == 1
        assert promises(session, OCTOBER, OCTOBER, Slice(owner_id=wei)).total.made == 0


def test_a_period_sums_its_months(app: Flask) -> None:
    a = build_case(app).case_id
    with app.app_context():
        session = db.session()
        session.add_all(
            [
                _plan(a, "broken", taipei(10, month=10)),
                _plan(a, "completed", taipei(10)),
                _promise(a, "broken", taipei(11, month=10)),
                _promise(a, "kept", taipei(11), paid=5_000),
            ]
        )
        session.commit()
    count_cells(app, OCTOBER, NOVEMBER)
    with app.app_context():
        session = db.session()
        # The pairs from 30 September to 31 October: October and November, one case's
        # plans and promises of both months.
        both = arrangements(session, SEPTEMBER, OCTOBER)
        assert both.total == PlanTally(kept=1, broken=1)
        assert (both.first, both.last) == (date(2026, 10, 1), NOVEMBER)
        assert arrangements(session, OCTOBER, OCTOBER).total == PlanTally(kept=1)
        made = promises(session, SEPTEMBER, OCTOBER)
        assert made.total == PromiseTally(kept=1, broken=1)
        assert [(row.promised, row.paid) for row in made.amounts] == [(10_000, 5_000)]
        assert promises(session, OCTOBER, OCTOBER).total == PromiseTally(kept=1)


def test_counting_a_month_again_leaves_the_same_cells(app: Flask) -> None:
    add_staff(app, LING, roles=("agent",))
    a, b = build_case(app).case_id, build_case(app).case_id
    with app.app_context():
        session = db.session()
        offer = Offer(
            case_id=b, status=OfferStatus.ACCEPTED, terms={}, created_by=LING, expires_at=taipei(9)
        )
        session.add(offer)
        session.flush()
        session.add_all(
            [
                _plan(a, "active", taipei(3)),
                _plan(b, "pending", taipei(5), offer_id=offer.id),
                _promise(a, "open", taipei(4)),
                _promise(b, "kept", taipei(6), paid=5_000),
            ]
        )
        session.commit()
        once = {
            "plans": plans_section.count_arrangements(session, NOVEMBER, TAIPEI),
            "promises": promises_section.count_promises(session, NOVEMBER, TAIPEI),
        }
        cells = _cells(session)
        again = monthly.recount(session, NOVEMBER, NOVEMBER, TAIPEI)
        assert once == again == {"plans": 2, "promises": 2}
        assert _cells(session) == cells
        # b's plan came from ling's offer: arranged by ling, a's by nobody.
        arranged = session.execute(select(PlanCell.arranged_by, PlanCell.plans)).all()
        assert sorted(arranged, key=repr) == sorted([(None, 1), (LING, 1)], key=repr)


def test_a_month_is_recounted_while_it_holds_a_live_plan_or_an_open_promise(
    app: Flask,
) -> None:
    a = build_case(app).case_id
    with app.app_context():
        session = db.session()
        plan = _plan(a, "active", taipei(3))
        promise = _promise(a, "open", taipei(4))
        session.add_all([plan, promise])
        session.commit()
        plan_id, promise_id = plan.id, promise.id
    count_cells(app, NOVEMBER, NOVEMBER)
    with app.app_context():
        session = db.session()
        assert plans_section.unsettled(session) == NOVEMBER
        assert promises_section.unsettled(session) == NOVEMBER
        # Decided after November was counted: the plan kept to term, fully paid; the
        # promise kept.
        kept = session.get_one(Plan, plan_id)
        kept.status = "completed"
        for installment in kept.installments:
            installment.paid = installment.amount
        promise = session.get_one(Promise, promise_id)
        promise.status, promise.paid = "kept", 5_000
        session.flush()
        assert arrangements(session, OCTOBER, OCTOBER).total == PlanTally(live=1)
        # January's month-end counts December and January, and November again: its cells
        # still held a live plan and an open promise.
        monthly.count_month(session, JANUARY, TAIPEI)
        report = arrangements(session, OCTOBER, OCTOBER)
        assert report.total == PlanTally(kept=1)
        paid = session.execute(select(PlanCell.total, PlanCell.paid)).all()
        assert paid == [(90_000, 90_000)]
        assert promises(session, OCTOBER, OCTOBER).total == PromiseTally(kept=1)
        assert plans_section.unsettled(session) is None
        assert promises_section.unsettled(session) is None
        session.rollback()
