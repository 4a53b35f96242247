"""The report's figures other than roll rates (``portal.reporting``: arrangements,
promises, contact, the portal funnel) against a small portfolio whose every figure is
worked out by hand below, on SQLite and PostgreSQL.

The period is November 2026 in Taipei (UTC+8, no summer time): from 2026-10-31 16:00 UTC
to 2026-11-30 16:00 UTC. Five cases:

| case | currency | language   | market | owner        |
|------|----------|------------|--------|--------------|
| A    | TWD      | zh_Hant_TW | TW     | ling (North) |
| B    | TWD      | zh_Hant_TW | TW     | ling (North) |
| C    | CNY      | zh_Hans_CN | CN     | wei          |
| D    | HKD      | en         | HK     | none         |
| E    | TWD      | en         | TW     | none         |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from negotiation.portfolio import Bucket
from portal.core import db
from portal.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseMonthEnd,
    ContactAttempt,
    FunnelCell,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    OptOut,
    Payment,
    PaymentStatus,
    Plan,
    Promise,
    ReminderLink,
    StaffMember,
    Team,
    VerificationAttempt,
)
from portal.reporting import monthly
from portal.reporting.arrangements import PlanTally, arrangements
from portal.reporting.arrangements import unsettled as plans_unsettled
from portal.reporting.contact import contact
from portal.reporting.funnel import DeviceClass, count_funnel, device_class, funnel
from portal.reporting.portfolio import Slice
from portal.reporting.promises import PromiseTally, promises
from portal.reporting.slices import average
from tests.portal.factories import add_staff, build_case, count_cells

TAIPEI = ZoneInfo("Asia/Taipei")
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
# The month pairs' first month-ends that name October and November (the sections' cells).
SEPTEMBER_END, OCTOBER_END = date(2026, 9, 30), date(2026, 10, 31)


def taipei(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    """A moment of 2026 in Taipei, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=TAIPEI).astimezone(UTC)


@dataclass
class Book:
    a: int
    b: int
    c: int
    d: int
    e: int
    ling: int
    wei: int
    north: int


def _plan(case_id: int, kind: str, status: str, currency: str, at: datetime, **more: Any) -> Plan:
    return Plan(
        case_id=case_id,
        kind=kind,
        status=status,
        currency=currency,
        restructured=100_000,
        total=100_000,
        accepted_at=at,
        **more,
    )


def _paid(plan: Plan, at: datetime, *, automatic: bool = False, status: str = "succeeded") -> Any:
    return Payment(
        case_id=plan.case_id,
        plan_id=plan.id,
        purpose="installment",
        amount=10_000,
        currency=plan.currency,
        status=status,
        gateway="sandbox",
        automatic=automatic,
        created_at=at,
        confirmed_at=at if status == PaymentStatus.SUCCEEDED else None,
    )


