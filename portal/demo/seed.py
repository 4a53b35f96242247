"""Realistic demo cases: every stage and currency, three languages, and the special
cases a reviewer wants to see (a pre-approved offer, a hold, an arranged plan); the
borrowers' phones, email and postal addresses, in Taipei, Shanghai, Hong Kong and Los
Angeles; and the agent console's demo accounts.

All dates are relative to today, so the demo reads the same whichever day it runs.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from negotiation import Frequency, Hold, PlanKind, Stage, add_months, propose
from portal.access.verification import issue_link
from portal.arrangements.agreement import Choice, ConsentRecord, accept, shown_hash, work_out
from portal.cases import assignment
from portal.cases.facts import policy, snapshot_of
from portal.cases.holds import hold_case
from portal.cases.overdue import borrower_today
from portal.core.hashing import fact_hash, new_salt
from portal.demo.finance import seed_payment_history
from portal.models import (
    AssignmentRule,
    Borrower,
    Case,
    CaseStatus,
    Loan,
    LoanCharge,
    LoanInstallment,
    Offer,
    OfferStatus,
    Payment,
    PaymentStatus,
    Plan,
    StaffMember,
)
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.service import open_payment
from portal.staff.accounts import add_member, change_password, find_member


@dataclass(frozen=True)
class Person:
    """A demo borrower."""

    name: str
    locale: str
    timezone: str
    currency: str


PEOPLE = [
    Person("陳怡君", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("林志明", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("黃淑芬", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("張家豪", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("李美玲", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("王建宏", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("吳佩珊", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("劉俊傑", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("Emily Tsai", "en", "Asia/Taipei", "TWD"),
    Person("Kevin Hsu", "en", "Asia/Taipei", "TWD"),
    Person("王伟", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("李娜", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("张敏", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("刘洋", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("陈静", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("杨帆", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("赵磊", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("黄丽", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("周强", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("Li Wei", "en", "Asia/Shanghai", "CNY"),
    Person("陳嘉欣", "zh_Hant_TW", "Asia/Hong_Kong", "HKD"),
    Person("黃志偉", "zh_Hant_TW", "Asia/Hong_Kong", "HKD"),
    Person("李詠詩", "zh_Hant_TW", "Asia/Hong_Kong", "HKD"),
    Person("張浩然", "zh_Hant_TW", "Asia/Hong_Kong", "HKD"),
    Person("Wong Chi Ming", "en", "Asia/Hong_Kong", "HKD"),
    Person("Chan Ka Yan", "en", "Asia/Hong_Kong", "HKD"),
    Person("Cheung Ho Yin", "en", "Asia/Hong_Kong", "HKD"),
    Person("Lee Wing Sze", "en", "Asia/Hong_Kong", "HKD"),
    Person("蔡雅婷", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("楊宗翰", "zh_Hant_TW", "Asia/Taipei", "TWD"),
    Person("吴婷", "zh_Hans_CN", "Asia/Shanghai", "CNY"),
    Person("Mandy Lau", "en", "Asia/Hong_Kong", "HKD"),
    # Borrowers living in Los Angeles: the contact rules count hours in their own zone.
    Person("林雅惠", "zh_Hant_TW", "America/Los_Angeles", "TWD"),
    Person("Jason Wu", "en", "America/Los_Angeles", "TWD"),
    Person("周晓燕", "zh_Hans_CN", "America/Los_Angeles", "CNY"),
]

# How each name is written in an email address.
ROMAN = {
    "陳怡君": "yijun.chen",
    "林志明": "chihming.lin",
    "黃淑芬": "shufen.huang",
    "張家豪": "chiahao.chang",
    "李美玲": "meiling.li",
    "王建宏": "chienhung.wang",
    "吳佩珊": "peishan.wu",
    "劉俊傑": "chunchieh.liu",
    "王伟": "wei.wang",
    "李娜": "na.li",
    "张敏": "min.zhang",
    "刘洋": "yang.liu",
    "陈静": "jing.chen",
    "杨帆": "fan.yang",
    "赵磊": "lei.zhao",
    "黄丽": "li.huang",
    "周强": "qiang.zhou",
    "陳嘉欣": "kayan.chan",
    "黃志偉": "chiwai.wong",
    "李詠詩": "wingsze.lee",
    "張浩然": "hoyin.cheung",
    "蔡雅婷": "yating.tsai",
    "楊宗翰": "tsunghan.yang",
    "吴婷": "ting.wu",
    "林雅惠": "yahui.lin",
    "周晓燕": "xiaoyan.zhou",
}
# Borrowers with no email on file: reached by phone, SMS or letter only.
NO_EMAIL = frozenset({3, 9, 17, 27})

# Days past due for each person, in order: current, early, mid and late cases.
DAYS_PAST_DUE = [
    0, 4, 9, 17, 26, 38, 52, 75, 12, 98,
    0, 6, 14, 29, 33, 47, 64, 88, 120, 21,
    3, 19, 45, 101, 8, 35, 60, 150, 40, 23,
    11, 70, 45, 62, 38,
]  # fmt: skip

# Typical loan sizes in major units.
LOAN_SIZE = {"TWD": (60_000, 400_000), "CNY": (15_000, 120_000), "HKD": (20_000, 150_000)}
ANNUAL_RATE = {"TWD": Decimal("12.0"), "CNY": Decimal("14.6"), "HKD": Decimal("18.0")}

HOLD_INDEX = 22  # 李詠詩: hardship declared
OFFER_INDEX = 6  # 吳佩珊: a pre-approved offer from an agent
ARRANGED_INDEX = 16  # 赵磊: an active plan, first installment paid
# 李美玲 has a second loan, later behind than her first: one verification shows both.
SECOND_LOAN_INDEX = 4
SECOND_LOAN_DAYS = 44
SECOND_LOAN_NUMBER = "LN-2025-900005"  # outside the numbers the book gives (LN-yyyy-0nnnnn)


@dataclass(frozen=True)
class DemoCase:
    """What ``haohuan demo`` prints for one case."""

    borrower: str
    locale: str
    currency: str
    days_past_due: int
    date_of_birth: str
    id_last4: str
    token: str
    note: str


def seed(db: Session, today: date, rng: random.Random, now: datetime) -> None:
    """Create the demo portfolio if the database has none yet (so re-running is safe)."""
    if db.scalars(select(Borrower.id).limit(1)).first() is not None:
        return
    cases = [
        _seed_case(db, index, person, days, today, rng)
        for index, (person, days) in enumerate(zip(PEOPLE, DAYS_PAST_DUE, strict=True))
    ]
    _seed_second_loan(db, cases[SECOND_LOAN_INDEX], today)
    db.flush()
    # The demo's hardship, declared through the portal's own path: its breathing space
    # ends on the policy's date.
    held = cases[HOLD_INDEX]
    hold_case(db, held, Hold.HARDSHIP.value, "", datetime.combine(today, datetime.min.time(), UTC))
    db.commit()
    _seed_offer(db, cases[OFFER_INDEX], today, now)
    _seed_arranged(db, cases[ARRANGED_INDEX], today, now)
    seed_payment_history(db, cases, now, rng)


def _seed_second_loan(db: Session, first: Case, today: date) -> Case:
    """The second loan of ``first``'s borrower, in the same currency: its own generator,
    so the other named borrowers' figures stay what they were before it was added."""
    person = PEOPLE[SECOND_LOAN_INDEX]
    rng = random.Random(SECOND_LOAN_INDEX)  # noqa: S311 (demo data, not secrets)
    return _seed_loan(
        db, first.loan.borrower, SECOND_LOAN_NUMBER, person, SECOND_LOAN_DAYS, today, rng
    )


