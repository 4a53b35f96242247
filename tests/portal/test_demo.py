"""`haohuan demo`'s data: the 35 named borrowers as they always were, a book of 2,000 more
spread like a lender's, the floor a morning brings, owners for every open case, the
contact strategy's past (today left for the tester's run), and seeding in bulk (a bounded
number of statements, not one round trip per row)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from negotiation import Hold
from negotiation.commission import commission_on
from negotiation.contact import Channel, Recipient
from negotiation.legal import LegalMilestone
from negotiation.policy import PlanKind
from negotiation.portfolio import Bucket, bucket_of
from negotiation.strategy import default_document, load_strategy
from portal.agencies import statements
from portal.contact.gate import judge
from portal.core import db, settings
from portal.demo import book, outcomes, run, seed
from portal.demo import chat as demo_chat
from portal.demo import strategy as history
from portal.demo.agencies import RATE
from portal.demo.funnel import seed_funnel
from portal.demo.history import CLOSED, MONTHS, month_ends, seed_month_ends
from portal.demo.payouts import ACCOUNT
from portal.finance import closing, payouts
from portal.finance.reconcile import reconcile
from portal.finance.reports import finance_timezone
from portal.messaging.service import REDACTED
from portal.models import (
    Agency,
    AgencyPlacement,
    AuditEntry,
    BankDeposit,
    Borrower,
    Callback,
    CallbackStatus,
    Case,
    CaseEvent,
    CaseHold,
    CaseMonthEnd,
    CaseStatus,
    ChatAccount,
    ContactAttempt,
    ExperimentAssignment,
    HoldStatus,
    LegalDocument,
    LegalDocumentKind,
    LegalStep,
    LegalTrack,
    LegalTrackStatus,
    Loan,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
    OptOut,
    Payment,
    PaymentStatus,
    Payout,
    Plan,
    PlannedStatus,
    PlannedStep,
    PlanStatus,
    PortfolioTransition,
    Promise,
    PromiseStatus,
    ReconciliationException,
    ReminderLink,
    SandboxPlant,
    StaffMember,
    StrategyRun,
    VerificationAttempt,
    Waiver,
)
from portal.payments import ledger
from portal.payments.stripe_gateway import StripeSettings
from portal.reporting.arrangements import KINDS
from portal.reporting.book import book_report
from portal.reporting.contact import REASONS, REFUSED_ACTIONS
from portal.reporting.funnel import DEVICE_EVENTS, DEVICES, STEPS, funnel
from portal.reporting.liquidation import liquidation
from portal.reporting.portfolio import Slice, period_ending, roll_rates
from portal.strategy import planner
from tests.portal.conftest import BACKENDS, POSTGRES_URL, backend_url, checked_app
from tests.portal.factories import NOW, TODAY

# The named borrowers' cases: one each, and 李美玲's second loan.
NAMED_CASES = len(seed.PEOPLE) + 1

# The demo is 2,000 cases: prepared once for the module, on PostgreSQL when configured.


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


@pytest.fixture(scope="module")
def demo_app(request, tmp_path_factory) -> Iterator[Flask]:
    """One app for the module's tests, which only read the demo (or, running it again,
    find nothing to add): preparing it is 2,000 cases, several seconds a time."""
    backend = BACKENDS[bool(POSTGRES_URL)]
    url = backend_url(backend, request, tmp_path_factory.mktemp("demo"))
    with checked_app(url, {}) as application:
        yield application


@pytest.fixture(scope="module")
def demo(demo_app, tmp_path_factory):
    """The demo prepared as `haohuan demo` prepares it, with the named borrowers as they
    were before the book was added, and the SQL statements the book's seeding ran."""
    engine = demo_app.extensions["haohuan.engine"]
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

    with pytest.MonkeyPatch.context() as patch, demo_app.test_request_context("/"):
        patch.setattr(book, "seed_book", counted)
        session = db.session()
        seed.seed(session, TODAY, random.Random(run.NAMED_SEED), NOW)
        session.commit()
        before = named_rows(session)
        prepared = run.prepare(session, engine, TODAY, NOW, tmp_path_factory.mktemp("instance"))
        patch.undo()
        yield session, engine, prepared, before, written[0], statements


