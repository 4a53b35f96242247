"""The daily case work: each day, every case moves by the lender's rules, exactly once.

For one day ``as_of`` (the portal's "today" that morning), in this order:

1. overdue since: each case's oldest installment still owed once due;
   then holds: a hardship whose breathing space ends today ends (``portal.cases.holds``),
   asking an agent to review the case; a hardship ending within the policy's
   ``hardship_review_days_before`` days, or a dispute whose review-by date has come, asks
   for a review (once per hold);
2. plans: an installment unpaid past its grace days is missed (on the date the borrower
   was shown); the policy's number of misses (or a missed last installment) breaks an
   active plan, which returns the case to collection; a plan whose first installment is
   missed before it ever started lapses;
3. a resolved case that is overdue again is reopened;
4. stages follow days past due, for cases neither arranged nor on hold;
5. penalties accrue on each monthly anniversary of the first missed due date, for cases
   neither arranged nor on hold, up to the policy's number of accruals;
6. offers: an agent's offer not taken up by its expiry (ready, or still waiting for a
   supervisor) expires;
7. partner agencies: a placement whose period has ended is recalled
   (``portal.agencies.placement.recall_due``).

A case is written once for 1 and 4: its stage moves with its overdue date, in step 1's
pass, unless a later step may write an event of its own for it first (resolved, so
reopened in 3; holding a plan, watched in 2) or ends its pause (a hardship's end, a plan
broken or lapsed): those cases step 4 reads by key, after them. The timeline reads as if
the steps ran one after the other.

Last, promises to pay made on calls are reviewed (``portal.contact.promises.review_promises``):
kept once paid in full, partly kept or broken once their date has passed where the
borrower lives; a broken or partly kept one asks for an agent.

Every step is a few set-based statements that touch only the rows that change, each in
its own short transaction (the portal keeps taking payments meanwhile), and each writes
its case events in the same transaction as its change. Every predicate excludes what is
already done, so re-running a day changes nothing. On PostgreSQL an advisory lock keeps
two runs from interleaving.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    Subquery,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.sqltypes import NullType

from negotiation import Currency, Policy, Stage
from portal.agencies import commission, placement
from portal.cases import arrears
from portal.cases.holds import expire_holds, flag_reviews
from portal.contact.promises import review_promises
from portal.core.sql import array_text
from portal.legal.hooks import advance_tracks
from portal.models import (
    OPEN_OFFER_STATUSES,
    OPEN_PAYMENT_STATUSES,
    UNPAID_INSTALLMENT,
    Base,
    Case,
    CaseEvent,
    CaseStatus,
    LifecycleRun,
    Loan,
    LoanCharge,
    LoanInstallment,
    Offer,
    OfferStatus,
    Payment,
    PaymentStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
)
from portal.reporting import monthly


def _table(model: type[Base]) -> Table:
    """A model's table, typed as one: the declarative base types ``__table__`` as any
    FromClause, while every model here maps a plain Table."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} does not map a plain table")
    return table


cases = _table(Case)
events = _table(CaseEvent)
loans = _table(Loan)
installments = _table(LoanInstallment)
charges = _table(LoanCharge)
plans = _table(Plan)
plan_installments = _table(PlanInstallment)
payments = _table(Payment)
offers = _table(Offer)
runs = _table(LifecycleRun)

# One key for PostgreSQL's advisory lock: two runs never interleave their steps.
LOCK_KEY = 7_151_994
# Cases changed per transaction by the steps that can touch most of the portfolio.
BATCH = 20_000
# How far back a run without ``--as-of`` catches up on days it missed.
MAX_CATCH_UP_DAYS = 62
PENALTY_DESCRIPTION = "late_penalty"
# The partial index's own predicate, word for word (so the planner uses the index), in
# parentheses so that it keeps its meaning beside other conditions.
_UNPAID = text(f"({UNPAID_INSTALLMENT})")


@dataclass
class DayWork:
    """What one day's work changed (all zero when the day had been worked already)."""

    as_of: date
    became_overdue: int = 0
    caught_up: int = 0
    installments_missed: int = 0
    plans_broken: int = 0
    plans_lapsed: int = 0
    cases_reopened: int = 0
    stages_changed: int = 0
    penalties: int = 0
    offers_expired: int = 0
    hardships_ended: int = 0
    holds_to_review: int = 0
    promises_kept: int = 0
    promises_partly_kept: int = 0
    promises_broken: int = 0
    # Partner agencies' placements whose period ended (``portal.agencies.placement``).
    placements_recalled: int = 0
    # The cases written to the month-end history on a month's last day (not a change).
    month_end_cases: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Rows of cases, plans and charges this day's work changed."""
        counts = asdict(self)
        unchanged = ("as_of", "seconds", "month_end_cases")
        return sum(v for k, v in counts.items() if k not in unchanged)


def advance(
    engine: Engine, policy: Policy, today: date, now: datetime, as_of: date | None = None
) -> list[DayWork]:
    """Work ``as_of`` (again, if asked), or every day not yet worked up to ``today``,
    oldest first: a day the job did not run is caught up, never skipped."""
    if as_of is not None:
        return [work_day(engine, policy, as_of, now)]
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(runs.c.as_of)))
    first = (
        today
        if last is None
        else max(last + timedelta(days=1), today - timedelta(days=MAX_CATCH_UP_DAYS))
    )
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    return [work_day(engine, policy, day, now) for day in days]


