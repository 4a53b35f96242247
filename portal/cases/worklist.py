"""My work and Next case: what needs one agent now, in priority order, and the case they
should call next.

My work is a list of groups, most pressing first, each with its count and its first
``SHOWN`` rows (the rest are a link to the queue, filtered, where one exists):

1. callbacks due: open callbacks on the agent's cases due within ``SOON`` or overdue,
   then, apart, the ones due later in the console's today; a callback the borrower asked
   for from the portal lands here at the time they chose (they only read the
   ``callbacks`` table);
2. promises due today (open, due on the borrower's today) and promises broken (the
   ``promise_broken`` flag still open: not dealt with yet);
3. holds to review: the ``hold_placed``, ``hold_review`` and ``hold_ended`` flags on the
   agent's cases and, when the agent is a supervisor, every dispute whose proposed
   resolution awaits a supervisor's sign-off (never their own proposal: they cannot sign
   it off);
4. cases flagged for an agent for any other reason (a lock-out, a staff member's flag,
   a request), each flag cleared with a note from the page;
5. borrower replies: what the borrower sent from the portal since the case was last
   worked. There is no inbound SMS or email channel, so a reply is one of: a dispute or
   hardship declared from the portal (the standing hold they placed), evidence uploaded
   for a standing dispute, a callback they asked for from the portal (still open). "Last
   worked" is the latest of an agent's contact with the borrower on the case (a call or
   a message an agent made; the system's reminders do not count) and a flag an agent
   cleared on it;
6. the agent's own overdue cases the strategy ranks highest: the queue's own first order
   (most days past due first, then the case number), from ``portal.cases.queue``.

The page is a fixed set of statements whatever the rows (one per group with its count
as a window function, three for the rows' facts as the queue shows them, four for the
gate's answer on every row, ``portal.contact.gate.judge_many``): no statement per row.

Next case picks the first case, in the queue's order, of the agent's own open overdue
cases that the contact rules let them call now. It only ever offers the agent's own
cases: two agents never own the same case, so they never get the same one; a supervisor
gets their own cases too (not unowned ones, which two supervisors could take at once).
SQL narrows the candidates where that is safe (open, no hold, not opted out of calls,
and the borrower's local time inside the hours of their jurisdiction, worked out once
per time zone, jurisdiction and currency); each candidate is then judged by the gate in
batches of ``BATCH``, and the first that passes is confirmed by ``judge`` itself before
it is offered. Caps and the pause after a conversation are left to the gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from negotiation.contact import (
    Channel,
    ContactDecision,
    ContactHistory,
    ContactRequest,
    Recipient,
    may_contact,
)
from portal.audit import trail
from portal.cases import queue
from portal.cases.flags import FlagError, clear_flag
from portal.cases.overdue import date_bounds, today_column
from portal.contact.callbacks import cancel_callback
from portal.contact.gate import judge, judge_many, rules_for
from portal.core.db import lock_row
from portal.models import (
    Borrower,
    Callback,
    CallbackSource,
    CallbackStatus,
    Case,
    CaseFlag,
    CaseHold,
    CaseStatus,
    ContactAttempt,
    DisputeEvidence,
    FlagReason,
    HoldStatus,
    Loan,
    OptOut,
    Promise,
    PromiseStatus,
    StaffMember,
)

# A callback due this soon counts as due now.
SOON = timedelta(minutes=30)
# Rows shown in each group; the count says how many there are.
SHOWN = 10
# Next case judges this many candidates at once, and gives up after this many.
BATCH = 20
MOST_JUDGED = 1000
NOTE_LIMIT = 1000

HOLD_FLAGS = (FlagReason.HOLD_PLACED, FlagReason.HOLD_REVIEW, FlagReason.HOLD_ENDED)
# The flags with a group of their own; the others are "flagged for an agent".
GROUPED_FLAGS = (FlagReason.PROMISE_BROKEN, *HOLD_FLAGS)


class Group(StrEnum):
    """My work's groups, in the order of the page."""

    CALLBACKS = "callbacks"
    LATER_TODAY = "later_today"
    PROMISES_DUE = "promises_due"
    PROMISES_BROKEN = "promises_broken"
    HOLDS = "holds"
    SIGN_OFF = "sign_off"
    FLAGGED = "flagged"
    REPLIES = "replies"
    TOP = "top"


