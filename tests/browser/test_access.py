"""WCAG 2.2 AA in Chromium where only a rendered page can tell (issue 12, items 46-55):
the focus ring's contrast on the header, reflow at 320 px, text zoomed to 200% on a
phone, focus kept through htmx swaps, live regions that stay put, and a session that
warns before it ends."""

from __future__ import annotations

import contextlib
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


# 49 and 50 ------------------------------------------------------------------------------

AGENT = "focus.agent@haohuan.example"


def _agent_page(browser, base, app):
    from .test_agent_console import _worked_with_email

    built = build_case(app, locale="en", name="Focus Test")
    _worked_with_email(app, built.case_id)
    from portal.staff.accounts import AccountError

    with contextlib.suppress(AccountError):  # the session's server has this agent already
        add_staff(app, AGENT, ("agent",))
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in_staff(page, base, AGENT, "**/agent/**")
    return context, page, built


def test_focus_stays_on_the_sort_link_and_moves_to_what_was_revealed(server, browser):
    base, app = server
    context, page, built = _agent_page(browser, base, app)
    page.goto(f"{base}/agent/?lang=en")
    page.locator("#queue-results th a", has_text="Days past due").focus()
    with page.expect_response(lambda r: "/agent/" in r.url and r.request.headers.get("hx-request")):
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    focused = page.evaluate("document.activeElement.closest('th')?.textContent || ''")
    assert "Days past due" in focused  # the same heading's new link, not the page's body
    # The count is announced from the region that stays; the table is not live.
    expect(page.locator("#queue-count")).to_contain_text("found")
    assert page.locator("#queue-results").get_attribute("aria-live") is None

    page.goto(f"{base}/agent/cases/{built.case_id}?section=borrower&lang=en")
    button = page.locator("#borrower .reveal-buttons button").first
    button.focus()
    with page.expect_response(lambda r: "/reveal" in r.url):
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.activeElement.closest('#borrower') !== null")
    expect(page.locator("#borrower .notice")).to_be_focused()
    context.close()


def test_the_offer_preview_live_region_stays_through_swaps(server, browser):
    base, app = server
    context, page, built = _agent_page(browser, base, app)
    page.goto(f"{base}/agent/cases/{built.case_id}/offers/new?lang=en")
    page.evaluate("document.getElementById('offer-preview-live').dataset.mark = 'kept'")
    before = page.inner_text("#offer-preview")
    with page.expect_response(lambda r: "/offers/preview" in r.url):
        page.select_option("#kind", "arrears_plan")
        page.fill("#installments", "7")
        page.locator("#installments").dispatch_event("change")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.getElementById('offer-preview-live').dataset.mark") == "kept"
    assert page.locator("#offer-preview-live > #offer-preview").count() == 1
    assert page.inner_text("#offer-preview") != before
    context.close()


def test_a_fast_tab_in_the_calculator_sends_one_request_and_keeps_the_focus(server, browser):
    """Typing a number and tabbing on at once, into the answer that is about to be
    replaced: one request, and the focus is where the person put it, not on the body."""
    base, app = server
    built = build_case(app, locale="en", name="Tab Test")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _verified(page, base, built)
    page.goto(f"{base}/plans")
    page.wait_for_load_state("networkidle")
    field = page.locator("#installments")
    field.fill("6")
    expect(page.locator("#calculation table.schedule")).to_be_visible()  # an answer shown
    page.wait_for_load_state("networkidle")
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/plans/calculate" in r.url else None)
    field.focus()
    field.press("Control+a")
    page.keyboard.type("7")
    for _ in range(12):  # on past the form's fields into the answer, within the delay
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('#calculation')"):
            break
    held = page.evaluate("document.activeElement.id")
    assert held
    page.wait_for_timeout(1500)
    page.wait_for_load_state("networkidle")
    assert len(asked) == 1, asked
    assert "installments=7" in asked[0]
    assert page.evaluate("document.activeElement.id") == held
    expect(page.locator("#calculation table.schedule")).to_be_visible()
    context.close()


