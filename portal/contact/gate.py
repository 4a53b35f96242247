"""The contact rules applied to a borrower: the one gate every message and call passes.

``judge`` reads the borrower's history across every agent (attempts made, and messages
already scheduled), their opt-outs and the case's hold, and asks the engine
(``negotiation.contact``) whether the contact may be made at ``moment``. Callers that go
on to contact the borrower call ``judge`` with ``lock=True`` inside the transaction that
records the attempt: the case row is locked, so two agents cannot both take the day's
last allowed contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.orm import Session

from negotiation import Hold
from negotiation.contact import (
    Channel,
    ContactDecision,
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
from portal.cases.facts import policy
from portal.core.db import lock_row
from portal.core.i18n import market_of, zoned_time
from portal.models import (
    Borrower,
    Case,
    ContactAttempt,
    Loan,
    Message,
    MessageStatus,
    OptOut,
    QuietHours,
)

# The caps look back at most 7 days and forward over what is already scheduled; two
# weeks either side covers every window that can contain the day asked about.
HISTORY_REACH = timedelta(days=14)
# The first key of the borrowers' contact locks (PostgreSQL advisory locks by two keys).
CONTACT_LOCK_SPACE = 0x4848

REFUSAL_TEXT = {
    ContactRefusal.THIRD_PARTY: _l(
        "Only the borrower may be contacted about the debt, never a relative, employer or "
        "other third party."
    ),
    ContactRefusal.ON_HOLD: _l(
        "The case is on hold (a dispute or hardship): no collection contact until the hold "
        "is lifted."
    ),
    ContactRefusal.OPTED_OUT: _l("The borrower has opted out of this channel."),
    ContactRefusal.QUIET_HOURS: _l("It is outside the allowed hours in the borrower's time zone."),
    ContactRefusal.HOLIDAY_BLACKOUT: _l(
        "It is a public holiday blackout where the borrower lives."
    ),
    ContactRefusal.CONNECTED_CALLS_PER_DAY: _l(
        "The borrower has already been reached by phone as often as allowed today."
    ),
    ContactRefusal.CALL_ATTEMPTS_PER_7_DAYS: _l(
        "The borrower has been called as often as allowed in 7 days."
    ),
    ContactRefusal.MESSAGES_PER_DAY: _l(
        "The borrower has already had as many messages as allowed today."
    ),
    ContactRefusal.MESSAGES_PER_7_DAYS: _l(
        "The borrower has had as many messages as allowed in 7 days."
    ),
    ContactRefusal.RECENT_CONVERSATION: _l(
        "The borrower was spoken to by phone recently: where they live, no call may follow so soon."
    ),
    ContactRefusal.BORROWER_HOURS: _l("The borrower asked not to be contacted at this time."),
    ContactRefusal.VALIDATION_NOTICE_PENDING: _l(
        "Where the borrower lives, no call or SMS until the validation notice about the debt "
        "has been sent: send it first (Reminders)."
    ),
}

# A message's purpose when it is the debt's validation notice (US Regulation F,
# 12 CFR 1006.34); once one is sent on a case, its calls and SMS are no longer held back.
VALIDATION_NOTICE = "validation"


def notices_sent(db: Session, case_ids: Iterable[int]) -> set[int]:
    """Which of ``case_ids`` have had their validation notice sent (one query)."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return set()
    return set(
        db.scalars(
            select(Message.case_id)
            .where(
                Message.case_id.in_(wanted),
                Message.purpose == VALIDATION_NOTICE,
                Message.status == MessageStatus.SENT,
            )
            .distinct()
        )
    )


def rules_for(jurisdiction: str, currency: str) -> ContactRules:
    """The contact rules for a borrower in ``jurisdiction`` with a loan in ``currency``:
    the lender's, their own jurisdiction's and their loan's market's, each rule at its
    strictest. Every call, message and letter is judged by these."""
    return policy().contact_for(jurisdiction, market_of(currency))


def borrower_rules(borrower: Borrower, currency: str) -> ContactRules:
    """``rules_for`` the borrower's own jurisdiction and their loan's currency."""
    return rules_for(borrower.jurisdiction, currency)


