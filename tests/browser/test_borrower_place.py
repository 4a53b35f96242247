"""The borrower never loses their place, in Chromium at 390 px in each language: a
language switch on a refused move keeps the form (JavaScript on and off), the live
calculator's values survive a switch, the move form's date picker follows the chosen
payment, and no date or amount breaks across lines."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.portal.factories import build_case

from .pages import SCREENSHOTS
from .test_borrower_journey import CASES, PHONE, _serious
from .test_move import _arranged, _second_due

OTHER = {"zh_Hant_TW": "en", "zh_Hans_CN": "zh_Hant_TW", "en": "zh_Hans_CN"}
HTML_LANG = {"zh_Hant_TW": "zh-Hant-TW", "zh_Hans_CN": "zh-Hans-CN", "en": "en"}


BROKEN = """() => [...document.querySelectorAll('main .nowrap')]
  .filter((e) => e.getClientRects().length > 1)
  .map((e) => e.textContent)"""


def _broken_lines(page) -> list[str]:
    """Every nowrap date or amount that the page lays out on more than one line."""
    return page.evaluate(BROKEN)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize(("locale", "currency", "name"), CASES, ids=[c[0] for c in CASES])
def test_a_language_switch_keeps_a_refused_move(
    server, browser, locale, currency, name, javascript
):
    base, app = server
    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=47)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    _arranged(page, base, built)
    assert _broken_lines(page) == []
    second = _second_due(app, built.case_id)
    too_far = (second + timedelta(days=40)).isoformat()
    radios = page.locator("section.move input[name=installment]")
    if javascript and radios.count() > 1:
        # The picker follows the chosen payment's own window.
        radios.nth(1).check()
        assert page.locator("#new_date").get_attribute("max") == radios.nth(1).get_attribute(
            "data-max"
        )
        radios.nth(0).check()
    page.fill("#new_date", too_far)
    page.locator("section.move form button[type=submit]").click()
    expect(page.locator("#new_date-errors li")).to_have_count(1)
    other = OTHER[locale]
    with page.expect_navigation() as navigation:
        page.click(f"nav.languages button[value={other}]")
    response = navigation.value
    assert response is not None
    assert response.status == 422
    assert page.locator("html").get_attribute("lang") == HTML_LANG[other]
    expect(page.locator("#new_date-errors li")).to_have_count(1)
    assert page.input_value("#new_date") == too_far
    assert _broken_lines(page) == []
    if javascript:
        assert _serious(page) == []
        page.screenshot(path=SCREENSHOTS / f"{locale}-9-switch-on-refused-move.png", full_page=True)
    context.close()


@pytest.mark.parametrize(("locale", "currency", "name"), CASES, ids=[c[0] for c in CASES])
def test_the_live_calculator_keeps_its_values_across_a_switch(
    server, browser, locale, currency, name
):
    base, app = server
    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=47)
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    page.goto(f"{base}/r/{built.token}")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")
    assert _broken_lines(page) == []
    page.goto(f"{base}/plans")
    assert _broken_lines(page) == []
    start = page.input_value("#installments")
    wanted = "2" if start != "2" else "3"
    with page.expect_response("**/plans/calculate**"):
        page.fill("#installments", wanted)
        page.locator("#installments").dispatch_event("change")
    # The response arrives before htmx swaps the language links out of band,
    # so wait for the swapped link rather than reading it at once.
    expect(page.locator("nav.languages a").first).to_have_attribute(
        "href", re.compile(f"installments={wanted}(&|$)")
    )
    page.locator("nav.languages a").first.click()
    page.wait_for_load_state()
    assert page.input_value("#installments") == wanted
    assert _broken_lines(page) == []
    page.screenshot(path=SCREENSHOTS / f"{locale}-10-calculator-after-switch.png", full_page=True)
    context.close()
