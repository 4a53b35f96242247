"""The demo's past outcomes, so the portfolio page's plans kept, settlement rate, promises
and refusals by reason mean something on a fresh demo: over the last ``MONTHS`` months,
plans of every kind kept to term, broken and lapsed (settlements among them), promises
kept, partly kept, broken and superseded, and contacts the contact gate refused for each
of its reasons.

**Consistent with the ledger.** Every installment of a plan that was paid has its
succeeded payment, allocated (interest before principal, oldest first, as the waterfall
allocates overdue money) to loan installments that the book shows paid, never beyond what
they show; so ``portal.payments.ledger.check`` finds nothing, and each plan's paid
installments, its payments and their allocations sum to the same minor units. A plan kept
to term is paid in full. The cases:

* a plan kept to term that dealt with the whole balance (a settlement, a restructure)
  ended its loan, so it sits on a case that closed in the two years
  (``portal.demo.history.seed_closed``); a settlement's discount is written off the
  loan's last installments as the payment service writes it on completion (``Waiver``
  rows, earned on completion), and the history closes the case the month its plan was
  kept;
* every other plan and every promise sits on an open case of the book untouched by the
  morning's floor (no plan, promise, payment or hold of its own), over installments of
  the loan that were overdue when the plan or promise was made and are paid now: the
  borrower kept the plan, and later fell behind again.

**Refusals** are judged by the contact rules' own engine (``negotiation.contact.may_contact``)
on the borrower's place, time zone, holds, opt-outs and quiet hours, with the contact
attempts that led to a cap written into the log first; each is recorded as the portal
records one (``call.refused``, ``message.refused``, ``letter.refused``: the actor, the
case and every reason the engine gave). A refusal for a hold or an opt-out follows the
floor's own holds and opt-outs; the others fall before the contact strategy's past
(``portal.demo.strategy``), so no attempt of it is missing from what the engine judged.
A third party is never the gate's question in the portal's own pages yet: those refusals
stand for an agent's call to a relative (a call outcome the agent logs).

**Simulated**: drawn from a generator of its own (the same past every run), so the
book's, the named borrowers' and the other histories' draws stay as they were. Written
once: a database that has any of it gets nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from negotiation import Hold, add_months
from negotiation.contact import (
    Channel,
    ContactHistory,
    ContactRefusal,
    ContactRequest,
    ContactRules,
    QuietWindow,
    Recipient,
    may_contact,
    narrowed,
)
from negotiation.contact import ContactAttempt as Attempt
from negotiation.policy import PlanKind
from portal.arrangements.agreement import TERMS_VERSION
from portal.audit import trail
from portal.cases.facts import policy
from portal.contact.gate import VALIDATION_NOTICE, rules_for
from portal.core.hashing import new_token, token_hash
from portal.demo.funnel import steps_before_plans
from portal.models import (
    Allocation,
    Borrower,
    Case,
    CaseEvent,
    CaseHold,
    CaseStatus,
    Consent,
    ContactAttempt,
    Loan,
    LoanInstallment,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    OptOut,
    Payment,
    PaymentStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    QuietHours,
    ReminderLink,
    StaffMember,
    VerificationAttempt,
    Waiver,
)

OUTCOMES_SEED = 20261208
# How far back the outcomes reach: the default year of the portfolio page.
MONTHS = 11
# The payments' gateway references start so: how a later run knows the past is written.
REFERENCE = "demo_past_"
KEPT, BROKEN, LAPSED = PlanStatus.COMPLETED, PlanStatus.BROKEN, PlanStatus.LAPSED
# (kind, how it ended, how many): on a closed case when kept and dealing with the whole
# balance, else on an open one.
PLANS = (
    (PlanKind.ARREARS_PLAN, KEPT, 30),
    (PlanKind.ARREARS_PLAN, BROKEN, 16),
    (PlanKind.ARREARS_PLAN, LAPSED, 10),
    (PlanKind.DEFERRAL, KEPT, 10),
    (PlanKind.DEFERRAL, BROKEN, 4),
    (PlanKind.DEFERRAL, LAPSED, 4),
    (PlanKind.PAY_IN_FULL, KEPT, 14),
    (PlanKind.PAY_IN_FULL, LAPSED, 6),
    (PlanKind.RESTRUCTURE, KEPT, 6),
    (PlanKind.RESTRUCTURE, BROKEN, 5),
    (PlanKind.RESTRUCTURE, LAPSED, 3),
    (PlanKind.SETTLEMENT, KEPT, 22),
    (PlanKind.SETTLEMENT, BROKEN, 5),
    (PlanKind.SETTLEMENT, LAPSED, 8),
)
# Installments per kind (fewest, most); a deferral is the arrears paid later at once.
INSTALLMENTS = {
    PlanKind.ARREARS_PLAN: (3, 6),
    PlanKind.DEFERRAL: (1, 1),
    PlanKind.PAY_IN_FULL: (1, 1),
    PlanKind.RESTRUCTURE: (4, 6),
    PlanKind.SETTLEMENT: (1, 3),
}
# A settlement's discount, in percent of what it settled (fewest, most).
DISCOUNT_PERCENT = (15, 35)
# Of the plans, every how-manyth came from an agent's offer (the others: the portal).
OFFERED_EVERY = 3
# Promises: (how they stood, how many); each superseded one has a newer promise after it.
PROMISES = (
    (PromiseStatus.KEPT, 40),
    (PromiseStatus.PARTLY_KEPT, 20),
    (PromiseStatus.BROKEN, 30),
    (PromiseStatus.SUPERSEDED, 12),
)
# Refusals per reason of the gate.
REFUSALS_PER_REASON = 8
# The contact strategy's past (``portal.demo.strategy``) is this many days at most: the
# refusals that a cap decides fall before it.
STRATEGY_PAST_DAYS = 70
CHUNK = 1_000
EVENTS = cast(Table, CaseEvent.__table__)


@dataclass
class _Loan:
    """An open or closed case and its loan, as the seeding reads it."""

    case_id: int
    loan_id: int
    borrower_id: int
    currency: str
    closed: bool
    jurisdiction: str
    timezone: str
    locale: str
    hold: str | None
    # (id, sequence, due date, interest due, principal due, interest paid, principal paid)
    installments: list[tuple[int, int, date, int, int, int, int]] = field(default_factory=list)

    def paid_through(self) -> int:
        """How many installments from the first are paid in full now."""
        count = 0
        for item in self.installments:
            if item[5] < item[3] or item[6] < item[4]:  # interest or principal still owed
                break
            count += 1
        return count


@dataclass(frozen=True)
class Written:
    """How many of each were written: plans by (kind, status), promises by status (a
    superseded one's newer promise not counted), refusals by the reason meant."""

    plans: dict[tuple[str, str], int]
    promises: dict[str, int]
    refusals: dict[str, int]


def seed_outcomes(
    db: Session, today: date, now: datetime, agents: Sequence[StaffMember]
) -> Written | None:
    """Write the past outcomes (see the module's docstring) unless they are there. Commits."""
    marked = select(Payment.id).where(Payment.gateway_reference.like(f"{REFERENCE}%")).limit(1)
    if not agents or db.scalar(marked) is not None:
        return None
    rng = random.Random(OUTCOMES_SEED)  # noqa: S311 (demo data, not secrets)
    loans = _loans(db)
    busy = _busy(db)
    free_open = [x for x in loans if not x.closed and x.case_id not in busy and x.hold is None]
    closed = [x for x in loans if x.closed and x.case_id not in busy]
    rng.shuffle(free_open)
    rng.shuffle(closed)
    since = add_months(today, -MONTHS)
    last_month_end = today.replace(day=1) - timedelta(days=1)
    plans = _Plans(db, rng, since, today, last_month_end, agents)
    for kind, status, count in PLANS:
        pool = closed if status is KEPT and kind.covers_whole_balance else free_open
        plans.write(kind, status, count, pool)
    _portal_visits(db, rng, {loan.case_id: loan for loan in loans}, plans.used)
    promised = _promises(db, rng, free_open, plans.used, since, today, agents)
    refused = _refusals(db, rng, loans, busy | plans.used, since, today, now, agents)
    db.commit()
    return Written(plans.written, promised, refused)


def _loans(db: Session) -> list[_Loan]:
    rows = db.execute(
        select(
            Case.id,
            Loan.id,
            Loan.borrower_id,
            Loan.currency,
            Case.status,
            Borrower.jurisdiction,
            Borrower.timezone,
            Borrower.locale,
            Case.hold,
        )
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.reference > "B-00035")
        .order_by(Case.id)
    ).all()
    loans = {
        row[1]: _Loan(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4] == CaseStatus.RESOLVED,
            *row[5:8],
            str(row[8]) if row[8] else None,
        )
        for row in rows
    }
    installments = db.execute(
        select(
            LoanInstallment.loan_id,
            LoanInstallment.id,
            LoanInstallment.sequence,
            LoanInstallment.due_date,
            LoanInstallment.interest_due,
            LoanInstallment.principal_due,
            LoanInstallment.interest_paid,
            LoanInstallment.principal_paid,
        )
        .where(LoanInstallment.loan_id.in_(select(Case.loan_id)))
        .order_by(LoanInstallment.loan_id, LoanInstallment.sequence)
    )
    for loan_id, *item in installments:
        if loan_id in loans:
            loans[loan_id].installments.append(cast(Any, tuple(item)))
    return list(loans.values())


