"""The agent console in Chromium, as the issue's "done when" walks it: an agent finds a
mid-stage case in the queue, builds an offer beyond their authority, a supervisor
approves it, the agent sends it by email and SMS within the allowed hours, and the
borrower opens the link from the SMS, sees the offer first and accepts it; the agent's
case page then shows the offer accepted. Pictures for a person to look at."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.portal.factories import NOW, TODAY, add_staff, build_case

from .pages import SCREENSHOTS
from .test_borrower_journey import PHONE, _serious

DESKTOP = {"width": 1280, "height": 900}
AGENT = "ling@haohuan.example"
SUPERVISOR = "wei@haohuan.example"


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", email)
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/agent/**")


def _worked_with_email(app, case_id: int) -> str:
    """The day's case work run (stages, overdue since), and an email for the borrower."""
    from portal.cases.facts import policy
    from portal.cases.lifecycle import work_day
    from portal.core import db
    from portal.models import Case

    with app.app_context():
        work_day(app.extensions["haohuan.engine"], policy(), TODAY, NOW)
        case = db.session().get(Case, case_id)
        case.loan.borrower.email = "yijun.chen@example.com"
        number = case.loan.number
        db.session().commit()
        return number


def _offer_status(app, case_id: int) -> str:
    from portal.core import db
    from portal.models import Offer

    with app.app_context():
        return db.session().scalars(select(Offer.status).where(Offer.case_id == case_id)).one()


def test_an_offer_beyond_authority_approved_sent_and_accepted(server, browser):
    base, app = server
    built = build_case(app, days_past_due=47, locale="zh_Hant_TW")
    number = _worked_with_email(app, built.case_id)
    add_staff(app, AGENT, roles=("agent",))
    add_staff(app, SUPERVISOR, roles=("agent", "supervisor"))

    agent = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
    _sign_in(agent, base, AGENT)
    # The queue: a mid-stage case, found by its loan number; the name is masked.
    agent.goto(f"{base}/agent/?stage=mid&q={number}")
    row = agent.locator("main table tbody tr")
    assert row.count() == 1
    assert "陳怡君" not in row.inner_text()
    agent.screenshot(path=SCREENSHOTS / "agent-1-queue.png", full_page=True)
    row.locator("a").first.click()
    agent.wait_for_url(f"**/agent/cases/{built.case_id}")
    assert _serious(agent) == []

    # An offer beyond the agent's authority: 80% of the penalties waived (agents: 50%).
    agent.click("text=Build an offer")
    agent.wait_for_url("**/offers/new**")
    agent.select_option("#kind", "arrears_plan")
    agent.fill("#installments", "6")
    agent.fill("#penalty_waiver_pct", "80")
    # The live preview (htmx) follows the typing.
    preview = agent.locator("#offer-preview")
    expect(preview).to_contain_text("supervisor", ignore_case=True)
    agent.screenshot(path=SCREENSHOTS / "agent-2-offer-preview.png", full_page=True)
    agent.click("button:has-text('Create offer')")
    agent.wait_for_load_state("networkidle")
    assert _offer_status(app, built.case_id) == "needs_approval"

    # The supervisor approves it from the approvals queue.
    supervisor = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
    _sign_in(supervisor, base, SUPERVISOR)
    supervisor.goto(f"{base}/agent/approvals?lang=en")
    assert number in supervisor.locator("main").inner_text()
    supervisor.screenshot(path=SCREENSHOTS / "agent-3-approvals.png", full_page=True)
    supervisor.click("main form button:has-text('Approve')")
    supervisor.wait_for_load_state("networkidle")
    assert _offer_status(app, built.case_id) == "ready"

    # The agent sends it by email, then by SMS (10:00 in Taipei: within the hours).
    for channel in ("email", "sms"):
        agent.goto(f"{base}/agent/cases/{built.case_id}?section=offers")
        form = agent.locator(f"#offers form:has(input[name=channel][value={channel}])")
        form.locator("button").click()
        agent.wait_for_load_state("networkidle")
        assert "refused" not in agent.locator("main").inner_text().lower()
    agent.goto(f"{base}/agent/outbox")
    outbox = agent.locator("main").inner_text()
    agent.screenshot(path=SCREENSHOTS / "agent-4-outbox.png", full_page=True)
    # The links are masked there, like the borrower's details (one in each message).
    assert not re.findall(r"https?://[^\s]+/r/[A-Za-z0-9_-]+", outbox), outbox
    assert outbox.count("/r/…") >= 2, outbox
    # The newest message (the SMS) revealed in full, which is recorded: its link.
    agent.locator("main table tbody tr").first.locator("a").first.click()
    agent.click("button:has-text('Reveal the whole message')")
    agent.wait_for_load_state("networkidle")
    links = re.findall(r"https?://[^\s]+/r/[A-Za-z0-9_-]+", agent.locator("main").inner_text())
    assert len(links) == 1
    sms_link = links[0]

    # The borrower opens the SMS link on a phone: the offer first, then accepts it.
    borrower = browser.new_context(viewport=PHONE, locale="zh-TW").new_page()
    borrower.goto(sms_link)
    borrower.fill("#answer", built.date_of_birth)
    borrower.click("main form button[type=submit]")
    borrower.wait_for_url("**/plans**")
    first_section = borrower.locator("main section").first
    assert first_section.get_attribute("class") == "offer"
    assert "專員" in first_section.inner_text() or "為您" in first_section.inner_text()
    borrower.screenshot(path=SCREENSHOTS / "agent-5-borrower-offer.png", full_page=True)
    first_section.locator("a.button").click()
    borrower.wait_for_url("**/plans/review**")
    borrower.check("#consent")
    borrower.click("main form button[type=submit]")
    borrower.wait_for_url("**/pay")
    assert _offer_status(app, built.case_id) == "accepted"

    # The agent watches it happen: the case page shows the offer accepted and the plan.
    agent.goto(f"{base}/agent/cases/{built.case_id}?section=offers&lang=en")
    offers = agent.locator("#offers").inner_text()
    assert "Accepted" in offers
    agent.screenshot(path=SCREENSHOTS / "agent-6-case-after.png", full_page=True)