def _seed_offer(db: Session, case: Case, today: date, now: datetime) -> None:
    """An agent's pre-approved offer: eight monthly payments, half the penalties waived."""
    db.add(
        Offer(
            case_id=case.id,
            status=OfferStatus.READY,
            terms={
                "kind": "arrears_plan",
                "installments": 8,
                "frequency": "monthly",
                "first_due_date": (today + timedelta(days=3)).isoformat(),
                "penalty_waiver_pct": "50",
            },
            created_by="demo.agent@haohuan.example",
            created_at=now,
            expires_at=now + timedelta(days=7),
        )
    )
    db.commit()


def _seed_arranged(db: Session, case: Case, today: date, now: datetime) -> None:
    """A borrower who accepted a plan and paid its first installment, through the same
    services the portal uses."""
    accept_arrears_plan(db, case, today, now)
    open_payment(db, case, "installment", None, today, now)
    reference = db.scalars(
        select(Payment.gateway_reference).where(Payment.case_id == case.id)
    ).one()
    if reference is None:
        raise RuntimeError("the sandbox gateway gave the demo payment no reference")
    handle(db, GatewayEvent("sandbox", "evt_demo_first", reference, Outcome.SUCCEEDED), now)


def accept_arrears_plan(
    db: Session, case: Case, today: date, now: datetime, first_due: date | None = None
) -> Plan:
    """The borrower accepts the arrears plan proposed to them (paid from ``first_due``
    when given, else from the day proposed), through the services the portal's own pages
    use. Commits."""
    snapshot = snapshot_of(db, case, today)
    proposal = next(
        p for p in propose(snapshot, policy(), today) if p.plan.kind is PlanKind.ARREARS_PLAN
    )
    schedule = proposal.plan
    choice = Choice(
        kind=schedule.kind,
        installments=len(schedule.installments),
        frequency=schedule.frequency,
        first_due_date=first_due or schedule.first_due_date,
    )
    waiver = proposal.conditional_waiver
    if first_due is not None:
        # The schedule from that day, as the page would show it before consent.
        worked = work_out(db, case, today, choice)
        schedule, waiver = worked.schedule or schedule, worked.conditional_waiver
    consent = ConsentRecord(
        "127.0.0.1",
        "demo",
        case.loan.borrower.locale,
        shown_hash(schedule, waiver, case.loan.borrower.locale),
    )
    accepted = accept(db, case, now, today, choice, consent)
    assert accepted.plan is not None  # the demo data is built to allow it  # noqa: S101
    return accepted.plan


