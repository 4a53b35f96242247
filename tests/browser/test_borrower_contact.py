"""The borrower narrows contact and asks to be called, in Chromium at phone size, in
each language, with JavaScript on and off; axe (with JavaScript on) finds nothing serious
on either page, its errors or the status page with a requested call."""

from __future__ import annotations

import pytest

from tests.portal.factories import build_case

from .pages import SCREENSHOTS
from .test_borrower_journey import CASES, PHONE, _serious


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize(("locale", "currency", "name"), CASES, ids=[c[0] for c in CASES])
def test_not_at_work_then_a_call_after_work(server, browser, locale, currency, name, javascript):
    base, app = server

    def axe() -> list[str]:
        # axe runs in the page: with JavaScript off the same HTML was checked with it on.
        return _serious(page) if javascript else []

    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=20)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    page.goto(f"{base}/r/{built.token}")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")

    page.click("a[href='/contact']")
    page.wait_for_url("**/contact")
    checked = {"contact": axe()}
    # A refused choice first: the error is shown, announced and passes axe.
    page.select_option("#days_1", "weekdays")
    page.select_option("#from_1", "18:00")
    page.select_option("#until_1", "09:00")
    page.click("main form button[type=submit]")
    assert page.locator("#until_1-errors li").count() == 1
    checked["contact-error"] = axe()
    # Email only, and not at work.
    for channel in ("call", "sms", "letter"):
        page.uncheck(f"input[type=checkbox][name=channels][value={channel}]")
    page.select_option("#from_1", "09:00")
    page.select_option("#until_1", "18:00")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/contact?saved=1")
    assert page.locator("input[type=checkbox][name=channels][value=email]").is_checked()
    assert not page.locator("input[type=checkbox][name=channels][value=call]").is_checked()
    assert page.input_value("#days_1") == "weekdays"

    # Calls are off: the callback page says why and leads back.
    page.goto(f"{base}/callback")
    assert page.locator("a[href='/contact']").count() >= 1
    assert page.locator("#slot").count() == 0
    checked["callback-refused"] = axe()

    # Calls back on: the first time offered is after work today (18:00 in Taipei,
    # Shanghai or Hong Kong, whose clocks agree), and it is kept.
    page.goto(f"{base}/contact")
    page.check("input[type=checkbox][name=channels][value=call]")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/contact?saved=1")
    page.goto(f"{base}/callback")
    checked["callback"] = axe()
    first = page.locator("#slot option:not([value=''])").first
    assert first.get_attribute("value") == "2026-11-30T10:00Z"
    page.select_option("#slot", "2026-11-30T10:00Z")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status**")
    assert page.locator("#callback-title").count() == 1
    assert page.locator("form[action='/callback/cancel']").count() == 1
    checked["status-with-callback"] = axe()
    if javascript:
        page.screenshot(path=SCREENSHOTS / f"{locale}-10-callback.png", full_page=True)
    page.click("form[action='/callback/cancel'] button")
    page.wait_for_url("**/status**")
    assert page.locator("form[action='/callback/cancel']").count() == 0
    assert {name: found for name, found in checked.items() if found} == {}
    if javascript:  # nothing wider than the phone
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