def quiet_window(row: QuietHours) -> QuietWindow:
    """One stored quiet window as the engine reads it."""
    days = frozenset(day for day in range(7) if row.days & (1 << day))
    return QuietWindow(days, row.start_minute, row.end_minute)


def quiet_windows(db: Session, borrower_ids: Iterable[int]) -> dict[int, tuple[QuietWindow, ...]]:
    """The times each borrower asked not to be contacted, by borrower (one query)."""
    found: dict[int, list[QuietWindow]] = {}
    rows = db.scalars(
        select(QuietHours)
        .where(QuietHours.borrower_id.in_(sorted(set(borrower_ids))))
        .order_by(QuietHours.borrower_id, QuietHours.start_minute, QuietHours.id)
    )
    for row in rows:
        found.setdefault(row.borrower_id, []).append(quiet_window(row))
    return {borrower_id: tuple(windows) for borrower_id, windows in found.items()}


def narrowed_rules(db: Session, borrower: Borrower, currency: str) -> ContactRules:
    """The rules of where the borrower lives (``borrower_rules``) with their own quiet
    windows as one more layer: what every call and message to them is judged by."""
    quiet = quiet_windows(db, [borrower.id]).get(borrower.id, ())
    return narrowed(borrower_rules(borrower, currency), quiet)


def opted_out_channels(db: Session, borrower_id: int) -> frozenset[Channel]:
    """The channels the borrower has opted out of and not opted back in to."""
    rows = db.scalars(
        select(OptOut.channel).where(OptOut.borrower_id == borrower_id, OptOut.lifted_at.is_(None))
    )
    return frozenset(Channel(channel) for channel in rows)


def contact_history(
    db: Session, borrower_id: int, moment: datetime, *, excluding_message: int | None = None
) -> ContactHistory:
    """The borrower's attempts near ``moment`` by every agent, plus the messages already
    scheduled to them (each counts toward the caps on the day it will be sent). Calls the
    borrower made to us are not contact we made: they count toward nothing."""
    since, until = moment - HISTORY_REACH, moment + HISTORY_REACH
    made = db.execute(
        select(
            ContactAttempt.at,
            ContactAttempt.channel,
            ContactAttempt.connected,
            ContactAttempt.agent,
        ).where(
            ContactAttempt.borrower_id == borrower_id,
            ContactAttempt.inbound.is_(False),
            ContactAttempt.at >= since,
            ContactAttempt.at < until,
        )
    )
    attempts = [
        Attempt(at, Channel(channel), connected, agent) for at, channel, connected, agent in made
    ]
    scheduled = select(Message.send_at, Message.channel).where(
        Message.borrower_id == borrower_id,
        Message.status == MessageStatus.SCHEDULED,
        Message.send_at >= since,
        Message.send_at < until,
    )
    if excluding_message is not None:
        scheduled = scheduled.where(Message.id != excluding_message)
    attempts += [Attempt(at, Channel(channel)) for at, channel in db.execute(scheduled)]
    return ContactHistory(tuple(attempts))


def lock_borrowers(db: Session, borrower_ids: Iterable[int]) -> None:
    """Hold the borrowers' contact lock until the transaction ends (PostgreSQL; SQLite
    serialises writers anyway): the caps count a borrower's contacts on all their
    cases, and locking one case does not stop an agent on another.

    An advisory lock rather than the borrower's row, which an opt-out locks before the
    messages it cancels while the sender locks a message first; taken after every row
    lock, it closes no cycle of waits."""
    if db.get_bind().dialect.name != "postgresql":
        return
    wanted = sorted(set(borrower_ids))
    if not wanted:
        return
    # One statement for all of them, taken in id order (unnest yields the array's
    # elements in order, and each row's lock is taken as the row is produced), as every
    # locker of several borrowers takes them: no two wait on each other in a cycle.
    db.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(:space, borrower))"
            " FROM unnest(CAST(:borrowers AS integer[])) AS borrower"
        ),
        {"space": CONTACT_LOCK_SPACE, "borrowers": wanted},
    )