def test_one_named_borrower_has_two_overdue_loans_in_one_currency(demo):
    session = demo[0]
    borrower = session.scalars(
        select(Borrower).join(Loan).where(Loan.number == seed.SECOND_LOAN_NUMBER)
    ).one()
    cases = [loan.case for loan in sorted(borrower.loans, key=lambda loan: loan.id)]
    assert borrower.full_name == seed.PEOPLE[seed.SECOND_LOAN_INDEX].name
    assert {loan.currency for loan in borrower.loans} == {"TWD"}
    assert all(case.overdue_since is not None for case in cases)
    assert all(case.status != CaseStatus.RESOLVED for case in cases)
    # The printout says so beside each of her links.
    notes = [link.note for link in demo[2].links if link.borrower == borrower.full_name]
    assert len(notes) == 2
    assert all("2 loans" in note for note in notes)


def test_a_named_borrower_linked_line_and_his_reminder_is_in_the_outbox_there(demo):
    session = demo[0]
    borrower = session.scalars(
        select(Borrower).where(Borrower.reference == demo_chat.LINE_BORROWER)
    ).one()
    account = session.scalars(
        select(ChatAccount).where(ChatAccount.borrower_id == borrower.id)
    ).one()
    assert (account.channel, account.status) == ("line", "linked")
    assert account.consented_at is not None
    assert account.terms_version == demo_chat.TERMS_VERSION
    sent = session.scalars(
        select(Message).where(
            Message.case_id == borrower.loans[0].case.id, Message.channel == "line"
        )
    ).all()
    assert len(sent) == 1
    assert sent[0].status in ("sent", "scheduled")
    assert sent[0].address == demo_chat.LINE_USER
    notes = [link.note for link in demo[2].links if link.borrower == borrower.full_name]
    assert any("linked LINE" in note for note in notes)
    # Preparing the demo again links nobody twice.
    assert demo_chat.seed_line_borrower(session, NOW) is None


def test_the_named_borrowers_stay_and_the_book_adds_two_thousand(demo):
    session, _engine, prepared, before, written, statements = demo
    assert written == book.BOOK_SIZE == 2_000
    assert named_rows(session) == before
    firsts = [row[1] for row in before if row[6] != seed.SECOND_LOAN_NUMBER]
    assert firsts == [person.name for person in seed.PEOPLE]
    resolved = select(func.count(Case.id)).where(Case.status == CaseStatus.RESOLVED)
    assert session.scalar(select(func.count(Case.id))) == NAMED_CASES + 2_000 + CLOSED
    assert session.scalar(resolved) == CLOSED  # the reports' past: cases that closed
    assert prepared.counts.cases == NAMED_CASES + 2_000 + CLOSED
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
    # The printout's links: the named cases, then one of each kind the floor laid.
    assert len(prepared.links) == NAMED_CASES + len(prepared.floor.showcase)
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


def test_a_late_taiwan_case_is_on_the_legal_track_up_to_the_payment_order(demo):
    session, *_ = demo
    track = session.scalars(select(LegalTrack)).one()
    steps = session.scalars(
        select(LegalStep.milestone).where(LegalStep.track_id == track.id).order_by(LegalStep.id)
    ).all()
    assert (track.market, track.status, steps) == (
        "TW",
        LegalTrackStatus.ACTIVE,
        [LegalMilestone.DEMAND_LETTER, LegalMilestone.PAYMENT_ORDER],
    )
    fee = session.scalars(
        select(LoanCharge).where(LoanCharge.description == "legal_court_fee")
    ).one()
    assert fee.amount == 50_000
    kinds = set(session.scalars(select(LegalDocument.kind)))
    assert LegalDocumentKind.PAYMENT_ORDER_APPLICATION in kinds


def test_running_the_demo_again_adds_nothing_and_moves_nobody(demo):
    session, engine, prepared, *_ = demo
    count = session.scalar(select(func.count(Case.id)))
    written = prepared.statement.path.read_bytes()
    again = run.prepare(session, engine, TODAY, NOW, prepared.statement.path.parent)
    assert session.scalar(select(func.count(Case.id))) == count
    # The same books, the same bank statement (written over the first).
    assert again.statement == prepared.statement
    assert prepared.statement.path.read_bytes() == written
    assert seed.demo_assignment(session, engine, NOW).changed == 0
    # The links still name one case of each kind, found again.
    assert {link.note for link in again.links} >= set(seed.SHOWCASE_NOTES.values())


def test_the_demos_los_angeles_borrower_may_not_be_called_at_half_past_nine(demo, demo_app):
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
    refused = check(demo_app, "--loan", number, "--channel", "call", "--at", "2026-12-01T21:30")
    assert refused.exit_code == 1, refused.output
    assert answer(refused) == {
        "allowed": False,
        "reasons": ["quiet_hours"],
        "allowed_from": "2026-12-02T08:00:00-08:00",
        "borrower_local_time": "2026-12-01T21:30:00-08:00",
        "jurisdiction": "US-CA",
    }
    morning = check(
        demo_app, "--loan", number, "--channel", "call", "--at", "2026-12-02T08:00-08:00"
    )
    assert answer(morning)["allowed"] is True


