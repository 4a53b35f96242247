"""The month's cells' shared parts (``portal.reporting.cells``, ``portal.reporting.monthly``):
the slice a case had in a month, the months of a period, and which months the month-end
step counts again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from portal.cases.facts import policy
from portal.core import db
from portal.models import Case, CaseMonthEnd, Plan, PlanCell
from portal.reporting import monthly
from portal.reporting.cells import month_bounds, month_slices, months_between, period_months
from portal.reporting.monthly import MonthCounter
from tests.portal.factories import add_staff, build_case

TAIPEI = ZoneInfo("Asia/Taipei")
OCTOBER, NOVEMBER = date(2026, 10, 31), date(2026, 11, 30)


def _row(month_end: date, case_id: int, owner_id: int | None, stage: str) -> CaseMonthEnd:
    return CaseMonthEnd(
        month_end=month_end,
        case_id=case_id,
        product="personal",
        currency="TWD",
        market="TW",
        stage=stage,
        status="open",
        owner_id=owner_id,
        team_id=None,
        arm=None,
        days_past_due=0,
        bucket="current",
        overdue=0,
        balance=100,
        overdue_since=None,
        exact=True,
    )


def test_the_months_of_a_period_are_the_pairs_days() -> None:
    # The pairs from 2026-09-30 to 2026-10-31 are October and November.
    assert period_months(date(2026, 9, 30), OCTOBER) == (OCTOBER, NOVEMBER)
    assert list(months_between(date(2026, 12, 31), date(2027, 2, 28))) == [
        date(2026, 12, 31),
        date(2027, 1, 31),
        date(2027, 2, 28),
    ]
    # November in Taipei: from 31 October 16:00 UTC to 30 November 16:00 UTC.
    assert month_bounds(NOVEMBER, TAIPEI) == (
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
    )


def test_a_case_is_sliced_by_its_row_when_the_month_began(app: Flask) -> None:
    ling = add_staff(app, "ling@haohuan.example", roles=("agent",))
    wei = add_staff(app, "wei@haohuan.example", roles=("agent",))
    # A: rows at both month-ends (ling's, then wei's); B: opened in November, a row at its
    # end only (wei's); C: no row at all, owned by ling now; D: nobody's at the start of
    # November, wei's at its end: nobody's in November.
    a, b, c, d = (build_case(app).case_id for _ in range(4))
    with app.app_context():
        session = db.session()
        session.add_all(
            [
                _row(OCTOBER, a, ling, "early"),
                _row(NOVEMBER, a, wei, "mid"),
                _row(NOVEMBER, b, wei, "current"),
                _row(OCTOBER, d, None, "late"),
                _row(NOVEMBER, d, wei, "late"),
            ]
        )
        session.get_one(Case, c).owner_id = ling
        session.flush()
        slices = month_slices(NOVEMBER, select(Case.id).where(Case.id.in_([a, b, c, d])))
        found = {
            row.case_id: (row.owner_id, str(row.stage), row.product, row.market)
            for row in session.execute(select(slices))
        }
        stage_c = str(session.get_one(Case, c).stage)
    assert found == {
        a: (ling, "early", "personal", "TW"),
        b: (wei, "current", "personal", "TW"),
        c: (ling, stage_c, "personal", "TW"),
        d: (None, "late", "personal", "TW"),
    }


def test_the_month_end_counts_its_month_the_one_before_and_the_unsettled(app: Flask) -> None:
    counted: list[date] = []

    def count(_db: object, month_end: date, _zone: ZoneInfo) -> int:
        counted.append(month_end)
        return 1

    settled = MonthCounter("settled", count)
    unsettled = MonthCounter("unsettled", count, lambda _db: date(2026, 8, 31))
    recent = MonthCounter("recent", count, lambda _db: NOVEMBER)
    with app.app_context():
        session = db.session()
        written = monthly.count_month(session, NOVEMBER, TAIPEI, (settled,))
        assert (written, counted) == ({"settled": 2}, [OCTOBER, NOVEMBER])
        counted.clear()
        monthly.count_month(session, NOVEMBER, TAIPEI, (unsettled,))
        assert counted == [date(2026, 8, 31), date(2026, 9, 30), OCTOBER, NOVEMBER]
        counted.clear()
        # An unsettled month later than the month before changes nothing.
        monthly.count_month(session, NOVEMBER, TAIPEI, (recent,))
        assert counted == [OCTOBER, NOVEMBER]


def test_the_backfill_counts_the_cells_of_months_written_before(app: Flask) -> None:
    """After an upgrade that adds a section's cells, the month-ends are written already
    and the cells' tables empty: the backfill counts them all the same."""
    a = build_case(app).case_id
    with app.app_context():
        session = db.session()
        session.add_all([_row(OCTOBER, a, None, "early"), _row(NOVEMBER, a, None, "early")])
        session.add(
            Plan(
                case_id=a,
                kind="arrears_plan",
                status="active",
                currency="TWD",
                restructured=100_000,
                total=100_000,
                accepted_at=datetime(2026, 11, 10, 4, tzinfo=UTC),
            )
        )
        session.commit()
        assert session.scalar(select(func.count()).select_from(PlanCell)) == 0
        written = monthly.backfill(session, date(2026, 10, 1), NOVEMBER, policy(), TAIPEI)
        session.commit()
        counted = session.execute(select(PlanCell.month_end, PlanCell.plans)).all()
    assert written == {}  # both month-ends were there
    assert counted == [(NOVEMBER, 1)]
