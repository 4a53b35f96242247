"""The agents' figures (``portal.reporting.agents``) and contacts per cure
(``portal.reporting.cures``) against a small book whose every figure is worked out by
hand below, on SQLite and PostgreSQL.

The period is the month pair October to November 2026: its days are 1 to 30 November in
Taipei (UTC+8), from 2026-10-31 16:00 UTC to 2026-11-30 16:00 UTC. Five cases:

| case | currency | owner now | 31 Oct: bucket, owner | 30 Nov: bucket, owner |
|------|----------|-----------|-----------------------|-----------------------|
| A    | TWD      | ling      | 1-30, ling            | current, ling (cured) |
| B    | TWD      | ling      | 31-60, ling           | 61-90, ling           |
| C    | CNY      | wei       | 1-30, wei             | current, wei (cured)  |
| D    | HKD      | none      | current, none         | 1-30, none            |
| E    | TWD      | none      | 61-90, ling           | current, wei (cured)  |

Staff: ling and wei (agents; ling in the North team), boss (a supervisor), idle (an agent
with nothing done), gone (an agent deactivated, nothing done), fin (finance).

Owned, worked and offers are summed from the cells the month-end step counts (October's
and November's, counted when the book is built): worked and offers sliced by the case's
row at the month's first month-end (31 October for November's work, so E is ling's in
November though wei's at its end and nobody's now), owned by its row at the month-end
read. Contacts, promises and plans are still read from their rows, sliced as the cases
stand now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from negotiation import Stage
from negotiation.portfolio import Bucket
from portal.cli import cli
from portal.core import db
from portal.models import (
    AuditEntry,
    BookCell,
    Callback,
    Case,
    CaseMonthEnd,
    CaseStatus,
    ContactAttempt,
    CureCell,
    Offer,
    OfferCell,
    OfferStatus,
    Plan,
    PlanInstallment,
    Promise,
    StaffMember,
    Team,
    WorkCell,
)
from portal.reporting import monthly
from portal.reporting.agents import (
    AgentFigures,
    ArrangedMoney,
    OfferTally,
    agents,
    unsettled_offers,
)
from portal.reporting.arrangements import PlanTally
from portal.reporting.book import as_json, book_report
from portal.reporting.cures import contacts_per_cure, count_cures
from portal.reporting.portfolio import Slice, roll_rates
from portal.reporting.promises import PromiseTally
from portal.reporting.snapshots import count_transitions
from tests.portal.factories import add_staff, build_case, count_cells
from tests.portal.test_report_figures import FIRST, LAST, TAIPEI, taipei

SEPTEMBER_END, OCTOBER_END, NOVEMBER_END = date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)


@dataclass
class Book:
    a: int
    b: int
    c: int
    d: int
    e: int
    ling: int
    wei: int
    boss: int
    idle: int
    gone: int
    fin: int
    north: int


def build_book(app: Flask) -> Book:
    """The book of the module's docstring, with every row the figures read."""
    ids = [
        build_case(app, currency="TWD").case_id,
        build_case(app, currency="TWD").case_id,
        build_case(app, currency="CNY", locale="zh_Hans_CN", timezone="Asia/Shanghai").case_id,
        build_case(app, currency="HKD", locale="en", timezone="Asia/Hong_Kong").case_id,
        build_case(app, currency="TWD", locale="en").case_id,
    ]
    staff = {
        name: add_staff(app, f"{name}@haohuan.example", roles=roles)
        for name, roles in (
            ("ling", ("agent",)),
            ("wei", ("agent",)),
            ("boss", ("supervisor",)),
            ("idle", ("agent",)),
            ("gone", ("agent",)),
            ("fin", ("finance",)),
        )
    }
    a, b, c, d, e = ids
    ling, wei, boss = staff["ling"], staff["wei"], staff["boss"]
    with app.app_context():
        s = db.session()
        north = Team(name="North")
        s.add(north)
        s.flush()
        for name, member_id in staff.items():
            s.get_one(StaffMember, member_id).name = name.title()
        s.get_one(StaffMember, ling).team_id = north.id
        s.get_one(StaffMember, staff["gone"]).active = False
        s.get_one(Case, a).owner_id = ling
        s.get_one(Case, b).owner_id = ling
        s.get_one(Case, c).owner_id = wei
        borrower = {i: s.get_one(Case, i).loan.borrower_id for i in ids}
        currency = {i: s.get_one(Case, i).loan.currency for i in ids}

        # The month-end history -------------------------------------------------------
        def row(case_id: int, month_end: date, bucket: Bucket, owner: int | None) -> Any:
            return CaseMonthEnd(
                month_end=month_end,
                case_id=case_id,
                product="installment",
                currency=currency[case_id],
                market="TW",
                stage=Stage.CURRENT if bucket == Bucket.CURRENT else Stage.EARLY,
                status=CaseStatus.OPEN,
                owner_id=owner,
                team_id=north.id if owner == ling else None,
                arm=None,
                days_past_due=0 if bucket == Bucket.CURRENT else 20,
                bucket=bucket,
                overdue=0 if bucket == Bucket.CURRENT else 10_000,
                balance=100_000,
                overdue_since=None,
                exact=True,
            )

        s.add_all(
            [
                row(a, OCTOBER_END, Bucket.D1_30, ling),
                row(b, OCTOBER_END, Bucket.D31_60, ling),
                row(c, OCTOBER_END, Bucket.D1_30, wei),
                row(d, OCTOBER_END, Bucket.CURRENT, None),
                row(e, OCTOBER_END, Bucket.D61_90, ling),
                row(a, NOVEMBER_END, Bucket.CURRENT, ling),
                row(b, NOVEMBER_END, Bucket.D61_90, ling),
                row(c, NOVEMBER_END, Bucket.CURRENT, wei),
                row(d, NOVEMBER_END, Bucket.D1_30, None),
                row(e, NOVEMBER_END, Bucket.CURRENT, wei),
            ]
        )

        # The contact log -------------------------------------------------------------
        def attempt(case_id: int, by: str, channel: str, at: datetime, **more: Any) -> Any:
            return ContactAttempt(
                case_id=case_id,
                borrower_id=borrower[case_id],
                channel=channel,
                at=at,
                agent=f"{by}@haohuan.example" if by != "system" else by,
                **more,
            )

        s.add_all(
            [
                attempt(a, "ling", "call", taipei(2, 10), outcome="no_answer"),
                attempt(a, "ling", "call", taipei(2, 15), connected=True, outcome="reached"),
                attempt(a, "system", "sms", taipei(3), outcome="sent"),
                # 23:30 on 31 October in Taipei: outside.
                attempt(a, "ling", "call", taipei(31, 23, 30, month=10), outcome="no_answer"),
                attempt(b, "ling", "call", taipei(3), connected=True, outcome="promise"),
                attempt(b, "ling", "call", taipei(6), connected=True, inbound=True),
                attempt(c, "wei", "email", taipei(4), outcome="sent"),
                attempt(c, "wei", "call", taipei(5), connected=True, outcome="reached"),
                attempt(e, "wei", "call", taipei(20), outcome="no_answer"),
                # 00:10 on 1 December in Taipei: outside.
                attempt(e, "ling", "call", taipei(1, 0, 10, month=12), connected=True),
                # No staff account by that address: nobody's.
                attempt(d, "former", "call", taipei(7), outcome="no_answer"),
            ]
        )

        # Promises --------------------------------------------------------------------
        def promise(case_id: int, by: str, status: str, at: datetime) -> Promise:
            return Promise(
                case_id=case_id,
                made_by=f"{by}@haohuan.example",
                made_at=at,
                due_date=at.date() + timedelta(days=7),
                amount=10_000,
                currency=currency[case_id],
                status=status,
                paid=0,
            )

        s.add_all(
            [
                promise(a, "ling", "kept", taipei(9)),
                promise(b, "ling", "partly_kept", taipei(3)),
                promise(c, "wei", "open", taipei(25)),
                # October: outside.
                promise(e, "ling", "broken", taipei(15, month=10)),
            ]
        )

        # Offers ----------------------------------------------------------------------
        def offer(
            case_id: int, by: str, at: datetime, authority: str, status: str, decided: bool
        ) -> Offer:
            return Offer(
                case_id=case_id,
                status=status,
                terms={},
                created_by=f"{by}@haohuan.example",
                created_at=at,
                expires_at=at + timedelta(days=14),
                authority=authority,
                decided_by="boss@haohuan.example" if decided else None,
                decided_at=at + timedelta(hours=2) if decided else None,
            )

        o1 = offer(a, "ling", taipei(2), "agent", "accepted", decided=False)
        o2 = offer(b, "ling", taipei(3), "supervisor", "ready", decided=True)
        o3 = offer(b, "ling", taipei(1, 9), "supervisor", "declined", decided=True)
        o4 = offer(e, "ling", taipei(10), "supervisor", "withdrawn", decided=False)
        # Made in October, taken up in November.
        o5 = offer(e, "ling", taipei(28, month=10), "agent", "accepted", decided=False)
        o6 = offer(c, "boss", taipei(12), "supervisor", "accepted", decided=True)
        o7 = offer(c, "wei", taipei(5), "agent", "withdrawn", decided=False)
        o8 = offer(d, "ling", taipei(8), "agent", "accepted", decided=False)
        s.add_all([o1, o2, o3, o4, o5, o6, o7, o8])
        s.flush()

        # Plans -----------------------------------------------------------------------
        def plan(case_id: int, made: Offer | None, status: str, total: int, at: datetime) -> Plan:
            return Plan(
                case_id=case_id,
                offer_id=made.id if made else None,
                kind="arrears_plan",
                status=status,
                currency=currency[case_id],
                restructured=total,
                total=total,
                accepted_at=at,
            )

        p_a = plan(a, o1, "active", 90_000, taipei(3))
        # 00:10 on 1 November in Taipei: inside.
        p_e = plan(e, o5, "completed", 50_000, taipei(1, 0, 10))
        p_c = plan(c, o6, "broken", 70_000, taipei(13))
        # Canceled before it started: not counted.
        p_d = plan(d, o8, "cancelled", 20_000, taipei(9))
        # Chosen in the portal: nobody's.
        p_b = plan(b, None, "pending", 40_000, taipei(20))
        s.add_all([p_a, p_e, p_c, p_d, p_b])
        s.flush()

        def installment(owner: Plan, sequence: int, amount: int, paid: int) -> PlanInstallment:
            return PlanInstallment(
                plan_id=owner.id,
                sequence=sequence,
                due_date=date(2026, 12, sequence),
                amount=amount,
                paid=paid,
            )

        s.add_all(
            [
                installment(p_a, 1, 30_000, 30_000),
                installment(p_a, 2, 60_000, 0),
                installment(p_e, 1, 50_000, 50_000),
                installment(p_c, 1, 35_000, 10_000),
                installment(p_c, 2, 35_000, 0),
                installment(p_d, 1, 20_000, 20_000),
            ]
        )

        # A callback wei booked on B, and one the borrower asked for on A (nobody's).
        s.add_all(
            [
                Callback(
                    case_id=case_id,
                    due_at=taipei(19),
                    source=source,
                    status="open",
                    requested_by=by,
                    requested_at=taipei(18),
                )
                for case_id, source, by in (
                    (b, "agent", "wei@haohuan.example"),
                    (a, "borrower", "borrower"),
                )
            ]
        )

        # The audit log ---------------------------------------------------------------
        def audit(who: str, action: str, at: datetime, case_id: int) -> AuditEntry:
            return AuditEntry(
                at=at,
                staff_id=staff[who],
                actor=f"{who}@haohuan.example",
                action=action,
                case_id=case_id,
                details={},
            )

        s.add_all(
            [
                # Reading a case and a refused call are not work.
                audit("ling", "case.view", taipei(14), c),
                audit("ling", "call.refused", taipei(14), c),
                audit("wei", "letter.print", taipei(16), d),
                # October: outside.
                audit("wei", "call.log", taipei(20, month=10), a),
                audit("boss", "offer.approve", taipei(3, 14), b),
                # Assigning a case is not working it.
                audit("boss", "case.reassign", taipei(4), a),
            ]
        )
        s.commit()
    # October's and November's cells, as the month-end steps count them.
    count_cells(app, OCTOBER_END, NOVEMBER_END)
    return Book(
        a, b, c, d, e, ling, wei, boss, staff["idle"], staff["gone"], staff["fin"], north.id
    )


