"""One definition of a borrower's today (``portal.cases.overdue``): at a moment when
borrowers' dates differ, the queue, the case page, the letter and a bulk segment agree on
each borrower's days past due, overdue amount and stage."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from negotiation import Stage
from portal.cases import overdue
from portal.cases.overdue import borrower_today, today_column
from portal.cases.queue import DPD_RANGES, QueueFilter, stage_days
from portal.core import db
from portal.core.i18n import money
from portal.letters.content import letter_for
from portal.messaging.queries import segment_case_ids
from portal.models import Borrower, Case

from .factories import TODAY, add_staff, build_case, staff_sign_in, unwrapped

# 11:00 UTC on Nov 30: still the 29th at UTC-12, the 30th in Taipei and Los Angeles, and
# already Dec 1 on Kiritimati (UTC+14).
MOMENT = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
# Each borrower's first unpaid installment fell due on Oct 30 and the next on Nov 30.
EXPECTED_DAYS = {
    "Etc/GMT+12": 30,
    "Asia/Taipei": 31,
    "America/Los_Angeles": 31,
    "Pacific/Kiritimati": 32,
}
AGENT = "agent@haohuan.example"


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"HAOHUAN_NOW": MOMENT.isoformat(), "CONSOLE_TIMEZONE": "Asia/Taipei"}


def test_the_borrowers_today_is_the_date_in_their_zone():
    assert {zone: borrower_today(zone, MOMENT).isoformat() for zone in EXPECTED_DAYS} == {
        "Etc/GMT+12": "2026-11-29",
        "Asia/Taipei": "2026-11-30",
        "America/Los_Angeles": "2026-11-30",
        "Pacific/Kiritimati": "2026-12-01",
    }


def test_the_sql_today_is_the_same_function(app):
    with app.app_context():
        session = db.session()
        for zone in EXPECTED_DAYS:
            built = build_case(app, timezone=zone)
            borrower = session.get(Case, built.case_id).loan.borrower
            found = session.scalar(
                select(today_column(Borrower.timezone, MOMENT, 2)).where(Borrower.id == borrower.id)
            )
            assert found == borrower_today(zone, MOMENT) - timedelta(days=2), zone


def _queue_row(client, number):
    html = unwrapped(client.get(f"/agent/?lang=en&dpd=all&q={number}").get_data(as_text=True))
    row = re.search(
        rf">{re.escape(number)}</a></td>\s*<td class=\"num\">(\d+)</td>\s*"
        r"<td class=\"num\">([^<]+)</td>(.*?)</tr>",
        html,
        re.S,
    )
    assert row is not None, html
    return int(row.group(1)), row.group(2), row.group(3)


def _case_page(client, case_id):
    html = unwrapped(client.get(f"/agent/cases/{case_id}?lang=en").get_data(as_text=True))
    amount = re.search(r"Overdue amount</dt><dd class=\"amount\">([^<]+)</dd>", html)
    days = re.search(r"Days past due</dt><dd class=\"amount\">(\d+)</dd>", html)
    assert amount, html
    assert days, html
    return int(days.group(1)), amount.group(1), html


def test_queue_case_page_letter_and_segment_agree_in_every_zone(app, client):
    """Queue == case page == letter == bulk segment, for borrowers on three dates."""
    cases = {
        zone: build_case(app, timezone=zone, days_past_due=31, locale="en").case_id
        for zone in EXPECTED_DAYS
    }
    with app.app_context():
        session = db.session()
        for case_id in cases.values():
            # As the daily work left it, on the lender's (Taipei's) Nov 30.
            session.get(Case, case_id).overdue_since = TODAY - timedelta(days=31)
        session.commit()
    add_staff(app, AGENT, ("agent",))
    assert staff_sign_in(client, AGENT).status_code == 303

    for zone, case_id in cases.items():
        with app.test_request_context("/"):
            session = db.session()
            case = session.get(Case, case_id)
            number = case.loan.number
            letter = letter_for(session, case, MOMENT, "https://example.test/l")
        queue_days, queue_amount, _cells = _queue_row(client, number)
        page_days, page_amount, _html = _case_page(client, case_id)
        assert queue_days == page_days == EXPECTED_DAYS[zone], zone
        assert queue_amount == page_amount, zone
        assert letter.total[1] == page_amount, zone
        assert f"{page_days} days overdue" in letter.introduction[1], zone

        with app.test_request_context("/"):
            session = db.session()
            arrears = session.get(Case, case_id).loan
            for band, (first, last) in DPD_RANGES.items():
                inside = first <= page_days and (last is None or page_days <= last)
                segment = segment_case_ids(session, QueueFilter(dpd_band=band), MOMENT)
                assert (case_id in segment) == inside, (zone, band)
            for stage in Stage:
                first, last = stage_days(stage)
                inside = first <= page_days and (last is None or page_days <= last)
                segment = segment_case_ids(
                    session, QueueFilter(dpd_band="all", stage=stage.value), MOMENT
                )
                assert (case_id in segment) == inside, (zone, stage)
            # Between one installment with the charges (NT$5,950) and two (NT$11,450).
            segment = segment_case_ids(
                session, QueueFilter(dpd_band="all", currency="TWD", balance_min=10_000), MOMENT
            )
            two_due = EXPECTED_DAYS[zone] == 32
            assert (case_id in segment) == two_due, zone
            with force_locale("en"):
                expected = money(1_145_000 if two_due else 595_000, arrears.currency)
            assert page_amount == expected, zone


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 31, 10, 30, tzinfo=UTC),  # the year's edge somewhere
        datetime(2026, 3, 8, 9, 59, tzinfo=UTC),  # a US daylight-saving change
        datetime(2026, 10, 25, 0, 59, tzinfo=UTC),  # a European one
        datetime(2026, 6, 30, 23, 59, tzinfo=UTC),
    ],
)
def test_zones_that_share_a_file_share_an_object_and_every_zone_keeps_its_own_date(moment):
    held = overdue._zones()
    assert len({id(zone) for _, zone in held}) < len(held)  # aliases share
    common, others = overdue.dates_by_zone(moment)
    for name, _zone in held:
        own = moment.astimezone(ZoneInfo(name)).date()  # read afresh, not shared
        on = next((day for day, zones in others.items() if name in zones), common)
        assert on == own, name