# 52 --------------------------------------------------------------------------------------


def test_a_warning_before_the_session_ends_and_stay_signed_in(server, browser):
    """The page says the session lasts 123 more seconds (as if 13 minutes had passed):
    the warning comes 3 seconds later, with the focus on "Stay signed in", which renews
    the session and gives the focus back to where it was."""
    base, app = server
    built = build_case(app, locale="en", name="Warn Test")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _verified(page, base, built)

    def nearly_over(route):
        response = route.fetch()
        body = response.text().replace('data-seconds="900"', 'data-seconds="123"')
        route.fulfill(response=response, body=body)

    page.route("**/help", nearly_over)
    page.goto(f"{base}/help")
    page.fill("#details", "half written")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    expect(warning).to_be_visible(timeout=8000)
    expect(page.locator("#session-stay")).to_be_focused()
    page.screenshot(path=SCREENSHOTS / "access-session-warning.png")
    with page.expect_response(lambda r: r.url.endswith("/session/extend")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 200
    expect(warning).to_be_hidden()
    expect(page.locator("#details")).to_be_focused()
    expect(page.locator("#session-status")).to_have_text("You are still signed in.")
    assert page.input_value("#details") == "half written"
    context.close()


# 53 --------------------------------------------------------------------------------------


def test_the_html_checker_finds_what_the_issue_found(tmp_path):
    """The checker the session runs at its end: a page of ours is valid, and a time with
    microseconds or a bare hx- attribute (what the specialist found) is an error."""
    from .conftest import vnu_errors

    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
        "<body><p>{}</p></body></html>"
    )
    micro = '<time datetime="2026-11-30T02:00:00.123456+00:00">x</time>'  # isoformat()
    pages = {
        "good": ("/good", page.format('<time datetime="2026-11-30T02:00:00Z">today</time>')),
        "micro": ("/micro", page.format(micro)),
        "htmx": ("/htmx", page.format('<a href="/" hx-get="/">x</a>')),
    }
    errors = vnu_errors(pages, tmp_path)
    assert {error.split(":")[0] for error in errors} == {"/micro", "/htmx"}


# Walk ------------------------------------------------------------------------------------


def test_a_disputed_payments_page_fits_a_phone_in_every_language(server, browser):
    """Found walking the finance console at 390 px: the status badge "Disputed by the
    cardholder" never wrapped, so the payment page scrolled sideways."""
    from tests.portal.test_finance_console import pay

    base, app = server
    clerk = "walk.finance@haohuan.example"
    add_staff(app, clerk, ("finance",))
    built = build_case(app, locale="en", currency="CNY", name="Li Wei")
    number = pay(app, built, 50_000, NOW - timedelta(days=3), "pi_walk_dispute", dispute=50_000)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_in_staff(page, base, clerk, "**/finance/**")
    for lang in ("en", "zh_Hant_TW", "zh_Hans_CN"):
        page.goto(f"{base}/finance/payments/{number}?lang={lang}")
        assert _sideways(page) == 0, lang
    context.close()


def test_the_collections_chart_on_a_phone_opens_on_the_latest_days(server, browser):
    """Found walking the finance console at 390 px: the chart is wider than a phone and
    its scroll region opened on the oldest days, so the latest (what a controller looks
    for) were hidden to the right."""
    from tests.portal.test_finance_console import pay

    base, app = server
    clerk = "walk.chart@haohuan.example"
    add_staff(app, clerk, ("finance",))
    built = build_case(app, locale="en", name="Chart Walk")
    pay(app, built, 150_000, NOW - timedelta(days=1), "pi_walk_chart")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_in_staff(page, base, clerk, "**/finance/**")
    page.goto(f"{base}/finance/collections?lang=en")
    bars = page.locator("figure.chart rect.chart-bar")
    latest = bars.nth(bars.count() - 1).bounding_box()
    region = page.locator("figure.chart .scroll").bounding_box()
    assert latest["x"] + latest["width"] <= region["x"] + region["width"]
    assert _sideways(page) == 0
    context.close()