def test_agents(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        report = agents(db.session(), OCTOBER_END, OCTOBER_END)
    # Owned at 30 November (the period's last month-end): ling A and B, wei C and E.
    # Worked: one month, so the case-months are the distinct cases of November.
    assert report.owned_at == NOVEMBER_END
    # Listed by name: Boss (a supervisor with figures), Idle (an agent, zeros), Ling,
    # Wei; not Gone (deactivated, nothing done) nor Fin (finance).
    assert [row.name for row in report.rows] == ["Boss", "Idle", "Ling", "Wei"]
    ling = report.of(book.ling)
    assert ling == AgentFigures(
        staff_id=book.ling,
        email="ling@haohuan.example",
        name="Ling",
        owned=2,
        # A and B (contacts, promises, offers), E (o4), D (o8); C was only read and a
        # call to it refused.
        worked=4,
        # A's two calls and B's call; reached: A's second call, B's call, B calling in.
        attempts=3,
        right_party_contacts=3,
        inbound=1,
        promises=PromiseTally(kept=1, partly_kept=1),
        # o1, o2, o3, o4, o8 (o5 was made in October): o1 and o8 within authority;
        # o2 approved, o3 declined, o4 withdrawn before a decision; o1 and o8 taken up.
        offers=OfferTally(
            made=5, within_authority=2, beyond_authority=3, approved=1, declined=1, accepted=2
        ),
        # p_a (active) and p_e (completed, from October's o5); p_d canceled.
        plans=PlanTally(kept=1, live=1),
        # 90,000 + 50,000 agreed; 30,000 + 50,000 paid.
        money=(ArrangedMoney("TWD", 2, 140_000, 80_000),),
    )
    assert report.of(book.wei) == AgentFigures(
        staff_id=book.wei,
        email="wei@haohuan.example",
        name="Wei",
        owned=2,
        # C (contacts, promise, o7), E (a call), D (a letter printed), B (a callback).
        worked=4,
        attempts=3,
        right_party_contacts=1,
        promises=PromiseTally(open=1),
        offers=OfferTally(made=1, within_authority=1),
    )
    assert report.of(book.boss) == AgentFigures(
        staff_id=book.boss,
        email="boss@haohuan.example",
        name="Boss",
        owned=0,
        # C (o6) and B (o2 approved); reassigning A is not work.
        worked=2,
        # o6, beyond an agent's authority, approved by its maker.
        offers=OfferTally(made=1, beyond_authority=1, approved=1, accepted=1),
        plans=PlanTally(broken=1),
        money=(ArrangedMoney("CNY", 1, 70_000, 10_000),),
    )
    assert report.of(book.idle) == AgentFigures(
        staff_id=book.idle, email="idle@haohuan.example", name="Idle", owned=0
    )
    shown = report.as_json()["agents"]
    assert shown["owned_at"] == "2026-11-30"  # type: ignore[index]
    ling_json = shown["rows"][2]  # type: ignore[index]
    assert ling_json["offers"] == {
        "made": 5,
        "within_authority": 2,
        "beyond_authority": 3,
        "approved": 1,
        "declined": 1,
        "accepted": 2,
    }
    assert ling_json["money"] == [{"currency": "TWD", "plans": 2, "total": 140_000, "paid": 80_000}]
    assert ling_json["plans"]["accepted"] == 2


def test_agents_sliced_and_alone(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        session = db.session()
        # TWD: A, B and E (the same at 31 October, at 30 November and now).
        twd = agents(session, OCTOBER_END, OCTOBER_END, Slice(currency="TWD"))
        everyone = agents(session, OCTOBER_END, OCTOBER_END)
        alone = agents(session, OCTOBER_END, OCTOBER_END, only=book.wei)
        before = agents(session, SEPTEMBER_END, SEPTEMBER_END)
        nothing = agents(session, date(2026, 8, 31), date(2026, 8, 31))
    ling, wei, boss = twd.of(book.ling), twd.of(book.wei), twd.of(book.boss)
    assert ling is not None
    assert wei is not None
    assert boss is not None
    # ling: A, B, E (D is HKD); o8 on D left out.
    assert (ling.owned, ling.worked, ling.attempts, ling.right_party_contacts) == (2, 3, 3, 3)
    assert ling.offers == OfferTally(
        made=4, within_authority=1, beyond_authority=3, approved=1, declined=1, accepted=1
    )
    assert ling.plans == PlanTally(kept=1, live=1)
    # wei: E (owned at the month-end, and called) and B (a callback booked).
    assert (wei.owned, wei.worked, wei.attempts, wei.offers) == (1, 2, 1, OfferTally())
    # boss: B (the approval); o6 and its plan are on C, in CNY.
    assert (boss.worked, boss.offers, boss.money) == (1, OfferTally(), ())
    # One member asked for: that member's row alone, the same figures.
    assert alone.rows == (everyone.of(book.wei),)
    assert alone.owned_at == NOVEMBER_END
    # October's pair (September to October: the month of October): owned at 31 October
    # (ling A, B, E; wei C); ling worked A (a call) and E (a promise, o5), o5 made; wei's
    # audited call on A.
    october_ling, october_wei = before.of(book.ling), before.of(book.wei)
    assert october_ling is not None
    assert october_wei is not None
    assert (october_ling.owned, october_ling.worked, october_ling.attempts) == (3, 2, 1)
    assert october_ling.offers == OfferTally(made=1, within_authority=1, accepted=1)
    assert (october_wei.owned, october_wei.worked) == (1, 1)
    # Before any month-end: owned is not known.
    assert nothing.owned_at is None
    assert {row.owned for row in nothing.rows} == {None}


def test_contacts_per_cure(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        session = db.session()
        report = contacts_per_cure(session, OCTOBER_END, OCTOBER_END)
        twd = contacts_per_cure(session, OCTOBER_END, OCTOBER_END, Slice(currency="TWD"))
        lings = contacts_per_cure(session, OCTOBER_END, OCTOBER_END, Slice(owner_id=book.ling))
        weis = contacts_per_cure(session, OCTOBER_END, OCTOBER_END, Slice(owner_id=book.wei))
        count_transitions(session, OCTOBER_END, NOVEMBER_END)
        session.commit()
        matrix = roll_rates(session, OCTOBER_END, OCTOBER_END, Slice()).matrix
    # Cured from October to November: A (1-30), C (1-30), E (61-90); B rolled, D was
    # current. The roll rates count the same cures.
    assert report.cures == matrix.cured.cases == 3
    # In November: A's two calls and the system's SMS (its October call is outside),
    # C's email and call, E's call (its December call is outside): 6; reached: A's
    # second call, C's call.
    assert (report.attempts, report.right_party_contacts) == (6, 2)
    assert report.attempts_per_cure == 2
    assert report.right_party_contacts_per_cure == Fraction(2, 3)
    assert report.as_json()["contacts_per_cure"] == {
        "cures": 3,
        "attempts": 6,
        "right_party_contacts": 2,
        "attempts_per_cure": "2.000000",
        "right_party_contacts_per_cure": "0.666667",
    }
    # TWD (at the first month-end): A and E; 3 + 1 attempts, 1 reached.
    assert (twd.cures, twd.attempts, twd.right_party_contacts) == (2, 4, 1)
    assert twd.right_party_contacts_per_cure == Fraction(1, 2)
    # ling's at the first month-end: A and E (B did not cure); E is wei's at the second,
    # and counted as ling's, where it stood when the month began.
    assert (lings.cures, lings.attempts, lings.attempts_per_cure) == (2, 4, 2)
    assert (weis.cures, weis.attempts, weis.right_party_contacts) == (1, 2, 1)


def cure_cells(session: Any) -> list[tuple[Any, ...]]:
    """Every cure cell but its id, sorted."""
    table = CureCell.__table__
    return sorted(session.execute(select(*(c for c in table.c if c.name != "id"))).all(), key=repr)


def test_cures_are_counted_once_both_month_ends_are_written_and_again_alike(app: Flask) -> None:
    build_book(app)
    december = date(2026, 12, 31)
    with app.app_context():
        session = db.session()
        counted = cure_cells(session)
        # November counted again: the same cells. December is not written: nothing.
        assert count_cures(session, NOVEMBER_END, TAIPEI) == len(counted) > 0
        assert cure_cells(session) == counted
        assert count_cures(session, december, TAIPEI) == 0


def test_contacts_per_cure_over_two_pairs(app: Flask) -> None:
    book = build_book(app)
    december = date(2026, 12, 31)
    with app.app_context():
        s = db.session()
        # B (61-90 at the end of November) is current at December's end: cured, with
        # two calls in December, one reached. A stays current: not a cure.
        for case_id in (book.a, book.b):
            row = s.get_one(CaseMonthEnd, (NOVEMBER_END, case_id))
            values = {c.name: getattr(row, c.name) for c in CaseMonthEnd.__table__.c}
            values.update(month_end=december, bucket=Bucket.CURRENT, days_past_due=0, overdue=0)
            s.add(CaseMonthEnd(**values))
        borrower = s.get_one(Case, book.b).loan.borrower_id
        s.add_all(
            [
                ContactAttempt(
                    case_id=book.b,
                    borrower_id=borrower,
                    channel="call",
                    at=taipei(day, month=12),
                    agent="ling@haohuan.example",
                    connected=reached,
                )
                for day, reached in ((2, False), (3, True))
            ]
        )
        s.commit()
    count_cells(app, december, december)
    with app.app_context():
        both = contacts_per_cure(db.session(), OCTOBER_END, NOVEMBER_END)
    # November's 3 cures (6 attempts, 2 reached) and December's B (2 attempts, 1 reached).
    assert (both.cures, both.attempts, both.right_party_contacts) == (4, 8, 3)
    assert both.attempts_per_cure == 2


def test_book_report_has_the_agents_and_contacts_per_cure(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        session = db.session()
        count_transitions(session, OCTOBER_END, NOVEMBER_END)
        session.commit()
        report = book_report(session, OCTOBER_END, OCTOBER_END, Slice())
    assert (report.first_day, report.last_day) == (FIRST, LAST)
    shown = as_json(report)
    assert shown["contacts_per_cure"]["cures"] == 3
    rows = {row["staff_id"]: row for row in shown["agents"]["rows"]}
    assert rows[book.ling]["worked"] == 4
    assert rows[book.wei]["owned"] == 2
    assert book.fin not in rows
    assert book.gone not in rows


def test_the_command_prints_the_agents_and_contacts_per_cure(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        count_transitions(db.session(), OCTOBER_END, NOVEMBER_END)
        db.session().commit()
    result = CliRunner().invoke(
        cli,
        ["report", "portfolio", "--as-of", "2026-11-30", "--format", "json"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["contacts_per_cure"]["attempts_per_cure"] == "2.000000"
    assert printed["agents"]["owned_at"] == "2026-11-30"
    rows = {row["name"]: row for row in printed["agents"]["rows"]}
    assert list(rows) == ["Boss", "Idle", "Ling", "Wei"]
    assert rows["Ling"]["staff_id"] == book.ling
    assert (rows["Ling"]["worked"], rows["Wei"]["worked"], rows["Boss"]["worked"]) == (4, 4, 2)
    assert rows["Boss"]["money"] == [
        {"currency": "CNY", "plans": 1, "total": 70_000, "paid": 10_000}
    ]


def test_november_is_sliced_as_it_began(app: Flask) -> None:
    """E was ling's at 31 October, wei's at 30 November and is nobody's now: November's
    work and offers on E are under ling's slice; owned, at 30 November, under wei's."""
    book = build_book(app)
    with app.app_context():
        lings = agents(db.session(), OCTOBER_END, OCTOBER_END, Slice(owner_id=book.ling))
    ling, wei = lings.of(book.ling), lings.of(book.wei)
    assert ling is not None
    assert wei is not None
    # ling's cases at 31 October: A, B and E. wei worked E (a call) and B (a callback);
    # as the cases stand now (E nobody's) it would be B alone.
    assert (wei.owned, wei.worked) == (0, 2)
    # Owned at 30 November, by that month-end's rows: ling A and B (E was wei's then).
    assert (ling.owned, ling.worked) == (2, 3)
    # o1 (A), o2 and o3 (B), o4 (E); o8 is on D, nobody's.
    assert ling.offers == OfferTally(
        made=4, within_authority=1, beyond_authority=3, approved=1, declined=1, accepted=1
    )


def test_two_months_are_case_months(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        report = agents(db.session(), SEPTEMBER_END, OCTOBER_END)
    ling, wei = report.of(book.ling), report.of(book.wei)
    assert ling is not None
    assert wei is not None
    assert (report.first, report.last, report.owned_at) == (
        date(2026, 10, 1),
        NOVEMBER_END,
        NOVEMBER_END,
    )
    # ling: A and E in October, A, B, D and E in November: 6 case-months (4 cases).
    # wei: A in October (the audited call), B, C, D and E in November: 5.
    assert (ling.owned, ling.worked, wei.owned, wei.worked) == (2, 6, 2, 5)
    # o5 in October and November's five.
    assert ling.offers == OfferTally(
        made=6, within_authority=3, beyond_authority=3, approved=1, declined=1, accepted=3
    )
    # Contact over both months' days: A's October call (31 October, 23:30) too.
    assert (ling.attempts, ling.right_party_contacts) == (4, 3)
    # The promise of 15 October too (broken).
    assert ling.promises == PromiseTally(kept=1, partly_kept=1, broken=1)


COUNTED = ("agents.owned", "agents.worked", "agents.offers")


def _cells(session: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every agents' cell, without its id, sorted."""
    return {
        model.__tablename__: sorted(
            (
                tuple(
                    getattr(row, name) for name in sorted(model.__table__.c.keys()) if name != "id"
                )
                for row in session.scalars(select(model))
            ),
            key=repr,
        )
        for model in (BookCell, WorkCell, OfferCell)
    }


def test_counting_a_month_again_leaves_the_same_cells(app: Flask) -> None:
    build_book(app)
    with app.app_context():
        session = db.session()
        before = _cells(session)
        # November's month-end counts October (the month before) and November again.
        written = monthly.count_month(session, NOVEMBER_END, TAIPEI)
        assert _cells(session) == before
        booked = dict(
            session.execute(
                select(BookCell.month_end, func.sum(BookCell.cases)).group_by(BookCell.month_end)
            ).all()
        )
    # (The other sections' counters run too: only the agents' are compared here.)
    assert {name: written[name] for name in COUNTED} == {
        name: len(cells) for name, cells in zip(COUNTED, before.values(), strict=True)
    }
    # Each month-end's five cases, once.
    assert booked == {OCTOBER_END: 5, NOVEMBER_END: 5}


def test_an_offer_decided_after_its_month_is_counted_again(app: Flask) -> None:
    """An offer wei made in October, beyond an agent's authority, waits for a
    supervisor: October's cells hold it open. Approved and taken up in December, the
    month-end of December counts October again (its cells said open), though the
    offer is no longer open by then."""
    book = build_book(app)
    with app.app_context():
        session = db.session()
        made = Offer(
            case_id=book.c,
            status="needs_approval",
            terms={},
            created_by="wei@haohuan.example",
            created_at=taipei(10, month=10),
            expires_at=taipei(24, month=10),
            authority="supervisor",
        )
        session.add(made)
        session.flush()
        monthly.recount(session, OCTOBER_END, NOVEMBER_END, TAIPEI)
        october = agents(session, SEPTEMBER_END, SEPTEMBER_END).of(book.wei)
        assert october is not None
        assert october.offers == OfferTally(made=1, beyond_authority=1)
        # October's cells hold it open (and November's, ling's o2 still ready).
        assert unsettled_offers(session) == OCTOBER_END
        made.status, made.decided_by = OfferStatus.ACCEPTED, "boss@haohuan.example"
        made.decided_at = taipei(2, month=12)
        session.flush()
        monthly.count_month(session, date(2026, 12, 31), TAIPEI)
        october = agents(session, SEPTEMBER_END, SEPTEMBER_END).of(book.wei)
        assert october is not None
        assert october.offers == OfferTally(made=1, beyond_authority=1, approved=1, accepted=1)
        # Only November's o2 (ready) is open now.
        assert unsettled_offers(session) == NOVEMBER_END