def test_the_demos_strategy_has_a_past_and_leaves_today_to_the_tester(demo):
    """The issue's check on a fresh demo: today's run plans every message step of the
    default strategy (the past covers only the days before), a second run plans nothing;
    the past respects the contact caps and keeps no link token; the experiment's arms
    both have cases whose simulated outcomes have matured."""
    session = demo[0]
    # The past: one run a morning before today, its steps planned on the days they fell due.
    days = list(session.scalars(select(StrategyRun.as_of).order_by(StrategyRun.as_of)))
    assert len(days) == history.HISTORY_DAYS
    assert days[-1] == TODAY - timedelta(days=1)
    assert session.scalar(select(func.max(PlannedStep.as_of))) < TODAY
    by_status = Counter(session.scalars(select(PlannedStep.status)))
    assert by_status[PlannedStatus.QUEUED] > 1_000
    assert by_status[PlannedStatus.SKIPPED] > 50  # holds, promises, plans, opened links
    reasons = set(
        session.scalars(select(PlannedStep.reason).where(PlannedStep.reason.is_not(None)))
    )
    assert {"on_hold", "open_promise", "opened"} <= reasons
    # Each past message was sent, with its attempt, in the borrower's language, and no
    # reminder link's token is kept (the sender's redaction).
    sent = session.execute(
        select(Message.id, Message.body, Message.locale, Borrower.locale, Message.borrower_id)
        .join(Borrower, Borrower.id == Message.borrower_id)
        .where(Message.created_by == planner.SYSTEM)
    ).all()
    assert sent
    # Hong Kong readers of Traditional Chinese get its Hong Kong wording.
    assert all(locale[:7] == own[:7] for _id, _body, locale, own, _b in sent)
    for _id, body, *_ in sent:
        assert f"/r/{REDACTED}" in body, body
        assert not re.search(r"/r/[A-Za-z0-9_-]{20,}", body), body
    # (The legal track's final notice, an agent's letter and email, is not the planner's.)
    # (The strategy's own: staff's messages, such as the demo visits' notices, aside.)
    attempts = session.scalar(
        select(func.count(ContactAttempt.id))
        .join(Message, Message.id == ContactAttempt.message_id)
        .where(Message.created_by == planner.SYSTEM)
    )
    assert attempts == len(sent)
    # The caps (2 messages a day, 7 a week) hold for every borrower over the past.
    moments: dict[int, list] = {}
    for borrower_id, at in session.execute(
        select(ContactAttempt.borrower_id, ContactAttempt.at).where(
            ContactAttempt.channel.in_(("sms", "email")), ContactAttempt.inbound.is_(False)
        )
    ):
        moments.setdefault(borrower_id, []).append(at)
    for borrower_moments in moments.values():
        borrower_moments.sort()
        for index, at in enumerate(borrower_moments):
            within_day = [m for m in borrower_moments[index:] if m - at < timedelta(hours=24)]
            within_week = [m for m in borrower_moments[index:] if m - at < timedelta(days=7)]
            assert len(within_day) <= 2, borrower_moments
            assert len(within_week) <= 7, borrower_moments

    # Today: every step with a message channel plans something, calls and letters too.
    strategy = load_strategy(default_document())
    first = planner.run(session, default_document(), TODAY, NOW)
    steps = {
        step.name
        for step in strategy.steps
        if any(channel in planner.MESSAGE_CHANNELS for channel in step.channels)
    }
    assert steps <= set(first.by_step), first.by_step
    assert first.by_step["overdue_5_call"] > 0
    assert first.by_step["mid_letter"] > 0
    assert first.by_variant["day1-plan-first:champion"] > 0
    again = planner.run(session, default_document(), TODAY, NOW)
    assert again.planned == 0
    assert not again.skipped

    # The experiment: cases in both arms, assigned on their first eligible step, and
    # outcomes matured (three days after assignment) in both.
    a = ExperimentAssignment
    mature = NOW - timedelta(days=3)
    rows = session.execute(
        select(a.arm, func.count(a.id)).where(a.assigned_at <= mature).group_by(a.arm)
    ).all()
    cases = dict(rows)
    assert set(cases) == {"champion", "plan-first"}
    assert min(cases.values()) >= 100
    opened = dict(
        session.execute(
            select(a.arm, func.count(func.distinct(a.case_id)))
            .join(ReminderLink, ReminderLink.case_id == a.case_id)
            .join(VerificationAttempt, VerificationAttempt.link_id == ReminderLink.id)
            .where(
                a.assigned_at <= mature,
                VerificationAttempt.succeeded.is_(True),
                VerificationAttempt.at >= a.assigned_at,
            )
            .group_by(a.arm)
        ).all()
    )
    rates = {arm: opened.get(arm, 0) / cases[arm] for arm in cases}
    # Simulated (the README says so): a modest lift for the challenger.
    assert 0.2 < rates["champion"] < rates["plan-first"] < 0.45, rates
    waiting = session.scalar(
        select(func.count(Message.id)).where(
            Message.status == MessageStatus.SCHEDULED, Message.created_by == planner.SYSTEM
        )
    )
    tasks = first.by_channel.get("call", 0) + first.by_channel.get("letter", 0)
    assert waiting == first.planned - tasks