def try_lock_borrowers(db: Session, borrower_ids: Iterable[int]) -> set[int]:
    """``lock_borrowers`` without waiting: the borrowers whose contact lock this
    transaction now holds (every one of them on SQLite, whose writers run one at a time).
    A sender that must not wait (it holds rows another locker may want next) leaves the
    others for later."""
    wanted = sorted(set(borrower_ids))
    if db.get_bind().dialect.name != "postgresql" or not wanted:
        return set(wanted)
    return set(
        db.scalars(
            text(
                "SELECT borrower FROM unnest(CAST(:borrowers AS integer[])) AS borrower"
                " WHERE pg_try_advisory_xact_lock(:space, borrower)"
            ),
            {"space": CONTACT_LOCK_SPACE, "borrowers": wanted},
        )
    )


def judge(
    db: Session,
    case: Case,
    channel: Channel,
    moment: datetime,
    *,
    recipient: Recipient = Recipient.BORROWER,
    lock: bool = False,
    excluding_message: int | None = None,
) -> ContactDecision:
    """May the borrower of ``case`` be contacted on ``channel`` at ``moment``?

    With ``lock``, the case row is locked first (``portal.core.db.lock_row``: a row lock on
    PostgreSQL, the database write lock on SQLite) so the decision holds until the
    caller's transaction records the contact.
    The case and its borrower are read again under the lock: the caller loaded them
    before it, and a hold (or a new phone number) committed in between must count.
    """
    borrower = case.loan.borrower
    if lock:
        lock_row(db, Case, case.id)
        db.refresh(case)
        lock_borrowers(db, [borrower.id])
        db.refresh(borrower)
    request = ContactRequest(
        channel=channel,
        recipient=recipient,
        moment=moment,
        time_zone=borrower.timezone,
        holds=frozenset({Hold(case.hold)}) if case.hold else frozenset(),
        opted_out=opted_out_channels(db, borrower.id),
        validation_notice_sent=bool(notices_sent(db, [case.id])),
    )
    history = contact_history(db, borrower.id, moment, excluding_message=excluding_message)
    return may_contact(request, history, narrowed_rules(db, borrower, case.loan.currency))


