"""Calls to borrowers: may the agent call now, and the record of a call made.

Every call passes the contact gate (``portal.contact.gate.judge``): before dialling, to tell
the agent whether they may; and when the call is logged, with the case row locked, in
the same transaction that records the attempt, so that two agents can never both take
the borrower's last allowed call of the day. A call the rules refuse is not recorded as
made: the agent is told why and from when it would be allowed, and the refusal itself
goes to the audit log (a call made against the rules is something compliance must see).

A borrower who calls us is not contact the lender made: the rules do not refuse the
call (it may come at 23:00, on a hold, after the day's cap, or from a borrower who opted
out of calls), and it does not count toward the caps (``ContactAttempt.inbound``, which
the contact history leaves out). It is still logged through the gate with the case
locked, and the audit entry keeps what the rules would have said of an outbound call
then. What the borrower says on it (a promise, a dispute, an opt-out) is recorded as on
any call; a callback they ask for is a call we make, so its time must be allowed.

Only the borrower is ever told about the debt. When someone else answers (a relative,
a colleague, a wrong number) the attempt is recorded as not connected (it still counts
toward the call attempts of the 7 days: the borrower's number was dialled) and nothing
else is: no promise, no dispute, no opt-out, no callback; its outcome says only who
answered, and the audit entry says the debt was not disclosed. The gate is asked about
the third party too, and its refusal is what the agent reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.contact import Channel, ContactDecision, Recipient
from portal.audit import trail
from portal.cases.holds import hold_case
from portal.contact.callbacks import answer_callback, schedule_callback
from portal.contact.gate import (
    allowed_from_text,
    judge,
    record_attempt,
    record_opt_out,
    refusal_reasons,
    verdict,
)
from portal.contact.promises import make_promise, progress_of
from portal.core.db import by_id
from portal.core.i18n import zoned_time
from portal.models import (
    CallbackSource,
    Case,
    CaseEvent,
    ContactAttempt,
    Promise,
    StaffMember,
)

RECENT_CALLS = 10
RECENT_PROMISES = 10
# How late a call may be logged: long enough to finish the call and type its outcome.
LATEST_START = timedelta(minutes=60)
# How far ahead a borrower may ask to be called back.
CALLBACK_WITHIN = timedelta(days=30)


class Direction(StrEnum):
    """Who placed the call."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Answerer(StrEnum):
    """Who picked up."""

    BORROWER = "borrower"
    SOMEONE_ELSE = "someone_else"
    NOBODY = "nobody"


class Outcome(StrEnum):
    """What came of a call (stored in ``ContactAttempt.outcome``)."""

    REACHED = "reached"
    REFUSED_TO_TALK = "refused_to_talk"
    CALLBACK = "callback"
    PROMISE = "promise"
    DISPUTE = "dispute"
    HARDSHIP = "hardship"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    THIRD_PARTY = "third_party"


DIRECTIONS = {
    Direction.OUTBOUND: _l("We called the borrower"),
    Direction.INBOUND: _l("The borrower called us"),
}

ANSWERERS = {
    Answerer.BORROWER: _l("The borrower"),
    Answerer.SOMEONE_ELSE: _l("Someone else"),
    Answerer.NOBODY: _l("Nobody"),
}

OUTCOMES = {
    Outcome.REACHED: _l("Reached, talked"),
    Outcome.REFUSED_TO_TALK: _l("Refused to talk"),
    Outcome.CALLBACK: _l("Asked to be called back"),
    Outcome.PROMISE: _l("Promised to pay"),
    Outcome.DISPUTE: _l("Disputes the debt"),
    Outcome.HARDSHIP: _l("Declared hardship"),
    Outcome.NO_ANSWER: _l("No answer"),
    Outcome.WRONG_NUMBER: _l("Wrong number"),
    Outcome.THIRD_PARTY: _l("Someone else answered: the debt was not mentioned"),
}

