"""The agent's case page for a case with plenty of history: its height in Chromium and
the SQL statements one request runs.

Builds a case on a SQLite database of its own (a temporary folder) as the tests build one
(``tests.portal.factories.build_case``), gives it months of history
(``add_history``: 60 contacts, 6 promises, an open callback, 3 plans, 12 payments with
their allocations, 20 messages, 150 events, two open flags), signs an agent in, then:

* counts the SQL statements of ``GET /agent/cases/<id>`` (the default page) and of each
  section's page and fragment (``?section=<name>``, ``/sections/<name>``), the sign-in
  done, caches warm (the second request of each is counted);
* opens the default page in Chromium (``/usr/bin/chromium``, Playwright) at 1280x800 and
  at 390x844 and prints the document's height in CSS pixels, and whether anything is
  wider than the screen.

    .venv/bin/python bench/case_page.py [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app
from portal.core import migrate
from tests.portal.factories import (
    PASSWORD,
    add_history,
    add_staff,
    app_config,
    build_case,
    staff_sign_in,
)

AGENT = "ling@haohuan.example"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@contextmanager
def counted(app) -> Iterator[list[str]]:
    """Every statement the app's engine runs inside the block."""
    statements: list[str] = []
    engine = app.extensions["haohuan.engine"]

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def statements_of(app, client, address: str) -> int:
    client.get(address)  # warm: templates compiled, the policy read
    with counted(app) as statements:
        response = client.get(address)
    if response.status_code != 200:
        raise SystemExit(f"{address} answered {response.status_code}")
    return len(statements)


def heights(base: str, case_id: int, screenshots: Path | None) -> dict[str, tuple[int, int]]:
    from playwright.sync_api import sync_playwright

    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        for name, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{base}/staff/sign-in?lang=en")
            page.fill("#email", AGENT)
            page.fill("#password", PASSWORD)
            page.click("main form button[type=submit]")
            page.wait_for_url("**/agent/**")
            page.goto(f"{base}/agent/cases/{case_id}?lang=en")
            page.wait_for_load_state("networkidle")
            tall = page.evaluate("document.documentElement.scrollHeight")
            wide = page.evaluate("document.documentElement.scrollWidth")
            found[name] = (tall, wide)
            if screenshots is not None:
                page.screenshot(path=screenshots / f"case-page-{name}.png", full_page=True)
            context.close()
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", type=Path, default=None)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="case-page-"))
    app = create_app(app_config(f"sqlite:///{folder / 'haohuan.db'}"))
    migrate.upgrade(app)
    built = build_case(app, days_past_due=47)
    add_history(app, built.case_id, agent=AGENT)
    add_staff(app, AGENT, roles=("agent",))

    client = app.test_client()
    staff_sign_in(client, AGENT)
    page = f"/agent/cases/{built.case_id}?lang=en"
    print(f"SQL statements, GET {page}: {statements_of(app, client, page)}")
    from portal.web.agent import SECTIONS

    for name in [section.name for section in SECTIONS]:
        whole = statements_of(app, client, f"/agent/cases/{built.case_id}?section={name}")
        part = statements_of(app, client, f"/agent/cases/{built.case_id}/sections/{name}")
        print(f"  section {name:10} page {whole:3}  fragment {part:3}")

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        for name, (tall, wide) in heights(
            f"http://127.0.0.1:{http.server_port}", built.case_id, options.screenshots
        ).items():
            width = SIZES[name][0]
            print(f"{name} {SIZES[name]}: {tall} px tall, {wide} px wide (screen {width})")
    finally:
        http.shutdown()
        http.server_close()


if __name__ == "__main__":
    main()