class Reply(StrEnum):
    """What a borrower can send from the portal that counts as a reply."""

    HOLD = "hold"  # declared a dispute or hardship
    EVIDENCE = "evidence"  # uploaded evidence for their dispute
    CALLBACK = "callback_asked"  # asked to be called


@dataclass(frozen=True)
class Item:
    """Why a case is in a group: ``why`` is a flag reason, a ``Reply``, or the group's
    own key; ``at`` when it is due (or came); the ids an action on the row needs."""

    case_id: int
    why: str
    at: datetime | None = None
    on: date | None = None
    flag_id: int | None = None
    callback_id: int | None = None
    amount: int | None = None
    currency: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class WorkRow:
    """One row of a group: the item, the case as the queue shows it (masked), and
    whether the agent may call the borrower now."""

    item: Item
    case: queue.QueueRow
    call: ContactDecision | None


@dataclass(frozen=True)
class WorkGroup:
    """A group's rows (at most ``SHOWN``) and how many there are in all; ``queue_args``
    is the queue's filter that shows them all, where the queue has one."""

    key: Group
    rows: list[WorkRow]
    total: int
    queue_args: dict[str, str] | None = None


@dataclass(frozen=True)
class MyWork:
    """Everything that needs ``owner`` now, group by group."""

    owner: StaffMember
    groups: list[WorkGroup]

    def group(self, key: Group) -> WorkGroup | None:
        """The group ``key``, when the page has it."""
        return next((group for group in self.groups if group.key is key), None)


# A select of any columns (SQLAlchemy types each by its columns).
Query = Any


def _owned(query: Query, case_id: Any, owner_id: int) -> Query:
    return query.join(Case, Case.id == case_id).where(Case.owner_id == owner_id)


def _limited(db: Session, query: Query) -> tuple[list[Any], int]:
    """The first ``SHOWN`` rows of ``query`` (already ordered), and how many it has in
    all, in one statement (a window count)."""
    rows = db.execute(query.add_columns(func.count().over().label("total")).limit(SHOWN)).all()
    return [row[:-1] for row in rows], (rows[0][-1] if rows else 0)


def _callbacks(
    db: Session, owner_id: int, start: datetime | None, end: datetime
) -> tuple[list[Item], int]:
    query = _owned(
        select(
            Callback.case_id, Callback.id, Callback.due_at, Callback.source, Callback.requested_by
        ),
        Callback.case_id,
        owner_id,
    ).where(Callback.status == CallbackStatus.OPEN, Callback.due_at < end)
    if start is not None:
        query = query.where(Callback.due_at >= start)
    rows, total = _limited(db, query.order_by(Callback.due_at, Callback.id))
    items = [
        Item(
            case_id,
            "callback",
            at=due,
            callback_id=callback_id,
            detail="portal" if by == "borrower" else source.value,
        )
        for case_id, callback_id, due, source, by in rows
    ]
    return items, total


def _promises_due(db: Session, owner_id: int, moment: datetime) -> tuple[list[Item], int]:
    earliest, latest = date_bounds(moment)
    query = (
        select(Promise.case_id, Promise.id, Promise.due_date, Promise.amount, Promise.currency)
        .join(Case, Case.id == Promise.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Case.owner_id == owner_id,
            Promise.status == PromiseStatus.OPEN,
            Promise.due_date >= earliest,
            Promise.due_date <= latest,
            Promise.due_date == today_column(Borrower.timezone, moment),
        )
        .order_by(Promise.amount.desc(), Promise.id)
    )
    rows, total = _limited(db, query)
    items = [
        Item(case_id, "promise", on=due, amount=amount, currency=currency)
        for case_id, _, due, amount, currency in rows
    ]
    return items, total