def build_book(app: Flask) -> Book:
    """The portfolio of the module's docstring, with every row the figures read."""
    ids = [
        build_case(app, currency="TWD").case_id,
        build_case(app, currency="TWD").case_id,
        build_case(app, currency="CNY", locale="zh_Hans_CN", timezone="Asia/Shanghai").case_id,
        build_case(app, currency="HKD", locale="en", timezone="Asia/Hong_Kong").case_id,
        build_case(app, currency="TWD", locale="en").case_id,
    ]
    ling = add_staff(app, "ling@haohuan.example", roles=("agent",))
    wei = add_staff(app, "wei@haohuan.example", roles=("agent",))
    a, b, c, d, e = ids
    with app.app_context():
        s = db.session()
        north = Team(name="North")
        s.add(north)
        s.flush()
        s.get_one(StaffMember, ling).team_id = north.id
        s.get_one(Case, a).owner_id = ling
        s.get_one(Case, b).owner_id = ling
        s.get_one(Case, c).owner_id = wei
        borrower = {i: s.get_one(Case, i).loan.borrower_id for i in ids}
        link = {i: s.scalars(select_link(i)).one() for i in ids}
        offers = [
            Offer(
                case_id=case_id,
                status=OfferStatus.ACCEPTED,
                terms={},
                created_by="ling@haohuan.example",
                expires_at=taipei(20),
            )
            for case_id in (b, d)
        ]
        s.add_all(offers)
        s.flush()
        offer_b, offer_d = offers

        # Plans ---------------------------------------------------------------------
        p1 = _plan(a, "arrears_plan", "completed", "TWD", taipei(3), waived_penalties=15_000)
        p1.activated_at = taipei(4)
        # Accepted at 23:30 on 31 October in Taipei: outside the period.
        p2 = _plan(a, "settlement", "broken", "TWD", taipei(31, 23, 30, month=10), discount=9)
        p3 = _plan(
            b, "settlement", "completed", "TWD", taipei(4), discount=100_001, waived_fees=30_000
        )
        p3.offer_id = offer_b.id
        p3.activated_at = taipei(5)
        # Accepted at 00:10 on 1 November in Taipei (16:10 UTC the day before): inside.
        p4 = _plan(b, "settlement", "pending", "TWD", taipei(1, 0, 10), discount=50_000)
        p5 = _plan(
            c, "restructure", "active", "CNY", taipei(6), waived_penalties=1_000, waived_fees=500
        )
        p5.activated_at = taipei(10)
        p6 = _plan(c, "arrears_plan", "broken", "CNY", taipei(7), discount=5)
        p6.activated_at = taipei(8)
        p7 = _plan(d, "deferral", "lapsed", "HKD", taipei(8))
        p7.offer_id = offer_d.id
        # Withdrawn by the borrower before it started: never counted.
        p8 = _plan(e, "arrears_plan", "cancelled", "TWD", taipei(9), discount=77)
        s.add_all([p1, p2, p3, p4, p5, p6, p7, p8])
        s.flush()
        s.add_all(
            [
                _paid(p1, taipei(4)),
                _paid(p3, taipei(5)),
                # p5's first succeeded payment was charged automatically; a later one by hand.
                _paid(p5, taipei(10), automatic=True),
                _paid(p5, taipei(12)),
                # p6's automatic charge failed; its first succeeded payment was by hand.
                _paid(p6, taipei(7, 13), automatic=True, status="failed"),
                _paid(p6, taipei(8)),
            ]
        )

        # Promises ------------------------------------------------------------------
        def promise(case_id: int, by: str, status: str, amount: int, paid: int, at: datetime):
            currency = s.get_one(Case, case_id).loan.currency
            return Promise(
                case_id=case_id,
                made_by=by,
                made_at=at,
                due_date=at.date() + timedelta(days=7),
                amount=amount,
                currency=currency,
                status=status,
                paid=paid,
            )

        s.add_all(
            [
                promise(a, "ling@haohuan.example", "superseded", 20_000, 5_000, taipei(2)),
                promise(a, "ling@haohuan.example", "kept", 10_000, 10_000, taipei(9)),
                promise(b, "ling@haohuan.example", "partly_kept", 30_000, 12_000, taipei(3)),
                promise(c, "wei@haohuan.example", "broken", 4_000, 0, taipei(4)),
                promise(c, "wei@haohuan.example", "open", 6_000, 0, taipei(25)),
                promise(d, "former@haohuan.example", "kept", 7_000, 7_000, taipei(5)),
                # Made in October: outside.
                promise(e, "ling@haohuan.example", "broken", 1_000, 0, taipei(15, month=10)),
            ]
        )

        # The contact log -----------------------------------------------------------
        def attempt(case_id: int, channel: str, at: datetime, **more: Any) -> ContactAttempt:
            return ContactAttempt(
                case_id=case_id,
                borrower_id=borrower[case_id],
                channel=channel,
                at=at,
                agent="ling@haohuan.example",
                **more,
            )

        s.add_all(
            [
                attempt(a, "call", taipei(2, 10), outcome="no_answer"),
                attempt(a, "call", taipei(2, 15), connected=True, outcome="reached"),
                attempt(a, "sms", taipei(3), outcome="sent"),
                attempt(b, "call", taipei(3), connected=True, outcome="promise"),
                attempt(b, "call", taipei(6), connected=True, inbound=True, outcome="reached"),
                attempt(c, "email", taipei(4), outcome="sent"),
                # October: outside.
                attempt(d, "call", taipei(20, month=10), outcome="no_answer"),
            ]
        )

        # Refusals, as the audit log records them --------------------------------------
        def audit(action: str, at: datetime, case_id: int | None, **details: Any) -> AuditEntry:
            return AuditEntry(
                at=at, actor="ling@haohuan.example", action=action, case_id=case_id, details=details
            )

        s.add_all(
            [
                audit(
                    "call.refused", taipei(2), a, reasons=["quiet_hours", "connected_calls_per_day"]
                ),
                # Only the letter rules' own reason: not the gate's, not counted.
                audit("letter.refused", taipei(3), b, reasons=["no_address"]),
                audit("letter.refused", taipei(4), b, reasons=["no_address", "on_hold"]),
                # A batch: the reasons with their cases; no_address is not the gate's.
                audit(
                    "message.refused",
                    taipei(5),
                    None,
                    batch_id=1,
                    channel="sms",
                    refused={"opted_out": [c, d], "no_address": [e]},
                ),
                audit("message.cancel", taipei(6), a, message_id=1, reasons=["messages_per_day"]),
                # October: outside.
                audit("message.refused", taipei(30, month=10), c, reasons=["quiet_hours"]),
            ]
        )
        october = taipei(1, month=10)
        s.add_all(
            [
                OptOut(borrower_id=borrower[c], channel="sms", at=taipei(5), source="link"),
                OptOut(borrower_id=borrower[d], channel="email", at=taipei(6), source="agent"),
                # October: outside.
                OptOut(borrower_id=borrower[a], channel="call", at=october, source="agent"),
            ]
        )

        # The portal funnel -------------------------------------------------------------
        def sent(case_id: int, at: datetime, status: str = "sent") -> Message:
            return Message(
                case_id=case_id,
                borrower_id=borrower[case_id],
                channel="sms",
                purpose="reminder",
                link_id=link[case_id].id,
                locale="en",
                status=status,
                send_at=at,
                sent_at=at if status == MessageStatus.SENT else None,
                created_by="system",
                created_at=at,
            )

        def answer(case_id: int, at: datetime, right: bool) -> VerificationAttempt:
            return VerificationAttempt(
                borrower_id=borrower[case_id],
                link_id=link[case_id].id,
                address_hash="x",
                succeeded=right,
                at=at,
            )

        def event(case_id: int, kind: str, at: datetime, device: str) -> CaseEvent:
            return CaseEvent(
                case_id=case_id, kind=kind, actor="borrower", at=at, data={"device": device}
            )

        s.add_all(
            [
                sent(a, taipei(2)),
                sent(b, taipei(2)),
                sent(c, taipei(3)),
                # 18:00 on 31 October in Taipei: outside.
                sent(d, taipei(31, 18, month=10)),
                # Scheduled, not sent: not counted.
                sent(e, taipei(29), status="scheduled"),
                answer(a, taipei(2, 13), right=False),
                answer(a, taipei(2, 14), right=True),
                answer(b, taipei(2, 13), right=False),
                answer(c, taipei(3, 13), right=True),
                event(a, "portal_verified", taipei(2, 14), "phone"),
                event(a, "options_seen", taipei(2, 15), "phone"),
                # A later step on another device: the case keeps its first device.
                event(a, "plan_reviewed", taipei(3, 9), "tablet"),
                event(c, "portal_verified", taipei(3, 13), "desktop"),
                event(c, "options_seen", taipei(3, 14), "desktop"),
            ]
        )
        s.commit()
    # November's cells, as the month-end step counts them.
    count_cells(app, LAST, LAST)
    return Book(a, b, c, d, e, ling, wei, north.id)