def _busy(db: Session) -> set[int]:
    """Cases the floor or the named borrowers' seeding already gave a plan, a promise, a
    payment or a hold: left as they are."""
    busy: set[int] = set()
    for column in (Plan.case_id, Promise.case_id, Payment.case_id, CaseHold.case_id):
        busy.update(db.scalars(select(column).distinct()))
    return busy


def _local(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def _split(total: int, parts: int, step: int) -> list[int]:
    """``total`` in ``parts`` installments, each a multiple of ``step`` but the last,
    which takes what is left (they sum to ``total`` exactly)."""
    base = total // parts // step * step
    return [base] * (parts - 1) + [total - base * (parts - 1)]


def _step(currency: str) -> int:
    return 100 if currency == "TWD" else 1


class _Rooms:
    """What allocations may still take from a loan's installments: what each component
    shows paid, less what is allocated already (by the waterfall's order: every
    installment's interest, then every principal, oldest first)."""

    def __init__(self, loan: _Loan, first: int, last: int) -> None:
        chosen = [i for i in loan.installments if first <= i[1] <= last]
        self.items: list[list[Any]] = [["interest", i[0], i[5]] for i in chosen] + [
            ["principal", i[0], i[6]] for i in chosen
        ]

    @property
    def left(self) -> int:
        return sum(item[2] for item in self.items)

    def take(self, amount: int) -> list[tuple[str, int, int]]:
        """Allocations of ``amount`` (target, installment id, amount), summing to it."""
        taken: list[tuple[str, int, int]] = []
        for item in self.items:
            share = min(amount, item[2])
            if share:
                taken.append((item[0], item[1], share))
                item[2] -= share
                amount -= share
        if amount:
            raise ValueError("more money than the installments show paid")
        return taken


class _Plans:
    """The past plans, written one spec at a time."""

    def __init__(
        self,
        db: Session,
        rng: random.Random,
        since: date,
        today: date,
        last_month_end: date,
        agents: Sequence[StaffMember],
    ) -> None:
        self.db, self.rng, self.since, self.today = db, rng, since, today
        self.last_month_end = last_month_end
        self.agents = agents
        rules = policy()
        self.grace, self.misses = rules.grace_days, rules.misses_before_broken
        self.written: dict[tuple[str, str], int] = {}
        # Cases given a plan here (the promises take others).
        self.used: set[int] = set()
        self.count = 0

    def write(self, kind: PlanKind, status: PlanStatus, count: int, pool: list[_Loan]) -> None:
        made = 0
        for loan in pool:
            if made == count:
                break
            if loan.case_id in self.used:
                continue
            if self._one(loan, kind, status):
                self.used.add(loan.case_id)
                made += 1
        self.written[(kind.value, status.value)] = made

    def _one(self, loan: _Loan, kind: PlanKind, status: PlanStatus) -> bool:
        """One plan of ``kind`` ending ``status`` on ``loan``, if its history allows it."""
        rng, installments = self.rng, loan.installments
        paid_through = len(installments) if loan.closed else loan.paid_through()
        whole = kind.covers_whole_balance
        low, high = INSTALLMENTS[kind]
        # A plan breaks only once started: it has an installment after its first.
        parts = max(rng.randint(low, high), 2 if status is BROKEN else 1)
        step = _step(loan.currency)
        percent = rng.randint(*DISCOUNT_PERCENT)
        tries = list(range(2, paid_through + 1))
        rng.shuffle(tries)
        for first in tries:
            # The installments the plan deals with: from ``first`` to the last overdue
            # at acceptance (one or two), or to the loan's end for the whole balance.
            last_overdue = min(first + rng.choice((0, 0, 1)), paid_through)
            accepted_day = installments[last_overdue - 1][2] + timedelta(days=rng.randint(6, 25))
            start = accepted_day + timedelta(days=7)
            dues = [add_months(start, n, start.day) for n in range(parts)]
            limit = self.last_month_end - timedelta(days=5) if loan.closed else self.today
            if accepted_day < self.since or dues[-1] + timedelta(days=self.grace + 3) >= limit:
                continue
            if not whole and last_overdue >= len(installments):
                continue
            last = len(installments) if whole else last_overdue
            chosen = [i for i in installments if first <= i[1] <= last]
            restructured = sum(i[3] + i[4] for i in chosen)
            discount = 0
            if kind is PlanKind.SETTLEMENT:
                discount = restructured * percent // 100 // step * step
            amounts = _split(restructured - discount, parts, step)
            paid_count = self._paid_count(status, parts)
            # The money goes only where the book shows it paid (a closed loan's discount
            # is taken off what it shows paid first).
            if sum(amounts[:paid_count]) > _Rooms(loan, first, last).left - (
                discount if status is KEPT else 0
            ):
                continue
            self._write(
                loan, kind, status, (first, last), accepted_day, dues, amounts, discount,
                paid_count,
            )  # fmt: skip
            return True
        return False

    def _paid_count(self, status: PlanStatus, parts: int) -> int:
        """How many installments were paid: all when kept; when broken, at least the
        first and none of the misses that broke it; none when it lapsed."""
        if status is KEPT:
            return parts
        if status is LAPSED:
            return 0
        return max(1, parts - self.misses - self.rng.randint(0, 1))

    def _write(
        self,
        loan: _Loan,
        kind: PlanKind,
        status: PlanStatus,
        span: tuple[int, int],
        accepted_day: date,
        dues: list[date],
        amounts: list[int],
        discount: int,
        paid_count: int,
    ) -> None:
        db, rng, zone = self.db, self.rng, loan.timezone
        first, last = span
        total = sum(amounts)
        accepted = _local(accepted_day, rng.randint(9, 20), rng.randint(0, 59), zone)
        self.count += 1
        agent = self.agents[self.count % len(self.agents)]
        offer_id = None
        if self.count % OFFERED_EVERY == 0:
            offer_id = self._offer(loan, kind, dues, total + discount, discount, agent, accepted)
        # Missed: the misses that broke it (or the last installment), or the first, which
        # lapsed it; nothing is marked after the plan ended.
        misses = {
            KEPT: 0,
            BROKEN: min(self.misses, len(dues) - paid_count),
            LAPSED: 1,
        }[status]
        plan = Plan(
            case_id=loan.case_id,
            offer_id=offer_id,
            status=status,
            kind=kind.value,
            frequency="monthly" if len(dues) > 1 else None,
            currency=loan.currency,
            restructured=total + discount,
            total=total,
            discount=discount,
            conditional_waiver=bool(discount),
            accepted_at=accepted,
        )
        plan.installments = [
            PlanInstallment(
                sequence=n,
                due_date=due,
                amount=amount,
                paid=amount if n <= paid_count else 0,
                missed_on=(
                    due + timedelta(days=self.grace)
                    if paid_count < n <= paid_count + misses
                    else None
                ),
            )
            for n, (due, amount) in enumerate(zip(dues, amounts, strict=True), start=1)
        ]
        db.add(plan)
        db.add(
            Consent(
                plan=plan, at=accepted, ip_address="127.0.0.1", user_agent="demo",
                locale=loan.locale, terms_version=TERMS_VERSION, shown_hash="demo",
            )
        )  # fmt: skip
        db.flush()
        rooms = _Rooms(loan, first, last)
        if status is KEPT and discount:
            kept_on = _local(dues[-1], 12, 0, zone)
            db.add_all(self._write_off(loan, (first, last), discount, plan.id, kept_on, rooms))
        events = [
            _event(loan, "plan_accepted", "borrower", accepted, plan_kind=kind.value, total=total)
        ]
        finished = accepted
        for item in plan.installments[:paid_count]:
            confirmed = _local(item.due_date - timedelta(days=rng.randint(0, 4)), 12, 0, zone)
            finished = confirmed = max(confirmed, finished + timedelta(hours=1))
            reference = f"{REFERENCE}{plan.id}_{item.sequence}"
            _pay(db, loan, rooms, item.amount, confirmed, reference, "installment", plan.id)
            if item.sequence == 1:
                plan.activated_at = confirmed
        if status is KEPT:
            events.append(_event(loan, "plan_completed", "system", finished, plan_id=plan.id))
        else:
            missed_on = max(i.missed_on for i in plan.installments if i.missed_on is not None)
            ended = _local(missed_on, 6, 0, zone)
            happened = "plan_broken" if status is BROKEN else "plan_lapsed"
            events.append(_event(loan, happened, "system", ended, plan_id=plan.id))
        db.execute(insert(EVENTS), events)

    def _offer(
        self,
        loan: _Loan,
        kind: PlanKind,
        dues: list[date],
        restructured: int,
        discount: int,
        agent: StaffMember,
        accepted: datetime,
    ) -> int:
        """The agent's offer the borrower took, a day before, with its terms as stored."""
        offer = Offer(
            case_id=loan.case_id,
            status=OfferStatus.ACCEPTED,
            terms={
                "kind": kind.value,
                "first_due_date": dues[0].isoformat(),
                "installments": len(dues),
                "frequency": "monthly",
                "down_payment": None,
                "penalty_waiver_pct": "0",
                "fee_waiver_pct": "0",
                "settlement_discount_pct": str(discount * 100 // max(restructured, 1)),
                "interest_rate_pct": "0",
            },
            created_by=agent.email,
            created_at=accepted - timedelta(days=1),
            expires_at=accepted + timedelta(days=6),
        )
        self.db.add(offer)
        self.db.flush()
        return offer.id

    def _write_off(
        self,
        loan: _Loan,
        span: tuple[int, int],
        discount: int,
        plan_id: int,
        at: datetime,
        rooms: _Rooms,
    ) -> list[Waiver]:
        """The settlement's discount written off the last installments back, as the
        payment service does on completion: what was shown paid on them becomes waived
        (the book marked the closed loan paid in full), and allocations keep off it."""
        first, last = span
        waivers: list[Waiver] = []
        left = discount
        by_id = {item[0]: item for item in loan.installments}
        for installment_id in [i[0] for i in loan.installments if first <= i[1] <= last][::-1]:
            _id, _seq, _due, interest, principal, _ip, _pp = by_id[installment_id]
            for target, due in (("interest", interest), ("principal", principal)):
                share = min(left, due)
                if not share:
                    continue
                left -= share
                waivers.append(
                    Waiver(
                        plan_id=plan_id, earned_by="completion", target=target,
                        installment_id=installment_id, amount=share, granted_at=at,
                    )
                )  # fmt: skip
                row = self.db.get_one(LoanInstallment, installment_id)
                if target == "interest":
                    row.interest_paid -= share
                    row.interest_waived += share
                else:
                    row.principal_paid -= share
                    row.principal_waived += share
                for item in rooms.items:
                    if item[0] == target and item[1] == installment_id:
                        item[2] -= share
            if not left:
                break
        return waivers


def _pay(
    db: Session,
    loan: _Loan,
    rooms: _Rooms,
    amount: int,
    confirmed: datetime,
    reference: str,
    purpose: str,
    plan_id: int | None = None,
) -> None:
    """A payment the sandbox gateway confirmed at ``confirmed``, allocated in full."""
    payment = Payment(
        case_id=loan.case_id,
        plan_id=plan_id,
        purpose=purpose,
        amount=amount,
        currency=loan.currency,
        status=PaymentStatus.SUCCEEDED,
        gateway="sandbox",
        gateway_reference=reference,
        created_at=confirmed - timedelta(minutes=3),
        confirmed_at=confirmed,
    )
    db.add(payment)
    db.flush()
    db.add_all(
        Allocation(
            payment_id=payment.id,
            target=target,
            installment_id=i,
            amount=share,
            booked_at=confirmed,
        )
        for target, i, share in rooms.take(amount)
    )


def _event(loan: _Loan, kind: str, actor: str, at: datetime, **data: Any) -> dict[str, Any]:
    """A row of the case's timeline, for a bulk insert."""
    return {"case_id": loan.case_id, "kind": kind, "actor": actor, "at": at, "data": data}


def _portal_visits(
    db: Session, rng: random.Random, by_case: dict[int, _Loan], cases: set[int]
) -> None:
    """How each borrower came to choose a plan in the portal: the day before, an SMS
    reminder with a link (sent, so in the contact log); the link answered right a
    quarter of an hour before accepting; the portal's steps between (the funnel's, as
    ``portal.demo.funnel`` writes them). The link's token is one nobody holds."""
    chosen = db.execute(
        select(Plan.case_id, Plan.accepted_at)
        .where(Plan.case_id.in_(cases), Plan.offer_id.is_(None))
        .order_by(Plan.id)
    ).all()
    for case_id, accepted in chosen:
        loan = by_case[case_id]
        sent = accepted - timedelta(days=1, minutes=rng.randint(0, 240))
        link = ReminderLink(
            case_id=case_id, token_hash=token_hash(new_token()), purpose="status",
            created_at=sent, expires_at=sent + timedelta(days=7),
        )  # fmt: skip
        db.add(link)
        db.flush()
        db.add_all(
            [
                Message(
                    case_id=case_id, borrower_id=loan.borrower_id, channel=Channel.SMS.value,
                    purpose="reminder", link_id=link.id, locale=loan.locale,
                    status=MessageStatus.SENT, send_at=sent, sent_at=sent, created_by="system",
                    created_at=sent,
                ),
                ContactAttempt(
                    case_id=case_id, borrower_id=loan.borrower_id, channel=Channel.SMS.value,
                    at=sent, agent="system", outcome="sent",
                ),
                VerificationAttempt(
                    borrower_id=loan.borrower_id, link_id=link.id, address_hash="demo",
                    succeeded=True, at=accepted - timedelta(minutes=15),
                ),
            ]
        )  # fmt: skip
    steps_before_plans(db, [(case_id, at) for case_id, at in chosen], rng)


# Promises -------------------------------------------------------------------------------


def _promises(
    db: Session,
    rng: random.Random,
    pool: list[_Loan],
    used: set[int],
    since: date,
    today: date,
    agents: Sequence[StaffMember],
) -> dict[str, int]:
    """The promises, each made on a call the borrower answered, for one overdue
    installment the book shows paid now; kept and partly kept ones with their payment."""
    counts: dict[str, int] = {}
    candidates = iter([loan for loan in pool if loan.case_id not in used])
    number = 0
    for status, count in PROMISES:
        made = 0
        for loan in candidates:
            if made == count:
                break
            agent = agents[number % len(agents)]
            if _promise(db, rng, loan, status, since, today, agent):
                used.add(loan.case_id)
                made += 1
                number += 1
        counts[status.value] = made
    return counts


def _promise(
    db: Session,
    rng: random.Random,
    loan: _Loan,
    status: PromiseStatus,
    since: date,
    today: date,
    agent: StaffMember,
) -> bool:
    """One promise ending ``status`` on ``loan`` (a superseded one and the newer promise
    that replaced it, kept or broken), if its history allows it."""
    tries = list(range(2, loan.paid_through() + 1))
    rng.shuffle(tries)
    for sequence in tries:
        installment = loan.installments[sequence - 1]
        made_day = installment[2] + timedelta(days=rng.randint(3, 20))
        due_day = made_day + timedelta(days=rng.randint(4, 10))
        if made_day < since or due_day + timedelta(days=14) >= today:
            continue
        amount = installment[3] + installment[4]
        rooms = _Rooms(loan, sequence, sequence)
        if status is PromiseStatus.SUPERSEDED:
            newer_day = made_day + timedelta(days=rng.randint(1, (due_day - made_day).days - 1))
            newer_due = newer_day + timedelta(days=rng.randint(3, 7))
            _one_promise(db, rng, loan, agent, made_day, due_day, amount, status, rooms, newer_day)
            then = PromiseStatus.KEPT if rng.random() < 0.5 else PromiseStatus.BROKEN
            _one_promise(db, rng, loan, agent, newer_day, newer_due, amount, then, rooms)
        else:
            _one_promise(db, rng, loan, agent, made_day, due_day, amount, status, rooms)
        return True
    return False


def _one_promise(
    db: Session,
    rng: random.Random,
    loan: _Loan,
    agent: StaffMember,
    made_day: date,
    due_day: date,
    amount: int,
    status: PromiseStatus,
    rooms: _Rooms,
    replaced_on: date | None = None,
) -> None:
    zone = loan.timezone
    made = _local(made_day, rng.randint(10, 17), rng.randint(0, 59), zone)
    call = ContactAttempt(
        case_id=loan.case_id, borrower_id=loan.borrower_id, channel=Channel.CALL.value,
        at=made, connected=True, agent=agent.email, outcome="promise",
    )  # fmt: skip
    db.add(call)
    db.flush()
    paid, settled_on = 0, due_day
    payment_at = None
    if status is PromiseStatus.KEPT:
        paid = amount
        payment_at = _local(made_day + timedelta(days=rng.randint(1, (due_day - made_day).days)),
                            12, 0, zone)  # fmt: skip
        settled_on = payment_at.astimezone(ZoneInfo(zone)).date()
    elif status is PromiseStatus.PARTLY_KEPT:
        step = _step(loan.currency)
        paid = max(step, amount * rng.randint(30, 70) // 100 // step * step)
        payment_at = _local(due_day - timedelta(days=1), 12, 0, zone)
    elif status is PromiseStatus.SUPERSEDED and replaced_on is not None:
        settled_on = replaced_on
    promise = Promise(
        case_id=loan.case_id, contact_attempt_id=call.id, made_by=agent.email, made_at=made,
        due_date=due_day, amount=amount, currency=loan.currency, status=status, paid=paid,
        settled_on=settled_on,
    )  # fmt: skip
    db.add(promise)
    db.flush()
    if payment_at is not None:
        purpose = "arrears" if status is PromiseStatus.KEPT else "partial"
        _pay(db, loan, rooms, paid, payment_at, f"{REFERENCE}promise_{promise.id}", purpose)
    decided = _local(settled_on, 6, 0, zone) if payment_at is None else payment_at
    db.execute(
        insert(EVENTS),
        [
            _event(loan, "promise_made", "agent", made, promise_id=promise.id,
                   due_date=due_day.isoformat(), amount=amount, by=agent.email),
            _event(loan, f"promise_{status.value}", "system", decided, promise_id=promise.id,
                   amount=amount, paid=paid),
        ],
    )  # fmt: skip


# Refusals by the contact gate -----------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    """One contact to put to the rules: on which case, how, when, and what stood in its
    way (the attempts before it, written to the log as well; quiet hours the borrower
    asked for, written too)."""

    loan: _Loan
    channel: Channel
    moment: datetime
    recipient: Recipient = Recipient.BORROWER
    holds: frozenset[Hold] = frozenset()
    opted_out: frozenset[Channel] = frozenset()
    before: tuple[tuple[datetime, Channel, bool], ...] = ()
    quiet: tuple[tuple[int, int], ...] = ()


def _refusals(
    db: Session,
    rng: random.Random,
    loans: list[_Loan],
    used: set[int],
    since: date,
    today: date,
    now: datetime,
    agents: Sequence[StaffMember],
) -> dict[str, int]:
    """``REFUSALS_PER_REASON`` refused contacts for each reason of the gate, judged by
    the engine and recorded as the portal records them."""
    open_loans = [loan for loan in loans if not loan.closed]
    by_borrower = {loan.borrower_id: loan for loan in open_loans}
    by_case = {loan.case_id: loan for loan in open_loans}
    noticed = set(db.scalars(select(Message.case_id).where(Message.purpose == VALIDATION_NOTICE)))
    free = [loan for loan in open_loans if loan.case_id not in used and loan.hold is None]
    rng.shuffle(free)
    spare = iter(free)
    early = (since + timedelta(days=1), today - timedelta(days=STRATEGY_PAST_DAYS))
    counts = dict.fromkeys((reason.value for reason in ContactRefusal), 0)
    number = 0
    asks = _asks(db, rng, spare, by_case, by_borrower, early, now)
    for reason, ask in asks:
        if counts[reason.value] >= REFUSALS_PER_REASON:
            continue
        decision = may_contact(*_judged(ask, ask.loan.case_id in noticed))
        if reason not in decision.reasons:
            continue
        number += 1
        _record(db, ask, decision.reasons, decision.allowed_from, agents[number % len(agents)])
        counts[reason.value] += 1
        if all(count >= REFUSALS_PER_REASON for count in counts.values()):
            break
    return counts


def _judged(ask: _Ask, notice_sent: bool) -> tuple[ContactRequest, ContactHistory, ContactRules]:
    """What the gate would put to the engine for ``ask``."""
    loan = ask.loan
    rules = rules_for(loan.jurisdiction, loan.currency)
    if ask.quiet:
        rules = narrowed(rules, [QuietWindow(frozenset(range(7)), *q) for q in ask.quiet])
    request = ContactRequest(
        channel=ask.channel,
        recipient=ask.recipient,
        moment=ask.moment,
        time_zone=loan.timezone,
        holds=ask.holds,
        opted_out=ask.opted_out,
        validation_notice_sent=notice_sent,
    )
    history = ContactHistory(
        tuple(Attempt(at, channel, connected) for at, channel, connected in ask.before)
    )
    return request, history, rules


def _asks(
    db: Session,
    rng: random.Random,
    spare: Iterator[_Loan],
    by_case: dict[int, _Loan],
    by_borrower: dict[int, _Loan],
    early: tuple[date, date],
    now: datetime,
) -> Iterator[tuple[ContactRefusal, _Ask]]:
    """Contacts to put to the rules, each meant to be refused for one reason (the engine
    decides; one refused for another reason too says so)."""
    days = (early[1] - early[0]).days

    def day() -> date:
        return early[0] + timedelta(days=rng.randrange(days))

    def at(loan: _Loan, on: date, hour: int, minute: int = 0) -> datetime:
        return _local(on, hour, minute, loan.timezone)

    def week(loan: _Loan, on: date, channel: Channel) -> tuple[tuple[datetime, Channel, bool], ...]:
        """One unanswered attempt on each of the six days before ``on``, at 10:00."""
        return tuple(
            (at(loan, on - timedelta(days=d), 10, 0), channel, False) for d in range(6, 0, -1)
        )

    us = [loan for loan in by_case.values() if loan.jurisdiction.startswith("US")]
    for _ in range(REFUSALS_PER_REASON * 4):
        loan, on = next(spare), day()
        yield ContactRefusal.THIRD_PARTY, _Ask(loan, Channel.CALL, at(loan, on, 11, 10),
                                               Recipient.THIRD_PARTY)  # fmt: skip
        loan, on = next(spare), day()
        yield ContactRefusal.QUIET_HOURS, _Ask(loan, rng.choice((Channel.CALL, Channel.SMS)),
                                               at(loan, on, 22, 30))  # fmt: skip
        loan, on = next(spare), day()
        calls = tuple(
            (at(loan, on, h, m), Channel.CALL, True) for h, m in ((9, 10), (10, 40), (13, 20))
        )
        yield ContactRefusal.CONNECTED_CALLS_PER_DAY, _Ask(loan, Channel.CALL, at(loan, on, 15, 30),
                                                           before=calls)  # fmt: skip
        loan, on = next(spare), day()
        tried = (*week(loan, on, Channel.CALL), (at(loan, on, 9, 30), Channel.CALL, False))
        yield ContactRefusal.CALL_ATTEMPTS_PER_7_DAYS, _Ask(loan, Channel.CALL, at(loan, on, 14, 0),
                                                            before=tried)  # fmt: skip
        loan, on = next(spare), day()
        sent = ((at(loan, on, 9, 0), Channel.SMS, False), (at(loan, on, 12, 0), Channel.SMS, False))
        yield (
            ContactRefusal.MESSAGES_PER_DAY,
            _Ask(loan, Channel.SMS, at(loan, on, 15, 0), before=sent),
        )
        loan, on = next(spare), day()
        sent_week = (*week(loan, on, Channel.SMS), (at(loan, on, 9, 0), Channel.EMAIL, False))
        yield ContactRefusal.MESSAGES_PER_7_DAYS, _Ask(loan, Channel.EMAIL, at(loan, on, 14, 0),
                                                       before=sent_week)  # fmt: skip
        loan, on = next(spare), day()
        yield ContactRefusal.BORROWER_HOURS, _Ask(loan, Channel.CALL, at(loan, on, 12, 30),
                                                  quiet=((12 * 60, 14 * 60),))  # fmt: skip
        loan, on = rng.choice(us), day()
        spoke = ((at(loan, on - timedelta(days=3), 11, 0), Channel.CALL, True),)
        yield ContactRefusal.RECENT_CONVERSATION, _Ask(loan, Channel.CALL, at(loan, on, 11, 0),
                                                       before=spoke)  # fmt: skip
        loan, on = rng.choice(us), day()
        yield (
            ContactRefusal.VALIDATION_NOTICE_PENDING,
            _Ask(loan, rng.choice((Channel.CALL, Channel.SMS)), at(loan, on, 11, 0)),
        )
        loan = next(spare)
        rules = rules_for(loan.jurisdiction, loan.currency)
        holidays = [
            b
            for b in rules.blackouts
            if early[0] <= b.first <= early[1] and Channel.CALL in b.channels
        ]
        if holidays:
            blackout = rng.choice(holidays)
            yield (
                ContactRefusal.HOLIDAY_BLACKOUT,
                _Ask(loan, Channel.CALL, at(loan, blackout.first, 11, 0)),
            )
    # The floor's holds and opt-outs, the oldest first: contacts asked for in the days
    # after them.
    held = db.execute(
        select(CaseHold.case_id, CaseHold.kind, CaseHold.placed_at)
        .where(CaseHold.ended_at.is_(None))
        .order_by(CaseHold.placed_at, CaseHold.id)
    ).all()
    for case_id, kind, placed in held:
        on_hold = by_case.get(case_id)
        moment = placed + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 5))
        if on_hold is not None and moment < now:
            channel = rng.choice((Channel.CALL, Channel.SMS, Channel.LETTER))
            yield (
                ContactRefusal.ON_HOLD,
                _Ask(on_hold, channel, moment, holds=frozenset({Hold(kind)})),
            )
    opted = db.execute(
        select(OptOut.borrower_id, OptOut.channel, OptOut.at)
        .where(OptOut.lifted_at.is_(None))
        .order_by(OptOut.at, OptOut.id)
    ).all()
    for borrower_id, channel_name, opted_at in opted:
        opted_out = by_borrower.get(borrower_id)
        channel = Channel(channel_name)
        moment = opted_at + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 5))
        if opted_out is not None and moment < now:
            yield (
                ContactRefusal.OPTED_OUT,
                _Ask(opted_out, channel, moment, opted_out=frozenset({channel})),
            )


def _record(
    db: Session,
    ask: _Ask,
    reasons: Sequence[ContactRefusal],
    allowed_from: datetime | None,
    agent: StaffMember,
) -> None:
    """The refused contact as the portal records it, and what led to it: the attempts
    before it in the contact log, the borrower's quiet hours."""
    loan = ask.loan
    for moment, channel, connected in ask.before:
        calling = channel is Channel.CALL
        db.add(
            ContactAttempt(
                case_id=loan.case_id, borrower_id=loan.borrower_id, channel=channel.value,
                at=moment, connected=connected,
                agent=agent.email if calling else "system",
                outcome=("reached" if connected else "no_answer") if calling else "sent",
            )
        )  # fmt: skip
    for start, end in ask.quiet:
        db.add(
            QuietHours(
                borrower_id=loan.borrower_id, days=127, start_minute=start, end_minute=end,
                set_at=ask.moment - timedelta(days=30),
            )
        )  # fmt: skip
    codes = [reason.value for reason in reasons]
    if ask.channel is Channel.CALL:
        outcome = "third_party" if ask.recipient is Recipient.THIRD_PARTY else "no_answer"
        trail.record(
            db, agent, "call.refused", ask.moment, case_id=loan.case_id,
            started_at=ask.moment.isoformat(), outcome=outcome, reasons=codes,
        )  # fmt: skip
    elif ask.channel is Channel.LETTER:
        trail.record(db, agent, "letter.refused", ask.moment, case_id=loan.case_id, reasons=codes)
    else:
        later = allowed_from.astimezone(UTC).isoformat() if allowed_from else None
        trail.record(
            db, agent, "message.refused", ask.moment, case_id=loan.case_id,
            channel=ask.channel.value, reasons=codes, allowed_from=later, offer_id=None,
        )  # fmt: skip