def _flags(
    db: Session, owner_id: int, reasons: Iterable[FlagReason], *, exclude: bool = False
) -> tuple[list[Item], int]:
    chosen = list(reasons)
    condition = CaseFlag.reason.not_in(chosen) if exclude else CaseFlag.reason.in_(chosen)
    standing = (
        select(CaseHold.case_id, CaseHold.kind, CaseHold.review_by, CaseHold.ends_on)
        .where(CaseHold.ended_at.is_(None))
        .subquery("standing")
    )
    query = (
        _owned(
            select(
                CaseFlag.case_id,
                CaseFlag.id,
                CaseFlag.reason,
                CaseFlag.raised_at,
                standing.c.kind,
                standing.c.review_by,
                standing.c.ends_on,
            ),
            CaseFlag.case_id,
            owner_id,
        )
        .outerjoin(standing, standing.c.case_id == CaseFlag.case_id)
        .where(CaseFlag.cleared_at.is_(None), condition)
        .order_by(CaseFlag.raised_at, CaseFlag.id)
    )
    rows, total = _limited(db, query)
    items = [
        Item(
            case_id,
            reason.value,
            at=raised,
            on=review_by or ends_on,
            flag_id=flag_id,
            detail=kind.value if kind is not None else None,
        )
        for case_id, flag_id, reason, raised, kind, review_by, ends_on in rows
    ]
    return items, total


def _sign_offs(db: Session, member: StaffMember) -> tuple[list[Item], int]:
    """Disputes, on any case, whose resolution awaits a supervisor other than its maker."""
    query = (
        select(CaseHold.case_id, CaseHold.proposed_at, CaseHold.review_by, CaseHold.proposed)
        .where(
            CaseHold.ended_at.is_(None),
            CaseHold.status == HoldStatus.PROPOSED,
            or_(CaseHold.proposed_by_id.is_(None), CaseHold.proposed_by_id != member.id),
        )
        .order_by(CaseHold.proposed_at, CaseHold.id)
    )
    rows, total = _limited(db, query)
    items = [
        Item(
            case_id,
            "sign_off",
            at=proposed_at,
            on=review_by,
            detail=proposed.value if proposed else None,
        )
        for case_id, proposed_at, review_by, proposed in rows
    ]
    return items, total


def _not_worked_since(case_id: Any, at: Any) -> ColumnElement[bool]:
    """``at`` is later than the case was last worked: any contact an agent made on it
    (not the system's reminders) and any flag an agent cleared on it."""
    contacted = (
        select(func.max(ContactAttempt.at))
        .where(ContactAttempt.case_id == case_id, ContactAttempt.agent != "system")
        .scalar_subquery()
    )
    cleared = (
        select(func.max(CaseFlag.cleared_at))
        .where(CaseFlag.case_id == case_id, CaseFlag.cleared_by != "system")
        .scalar_subquery()
    )
    return and_(or_(contacted.is_(None), at > contacted), or_(cleared.is_(None), at > cleared))