def open_stripe_payment(db: Session, plan: Plan, reference: str | None, now: datetime) -> Payment:
    """An open Stripe payment for the plan's first installment, as the Stripe gateway
    records one: ``reference`` is its PaymentIntent id (None until Stripe has made one).
    Added to the session, not committed."""
    payment = Payment(
        case_id=plan.case_id,
        plan_id=plan.id,
        purpose="installment",
        amount=plan.installments[0].amount,
        currency=plan.currency,
        status=PaymentStatus.PENDING if reference else PaymentStatus.CREATED,
        gateway="stripe",
        gateway_reference=reference,
        created_at=now,
    )
    db.add(payment)
    return payment


def overdue_cases(db: Session, count: int, today: date, rng: random.Random) -> list[Case]:
    """``count`` more overdue cases like the demo's, none on hold, numbered after the
    demo portfolio (for load tests). Commits."""
    kinds = [
        (person, days)
        for index, (person, days) in enumerate(zip(PEOPLE, DAYS_PAST_DUE, strict=True))
        if days and index != HOLD_INDEX
    ]
    # Past the demo's numbers, so references never collide and no index is HOLD_INDEX.
    first = max(len(PEOPLE), db.scalar(select(func.count(Borrower.id))) or 0)
    cases = [
        _seed_case(db, first + number, *kinds[number % len(kinds)], today, rng)
        for number in range(count)
    ]
    db.commit()
    return cases