def judge_many(
    db: Session, case_ids: Iterable[int], channel: Channel, moment: datetime
) -> dict[int, ContactDecision]:
    """``judge`` (without a lock) for many cases at once, from one ``ContactBook`` (six
    statements whatever their number). The same inputs as ``judge`` reach the same
    engine, so each decision is the one ``judge`` gives (a test holds them equal); a work
    list shows "may I call now?" on every row with it, and whoever goes on to contact
    the borrower still calls ``judge`` with the lock."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    book = ContactBook.read(db, wanted, moment, moment)
    return {case_id: book.decide(case_id, channel, moment) for case_id in book.cases}


class BatchGate:
    """``judge`` for a batch of scheduled messages, read in a few statements: the rules
    each borrower is judged by (opt-outs, quiet times, their place's rules), the validation
    notices sent, the attempts made and the messages scheduled near ``moment``. The
    caller locks the cases and their borrowers first (as ``judge`` with ``lock`` does)
    and reads the cases again under the lock; then asks about each message in turn,
    telling the gate what became of it (``moved``, ``dropped``), so that each message is
    judged on the history ``judge`` would read at that point: the others still scheduled
    where they are, and not itself (``excluding_message``)."""

    def __init__(self, db: Session, cases: Iterable[Case], moment: datetime) -> None:
        self.moment = moment
        wanted = {case.id: case for case in cases}
        borrower_ids = sorted({case.loan.borrower_id for case in wanted.values()})
        self._opted: dict[int, set[Channel]] = {}
        for borrower_id, opted_channel in db.execute(
            select(OptOut.borrower_id, OptOut.channel).where(
                OptOut.borrower_id.in_(borrower_ids), OptOut.lifted_at.is_(None)
            )
        ):
            self._opted.setdefault(borrower_id, set()).add(Channel(opted_channel))
        self._quiet = quiet_windows(db, borrower_ids)
        self._noticed = notices_sent(db, wanted)
        self.since, self.until = moment - HISTORY_REACH, moment + HISTORY_REACH
        self._made: dict[int, list[Attempt]] = {}
        for borrower_id, at, made_channel, connected, agent in db.execute(
            select(
                ContactAttempt.borrower_id,
                ContactAttempt.at,
                ContactAttempt.channel,
                ContactAttempt.connected,
                ContactAttempt.agent,
            ).where(
                ContactAttempt.borrower_id.in_(borrower_ids),
                ContactAttempt.inbound.is_(False),
                ContactAttempt.at >= self.since,
                ContactAttempt.at < self.until,
            )
        ):
            self._made.setdefault(borrower_id, []).append(
                Attempt(at, Channel(made_channel), connected, agent)
            )
        self._waiting: dict[int, dict[int, Attempt]] = {}
        for message_id, borrower_id, at, waiting_channel in db.execute(
            select(Message.id, Message.borrower_id, Message.send_at, Message.channel).where(
                Message.borrower_id.in_(borrower_ids),
                Message.status == MessageStatus.SCHEDULED,
                Message.send_at >= self.since,
                Message.send_at < self.until,
            )
        ):
            self._waiting.setdefault(borrower_id, {})[message_id] = Attempt(
                at, Channel(waiting_channel)
            )
        self._rules: dict[tuple[str, str], ContactRules] = {}

    def judge(self, case: Case, channel: Channel, message_id: int) -> ContactDecision:
        """May the scheduled message ``message_id`` to the borrower of ``case`` go on
        ``channel`` now? The answer ``judge`` would give with ``excluding_message``."""
        borrower = case.loan.borrower
        key = (borrower.jurisdiction, case.loan.currency)
        if key not in self._rules:
            self._rules[key] = rules_for(*key)
        request = ContactRequest(
            channel=channel,
            recipient=Recipient.BORROWER,
            moment=self.moment,
            time_zone=borrower.timezone,
            holds=frozenset({Hold(case.hold)}) if case.hold else frozenset(),
            opted_out=frozenset(self._opted.get(borrower.id, ())),
            validation_notice_sent=case.id in self._noticed,
        )
        waiting = self._waiting.get(borrower.id, {})
        history = ContactHistory(
            (
                *self._made.get(borrower.id, ()),
                *(attempt for other, attempt in waiting.items() if other != message_id),
            )
        )
        rules = narrowed(self._rules[key], self._quiet.get(borrower.id, ()))
        return may_contact(request, history, rules)

    def moved(self, case: Case, channel: Channel, message_id: int, later: datetime) -> None:
        """The message now waits until ``later``: it counts there from now on."""
        waiting = self._waiting.setdefault(case.loan.borrower_id, {})
        waiting.pop(message_id, None)
        if self.since <= later < self.until:
            waiting[message_id] = Attempt(later, channel)

    def dropped(self, case: Case, message_id: int) -> None:
        """The message no longer waits (cancelled): it counts nowhere."""
        self._waiting.get(case.loan.borrower_id, {}).pop(message_id, None)


@dataclass(frozen=True)
class ContactVerdict:
    """The gate's answer about one contact, with where and when it was judged: what the
    console's "may I call now?" and ``haohuan contact check`` both show."""

    decision: ContactDecision
    jurisdiction: str
    time_zone: str
    rules: ContactRules

    @property
    def allowed(self) -> bool:
        """True when the contact may be made at the moment judged."""
        return self.decision.allowed

    @property
    def local_moment(self) -> datetime:
        """The moment judged, on the borrower's clock."""
        return self.decision.moment.astimezone(ZoneInfo(self.time_zone))

    def as_json(self) -> dict[str, Any]:
        """The answer for scripts: stable reason codes, moments in ISO-8601 with the
        borrower's offset; ``allowed_from`` is null when allowed, and when waiting never
        allows it (a hold, an opt-out)."""
        later = None if self.allowed else self.decision.allowed_from
        return {
            "allowed": self.allowed,
            "reasons": [reason.value for reason in self.decision.reasons],
            "allowed_from": None
            if later is None
            else later.astimezone(ZoneInfo(self.time_zone)).isoformat(),
            "borrower_local_time": self.local_moment.isoformat(),
            "jurisdiction": self.jurisdiction,
        }


def verdict(db: Session, case: Case, channel: Channel, moment: datetime) -> ContactVerdict:
    """May the borrower of ``case`` be contacted on ``channel`` at ``moment``, judged by
    the rules of where they live? Reads only: no lock, nothing written."""
    borrower = case.loan.borrower
    return ContactVerdict(
        decision=judge(db, case, channel, moment),
        jurisdiction=borrower.jurisdiction,
        time_zone=borrower.timezone,
        rules=narrowed_rules(db, borrower, case.loan.currency),
    )


def record_attempt(
    db: Session,
    case: Case,
    channel: Channel,
    moment: datetime,
    agent: str,
    *,
    connected: bool = False,
    inbound: bool = False,
    outcome: str | None = None,
    note: str | None = None,
    message_id: int | None = None,
) -> ContactAttempt:
    """Add one contact attempt to the log (and the case's last contact). Does not commit.
    ``inbound``: the borrower contacted us (a call), which the caps do not count."""
    attempt = ContactAttempt(
        case_id=case.id,
        borrower_id=case.loan.borrower_id,
        channel=channel.value,
        at=moment,
        connected=connected,
        inbound=inbound,
        agent=agent,
        outcome=outcome,
        note=note,
        message_id=message_id,
    )
    db.add(attempt)
    last = case.last_contact_at
    if last is None or last < moment:
        case.last_contact_at = moment
    return attempt


def record_attempts(
    db: Session, attempts: Iterable[tuple[Case, Channel, int]], moment: datetime, agent: str
) -> int:
    """``record_attempt`` for many messages sent at ``moment`` by ``agent``: one attempt
    per ``(case, channel, message_id)`` in one statement, and each case's last contact.
    Does not commit. How many."""
    rows = [
        {
            "case_id": case.id,
            "borrower_id": case.loan.borrower_id,
            "channel": channel.value,
            "at": moment,
            "connected": False,
            "inbound": False,
            "agent": agent,
            "outcome": "sent",
            "message_id": message_id,
        }
        for case, channel, message_id in attempts
    ]
    if not rows:
        return 0
    db.execute(insert(ContactAttempt), rows)
    db.execute(
        update(Case)
        .where(
            Case.id.in_(sorted({row["case_id"] for row in rows})),
            or_(Case.last_contact_at.is_(None), Case.last_contact_at < moment),
        )
        .values(last_contact_at=moment)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


def record_opt_out(
    db: Session,
    borrower_id: int,
    channel: Channel,
    moment: datetime,
    source: str,
    recorded_by: str | None = None,
) -> bool:
    """Record that the borrower wants no more contact on ``channel``. Does not commit.
    Returns False when they had already opted out (nothing is added)."""
    if channel in opted_out_channels(db, borrower_id):
        return False
    db.add(
        OptOut(
            borrower_id=borrower_id,
            channel=channel.value,
            at=moment,
            source=source,
            recorded_by=recorded_by,
        )
    )
    return True


def cancel_scheduled(db: Session, borrower_id: int, channel: Channel, reason: str) -> int:
    """Cancel the messages scheduled to the borrower on ``channel`` (they opted out of
    it), with ``reason`` as the error; how many. Does not commit."""
    result = db.execute(
        update(Message)
        .where(
            Message.borrower_id == borrower_id,
            Message.channel == channel.value,
            Message.status == MessageStatus.SCHEDULED,
        )
        .values(status=MessageStatus.CANCELLED, error=reason)
    )
    # An UPDATE's result is a CursorResult, which has rowcount; execute() says Result.
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lift_opt_out(db: Session, borrower_id: int, channel: Channel, moment: datetime) -> bool:
    """The borrower agreed to contact on ``channel`` again. Does not commit."""
    rows = db.scalars(
        select(OptOut).where(
            OptOut.borrower_id == borrower_id,
            OptOut.channel == channel.value,
            OptOut.lifted_at.is_(None),
        )
    ).all()
    for row in rows:
        row.lifted_at = moment
    return bool(rows)


def refusal_reasons(decision: ContactDecision) -> list[str]:
    """Each reason the contact is refused, as a sentence in the current language."""
    return [str(REFUSAL_TEXT[reason]) for reason in decision.reasons]


def allowed_from_text(decision: ContactDecision) -> str | None:
    """When the refused contact becomes allowed, in the borrower's local time (with the
    zone named), or None when waiting never allows it."""
    if decision.allowed_from is None:
        return None
    return zoned_time(decision.allowed_from, str(decision.allowed_from.tzinfo))


@dataclass
class ContactBook:
    """What the contact rules read about many cases, read at once (six statements
    whatever their number, as ``judge_many``), then asked case by case at any moment
    between ``first`` and ``last``. A contact planned meanwhile is added with ``add``
    and counts toward the borrower's caps for the next question: a planner that decides
    several messages for one borrower (two steps due the same day, two cases) gives
    each the answer ``judge`` would give once the earlier ones were scheduled."""

    cases: dict[int, tuple[str | None, int, str, str, str]]
    opted: dict[int, set[Channel]]
    quiet: dict[int, tuple[QuietWindow, ...]]
    attempts: dict[int, list[Attempt]]
    noticed: set[int]

    @classmethod
    def read(
        cls, db: Session, case_ids: Iterable[int], first: datetime, last: datetime
    ) -> ContactBook:
        """The book for ``case_ids``, with each borrower's contacts from ``first`` less
        the caps' reach to ``last`` plus it."""
        wanted = sorted(set(case_ids))
        rows = db.execute(
            select(
                Case.id,
                Case.hold,
                Borrower.id,
                Borrower.timezone,
                Borrower.jurisdiction,
                Loan.currency,
            )
            .join(Loan, Loan.id == Case.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Case.id.in_(wanted))
        ).all()
        cases: dict[int, tuple[str | None, int, str, str, str]] = {
            row[0]: (row[1], row[2], row[3], row[4], row[5]) for row in rows
        }
        borrower_ids = sorted({row[2] for row in rows})
        opted: dict[int, set[Channel]] = {}
        for borrower_id, channel in db.execute(
            select(OptOut.borrower_id, OptOut.channel).where(
                OptOut.borrower_id.in_(borrower_ids), OptOut.lifted_at.is_(None)
            )
        ):
            opted.setdefault(borrower_id, set()).add(Channel(channel))
        since, until = first - HISTORY_REACH, last + HISTORY_REACH
        attempts: dict[int, list[Attempt]] = {}
        for borrower_id, at, channel, connected, agent in db.execute(
            select(
                ContactAttempt.borrower_id,
                ContactAttempt.at,
                ContactAttempt.channel,
                ContactAttempt.connected,
                ContactAttempt.agent,
            ).where(
                ContactAttempt.borrower_id.in_(borrower_ids),
                ContactAttempt.inbound.is_(False),
                ContactAttempt.at >= since,
                ContactAttempt.at < until,
            )
        ):
            attempts.setdefault(borrower_id, []).append(
                Attempt(at, Channel(channel), connected, agent)
            )
        for borrower_id, at, channel in db.execute(
            select(Message.borrower_id, Message.send_at, Message.channel).where(
                Message.borrower_id.in_(borrower_ids),
                Message.status == MessageStatus.SCHEDULED,
                Message.send_at >= since,
                Message.send_at < until,
            )
        ):
            attempts.setdefault(borrower_id, []).append(Attempt(at, Channel(channel)))
        return cls(
            cases, opted, quiet_windows(db, borrower_ids), attempts, notices_sent(db, wanted)
        )

    def decide(self, case_id: int, channel: Channel, moment: datetime) -> ContactDecision:
        """May the borrower of ``case_id`` be contacted on ``channel`` at ``moment``?"""
        hold, borrower_id, zone, jurisdiction, currency = self.cases[case_id]
        request = ContactRequest(
            channel=channel,
            recipient=Recipient.BORROWER,
            moment=moment,
            time_zone=zone,
            holds=frozenset({Hold(hold)}) if hold else frozenset(),
            opted_out=frozenset(self.opted.get(borrower_id, ())),
            validation_notice_sent=case_id in self.noticed,
        )
        history = ContactHistory(tuple(self.attempts.get(borrower_id, ())))
        rules = narrowed(rules_for(jurisdiction, currency), self.quiet.get(borrower_id, ()))
        return may_contact(request, history, rules)

    def opted_out(self, case_id: int) -> frozenset[Channel]:
        """The channels the case's borrower opted out of."""
        return frozenset(self.opted.get(self.cases[case_id][1], ()))

    def add(self, case_id: int, channel: Channel, at: datetime) -> None:
        """Count a contact planned for ``at`` toward the borrower's caps."""
        self.attempts.setdefault(self.cases[case_id][1], []).append(Attempt(at, channel))
