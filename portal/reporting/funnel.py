"""The portal funnel: how far the month's borrowers went, from the reminder to the first
payment of a plan, by language and device class. Counted from what each case already
holds; nothing about a person is kept beyond it (no third-party analytics).

Definitions (``docs/reporting.md``, "Portal funnel"), each step the number of distinct
cases that reached it in a month (``cells.month_bounds``: days of the finance time zone):

1. **Reminder sent**: a message carrying a reminder link (``Message.link_id``) was sent.
2. **Link opened**: an answer was given on one of the case's links
   (``VerificationAttempt``, right or wrong): opening a link changes nothing (link
   scanners prefetch them), so the first thing a person does there is what counts.
3. **Verified**: a right answer.
4. **Options seen**: the plans page was shown (case event ``options_seen``).
5. **Plan reviewed**: a plan's review page was shown (case event ``plan_reviewed``).
6. **Accepted**: a plan was accepted (as ``portal.finance.plan_keeping`` counts them).
7. **First payment**: a plan's first installment was paid (``Plan.activated_at``).

**Language**: the borrower's (``Borrower.locale``). **Device class**: phone, tablet or
desktop, from the User-Agent of the case's first portal step of the month that records
one (``portal_verified``, ``options_seen``, ``plan_reviewed``), by ``device_class``;
``unknown`` for a case with none (most that never verified). The events keep only the
word, never the User-Agent. **Slice**: the case's at the month's start
(``cells.month_slices``). A case is counted once per step and month, under one language,
device class and slice, so the groups add up to the totals.

The month-end step counts each month's cells (``count_funnel``, ``FunnelCell``); a plan
still live can yet be canceled and leave the accepted step, so the months from the oldest
live plan in the plans' cells are recounted (``arrangements.unsettled``). A report of a
period sums its months' cells (``funnel``): over more than a month, a case is counted
once per month it reached a step (case-months). ``reached`` writes the two steps the
portal did not record before (and the verification's device class comes with the
verification).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Date,
    Integer,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from portal.cases.facts import record_event
from portal.finance.plan_keeping import counted_plans
from portal.models import (
    Borrower,
    Case,
    CaseEvent,
    FunnelCell,
    FunnelDevice,
    FunnelStep,
    Loan,
    Message,
    MessageStatus,
    Plan,
    ReminderLink,
    VerificationAttempt,
)
from portal.reporting.cells import (
    connection_of,
    days_of,
    in_period,
    month_bounds,
    month_slices,
    temporary,
)
from portal.reporting.portfolio import Slice
from portal.reporting.slices import WHOLE_BOOK
from portal.reporting.snapshots import SLICES, rows_at

CELLS = cast(Table, FunnelCell.__table__)


class DeviceClass(StrEnum):
    """The coarse kind of device a borrower used: all the funnel keeps of it."""

    PHONE = "phone"
    TABLET = "tablet"
    DESKTOP = "desktop"


UNKNOWN_DEVICE = FunnelDevice.UNKNOWN.value
# Every device class a case is counted under (the cells' own), unknown last.
DEVICES = tuple(device.value for device in FunnelDevice)

# The case events the portal writes for the funnel, each with ``{"device": <class>}``.
VERIFIED_EVENT = "portal_verified"
OPTIONS_SEEN = "options_seen"
PLAN_REVIEWED = "plan_reviewed"
DEVICE_EVENTS = (VERIFIED_EVENT, OPTIONS_SEEN, PLAN_REVIEWED)

STEPS = tuple(step.value for step in FunnelStep)

# Words in a User-Agent that name a tablet, then a phone; anything else is a desktop.
_TABLET_WORDS = ("ipad", "tablet", "kindle", "silk/", "playbook")
_PHONE_WORDS = ("mobi", "iphone", "ipod", "android", "phone", "blackberry", "opera mini")


def device_class(user_agent: str | None) -> DeviceClass:
    """Phone, tablet or desktop, from a User-Agent: a tablet names itself (iPad, Kindle,
    "Tablet") or is Android without "Mobile"; a phone says "Mobi", iPhone, Android or
    "Phone"; the rest, an empty one included, are desktops. (An iPad asking for the
    desktop site calls itself a Mac, and counts as one.)"""
    words = (user_agent or "").lower()
    if any(word in words for word in _TABLET_WORDS) or (
        "android" in words and "mobile" not in words
    ):
        return DeviceClass.TABLET
    if any(word in words for word in _PHONE_WORDS):
        return DeviceClass.PHONE
    return DeviceClass.DESKTOP


def reached(db: Session, case: Case, step: str, device: DeviceClass, moment: datetime) -> None:
    """Note that the borrower reached ``step`` (``options_seen`` or ``plan_reviewed``) on
    a ``device``: a case event with the device class alone. Commits."""
    if step not in (OPTIONS_SEEN, PLAN_REVIEWED):
        raise ValueError(f"not a funnel step the portal records: {step}")
    record_event(db, case, step, "borrower", at=moment, device=device.value)
    db.commit()


@dataclass(frozen=True)
class Funnel:
    """The period's funnel (see the module's docstring): case-months by (language,
    device class, step); ``first`` and ``last``, the period's days."""

    first: date
    last: date
    chosen: Slice
    counts: Mapping[tuple[str, str, str], int]

    def steps(self, language: str | None = None, device: str | None = None) -> tuple[int, ...]:
        """Each step's cases in order, for one language or device class (None: all)."""
        return tuple(
            sum(
                number
                for (locale, kind, step), number in self.counts.items()
                if step == name
                and (language is None or locale == language)
                and (device is None or kind == device)
            )
            for name in STEPS
        )

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages counted, in order."""
        return tuple(sorted({locale for locale, _, _ in self.counts}))

    def as_json(self) -> dict[str, object]:
        """``funnel``: ``steps`` (each step and its cases, in order), ``by_language`` and
        ``by_device`` (every device class, unknown included) the same way."""

        def listed(numbers: tuple[int, ...]) -> list[dict[str, object]]:
            return [{"step": step, "cases": n} for step, n in zip(STEPS, numbers, strict=True)]

        return {
            "funnel": {
                "steps": listed(self.steps()),
                "by_language": {
                    locale: listed(self.steps(language=locale)) for locale in self.languages
                },
                "by_device": {device: listed(self.steps(device=device)) for device in DEVICES},
            }
        }


def _reached(start: datetime, end: datetime) -> CompoundSelect[int, str]:
    """Each step a case reached from ``start`` to ``end`` (UTC), as (case id, step) rows,
    a case once or more per step."""

    def answered(step: str, *only: ColumnElement[bool]) -> Select[int, str]:
        return (
            select(ReminderLink.case_id, literal(step).label("step"))
            .join(VerificationAttempt, VerificationAttempt.link_id == ReminderLink.id)
            .where(VerificationAttempt.at >= start, VerificationAttempt.at < end, *only)
        )

    def noted(step: str) -> Select[int, str]:
        return select(CaseEvent.case_id, literal(step).label("step")).where(
            CaseEvent.kind == step, CaseEvent.at >= start, CaseEvent.at < end
        )

    return union_all(
        select(Message.case_id, literal("reminder_sent").label("step")).where(
            Message.link_id.is_not(None),
            Message.status == MessageStatus.SENT,
            Message.sent_at >= start,
            Message.sent_at < end,
        ),
        answered("link_opened"),
        answered("verified", VerificationAttempt.succeeded.is_(True)),
        noted(OPTIONS_SEEN),
        noted(PLAN_REVIEWED),
        select(Plan.case_id, literal("accepted").label("step")).where(*counted_plans(start, end)),
        select(Plan.case_id, literal("first_payment").label("step")).where(
            Plan.activated_at >= start, Plan.activated_at < end
        ),
    )


# The month's cases and the steps they reached (``count_funnel``), a temporary table of
# the count's transaction, dropped once read (on an error, with the transaction).
STEPS_REACHED = temporary(
    "funnel_steps_reached",
    Column("case_id", Integer, nullable=False),
    Column("step", String(24), nullable=False),
)


def count_funnel(db: Session | Connection, month_end: date, zone: ZoneInfo) -> int:
    """The funnel's cells of the month ending ``month_end`` (days in ``zone``), replaced:
    per slice at the month's start, step, language and device class, the cases that
    reached the step in the month (see the module's docstring). One ``INSERT … SELECT``.
    Returns the cells written."""
    db.execute(delete(CELLS).where(CELLS.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    reached_steps = _reached(start, end).subquery("reached")
    # Each case once per step (the cells count cases, not events), written to a table of
    # the count's own and counted, so that the planner sees how many: estimated over the
    # union of seven sources, a month at a million cases was planned for a billion rows,
    # and once (in the month-end step, after a million month-end rows written) ran for
    # minutes.
    connection = connection_of(db)
    STEPS_REACHED.create(connection)
    db.execute(
        insert(STEPS_REACHED).from_select(
            ["case_id", "step"],
            select(reached_steps.c.case_id, reached_steps.c.step).distinct(),
        )
    )
    db.execute(text(f"ANALYZE {STEPS_REACHED.name}"))
    steps = STEPS_REACHED
    slices = month_slices(month_end, select(steps.c.case_id).distinct())
    firsts = (
        select(CaseEvent.case_id, func.min(CaseEvent.id).label("event_id"))
        .where(CaseEvent.kind.in_(DEVICE_EVENTS), CaseEvent.at >= start, CaseEvent.at < end)
        .group_by(CaseEvent.case_id)
        .subquery("firsts")
    )
    # Each case's device class: its first funnel event's of the month.
    devices = (
        select(firsts.c.case_id, CaseEvent.data["device"].as_string().label("device"))
        .join(CaseEvent, CaseEvent.id == firsts.c.event_id)
        .subquery("devices")
    )
    device = func.coalesce(devices.c.device, UNKNOWN_DEVICE)
    sliced_by = [slices.c[name] for name in SLICES]
    grouped = (
        select(
            literal(month_end, Date),
            steps.c.step,
            Borrower.locale,
            device,
            *sliced_by,
            func.count(),
        )
        .select_from(steps)
        .join(slices, slices.c.case_id == steps.c.case_id)
        .join(Case, Case.id == steps.c.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(devices, devices.c.case_id == steps.c.case_id)
        .group_by(steps.c.step, Borrower.locale, device, *sliced_by)
    )
    columns = ["month_end", "step", "language", "device", *SLICES, "cases"]
    db.execute(insert(CELLS).from_select(columns, grouped))
    STEPS_REACHED.drop(connection)
    return rows_at(db, CELLS, month_end)


def funnel(db: Session, first: date, last: date, chosen: Slice = WHOLE_BOOK) -> Funnel:
    """The funnel of the month pairs whose first month-ends run from ``first`` to
    ``last`` (their months: ``cells.period_months``) for the slice ``chosen``, summed
    from the months' cells (see the module's docstring)."""
    columns = CELLS.c
    rows = db.execute(
        select(columns.language, columns.device, columns.step, func.sum(columns.cases))
        .where(*in_period(CELLS, first, last, chosen))
        .group_by(columns.language, columns.device, columns.step)
    )
    counts = {(str(locale), str(kind), str(step)): int(n) for locale, kind, step, n in rows}
    days = days_of(first, last)
    return Funnel(*days, chosen, MappingProxyType(counts))