def facts(index: int) -> tuple[date, str]:
    """A fixed date of birth and ID tail per demo borrower, so the printout is stable."""
    birthday = date(1970 + index % 30, 1 + index % 12, 1 + (index * 7) % 28)
    return birthday, f"{(index * 7919 + 1234) % 10000:04d}"


def answers(index: int) -> tuple[date, str]:
    """The verification answers of the ``index``-th demo borrower: the book's borrowers
    (``portal.demo.book``) share those of the named ones, ``index`` modulo their number."""
    return facts(index if index < len(PEOPLE) else index % len(PEOPLE))


def _seed_case(
    db: Session, index: int, person: Person, days: int, today: date, rng: random.Random
) -> Case:
    salt = new_salt()
    birthday, last4 = facts(index)
    borrower = Borrower(
        reference=f"B-{index + 1:05d}",
        full_name=person.name,
        locale=person.locale,
        timezone=person.timezone,
        phone=_phone(index, person),
        email=_email(index, person),
        postal_address=_postal_address(index, person),
        verification_salt=salt,
        date_of_birth_hash=fact_hash(birthday.isoformat(), salt),
        id_last4_hash=fact_hash(last4, salt),
    )
    return _seed_loan(
        db, borrower, f"LN-{2024 + index % 2}-{index + 1:06d}", person, days, today, rng
    )


