"""The whole journey in Chromium at a phone's size, in each language, with JavaScript
on and off: link, verification, status, options, review, payment, an arranged case.
Every page passes axe with no serious or critical violation, weighs under 100 KB, links
the manifest of its language and registers no service worker (none may keep a
borrower's pages on the phone)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.portal.factories import build_case

from .pages import SCREENSHOTS

PHONE = {"width": 390, "height": 844}
PAGE_BUDGET = 100 * 1024


@dataclass
class Visit:
    """What the browser fetched for one page, and what axe said of it."""

    name: str
    transferred: int
    violations: list[str] = field(default_factory=list)
    workers: int = 0
    manifest: str | None = None


class Recorder:
    """Counts the bytes of every response and runs axe on each page visited."""

    def __init__(self, page, prefix: str, javascript: bool) -> None:
        # axe runs inside the page, so only where JavaScript runs; the pages are the
        # same templates either way.
        self.page, self.prefix, self.javascript = page, prefix, javascript
        self.bytes = 0
        self.visits: list[Visit] = []
        self.axe = Axe()
        page.on("response", self._count)

    def _count(self, response) -> None:
        try:
            self.bytes += len(response.body())
        except Exception:  # a redirect has no body to count
            return

    def visit(self, name: str) -> None:
        """Record the page now shown: its weight since the last visit, axe, a picture."""
        self.page.wait_for_load_state("networkidle")
        serious = []
        if self.javascript:
            results = self.axe.run(self.page)
            serious = [
                f"{v['id']}: {v['help']}"
                for v in results.response["violations"]
                if v.get("impact") in ("serious", "critical")
            ]
        workers = 0
        if self.javascript:
            workers = self.page.evaluate(
                "async () => navigator.serviceWorker"
                " ? (await navigator.serviceWorker.getRegistrations()).length : 0"
            )
        manifest = self.page.locator("link[rel=manifest]").get_attribute("href")
        self.visits.append(Visit(name, self.bytes, serious, workers, manifest))
        self.bytes = 0
        if self.javascript:
            self.page.screenshot(path=SCREENSHOTS / f"{self.prefix}-{name}.png", full_page=True)


CASES = [
    ("zh_Hant_TW", "TWD", "陳怡君"),
    ("zh_Hans_CN", "CNY", "王伟"),
    ("en", "HKD", "Wong Chi Ming"),
]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize(("locale", "currency", "name"), CASES, ids=[c[0] for c in CASES])
def test_link_to_an_arranged_plan(server, browser, locale, currency, name, javascript):
    base, app = server
    built = build_case(app, locale=locale, currency=currency, name=name, days_past_due=47)
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: route.continue_(
            headers={**route.request.headers, "Cache-Control": "no-cache"}
        ),
    )
    record = Recorder(page, locale, javascript)

    page.goto(f"{base}/r/{built.token}")
    assert page.locator("html").get_attribute("lang").startswith(locale.split("_")[0])
    record.visit("1-verify")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")
    assert name in page.inner_text("h1")
    record.visit("2-status")

    page.click("main a.button[href='/plans']")
    page.wait_for_url("**/plans")
    record.visit("3-options")
    if javascript:
        _calculator_updates_in_place(page)

    page.locator("main a.button[href*='kind=arrears_plan']").first.click()
    page.wait_for_url("**/plans/review**")
    record.visit("4-review")
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")
    record.visit("5-pay")

    page.click("main form button[type=submit]")
    page.wait_for_url("**/sandbox/checkout/**")
    record.visit("6-checkout")
    page.click("button[value=succeed]")
    page.wait_for_url("**/pay/result/**")
    assert page.locator("main .good").count() == 1
    record.visit("7-receipt")

    page.goto(f"{base}/status")
    assert page.locator("main section.good").count() == 1  # the plan is active
    record.visit("8-arranged")
    context.close()

    # The weights, for the record (pytest -rP shows them).
    print(
        f"{locale} js={javascript}: "
        + ", ".join(f"{v.name} {v.transferred}" for v in record.visits)
    )
    for visit in record.visits:
        assert visit.violations == [], (visit.name, visit.violations)
        assert visit.transferred < PAGE_BUDGET, (visit.name, visit.transferred)
        assert visit.workers == 0, visit.name
        assert f"/manifest.{locale.replace('_', '-')}." in (visit.manifest or ""), visit
    with app.app_context():
        from portal.core import db
        from portal.models import Case

        assert db.session().get(Case, built.case_id).status == "arranged"


def _calculator_updates_in_place(page) -> None:
    """With JavaScript, the calculator answers without leaving the page."""
    url = page.url
    page.fill("#installments", "40")
    expect(page.locator("#calculation .alert")).to_be_visible(timeout=5000)
    page.fill("#installments", "6")
    expect(page.locator("#calculation table.schedule")).to_be_visible(timeout=5000)
    assert page.url == url


def test_an_expired_link_is_calm(server, browser):
    base, _app = server
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/r/{'x' * 43}")
    assert page.locator("main h1").count() == 1
    assert "Traceback" not in page.content()
    results = Axe().run(page)
    serious = [
        v["id"]
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert serious == []
    context.close()


def _serious(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def test_the_other_borrower_pages_pass_axe(server, browser):
    """Help, its confirmation, a declined payment, a form with errors, a signed-out page."""
    base, app = server
    built = build_case(app, locale="zh_Hant_TW", name="林志明")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/r/{built.token}")
    page.fill("#answer", "1999-01-01")  # wrong: the page with an error message
    page.click("main form button[type=submit]")
    checked = {"verify-error": _serious(page)}
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")

    page.goto(f"{base}/plans")
    page.click("details.budget summary, section.budget details summary")
    page.fill("#net_monthly_income", "lots")
    page.click("section.budget form button[type=submit]:not([name])")
    checked["statement-error"] = _serious(page)

    page.goto(f"{base}/pay")
    page.click("main a.button")  # pay everything overdue: review it
    page.wait_for_url("**/plans/review**")
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")
    page.click("main form button[type=submit]")
    page.click("button[value=fail]")
    page.wait_for_url("**/pay/result/**")
    checked["declined"] = _serious(page)

    page.goto(f"{base}/help")
    checked["help"] = _serious(page)
    page.check("input[value=hardship]")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/help/done")
    checked["help-done"] = _serious(page)
    page.screenshot(path=SCREENSHOTS / "zh_Hant_TW-9-help-done.png", full_page=True)

    page.click("form.signout button")
    page.wait_for_url("**/session-ended**")
    checked["signed-out"] = _serious(page)
    context.close()
    assert checked == {name: [] for name in checked}
