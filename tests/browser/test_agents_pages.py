"""The agents' figures in Chromium, on a phone and at a desk, in the three languages: a
supervisor reads the table of every agent on the portfolio page, loaded in place from its
link (it scrolls in its own box, never the page), and an agent reads their own page from the
console's link; axe finds nothing serious. The book is ``test_report_agents``'s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.portal.test_report_agents import NOVEMBER_END, OCTOBER_END, build_book

from .conftest import serve
from .pages import SCREENSHOTS
from .test_agent_console import DESKTOP
from .test_borrower_journey import PHONE, _serious
from .test_reports_page import OUTSIDE

PERIOD = f"from={OCTOBER_END}&to={OCTOBER_END}"


def _sign_in(page, base: str, email: str) -> None:
    """Sign in and leave the sign-in page (a supervisor alone lands on the staff home)."""
    page.goto(f"{base}/staff/sign-in?lang=en")
    page.fill("#email", email)
    page.fill("#password", "correct horse battery")
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/staff/sign-in" not in url)


def _book(app) -> None:
    from portal.core import db
    from portal.reporting.snapshots import count_transitions

    build_book(app)
    with app.app_context():
        count_transitions(db.session(), OCTOBER_END, NOVEMBER_END)
        db.session().commit()


@pytest.fixture(scope="module")
def book_server(tmp_path_factory, browser) -> Iterator[tuple[str, object]]:
    """A server of its own with the book alone: the table has a row per agent, so the
    session's server, where other tests add staff (one with the book's agent's email),
    would give it rows (and accounts) that are not the book's."""
    with serve(tmp_path_factory.mktemp("agents") / "haohuan.db") as (base, app):
        browser.watch(base)
        _book(app)
        yield base, app


def test_supervisors_read_the_agents_and_an_agent_their_own(book_server, browser):
    base, _app = book_server
    for viewport in (PHONE, DESKTOP):
        name = "phone" if viewport is PHONE else "desk"
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        _sign_in(page, base, "boss@haohuan.example")
        for lang in ("zh_Hant_TW", "zh_Hans_CN", "en"):
            page.goto(f"{base}/reports/portfolio?lang={lang}&{PERIOD}")
            # The agents' section is read apart, when asked for: its link loads it in place.
            page.locator("#agents + p a").click()
            table = page.locator("table.portfolio-agents")
            expect(table).to_be_attached()
            expect(table.locator("tbody tr")).to_have_count(4)
            assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]
            assert page.evaluate(OUTSIDE) == [], (viewport, lang)
            assert _serious(page) == [], (viewport, lang)
        page.locator("h2#agents").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"reports-agents-{name}.png"))
        context.close()

        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        _sign_in(page, base, "ling@haohuan.example")
        page.goto(f"{base}/agent/my-work?lang=en")
        page.click("nav.console a[href='/reports/mine']")
        expect(page.locator("h1")).to_have_text("My figures")
        for lang in ("zh_Hant_TW", "zh_Hans_CN", "en"):
            page.goto(f"{base}/reports/mine?lang={lang}&{PERIOD}")
            expect(page.locator("dl.portfolio-totals")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]
            assert page.evaluate(OUTSIDE) == [], (viewport, lang)
            assert _serious(page) == [], (viewport, lang)
        page.screenshot(path=str(SCREENSHOTS / f"reports-mine-{name}.png"), full_page=True)
        context.close()
