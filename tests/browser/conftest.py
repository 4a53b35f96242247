"""Browser fixtures: the portal served by a real HTTP server in a thread, and Debian's
Chromium driven by Playwright. Run when HAOHUAN_TEST_BROWSER is set (CI sets it); then a
missing Chromium is a failure, not a skip."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.core import migrate
from tests.portal.factories import app_config

CHROMIUM = os.environ.get("HAOHUAN_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("HAOHUAN_TEST_BROWSER"):
        return
    skip = pytest.mark.skip(reason="HAOHUAN_TEST_BROWSER is not set (CI sets it)")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The portal on 127.0.0.1 at a free port, on its own SQLite database."""
    path = tmp_path_factory.mktemp("browser") / "haohuan.db"
    app = create_app({**app_config(f"sqlite:///{path}"), "WTF_CSRF_ENABLED": True})
    migrate.upgrade(app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", app
    http.shutdown()
    http.server_close()  # closed now, not when a kept-alive connection's thread ends
    thread.join()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
