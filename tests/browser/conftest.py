"""Browser fixtures: the portal served by a real HTTP server in a thread, and Debian's
Chromium driven by Playwright. Run when HAOHUAN_TEST_BROWSER is set (CI sets it); then a
missing Chromium is a failure, not a skip.

Every HTML page of the portal that a browser test opens is kept, and at the end of the
session the Nu Html Checker (vnu.jar from the npm package vnu-jar, pinned in
package-lock.json and installed by ``make``; run on Debian's Java) validates them all in
one run: an error in any of them fails the session."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.core import migrate
from tests.portal.factories import app_config

CHROMIUM = os.environ.get("HAOHUAN_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
VNU_DEFAULT = "tests/browser/node_modules/vnu-jar/build/dist/vnu.jar"
VNU = Path(os.environ.get("HAOHUAN_VNU_JAR") or ROOT / VNU_DEFAULT)

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
    with serve(tmp_path_factory.mktemp("browser") / "haohuan.db") as served:
        yield served


@contextmanager
def serve(path: Path) -> Iterator[tuple[str, object]]:
    """The portal on 127.0.0.1 at a free port, on a new SQLite database at ``path``: for
    a test whose figures count every row of a table (the session's ``server`` is shared
    by every browser test). Its pages are checked too once given to ``browser.watch``."""
    app = create_app({**app_config(f"sqlite:///{path}"), "WTF_CSRF_ENABLED": True})
    migrate.upgrade(app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", app
    http.shutdown()
    http.server_close()  # closed now, not when a kept-alive connection's thread ends
    thread.join()


class PagesSeen:
    """The HTML of every page of the portal the browser loaded, as the server sent it,
    once per distinct text (the same page in the same state is checked once)."""

    def __init__(self, base: str) -> None:
        self.bases = {base}
        self.pages: dict[str, tuple[str, str]] = {}  # digest -> (address, html)

    def record(self, response: Any) -> None:
        try:
            if response.request.resource_type != "document" or not any(
                response.url.startswith(f"{base}/") for base in self.bases
            ):
                return
            if "text/html" not in response.headers.get("content-type", ""):
                return
            html = response.text()
        except Exception:  # a redirect, or a page left before its body was read
            return
        digest = hashlib.sha256(html.encode()).hexdigest()
        self.pages.setdefault(digest, (response.url, html))


class WatchedBrowser:
    """Chromium, with every context it opens reporting its pages to ``PagesSeen``."""

    def __init__(self, browser: Any, seen: PagesSeen) -> None:
        self._browser, self._seen = browser, seen

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        context.on("response", self._seen.record)
        return context

    def new_page(self, **kwargs: Any) -> Any:
        page = self._browser.new_page(**kwargs)
        page.context.on("response", self._seen.record)
        return page

    def watch(self, base: str) -> None:
        """Check the pages of another portal server too (one configured differently)."""
        self._seen.bases.add(base)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


def vnu_errors(pages: dict[str, tuple[str, str]], folder: Path) -> list[str]:
    """The Nu Html Checker's errors over ``pages``, in one run of the jar: "address: line
    N: message" each."""
    if not pages:
        return []
    java = shutil.which("java")
    assert java, "Java is needed for the Nu Html Checker (.ci/run installs it)"
    assert VNU.exists(), f"{VNU} is missing: `make {VNU_DEFAULT}`"
    addresses = {}
    for number, (address, html) in enumerate(pages.values()):
        name = f"page-{number}.html"
        (folder / name).write_text(html, encoding="utf-8")
        addresses[name] = address
    files = [str(folder / name) for name in addresses]
    result = subprocess.run(
        [java, "-Xss2m", "-jar", str(VNU), "--errors-only", "--format", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stderr or result.stdout or '{"messages": []}')
    return [
        f"{addresses.get(m.get('url', '').rsplit('/', 1)[-1], m.get('url'))}: "
        f"line {m.get('lastLine')}: {m.get('message')}"
        for m in report["messages"]
        if m.get("type") in ("error", "non-document-error")
    ]


@pytest.fixture(scope="session")
def browser(
    server: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    seen = PagesSeen(server[0])
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield WatchedBrowser(chromium, seen)
        chromium.close()
    errors = vnu_errors(seen.pages, tmp_path_factory.mktemp("html"))
    assert errors == [], "The Nu Html Checker found errors:\n" + "\n".join(errors)
