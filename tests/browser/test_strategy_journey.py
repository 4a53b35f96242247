"""Issue 14's reminders that send themselves, in Chromium: the morning's strategy run plans
a borrower's day-1 SMS, the sender sends it to the outbox, an agent reveals it there, the
borrower opens its link on a phone, confirms who they are and accepts a plan; the
supervisor's strategy page counts the step and its arm, and, once the plan's 14-day window
has passed, the experiment's results count the accepted plan in that arm."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.core import migrate
from tests.portal.factories import NOW, TODAY, add_staff, app_config, build_case

from .pages import SCREENSHOTS
from .test_agent_console import DESKTOP, _sign_in
from .test_borrower_journey import PHONE, _serious

SUPERVISOR = "chief@haohuan.example"
LINK = re.compile(r"https?://[^\s]+/r/[A-Za-z0-9_-]+")


def _overdue_since_yesterday(app, case_id: int) -> None:
    """The daily work's result for a loan whose installment fell due yesterday."""
    from portal.core import db
    from portal.models import Case

    with app.app_context():
        case = db.session().get(Case, case_id)
        case.overdue_since = TODAY - timedelta(days=1)
        case.stage = "early"
        db.session().commit()


def _morning(app, base: str) -> tuple[str, str]:
    """``haohuan strategy run`` and then ``haohuan messages send-due``, at 10:00 Taipei:
    the step and arm planned for the case, as the run records them. Links in messages
    sent outside a request name the public address (the demo sets it the same way)."""
    app.config["PUBLIC_URL"] = base
    from negotiation.strategy import default_document
    from portal.core import db
    from portal.messaging.service import dispatch_due
    from portal.models import PlannedStep
    from portal.strategy import planner

    with app.test_request_context("/"):
        summary = planner.run(db.session(), default_document(), TODAY, NOW)
        assert summary.by_step.get("overdue_1_sms") == 1, summary.as_json()
        dispatch_due(db.session(), NOW)
        step = db.session().scalars(select(PlannedStep)).one()
        return step.step, step.variant or ""


@pytest.fixture
def own_server(browser, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The portal on a database of its own: the morning's run plans for every case in
    the database, and the session's shared one holds other tests' overdue cases."""
    path = tmp_path / "strategy.db"
    app = create_app({**app_config(f"sqlite:///{path}"), "WTF_CSRF_ENABLED": True})
    migrate.upgrade(app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{http.server_port}"
    browser.watch(base)
    yield base, app
    http.shutdown()
    http.server_close()
    thread.join()
    app.extensions["haohuan.engine"].dispose()


def test_the_day_1_sms_brings_the_borrower_to_a_plan_and_the_strategy_counts_it(
    own_server, browser
):
    base, app = own_server
    built = build_case(app, days_past_due=1, locale="zh_Hant_TW", paid=3)
    _overdue_since_yesterday(app, built.case_id)
    add_staff(app, SUPERVISOR, roles=("agent", "supervisor"))
    step, variant = _morning(app, base)
    arm = variant.split(":")[1]

    # The supervisor finds the SMS in the outbox and reveals it (recorded): its link.
    staff = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
    _sign_in(staff, base, SUPERVISOR)
    staff.goto(f"{base}/agent/outbox?lang=en")
    staff.locator("main table tbody tr").first.locator("a").first.click()
    staff.click("button:has-text('Reveal the whole message')")
    staff.wait_for_load_state("networkidle")
    text = staff.locator("main").inner_text()
    links = LINK.findall(text)
    assert len(links) == 1, text
    # Discreet: no amount, no word of a debt, in the borrower's Traditional Chinese.
    assert "逾期" not in text
    assert "NT$" not in text

    # The borrower opens it on a phone, confirms, and accepts an arrears plan.
    phone = browser.new_context(viewport=PHONE, locale="zh-TW").new_page()
    phone.goto(links[0])
    phone.fill("#answer", built.date_of_birth)
    phone.click("main form button[type=submit]")
    phone.wait_for_url("**/status")
    phone.goto(f"{base}/plans")
    phone.locator("main a.button[href*='kind=arrears_plan']").first.click()
    phone.wait_for_url("**/plans/review**")
    phone.check("#consent")
    phone.click("main form button[type=submit]")
    phone.wait_for_url("**/pay")
    phone.screenshot(path=SCREENSHOTS / "strategy-1-borrower-accepted.png", full_page=True)

    # The strategy page: the step reached one case today, in the case's arm.
    staff.goto(f"{base}/agent/strategy?lang=en")
    page = staff.locator("main")
    expect(page).to_contain_text("Day 1: SMS reminder")
    row = staff.locator(f"main tr:has-text('{arm}')").first
    expect(row).to_contain_text("1")
    assert _serious(staff) == []
    staff.screenshot(path=SCREENSHOTS / "strategy-2-page.png", full_page=True)

    # Fifteen days on, the plan accepted within 14 days counts in the arm's results.
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(days=15)).isoformat()
    try:
        _sign_in(staff, base, SUPERVISOR)  # a fortnight ends any session
        staff.goto(f"{base}/agent/strategy?lang=en")
        table = staff.locator("main table.results").first
        arms = table.locator("thead th.arm").all_inner_texts()
        row = table.locator("tbody tr.outcome-plan_accepted_14d")
        expect(row.locator("th")).to_contain_text("Accepted a plan within 14 days")
        # "1 of 1": the case is mature for the 14 days, and it accepted a plan.
        expect(row.locator("td.arm").nth(arms.index(arm))).to_contain_text("1 of 1")
        staff.screenshot(path=SCREENSHOTS / "strategy-3-results.png", full_page=True)
    finally:
        app.config["HAOHUAN_NOW"] = NOW.isoformat()
    assert step == "overdue_1_sms"