def test_four_named_borrowers_pay_by_autopay_as_the_run_charged_them(demo):
    """The demo's automatic payments (``portal.demo.autopay``): attempts the run made on
    the sandbox's test cards, so the case page, finance and the report show them."""
    from portal.demo import autopay as demo_autopay
    from portal.finance.plan_keeping import plan_keeping
    from portal.models import Autopay, AutopayAttempt, Payment, SavedCard

    session, _engine, prepared, *_ = demo
    found = {}
    for index in (
        demo_autopay.ON,
        demo_autopay.RETRIED,
        demo_autopay.EXPIRED,
        demo_autopay.UPCOMING,
    ):
        case = demo_autopay._case(session, index)
        mandate = session.scalars(
            select(Autopay).join(Plan, Plan.id == Autopay.plan_id).where(Plan.case_id == case.id)
        ).one()
        attempts = session.execute(
            select(AutopayAttempt.number, AutopayAttempt.outcome, SavedCard.last4)
            .join(Payment, Payment.id == AutopayAttempt.payment_id)
            .join(Autopay, Autopay.id == AutopayAttempt.autopay_id)
            .join(SavedCard, SavedCard.id == Autopay.card_id)
            .where(AutopayAttempt.autopay_id == mandate.id)
            .order_by(AutopayAttempt.number)
        ).all()
        found[index] = (
            str(mandate.status),
            str(mandate.ended_because) if mandate.ended_because else None,
            [(number, str(outcome)) for number, outcome, _ in attempts],
        )
    assert found == {
        demo_autopay.ON: ("on", None, [(1, "succeeded")]),
        demo_autopay.RETRIED: ("on", None, [(1, "declined"), (2, "succeeded")]),
        demo_autopay.EXPIRED: ("off", "card_expired", []),
        demo_autopay.UPCOMING: ("on", None, []),
    }
    automatic = session.scalar(
        select(func.count(Payment.id)).where(
            Payment.automatic.is_(True), Payment.status == "succeeded"
        )
    )
    assert automatic == 2
    notes = {link.note for link in prepared.links}
    assert set(demo_autopay.NOTES.values()) <= notes
    report = plan_keeping(session, TODAY - timedelta(days=89), TODAY, ZoneInfo("Asia/Taipei"))
    assert report.autopay.counted == 4  # on at some time: the expired card's too
    assert report.by_hand.counted >= 3


def test_the_demos_portal_funnel_has_every_step(demo):
    """The funnel of the last month counted (November: today is its last day, and the
    history counts its cells after the strategy's past days): every step reached by some
    case, the steps falling off as a portal's do, each case under one device class;
    running the funnel's seeding again adds nothing."""
    session, *_ = demo
    pairs = period_ending(session, TODAY, 1)
    assert pairs is not None
    found = funnel(session, *pairs)
    steps = dict(zip(STEPS, found.steps(), strict=True))
    assert all(steps.values()), steps
    assert steps["reminder_sent"] > steps["verified"] > steps["options_seen"]
    assert steps["options_seen"] > steps["plan_reviewed"]
    devices = {device: found.steps(device=device)[STEPS.index("verified")] for device in DEVICES}
    assert devices["phone"] > devices["desktop"] > devices["tablet"] > 0
    events = session.scalars(select(CaseEvent).where(CaseEvent.kind.in_(DEVICE_EVENTS))).all()
    assert {event.actor for event in events} == {"borrower"}
    assert {event.data["device"] for event in events} == {"phone", "tablet", "desktop"}
    by_case: dict[int, set[str]] = {}
    for row in events:
        by_case.setdefault(row.case_id, set()).add(row.data["device"])
    assert all(len(kinds) == 1 for kinds in by_case.values())
    assert seed_funnel(session, NOW) == 0


