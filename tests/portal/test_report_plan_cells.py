"""The plans' and the promises' cells (``plan_cells``, ``promise_cells``): sliced as the
case stood when the month began, summed over a period's months, counted again to the
same cells, and recounted at a later month-end while a month holds a live plan or an open
promise. The figures themselves are checked in ``test_report_figures.py``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

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
from portal.reporting.agents import ArrangedMoney, agents
from portal.reporting.arrangements import OUTCOMES, PlanTally, arrangements
from portal.reporting.cells import in_period
from portal.reporting.portfolio import Slice
from portal.reporting.promises import PromiseTally, promises
from portal.reporting.slices import WHOLE_BOOK
from tests.portal.factories import add_staff, build_case, count_cells
from tests.portal.test_report_agents import build_book as build_agents_book
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
        # (The other sections' counters run too: only these two are compared here.)
        assert once == {name: again[name] for name in once} == {"plans": 2, "promises": 2}
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


def _agents_from_cells(session: Any, first: date, last: date) -> dict[str, Any]:
    """What ``agents._promised`` and ``agents._arranged`` read, read from the cells as the
    agents' section will: promises by taker and status; plans arranged by offer maker,
    status and currency, with their totals and what was paid."""
    plan_cells, promise_cells = plans_section.CELLS, promises_section.CELLS
    found: dict[str, Any] = {}
    promised = session.execute(
        select(promise_cells.c.made_by, promise_cells.c.status, func.sum(promise_cells.c.promises))
        .where(*in_period(promise_cells, first, last, WHOLE_BOOK))
        .group_by(promise_cells.c.made_by, promise_cells.c.status)
    )
    for made_by, status, number in promised:
        figures = found.setdefault(made_by, {"promises": PromiseTally(), "plans": PlanTally()})
        figures["promises"] += PromiseTally(**{str(status): int(number)})
    arranged = session.execute(
        select(
            plan_cells.c.arranged_by,
            plan_cells.c.status,
            plan_cells.c.currency,
            func.sum(plan_cells.c.plans),
            func.sum(plan_cells.c.total),
            func.sum(plan_cells.c.paid),
        )
        .where(
            *in_period(plan_cells, first, last, WHOLE_BOOK), plan_cells.c.arranged_by.is_not(None)
        )
        .group_by(plan_cells.c.arranged_by, plan_cells.c.status, plan_cells.c.currency)
    )
    for made_by, status, currency, number, total, paid in arranged:
        figures = found.setdefault(made_by, {"promises": PromiseTally(), "plans": PlanTally()})
        figures["plans"] = figures["plans"].with_outcome(OUTCOMES[str(status)], int(number))
        money = figures.setdefault("money", {})
        plans_of, total_of, paid_of = money.get(currency, (0, 0, 0))
        money[currency] = (plans_of + int(number), total_of + int(total), paid_of + int(paid))
    return found


def test_the_cells_carry_what_the_agents_read(app: Flask) -> None:
    # The agents' book: its November's plans and promises, counted by month.
    build_agents_book(app)
    with app.app_context():
        session = db.session()
        report = agents(session, date(2026, 11, 1), NOVEMBER)
        from_cells = _agents_from_cells(session, OCTOBER, OCTOBER)
    for row in report.rows:
        cells = from_cells.get(row.email, {})
        assert row.promises == cells.get("promises", PromiseTally()), row.email
        assert row.plans == cells.get("plans", PlanTally()), row.email
        money = cells.get("money", {})
        assert row.money == tuple(ArrangedMoney(c, *money[c]) for c in sorted(money)), row.email
    assert any(row.money for row in report.rows)
