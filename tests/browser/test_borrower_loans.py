"""Issue 20's borrower on a phone, in Chromium: two overdue TWD loans, one verification;
she picks the second loan, agrees a plan for it, downloads the agreement and the
calendar, pays, and downloads the receipt, whose amount is the ledger's. With JavaScript
on (axe checks each page) and off."""

from __future__ import annotations

import io

import pytest
from axe_playwright_python.sync_playwright import Axe
from icalendar import Calendar
from pypdf import PdfReader
from sqlalchemy import select

from portal.core import db
from portal.models import Case, Payment, Plan
from tests.portal.factories import another_loan, build_case

PHONE = {"width": 390, "height": 844}
PAGE_BUDGET = 100 * 1024


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def downloaded(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    assert path is not None
    with open(path, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_two_loans_one_plan_papers_and_a_payment(server, browser, javascript):
    base, app = server
    built = build_case(app, name="李美玲", days_past_due=26, date_of_birth="1974-05-29")
    second = another_loan(app, built, days_past_due=44)
    with app.app_context():
        second_number = db.session().get(Case, second).loan.number
    context = browser.new_context(
        viewport=PHONE, java_script_enabled=javascript, locale="zh-TW", accept_downloads=True
    )
    page = context.new_page()
    sizes: dict[str, int] = {}
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if r.ok else None)

    page.goto(f"{base}/r/{built.token}?lang=zh_Hant_TW")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")
    loans = page.locator("section.loans li")
    assert loans.count() == 2
    assert "目前顯示" in loans.nth(0).inner_text()
    if javascript:
        assert serious(page) == []

    page.click(f"section.loans button:has-text('{second_number}')")
    page.wait_for_url("**/status")
    assert second_number in page.inner_text("p.loan")
    assert "目前顯示" in page.locator("section.loans li").nth(1).inner_text()

    page.click("main a.button[href='/plans']")
    page.wait_for_url("**/plans")
    page.locator("main a.button[href*='kind=arrears_plan']").first.click()
    page.wait_for_url("**/plans/review**")
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")
    with app.app_context():
        plan = db.session().scalars(select(Plan).where(Plan.case_id == second)).one()
        dates = [installment.due_date for installment in plan.installments]
        assert db.session().scalars(select(Plan).where(Plan.case_id == built.case_id)).all() == []

    page.goto(f"{base}/status")
    agreement = downloaded(page, page.locator("a[href*='/agreement.pdf']"))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(agreement)).pages)
    assert second_number in text
    calendar = Calendar.from_ical(downloaded(page, page.locator("a[href$='calendar.ics']")))
    events = calendar.walk("VEVENT")
    assert sorted(event.decoded("DTSTART") for event in events) == sorted(dates)

    page.goto(f"{base}/pay")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/sandbox/checkout/**")
    page.click("button[value=succeed]")
    page.wait_for_url("**/pay/result/**")
    receipt = downloaded(page, page.locator("a[href*='/papers/receipt/']"))
    with app.app_context():
        payment = db.session().scalars(select(Payment).where(Payment.case_id == second)).one()
        assert payment.status == "succeeded"
        amount = f"{payment.amount // 100:,}"  # TWD: two decimals in the books, none shown
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt)).pages)
    assert amount in text
    assert second_number in text
    if javascript:
        assert serious(page) == []
    pages = {url: size for url, size in sizes.items() if "/papers/" not in url}
    assert max(pages.values()) < PAGE_BUDGET
    context.close()