def test_the_demo_has_two_years_of_month_ends_that_agree_with_today(demo):
    """The reports' past (``portal.demo.history``): the last 24 month-ends before today,
    every case in the book from its loan's start, each case's last row where the case
    stands, the amounts from its loan, the transitions counted for every pair, and a
    book that moves as books do: most current cases stay current, some roll from 1-30
    to 31-60 and further, some cure, some close."""
    session = demo[0]
    drawn = select(CaseMonthEnd.month_end).where(CaseMonthEnd.exact.is_(False))
    ends = list(session.scalars(drawn.distinct().order_by(CaseMonthEnd.month_end)))
    assert len(ends) >= 24
    assert ends == month_ends(TODAY, MONTHS)
    assert ends[-1] == TODAY.replace(day=1) - timedelta(days=1)
    assert all((end + timedelta(days=1)).day == 1 for end in ends)
    # Today is a month's last day: the daily work wrote it, exactly, from the cases.
    assert set(session.scalars(select(CaseMonthEnd.month_end).where(CaseMonthEnd.exact))) == {TODAY}
    everyone = session.execute(
        select(Case.id, Case.overdue_since, Loan.start_date, Loan.currency, Case.status).join(Loan)
    ).all()
    cases = [case for case in everyone if case.status != CaseStatus.RESOLVED]
    closed = [case for case in everyone if case.status == CaseStatus.RESOLVED]
    rows = session.execute(
        select(
            CaseMonthEnd.month_end,
            CaseMonthEnd.case_id,
            CaseMonthEnd.bucket,
            CaseMonthEnd.days_past_due,
            CaseMonthEnd.currency,
            CaseMonthEnd.overdue,
            CaseMonthEnd.balance,
        ).where(CaseMonthEnd.exact.is_(False))
    ).all()
    by_month: dict = {}
    for row in rows:
        by_month.setdefault(row.month_end, set()).add(row.case_id)
    for end in ends:  # every case open today whose loan had started, and the closed ones
        assert by_month[end] >= {c.id for c in cases if c.start_date <= end}, end
    assert len(by_month[ends[-1]]) == NAMED_CASES + 2_000
    # A case closed in the two years: from its loan's start to the month-end it left after.
    left = 0
    for case in closed:
        present = [end for end in ends if case.id in by_month[end]]
        assert present == [end for end in ends if case.start_date <= end][: len(present)]
        assert ends[-1] not in present
        left += bool(present)
    assert left > 100
    at_last = {row.case_id: row for row in rows if row.month_end == ends[-1]}
    for case_id, overdue_since, _start, currency, _status in cases:
        last = at_last[case_id]
        days = (ends[-1] - overdue_since).days if overdue_since and overdue_since < ends[-1] else 0
        assert (last.days_past_due, last.bucket) == (days, bucket_of(days)), case_id
        assert last.currency == currency
    for row in rows:  # minor units of the loan's currency, owed when overdue
        assert (row.overdue > 0) == (row.days_past_due > 0), row
        assert row.balance >= row.overdue > 0 or row.days_past_due == 0, row
    # Each pair's transitions count every case of its first month-end once, today's too.
    counted = dict(
        session.execute(
            select(PortfolioTransition.month_end, func.sum(PortfolioTransition.cases)).group_by(
                PortfolioTransition.month_end
            )
        ).all()
    )
    assert counted == {end: len(by_month[end]) for end in ends}
    report = roll_rates(session, ends[0], ends[-1], Slice())
    matrix = report.matrix
    assert report.pairs == len(ends)

    def share(start: Bucket, end: Bucket) -> float:
        rate = matrix.rate(start, end).cases
        assert rate is not None
        return float(rate)

    assert share(Bucket.CURRENT, Bucket.CURRENT) > 0.8
    assert 0.05 < share(Bucket.CURRENT, Bucket.D1_30) < 0.2
    assert 0.2 < share(Bucket.D1_30, Bucket.CURRENT) < 0.6  # cured
    assert 0.2 < share(Bucket.D1_30, Bucket.D31_60) < 0.7  # rolled forward
    assert share(Bucket.D61_90, Bucket.D91_180) > 0.5
    assert matrix.cell(Bucket.D91_180, Bucket.D181_PLUS).cases > 10
    assert matrix.column_total(Bucket.CLOSED).cases == left  # each closed case, once
    assert matrix.cell(Bucket.CURRENT, Bucket.CLOSED).cases > left / 2  # most paid off
    # Once: preparing the demo again adds no month-end.
    assert seed_month_ends(session, TODAY) == []
    month_end_rows = session.scalar(select(func.count()).select_from(CaseMonthEnd))
    assert month_end_rows == len(rows) + NAMED_CASES + 2_000