def _replies(db: Session, owner_id: int) -> tuple[list[Item], int]:
    holds = _owned(
        select(
            CaseHold.case_id.label("case_id"),
            literal(Reply.HOLD.value).label("why"),
            CaseHold.placed_at.label("at"),
            type_coerce(CaseHold.kind, String).label("detail"),
        ),
        CaseHold.case_id,
        owner_id,
    ).where(
        CaseHold.ended_at.is_(None),
        CaseHold.placed_by == "borrower",
        _not_worked_since(CaseHold.case_id, CaseHold.placed_at),
    )
    evidence = (
        _owned(
            select(
                DisputeEvidence.case_id.label("case_id"),
                literal(Reply.EVIDENCE.value).label("why"),
                DisputeEvidence.uploaded_at.label("at"),
                type_coerce(DisputeEvidence.content_type, String).label("detail"),
            ),
            DisputeEvidence.case_id,
            owner_id,
        )
        .join(CaseHold, CaseHold.id == DisputeEvidence.hold_id)
        .where(
            CaseHold.ended_at.is_(None),
            _not_worked_since(DisputeEvidence.case_id, DisputeEvidence.uploaded_at),
        )
    )
    asked = _owned(
        select(
            Callback.case_id.label("case_id"),
            literal(Reply.CALLBACK.value).label("why"),
            Callback.requested_at.label("at"),
            type_coerce(Callback.source, String).label("detail"),
        ),
        Callback.case_id,
        owner_id,
    ).where(
        Callback.status == CallbackStatus.OPEN,
        Callback.source == CallbackSource.BORROWER,
        Callback.requested_by == "borrower",
        _not_worked_since(Callback.case_id, Callback.requested_at),
    )
    every = union_all(holds, evidence, asked).subquery("replies")
    query = select(every.c.case_id, every.c.why, every.c.at, every.c.detail).order_by(
        every.c.at.desc(), every.c.case_id, every.c.why
    )
    rows, total = _limited(db, query)
    items = [
        Item(case_id, why, at=at, detail=str(detail) if detail is not None else None)
        for case_id, why, at, detail in rows
    ]
    return items, total


def _end_of_day(moment: datetime) -> datetime:
    """The end of the console's today at ``moment``, in UTC."""
    zone = queue.console_zone()
    today = moment.astimezone(zone).date()
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def my_work(db: Session, owner: StaffMember, moment: datetime) -> MyWork:
    """What needs ``owner`` at ``moment``, group by group (see the module's docstring).
    Reads only; the caller records a supervisor's look at someone else's."""
    soon = moment + SOON
    found: list[tuple[Group, list[Item], int, dict[str, str] | None]] = []
    found.append((Group.CALLBACKS, *_callbacks(db, owner.id, None, soon), None))
    found.append((Group.LATER_TODAY, *_callbacks(db, owner.id, soon, _end_of_day(moment)), None))
    found.append((Group.PROMISES_DUE, *_promises_due(db, owner.id, moment), None))
    needs = {"owner": str(owner.id), "needs": "yes", "dpd": "all"}
    broken = _flags(db, owner.id, [FlagReason.PROMISE_BROKEN])
    found.append((Group.PROMISES_BROKEN, *broken, needs))
    found.append((Group.HOLDS, *_flags(db, owner.id, HOLD_FLAGS), needs))
    if "supervisor" in owner.role_set:
        found.append((Group.SIGN_OFF, *_sign_offs(db, owner), {"hold": "dispute", "dpd": "all"}))
    found.append((Group.FLAGGED, *_flags(db, owner.id, GROUPED_FLAGS, exclude=True), needs))
    found.append((Group.REPLIES, *_replies(db, owner.id), None))
    top = queue.page_of(db, queue.owned_overdue(owner.id), moment, per_page=SHOWN)
    top_items = [Item(row.case_id, Group.TOP.value) for row in top.rows]
    found.append((Group.TOP, top_items, top.total, top.filter.to_args()))

    ids = sorted({item.case_id for _, items, _, _ in found for item in items})
    known = {row.case_id: row for row in top.rows}
    missing = [case_id for case_id in ids if case_id not in known]
    known.update((row.case_id, row) for row in queue.rows_of(db, missing, moment))
    calls = judge_many(db, ids, Channel.CALL, moment)
    groups = [
        WorkGroup(
            key,
            [
                WorkRow(item, known[item.case_id], calls.get(item.case_id))
                for item in items
                if item.case_id in known
            ],
            total,
            args,
        )
        for key, items, total, args in found
    ]
    return MyWork(owner, groups)


# Acting from the page -------------------------------------------------------------------