def work_day(engine: Engine, policy: Policy, as_of: date, now: datetime) -> DayWork:
    """All of one day's case work, step by step, in short transactions."""
    work = DayWork(as_of)
    day = _Day(as_of, now, policy)
    steps: list[tuple[str, Callable[[Engine, _Day, DayWork], None]]] = [
        ("overdue", _refresh_overdue),
        ("holds", _one_transaction(_expire_holds)),
        ("reviews", _one_transaction(_flag_hold_reviews)),
        ("plans", _one_transaction(_watch_plans)),
        ("reopen", _one_transaction(_reopen_resolved)),
        ("stages", _move_stages),
        ("penalties", _one_transaction(_accrue_penalties)),
        # The queue's stored overdue amounts, after every step that changes them.
        ("arrears", arrears.daily_step),
        ("offers", _one_transaction(_expire_offers)),
        ("promises", _one_transaction(_review_promises)),
        # Partner agencies' commission on the day's payments and refunds.
        ("commission", commission.daily_step),
        # Then placements whose period has ended are recalled.
        ("agencies", _recall_placements),
        # The legal track: past its deadline, or its plan gone (issue 19).
        ("legal", _one_transaction(_advance_legal)),
        # Last: the book as this day's work left it (``portal.reporting.snapshots``).
        ("month_end", _one_transaction(_write_month_end)),
    ]
    for name, step in steps:
        started = time.perf_counter()
        step(engine, day, work)
        work.seconds[name] = round(time.perf_counter() - started, 3)
    _record_run(engine, work, now)
    return work


def _recall_placements(engine: Engine, day: _Day, work: DayWork) -> None:
    """Recall the agencies' placements whose period ended by the run's moment."""
    placement.daily_step(engine, day, work)


def _write_month_end(conn: Connection, day: _Day, work: DayWork) -> None:
    """On a month's last day, every case not resolved to the month-end history, and the
    month's transitions from the month-end before."""
    if day.is_month_end:
        work.month_end_cases = monthly.close_month(conn, day.as_of)


def _one_transaction(
    step: Callable[[Connection, _Day, DayWork], None],
) -> Callable[[Engine, _Day, DayWork], None]:
    """A step whose changes are few on any day (plans, penalties): one transaction."""

    def run(engine: Engine, day: _Day, work: DayWork) -> None:
        with _step(engine) as conn:
            step(conn, day, work)

    return run


def _in_batches(
    engine: Engine,
    changing: Select[Any],
    apply: Callable[[Connection, list[int]], None],
    found: Callable[[Connection, _Day, DayWork, Sequence[Row[Any]]], None],
    day: _Day,
    work: DayWork,
) -> None:
    """Find what a step changes (its first column the ids, locking no row), then change
    it a batch of ids at a time (``apply(conn, ids)``), each batch its own transaction:
    even a day when most of a million cases change holds no row for long, and the
    portal's payments go on meanwhile. Each batch is given the ids themselves
    (``_dense`` says whether to read them by key or as their range), and re-checks the
    step's own conditions for them, so what changed meanwhile is respected.

    On PostgreSQL the find runs under the run's lock, in the first batch's transaction:
    when its rows are one batch of scattered ids (a typical day), they are that batch
    (``found(conn, day, work, rows)``), with nothing read again: no other run can have
    written them since. A payment landing between the find and the write is not seen,
    as one landing between a batch's re-read and its write is not; the next day's find
    sees it (nothing else writes the overdue date)."""
    postgres = engine.dialect.name == "postgresql"
    with _step(engine) if postgres else engine.connect() as conn:
        rows = conn.execute(changing).all()
        ids = sorted(row[0] for row in rows)
        if postgres and ids and len(ids) <= BATCH and not _dense(ids):
            found(conn, day, work, rows)
            return
    for start in range(0, len(ids), BATCH):
        with _step(engine) as conn:
            apply(conn, ids[start : start + BATCH])


def _dense(ids: list[int]) -> bool:
    """Whether sorted ``ids`` fill at least half the range they span: then a batch reads
    the range (a day when most cases change); otherwise the ids themselves, by key (a
    typical day, when a few thousand scattered ids span nearly the whole table)."""
    return 2 * len(ids) >= ids[-1] - ids[0] + 1