# The outcomes each answerer can give; the first is the one assumed when none is chosen
# (a call nobody answered has no other outcome).
OUTCOMES_FOR: dict[Answerer, tuple[Outcome, ...]] = {
    Answerer.BORROWER: (
        Outcome.REACHED,
        Outcome.REFUSED_TO_TALK,
        Outcome.CALLBACK,
        Outcome.PROMISE,
        Outcome.DISPUTE,
        Outcome.HARDSHIP,
    ),
    Answerer.SOMEONE_ELSE: (Outcome.THIRD_PARTY, Outcome.WRONG_NUMBER),
    Answerer.NOBODY: (Outcome.NO_ANSWER,),
}

# A dispute or a declared hardship puts the case on hold (the hold's reason).
HOLDING_OUTCOMES = {Outcome.DISPUTE: "dispute", Outcome.HARDSHIP: "hardship"}

# The channels a borrower may ask, on the phone, to stop being contacted on.
OPT_OUT_CHANNELS = {
    Channel.CALL: _l("Phone calls"),
    Channel.SMS: _l("SMS"),
    Channel.EMAIL: lazy_pgettext("channel", "Email"),
    Channel.LETTER: _l("Letters"),
}


def case_call(db: Session, case: Case, attempt_id: int) -> ContactAttempt | None:
    """The logged contact with this id, only if it is the case's own (another case's id
    gets None)."""
    attempt = by_id(db, ContactAttempt, attempt_id)
    return attempt if attempt is not None and attempt.case_id == case.id else None


def answerer_of(attempt: ContactAttempt) -> Answerer:
    """Who answered a logged call, from what was stored."""
    if attempt.connected:
        return Answerer.BORROWER
    if attempt.outcome in (Outcome.THIRD_PARTY, Outcome.WRONG_NUMBER):
        return Answerer.SOMEONE_ELSE
    return Answerer.NOBODY


# Before dialling ----------------------------------------------------------------------


@dataclass(frozen=True)
class CallCheck:
    """The answer to "may I call now?", with what the agent needs to read it."""

    decision: ContactDecision
    reasons: list[str]
    allowed_from: str | None
    local_time: str
    connected_today: int
    attempts_week: int
    max_connected: int
    max_attempts: int
    jurisdiction: str
    hours: tuple[str, str]

    @property
    def allowed(self) -> bool:
        """True when the call may be made now."""
        return self.decision.allowed


def _counts(db: Session, case: Case, moment: datetime) -> tuple[int, int]:
    """Connected calls on the borrower's local day and call attempts over the 7 local
    days ending today, by every agent (what the caps count, shown for information: the
    calls we made, not the borrower's own)."""
    zone = ZoneInfo(case.loan.borrower.timezone)
    today = moment.astimezone(zone).date()
    since = datetime.combine(today - timedelta(days=6), datetime.min.time(), tzinfo=zone)
    until = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    rows = db.execute(
        select(ContactAttempt.at, ContactAttempt.connected).where(
            ContactAttempt.borrower_id == case.loan.borrower_id,
            ContactAttempt.channel == Channel.CALL.value,
            ContactAttempt.inbound.is_(False),
            ContactAttempt.at >= since,
            ContactAttempt.at < until,
        )
    ).all()
    connected = sum(
        1 for at, is_connected in rows if is_connected and at.astimezone(zone).date() == today
    )
    return connected, len(rows)


def call_check(db: Session, case: Case, moment: datetime) -> CallCheck:
    """May the borrower of ``case`` be called at ``moment``? Reads only, and is not
    recorded: it shows the rules' answer, no personal data (the case page that holds it
    is recorded as a view, and the call itself as ``call.log``), so a link followed from
    another site cannot write to the log in an agent's name."""
    answer = verdict(db, case, Channel.CALL, moment)
    decision, rules = answer.decision, answer.rules
    connected, attempts = _counts(db, case, moment)
    return CallCheck(
        decision=decision,
        reasons=refusal_reasons(decision),
        allowed_from=allowed_from_text(decision),
        local_time=zoned_time(moment, case.loan.borrower.timezone),
        connected_today=connected,
        attempts_week=attempts,
        max_connected=rules.max_connected_calls_per_day,
        max_attempts=rules.max_call_attempts_per_7_days,
        jurisdiction=answer.jurisdiction,
        hours=(rules.allowed_from.strftime("%H:%M"), rules.allowed_until.strftime("%H:%M")),
    )


