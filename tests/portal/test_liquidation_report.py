"""The liquidation curves against a small book worked out by hand.

Four month-ends, 2026-08-31 to 2026-11-30; the history is written row by row (as it
stood, chosen here) and the payments are the ledger's, confirmed at known moments in the
finance time zone (Asia/Taipei, UTC+8). Every figure below is worked out in the comments.

- P (TWD): current at Aug 31; overdue at Sep 30 (since Sep 20, 100,000): enters, Sep
  cohort. Pays 60,000 on Oct 5 and 80,000 on Nov 10: collected 60,000 by Oct, 140,000
  by Nov; recovered 60,000 then 100,000 (capped at its overdue at entry).
- Q (TWD): no row at Aug 31 (a new loan); overdue at Sep 30 since Sep 15 (on or after
  Aug 31), 50,000: enters, Sep cohort. Pays 20,000 on Sep 25 (its entry month: not
  counted), 10,000 at 23:30 on Oct 31 in Taipei (October), 30,000 at 00:30 on Nov 1 in
  Taipei (November, though still Oct 31 in UTC); 40,000 on Nov 2 refunded in full (kept
  0) and a failed 99,999 on Oct 10 (not money in). Collected 10,000 by Oct, 40,000 by
  Nov.
- R (TWD): already overdue at Aug 31 (since Jul 20, before the history began): not an
  entry; still overdue at Sep 30 (not an entry either); current at Oct 31; overdue again
  at Nov 30 since Nov 15, 70,000: enters, Nov cohort. Its 30,000 on Sep 10 belongs to no
  entry and counts nowhere.
- S (USD): current at Aug 31; overdue at Sep 30 since Sep 5, 200,000: enters, Sep cohort
  in USD. Pays 50,000 on Oct 20, resolved (no row at Oct 31 or Nov 30), pays the last
  150,000 on Nov 3: still counted, 50,000 then 200,000.
- T (TWD): current at Aug 31; overdue at Sep 30 since Sep 10, 80,000: enters, Sep
  cohort; pays 80,000 on Oct 8, current at Oct 31; overdue again at Nov 30 since Nov 12,
  90,000: enters again, Nov cohort. Its 45,000 on Nov 20, in the month of the new entry,
  still counts toward the September entry: 80,000 by Oct, 125,000 by Nov, recovered
  80,000 both.

So, in TWD, the September cohort is P, Q and T: 3 cases, 230,000 overdue at entry.
Month 0 (Sep 30): nothing collected. Month 1 (Oct 31): 60,000 + 10,000 + 80,000 =
150,000 collected and recovered, 15/23. Month 2 (Nov 30): 140,000 + 40,000 + 125,000 =
305,000 collected; recovered 100,000 + 40,000 + 80,000 = 220,000, 22/23. No case entered
at Oct 31. The November cohort is R and T: 2 cases, 160,000, month 0 only. In USD, the
September cohort is S: 200,000; 1/4 at month 1, all of it at month 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from portal.cases.facts import policy
from portal.cli import cli
from portal.core import db
from portal.models import (
    ArrearsEntry,
    CaseMonthEnd,
    LiquidationCell,
    Payment,
    PaymentStatus,
)
from portal.reporting import liquidation, snapshots
from portal.reporting.book import as_json as book_json
from portal.reporting.book import book_report
from portal.reporting.portfolio import Slice
from portal.web.reports.curves import SERIES, curve_chart

from .factories import NOW, build_case
from .test_finance_console import audited
from .test_portfolio_report import pay
from .test_reports_page import (
    signed_in,
    supervisor,  # noqa: F401 (a fixture, used by name)
)

TAIPEI = ZoneInfo("Asia/Taipei")
AUGUST, SEPTEMBER = date(2026, 8, 31), date(2026, 9, 30)
OCTOBER, NOVEMBER = date(2026, 10, 31), date(2026, 11, 30)
ENDS = (AUGUST, SEPTEMBER, OCTOBER, NOVEMBER)


def taipei(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment on a Taipei calendar day of 2026, in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=TAIPEI).astimezone(UTC)


# Each case's rows: month-end -> (overdue since, overdue amount); None: current.
HISTORY: dict[str, dict[date, tuple[date, int] | None]] = {
    "P": {
        AUGUST: None,
        SEPTEMBER: (date(2026, 9, 20), 100_000),
        OCTOBER: (date(2026, 9, 20), 90_000),
        NOVEMBER: None,
    },
    "Q": {
        SEPTEMBER: (date(2026, 9, 15), 50_000),
        OCTOBER: (date(2026, 9, 15), 40_000),
        NOVEMBER: (date(2026, 9, 15), 20_000),
    },
    "R": {
        AUGUST: (date(2026, 7, 20), 40_000),
        SEPTEMBER: (date(2026, 7, 20), 10_000),
        OCTOBER: None,
        NOVEMBER: (date(2026, 11, 15), 70_000),
    },
    "S": {AUGUST: None, SEPTEMBER: (date(2026, 9, 5), 200_000)},
    "T": {
        AUGUST: None,
        SEPTEMBER: (date(2026, 9, 10), 80_000),
        OCTOBER: None,
        NOVEMBER: (date(2026, 11, 12), 90_000),
    },
}
# (case, moment, amount, status, refunded)
PAYMENTS = (
    ("P", taipei(10, 5), 60_000, PaymentStatus.SUCCEEDED, 0),
    ("P", taipei(11, 10), 80_000, PaymentStatus.SUCCEEDED, 0),
    ("Q", taipei(9, 25), 20_000, PaymentStatus.SUCCEEDED, 0),
    ("Q", taipei(10, 31, 23, 30), 10_000, PaymentStatus.SUCCEEDED, 0),
    ("Q", taipei(11, 1, 0, 30), 30_000, PaymentStatus.SUCCEEDED, 0),
    ("Q", taipei(11, 2), 40_000, PaymentStatus.SUCCEEDED, 40_000),
    ("Q", taipei(10, 10), 99_999, PaymentStatus.FAILED, 0),
    ("R", taipei(9, 10), 30_000, PaymentStatus.SUCCEEDED, 0),
    ("S", taipei(10, 20), 50_000, PaymentStatus.SUCCEEDED, 0),
    ("S", taipei(11, 3), 150_000, PaymentStatus.SUCCEEDED, 0),
    ("T", taipei(10, 8), 80_000, PaymentStatus.SUCCEEDED, 0),
    ("T", taipei(11, 20), 45_000, PaymentStatus.SUCCEEDED, 0),
)


def _row(month_end: date, case_id: int, currency: str, state: tuple[date, int] | None, arm):
    since, overdue = state if state is not None else (None, 0)
    days = (month_end - since).days if since is not None else 0
    bucket = "current" if not days else "1_30" if days <= 30 else "31_60"
    return CaseMonthEnd(
        month_end=month_end,
        case_id=case_id,
        product="personal",
        currency=currency,
        market="TW",
        stage="early" if days else "current",
        status="open",
        owner_id=None,
        team_id=None,
        arm=arm,
        days_past_due=days,
        bucket=bucket,
        overdue=overdue,
        balance=overdue + 500_000,
        overdue_since=since,
        exact=True,
    )


@pytest.fixture
def book(app):
    """The five cases' history and payments, and the cohorts counted at each month-end
    (oldest first, as the daily work counts them)."""
    ids = {
        name: build_case(app, currency="USD" if name == "S" else "TWD").case_id for name in HISTORY
    }
    with app.app_context():
        session = db.session()
        for name, rows in HISTORY.items():
            currency = "USD" if name == "S" else "TWD"
            arm = "exp/a" if name == "P" else None
            for month_end, state in rows.items():
                session.add(_row(month_end, ids[name], currency, state, arm))
        for number, (name, moment, amount, status, refunded) in enumerate(PAYMENTS):
            session.add(
                Payment(
                    case_id=ids[name],
                    purpose="partial",
                    amount=amount,
                    currency="USD" if name == "S" else "TWD",
                    status=status,
                    gateway="test",
                    gateway_reference=f"pi_liquidation_{number}",
                    created_at=moment,
                    confirmed_at=moment if status == PaymentStatus.SUCCEEDED else None,
                    refunded=refunded,
                )
            )
        session.flush()
        for month_end in ENDS:
            snapshots.count_liquidation(session, month_end, TAIPEI)
        for first, then in pairwise(ENDS):
            snapshots.count_transitions(session, first, then)
        session.commit()
    return ids


def report(app, first, last, chosen=None):
    with app.app_context():
        return liquidation.liquidation(db.session(), first, last, chosen or Slice())


def test_the_entries_are_the_cases_first_seen_overdue(app, book):
    with app.app_context():
        entries = db.session().execute(select(ArrearsEntry.month_end, ArrearsEntry.case_id))
        found = {(month_end, case_id) for month_end, case_id in entries}
    names = {case_id: name for name, case_id in book.items()}
    assert {(month_end, names[case_id]) for month_end, case_id in found} == {
        (SEPTEMBER, "P"),
        (SEPTEMBER, "Q"),
        (SEPTEMBER, "S"),
        (SEPTEMBER, "T"),
        (NOVEMBER, "R"),
        (NOVEMBER, "T"),
    }


def test_each_cohort_month_by_month_as_worked_out_by_hand(app, book):
    found = report(app, SEPTEMBER, NOVEMBER)
    assert sorted(found.by_currency) == ["TWD", "USD"]
    september, november = found.by_currency["TWD"]
    assert (september.entered, september.cases, september.overdue) == (SEPTEMBER, 3, 230_000)
    points = [(p.months, p.collected, p.recovered, p.rate) for p in september.points]
    assert points == [
        (0, 0, 0, Fraction(0)),
        (1, 150_000, 150_000, Fraction(15, 23)),
        (2, 305_000, 220_000, Fraction(22, 23)),
    ]
    assert [september.paid_in(k) for k in range(3)] == [0, 150_000, 155_000]
    assert (november.entered, november.cases, november.overdue) == (NOVEMBER, 2, 160_000)
    assert [(p.months, p.collected) for p in november.points] == [(0, 0)]
    (dollars,) = found.by_currency["USD"]
    assert (dollars.cases, dollars.overdue) == (1, 200_000)
    assert [p.rate for p in dollars.points] == [Fraction(0), Fraction(1, 4), Fraction(1)]
    assert found.months == 2


def test_a_cohort_as_it_stood_at_an_earlier_month_end(app, book):
    found = report(app, SEPTEMBER, OCTOBER)
    (september,) = found.by_currency["TWD"]
    assert [(p.months, p.collected) for p in september.points] == [(0, 0), (1, 150_000)]


def test_the_slice_is_the_case_s_at_entry(app, book):
    found = report(app, SEPTEMBER, NOVEMBER, Slice(arm="exp/a"))
    (september,) = found.by_currency["TWD"]
    assert (september.cases, september.overdue) == (1, 100_000)
    assert [(p.collected, p.recovered) for p in september.points] == [
        (0, 0),
        (60_000, 60_000),
        (140_000, 100_000),
    ]
    assert report(app, SEPTEMBER, NOVEMBER, Slice(currency="USD")).by_currency.keys() == {"USD"}


def test_counting_a_month_end_again_leaves_the_same_cells(app, book):
    def cells():
        with app.app_context():
            rows = db.session().execute(
                select(
                    LiquidationCell.cohort,
                    LiquidationCell.month_end,
                    LiquidationCell.months,
                    LiquidationCell.currency,
                    LiquidationCell.cases,
                    LiquidationCell.overdue,
                    LiquidationCell.collected,
                    LiquidationCell.recovered,
                )
            )
            return sorted(tuple(row) for row in rows)

    before = cells()
    with app.app_context():
        session = db.session()
        assert snapshots.recount_liquidation(session, SEPTEMBER, TAIPEI) == {
            # P (its arm), Q and T, S (USD): three slices of the September cohort.
            SEPTEMBER: 3,
            OCTOBER: 3,
            NOVEMBER: 4,  # and the November cohort's R and T
        }
        session.commit()
    assert cells() == before


def test_the_json_and_csv_say_the_same(app, book):
    with app.app_context():
        whole = book_json(book_report(db.session(), AUGUST, OCTOBER, Slice()))
    found = whole["liquidation"]
    assert (found["first_cohort"], found["last_cohort"]) == ("2026-09-30", "2026-11-30")
    september = found["by_currency"]["TWD"][0]
    assert (september["cohort"], september["cases"], september["overdue_at_entry"]) == (
        "2026-09-30",
        3,
        230_000,
    )
    assert september["months"][2] == {
        "months": 2,
        "collected": 305_000,
        "recovered": 220_000,
        "rate": "0.956522",  # 22/23
    }
    rows = liquidation.csv_rows(report(app, SEPTEMBER, NOVEMBER))
    assert rows[2] == ("2026-09-30", 2, "TWD", 3, 230_000, 305_000, 220_000, "0.956522")
    assert len(rows) == 3 + 1 + 3  # TWD Sep (3 months) and Nov (1), USD Sep (3)


def test_the_daily_work_s_month_end_counts_the_entries(app):
    # Overdue since 2026-11-20, after the October month-end: it fell overdue in
    # November. The other, since 2026-10-14, was overdue before the history began.
    entered = build_case(app, days_past_due=10).case_id
    build_case(app, days_past_due=47)
    with app.app_context():
        session = db.session()
        snapshots.write_month_end(session, NOVEMBER)
        session.commit()
        entries = session.scalars(select(ArrearsEntry.case_id)).all()
        cells = session.scalars(select(LiquidationCell)).all()
    assert entries == [entered]
    assert [(c.cohort, c.months, c.cases, c.overdue, c.collected) for c in cells] == [
        (NOVEMBER, 0, 1, 550_000 + 45_000, 0)
    ]


def test_the_command_prints_the_liquidation_in_its_json(app, book):
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["report", "portfolio", "--as-of", "2026-11-30", "--months", "3", "--format", "json"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["liquidation"]
    assert [c["cohort"] for c in found["by_currency"]["TWD"]] == ["2026-09-30", "2026-11-30"]


def test_the_csv_export(app, book, supervisor):  # noqa: F811 (the fixture)
    response = supervisor.get("/reports/portfolio/liquidation.csv?from=2026-08-31&to=2026-10-31")
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0][:3] == ["cohort", "months_since_entry", "currency"]
    assert ["2026-09-30", "2", "TWD", "3", "230000", "305000", "220000", "0.956522"] in [
        line[:8] for line in lines
    ]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Recovery and liquidation", "Months since entry", "Entry cohort", "Sep 2026"]),
        ("zh_Hant_TW", ["回收與清償", "進入逾期後月數", "進入逾期月份", "2026年9月"]),
        ("zh_Hans_CN", ["回收与清偿", "进入逾期后月数", "进入逾期月份", "2026年9月"]),
    ],
)
def test_the_page_draws_the_curves_with_the_cohort_table_in_three_languages(
    app,
    book,
    supervisor,  # noqa: F811 (the fixture)
    lang,
    words,
):
    html = supervisor.get(f"/reports/portfolio?lang={lang}&from=2026-08-31&to=2026-10-31")
    text = html.get_data(as_text=True)
    for word in words:
        assert word in text, word
    start = text.index('id="liquidation"')
    section = text[start : text.index("</section>", start)]
    # One chart per currency, each with its table, TWD first (more cases) and USD folded
    # away. The chart draws the cohorts followed a month or more (September: three
    # points, 0%, 65.2% and 95.7%; November has its month 0 only). The table's rows are
    # newest first, from month 1: November has no cell yet, September 65.2% and 95.7%.
    assert section.count("<svg") == 2
    assert section.count('class="list wide portfolio-liquidation"') == 2
    assert section.index('id="liquidation-TWD"') < section.index('<summary id="liquidation-USD"')
    twd = section[section.index('id="liquidation-TWD"') : section.index('id="liquidation-USD"')]
    assert twd.count('class="curve-line"') == 1
    assert twd.count('class="curve-dot"') == 3
    assert ">0.0%<" in twd  # the y axis's first mark
    table = twd[twd.index("<table") : twd.index("</table>")]
    cells = re.findall(r'<td class="num">([^<]*)</td>', table)
    assert [c for c in cells if "%" in c] == ["65.2%", "95.7%"]
    assert "style=" not in section
    assert "<script" not in section


def test_the_curves_lay_out_across_the_months_and_up_to_all_of_it():
    chart = curve_chart([[(0, Fraction(0)), (1, Fraction(1, 2)), (2, Fraction(1))]], 4)
    # A plot 492 wide (560 less 52 and 16) and 244 high (300 less 12 and 44).
    (curve,) = chart.curves
    assert [(p.x, p.y) for p in curve.points] == [(52, 256), (175, 134), (298, 12)]
    assert curve.path == "52,256 175,134 298,12"
    assert [m.position for m in chart.x_marks] == [52, 175, 298, 421, 544]
    assert [m.position for m in chart.y_marks] == [256, 195, 134, 73, 12]
    # A month not counted (no rate) is left out of its line.
    (gap,) = curve_chart([[(0, Fraction(0)), (1, None)]], 1).curves
    assert [p.months for p in gap.points] == [0]
    with pytest.raises(ValueError, match="at most"):
        curve_chart([[]] * (SERIES + 1), 3)


def test_the_backfill_counts_the_cohorts_of_the_months_it_writes_and_after(app):
    # Due 2026-10-14 and 11-14 unpaid (its loan began in May, every earlier installment
    # paid outside the ledger); 595,000 paid on 2026-11-30 at 10:00 in Taipei: the
    # charges and the installment of 10-14. Backfilled, it was current at 09-30 and
    # overdue at 10-31 (since 10-14, 595,000 overdue): it entered in October. Then the
    # daily work writes 11-30: the October cohort a month on has collected and
    # recovered all of it, 100%.
    owing = build_case(app, days_past_due=47).case_id
    pay(app, owing, 550_000 + 45_000, NOW)
    with app.app_context():
        session = db.session()
        snapshots.backfill(session, date(2026, 4, 1), OCTOBER, policy(), TAIPEI)
        session.commit()
        assert session.execute(select(ArrearsEntry.month_end, ArrearsEntry.case_id)).all() == [
            (OCTOBER, owing)
        ]
        snapshots.write_month_end(session, NOVEMBER, zone=TAIPEI)
        session.commit()
    (october,) = report(app, OCTOBER, NOVEMBER).by_currency["TWD"]
    assert [(p.months, p.overdue, p.collected, p.rate) for p in october.points] == [
        (0, 595_000, 0, Fraction(0)),
        (1, 595_000, 595_000, Fraction(1)),
    ]


def test_finance_reads_the_curves_and_exports_them_as_a_money_figure(app, book):
    """The liquidation curves are in ``book.MONEY``: finance reads them on its page and
    in the htmx fragment, exports their CSV (audited), and may not slice them by owner."""
    finance = signed_in(app, "finance@haohuan.example", ("finance",))
    query = "from=2026-08-31&to=2026-10-31"
    for headers in ({}, {"HX-Request": "true"}):
        text = finance.get(f"/reports/portfolio?lang=en&{query}", headers=headers).get_data(
            as_text=True
        )
        assert '<h2 id="liquidation">' in text
        assert 'href="#liquidation"' in text
        assert text.count('class="list wide portfolio-liquidation"') == 2
        assert "/reports/portfolio/liquidation.csv?" in text
        assert 'id="promises"' not in text
        assert 'id="agents"' not in text
    response = finance.get(f"/reports/portfolio/liquidation.csv?{query}")
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["2026-09-30", "2", "TWD", "3", "230000", "305000", "220000", "0.956522"] in lines
    # A slice by the people who work the book is not finance's: back to the page.
    by_owner = finance.get(f"/reports/portfolio/liquidation.csv?{query}&owner=1")
    assert by_owner.status_code == 303
    assert [row[1] for row in audited(app, "reports.") if row[0] == "finance@haohuan.example"] == [
        "reports.portfolio.view",
        "reports.portfolio.view",
        "reports.liquidation.export",
    ]
