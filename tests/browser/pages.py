"""What the browser tests share besides fixtures: where screenshots go, and the way to
the Pay page.

Screenshots go to ``HAOHUAN_SCREENSHOTS_DIR`` when it is set (``make screenshots`` points
it at docs/screenshots, the README's pictures), else to the git-ignored
``.artifacts/screenshots/``: a test run never changes a tracked file."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(
    os.environ.get("HAOHUAN_SCREENSHOTS_DIR") or ROOT / ".artifacts" / "screenshots"
).resolve()


def to_pay_page(page, base: str, built) -> None:
    """A borrower through the link, verification, the arrears plan and consent, to Pay."""
    page.goto(f"{base}/r/{built.token}")
    page.fill("#answer", built.date_of_birth)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status")
    page.goto(f"{base}/plans")
    page.locator("main a.button[href*='kind=arrears_plan']").first.click()
    page.wait_for_url("**/plans/review**")
    page.check("#consent")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/pay")