def select_link(case_id: int) -> Any:
    return select(ReminderLink).where(ReminderLink.case_id == case_id)


def test_average_rounds_half_to_even() -> None:
    # 5 / 2 = 2.5 -> 2; 7 / 2 = 3.5 -> 4; 150,001 / 3 = 50,000.33 -> 50,000.
    assert [average(5, 2), average(7, 2), average(150_001, 3), average(1, 0)] == [
        2,
        4,
        50_000,
        None,
    ]


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            DeviceClass.PHONE,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Mobile Safari/537.36",
            DeviceClass.PHONE,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            DeviceClass.TABLET,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36",
            DeviceClass.TABLET,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36",
            DeviceClass.DESKTOP,
        ),
        ("", DeviceClass.DESKTOP),
        (None, DeviceClass.DESKTOP),
    ],
)
def test_device_class(agent: str | None, device: DeviceClass) -> None:
    assert device_class(agent) is device


def test_arrangements(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        report = arrangements(db.session(), OCTOBER_END, OCTOBER_END)
    # November's cells (no month-end written: each case sliced as it stands).
    assert (report.first, report.last) == (FIRST, LAST)
    # Counted: p1, p3, p4 (00:10 on 1 November), p5, p6, p7; not p2 (23:30 on 31 October)
    # nor p8 (canceled).
    assert report.by_kind == {
        # p1 completed, p6 broken.
        "arrears_plan": PlanTally(kept=1, broken=1),
        # p3 completed, p4 pending.
        "settlement": PlanTally(kept=1, live=1),
        # p5 active.
        "restructure": PlanTally(live=1),
        # p7 lapsed.
        "deferral": PlanTally(lapsed=1),
        "pay_in_full": PlanTally(),
    }
    assert report.by_channel == {
        # p1 and p6 paid first by hand (p6's automatic charge failed), p4 not paid yet:
        # none from an offer.
        "portal": PlanTally(kept=1, broken=1, live=1),
        # p3 (paid by hand) and p7 (never paid) were agents' offers.
        "agent_offer": PlanTally(kept=1, lapsed=1),
        # p5's first succeeded payment was automatic.
        "autopay": PlanTally(live=1),
    }
    assert report.total == PlanTally(kept=2, broken=1, lapsed=1, live=2)
    assert report.total.accepted == 6
    cny, hkd, twd = report.forgone
    # TWD: p1, p3, p4. Discount 0 + 100,001 + 50,000 = 150,001, per plan 50,000.33 -> 50,000.
    # Waiver 15,000 (p1's penalties) + 30,000 (p3's fees) + 0 = 45,000, per plan 15,000.
    assert (twd.currency, twd.plans, twd.discount, twd.waiver) == ("TWD", 3, 150_001, 45_000)
    assert (twd.average_discount, twd.average_waiver) == (50_000, 15_000)
    assert twd.exact_average_discount == Fraction(150_001, 3)
    # CNY: p5, p6. Discount 0 + 5 = 5, per plan 2.5 -> 2 (half to even). Waiver
    # 1,000 + 500 + 0 = 1,500, per plan 750.
    assert (cny.currency, cny.plans, cny.discount, cny.waiver) == ("CNY", 2, 5, 1_500)
    assert (cny.average_discount, cny.average_waiver) == (2, 750)
    # HKD: p7 alone, nothing given.
    assert (hkd.currency, hkd.plans, hkd.average_discount, hkd.average_waiver) == ("HKD", 1, 0, 0)
    # Settlements: p3 and p4 of 6 plans, so 2/6 = 1/3; p3 kept.
    assert report.settlements_accepted == 2
    assert report.settlement_rate == Fraction(1, 3)
    assert report.settlements_kept == 1
    shown = report.as_json()
    assert shown["plans"]["settlement"] == {  # type: ignore[index]
        "accepted": 2,
        "kept": 1,
        "broken": 0,
        "lapsed": 0,
        "live": 1,
    }
    assert shown["settlement"] == {"accepted": 2, "kept": 1, "rate": "0.333333"}
    assert shown["discount_and_waiver"][0] == {  # type: ignore[index]
        "currency": "CNY",
        "plans": 2,
        "discount": 5,
        "waiver": 1_500,
        "average_discount": 2,
        "average_waiver": 750,
    }
    with app.app_context():
        # The TWD slice: p1, p3, p4.
        twd_only = arrangements(db.session(), OCTOBER_END, OCTOBER_END, Slice(currency="TWD"))
        # ling's team (North): cases A and B, the same plans.
        north = arrangements(db.session(), OCTOBER_END, OCTOBER_END, Slice(team_id=book.north))
        # wei's cases: C, with p5 and p6.
        weis = arrangements(db.session(), OCTOBER_END, OCTOBER_END, Slice(owner_id=book.wei))
        # Hong Kong: D, with p7.
        hong_kong = arrangements(db.session(), OCTOBER_END, OCTOBER_END, Slice(market="HK"))
    assert twd_only.total == north.total == PlanTally(kept=2, live=1)
    assert weis.total == PlanTally(broken=1, live=1)
    assert hong_kong.total == PlanTally(lapsed=1)
    assert [f.currency for f in north.forgone] == ["TWD"]


def test_promises(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        report = promises(db.session(), OCTOBER_END, OCTOBER_END)
    # Six made in November (E's in October is not): kept A and D, partly kept B, broken C,
    # open C, superseded A.
    assert report.total == PromiseTally(open=1, kept=2, partly_kept=1, broken=1, superseded=1)
    assert report.total.made == 6
    by_agent = {agent.made_by: agent for agent in report.by_agent}
    # former@ has no staff account: no id, no name.
    former = by_agent["former@haohuan.example"]
    assert (former.staff_id, former.name, former.tally) == (None, None, PromiseTally(kept=1))
    # ling: A's superseded and kept, B's partly kept.
    assert by_agent["ling@haohuan.example"].staff_id == book.ling
    assert by_agent["ling@haohuan.example"].tally == PromiseTally(
        kept=1, partly_kept=1, superseded=1
    )
    # wei: C's broken and open.
    assert by_agent["wei@haohuan.example"].tally == PromiseTally(open=1, broken=1)
    assert [agent.made_by for agent in report.by_agent] == sorted(by_agent)
    # TWD: 20,000 + 10,000 + 30,000 = 60,000 promised; 5,000 + 10,000 + 12,000 = 27,000 paid.
    # CNY: 4,000 + 6,000 promised, nothing paid. HKD: 7,000 and 7,000.
    assert [(a.currency, a.promised, a.paid) for a in report.amounts] == [
        ("CNY", 10_000, 0),
        ("HKD", 7_000, 7_000),
        ("TWD", 60_000, 27_000),
    ]
    shown = report.as_json()["promises"]
    counts = ("made", "kept", "partly_kept", "broken", "open", "superseded")
    assert [shown[k] for k in counts] == [6, 2, 1, 1, 1, 1]  # type: ignore[index]
    assert shown["by_agent"][1]["made_by"] == "ling@haohuan.example"  # type: ignore[index]
    assert shown["by_agent"][1]["made"] == 3  # type: ignore[index]
    with app.app_context():
        # Cases of the North team (A, B): ling's three.
        north = promises(db.session(), OCTOBER_END, OCTOBER_END, Slice(team_id=book.north))
    assert north.total == PromiseTally(kept=1, partly_kept=1, superseded=1)


def test_contact(app: Flask) -> None:
    book = build_book(app)
    with app.app_context():
        # The pair from 31 October: November's cells.
        report = contact(db.session(), OCTOBER_END, OCTOBER_END)
    # Outbound in November: A's two calls and SMS, B's call, C's email (D's call was in
    # October; B's inbound call is not an attempt).
    assert dict(report.attempts_by_channel) == {
        "call": 3,
        "sms": 1,
        "email": 1,
        "letter": 0,
        "line": 0,
        "wechat": 0,
    }
    assert report.attempts == 5
    # Reached: A's second call, B's call, and B calling us.
    assert report.right_party_contacts == 3
    assert report.inbound == 1
    # Cases in the log: A, B, C (one month: case-months are cases). 5 attempts / 3 cases;
    # 3 contacts / 3 cases = 1.
    assert report.cases == 3
    assert report.attempts_per_case == Fraction(5, 3)
    assert report.right_party_contacts_per_case == 1
    # Refused: A's call (two reasons), B's second letter (on hold; the first gave only
    # the letter rules' reason), C and D in the batch (opted out; E's was no address),
    # A's message canceled (messages per day). C's in October is outside.
    assert report.refusals == 5
    assert {k: v for k, v in report.refusals_by_reason.items() if v} == {
        "quiet_hours": 1,
        "connected_calls_per_day": 1,
        "on_hold": 1,
        "opted_out": 2,
        "messages_per_day": 1,
    }
    assert report.refusals_by_reason["holiday_blackout"] == 0
    # C's SMS and D's email in November; A's call in October is outside.
    assert dict(report.opt_outs_by_channel) == {
        "call": 0,
        "sms": 1,
        "email": 1,
        "letter": 0,
        "line": 0,
        "wechat": 0,
    }
    assert report.opt_outs == 2
    shown = report.as_json()["contact"]
    assert shown["attempts_per_case"] == "1.666667"  # type: ignore[index]
    assert shown["right_party_contacts_per_case"] == "1.000000"  # type: ignore[index]
    with app.app_context():
        # wei's cases: C alone. Its email; its refusal in the batch; its SMS opt-out.
        weis = contact(db.session(), OCTOBER_END, OCTOBER_END, Slice(owner_id=book.wei))
        # TWD: A and B (and E, with nothing in November but a refusal not the gate's).
        twd = contact(db.session(), OCTOBER_END, OCTOBER_END, Slice(currency="TWD"))
    assert (weis.attempts, weis.cases, weis.refusals, weis.opt_outs) == (1, 1, 1, 1)
    assert weis.refusals_by_reason["opted_out"] == 1
    # A's 3 and B's 1 attempts, over 2 cases; A's call and message, B's letter refused.
    assert (twd.attempts, twd.cases, twd.refusals, twd.opt_outs) == (4, 2, 3, 0)


def test_funnel(app: Flask) -> None:
    build_book(app)
    with app.app_context():
        # The pair October to November: November's cells.
        report = funnel(db.session(), OCTOBER_END, OCTOBER_END)
    assert (report.first, report.last) == (FIRST, LAST)
    # sent: A, B, C (D's was in October, E's never sent). opened: A, B, C. verified: A, C.
    # options seen: A, C. reviewed: A. accepted (counted plans): A (p1), B (p3, p4),
    # C (p5, p6), D (p7). first payment (activated): A (p1), B (p3), C (p5, p6).
    assert report.steps() == (3, 3, 2, 2, 1, 4, 3)
    # zh_Hant_TW: A and B. zh_Hans_CN: C. en: D (E has nothing counted).
    assert report.steps(language="zh_Hant_TW") == (2, 2, 1, 1, 1, 2, 2)
    assert report.steps(language="zh_Hans_CN") == (1, 1, 1, 1, 0, 1, 1)
    assert report.steps(language="en") == (0, 0, 0, 0, 0, 1, 0)
    # A on a phone (its first event; the tablet came later), C on a desktop, B and D
    # unknown (never verified).
    assert report.steps(device="phone") == (1, 1, 1, 1, 1, 1, 1)
    assert report.steps(device="desktop") == (1, 1, 1, 1, 0, 1, 1)
    assert report.steps(device="tablet") == (0, 0, 0, 0, 0, 0, 0)
    assert report.steps(device="unknown") == (1, 1, 0, 0, 0, 2, 1)
    shown = report.as_json()["funnel"]
    assert shown["steps"][0] == {"step": "reminder_sent", "cases": 3}  # type: ignore[index]
    assert [row["step"] for row in shown["steps"]] == [  # type: ignore[index]
        "reminder_sent",
        "link_opened",
        "verified",
        "options_seen",
        "plan_reviewed",
        "accepted",
        "first_payment",
    ]
    assert list(shown["by_device"]) == ["phone", "tablet", "desktop", "unknown"]  # type: ignore[call-overload]
    assert list(shown["by_language"]) == ["en", "zh_Hans_CN", "zh_Hant_TW"]  # type: ignore[call-overload]
    count_cells(app, OCTOBER_END, OCTOBER_END)
    with app.app_context():
        # October alone (the pair September to October): D's reminder; A's plan p2
        # (23:30 on 31 October).
        october = funnel(db.session(), SEPTEMBER_END, SEPTEMBER_END)
    assert october.steps() == (1, 0, 0, 0, 0, 1, 0)


PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_the_portal_records_its_funnel_steps(app: Flask, client: FlaskClient) -> None:
    """Verifying, the plans page and a plan's review page each leave one case event with
    the device class alone (once per session, however often the page is shown)."""
    built = build_case(app)
    client.environ_base["HTTP_USER_AGENT"] = PHONE
    answer = {"method": "date_of_birth", "answer": built.date_of_birth}
    assert client.post(f"/r/{built.token}", data=answer).status_code == 303
    assert client.get("/plans").status_code == 200
    assert client.get("/plans").status_code == 200
    with app.app_context():
        events = db.session().scalars(
            select_events(built.case_id, ("portal_verified", "options_seen", "plan_reviewed"))
        )
        noted = [(e.kind, e.actor, e.data) for e in events]
    count_cells(app, LAST, LAST)
    with app.app_context():
        report = funnel(db.session(), OCTOBER_END, OCTOBER_END)
    assert noted == [
        ("portal_verified", "borrower", {"device": "phone"}),
        ("options_seen", "borrower", {"device": "phone"}),
    ]
    # The link opened and verified, the options seen, on a phone.
    assert report.steps(device="phone") == (0, 1, 1, 1, 0, 0, 0)


def select_events(case_id: int, kinds: tuple[str, ...]) -> Any:
    return (
        select(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.kind.in_(kinds))
        .order_by(CaseEvent.id)
    )


# The funnel counted by month ----------------------------------------------------------


def _reminder(session: Any, case_id: int, at: datetime) -> Message:
    case = session.get_one(Case, case_id)
    return Message(
        case_id=case_id,
        borrower_id=case.loan.borrower_id,
        channel="sms",
        purpose="reminder",
        link_id=session.scalars(select_link(case_id)).one().id,
        locale="en",
        status="sent",
        send_at=at,
        sent_at=at,
        created_by="system",
        created_at=at,
    )


def _verified(session: Any, case_id: int, at: datetime, device: str) -> list[Any]:
    """A right answer on the case's link and the event the portal writes with it."""
    link = session.scalars(select_link(case_id)).one()
    return [
        VerificationAttempt(
            borrower_id=session.get_one(Case, case_id).loan.borrower_id,
            link_id=link.id,
            address_hash="x",
            succeeded=True,
            at=at,
        ),
        CaseEvent(
            case_id=case_id,
            kind="portal_verified",
            actor="borrower",
            at=at,
            data={"device": device},
        ),
    ]


def funnel_cells(session: Any) -> list[tuple[Any, ...]]:
    """Every funnel cell but its id, sorted."""
    table = FunnelCell.__table__
    columns = [column for column in table.c if column.name != "id"]
    return sorted(session.execute(select(*columns)).all(), key=repr)


def test_the_funnel_slices_a_case_as_it_stood_when_the_month_began(app: Flask) -> None:
    ling = add_staff(app, "ling@haohuan.example", roles=("agent",))
    wei = add_staff(app, "wei@haohuan.example", roles=("agent",))
    a = build_case(app).case_id
    with app.app_context():
        s = db.session()
        # Ling's early case at the end of October; wei's, and later in arrears, now.
        s.get_one(Case, a).owner_id = wei
        s.add(
            CaseMonthEnd(
                month_end=OCTOBER_END,
                case_id=a,
                product="personal",
                currency="TWD",
                market="TW",
                stage="early",
                status="open",
                owner_id=ling,
                team_id=None,
                arm=None,
                days_past_due=20,
                bucket=Bucket.D1_30,
                overdue=10_000,
                balance=100_000,
                overdue_since=None,
                exact=True,
            )
        )
        s.add(_reminder(s, a, taipei(20)))
        s.commit()
    count_cells(app, LAST, LAST)
    with app.app_context():
        s = db.session()

        def sent(chosen: Slice) -> int:
            return funnel(s, OCTOBER_END, OCTOBER_END, chosen).steps()[0]

        # November's reminder is ling's and an early case's: where it stood on 1 November.
        assert sent(Slice(owner_id=ling)) == sent(Slice(stage="early")) == 1
        assert sent(Slice(owner_id=wei)) == 0
        assert sent(Slice()) == 1


def test_a_period_of_two_months_counts_case_months(app: Flask) -> None:
    a, b = build_case(app).case_id, build_case(app, locale="en").case_id
    with app.app_context():
        s = db.session()
        # A verified in October on a phone and in November on a desktop; B was sent a
        # reminder in each month, and two in November.
        s.add_all(_verified(s, a, taipei(10, month=10), "phone"))
        s.add_all(_verified(s, a, taipei(10), "desktop"))
        s.add_all(
            [
                _reminder(s, b, taipei(5, month=10)),
                _reminder(s, b, taipei(5)),
                _reminder(s, b, taipei(6)),
            ]
        )
        s.commit()
    count_cells(app, OCTOBER_END, LAST)
    with app.app_context():
        both = funnel(db.session(), SEPTEMBER_END, OCTOBER_END)
        november = funnel(db.session(), OCTOBER_END, OCTOBER_END)
    assert (both.first, both.last) == (date(2026, 10, 1), LAST)
    # Case-months: A verified in two months, B was sent reminders in two (once each).
    assert both.steps() == (2, 2, 2, 0, 0, 0, 0)
    assert november.steps() == (1, 1, 1, 0, 0, 0, 0)
    # A's device is each month's own: a phone in October, a desktop in November; B has
    # none (unknown).
    assert both.steps(device="phone") == (0, 1, 1, 0, 0, 0, 0)
    assert both.steps(device="desktop") == (0, 1, 1, 0, 0, 0, 0)
    assert both.steps(device="unknown") == (2, 0, 0, 0, 0, 0, 0)
    assert both.steps(language="en") == (2, 0, 0, 0, 0, 0, 0)


def test_counting_a_funnel_month_again_leaves_the_same_cells(app: Flask) -> None:
    build_book(app)
    with app.app_context():
        s = db.session()
        counted = funnel_cells(s)
        written = count_funnel(s, LAST, TAIPEI)
        again = funnel_cells(s)
    assert written == len(counted) > 0
    assert again == counted


def test_a_plan_canceled_after_its_month_leaves_its_accepted_step(app: Flask) -> None:
    """A month whose plans' cells hold a live plan is recounted at every month-end, the
    funnel's with the plans': the cancellation of a plan accepted in September, counted
    live at September's end, is seen at November's end, though the plans' own recount
    then no longer finds it live."""
    a, b = build_case(app).case_id, build_case(app).case_id
    counters = tuple(each for each in monthly.COUNTERS if each.name in ("plans", "funnel"))
    with app.app_context():
        s = db.session()
        active = _plan(a, "arrears_plan", "active", "TWD", taipei(15, month=8))
        pending = _plan(b, "arrears_plan", "pending", "TWD", taipei(15, month=9))
        s.add_all([active, pending])
        s.commit()
        monthly.recount(s, date(2026, 8, 31), SEPTEMBER_END, TAIPEI, counters)
        s.commit()
        assert plans_unsettled(s) == date(2026, 8, 31)
        assert funnel(s, date(2026, 8, 31), date(2026, 8, 31)).steps()[5] == 1
        s.get_one(Plan, pending.id).status = "cancelled"
        monthly.count_month(s, LAST, TAIPEI, counters)
        s.commit()
        assert funnel(s, date(2026, 8, 31), date(2026, 8, 31)).steps()[5] == 0
        # August's plan is still counted (live, and recounted from its month on).
        assert funnel(s, date(2026, 7, 31), date(2026, 7, 31)).steps()[5] == 1
