"""A field visitor records a home visit on a phone, in Chromium: signed in as staff of
the field role, they land on their visits, open the one set for them and record it with
JavaScript off (met the borrower, what was said, a photo of the notice left behind); the
pages are small, fit the phone's width, and axe finds nothing serious."""

from __future__ import annotations

import contextlib
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.core import db
from portal.models import Borrower, Case, HomeVisit, StaffMember, VisitPhoto, VisitStatus
from portal.staff.accounts import AccountError
from portal.visits import service
from tests.portal.factories import NOW, add_staff, build_case

from .test_borrower_journey import PHONE, _serious

AGENT = "visits.agent@haohuan.example"
BOSS = "visits.boss@haohuan.example"
VISITORS = ("visitor.one@haohuan.example", "visitor.two@haohuan.example")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# The form's page, as the server sends it, stays small for a weak connection.
PAGE_BUDGET = 40 * 1024


def _member(email: str) -> StaffMember:
    return db.session().query(StaffMember).filter_by(email=email).one()


@pytest.fixture
def set_visit(server):
    """A visit proposed, approved (its notice sent), and scheduled for two visitors."""
    base, app = server
    for email, roles in (
        (AGENT, ("agent",)),
        (BOSS, ("agent", "supervisor")),
        (VISITORS[0], ("field",)),
        (VISITORS[1], ("field",)),
    ):
        with contextlib.suppress(AccountError):  # the session's server may have them
            add_staff(app, email, roles=roles)
    built = build_case(app, principal_part=1_500_000, days_past_due=60, locale="en")
    with app.test_request_context("/"):
        session = db.session()
        borrower = session.get(Borrower, built.borrower_id)
        borrower.email = "visited@example.com"
        borrower.postal_address = "No. 1, Shifu Road, Xinyi District, Taipei"
        session.commit()
        case = session.get(Case, built.case_id)
        visit = service.propose(session, case, _member(AGENT), "Long overdue.", False, NOW)
        service.approve(session, case, visit, _member(BOSS), NOW)
        window = service.window_of(session, case, visit)
        at = datetime.combine(window.open_days()[0], time(10, 30), tzinfo=ZoneInfo("Asia/Taipei"))
        visitors = tuple(
            service.Visitor(_member(email).id, f"ID-{n}") for n, email in enumerate(VISITORS)
        )
        service.schedule(
            session, case, visit, _member(AGENT), at, visitors, NOW + timedelta(hours=1)
        )
        return base, app, visit.id


def test_a_field_visitor_records_a_visit_with_a_photo_on_a_phone(browser, set_visit):
    base, app, visit_id = set_visit
    context = browser.new_context(viewport=PHONE, locale="en-US", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", VISITORS[0])
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/field/visits")
    page.click(f"a[href='/field/visits/{visit_id}']")
    page.wait_for_url(f"**/field/visits/{visit_id}")
    assert len(page.content().encode()) < PAGE_BUDGET
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert "never photograph the home or any person" in page.inner_text("main")
    page.check("input[name=outcome][value=met]")
    page.fill("textarea[name=said]", "Met the borrower; they will choose a plan on Friday.")
    page.set_input_files(
        "input[name=photos]", files=[{"name": "notice.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.click("main form button[type=submit]")
    page.wait_for_url("**/field/visits?recorded=1")
    assert "The visit was recorded." in page.inner_text("main")
    context.close()
    with app.app_context():
        visit = db.session().get(HomeVisit, visit_id)
        assert visit.status is VisitStatus.VISITED
        photos = db.session().query(VisitPhoto).filter_by(visit_id=visit_id).count()
    assert photos == 1


def test_the_visit_pages_pass_axe_on_a_phone(browser, set_visit):
    base, _, visit_id = set_visit
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", VISITORS[1])
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/field/visits")
    assert _serious(page) == []
    page.goto(f"{base}/field/visits/{visit_id}")
    assert _serious(page) == []
    # Every case and console page is closed to the field role.
    assert page.goto(f"{base}/agent/").status == 403
    context.close()