def _seed_loan(
    db: Session,
    borrower: Borrower,
    number: str,
    person: Person,
    days: int,
    today: date,
    rng: random.Random,
    product: str = "personal",
) -> Case:
    """A loan of ``borrower``'s, ``days`` past due today, and its case."""
    low, high = LOAN_SIZE[person.currency]
    principal = rng.randrange(low, high, 1_000) * 100
    term = rng.choice((12, 18, 24, 36))
    paid = rng.randint(2, max(2, term // 2))
    first_unpaid_due = today - timedelta(days=days) if days else today + timedelta(days=9)
    first_due = add_months(first_unpaid_due, -paid)
    loan = Loan(
        number=number,
        product=product,
        currency=person.currency,
        principal=principal,
        annual_rate_pct=ANNUAL_RATE[person.currency],
        frequency=Frequency.MONTHLY.value,
        start_date=add_months(first_due, -1),
        borrower=borrower,
    )
    step = 100 if person.currency == "TWD" else 1  # Taiwan dollars without cents
    schedule = amortization(principal, term, ANNUAL_RATE[person.currency], step)
    for sequence, (principal_part, interest_part) in enumerate(schedule, start=1):
        due = add_months(first_due, sequence - 1, first_due.day)
        settled = sequence <= paid
        loan.installments.append(
            LoanInstallment(
                sequence=sequence,
                due_date=due,
                principal_due=principal_part,
                interest_due=interest_part,
                principal_paid=principal_part if settled else 0,
                interest_paid=interest_part if settled else 0,
            )
        )
    loan.charges.extend(
        LoanCharge(**row) for row in charges(person.currency, days, schedule[paid:], today)
    )
    case = Case(
        loan=loan,
        stage=Stage.CURRENT,
    )
    db.add_all([borrower, loan, case])
    return case


def _phone(index: int, person: Person) -> str:
    """A phone number written the way the borrower's region writes it (fictional ranges:
    555 in North America, and numbers no carrier hands out elsewhere)."""
    if person.timezone == "America/Los_Angeles":
        return f"+1 213 555 {100 + index:04d}"
    if person.timezone == "Asia/Shanghai":
        return f"+86 139 {5550 + index:04d} {1000 + index:04d}"
    if person.timezone == "Asia/Hong_Kong":
        return f"+852 9{555 - index:03d} {1000 + index}"
    return f"+886 9{index:02d} 555 {1000 + index}"


def _email(index: int, person: Person) -> str | None:
    """An address at the example domain, or None for the few reached without one."""
    if index in NO_EMAIL:
        return None
    local = ROMAN.get(person.name) or ".".join(person.name.lower().split())
    return f"{local}@example.com"


def _postal_address(index: int, person: Person) -> str | None:
    """A postal address in the region's own order, for about half the borrowers (every
    one without an email among them, so a letter can reach them)."""
    if index % 2 and index not in NO_EMAIL:
        return None
    number, floor = 10 + index * 7, 2 + index % 9
    if person.timezone == "America/Los_Angeles":
        return f"{1200 + index} Wilshire Blvd Apt {floor}\nLos Angeles, CA 90017\nUSA"
    if person.timezone == "Asia/Shanghai":
        return f"上海市浦东新区世纪大道 {number} 号 {floor}0{index % 4 + 1} 室\n200120"
    if person.timezone == "Asia/Hong_Kong":
        return f"香港九龍旺角彌敦道 {number} 號 {floor} 樓 A 室"
    return f"106 台北市大安區復興南路一段 {number} 號 {floor} 樓"


def amortization(
    principal: int, term: int, annual_rate: Decimal, step: int
) -> list[tuple[int, int]]:
    """An annuity schedule: (principal, interest) per month, summing to the principal,
    every figure a multiple of ``step``."""
    rate = annual_rate / 100 / 12
    factor = (1 + rate) ** term
    payment = int((principal * rate * factor / (factor - 1)).to_integral_value()) // 100 * 100
    balance, rows = principal, []
    for month in range(term):
        interest = int((balance * rate / step).to_integral_value()) * step
        principal_part = balance if month == term - 1 else payment - interest
        rows.append((principal_part, interest))
        balance -= principal_part
    return rows


# A late fee per missed installment, in each currency's minor units.
LATE_FEE = {"TWD": 30_000, "CNY": 5_000, "HKD": 10_000, "USD": 2_500}


def charges(
    currency: str, days: int, unpaid: list[tuple[int, int]], today: date
) -> list[dict[str, Any]]:
    """A late fee per missed installment and penalties by the policy's monthly rate, as
    the columns of ``LoanCharge`` rows (the book writes them in bulk)."""
    if days == 0:
        return []
    missed = 1 + days // 30
    rows: list[dict[str, Any]] = [
        {
            "kind": "fee",
            "description": "late_fee",
            "amount": LATE_FEE[currency],
            "charged_on": today - timedelta(days=days - 30 * number),
        }
        for number in range(min(missed, len(unpaid)))
    ]
    overdue_principal = sum(p for p, _ in unpaid[:missed])
    months = min(days // 30, 9)
    if months:
        rows.append(
            {
                "kind": "penalty",
                "description": "default_penalty",
                # Whole units of the currency (whole Taiwan dollars), as lenders charge.
                "amount": overdue_principal * 5 // 1000 * months // 100 * 100,
                "charged_on": today - timedelta(days=days % 30),
            }
        )
    return rows


# The consoles' demo accounts: (email, name, roles, capacity, what to try). The first
# three were the demo's from the start; the floor's three agents and its supervisor work
# the book by language and market (``DEMO_RULES``).
@dataclass(frozen=True)
class DemoMember:
    """A demo staff account and what it is there to show."""

    email: str
    name: str
    roles: tuple[str, ...]
    capacity: int
    tries: str


DEMO_STAFF = (
    DemoMember(
        "agent@haohuan.example",
        "Demo Agent",
        ("agent",),
        500,
        "the queue and case pages; shares the English and Traditional Chinese books",
    ),
    DemoMember(
        "supervisor@haohuan.example",
        "Demo Supervisor",
        ("agent", "supervisor"),
        500,
        "offer approvals (/agent/approvals); shares the late-stage book",
    ),
    DemoMember(
        "admin@haohuan.example",
        "Demo Admin",
        ("admin",),
        0,
        "the audit log (/admin/audit), staff and teams (/admin/staff), a policy change to "
        "propose (/admin/policy)",
    ),
    DemoMember(
        "yating.chen@haohuan.example",
        "陳雅婷 Chen Ya-ting",
        ("agent",),
        900,
        "Traditional Chinese borrowers (Taiwan, Hong Kong): /agent/?owner=me",
    ),
    DemoMember(
        "wei.zhang@haohuan.example",
        "张伟 Zhang Wei",
        ("agent",),
        700,
        "Simplified Chinese borrowers (mainland China): /agent/?owner=me",
    ),
    DemoMember(
        "maria.lopez@haohuan.example",
        "Maria Lopez",
        ("agent",),
        600,
        "US borrowers (USD loans, Los Angeles time) and English readers; the disputes "
        "waiting in /agent/?owner=me&needs=yes",
    ),
    DemoMember(
        "kuoming.huang@haohuan.example",
        "黃國明 Huang Kuo-ming",
        ("agent", "supervisor"),
        400,
        "late-stage cases; signs off the disputes' proposed resolutions (on hold: "
        "/agent/?hold=dispute), reassigns cases, and runs the contact strategy "
        "(/agent/strategy: its steps, pause switch and champion against challenger); "
        "the legal track (/agent/legal/approvals; a late Taiwan case is at its payment "
        "order, 支付命令, with its documents, in /agent/?stage=late under its Legal tab); "
        "home visits (/agent/approvals; each case's Home visit tab); partner agencies "
        "(/agent/agencies: place the queue's filter, recall)",
    ),
    DemoMember(
        "chen.zhiming@haohuan.example",
        "陳志明 Chen Chih-ming",
        ("field",),
        0,
        "home visits, on a phone: /field/visits lists the visits he is named on; record the "
        "one set ahead (met or nobody home, a photo of the notice left at the door)",
    ),
    DemoMember(
        "lin.jiahui@haohuan.example",
        "林佳慧 Lin Chia-hui",
        ("field",),
        0,
        "the second visitor on the same visits; every case and console page is closed to her",
    ),
    DemoMember(
        "lin.meihua@haohuan.example",
        "林美華 Lin Mei-hua",
        ("admin",),
        0,
        "the second admin: approves or rejects what admin@ proposes in /admin/policy "
        "(maker-checker), and manages staff, teams and rules",
    ),
)

# The demo's assignment rules: (name, priority, conditions, the agents' emails). The
# first rule a case matches decides (lowest priority first).
DEMO_RULES: tuple[tuple[str, int, dict[str, str], tuple[str, ...]], ...] = (
    (
        "Late stage: senior collectors",
        10,
        {"stage": "late"},
        ("kuoming.huang@haohuan.example", "supervisor@haohuan.example"),
    ),
    ("US dollar loans", 20, {"currency": "USD"}, ("maria.lopez@haohuan.example",)),
    (
        "Los Angeles time",
        25,
        {"timezone": "America/Los_Angeles"},
        ("maria.lopez@haohuan.example",),
    ),
    (
        "English",
        30,
        {"locale": "en"},
        ("maria.lopez@haohuan.example", "agent@haohuan.example"),
    ),
    ("Simplified Chinese", 40, {"locale": "zh_Hans_CN"}, ("wei.zhang@haohuan.example",)),
    (
        "Traditional Chinese",
        50,
        {"locale": "zh_Hant_TW"},
        ("yating.chen@haohuan.example", "agent@haohuan.example"),
    ),
    ("Every case", 100, {}, ("agent@haohuan.example", "supervisor@haohuan.example")),
)


def demo_staff_accounts(db: Session, now: datetime) -> list[tuple[str, str, str]]:
    """Create (or reactivate) the consoles' demo accounts, each with a new random
    password, and return (roles, email, password) for each: printed each run, never a
    known secret. Commits."""
    printed = []
    for demo in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        member = find_member(db, demo.email)
        if member is None:
            member = add_member(db, demo.email, demo.name, list(demo.roles), password, now)
        else:
            member.active = True
            member.away = False
            member.roles = ",".join(demo.roles)
            change_password(db, member, password)
        if demo.capacity:
            member.capacity = demo.capacity
        printed.append((",".join(demo.roles), demo.email, password))
    db.commit()
    return printed


def demo_agents(db: Session) -> list[StaffMember]:
    """The floor's three agents (who made its promises and proposed its resolutions)."""
    return [
        member
        for demo in DEMO_STAFF
        if demo.roles == ("agent",) and demo.email != "agent@haohuan.example"
        for member in [find_member(db, demo.email)]
        if member is not None
    ]


def demo_agent_account(db: Session) -> list[StaffMember]:
    """The demo's own agent account (``agent@haohuan.example``), when it exists."""
    member = find_member(db, "agent@haohuan.example")
    return [member] if member is not None else []


def demo_assignment(db: Session, engine: Engine, now: datetime) -> assignment.AssignRun:
    """Give the demo's cases owners: the demo's rules (each added once, by name), then
    ``haohuan cases assign``'s run. Commits."""
    existing = set(db.scalars(select(AssignmentRule.name)))
    for name, priority, conditions, emails in DEMO_RULES:
        if name in existing:
            continue
        members = [find_member(db, email) for email in emails]
        agents = [m for m in members if m is not None and "agent" in m.role_set]
        if agents:
            assignment.add_rule(db, name, agents, "demo", now, priority=priority, **conditions)
    return assignment.assign(engine, now, "demo")


# Notes for the book's cases whose links the demo prints (``book.Floor.showcase``).
SHOWCASE_NOTES = {
    "dispute": "dispute waiting for its owner",
    "dispute_proposed": "dispute: rejection proposed, for a supervisor to sign off",
    "hardship": "hardship: breathing space running",
    "hardship_ending": "hardship: breathing space ends within days",
    "promise_today": "promise to pay due today",
    "callback": "callback due today",
    "plan": "plan agreed in the portal",
    "los_angeles": "Los Angeles: no calls before 08:00 or after 21:00 there",
}


def demo_links(
    db: Session,
    now: datetime,
    showcase: dict[str, int] | None = None,
    named_notes: dict[int, str] | None = None,
) -> list[DemoCase]:
    """Issue a fresh link for each named demo case, and for the book's cases in
    ``showcase`` (kind: case id), and say how to open each (``named_notes``: what to say
    of a named case, by its id, when something more than its state is to be seen)."""
    named = db.scalars(
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.reference <= f"B-{len(PEOPLE):05d}")
        .order_by(Case.id)
    ).all()
    notes = {case_id: SHOWCASE_NOTES[kind] for kind, case_id in (showcase or {}).items() if case_id}
    named_notes = named_notes or {}
    extra = db.scalars(select(Case).where(Case.id.in_(notes)).order_by(Case.id)).all()
    printed = []
    for index, case in enumerate([*named, *extra]):
        borrower = case.loan.borrower
        birthday, last4 = answers(int(borrower.reference[2:]) - 1)
        offer = db.scalars(
            select(Offer).where(Offer.case_id == case.id, Offer.status == OfferStatus.READY)
        ).first()
        token = issue_link(db, case, now, offer=offer)
        note = notes.get(case.id) or ("on hold (hardship)" if case.hold else "")
        if case.status == CaseStatus.ARRANGED and case.id not in notes:
            note = "arranged: plan active"
        note = named_notes.get(case.id, note)
        if len(borrower.loans) > 1 and not note:
            note = f"one of {len(borrower.loans)} loans: one verification shows them all"
        if offer:
            note = "pre-approved offer"
        if index < len(DAYS_PAST_DUE):
            days = DAYS_PAST_DUE[index]
        else:
            since = case.overdue_since
            days = (borrower_today(borrower.timezone, now) - since).days if since else 0
        printed.append(
            DemoCase(
                borrower=borrower.full_name,
                locale=borrower.locale,
                currency=case.loan.currency,
                days_past_due=days,
                date_of_birth=birthday.isoformat(),
                id_last4=last4,
                token=token,
                note=note,
            )
        )
    return printed
