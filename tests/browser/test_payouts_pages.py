"""The payouts pages in Chromium, in the three languages, on a phone and at a desk: a
finance clerk imports the camt.053 fixture through the page, reads the payouts (waiting
ones first), opens a payout the rules left to a person and chooses its deposit; axe finds
nothing serious and no page scrolls sideways, down to 320 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.portal.factories import add_staff
from tests.portal.test_payouts import FIXTURE, payout_id, run

from .pages import SCREENSHOTS
from .test_access import NARROWEST, _sideways, _sign_in_staff
from .test_agent_console import DESKTOP
from .test_borrower_journey import PHONE, _serious

CLERK = "payouts.clerk@haohuan.example"


@pytest.fixture
def clerk_page(server, browser):
    base, app = server
    add_staff(app, CLERK, ("finance",))
    run(app)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in_staff(page, base, CLERK, "**/finance/**")
    yield base, app, page
    context.close()


def test_a_clerk_imports_a_statement_and_chooses_a_deposit(clerk_page):
    base, app, page = clerk_page
    found: dict[str, list[str]] = {}
    page.goto(f"{base}/finance/payouts?lang=en")
    page.set_input_files("#statement", str(FIXTURE))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/finance/payouts?statement=*")
    expect(page.locator("p[role=status]")).to_contain_text("4 of them ticked off")
    twin = payout_id(app, "po_twin_a")
    for locale in ("zh_Hant_TW", "zh_Hans_CN", "en"):
        for viewport, width in ((PHONE, 390), (DESKTOP, 1280)):
            page.set_viewport_size(viewport)
            for name, path in (("list", "/finance/payouts"), ("twin", f"/finance/payouts/{twin}")):
                page.goto(f"{base}{path}?lang={locale}")
                found[f"{name}-{locale}-{width}"] = _serious(page)
                assert _sideways(page) == 0, (name, locale, width)
                page.screenshot(
                    path=SCREENSHOTS / f"payouts-{name}-{locale}-{width}.png", full_page=True
                )
    page.set_viewport_size(NARROWEST)
    page.goto(f"{base}/finance/payouts/{twin}?lang=en")
    assert _sideways(page) == 0
    page.locator("main table form button[type=submit]").first.click()
    page.wait_for_url(f"**/finance/payouts/{twin}")
    expect(page.locator("main p[role=status]")).to_contain_text("Ticked off against the deposit")
    found["twin-ticked"] = _serious(page)
    assert {name: v for name, v in found.items() if v} == {}
