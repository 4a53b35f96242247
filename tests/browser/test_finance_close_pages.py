"""The pages that close finance's month, in Chromium, in the three languages, on a phone
and at a desk: a reconciliation run over November leaves its exceptions, a refund above
the approval limit and a chargeback wait, and a finance clerk works them through the
pages (resolves an exception, asks for the refund, submits the dispute's evidence,
downloads the month's journals and closes the month) while a second finance member
approves the refund. axe finds nothing serious and no page scrolls sideways (the
exception and dispute pages down to 320 px); the Nu Html Checker reads every page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core import db
from portal.finance import exceptions as work
from portal.models import Dispute, Payment, Refund, RefundStatus
from portal.payments.sandbox_disputes import open_dispute
from tests.portal.exception_books import AFTER, MONTH, month_of_books, run_month
from tests.portal.factories import NOW, add_staff, build_case, notice_sent, sign_in
from tests.portal.test_finance_exceptions import exception, member
from tests.portal.test_finance_refunds import paid
from tests.portal.test_money_paths import accept_first, pay_due

from .conftest import serve
from .pages import SCREENSHOTS
from .test_access import NARROWEST, _sideways, _sign_in_staff
from .test_agent_console import DESKTOP
from .test_borrower_journey import PHONE, _serious

CLERK = "month.close.clerk@haohuan.example"
SECOND = "second.finance.member@haohuan.example"
LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")


def _paid_and_disputed_later(app) -> int:
    """A borrower (sent a message) who accepted a plan and paid its first installment
    through the sandbox, as the dispute tests' borrower: the payment's id."""
    borrower = app.test_client()
    built = build_case(app, name="陳怡君")
    notice_sent(app, built.case_id, NOW - timedelta(days=3))
    sign_in(borrower, built)
    accept_first(borrower, "arrears_plan")
    pay_due(borrower)
    with app.app_context():
        query = select(Payment.id).where(Payment.case_id == built.case_id)
        return db.session().scalars(query.where(Payment.status == "succeeded")).one()


def _set_up(app) -> dict[str, int]:
    """November's books reconciled (four exceptions open), a paid sandbox payment to
    refund and another disputed; the clock then moved past the month's end."""
    add_staff(app, CLERK, ("finance",))
    add_staff(app, SECOND, ("finance",))
    # The helpers sign a borrower in with the test client, which sends no CSRF token.
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        books = month_of_books(app)
        to_refund = paid(app, reference="sbx_refund_me")
        disputed = _paid_and_disputed_later(app)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    run_month(app, books)
    with app.app_context():
        dispute = open_dispute(db.session(), disputed, AFTER, reason="fraudulent").id
        found = exception(app, "refunds_differ").id
    # December 2nd: November is over; one person may refund or write off NT$300 alone.
    app.config["HAOHUAN_NOW"] = AFTER.isoformat()
    app.config["FINANCE_APPROVAL_ABOVE"] = "TWD=300"
    return {"exception": found, "refund_payment": to_refund, "dispute": dispute}


@pytest.fixture(scope="module")
def month(browser, tmp_path_factory):
    """A server of its own (its clock and approval limit are the test's), the state set
    up, and the clerk signed in at a desk."""
    with serve(tmp_path_factory.mktemp("close") / "haohuan.db") as (base, app):
        browser.watch(base)
        ids = _set_up(app)
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        _sign_in_staff(page, base, CLERK, "**/finance/**")
        yield base, app, page, ids
        context.close()


def _look(page, base: str, pages: dict[str, str], found: dict[str, list[str]]) -> None:
    """Each page in each language at 390 and 1280 px: axe, sideways scroll, screenshot."""
    for locale in LANGUAGES:
        for viewport, width in ((PHONE, 390), (DESKTOP, 1280)):
            page.set_viewport_size(viewport)
            for name, path in pages.items():
                joiner = "&" if "?" in path else "?"
                page.goto(f"{base}{path}{joiner}lang={locale}")
                found[f"{name}-{locale}-{width}"] = _serious(page)
                assert _sideways(page) == 0, (name, locale, width)
                page.screenshot(
                    path=SCREENSHOTS / f"finance-{name}-{locale}-{width}.png", full_page=True
                )
    page.set_viewport_size(DESKTOP)


