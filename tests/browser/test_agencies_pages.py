"""Partner agencies in Chromium: an agency's member signs in to the same console, lands on
a queue of only their agency's placed case, opens it (another case is "not found"), and
the pages pass axe; the supervisor's agencies page passes axe too (the session's HTML
checker reads them all)."""

from __future__ import annotations

import contextlib

from playwright.sync_api import expect

from tests.portal.factories import add_staff
from tests.portal.test_agencies import add_agency_member, loan_number, make_agency, place
from tests.portal.test_agent_queue import make_case

from .test_borrower_journey import _serious

MEMBER = "ko@agency.example"
LEAD = "agency-lead@haohuan.example"


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", email)
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/agent/**")


def test_an_agency_member_sees_only_the_placed_case_and_the_pages_pass_axe(server, browser):
    base, app = server
    agency_id = make_agency(app, code="BROWSER")
    add_agency_member(app, agency_id, email=MEMBER)
    placed = make_case(app, name="陳放置", phone="+886 912 111 001")
    other = make_case(app, name="林未放", phone="+886 912 111 002")
    place(app, agency_id, placed.case_id)
    with contextlib.suppress(Exception):  # the session's server may have them already
        add_staff(app, LEAD, roles=("agent", "supervisor"))

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    _sign_in(page, base, MEMBER)
    page.goto(f"{base}/agent/?lang=en&dpd=any&q={loan_number(app, placed.case_id)}")
    expect(page.locator("table.queue tbody")).to_contain_text(loan_number(app, placed.case_id))
    assert _serious(page) == []
    page.goto(f"{base}/agent/cases/{placed.case_id}?lang=en&section=agency")
    expect(page.locator("#agency-section")).to_contain_text("BROWSER")
    assert _serious(page) == []
    missing = page.goto(f"{base}/agent/cases/{other.case_id}?lang=en")
    assert missing is not None
    assert missing.status == 404
    refused = page.goto(f"{base}/finance/?lang=en")
    assert refused is not None
    assert refused.status == 403
    page.context.close()

    lead = browser.new_page(viewport={"width": 1280, "height": 800})
    _sign_in(lead, base, LEAD)
    lead.goto(f"{base}/agent/agencies?lang=en&dpd=any")
    expect(lead.locator("h1")).to_have_text("Partner agencies")
    assert _serious(lead) == []
    lead.context.close()