# Logging a call ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallReport:
    """What the agent says happened on a call (already validated by the form)."""

    answered: Answerer
    outcome: Outcome
    started: datetime
    note: str = ""
    callback_at: datetime | None = None
    promise_due: date | None = None
    promise_amount: int | None = None
    opt_out: tuple[Channel, ...] = ()
    direction: Direction = Direction.OUTBOUND


class Verdict(StrEnum):
    """How logging a call ended."""

    LOGGED = "logged"
    REFUSED = "refused"  # the rules refuse our call itself: nothing recorded as made
    CALLBACK_REFUSED = "callback_refused"  # the callback time is not allowed: nothing


@dataclass
class CallResult:
    """What logging a call did, or why it did nothing."""

    verdict: Verdict
    decision: ContactDecision | None = None
    attempt: ContactAttempt | None = None
    promise: Promise | None = None
    hold_placed: bool = False
    opted_out: list[Channel] = field(default_factory=list)
    third_party_reasons: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The refusal's reasons, as sentences in the current language."""
        return refusal_reasons(self.decision) if self.decision else []

    @property
    def allowed_from(self) -> str | None:
        """When the refused call (or callback) becomes allowed, in the borrower's time."""
        return allowed_from_text(self.decision) if self.decision else None


def log_call(
    db: Session, case: Case, member: StaffMember, moment: datetime, report: CallReport
) -> CallResult:
    """Judge the call at the moment it started, with the case locked, and record it with
    everything that came of it (a promise, a hold, opt-outs, a callback) in one
    transaction; or record only the refusal in the audit log. A call the borrower made
    is recorded whatever the rules say of our calls then. Commits once."""
    decision = judge(db, case, Channel.CALL, report.started, lock=True)
    inbound = report.direction is Direction.INBOUND
    if not decision.allowed and not inbound:
        db.rollback()
        trail.record(
            db,
            member,
            "call.refused",
            moment,
            case_id=case.id,
            started_at=report.started.isoformat(),
            outcome=report.outcome.value,
            reasons=[reason.value for reason in decision.reasons],
        )
        db.commit()
        return CallResult(Verdict.REFUSED, decision=decision)
    connected = report.answered is Answerer.BORROWER
    third_party = report.answered is Answerer.SOMEONE_ELSE
    attempt = record_attempt(
        db,
        case,
        Channel.CALL,
        report.started,
        member.email,
        connected=connected,
        inbound=inbound,
        outcome=report.outcome.value,
        note=report.note.strip()[:2000] or None,
    )
    db.flush()
    result = CallResult(Verdict.LOGGED, attempt=attempt)
    details: dict[str, object] = {
        "attempt_id": attempt.id,
        "direction": report.direction.value,
        "started_at": report.started.isoformat(),
        "answered": report.answered.value,
        "outcome": report.outcome.value,
        "connected": connected,
    }
    if inbound and not decision.allowed:
        # Why we could not have called then: the record shows the borrower's call was
        # taken in spite of it, not made against the rules.
        details["outbound_refused"] = [reason.value for reason in decision.reasons]
    if third_party:
        # The gate's word on talking to whoever answered (never, whatever the time), and
        # said explicitly for the record: nothing about the debt reached them.
        refused = judge(db, case, Channel.CALL, report.started, recipient=Recipient.THIRD_PARTY)
        result.third_party_reasons = refusal_reasons(refused)
        details["discussion_refused"] = [reason.value for reason in refused.reasons]
        details["debt_discussed"] = False
    if report.callback_at is not None:
        # The borrower's wish does not override the rules: the time asked must be one
        # the rules allow, as far as today's history tells.
        later = judge(db, case, Channel.CALL, report.callback_at)
        if not later.allowed:
            db.rollback()
            return CallResult(Verdict.CALLBACK_REFUSED, decision=later)
        details["callback_at"] = report.callback_at.isoformat()
    elif not third_party:
        # This call answers a callback that was due (a call asking for a new one
        # replaces it instead, below).
        answered = answer_callback(db, case, report.started, member.email)
        if answered is not None:
            details["callback_done"] = answered.id
    if report.callback_at is not None:
        # Asked for on the call by the borrower: their request, not our contact.
        callback = schedule_callback(
            db,
            case,
            report.callback_at,
            CallbackSource.BORROWER,
            member.email,
            moment,
            attempt_id=attempt.id,
        )
        details["callback_id"] = callback.id
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="call_received" if inbound else "call_logged",
            actor="agent",
            at=moment,
            data={
                "attempt_id": attempt.id,
                "answered": report.answered.value,
                "outcome": report.outcome.value,
                "by": member.email,
            },
        )
    )
    trail.record(db, member, "call.log", moment, case_id=case.id, **details)
    if report.outcome is Outcome.PROMISE and report.promise_due and report.promise_amount:
        result.promise = make_promise(
            db,
            case,
            attempt.id,
            member.email,
            moment,
            report.promise_due,
            report.promise_amount,
        )
        trail.record(
            db,
            member,
            "promise.create",
            moment,
            case_id=case.id,
            promise_id=result.promise.id,
            attempt_id=attempt.id,
            due_date=report.promise_due.isoformat(),
            amount=report.promise_amount,
            currency=case.loan.currency,
        )
    reason = HOLDING_OUTCOMES.get(report.outcome)
    if reason is not None:
        result.hold_placed = hold_case(
            db,
            case,
            reason,
            report.note,
            moment,
            actor="agent",
            member=member,
            by=member.email,
            attempt_id=attempt.id,
        )
        trail.record(
            db,
            member,
            "hold.place",
            moment,
            case_id=case.id,
            reason=reason,
            attempt_id=attempt.id,
            already_on_hold=not result.hold_placed,
        )
    for channel in report.opt_out:
        if record_opt_out(
            db, case.loan.borrower_id, channel, moment, "agent", recorded_by=member.email
        ):
            result.opted_out.append(channel)
            trail.record(
                db,
                member,
                "optout.record",
                moment,
                case_id=case.id,
                channel=channel.value,
                attempt_id=attempt.id,
            )
    db.commit()
    return result


