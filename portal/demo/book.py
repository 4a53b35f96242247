"""The demo's book: 2,000 more cases beside the 35 named borrowers, so a floor of agents
has a day's work in it.

The book spreads like a lender's: borrowers in Taiwan, mainland China, Hong Kong and the
United States (California, Washington, New York, Massachusetts, Texas, Illinois: four
time zones, Los Angeles among them), writing in the three languages, owing in TWD, CNY,
HKD and USD, from current to 240 days past due. On top of that, what a floor meets on a
morning (``seed_floor``, after the daily work has run): plans agreed, promises open, due
today and broken, hardships running and one ending within days, disputes waiting (one
with a resolution proposed for a supervisor to sign off), callbacks due today, and
borrowers who asked for no more SMS, email or calls.

The rows of the book itself (borrowers, loans, installments, charges, cases) are written
with a few bulk INSERTs in one transaction, not one round trip per object; the floor's
few hundred rows go through the services the portal uses. Numbers are drawn from a
random generator of its own, so the 35 named borrowers stay exactly as they were.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, joinedload

from negotiation import Frequency, Hold, add_months
from negotiation.contact import Channel
from negotiation.jurisdiction import derive
from portal.cases import arrears, zones
from portal.cases.facts import policy
from portal.cases.holds import hold_case, propose
from portal.contact.callbacks import schedule_callback
from portal.contact.gate import VALIDATION_NOTICE, record_opt_out
from portal.contact.promises import make_promise
from portal.core.hashing import fact_hash, new_salt
from portal.demo.seed import accept_arrears_plan, amortization, charges, facts
from portal.models import (
    Borrower,
    Case,
    CaseStatus,
    ContactAttempt,
    DisputeReason,
    DisputeResolution,
    Loan,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
    Payment,
    Promise,
    PromiseStatus,
    StaffMember,
)
from portal.models.contact import CallbackSource
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.service import open_payment

BOOK_SIZE = 2_000
# The book's own generator seed: the named borrowers' draws are left as they were.
BOOK_SEED = 20261201
# Rows per INSERT statement (SQLite binds at most 32,766 parameters in one statement).
CHUNK = 1_000

# Typical loan sizes in major units, and yearly rates, per currency.
LOAN_SIZE = {
    "TWD": (60_000, 400_000),
    "CNY": (15_000, 120_000),
    "HKD": (20_000, 150_000),
    "USD": (3_000, 20_000),
}
ANNUAL_RATE = {
    "TWD": Decimal("12.0"),
    "CNY": Decimal("14.6"),
    "HKD": Decimal("18.0"),
    "USD": Decimal("11.5"),
}


@dataclass(frozen=True)
class Place:
    """Where a borrower lives: zone, the address's form, the phone's form."""

    market: str
    timezone: str
    city: str
    state: str = ""
    zip_code: str = ""
    area_code: str = ""


US_PLACES = (
    Place("US", "America/Los_Angeles", "Los Angeles", "CA", "90017", "213"),
    Place("US", "America/Los_Angeles", "San Jose", "CA", "95112", "408"),
    Place("US", "America/Los_Angeles", "Seattle", "WA", "98104", "206"),
    Place("US", "America/New_York", "New York", "NY", "10013", "212"),
    Place("US", "America/New_York", "Boston", "MA", "02111", "617"),
    Place("US", "America/Chicago", "Houston", "TX", "77036", "713"),
    Place("US", "America/Chicago", "Chicago", "IL", "60616", "312"),
)
PLACES = {
    "TW": (Place("TW", "Asia/Taipei", "台北市"), Place("TW", "Asia/Taipei", "台中市")),
    "CN": (Place("CN", "Asia/Shanghai", "上海市"), Place("CN", "Asia/Shanghai", "深圳市")),
    "HK": (Place("HK", "Asia/Hong_Kong", "香港"),),
    "US": US_PLACES,
}
# Of every 100 borrowers: where they live; then, per market, the languages they read
# and the currency of their loan.
MARKETS = (("TW", 40), ("CN", 30), ("HK", 17), ("US", 13))
LANGUAGES = {
    "TW": (("zh_Hant_TW", 85), ("en", 15)),
    "CN": (("zh_Hans_CN", 90), ("en", 10)),
    "HK": (("zh_Hant_TW", 60), ("en", 40)),
    "US": (("en", 55), ("zh_Hant_TW", 25), ("zh_Hans_CN", 20)),
}
CURRENCY = {"TW": "TWD", "CN": "CNY", "HK": "HKD"}
# A US borrower's loan: in dollars when made there, else in the currency of the market
# their family's loan came from (the language they read says which).
US_CURRENCY = {"en": "USD", "zh_Hant_TW": "TWD", "zh_Hans_CN": "CNY"}
# Days past due: current, early (1-30), mid (31-90) and late (91 and more), by weight.
BANDS = (((0, 0), 14), ((1, 30), 36), ((31, 90), 30), ((91, 240), 20))

# Names: (written, romanized) family names and given names per script.
TRADITIONAL_FAMILY = (
    ("陳", "chen"), ("林", "lin"), ("黃", "huang"), ("張", "chang"), ("李", "li"),
    ("王", "wang"), ("吳", "wu"), ("劉", "liu"), ("蔡", "tsai"), ("楊", "yang"),
    ("許", "hsu"), ("鄭", "cheng"), ("謝", "hsieh"), ("郭", "kuo"), ("洪", "hung"),
)  # fmt: skip
TRADITIONAL_GIVEN = (
    ("怡君", "yijun"), ("志明", "chihming"), ("淑芬", "shufen"), ("家豪", "chiahao"),
    ("美玲", "meiling"), ("建宏", "chienhung"), ("佩珊", "peishan"), ("俊傑", "chunchieh"),
    ("雅婷", "yating"), ("宗翰", "tsunghan"), ("詩涵", "shihhan"), ("冠宇", "kuanyu"),
    ("嘉欣", "chiahsin"), ("志偉", "chihwei"), ("淑惠", "shuhui"), ("承恩", "chengen"),
)  # fmt: skip
SIMPLIFIED_FAMILY = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("赵", "zhao"), ("黄", "huang"), ("周", "zhou"), ("吴", "wu"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
)  # fmt: skip
SIMPLIFIED_GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
    ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("军", "jun"),
    ("晓燕", "xiaoyan"), ("建国", "jianguo"), ("丽娟", "lijuan"), ("海涛", "haitao"),
)  # fmt: skip
ENGLISH_GIVEN = (
    "Emily", "Kevin", "Jason", "Amy", "Michael", "Grace", "Daniel", "Sarah", "Eric",
    "Jessica", "Brian", "Michelle", "Andrew", "Vivian", "Ryan", "Cindy", "David", "Karen",
)  # fmt: skip
ENGLISH_FAMILY = (
    "Chen", "Lin", "Wang", "Huang", "Chang", "Wu", "Liu", "Tsai", "Lee", "Chan",
    "Wong", "Cheung", "Lau", "Ng", "Nguyen", "Park", "Garcia", "Kim",
)  # fmt: skip
# How a Hong Kong English name is written: family name first, then the given names.
HONG_KONG_GIVEN = ("Ka Yan", "Chi Ming", "Wing Sze", "Ho Yin", "Tsz Ching", "Siu Fung")


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


@dataclass(frozen=True)
class Drawn:
    """One borrower of the book, as drawn."""

    index: int
    name: str
    email_local: str
    locale: str
    currency: str
    place: Place
    days: int


def draw(index: int, rng: random.Random) -> Drawn:
    """The ``index``-th borrower (numbered after the named ones): market, language,
    currency, name and days past due."""
    market = _weighted(rng, MARKETS)
    place = rng.choice(PLACES[market])
    locale = _weighted(rng, LANGUAGES[market])
    currency = US_CURRENCY[locale] if market == "US" else CURRENCY[market]
    if locale == "zh_Hant_TW":
        (family, family_r), (given, given_r) = (
            rng.choice(TRADITIONAL_FAMILY),
            rng.choice(TRADITIONAL_GIVEN),
        )
        name, local = family + given, f"{given_r}.{family_r}"
    elif locale == "zh_Hans_CN":
        (family, family_r), (given, given_r) = (
            rng.choice(SIMPLIFIED_FAMILY),
            rng.choice(SIMPLIFIED_GIVEN),
        )
        name, local = family + given, f"{given_r}.{family_r}"
    elif market == "HK":
        family_en, given_en = rng.choice(ENGLISH_FAMILY[9:14]), rng.choice(HONG_KONG_GIVEN)
        name = f"{family_en} {given_en}"
        local = f"{given_en.replace(' ', '').lower()}.{family_en.lower()}"
    else:
        given_en, family_en = rng.choice(ENGLISH_GIVEN), rng.choice(ENGLISH_FAMILY)
        name, local = f"{given_en} {family_en}", f"{given_en}.{family_en}".lower()
    (low, high), _ = _weighted(rng, [((band, weight), weight) for band, weight in BANDS])
    days = rng.randint(low, high)
    return Drawn(index, name, f"{local}{index + 1}", locale, currency, place, days)


def _phone(index: int, place: Place) -> str:
    """A fictional number written the way the borrower's region writes it (555 in North
    America; ranges no carrier hands out elsewhere)."""
    if place.market == "US":
        return f"+1 {place.area_code} 555 {index % 10000:04d}"
    if place.market == "CN":
        return f"+86 139 {5550 + index % 4000:04d} {index % 10000:04d}"
    if place.market == "HK":
        return f"+852 9555 {index % 10000:04d}"
    return f"+886 9{index % 100:02d} 555 {index % 10000:04d}"


def _address(index: int, place: Place) -> str | None:
    """A postal address in the region's own order: every US borrower's (it names their
    state, whose rules apply), about half of the others'."""
    if index % 2 and place.market != "US":
        return None
    number, floor = 10 + index % 400, 2 + index % 18
    if place.market == "US":
        return (
            f"{100 + index} Main St Apt {floor}\n{place.city}, {place.state} {place.zip_code}\nUSA"
        )
    if place.market == "CN":
        return f"{place.city}中山路 {number} 号 {floor}0{index % 4 + 1} 室"
    if place.market == "HK":
        return f"香港九龍旺角彌敦道 {number} 號 {floor} 樓 B 室"
    return f"{place.city}中正路 {number} 號 {floor} 樓"