def test_a_clerk_works_the_month_to_its_close(month, browser):
    base, app, page, ids = month
    found: dict[str, list[str]] = {}
    _look(
        page,
        base,
        {
            "exceptions": "/finance/exceptions",
            "exception": f"/finance/exceptions/{ids['exception']}",
            "close-blocked": f"/finance/close?month={MONTH}",
            "disputes": "/finance/disputes",
            "dispute": f"/finance/disputes/{ids['dispute']}",
            "payment-refund": f"/finance/payments/{ids['refund_payment']}",
            "journals": "/finance/journals",
        },
        found,
    )
    page.set_viewport_size(NARROWEST)
    for path in (
        "/finance/exceptions",
        f"/finance/exceptions/{ids['exception']}",
        "/finance/disputes",
        f"/finance/disputes/{ids['dispute']}",
    ):
        page.goto(f"{base}{path}?lang=zh_Hant_TW")
        assert _sideways(page) == 0, path
    page.set_viewport_size(DESKTOP)

    # The close page says what blocks it, and links each exception.
    page.goto(f"{base}/finance/close?month={MONTH}&lang=en")
    expect(page.locator("main ul.alert")).to_contain_text("4 exceptions of this month")
    expect(page.locator("main button", has_text=f"Close {MONTH}")).to_have_count(0)

    # Take an exception, note it and resolve it through its forms: Stripe's refund we
    # never recorded.
    page.goto(f"{base}/finance/exceptions/{ids['exception']}?lang=en")
    page.locator("main button", has_text="Take it").click()
    page.wait_for_url(f"**/finance/exceptions/{ids['exception']}")
    page.fill("#text", "Refunded from Stripe's dashboard on the borrower's call.")
    page.locator("main form[action$='/note'] button[type=submit]").click()
    page.wait_for_url(f"**/finance/exceptions/{ids['exception']}")
    page.goto(f"{base}/finance/exceptions/{ids['exception']}?lang=en")
    expect(page.locator("main ol.timeline")).to_contain_text("on the borrower's call")
    page.check("input[name=resolution][value=recorded_refund]")
    page.locator("main form[action$='/resolve'] button[type=submit]").click()
    page.wait_for_url(f"**/finance/exceptions/{ids['exception']}")
    expect(page.locator("main h1 + p .status")).to_have_text("Resolved")
    found["exception-resolved"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "finance-exception-resolved-en-1280.png", full_page=True)
    page.set_viewport_size(NARROWEST)
    assert _sideways(page) == 0
    page.screenshot(path=SCREENSHOTS / "finance-exception-resolved-en-320.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    # Ask for a refund of the whole payment: above NT$300, it waits for a second person.
    page.goto(f"{base}/finance/payments/{ids['refund_payment']}?lang=en")
    page.locator("main section.refund form button[type=submit]").click()
    page.wait_for_url(f"**/finance/payments/{ids['refund_payment']}")
    expect(page.locator("main p[role=status]")).to_contain_text("waits for a second")
    page.goto(f"{base}/finance/refunds?lang=en")
    expect(page.locator("main")).to_contain_text("Another finance member approves it.")
    expect(page.locator("main button", has_text="Approve and send")).to_have_count(0)

    # The second member approves it from the list, on a phone.
    second = browser.new_context(viewport=PHONE)
    other = second.new_page()
    _sign_in_staff(other, base, SECOND, "**/finance/**")
    for locale in LANGUAGES:
        other.goto(f"{base}/finance/refunds?lang={locale}")
        found[f"refunds-{locale}-390"] = _serious(other)
        assert _sideways(other) == 0, locale
        other.screenshot(path=SCREENSHOTS / f"finance-refunds-{locale}-390.png", full_page=True)
    other.set_viewport_size(DESKTOP)
    other.goto(f"{base}/finance/refunds?lang=en")
    other.screenshot(path=SCREENSHOTS / "finance-refunds-en-1280.png", full_page=True)
    other.locator("main button", has_text="Approve and send").click()
    other.wait_for_url(f"**/finance/payments/{ids['refund_payment']}")
    expect(other.locator("main p[role=status]")).to_contain_text("Refunded")
    second.close()
    with app.app_context():
        refund = db.session().scalars(select(Refund)).one()
        assert refund.status == RefundStatus.SUCCEEDED
        assert db.session().get(Payment, ids["refund_payment"]).refunded == refund.amount

    # Submit the dispute's evidence as the page assembled it.
    page.goto(f"{base}/finance/disputes/{ids['dispute']}?lang=en")
    page.locator("main form[action$='/evidence'] button[type=submit]").click()
    page.wait_for_url(f"**/finance/disputes/{ids['dispute']}")
    expect(page.locator("main h2#evidence")).to_have_text("Evidence as submitted")
    found["dispute-submitted"] = _serious(page)
    with app.app_context():
        assert db.session().get(Dispute, ids["dispute"]).evidence_submitted_by == CLERK

    # Download November's journals as CSV.
    page.goto(f"{base}/finance/journals?lang=en")
    page.fill("#month", MONTH)
    with page.expect_download() as downloading:
        page.locator("main form button[type=submit]").click()
    download = downloading.value
    assert download.suggested_filename == f"journals-{MONTH}.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1
    assert {row[0][:7] for row in rows[1:]} == {MONTH}

    # The rest of the exceptions worked off by the service, then the month closed.
    with app.app_context():
        session = db.session()
        for note in ("no_payment", "not_succeeded", "no_charge_at_stripe"):
            work.write_off(session, exception(app, note), member(CLERK), "Checked", AFTER)
            left = exception(app, note)
            if left.status != "written_off":  # above the limit: the second approves
                work.approve_write_off(session, left, member(SECOND), AFTER)
    page.goto(f"{base}/finance/close?month={MONTH}&lang=en")
    expect(page.locator("main p.good")).to_have_text("Nothing blocks the close.")
    found["close-ready"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "finance-close-ready-en-1280.png", full_page=True)
    page.locator("main button", has_text=f"Close {MONTH}").click()
    page.wait_for_url(f"**/finance/close?month={MONTH}")
    expect(page.locator("main p.good")).to_contain_text("This month is closed")
    for locale in LANGUAGES:
        for viewport, width in ((PHONE, 390), (DESKTOP, 1280)):
            page.set_viewport_size(viewport)
            page.goto(f"{base}/finance/close?month={MONTH}&lang={locale}")
            found[f"close-closed-{locale}-{width}"] = _serious(page)
            assert _sideways(page) == 0, (locale, width)
            page.screenshot(
                path=SCREENSHOTS / f"finance-close-closed-{locale}-{width}.png", full_page=True
            )
    assert {name: v for name, v in found.items() if v} == {}