def _among(conn: Connection, column: ColumnElement[int], ids: list[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``: on PostgreSQL one array parameter (``= ANY``, sent as
    its text), where thousands of separate parameters cost more to build and bind than
    the statement takes to run; elsewhere an IN list."""
    if conn.dialect.name == "postgresql":
        return column == any_(_id_array(ids))
    return column.in_(ids)


def _id_array(ids: list[int]) -> ColumnElement[Any]:
    """``ids`` as one PostgreSQL ``bigint[]`` parameter, sent as the array's text
    (``array_text``, of no type: PostgreSQL reads it as the array the statement casts it
    to, a constant): psycopg adapts a list value by value in Python (25 ms for 10,000
    ids), where the text is one join (5 ms)."""
    return cast(bindparam(None, array_text(ids), type_=NullType()), ARRAY(BigInteger))


@dataclass(frozen=True)
class _Day:
    """The constants of one day's statements, and the cases the reopen and stage steps
    are to look at (``reopen``, ``restage``: filled by the steps before them)."""

    as_of: date
    now: datetime
    policy: Policy
    reopen: set[int] = field(default_factory=set, compare=False)
    restage: set[int] = field(default_factory=set, compare=False)

    def before(self, days: int) -> date:
        """The date ``days`` before this one."""
        return self.as_of - timedelta(days=days)

    @property
    def is_month_end(self) -> bool:
        """Whether this is the last day of its month (anniversaries of the 29th to 31st
        fall on it in shorter months)."""
        return (self.as_of + timedelta(days=1)).day == 1


@contextmanager
def _step(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


def _json(conn: Connection, **fields: object) -> ColumnElement[object]:
    """A JSON object built in SQL, for an event's data (each dialect names it its way).
    Keys are this module's own words, written into the SQL as constants."""
    arguments: list[object] = []
    for key, value in fields.items():
        arguments += [
            literal_column(f"'{key}'"),
            value if isinstance(value, ColumnElement) else literal(value),
        ]
    if conn.dialect.name == "postgresql":
        return func.json_build_object(*arguments)
    return func.json_object(*arguments)


def _add_events(
    conn: Connection, day: _Day, kind: str, rows: Select[Any], data: ColumnElement[object]
) -> int:
    """INSERT … SELECT one event per row of ``rows`` (a select of case ids); returns how
    many were written."""
    source = rows.add_columns(
        literal(kind), literal("system"), literal(day.now, type_=events.c.at.type), data
    )
    # Counted through RETURNING: a driver's rowcount for INSERT … SELECT is not reliable.
    written = conn.execute(
        insert(events)
        .from_select(["case_id", "kind", "actor", "at", "data"], source)
        .returning(events.c.id)
    )
    return len(written.all())


# 1. Overdue since -----------------------------------------------------------------------


def _unpaid_due(day: _Day) -> ColumnElement[bool]:
    """An installment still owed once due (read through the partial index of unpaid
    installments)."""
    return and_(installments.c.due_date < day.as_of, _UNPAID)


def _oldest_unpaid(day: _Day, *among: ColumnElement[bool]) -> Subquery:
    """Each loan's oldest installment still owed once due: one pass over the partial
    index's entries due before the day (the few percent of loans behind), never over
    every loan; for the loans ``among`` says, or all."""
    return (
        select(installments.c.loan_id, func.min(installments.c.due_date).label("since"))
        .where(_unpaid_due(day), *among)
        .group_by(installments.c.loan_id)
        .subquery("oldest")
    )


def _case_changes(day: _Day) -> Select[Any]:
    """The loans whose case changes today: its overdue date is not its oldest unpaid
    installment's due date (overdue now and not before, or since another date, or owing
    nothing due any more), or its stage is not the one that date implies and it is not
    paused, or it is resolved and overdue (to be reopened). One pass over the cases, each
    looked up in the aggregate (which the database hashes, a few percent of the loans);
    the pause is looked at only for the few whose stage differs."""
    oldest = _oldest_unpaid(day)
    moves = and_(cases.c.stage != _stage_of(day, oldest.c.since), not_(_paused()))
    resolved = and_(cases.c.status == CaseStatus.RESOLVED, oldest.c.since.is_not(None))
    return (
        select(
            cases.c.loan_id,
            cases.c.id,
            cases.c.overdue_since,
            oldest.c.since,
            cases.c.stage,
            cases.c.status,
            cases.c.hold,
        )
        .select_from(cases.outerjoin(oldest, oldest.c.loan_id == cases.c.loan_id))
        .where(or_(cases.c.overdue_since.is_distinct_from(oldest.c.since), moves, resolved))
    )


def _refresh_overdue(engine: Engine, day: _Day, work: DayWork) -> None:
    """One pass finds the cases whose overdue date or stage changes; each batch then
    recomputes both for its own loans only, writes their events and writes each case
    once (its date and its stage together: one new row version, not two). A case whose
    later steps may write an event of their own today (resolved, so reopened if overdue;
    holding a plan, which may be missed, broken or lapse) keeps its stage for the stage
    step (``day.restage``), so that its timeline reads in the order the steps run; a
    resolved case overdue is left to the reopen step (``day.reopen``), after the plans."""

    def apply(conn: Connection, ids: list[int]) -> None:
        if _dense(ids):
            _refresh_range(conn, day, work, ids[0], ids[-1])
            _stage_range(conn, day, work, ids[0], ids[-1])
        else:
            _refresh_loans(conn, day, work, ids)

    _in_batches(engine, _case_changes(day), apply, _write_found, day, work)


def _refresh_range(conn: Connection, day: _Day, work: DayWork, first: int, last: int) -> None:
    """The loans ``first`` to ``last``, most of which change (a day after a month without
    payments): one pass over the range's unpaid installments for each statement beats
    a probe per loan."""
    oldest = _oldest_unpaid(day, installments.c.loan_id.between(first, last))
    within = cases.c.loan_id.between(first, last)
    moved = and_(
        cases.c.loan_id == oldest.c.loan_id,
        or_(cases.c.overdue_since.is_(None), cases.c.overdue_since != oldest.c.since),
    )
    cleared = and_(
        cases.c.overdue_since.is_not(None), cases.c.loan_id.not_in(select(oldest.c.loan_id))
    )
    newly = select(cases.c.id).where(
        within, cases.c.loan_id == oldest.c.loan_id, cases.c.overdue_since.is_(None)
    )
    since = _json(conn, as_of=day.as_of, since=oldest.c.since)
    work.became_overdue += _add_events(conn, day, "became_overdue", newly, since)
    conn.execute(update(cases).where(within, moved).values(overdue_since=oldest.c.since))
    # "caught_up" is the dated record of a case becoming current again, written with the
    # change itself: the experiment results count it as a cure (portal.strategy.results).
    caught_up = select(cases.c.id).where(within, cleared)
    work.caught_up += _add_events(conn, day, "caught_up", caught_up, _json(conn, as_of=day.as_of))
    conn.execute(update(cases).where(within, cleared).values(overdue_since=None))


def _refresh_loans(conn: Connection, day: _Day, work: DayWork, ids: list[int]) -> None:
    """The loans ``ids``, scattered (a typical day): each one's oldest unpaid due date read
    afresh in the batch's own transaction (a payment may have landed since they were
    found), once, by an index probe per loan, with what decides its case's stage; then
    each changed case written once."""
    since = (
        select(func.min(installments.c.due_date))
        .where(installments.c.loan_id == cases.c.loan_id, _unpaid_due(day))
        .scalar_subquery()
    )
    fresh = conn.execute(
        select(
            cases.c.id,
            cases.c.overdue_since,
            since,
            cases.c.stage,
            _paused(),
            _deferred(),
            cases.c.status == CaseStatus.RESOLVED,
        ).where(_among(conn, cases.c.loan_id, ids))
    )
    _write_changes(conn, day, work, _changes(day, fresh))


def _write_found(conn: Connection, day: _Day, work: DayWork, found: Sequence[Row[Any]]) -> None:
    """The cases the find gave (``_case_changes``'s rows, in this transaction, under the
    run's lock), each changed one written once. What pauses a case or defers its stage
    is what ``_paused`` and ``_deferred`` say, from the find's columns and the cases' live
    plan (at most one a case), read by key for these cases only."""
    ids = [row.id for row in found]
    promise: dict[int, bool] = {}
    for i in range(0, len(ids), BATCH):  # a statement's parameters are limited
        live = select(plans.c.case_id, plans.c.status, plans.c.kind).where(
            _among(conn, plans.c.case_id, ids[i : i + BATCH]),
            plans.c.status.in_((PlanStatus.PENDING, PlanStatus.ACTIVE)),
        )
        for case_id, status, kind in conn.execute(live):
            deferral = status == PlanStatus.PENDING and kind == "deferral"
            promise[case_id] = promise.get(case_id, False) or deferral
    rows = [
        (
            row.id,
            row.overdue_since,
            row.since,
            row.stage,
            row.status == CaseStatus.ARRANGED or row.hold is not None or promise.get(row.id, False),
            row.status == CaseStatus.RESOLVED or row.id in promise,
            row.status == CaseStatus.RESOLVED,
        )
        for row in found
    ]
    _write_changes(conn, day, work, _changes(day, rows))


def _changes(day: _Day, rows: Iterable[Sequence[Any]]) -> list[_Change]:
    """The changes of cases read as (id, overdue date, oldest unpaid due date, stage,
    paused, deferred, resolved); the resolved ones overdue noted for the reopen step
    (``day.reopen``), the deferred ones whose stage moves for the stage step
    (``day.restage``)."""
    changes: list[_Change] = []
    # A day's changed cases share a few hundred overdue dates: each date's stage once.
    stages: dict[date | None, str] = {}
    for case_id, was, now, stage, paused, deferred, resolved in rows:
        if resolved and now is not None:
            day.reopen.add(case_id)
        if not paused and now not in stages:
            stages[now] = _implied_stage(day, now)
        implied = None if paused else stages[now]
        moves = implied is not None and implied != stage
        if moves and deferred:
            day.restage.add(case_id)
        if was != now or (moves and not deferred):
            to = implied if moves and not deferred else None
            changes.append(_Change(case_id, was, now, str(stage), to))
    return changes


@dataclass(frozen=True)
class _Change:
    """One case's change of the day: its overdue date (``was`` to ``since``) and its stage
    (``stage_was`` to ``stage``; None: it keeps its stage)."""

    case_id: int
    was: date | None
    since: date | None
    stage_was: str
    stage: str | None

    @property
    def turns(self) -> bool:
        """Whether the case becomes overdue, or current again."""
        return (self.was is None) != (self.since is None)


def _write_changes(conn: Connection, day: _Day, work: DayWork, changes: list[_Change]) -> None:
    """The events of ``changes`` (becoming overdue or current, then moving stage: the
    order the two steps wrote them in), then each case written once, grouped by what it
    is set to: a typical day's changes share a few dates and stages, so a few statements
    write them all."""
    _turn_events(conn, day, work, [c for c in changes if c.turns])
    moved: dict[tuple[str, str], list[int]] = {}
    for change in changes:
        if change.stage is not None:
            moved.setdefault((change.stage_was, change.stage), []).append(change.case_id)
    for (before, after), ids in moved.items():
        data = _json(conn, as_of=day.as_of, **{"from": before, "to": after})
        work.stages_changed += _add_events(conn, day, "stage_changed", _listed(conn, ids), data)
    written: dict[tuple[bool, date | None, str | None], list[int]] = {}
    for change in changes:
        key = (change.was != change.since, change.since, change.stage)
        written.setdefault(key, []).append(change.case_id)
    for (dated, since, to), ids in written.items():
        values: dict[str, Any] = {"overdue_since": since} if dated else {}
        if to is not None:
            values.update(stage=to, updated_at=day.now)
        conn.execute(update(cases).where(_among(conn, cases.c.id, ids)).values(**values))


def _turn_events(conn: Connection, day: _Day, work: DayWork, turning: list[_Change]) -> None:
    """The events of the cases becoming overdue (dated by their new overdue date) or
    current again."""
    by_date: dict[date | None, list[int]] = {}
    for change in turning:
        by_date.setdefault(change.since, []).append(change.case_id)
    for since, ids in by_date.items():
        rows = _listed(conn, ids)
        if since is None:
            # As in _refresh_range: the dated record of a cure.
            data = _json(conn, as_of=day.as_of)
            work.caught_up += _add_events(conn, day, "caught_up", rows, data)
        else:
            data = _json(conn, as_of=day.as_of, since=since)
            work.became_overdue += _add_events(conn, day, "became_overdue", rows, data)


def _listed(conn: Connection, ids: list[int]) -> Select[Any]:
    """The case ids ``ids`` (read in this transaction) as the rows of an INSERT … SELECT:
    on PostgreSQL the array itself, so that no case is read again for its events (the
    scattered rows of a typical day are each on a page of their own); elsewhere the
    cases, by key."""
    if conn.dialect.name == "postgresql":
        return select(func.unnest(_id_array(ids)))
    return select(cases.c.id).where(cases.c.id.in_(ids))


# 2. Plans -------------------------------------------------------------------------------


def _live(status: PlanStatus) -> ColumnElement[bool]:
    """A plan in ``status`` whose case is not on hold. The hold is read by the case's key
    for each such plan: a join would scan every case for the few on hold."""
    held = select(cases.c.hold).where(cases.c.id == plans.c.case_id).scalar_subquery()
    return and_(plans.c.status == status, held.is_(None))


def _watch_plans(conn: Connection, day: _Day, work: DayWork) -> None:
    _mark_missed(conn, day, work)
    _break_plans(conn, day, work)
    _lapse_plans(conn, day, work)


def _mark_missed(conn: Connection, day: _Day, work: DayWork) -> None:
    """Installments of active plans unpaid past their grace days count as missed, dated
    the day the borrower was shown ("missed if unpaid on ...")."""
    grace = day.policy.grace_days
    missed = and_(
        plan_installments.c.missed_on.is_(None),
        plan_installments.c.paid < plan_installments.c.amount,
        plan_installments.c.due_date < day.before(grace),
        plan_installments.c.plan_id.in_(select(plans.c.id).where(_live(PlanStatus.ACTIVE))),
    )
    rows = (
        select(plans.c.case_id)
        .select_from(plan_installments.join(plans, plans.c.id == plan_installments.c.plan_id))
        .where(missed)
    )
    data = _json(
        conn,
        as_of=day.as_of,
        plan_id=plans.c.id,
        sequence=plan_installments.c.sequence,
        due_date=plan_installments.c.due_date,
        amount=plan_installments.c.amount - plan_installments.c.paid,
    )
    work.installments_missed = _add_events(conn, day, "plan_installment_missed", rows, data)
    conn.execute(
        update(plan_installments)
        .where(missed)
        .values(missed_on=_plus_days(conn, plan_installments.c.due_date, grace))
    )


def _plus_days(conn: Connection, column: ColumnElement[date], days: int) -> ColumnElement[date]:
    """``column`` plus ``days`` days, in SQL."""
    if conn.dialect.name == "postgresql":
        return column + days
    return func.date(column, f"+{days} days")


def _break_plans(conn: Connection, day: _Day, work: DayWork) -> None:
    """An active plan breaks on the policy's number of misses, or on a missed last
    installment (a one-installment plan cannot be missed twice): the case goes back to
    collection, and a conditional waiver is no longer held for it."""
    needed = day.policy.misses_before_broken
    count = func.count(plan_installments.c.id)
    misses = func.count(plan_installments.c.missed_on)
    active = select(plans.c.id).where(plans.c.status == PlanStatus.ACTIVE)
    if needed >= 1:
        # A plan with no installment missed cannot break (one miss at least is needed): the
        # installments are counted for the plans with a miss, not for every plan in force.
        missed = select(plan_installments.c.plan_id).where(
            plan_installments.c.missed_on.is_not(None)
        )
        active = active.where(plans.c.id.in_(missed))
    broken_ids = (
        select(plan_installments.c.plan_id)
        .group_by(plan_installments.c.plan_id)
        .having(misses >= case((count < needed, count), else_=needed))
        .where(plan_installments.c.plan_id.in_(active))
    )
    # The hold is looked at for the few plans missed often enough, not for every one.
    broken = [
        tuple(row)
        for row in conn.execute(
            select(plans.c.id, plans.c.case_id).where(
                plans.c.id.in_(broken_ids), _live(PlanStatus.ACTIVE)
            )
        )
    ]
    if not broken:
        return
    ids = [plan_id for plan_id, _case_id in broken]
    day.restage.update(case_id for _plan_id, case_id in broken)
    data = _json(
        conn,
        as_of=day.as_of,
        plan_id=plans.c.id,
        waiver_reinstated=case(
            (plans.c.conditional_waiver, plans.c.waived_penalties + plans.c.waived_fees),
            else_=0,
        ),
    )
    work.plans_broken = _add_events(
        conn, day, "plan_broken", select(plans.c.case_id).where(plans.c.id.in_(ids)), data
    )
    conn.execute(update(plans).where(plans.c.id.in_(ids)).values(status=PlanStatus.BROKEN))
    conn.execute(
        update(cases)
        .where(cases.c.id.in_([case_id for _plan_id, case_id in broken]))
        .where(cases.c.status == CaseStatus.ARRANGED)
        .values(status=CaseStatus.OPEN, updated_at=day.now)
    )
    _void_payments(conn, day, ids)


def _lapse_plans(conn: Connection, day: _Day, work: DayWork) -> None:
    """A plan accepted but never started (its first installment unpaid past the grace
    days) lapses: nothing was arranged, and collection simply goes on."""
    first_missed = exists(
        select(plan_installments.c.id).where(
            plan_installments.c.plan_id == plans.c.id,
            plan_installments.c.sequence == 1,
            plan_installments.c.paid < plan_installments.c.amount,
            plan_installments.c.due_date < day.before(day.policy.grace_days),
        )
    )
    lapsing = and_(_live(PlanStatus.PENDING), first_missed)
    work.plans_lapsed = _add_events(
        conn,
        day,
        "plan_lapsed",
        select(plans.c.case_id).where(lapsing),
        _json(conn, as_of=day.as_of, plan_id=plans.c.id),
    )
    if not work.plans_lapsed:
        return
    lapsed = conn.execute(select(plans.c.id, plans.c.case_id).where(lapsing)).all()
    ids = [plan_id for plan_id, _case_id in lapsed]
    day.restage.update(case_id for _plan_id, case_id in lapsed)
    conn.execute(update(plans).where(plans.c.id.in_(ids)).values(status=PlanStatus.LAPSED))
    _void_payments(conn, day, ids)


def _void_payments(conn: Connection, day: _Day, plan_ids: list[int]) -> None:
    """A closed plan's checkouts can no longer be paid (the sweeper cancels the intents)."""
    conn.execute(
        update(payments)
        .where(payments.c.plan_id.in_(plan_ids), payments.c.status.in_(OPEN_PAYMENT_STATUSES))
        .values(status=PaymentStatus.VOIDED, voided_at=day.now)
    )


# 3. Reopened cases -----------------------------------------------------------------------


def _reopen_resolved(conn: Connection, day: _Day, work: DayWork) -> None:
    """A resolved case whose loan falls overdue again (an arrears plan kept, a later
    installment missed) is open again."""
    again = and_(cases.c.status == CaseStatus.RESOLVED, cases.c.overdue_since.is_not(None))
    # Found by the overdue step (``day.reopen``), each read again here by key: a look at
    # every overdue case would cost more than the few it finds.
    ids = sorted(day.reopen)
    data = _json(conn, as_of=day.as_of)
    for start in range(0, len(ids), BATCH):  # a statement's parameters are limited
        chunk = and_(_among(conn, cases.c.id, ids[start : start + BATCH]), again)
        rows = select(cases.c.id).where(chunk)
        work.cases_reopened += _add_events(conn, day, "case_reopened", rows, data)
        conn.execute(update(cases).where(chunk).values(status=CaseStatus.OPEN, updated_at=day.now))


# 4. Stages --------------------------------------------------------------------------------


def _stage_of(day: _Day, since: ColumnElement[date] = cases.c.overdue_since) -> ColumnElement[str]:
    """The stage days past due imply (counted from ``since``, the case's overdue date
    unless told), as SQL: thresholds become dates, so the column is compared, never
    computed per row."""
    policy = day.policy
    return case(
        (since.is_(None), Stage.CURRENT.value),
        (since <= day.before(policy.late_from_days), Stage.LATE.value),
        (since <= day.before(policy.mid_from_days), Stage.MID.value),
        (since <= day.before(policy.early_from_days), Stage.EARLY.value),
        else_=Stage.CURRENT.value,
    )


def _paused() -> ColumnElement[bool]:
    """Arranged, on hold, or holding a promise to pay (which pauses escalation from the
    moment it is made). ``_write_found`` says the same in Python for a typical day's
    found cases: change both together."""
    promise = exists(
        select(plans.c.id).where(
            plans.c.case_id == cases.c.id,
            plans.c.status == PlanStatus.PENDING,
            plans.c.kind == "deferral",
        )
    )
    return or_(cases.c.status == CaseStatus.ARRANGED, cases.c.hold.is_not(None), promise)


def _implied_stage(day: _Day, since: date | None) -> str:
    """``_stage_of`` in Python, for an overdue date read from the database."""
    if since is None:
        return Stage.CURRENT.value
    return day.policy.stage_for((day.as_of - since).days).value


def _deferred() -> ColumnElement[bool]:
    """A case whose later steps may write an event of their own today: resolved (it is
    reopened if overdue) or holding a plan pending or in force (which may be missed,
    broken or lapse). Its stage is moved by the stage step, after those events.
    ``_write_found`` says the same in Python for a typical day's found cases: change
    both together."""
    planned = exists(
        select(plans.c.id).where(
            plans.c.case_id == cases.c.id,
            plans.c.status.in_((PlanStatus.PENDING, PlanStatus.ACTIVE)),
        )
    )
    return or_(cases.c.status == CaseStatus.RESOLVED, planned)


def _stage_range(conn: Connection, day: _Day, work: DayWork, first: int, last: int) -> None:
    """The stages of the cases of the loans ``first`` to ``last`` (after their overdue
    dates, in the same transaction): moved here unless deferred to the stage step; and
    the resolved ones overdue, for the reopen step."""
    within = cases.c.loan_id.between(first, last)
    again = and_(cases.c.status == CaseStatus.RESOLVED, cases.c.overdue_since.is_not(None))
    day.reopen.update(conn.scalars(select(cases.c.id).where(within, again)))
    stage = _stage_of(day)
    moving = and_(within, cases.c.stage != stage, not_(_paused()))
    day.restage.update(conn.scalars(select(cases.c.id).where(moving, _deferred())))
    _move(conn, day, work, and_(moving, not_(_deferred())))


def _move(conn: Connection, day: _Day, work: DayWork, moving: ColumnElement[bool]) -> None:
    """Each case ``moving`` says to its stage, with its event."""
    stage = _stage_of(day)
    data = _json(conn, as_of=day.as_of, **{"from": cases.c.stage, "to": stage})
    rows = select(cases.c.id).where(moving)
    work.stages_changed += _add_events(conn, day, "stage_changed", rows, data)
    conn.execute(update(cases).where(moving).values(stage=stage, updated_at=day.now))


def _move_stages(engine: Engine, day: _Day, work: DayWork) -> None:
    """The stages the overdue step left (``day.restage``: cases deferred, and those whose
    pause the holds and plans steps ended), each read again by key. Every other case
    moved with its overdue date; a pause ended by an agent during the run is seen by the
    next day's overdue step, as one ended after it."""
    ids = sorted(day.restage)
    for start in range(0, len(ids), BATCH):
        with _step(engine) as conn:
            within = _among(conn, cases.c.id, ids[start : start + BATCH])
            _move(conn, day, work, and_(within, cases.c.stage != _stage_of(day), not_(_paused())))


# 5. Penalties -----------------------------------------------------------------------------


def _anniversaries_of(day: _Day) -> list[date]:
    """The overdue dates whose monthly anniversary ``day`` is, 1 to the policy's number of
    accruals months on: the same day of an earlier month, and on a month's last day also
    that earlier month's later days (the 29th to 31st fall on a shorter month's last
    day)."""
    dates = []
    for months in range(1, day.policy.penalty_max_accruals + 1):
        index = day.as_of.year * 12 + day.as_of.month - 1 - months
        year, month = divmod(index, 12)
        last = calendar.monthrange(year, month + 1)[1]
        days = range(day.as_of.day, last + 1) if day.is_month_end else [day.as_of.day]
        dates += [date(year, month + 1, d) for d in days if d <= last]
    return dates


def _accrue_penalties(conn: Connection, day: _Day, work: DayWork) -> None:
    """On each monthly anniversary of the first missed due date (the 29th to 31st fall on
    a shorter month's last day), a penalty of the policy's percentage of the overdue
    principal, rounded down to the currency's step; at most the policy's number."""
    policy = day.policy
    since = cases.c.overdue_since
    # Whose anniversary it is, as the overdue dates it falls on: read through the index
    # of overdue dates, a few thousand cases, not every overdue case.
    anniversary = since.in_(_anniversaries_of(day))
    # The overdue principal of the cases whose anniversary it is, and of no other: one
    # index probe per case, not an aggregate over every loan. Cast back to a whole
    # number: PostgreSQL's sum() of bigint is numeric, whose division is not the integer
    # division the rule rounds down with.
    overdue = cast(
        select(
            func.sum(
                installments.c.principal_due
                - installments.c.principal_paid
                - installments.c.principal_waived
            )
        )
        .where(
            installments.c.loan_id == cases.c.loan_id,
            installments.c.due_date < day.as_of,
            _UNPAID,
        )
        .scalar_subquery(),
        BigInteger,
    )
    numerator, denominator = policy.penalty_monthly_pct.as_integer_ratio()
    step = case(*((loans.c.currency == c.value, c.installment_step) for c in Currency), else_=1)
    already = exists(
        select(charges.c.id).where(
            charges.c.loan_id == cases.c.loan_id,
            charges.c.kind == "penalty",
            charges.c.charged_on == day.as_of,
        )
    )
    candidates = (
        select(
            cases.c.id.label("case_id"),
            cases.c.loan_id,
            # Integer division, as the engine's percent_of rounds down: exact, no float.
            (overdue * numerator // (denominator * 100) // step * step).label("amount"),
        )
        .select_from(cases.join(loans, loans.c.id == cases.c.loan_id))
        .where(
            since.is_not(None),
            anniversary,
            not_(_paused()),
            cases.c.status == CaseStatus.OPEN,
            not_(already),
        )
        .subquery("candidates")
    )
    due = select(candidates).where(candidates.c.amount > 0).subquery("due")
    columns = ["loan_id", "kind", "description", "amount", "paid", "waived", "charged_on"]
    rows = select(
        due.c.loan_id,
        literal("penalty"),
        literal(PENALTY_DESCRIPTION),
        due.c.amount,
        literal(0),
        literal(0),
        literal(day.as_of, type_=charges.c.charged_on.type),
    )
    # The candidates (a look at every overdue case) are found once, not once per table.
    if conn.dialect.name == "postgresql":
        # One statement: the charges inserted, and their events from the rows the insert
        # returns (each case read by its loan's key), no charge read back.
        inserted = (
            insert(charges)
            .from_select(columns, rows)
            .returning(charges.c.loan_id, charges.c.amount)
            .cte("charged")
        )
        new = select(cases.c.id).select_from(
            inserted.join(cases, cases.c.loan_id == inserted.c.loan_id)
        )
        data = _json(conn, as_of=day.as_of, amount=inserted.c.amount)
        work.penalties += _add_events(conn, day, "penalty_charged", new, data)
        return
    # The charges first, their rows returned; the events then read them back by key.
    charged = conn.execute(insert(charges).from_select(columns, rows).returning(charges.c.id))
    ids = list(charged.scalars())
    data = _json(conn, as_of=day.as_of, amount=charges.c.amount)
    for start in range(0, len(ids), BATCH):  # a statement's parameters are limited
        new = (
            select(cases.c.id)
            .select_from(charges.join(cases, cases.c.loan_id == charges.c.loan_id))
            .where(_among(conn, charges.c.id, ids[start : start + BATCH]))
        )
        work.penalties += _add_events(conn, day, "penalty_charged", new, data)


# 6. Offers ----------------------------------------------------------------------------------


def _expire_offers(conn: Connection, day: _Day, work: DayWork) -> None:
    """Offers still open at their expiry (ready to send, or waiting for a supervisor)
    expire: a link already sent then shows the borrower their own options instead. The
    change comes first and its events follow from what it returned, so an offer that a
    supervisor approves at this very moment (which moves its expiry on) is either
    expired with its event or left alone, never half of each."""
    open_and_past = and_(offers.c.status.in_(OPEN_OFFER_STATUSES), offers.c.expires_at <= day.now)
    expired = [
        row.id
        for row in conn.execute(
            update(offers)
            .where(open_and_past)
            .values(status=OfferStatus.EXPIRED)
            .returning(offers.c.id)
        )
    ]
    if not expired:
        return
    work.offers_expired = _add_events(
        conn,
        day,
        "offer_expired",
        select(offers.c.case_id).where(offers.c.id.in_(expired)),
        _json(conn, as_of=day.as_of, offer_id=offers.c.id),
    )


# Holds ----------------------------------------------------------------------------------------


def _expire_holds(conn: Connection, day: _Day, work: DayWork) -> None:
    """A hardship's breathing space ends on its date, before the day's stages and
    penalties: from that day the case is worked again, and an agent is asked to review it.
    Holds are few, so they are ended one by one in this step's transaction."""
    with Session(bind=conn) as session:
        expired = expire_holds(session, day.as_of, day.now)
        work.hardships_ended = expired.hardships
        day.restage.update(expired.cases)
        session.flush()


def _advance_legal(conn: Connection, day: _Day, work: DayWork) -> None:
    """Legal tracks whose final notice's deadline has passed become active; paused ones
    whose plan broke or lapsed resume (``portal.legal.hooks.advance_tracks``)."""
    with Session(bind=conn) as session:
        advance_tracks(session, day.as_of)
        session.flush()


def _flag_hold_reviews(conn: Connection, day: _Day, work: DayWork) -> None:
    """Standing holds due a review (a breathing space near its end, a dispute at its
    review-by date) ask for an agent, after the day's expiries."""
    with Session(bind=conn) as session:
        work.holds_to_review = flag_reviews(session, day.as_of, day.now, day.policy)
        session.flush()


# Promises to pay ---------------------------------------------------------------------------


def _review_promises(conn: Connection, day: _Day, work: DayWork) -> None:
    """Decide the open promises to pay in this step's transaction. Promises are few (one
    open per case at most, made on calls), so the review reads them all at once."""
    with Session(bind=conn) as session:
        review = review_promises(session, day.as_of, day.now)
    work.promises_kept = review.kept
    work.promises_partly_kept = review.partly_kept
    work.promises_broken = review.broken


def _record_run(engine: Engine, work: DayWork, now: datetime) -> None:
    """The day is worked; its first run's figures are kept (a re-run's are all zero)."""
    summary = {k: v for k, v in asdict(work).items() if k not in ("as_of",)}
    try:
        with _step(engine) as conn:
            done = conn.scalar(select(runs.c.id).where(runs.c.as_of == work.as_of))
            if done is None:
                conn.execute(
                    insert(runs).values(
                        as_of=work.as_of, started_at=now, finished_at=now, summary=summary
                    )
                )
    except IntegrityError:
        pass  # another run recorded the same day at the same moment