# The case page's record of calls ---------------------------------------------------------


@dataclass(frozen=True)
class CallLine:
    """One logged call as the case page lists it."""

    attempt: ContactAttempt
    answered: Answerer
    local_time: str
    callback: str | None


@dataclass(frozen=True)
class PromiseLine:
    """One promise as the case page lists it, with what has counted toward it."""

    promise: Promise
    paid: int


def recent_calls(db: Session, case: Case, limit: int = RECENT_CALLS) -> list[CallLine]:
    """The case's latest calls, newest first, by every agent."""
    timezone = case.loan.borrower.timezone
    attempts = db.scalars(
        select(ContactAttempt)
        .where(ContactAttempt.case_id == case.id, ContactAttempt.channel == Channel.CALL.value)
        .order_by(ContactAttempt.at.desc(), ContactAttempt.id.desc())
        .limit(limit)
    ).all()
    callbacks: dict[int, str] = {}
    if attempts:
        events = db.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "callback_requested"
            )
        )
        for event in events:
            try:
                at = datetime.fromisoformat(str(event.data["at"]))
                callbacks[int(event.data["attempt_id"])] = zoned_time(at, timezone)
            except (KeyError, TypeError, ValueError):
                continue
    return [
        CallLine(
            attempt=attempt,
            answered=answerer_of(attempt),
            local_time=zoned_time(attempt.at, timezone),
            callback=callbacks.get(attempt.id),
        )
        for attempt in attempts
    ]


def recent_promises(db: Session, case: Case, limit: int = RECENT_PROMISES) -> list[PromiseLine]:
    """The case's latest promises, newest first, each with what counted toward it."""
    promises: Sequence[Promise] = db.scalars(
        select(Promise)
        .where(Promise.case_id == case.id)
        .order_by(Promise.made_at.desc(), Promise.id.desc())
        .limit(limit)
    ).all()
    paid = progress_of(db, case, promises)
    return [PromiseLine(promise, paid[promise.id]) for promise in promises]
