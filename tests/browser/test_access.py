"""WCAG 2.2 AA in Chromium where only a rendered page can tell (issue 12, items 46-55):
the focus ring's contrast on the header, reflow at 320 px, text zoomed to 200% on a
phone, focus kept through htmx swaps, live regions that stay put, and a session that
warns before it ends."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests.portal.factories import NOW, add_staff, build_case

from .pages import SCREENSHOTS
from .test_borrower_journey import PHONE

NARROWEST = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 900}
FINANCE = "reconciliation.clerk.with.a.long.name@haohuan-collections.example"


def _sign_in_staff(page, base: str, email: str, landing: str) -> None:
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", email)
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url(landing)


def _sideways(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scroll)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


def _verified(page, base: str, built) -> None:
    page.goto(f"{base}/r/{built.token}")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")


# 46 --------------------------------------------------------------------------------------


def test_the_focus_ring_on_the_header_is_white(server, browser):
    base, app = server
    built = build_case(app, locale="en", name="Ring Test")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/r/{built.token}")
    link = page.locator("header.top nav.languages a").first
    link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focus by keyboard, so :focus-visible applies
    expect(link).to_be_focused()
    colour = link.evaluate("e => getComputedStyle(e).outlineColor")
    assert colour == "rgb(255, 255, 255)"
    # In the page itself the ring stays blue (white would vanish on white).
    answer = page.locator("#answer")
    answer.focus()
    assert answer.evaluate("e => getComputedStyle(e).outlineColor") == "rgb(31, 79, 209)"
    context.close()


# 48 --------------------------------------------------------------------------------------


def test_the_reconciliation_run_page_reflows_at_320_px(server, browser):
    from portal.core import db
    from portal.models import ReconciliationRun

    base, app = server
    add_staff(app, FINANCE, ("finance",))
    with app.app_context():
        run = ReconciliationRun(
            started_at=NOW,
            since=NOW - timedelta(days=1),
            until=NOW,
            started_by=FINANCE,
            status="completed",
        )
        db.session().add(run)
        db.session().commit()
        number = run.id
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in_staff(page, base, FINANCE, "**/finance/**")
    page.goto(f"{base}/finance/reconciliations/{number}?lang=en")
    assert _sideways(page) == 0
    for size in (NARROWEST, PHONE):
        page.set_viewport_size(size)
        assert _sideways(page) == 0, size
    page.screenshot(path=SCREENSHOTS / "access-run-320.png", full_page=True)
    context.close()


# 54 --------------------------------------------------------------------------------------


def test_borrower_pages_at_200_percent_text_on_a_phone(server, browser):
    """Text-only zoom (the browser's default font size doubled, as a phone's text-size
    setting does): nothing scrolls sideways and the timeline's events keep their width."""
    base, app = server
    built = build_case(app, locale="en", name="Zoom Test")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    widths = {}
    page.goto(f"{base}/r/{built.token}")
    widths["verify"] = _sideways(page)
    _verified(page, base, built)
    widths["status"] = _sideways(page)
    page.goto(f"{base}/help")
    widths["help"] = _sideways(page)
    page.goto(f"{base}/plans")
    widths["plans"] = _sideways(page)
    page.locator("main a.button[href*='kind=arrears_plan']").first.click()
    page.wait_for_url("**/plans/review**")
    widths["review"] = _sideways(page)
    events = page.locator("ol.timeline li > span")
    assert events.count() > 0
    font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font >= 30  # the zoom took
    for width in events.evaluate_all("spans => spans.map(s => s.getBoundingClientRect().width)"):
        assert width >= 8 * font, width  # a line of words, not a character a line
    page.screenshot(path=SCREENSHOTS / "access-review-zoom-200.png", full_page=True)
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")
    widths["pay"] = _sideways(page)
    assert widths == dict.fromkeys(widths, 0)
    context.close()