def test_the_demos_past_year_has_plans_promises_and_refusals_of_every_outcome(demo):
    """The page's year on a fresh demo (``portal.demo.outcomes``): plans of every kind kept
    to term, broken and lapsed, settlements among those kept; promises of every outcome;
    refusals for every reason of the contact gate, recorded as the gate records them;
    and the ledger consistent with it all: a kept plan has its payments, which sum to its
    total, and a settlement's discount is written off exactly."""
    session = demo[0]
    period = period_ending(session, TODAY, 12)
    assert period is not None
    report = book_report(session, *period, Slice())
    plans = report.arrangements
    assert plans is not None
    assert report.promises is not None
    assert report.contact is not None
    for kind in KINDS:
        tally = plans.by_kind[kind]
        assert tally.kept > 0, (kind, tally)
        assert tally.lapsed > 0, (kind, tally)
        if kind != PlanKind.PAY_IN_FULL:  # one installment: unpaid, it lapses
            assert tally.broken > 0, (kind, tally)
    assert plans.by_channel["agent_offer"].kept > 0
    assert plans.by_channel["portal"].kept > 0
    assert plans.settlements_kept > 0
    assert plans.settlement_rate is not None
    assert 0 < plans.settlement_rate < 1
    assert any(row.discount > 0 for row in plans.forgone)
    promised = report.promises.total
    assert min(promised.kept, promised.partly_kept, promised.broken, promised.superseded) > 0
    contact = report.contact
    assert all(contact.refusals_by_reason[reason] > 0 for reason in REASONS), contact
    # The funnel falls off from the link on: each plan chosen in the portal was reached.
    steps = dict(zip(STEPS, report.funnel.steps(), strict=True))
    order = ["link_opened", "verified", "options_seen", "plan_reviewed", "accepted"]
    assert [steps[s] for s in order] == sorted((steps[s] for s in order), reverse=True), steps
    # Each cure took contact (``portal.demo.cures``): at least a call, half of them answered.
    cured = report.contacts_per_cure
    assert cured is not None
    assert cured.cures > 0
    assert cured.attempts_per_cure is not None
    assert cured.attempts_per_cure >= 1
    assert cured.right_party_contacts_per_cure is not None
    assert 0 < cured.right_party_contacts_per_cure < cured.attempts_per_cure

    # The ledger: every allocation within what was paid, every payment allocated in full.
    assert ledger.check(session) == []
    paid = dict(
        session.execute(
            select(Payment.plan_id, func.sum(Payment.amount))
            .where(Payment.status == PaymentStatus.SUCCEEDED, Payment.plan_id.is_not(None))
            .group_by(Payment.plan_id)
        ).all()
    )
    waived = dict(
        session.execute(
            select(Waiver.plan_id, func.sum(Waiver.amount)).group_by(Waiver.plan_id)
        ).all()
    )
    kept = session.scalars(select(Plan).where(Plan.status == PlanStatus.COMPLETED)).all()
    assert len(kept) >= sum(plans.by_kind[k].kept for k in KINDS)
    for plan in kept:
        assert paid.get(plan.id) == plan.total == sum(i.paid for i in plan.installments)
        assert all(i.paid == i.amount for i in plan.installments)
        assert waived.get(plan.id, 0) == plan.discount
        assert plan.restructured == plan.total + plan.discount
        assert plan.activated_at is not None
    for plan in session.scalars(select(Plan).where(Plan.status == PlanStatus.LAPSED)):
        assert plan.activated_at is None
        assert plan.id not in paid
        assert plan.installments[0].missed_on is not None
    for plan in session.scalars(select(Plan).where(Plan.status == PlanStatus.BROKEN)):
        assert 0 < paid.get(plan.id, 0) < plan.total
        assert any(i.missed_on is not None for i in plan.installments)
    # A plan that dealt with the whole balance and was kept closed its case; the history
    # closes it the month it was kept.
    whole = (PlanKind.SETTLEMENT, PlanKind.RESTRUCTURE)
    for plan in kept:
        case = session.get_one(Case, plan.case_id)
        if plan.kind in whole:
            assert case.status == CaseStatus.RESOLVED
            last_row = session.scalar(
                select(func.max(CaseMonthEnd.month_end)).where(CaseMonthEnd.case_id == case.id)
            )
            finished = max(i.due_date for i in plan.installments)
            assert last_row is not None
            assert last_row < finished + timedelta(days=1)
    # Promises: what counted toward each, paid by the case's payments in its days.
    for promise in session.scalars(
        select(Promise).where(Promise.made_at < NOW - timedelta(days=60))
    ):
        assert promise.status != PromiseStatus.OPEN
        if promise.status == PromiseStatus.KEPT:
            assert promise.paid == promise.amount
        elif promise.status == PromiseStatus.PARTLY_KEPT:
            assert 0 < promise.paid < promise.amount
        else:
            assert promise.paid == 0

    # The refusals: as the gate writes them (a staff member, the case, the gate's codes).
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(REFUSED_ACTIONS))
    ).all()
    assert {e.action for e in entries} >= {"call.refused", "message.refused", "letter.refused"}
    for entry in entries:
        assert entry.staff_id is not None
        assert entry.case_id is not None
        assert entry.details["reasons"]
        assert set(entry.details["reasons"]) <= set(REASONS)
        if entry.action == "message.refused":
            assert entry.details["channel"] in ("sms", "email")
    # And the gate, asked now about each refused contact at its moment (with the contact
    # log, holds, opt-outs and quiet hours the database holds), refuses it for every
    # reason recorded.
    for entry in entries:
        if entry.staff_id is None:
            continue
        channel = Channel(entry.details.get("channel") or ACTION_CHANNELS[entry.action])
        third = entry.details.get("outcome") == "third_party"
        recipient = Recipient.THIRD_PARTY if third else Recipient.BORROWER
        case = session.get_one(Case, entry.case_id)
        decision = judge(session, case, channel, entry.at, recipient=recipient)
        given = {reason.value for reason in decision.reasons}
        assert set(entry.details["reasons"]) <= given, (entry.action, entry.details, given)
    # Once: preparing the demo again adds none of it.
    assert outcomes.seed_outcomes(session, TODAY, NOW, seed.demo_agents(session)) is None


