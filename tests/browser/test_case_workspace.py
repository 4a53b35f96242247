"""The agent's case page as a workspace, in Chromium: at 1280x800 the case, "may I call
now?", what waits and the next action are on the first screen, without scrolling; every
section opens from its tab with JavaScript (htmx loads its fragment, the address follows)
and without (the tab is a link); at a phone's width the same order and nothing wider than
the screen; axe finds nothing serious. Pictures for a person to look at."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.portal.factories import add_history, add_staff, build_case

from .pages import SCREENSHOTS
from .test_agent_console import _sign_in, _worked_with_email
from .test_borrower_journey import PHONE, _serious

AGENT = "workspace@haohuan.example"
SCREEN = {"width": 1280, "height": 800}
# Each section by its name, and the id of the part it opens.
SECTIONS = {
    "arrears": "arrears",
    "borrower": "borrower",
    "loan": "loan",
    "calls": "calls",
    "offers": "offers",
    "messages": "messages",
    "letters": "letters",
    "holds": "hold",
    "schedule": "schedule",
    "plans": "plans",
    "payments": "payments",
    "events": "events",
    "contacts": "contacts",
    "visits": "visits",
    "owner": "owner-section",
    "agency": "agency-section",
}
# What the top of the page holds, in the order it reads.
SUMMARY = [".case-head h1", ".summary-figures", ".verdict", ".pending", "#primary-action"]


@pytest.fixture
def busy_case(server):
    """A case with months of history, and an agent to open it."""
    base, app = server
    from portal.staff.accounts import AccountError

    built = build_case(app, days_past_due=47, locale="zh_Hant_TW")
    _worked_with_email(app, built.case_id)
    add_history(app, built.case_id, agent=AGENT)
    with contextlib.suppress(AccountError):  # the session's server may have them already
        add_staff(app, AGENT, roles=("agent", "supervisor"))
    return base, built.case_id


def _open(browser, base: str, viewport: dict, **options):
    context = browser.new_context(viewport=viewport, locale="en-US", **options)
    page = context.new_page()
    _sign_in(page, base, AGENT)
    return context, page


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_the_summary_verdict_and_next_action_are_on_the_first_screen(server, browser, busy_case):
    base, case_id = busy_case
    context, page = _open(browser, base, SCREEN)
    page.goto(f"{base}/agent/cases/{case_id}?lang=en")
    assert page.evaluate("window.scrollY") == 0
    for selector in SUMMARY:
        box = _box(page, selector)
        assert box["y"] + box["height"] <= SCREEN["height"], (selector, box)
    expect(page.locator(".verdict")).to_contain_text("You may call the borrower now.")
    expect(page.locator(".pending")).to_contain_text("Call back at")
    expect(page.locator(".pending")).to_contain_text("Promise to pay not kept")
    expect(page.locator("#primary-action")).to_have_text("Log a call")
    # The tabs begin on the first screen too: the rest is a click away.
    assert _box(page, ".case-tabs")["y"] < SCREEN["height"]
    assert _serious(page) == []
    page.screenshot(path=SCREENSHOTS / "agent-case-workspace.png")
    page.screenshot(path=SCREENSHOTS / "agent-case-workspace-full.png", full_page=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3 * SCREEN["height"], height  # the whole page, the arrears open
    # The primary action opens the call form.
    page.click("#primary-action")
    page.wait_for_url(f"**/agent/cases/{case_id}?section=calls#log-call")
    expect(page.locator("#case-section form.call-form")).to_be_visible()
    context.close()


def test_every_section_opens_from_its_tab_with_htmx_and_the_address_follows(
    server, browser, busy_case
):
    base, case_id = busy_case
    context, page = _open(browser, base, SCREEN)
    page.goto(f"{base}/agent/cases/{case_id}?lang=en")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.body.dataset.kept = 'yes'")  # gone if the page reloads
    for name, part in SECTIONS.items():
        with page.expect_response(lambda r, name=name: r.url.split("?")[0].endswith(name)):
            page.click(f"#tab-{name}")
        # htmx pushes the address after it swaps, so wait for the address first: the
        # first tab is the section already open, whose part is visible before the swap.
        expect(page).to_have_url(re.compile(rf"/agent/cases/{case_id}\?section={name}$"))
        expect(page.locator(f"#case-section #{part}")).to_be_visible()
        expect(page.locator(f"#tab-{name}")).to_have_attribute("aria-current", "true")
        assert page.locator('.case-tabs [aria-current="true"]').count() == 1
        assert page.evaluate("document.activeElement.id") == f"tab-{name}"
    assert page.evaluate("document.body.dataset.kept") == "yes"  # never a whole page
    # Back goes to the section before, as the address says.
    page.go_back()
    page.wait_for_url(f"**?section={list(SECTIONS)[-2]}")
    expect(page.locator(f"#case-section #{list(SECTIONS.values())[-2]}")).to_be_visible()
    context.close()


def test_every_section_opens_from_its_link_without_javascript_and_passes_axe(
    server, browser, busy_case
):
    base, case_id = busy_case
    context, page = _open(browser, base, SCREEN, java_script_enabled=False)
    page.goto(f"{base}/agent/cases/{case_id}?lang=en")
    for name, part in SECTIONS.items():
        page.click(f"#tab-{name}")
        page.wait_for_url(f"**/agent/cases/{case_id}?section={name}#case-section")
        expect(page.locator(f"#case-section #{part}")).to_be_visible()
        assert page.locator(f'#tab-{name}[aria-current="true"]').count() == 1
        # The summary stays above whichever section is open.
        expect(page.locator("#primary-action")).to_be_visible()
    context.close()
    # axe over every section (axe needs JavaScript to run).
    context, page = _open(browser, base, SCREEN)
    found = {}
    for name in SECTIONS:
        page.goto(f"{base}/agent/cases/{case_id}?section={name}&lang=en")
        found[name] = _serious(page)
    assert found == {name: [] for name in SECTIONS}
    context.close()


def test_at_a_phones_width_the_same_order_and_nothing_wider_than_the_screen(
    server, browser, busy_case
):
    base, case_id = busy_case
    context, page = _open(browser, base, PHONE)
    for name in ("arrears", *[n for n in SECTIONS if n != "arrears"]):
        page.goto(f"{base}/agent/cases/{case_id}?section={name}&lang=en")
        order = [*SUMMARY, ".case-tabs", "#case-section"]
        tops = [_box(page, selector)["y"] for selector in order]
        assert tops == sorted(tops), (name, dict(zip(order, tops, strict=True)))
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        # Nothing sticks out, but inside the tables' own scrolling regions.
        wider = page.evaluate(
            """(width) => [...document.querySelectorAll('body *')].filter(e => {
                   if (e.closest('.scroll')) return false;
                   const box = e.getBoundingClientRect();
                   // A skip link waits off the screen on purpose, wholly outside it.
                   const out = box.right > width + 1 || box.left < -1;
                   return box.width > 0 && box.right > 0 && out;
               }).map(e => e.tagName + '.' + e.className + '#' + e.id)""",
            PHONE["width"],
        )
        assert wider == [], (name, wider)
        if name == "arrears":
            page.screenshot(path=SCREENSHOTS / "agent-case-workspace-phone.png", full_page=True)
    context.close()
