"""Automatic payments in Chromium on a phone, through the sandbox gateway: a borrower
accepts a plan with automatic payments ticked, pays the first installment, adds the
sandbox's 4242 test card and sees automatic payments on; the served app's clock then
moves to 10:00 in Taipei on the second installment's date, ``payments autopay`` runs,
and the status page shows the second installment paid without the borrower.

Also: each new page in each language, at a phone's and a desktop's width, passes axe
and is kept for the Nu Html Checker (conftest), with a screenshot of each."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from playwright.sync_api import expect
from sqlalchemy import select

from portal.access.verification import issue_link
from portal.cli import cli
from portal.core import db
from portal.models import Case, Payment, Plan
from tests.portal.factories import NOW, build_case

from .pages import SCREENSHOTS, to_pay_page
from .test_borrower_journey import PHONE, _serious

DESKTOP = {"width": 1280, "height": 900}


def _verify(page, base: str, token: str, date_of_birth: str) -> None:
    page.goto(f"{base}/r/{token}")
    page.fill("#answer", date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")


def _pay_first(page) -> None:
    """From the Pay page, the first installment paid on the sandbox's page."""
    page.click("main form button[type=submit]")
    page.wait_for_url("**/sandbox/checkout/**")
    page.click("button[value=succeed]")
    page.wait_for_url("**/pay/result/**")


def _second_due(app, case_id: int):
    with app.app_context():
        plan = db.session().scalars(select(Plan).where(Plan.case_id == case_id)).one()
        return sorted(row.due_date for row in plan.installments)[1]


def test_a_plan_on_autopay_pays_its_next_installment_by_itself(server, browser):
    base, app = server
    built = build_case(app, locale="zh_Hant_TW", name="林美玲")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    checked: dict[str, list[str]] = {}
    _verify(page, base, built.token, built.date_of_birth)

    page.goto(f"{base}/plans")
    page.locator("main a.button[href*='kind=arrears_plan']").first.click()
    page.wait_for_url("**/plans/review**")
    page.click("main details summary")  # the mandate, read before ticking
    expect(page.locator("main .mandate")).to_be_visible()
    checked["review"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "autopay-0-review.png", full_page=True)
    page.check("#consent")
    page.check("#autopay")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")

    _pay_first(page)
    expect(page.locator("#autopay-title")).to_be_visible()
    checked["result"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "autopay-1-receipt.png", full_page=True)
    page.click("section[aria-labelledby=autopay-title] button[type=submit]")

    page.wait_for_url("**/sandbox/card/**")
    checked["test-card"] = _serious(page)
    page.check("input[value='4242']")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status#autopay-title")
    section = page.locator("section[aria-labelledby=autopay-title]")
    expect(section).to_contain_text("•••• 4242")
    expect(section).to_contain_text("已開啟自動扣款")
    checked["status-on"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "autopay-2-status-on.png", full_page=True)
    page.goto(f"{base}/autopay")
    expect(page.locator("main")).to_contain_text("取消自動扣款")
    checked["autopay-on"] = _serious(page)
    context.close()
    assert {name: found for name, found in checked.items() if found} == {}

    # A month on: 10:00 in Taipei on the second installment's due date. The served app
    # reads its clock from its configuration each request (HAOHUAN_NOW), as the run does.
    due = _second_due(app, built.case_id)
    moment = datetime.combine(due, datetime.min.time(), UTC) + timedelta(hours=2)
    app.config["HAOHUAN_NOW"] = moment.isoformat()
    try:
        runner = CliRunner()
        ran = runner.invoke(
            cli, ["payments", "autopay", "--json"], obj=ScriptInfo(create_app=lambda: app)
        )
        assert ran.exit_code == 0, ran.output
        counts = json.loads(ran.output)
        assert counts["charged"] == 1
        assert counts["amount_by_currency"]["TWD"] > 0
        again = runner.invoke(
            cli, ["payments", "autopay", "--json"], obj=ScriptInfo(create_app=lambda: app)
        )
        assert json.loads(again.output)["charged"] == 0  # a re-run charges nothing twice

        # A month ends any session: the borrower opens a new reminder link.
        with app.test_request_context("/"):
            session = db.session()
            case = session.get(Case, built.case_id)
            token = issue_link(session, case, moment)
            session.commit()
            automatic = session.scalars(select(Payment).where(Payment.automatic)).all()
            assert [p.status for p in automatic] == ["succeeded"]
        phone = browser.new_context(viewport=PHONE)
        page = phone.new_page()
        _verify(page, base, token, built.date_of_birth)
        plan_section = page.locator("section[aria-labelledby=plan-title]")
        # "Payments made: 2 of N": the second installment paid without the borrower.
        expect(plan_section).to_contain_text("已繳 2 期")
        page.screenshot(path=SCREENSHOTS / "autopay-3-paid-by-itself.png", full_page=True)
        phone.close()
    finally:
        app.config["HAOHUAN_NOW"] = NOW.isoformat()


LOCALES = ["zh_Hant_TW", "zh_Hans_CN", "en"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_the_autopay_pages_pass_axe_in_each_language(server, browser, locale, viewport):
    base, app = server
    currency = {"zh_Hant_TW": "TWD", "zh_Hans_CN": "CNY", "en": "HKD"}[locale]
    built = build_case(app, locale=locale, currency=currency, name="Shot Test")
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    to_pay_page(page, base, built)
    _pay_first(page)
    width = viewport["width"]
    found = {}
    shots = []

    def shot(name: str) -> None:
        found[name] = _serious(page)
        path = SCREENSHOTS / f"autopay-{locale}-{width}-{name}.png"
        page.screenshot(path=path, full_page=True)
        shots.append(path)

    page.goto(f"{base}/status")
    shot("status-off")
    page.goto(f"{base}/autopay")
    page.click("main form button[type=submit]")  # without the box: the error
    shot("mandate-error")
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/sandbox/card/**")
    shot("test-card")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status#autopay-title")
    shot("status-on")
    page.goto(f"{base}/autopay")
    shot("mandate-on")
    context.close()
    assert {name: v for name, v in found.items() if v} == {}