ACTION_CHANNELS = {"call.refused": "call", "letter.refused": "letter"}


def test_the_demos_liquidation_curves_have_money_in_every_cohort(demo):
    """The liquidation cohorts of the drawn history, counted from what its rows say was
    paid: every cohort of the last year, in each currency, has cases, and every one
    followed a month or more has collected money; the curves never fall and never pass
    100%, and a month after entry part of the arrears, not all, is back."""
    session = demo[0]
    ends = month_ends(TODAY, MONTHS)
    found = liquidation(session, ends[-12], ends[-1], Slice())
    assert set(found.by_currency) == {"CNY", "HKD", "TWD", "USD"}
    for currency, cohorts in found.by_currency.items():
        assert [cohort.entered for cohort in cohorts] == ends[-12:], currency
        for cohort in cohorts:
            assert cohort.cases > 0
            rates = [point.rate for point in cohort.points]
            assert rates == sorted(rates)
            assert all(0 <= rate <= 1 for rate in rates)
            if len(cohort.points) > 1:
                assert cohort.points[-1].collected > 0, (currency, cohort.entered)
    firsts = [c.at(1) for c in found.by_currency["TWD"] if c.at(1) is not None]
    pooled = Fraction(sum(p.recovered for p in firsts), sum(p.overdue for p in firsts))
    assert Fraction(1, 5) < pooled < Fraction(4, 5)


def test_the_demos_sandbox_reconciles_to_its_four_planted_exceptions(demo):
    """`make demo`'s finance user reconciles the sandbox's books and finds each planted
    discrepancy as an exception (``portal.demo.reconciliation``)."""
    session = demo[0]
    plants = session.scalars(select(SandboxPlant)).all()
    assert sorted(p.kind for p in plants) == [
        "not_at_gateway",
        "other_amount",
        "stray_charge",
        "unrecorded_refund",
    ]
    since = min(p.at for p in plants) - timedelta(days=1)
    until = max(p.at for p in plants) + timedelta(days=1)
    found = reconcile(session, StripeSettings.from_config(), since, until, "test", NOW)
    assert found.status == "completed"
    opened = session.scalars(select(ReconciliationException)).all()
    assert sorted((e.kind, e.item.note_code) for e in opened) == [
        ("amount_mismatch", "refunds_differ"),
        ("amount_mismatch", "stripe_charged"),
        ("missing_at_stripe", "no_charge_at_stripe"),
        ("missing_here", "no_payment"),
    ]