def _insert(db: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT ``rows`` (Core executemany, in chunks: no ORM objects, no RETURNING)."""
    for start in range(0, len(rows), CHUNK):
        db.execute(insert(model.__table__), rows[start : start + CHUNK])


def _named_answers(db: Session, first: int) -> list[tuple[str, str, str]]:
    """The named borrowers' salts and answer hashes, in order. The book's borrowers
    share them (borrower ``i`` those of named borrower ``i % first``): scrypt's cost,
    deliberately high, would make 4,000 more hashes take minutes, and demo answers
    protect nothing."""
    rows = [
        (salt, birthday_hash, last4_hash)
        for salt, birthday_hash, last4_hash in db.execute(
            select(Borrower.verification_salt, Borrower.date_of_birth_hash, Borrower.id_last4_hash)
            .where(Borrower.reference <= f"B-{first:05d}")
            .order_by(Borrower.reference)
        )
    ]
    if len(rows) < first:
        salt = new_salt()
        rows = [
            (salt, fact_hash(birthday.isoformat(), salt), fact_hash(last4, salt))
            for birthday, last4 in [facts(n) for n in range(first)]
        ]
    return rows


def seeded(db: Session, first: int) -> bool:
    """Whether the book is there already (its first borrower exists)."""
    reference = f"B-{first + 1:05d}"
    return db.scalar(select(Borrower.id).where(Borrower.reference == reference)) is not None


def seed_book(db: Session, first: int, today: date, now: datetime, size: int = BOOK_SIZE) -> int:
    """Write the book's ``size`` cases, numbered from ``first`` (after the named ones),
    unless it is there already. Returns how many were written. Commits once."""
    if seeded(db, first):
        return 0
    rng = random.Random(BOOK_SEED)  # noqa: S311 (demo data, not secrets)
    rules = policy()
    shared = _named_answers(db, first)
    people = [draw(first + n, rng) for n in range(size)]
    borrowers: list[dict[str, Any]] = []
    loans: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    schedules = []
    for person in people:
        index = person.index
        salt, birthday_hash, last4_hash = shared[index % len(shared)]
        no_email = index % 11 == 3
        # Everyone without an email has a postal address, so a letter can reach them.
        address = _address(index - index % 2 if no_email else index, person.place)
        borrowers.append(
            {
                "reference": f"B-{index + 1:05d}",
                "full_name": person.name,
                "locale": person.locale,
                "timezone": person.place.timezone,
                "phone": _phone(index, person.place),
                "email": None if no_email else f"{person.email_local}@example.com",
                "postal_address": address,
                "jurisdiction": derive(address, person.place.timezone, person.place.market),
                "verification_salt": salt,
                "date_of_birth_hash": birthday_hash,
                "id_last4_hash": last4_hash,
                "created_at": now,
            }
        )
        low, high = LOAN_SIZE[person.currency]
        principal = rng.randrange(low, high, 100) * 100
        term = rng.choice((12, 18, 24, 36))
        paid = rng.randint(2, max(2, term // 2))
        days = person.days
        first_unpaid_due = (
            today - timedelta(days=days) if days else today + timedelta(days=1 + index % 27)
        )
        first_due = add_months(first_unpaid_due, -paid)
        loans.append(
            {
                "number": f"LN-{2024 + index % 2}-{index + 1:06d}",
                "currency": person.currency,
                "principal": principal,
                "annual_rate_pct": ANNUAL_RATE[person.currency],
                "frequency": Frequency.MONTHLY.value,
                "start_date": add_months(first_due, -1),
                "product": "personal",
            }
        )
        step = 100 if person.currency == "TWD" else 1
        schedule = amortization(principal, term, ANNUAL_RATE[person.currency], step)
        schedules.append((schedule, paid, first_due))
        cases.append(
            {
                "status": CaseStatus.OPEN,
                "stage": rules.stage_for(days),
                "overdue_since": first_unpaid_due if days else None,
                "needs_agent": False,
                "owner_pinned": False,
                "updated_at": now,
            }
        )
    _insert(db, Borrower, borrowers)
    borrower_ids = dict(
        db.execute(
            select(Borrower.reference, Borrower.id).where(
                Borrower.reference >= f"B-{first + 1:05d}"
            )
        ).all()
    )
    for loan, borrower in zip(loans, borrowers, strict=True):
        loan["borrower_id"] = borrower_ids[borrower["reference"]]
    _insert(db, Loan, loans)
    numbers = dict(
        db.execute(
            select(Loan.number, Loan.id).where(Loan.borrower_id >= min(borrower_ids.values()))
        ).all()
    )
    loan_ids = [numbers[loan["number"]] for loan in loans]
    installments: list[dict[str, Any]] = []
    charge_rows: list[dict[str, Any]] = []
    for loan_id, person, (schedule, paid, first_due) in zip(
        loan_ids, people, schedules, strict=True
    ):
        for sequence, (principal_part, interest_part) in enumerate(schedule, start=1):
            settled = sequence <= paid
            installments.append(
                {
                    "loan_id": loan_id,
                    "sequence": sequence,
                    "due_date": add_months(first_due, sequence - 1, first_due.day),
                    "principal_due": principal_part,
                    "interest_due": interest_part,
                    "principal_paid": principal_part if settled else 0,
                    "interest_paid": interest_part if settled else 0,
                    "principal_waived": 0,
                    "interest_waived": 0,
                }
            )
        for charge in charges(person.currency, person.days, schedule[paid:], today):
            charge_rows.append({"loan_id": loan_id, "paid": 0, "waived": 0, **charge})
    for case, loan_id in zip(cases, loan_ids, strict=True):
        case["loan_id"] = loan_id
    _insert(db, LoanInstallment, installments)
    _insert(db, LoanCharge, charge_rows)
    _insert(db, Case, cases)
    # Written in bulk, past the ORM's flush: the queue's stored overdue amounts counted here.
    arrears.refresh(db, loan_ids, now)
    zones.copy(db, loan_ids)  # and each case's copy of its borrower's zone
    db.commit()
    return size


@dataclass
class Floor:
    """What ``seed_floor`` placed on the book, and one case of each kind for the links
    the demo prints (case ids)."""

    plans: int = 0
    promises_open: int = 0
    promises_due_today: int = 0
    promises_broken: int = 0
    hardships: int = 0
    disputes: int = 0
    callbacks_today: int = 0
    opt_outs: int = 0
    showcase: dict[str, int] = field(default_factory=dict)


# How many of each the floor has.
PLANS, PAID_PLANS = 24, 8
OPEN_PROMISES, PROMISES_TODAY, BROKEN_PROMISES = 40, 15, 20
HARDSHIPS, HARDSHIPS_ENDING, DISPUTES, DISPUTES_PROPOSED = 25, 3, 12, 2
CALLBACKS, OPT_OUTS = 30, 45


def _local_moment(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def seed_floor(
    db: Session, first: int, today: date, now: datetime, agents: Sequence[StaffMember]
) -> Floor:
    """A morning's floor on the book's open cases (after the daily work), through the
    portal's services: plans, promises, holds, callbacks and opt-outs. ``agents`` made
    the promises and proposed the disputes' resolutions. Commits once for what needs no
    service of its own, then once per plan, paid installment and proposed resolution (as
    those services do)."""
    floor = Floor()
    if not agents:
        return floor
    rng = random.Random(BOOK_SEED + 1)  # noqa: S311 (demo data, not secrets)
    book = list(
        db.scalars(
            select(Case)
            .join(Loan, Loan.id == Case.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(
                Borrower.reference >= f"B-{first + 1:05d}",
                Case.status == CaseStatus.OPEN,
                Case.hold.is_(None),
                Case.overdue_since.is_not(None),
            )
            .order_by(Case.id)
            .options(joinedload(Case.loan).joinedload(Loan.borrower))
        )
    )
    # Read once, before any commit expires the objects: days overdue, zone, what is owed.
    days = {case.id: (today - case.overdue_since).days for case in book if case.overdue_since}
    zones = {case.id: case.loan.borrower.timezone for case in book}
    addresses = {case.id: case.loan.borrower.postal_address or "" for case in book}
    arrears = dict(
        db.execute(
            select(LoanInstallment.loan_id, func.sum(LoanInstallment.unpaid))
            .where(LoanInstallment.due_date <= today)
            .group_by(LoanInstallment.loan_id)
        ).all()
    )
    owed = {case.id: int(arrears.get(case.loan_id) or 0) for case in book}
    rng.shuffle(book)
    taken = iter(book)

    def pick(count: int, where: Any = None) -> list[Case]:
        chosen: list[Case] = []
        for case in taken:
            if where is None or where(case.id):
                chosen.append(case)
            if len(chosen) == count:
                break
        return chosen

    planned = pick(PLANS, lambda i: 5 <= days[i] <= 80)
    promised = pick(OPEN_PROMISES + PROMISES_TODAY, lambda i: days[i] <= 60)
    broken = pick(BROKEN_PROMISES)
    hardships = pick(HARDSHIPS + HARDSHIPS_ENDING)
    disputed = pick(DISPUTES)
    callbacks = pick(CALLBACKS)
    opted_out = pick(OPT_OUTS)
    los_angeles = pick(1, lambda i: "Los Angeles, CA" in addresses[i])

    # Promises, each made on a connected call a few days ago.
    def promise(case: Case, due: date, made_days_ago: int, agent: StaffMember) -> Promise:
        made = now - timedelta(days=made_days_ago, hours=rng.randint(0, 5))
        attempt = ContactAttempt(
            case_id=case.id,
            borrower_id=case.loan.borrower_id,
            channel=Channel.CALL.value,
            at=made,
            connected=True,
            agent=agent.email,
            outcome="promise",
        )
        db.add(attempt)
        db.flush()
        case.last_contact_at = max(case.last_contact_at or made, made)
        amount = max(owed[case.id], 1)
        return make_promise(db, case, attempt.id, agent.email, made, due, amount)

    for number, case in enumerate(promised):
        agent = agents[number % len(agents)]
        if number < OPEN_PROMISES:
            promise(case, today + timedelta(days=2 + number % 10), 2 + number % 4, agent)
            floor.promises_open += 1
        else:
            promise(case, today, 3 + number % 5, agent)
            floor.promises_due_today += 1
            floor.showcase.setdefault("promise_today", case.id)
    for number, case in enumerate(broken):
        due = today - timedelta(days=1 + number % 6)
        made = promise(case, due, 10, agents[number % len(agents)])
        made.status = PromiseStatus.BROKEN
        made.settled_on = due
        floor.promises_broken += 1

    # Hardships declared in the portal: a few whose breathing space ends within days,
    # the others running; disputes waiting for an agent.
    length = policy().hardship_breathing_space_days
    for number, case in enumerate(hardships):
        ending = number < HARDSHIPS_ENDING
        back = length - 1 - number if ending else 3 + number % 40
        hold_case(db, case, Hold.HARDSHIP.value, "", now - timedelta(days=back))
        floor.hardships += 1
        floor.showcase.setdefault("hardship_ending" if ending else "hardship", case.id)
    reasons = list(DisputeReason)
    for number, case in enumerate(disputed):
        reason = reasons[number % len(reasons)]
        paid = reason is DisputeReason.ALREADY_PAID
        details = "這筆款項我已經繳清了\uff0c收據在這裡\u3002" if paid else ""
        placed = now - timedelta(days=1 + number % 12)
        hold_case(db, case, Hold.DISPUTE.value, details, placed, dispute_reason=reason)
        floor.disputes += 1
    if disputed:
        floor.showcase["dispute"] = disputed[-1].id

    # Callbacks due later today, in the borrower's own daytime.
    for number, case in enumerate(callbacks):
        zone = zones[case.id]
        day = now.astimezone(ZoneInfo(zone)).date()
        due = _local_moment(day, 10 + number % 8, 30 * (number % 2), zone)
        source = CallbackSource.BORROWER if number % 3 else CallbackSource.AGENT
        asked_by = (
            "borrower" if source is CallbackSource.BORROWER else agents[number % len(agents)].email
        )
        schedule_callback(db, case, due, source, asked_by, now - timedelta(hours=20))
        floor.callbacks_today += 1
        floor.showcase.setdefault("callback", case.id)

    # Borrowers who asked for no more messages or calls.
    channels = (Channel.SMS, Channel.EMAIL, Channel.CALL)
    for number, case in enumerate(opted_out):
        channel = channels[number % len(channels)]
        how = "link" if channel is not Channel.CALL else "agent"
        recorded = agents[number % len(agents)].email if how == "agent" else None
        moment = now - timedelta(days=5 + number % 30)
        if record_opt_out(db, case.loan.borrower_id, channel, moment, how, recorded):
            floor.opt_outs += 1
    if los_angeles:
        floor.showcase["los_angeles"] = los_angeles[0].id
        # Its validation notice (US Regulation F) went out by email a week ago, so the
        # hours are what decide its calls; the book's other US borrowers get theirs from
        # the scheduled sender (``haohuan messages send-due``).
        shown = los_angeles[0]
        sent = now - timedelta(days=7)
        db.add(
            Message(
                case_id=shown.id,
                borrower_id=shown.loan.borrower_id,
                channel=Channel.EMAIL.value,
                purpose=VALIDATION_NOTICE,
                address=shown.loan.borrower.email,
                locale=shown.loan.borrower.locale,
                status=MessageStatus.SENT,
                send_at=sent,
                sent_at=sent,
                created_by="system",
                created_at=sent,
            )
        )
    db.commit()

    # Plans agreed in the portal (mid-range arrears), some with the first installment paid.
    for number, case in enumerate(planned):
        plan = accept_arrears_plan(db, case, today, now - timedelta(days=number % 9))
        floor.plans += 1
        if number >= PAID_PLANS:
            continue
        open_payment(db, case, "installment", None, today, now)
        reference = db.scalars(
            select(Payment.gateway_reference).where(Payment.plan_id == plan.id)
        ).first()
        if reference:
            event = GatewayEvent("sandbox", f"evt_book_{case.id}", reference, Outcome.SUCCEEDED)
            handle(db, event, now - timedelta(hours=number))
            floor.showcase.setdefault("plan", case.id)

    # Two disputes with a rejection proposed by an agent, for a supervisor to sign off.
    note = "Statement and ledger agree: the amount is owed."
    for number, case in enumerate(disputed[:DISPUTES_PROPOSED]):
        agent = agents[number % len(agents)]
        propose(db, case, agent, DisputeResolution.REJECTED, note, now - timedelta(hours=2))
        floor.showcase.setdefault("dispute_proposed", case.id)
    return floor


def showcase(db: Session) -> dict[str, int]:
    """One case of each kind ``seed_floor`` laid, found again on a later run (kind: id)."""
    from portal.models import Callback, CallbackStatus, CaseHold, HoldStatus

    first = (
        select(Case.id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
    )
    book = Borrower.reference > "B-00035"
    found = {
        "dispute": first.join(CaseHold, CaseHold.case_id == Case.id).where(
            book, CaseHold.kind == Hold.DISPUTE, CaseHold.status == HoldStatus.ACTIVE
        ),
        "dispute_proposed": first.join(CaseHold, CaseHold.case_id == Case.id).where(
            book, CaseHold.status == HoldStatus.PROPOSED
        ),
        "hardship_ending": first.join(CaseHold, CaseHold.case_id == Case.id)
        .where(book, CaseHold.kind == Hold.HARDSHIP, CaseHold.ended_at.is_(None))
        .order_by(CaseHold.ends_on),
        "hardship": first.join(CaseHold, CaseHold.case_id == Case.id)
        .where(book, CaseHold.kind == Hold.HARDSHIP, CaseHold.ended_at.is_(None))
        .order_by(CaseHold.ends_on.desc()),
        "promise_today": first.join(Promise, Promise.case_id == Case.id)
        .where(book, Promise.status == PromiseStatus.OPEN)
        .order_by(Promise.due_date),
        "callback": first.join(Callback, Callback.case_id == Case.id).where(
            book, Callback.status == CallbackStatus.OPEN
        ),
        "plan": first.where(book, Case.status == CaseStatus.ARRANGED),
        "los_angeles": first.where(
            book, Borrower.postal_address.like("%Los Angeles, CA%"), Case.hold.is_(None)
        ),
    }
    chosen: dict[str, int] = {}
    for kind, query in found.items():
        case_id = next((i for i in db.scalars(query.limit(10)) if i not in chosen.values()), None)
        if case_id is not None:
            chosen[kind] = case_id
    return chosen


@dataclass(frozen=True)
class Counts:
    """The portfolio's size, and how it spreads, for the demo's printout."""

    cases: int
    summary: str


def counts(db: Session) -> Counts:
    """How many cases the demo has, by market, and how many are on hold or arranged."""
    rows = db.execute(
        select(Borrower.jurisdiction, func.count(Case.id))
        .join(Loan, Loan.borrower_id == Borrower.id)
        .join(Case, Case.loan_id == Loan.id)
        .group_by(Borrower.jurisdiction)
    ).all()
    markets: dict[str, int] = {}
    for code, number in rows:
        country = code.partition("-")[0]
        markets[country] = markets.get(country, 0) + number
    held = db.scalar(select(func.count(Case.id)).where(Case.hold.is_not(None))) or 0
    arranged = db.scalar(select(func.count(Case.id)).where(Case.status == CaseStatus.ARRANGED)) or 0
    spread = ", ".join(f"{m} {markets[m]:,}" for m in ("TW", "CN", "HK", "US") if m in markets)
    return Counts(
        sum(markets.values()), f"{spread}; {held} on hold, {arranged} with a plan in force"
    )
