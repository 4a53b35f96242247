"""The portfolio page in Chromium, on a phone and at a desk, in the three languages: a
supervisor reads the roll-rate heat map and its tables, then the plans, promises, contact
and the portal funnel, without the page scrolling sideways (only the heat map and the
wide tables scroll, each in its own box) or growing endlessly long, axe finds nothing
serious, and changing a slice with htmx replaces the results and the address. The pages
seen are validated by the Nu Html Checker with the others (conftest)."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from tests.portal.factories import add_staff, build_case

from .pages import SCREENSHOTS
from .test_agent_console import DESKTOP, _sign_in
from .test_borrower_journey import PHONE, _serious

SUPERVISOR = "portfolio.chief@haohuan.example"
MONTH_ENDS = (date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30))
UNFOLD = "document.querySelectorAll('details.portfolio-more').forEach(d => d.open = true)"
# What of the page is wider than the viewport and not inside a scrolled box.
OUTSIDE = """() => [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
    && !e.closest('.scroll'))
  .map(e => e.tagName + '.' + (e.className.baseVal ?? e.className)
    + ' in ' + (e.closest('svg, table, figure')?.className.baseVal
      ?? e.closest('svg, table, figure')?.className ?? 'main'))"""


def _book(app) -> None:
    """Cases from current to 200 days past due, in TWD and USD, written at three
    month-ends (so two month pairs)."""
    from portal.core import db
    from portal.reporting.snapshots import write_month_end

    for days in (0, 0, 12, 40, 47, 70, 95, 200):
        build_case(app, days_past_due=days)
    build_case(app, days_past_due=47, currency="USD")
    with app.app_context():
        session = db.session()
        for month_end in MONTH_ENDS:
            write_month_end(session, month_end)
        session.commit()


def test_a_supervisor_reads_the_portfolio_on_a_phone_and_at_a_desk(server, browser):
    base, app = server
    add_staff(app, SUPERVISOR, ("agent", "supervisor"))
    _book(app)
    heights: list[int] = []
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        _sign_in(page, base, SUPERVISOR)
        for lang in ("zh_Hant_TW", "zh_Hans_CN", "en"):
            page.goto(f"{base}/reports/portfolio?lang={lang}&currency=TWD")
            expect(page.locator("svg[role=img] rect.heat").first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]
            assert page.evaluate(OUTSIDE) == [], (viewport, lang)
            assert _serious(page) == [], (viewport, lang)
            # The other sections under the roll rates, each behind its heading, and the
            # whole page far from an endless scroll.
            for section in ("liquidation", "plans", "promises", "contact", "funnel"):
                expect(page.locator(f"h2#{section}")).to_be_visible()
            # The liquidation curves: a point per cohort and month, in a box of their own.
            expect(page.locator(".curve-chart .scroll svg circle.curve-dot").first).to_be_visible()
            heights.append(page.evaluate("document.documentElement.scrollHeight"))
            # Unfolded, the tables by agent, language and device scroll in their own boxes.
            page.evaluate(UNFOLD)
            assert page.evaluate(OUTSIDE) == [], (viewport, lang, "unfolded")
            assert _serious(page) == [], (viewport, lang, "unfolded")
        name = "phone" if viewport is PHONE else "desk"
        page.screenshot(path=str(SCREENSHOTS / f"reports-portfolio-{name}.png"), full_page=True)
        # A slice chosen with htmx: the results and the address change, not the page.
        page.goto(f"{base}/reports/portfolio?lang=en")
        expect(page.locator(".notice", has_text="Counts only")).to_be_visible()
        page.click("details.queue-more summary")
        page.select_option("#portfolio-currency", "USD")
        expect(page).to_have_url(
            f"{base}/reports/portfolio?from=2026-09-30&to=2026-10-31&currency=USD"
        )
        expect(page.locator(".notice", has_text="Counts only")).to_have_count(0)
        expect(page.locator("#portfolio-currency")).to_have_value("USD")
        context.close()
    # Phone pages first (three languages), then the desk's.
    assert max(heights[3:]) < 6_000, heights
    assert max(heights[:3]) < 12_000, heights


FINANCE = "portfolio.money@haohuan.example"


def test_finance_reads_the_money_figures_on_a_phone_and_at_a_desk(server, browser):
    """Finance's page: the roll rates and the plans in the finance console, nothing of
    the promises, contact or funnel, readable on a phone and at a desk in three languages."""
    base, app = server
    add_staff(app, FINANCE, ("finance",))
    _book(app)
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(f"{base}/staff/sign-in?lang=en")
        page.fill("#email", FINANCE)
        page.fill("#password", "correct horse battery")
        page.click("main form button[type=submit]")
        page.wait_for_url("**/finance/**")
        for lang in ("zh_Hant_TW", "zh_Hans_CN", "en"):
            page.goto(f"{base}/reports/portfolio?lang={lang}&currency=TWD")
            expect(page.locator("svg[role=img] rect.heat").first).to_be_visible()
            expect(page.locator("nav.console a[aria-current=page]")).to_have_attribute(
                "href", "/reports/portfolio"
            )
            expect(page.locator("h2#plans")).to_be_visible()
            for section in ("promises", "contact", "funnel"):
                expect(page.locator(f"h2#{section}")).to_have_count(0)
            assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]
            assert page.evaluate(OUTSIDE) == [], (viewport, lang)
            assert _serious(page) == [], (viewport, lang)
        name = "phone" if viewport is PHONE else "desk"
        page.screenshot(
            path=str(SCREENSHOTS / f"reports-portfolio-finance-{name}.png"), full_page=True
        )
        context.close()