def test_the_demos_bank_statement_pays_the_payouts_last_months_run_stores(demo):
    """The statement `haohuan demo` writes into its instance folder (never the repository)
    is last month's, the month of the planted exceptions: reconciling that month stores the
    sandbox's payouts (the demo seeds none), and importing the statement then ticks off
    every payout but the one with a twin deposit, whose two deposits wait for a person, and
    leaves the bank's interest, nobody's. It is read back with the app's own reader."""
    session, _engine, prepared, *_ = demo
    statement = prepared.statement
    assert statement is not None
    repository = Path(__file__).parents[2].resolve()
    assert not statement.path.resolve().is_relative_to(repository)
    zone = settings.current().finance_zone
    plants = session.scalars(select(SandboxPlant)).all()
    assert {closing.month_of(p.at, zone) for p in plants} == {statement.month} == {"2026-10"}
    assert session.scalars(select(Payout).where(~Payout.stripe_id.like("po_sbx_%"))).all() == []
    data = statement.path.read_bytes()
    read = payouts.read_camt053(data)
    listed = statement.payouts
    assert len(listed) > 10
    assert len(read.entries) == len(listed) + 2  # the twin and the interest
    assert {e.account for e in read.entries} == {ACCOUNT}
    assert {e.currency for e in read.entries} == {"CNY", "HKD", "TWD"}
    named = [e for e in read.entries if any(p in e.details for p in listed)]
    assert len(named) == len(listed) - 2  # one by amount and date, one with a twin

    since, until = closing.month_bounds(statement.month, zone)
    run = reconcile(session, StripeSettings.from_config(), since, until, "test", NOW)
    assert run.status == "completed"
    month = select(Payout).where(Payout.created_at >= since, Payout.created_at < until)
    assert sorted(p.stripe_id for p in session.scalars(month)) == sorted(listed)

    result = payouts.import_statement(session, data, statement.path.name, "test", NOW)
    assert (result.added, result.matched) == (len(listed) + 2, len(listed) - 1)
    assert (result.ambiguous, result.unmatched) == (2, 1)
    waiting = [p for p in session.scalars(month) if p.deposit is None]
    assert len(waiting) == 1
    view = payouts.payout_view(session, waiting[0].id)
    assert view is not None
    assert len(view.candidates) == 2  # the person chooses between the twins
    matched = session.scalars(select(BankDeposit).where(BankDeposit.payout_id.is_not(None)))
    by_amount = [d for d in matched if d.payout is not None and d.payout.stripe_id not in d.details]
    assert len(by_amount) == 1
    assert [d.details for d in payouts.waiting_deposits(session) if d not in view.candidates] == [
        "INTEREST"
    ]


def test_the_demos_agency_earns_a_commission_on_its_placed_cases_this_month(demo):
    """`make demo`'s partner agency has payments on its placed cases (one partly
    refunded) and the commission they earned in finance's statement for this month."""
    session = demo[0]
    agency = session.scalars(select(Agency).where(Agency.code == "demo-agency")).one()
    found = statements.statement(session, agency.id, NOW.date(), finance_timezone())
    assert {line.cause.value for line in found.lines} >= {"payment", "refund"}
    # Each placed case's entries add up to the rate on what it kept, rounded once.
    by_case: dict[int, list[int]] = {}
    for line in found.lines:
        by_case.setdefault(line.case_id, [0, 0])
        by_case[line.case_id][0] += line.moved
        by_case[line.case_id][1] += line.commission
    assert all(earned == commission_on(net, RATE) for net, earned in by_case.values())


def test_the_demo_has_a_visit_recorded_from_the_field_and_one_set_ahead(demo):
    from portal.models import HomeVisit, VisitPhoto, VisitStatus

    session, _, prepared, *_ = demo
    visits = session.scalars(select(HomeVisit).order_by(HomeVisit.id)).all()
    assert [visit.status for visit in visits] == [VisitStatus.VISITED, VisitStatus.SCHEDULED]
    recorded, ahead = visits
    # Proposed, approved by another person, noticed in writing, scheduled, recorded.
    assert recorded.approved_by_id != recorded.proposed_by_id
    assert recorded.notice_message_id is not None
    assert recorded.window_first <= recorded.scheduled_for.date() <= recorded.window_last
    assert session.scalars(select(VisitPhoto.visit_id)).all() == [recorded.id]
    assert ahead.noticed_at is not None
    # The two field visitors are printed with the other accounts.
    printed = {email: roles for roles, email, _ in prepared.staff}
    assert printed["chen.zhiming@haohuan.example"] == "field"
    assert printed["lin.jiahui@haohuan.example"] == "field"


def test_the_demo_has_a_partner_agency_with_an_account_and_taiwan_cases_placed(demo):
    session, _engine, prepared, *_ = demo
    printed = {email: roles for roles, email, _password in prepared.staff}
    assert printed["agency@partner.example"] == "agency"
    member = session.scalars(
        select(StaffMember).where(StaffMember.email == "agency@partner.example")
    ).one()
    placed = session.scalars(
        select(AgencyPlacement).where(AgencyPlacement.agency_id == member.agency_id)
    ).all()
    assert placed
    assert {p.currency for p in placed} == {"TWD"}