class WorkError(Exception):
    """An action from My work that cannot be done; ``code`` says why (stable, for the
    view to word): ``not_found`` (no such open flag or callback: already dealt with, or
    never there), ``not_yours`` (another agent's case), ``note_required``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def may_work(member: StaffMember, case: Case) -> bool:
    """True when ``member`` may act on ``case`` from a work list: its owner, or a
    supervisor."""
    return case.owner_id == member.id or "supervisor" in member.role_set


def _note(note: str) -> str:
    cleaned = note.strip()
    if not cleaned:
        raise WorkError("note_required")
    return cleaned[:NOTE_LIMIT]


def clear(db: Session, member: StaffMember, flag_id: int, note: str, now: datetime) -> CaseFlag:
    """Clear an open flag of one of ``member``'s cases with a note saying what was done
    (``portal.cases.flags.clear_flag``: a case event), audited. The case row is locked
    first, so two clicks clear it once. Commits."""
    cleaned = _note(note)
    flag = db.get(CaseFlag, flag_id)
    if flag is None:
        raise WorkError("not_found")
    lock_row(db, Case, flag.case_id)
    db.refresh(flag)
    case = db.get(Case, flag.case_id)
    if case is None or flag.cleared_at is not None:
        db.rollback()
        raise WorkError("not_found")
    if not may_work(member, case):
        db.rollback()
        raise WorkError("not_yours")
    try:
        clear_flag(db, case, flag.id, now, member.email, cleaned)
    except FlagError:  # pragma: no cover - checked above under the lock
        db.rollback()
        raise WorkError("not_found") from None
    trail.record(
        db, member, "flag.clear", now, case_id=case.id, flag_id=flag.id, reason=flag.reason.value
    )
    db.commit()
    return flag


def cancel(
    db: Session, member: StaffMember, callback_id: int, note: str, now: datetime
) -> Callback:
    """Cancel an open callback of one of ``member``'s cases, saying why (a case event with
    the note), audited. Commits."""
    cleaned = _note(note)
    callback = db.get(Callback, callback_id)
    if callback is None:
        raise WorkError("not_found")
    lock_row(db, Case, callback.case_id)
    db.refresh(callback)
    case = db.get(Case, callback.case_id)
    if case is None or callback.status is not CallbackStatus.OPEN:
        db.rollback()
        raise WorkError("not_found")
    if not may_work(member, case):
        db.rollback()
        raise WorkError("not_yours")
    cancel_callback(db, case, now, member.email, note=cleaned)
    trail.record(db, member, "callback.cancel", now, case_id=case.id, callback_id=callback.id)
    db.commit()
    return callback


# Next case ------------------------------------------------------------------------------


class NoCase(StrEnum):
    """Why Next case found nothing."""

    NONE_OWNED = "none_owned"  # no open overdue case off hold and not opted out of calls
    NONE_NOW = "none_now"  # some, but the contact rules allow none of them at this moment


@dataclass(frozen=True)
class NextCase:
    """Next case's answer: the case to open, or why none and the next allowed moment
    (None when waiting alone will not allow one)."""

    case_id: int | None
    reason: NoCase | None = None
    allowed_from: datetime | None = None
    # Candidates the gate judged, and rows read from SQL to find them.
    judged: int = 0
    read: int = 0


def _callable_cases(owner_id: int) -> Query:
    """The owner's cases that SQL can tell may be called at some point, in the queue's
    order (most days past due first): open, overdue, no hold, and the borrower not opted
    out of calls; with each borrower's zone, jurisdiction and loan currency."""
    opted_out = exists().where(
        OptOut.borrower_id == Loan.borrower_id,
        OptOut.channel == Channel.CALL.value,
        OptOut.lifted_at.is_(None),
    )
    return (
        select(Case.id, Case.overdue_since, Borrower.timezone, Borrower.jurisdiction, Loan.currency)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Case.owner_id == owner_id,
            Case.status == CaseStatus.OPEN,
            Case.hold.is_(None),
            Case.overdue_since.is_not(None),
            ~opted_out,
        )
        .order_by(Case.overdue_since.asc(), Case.id.asc())
    )


