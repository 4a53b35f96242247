"""Moving a plan payment in Chromium at a phone's size, in each language, with
JavaScript on and off: a refused date answered beside the field, then the move made
and stated on the status page. axe finds nothing serious; pictures for a person to see."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.portal.factories import build_case

from .pages import SCREENSHOTS, to_pay_page
from .test_borrower_journey import CASES, PHONE, _serious


def _arranged(page, base: str, built) -> None:
    """Through verification, an arrears plan and its first payment, to an active plan."""
    to_pay_page(page, base, built)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/sandbox/checkout/**")
    page.click("button[value=succeed]")
    page.wait_for_url("**/pay/result/**")
    page.goto(f"{base}/status")


def _second_due(app, case_id: int) -> date:
    from portal.core import db
    from portal.models import Plan

    with app.app_context():
        query = select(Plan).where(Plan.case_id == case_id)
        return db.session().scalars(query).one().installments[1].due_date


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize(("locale", "currency", "name"), CASES, ids=[c[0] for c in CASES])
def test_move_a_payment(server, browser, locale, currency, name, javascript):
    base, app = server
    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=47)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    _arranged(page, base, built)
    second = _second_due(app, built.case_id)
    form = page.locator("section.move form")
    assert form.count() == 1
    assert page.locator("#new_date").get_attribute("min") == (second + timedelta(1)).isoformat()

    # Too far: answered beside the date, the form kept, nothing moved.
    page.fill("#new_date", (second + timedelta(days=15)).isoformat())
    form.locator("button[type=submit]").click()
    expect(page.locator("#new_date-errors li")).to_have_count(1)
    expect(page.locator("#new_date[aria-invalid=true]")).to_have_count(1)
    refused = _serious(page) if javascript else []
    if javascript:
        page.screenshot(path=SCREENSHOTS / f"{locale}-8a-move-refused.png", full_page=True)

    page.fill("#new_date", (second + timedelta(days=7)).isoformat())
    page.locator("section.move form button[type=submit]").click()
    page.wait_for_url("**/status#move-title")
    moved = page.inner_text("section.move")
    assert page.locator("section.move form").count() == 0  # once per plan
    assert str((second + timedelta(days=7)).day) in moved
    assert page.locator("ol.timeline li").count() >= 1
    done = _serious(page) if javascript else []
    if javascript:
        page.screenshot(path=SCREENSHOTS / f"{locale}-8b-moved.png", full_page=True)
    assert len(page.content().encode()) < 100 * 1024
    context.close()
    assert refused == []
    assert done == []
