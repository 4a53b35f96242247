"""`haohuan demo`'s data: the 35 named borrowers as they always were, a book of 2,000 more
spread like a lender's, the floor a morning brings, owners for every open case, and
seeding in bulk (a bounded number of statements, not one round trip per row)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from negotiation import Hold
from portal.core import db
from portal.demo import book, run, seed
from portal.models import (
    Borrower,
    Callback,
    CallbackStatus,
    Case,
    CaseHold,
    CaseStatus,
    HoldStatus,
    Loan,
    LoanInstallment,
    OptOut,
    Plan,
    Promise,
    PromiseStatus,
    StaffMember,
)
from tests.portal.factories import NOW, TODAY

pytestmark = pytest.mark.one_backend  # seeds 2,000 cases: once, on PostgreSQL when configured


def named_rows(session) -> list[tuple]:
    """What the named borrowers are made of: person, loan and schedule."""
    return [
        tuple(row)
        for row in session.execute(
            select(
                Borrower.reference,
                Borrower.full_name,
                Borrower.locale,
                Borrower.timezone,
                Borrower.phone,
                Borrower.email,
                Loan.number,
                Loan.currency,
                Loan.principal,
                func.count(LoanInstallment.id),
                func.sum(LoanInstallment.principal_due),
            )
            .join(Loan, Loan.borrower_id == Borrower.id)
            .join(LoanInstallment, LoanInstallment.loan_id == Loan.id)
            .where(Borrower.reference <= "B-00035")
            .group_by(Borrower.id, Loan.id)
            .order_by(Borrower.reference)
        )
    ]


@pytest.fixture
def demo(app, monkeypatch):
    """The demo prepared as `haohuan demo` prepares it, with the named borrowers as they
    were before the book was added, and the SQL statements the book's seeding ran."""
    engine = app.extensions["haohuan.engine"]
    statements: list[str] = []
    written: list[int] = []
    seed_book = book.seed_book

    def counted(*args, **kwargs):
        listener = lambda *event_args: statements.append(event_args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            written.append(seed_book(*args, **kwargs))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return written[-1]

    monkeypatch.setattr(book, "seed_book", counted)
    with app.test_request_context("/"):
        session = db.session()
        seed.seed(session, TODAY, random.Random(run.NAMED_SEED), NOW)
        session.commit()
        before = named_rows(session)
        prepared = run.prepare(session, engine, TODAY, NOW)
        yield session, engine, prepared, before, written[0], statements


def test_the_named_borrowers_stay_and_the_book_adds_two_thousand(demo):
    session, _engine, prepared, before, written, statements = demo
    assert written == book.BOOK_SIZE == 2_000
    assert named_rows(session) == before
    assert [row[1] for row in before] == [person.name for person in seed.PEOPLE]
    assert session.scalar(select(func.count(Case.id))) == 35 + 2_000
    assert prepared.counts.cases == 2_035
    # In bulk: a few statements per table, however many rows (about 50,000 here).
    assert len(statements) < 100, len(statements)
    assert sum(1 for s in statements if s.lstrip().upper().startswith("INSERT")) < 80


def test_the_book_spreads_like_a_lenders(demo):
    session = demo[0]
    rows = session.execute(
        select(Borrower.jurisdiction, Borrower.timezone, Borrower.locale, Loan.currency, Case.stage)
        .join(Loan, Loan.borrower_id == Borrower.id)
        .join(Case, Case.loan_id == Loan.id)
        .where(Borrower.reference > "B-00035")
    ).all()
    markets = Counter(code.partition("-")[0] for code, *_ in rows)
    assert set(markets) == {"TW", "CN", "HK", "US"}
    assert min(markets.values()) >= 150
    states = {code for code, *_ in rows if code.startswith("US-")}
    assert {"US-CA", "US-NY", "US-MA", "US-TX", "US-WA", "US-IL"} <= states
    us_zones = {zone for code, zone, *_ in rows if code.startswith("US")}
    assert "America/Los_Angeles" in us_zones
    assert len(us_zones) >= 3
    assert {locale for *_, locale, _c, _s in rows} == {"zh_Hant_TW", "zh_Hans_CN", "en"}
    assert {currency for *_, currency, _s in rows} == {"TWD", "CNY", "HKD", "USD"}
    stages = Counter(stage for *_, stage in rows)
    assert set(stages) == {"current", "early", "mid", "late"}
    assert min(stages.values()) >= 100


def test_the_floor_has_a_mornings_work(demo):
    session, _engine, prepared, *_ = demo
    book_case = select(Case.id).join(Loan).join(Borrower).where(Borrower.reference > "B-00035")
    promises = Counter(
        (status, "today" if due == TODAY else "past" if due < TODAY else "later")
        for status, due in session.execute(
            select(Promise.status, Promise.due_date).where(Promise.case_id.in_(book_case))
        )
    )
    assert promises[(PromiseStatus.OPEN, "later")] >= 10
    assert promises[(PromiseStatus.OPEN, "today")] >= 5
    assert promises[(PromiseStatus.BROKEN, "past")] >= 5
    holds = session.scalars(
        select(CaseHold).where(CaseHold.ended_at.is_(None), CaseHold.case_id.in_(book_case))
    ).all()
    hardships = [h for h in holds if h.kind is Hold.HARDSHIP]
    assert any(h.ends_on - TODAY > timedelta(days=14) for h in hardships)  # running
    assert any(h.ends_on - TODAY <= timedelta(days=3) for h in hardships)  # ending soon
    disputes = [h for h in holds if h.kind is Hold.DISPUTE]
    assert any(h.status is HoldStatus.ACTIVE for h in disputes)  # waiting for an agent
    assert any(h.status is HoldStatus.PROPOSED for h in disputes)  # for a sign-off
    for hold in holds:  # the column every rule reads agrees with the hold's own row
        assert session.get(Case, hold.case_id).hold is hold.kind
    callbacks = session.execute(
        select(Callback.due_at, Borrower.timezone)
        .join(Case, Case.id == Callback.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Callback.status == CallbackStatus.OPEN)
    ).all()
    assert len(callbacks) >= 10
    for due, zone in callbacks:  # today where the borrower lives, in their daytime
        local = due.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
        assert local.date() == NOW.astimezone(ZoneInfo(zone)).date()
        assert 10 <= local.hour < 18
    channels = set(session.scalars(select(OptOut.channel).where(OptOut.lifted_at.is_(None))))
    assert channels == {"sms", "email", "call"}
    plans = session.scalar(
        select(func.count(Plan.id)).where(Plan.case_id.in_(book_case), Plan.status == "active")
    )
    assert plans >= 3
    # The printout's links: the 35 named, then one of each kind the floor laid.
    assert len(prepared.links) == 35 + len(prepared.floor.showcase)
    assert set(prepared.floor.showcase) == set(seed.SHOWCASE_NOTES)


def test_every_open_case_has_an_owner_by_the_rules(demo):
    session = demo[0]
    owners = dict(
        session.execute(
            select(StaffMember.email, func.count(Case.id))
            .join(Case, Case.owner_id == StaffMember.id)
            .where(Case.status != CaseStatus.RESOLVED)
            .group_by(StaffMember.email)
        ).all()
    )
    assert (
        session.scalar(
            select(func.count(Case.id)).where(
                Case.status != CaseStatus.RESOLVED, Case.owner_id.is_(None)
            )
        )
        == 0
    )
    floor = [m.email for m in seed.DEMO_STAFF if "agent" in m.roles]
    assert all(owners.get(email, 0) >= 50 for email in floor), owners
    # Nobody is given more than their capacity.
    for member in session.scalars(select(StaffMember)):
        assert owners.get(member.email, 0) <= member.capacity
    # By the rules: late cases to the senior collectors, mainland readers to Zhang Wei.
    by_case = session.execute(
        select(Case.stage, Borrower.locale, Loan.currency, Borrower.timezone, StaffMember.email)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .join(StaffMember, StaffMember.id == Case.owner_id)
        .where(Case.status != CaseStatus.RESOLVED)
    ).all()
    late = {"kuoming.huang@haohuan.example", "supervisor@haohuan.example"}
    for stage, locale, currency, zone, email in by_case:
        if stage == "late":
            assert email in late
        elif currency == "USD" or zone == "America/Los_Angeles":
            assert email == "maria.lopez@haohuan.example"
        elif locale == "zh_Hans_CN":
            assert email == "wei.zhang@haohuan.example"


def test_running_the_demo_again_adds_nothing_and_moves_nobody(demo):
    session, engine, *_ = demo
    count = session.scalar(select(func.count(Case.id)))
    again = run.prepare(session, engine, TODAY, NOW)
    assert session.scalar(select(func.count(Case.id))) == count
    assert seed.demo_assignment(session, engine, NOW).changed == 0
    # The links still name one case of each kind, found again.
    assert {link.note for link in again.links} >= set(seed.SHOWCASE_NOTES.values())


def test_the_demos_los_angeles_borrower_may_not_be_called_at_half_past_nine(demo, app):
    """The issue's check on the demo's own Los Angeles borrower (jurisdiction derived from
    their address): no call at 21:30 their time, and the next allowed moment is 08:00
    their next morning; a letter may go."""
    from tests.portal.test_jurisdiction_contact import answer, check

    session, _engine, prepared, *_ = demo
    case = session.get(Case, prepared.floor.showcase["los_angeles"])
    borrower = case.loan.borrower
    assert borrower.timezone == "America/Los_Angeles"
    assert "Los Angeles, CA" in (borrower.postal_address or "")
    number = case.loan.number
    refused = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-01T21:30")
    assert refused.exit_code == 1, refused.output
    assert answer(refused) == {
        "allowed": False,
        "reasons": ["quiet_hours"],
        "allowed_from": "2026-12-02T08:00:00-08:00",
        "borrower_local_time": "2026-12-01T21:30:00-08:00",
        "jurisdiction": "US-CA",
    }
    morning = check(app, "--loan", number, "--channel", "call", "--at", "2026-12-02T08:00-08:00")
    assert answer(morning)["allowed"] is True