def _hours_now(zone: str, jurisdiction: str, currency: str, moment: datetime) -> ContactDecision:
    """The engine's answer for a borrower of this zone, jurisdiction and currency with no
    history, no hold and no opt-out: whether it is inside their hours (and not a
    blackout day) at ``moment``, and when it next is (the hours only: a validation notice
    not yet sent is the case's own, which ``judge_many`` reads)."""
    request = ContactRequest(
        Channel.CALL, Recipient.BORROWER, moment, zone, validation_notice_sent=True
    )
    return may_contact(request, ContactHistory(), rules_for(jurisdiction, currency))


def find_next(db: Session, member: StaffMember, moment: datetime) -> NextCase:
    """The first of ``member``'s own cases, in the queue's order (most days past due
    first), that the contact rules let them call at ``moment`` (see the module's
    docstring). Reads only.

    The candidates are read a batch at a time along the owner's index. The hours are
    worked out once per (zone, jurisdiction, currency) met: a group outside its hours
    now is left out in SQL from the next batch on, so a third of the book asleep costs
    a batch or two, not a walk past every sleeping borrower; the survivors of a batch are
    judged by the gate together (``judge_many``) and the first it allows is confirmed
    by ``judge``."""
    candidates = _callable_cases(member.id)
    hours: dict[tuple[str, str, str], ContactDecision] = {}
    asleep: list[tuple[str, str, str]] = []
    later: list[datetime] = []
    judged = read = 0
    seen_any = False
    after: tuple[date, int] | None = None
    while judged < MOST_JUDGED:
        page = candidates
        if asleep:
            page = page.where(
                ~or_(
                    *(
                        and_(
                            Borrower.timezone == zone,
                            Borrower.jurisdiction == jurisdiction,
                            Loan.currency == currency,
                        )
                        for zone, jurisdiction, currency in asleep
                    )
                )
            )
        if after is not None:
            since, last_id = after
            page = page.where(
                or_(
                    Case.overdue_since > since,
                    and_(Case.overdue_since == since, Case.id > last_id),
                )
            )
        batch = db.execute(page.limit(BATCH)).all()
        if not batch:
            break
        seen_any = True
        read += len(batch)
        after = (batch[-1][1], batch[-1][0])
        awake = []
        for case_id, _, zone, jurisdiction, currency in batch:
            key = (zone, jurisdiction, currency)
            if key not in hours:
                decided = hours[key] = _hours_now(zone, jurisdiction, currency, moment)
                if not decided.allowed:
                    asleep.append(key)
                    if decided.allowed_from is not None:
                        later.append(decided.allowed_from)
            if hours[key].allowed:
                awake.append(case_id)
        judged += len(awake)
        decisions = judge_many(db, awake, Channel.CALL, moment)
        for case_id in awake:
            decision = decisions[case_id]
            if decision.allowed:
                case = db.get(Case, case_id)
                if case is not None:
                    # The gate itself has the last word on the one offered.
                    decision = judge(db, case, Channel.CALL, moment)
                if decision.allowed:
                    return NextCase(case_id, judged=judged, read=read)
            if decision.allowed_from is not None:
                later.append(decision.allowed_from)
    if not seen_any:
        return NextCase(None, NoCase.NONE_OWNED)
    return NextCase(None, NoCase.NONE_NOW, min(later) if later else None, judged, read)


def open_next(db: Session, member: StaffMember, moment: datetime) -> NextCase:
    """``find_next``, recorded in the audit log (``case.next``, with the case offered or
    none): the case page it leads to records its own view. Commits the entry."""
    found = find_next(db, member, moment)
    trail.record_read(
        db,
        member,
        "case.next",
        moment,
        case_id=found.case_id,
        found=found.case_id is not None,
        reason=found.reason.value if found.reason else None,
        judged=found.judged,
    )
    return found


__all__ = [
    "SHOWN",
    "SOON",
    "Group",
    "Item",
    "MyWork",
    "NextCase",
    "NoCase",
    "Reply",
    "WorkError",
    "WorkGroup",
    "WorkRow",
    "cancel",
    "clear",
    "find_next",
    "may_work",
    "my_work",
    "open_next",
]
