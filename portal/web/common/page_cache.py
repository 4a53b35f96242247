"""Rendered pages kept for as long as nothing they were made from has changed: the
borrower's pages, and the agents' queue (its key is its rows' values as read in the same
request: ``portal.web.agent.views.queue``).

A borrower's status page costs some 40 ORM objects, the engine's snapshot and timeline and
a long template; served again it costs the session check and one statement. The key holds
everything a page is made from:

- the case's fingerprint (``portal.cases.fingerprint``): a digest of every row a borrower
  page can show, read in one statement each request, so a payment, a plan, a hold, the
  daily work's set-based updates or a hand fix in SQL each make a new key at once;
- the policy version in force (a row the fingerprint reads), the language, the borrower's
  today, the address with its query, and what the session holds (its link, offer and
  typed statement among them);
- the minute: a page changes with the clock as well as with the rows (a resolved dispute
  stops being shown a set time after it ended), so a page is served for at most the rest
  of the minute it was rendered in, and one rendered at 13:59:50 is never served at 14:00.

What differs between two responses of one session is not kept: the CSRF token and the
session's seconds left are written as marks (``per_request``) and filled in each time.

Each worker keeps its own ``LIMIT`` most recent pages of the current minute, compressed
(no shared store to keep consistent: a worker that has not seen a page renders it).

With ``TESTING`` set (every test app), each page served from the cache is rendered again
and compared, so the whole suite checks that the key misses nothing the pages show: a
difference raises (the request answers 500) and is noted in ``mismatches``, which the
test suite checks after every test.
"""

from __future__ import annotations

import difflib
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, session
from markupsafe import escape

LIMIT = 256
EXTENSION = "haohuan.page_cache"

# Each mark's value function, by name; the mark itself is the name in a form no template
# writes (letters, digits and hyphens: nothing autoescaping would change).
_MARKS: dict[str, Callable[[], Any]] = {}


class PageCacheMismatchError(AssertionError):
    """A page served from the cache differs from the page rendered now: the key misses
    something the page shows."""


class PageCache:
    """The pages this worker rendered in the current minute, compressed, the least
    recently used forgotten beyond ``limit``. A page is kept for the minute it was
    rendered in only (its key holds the minute), so the first page of a new minute drops
    every older one: memory holds one minute's pages at most."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._minute: Hashable = None
        # The page last unpacked, with the packed bytes it came from.
        self._last: tuple[bytes, str] | None = None
        self._lock = threading.Lock()
        self.hits = 0  # pages served from the cache, since the worker started
        self.misses = 0  # pages rendered because the cache did not have them
        # With TESTING: each stale page's key and the lines that differ.
        self.mismatches: list[tuple[Hashable, str]] = []

    def get(self, key: Hashable) -> str | None:
        """The page kept under ``key``, or None."""
        with self._lock:
            packed = self._pages.get(key)
            if packed is None:
                return None
            self._pages.move_to_end(key)
            last = self._last
        if last is not None and last[0] is packed:
            return last[1]
        page = zlib.decompress(packed).decode()
        # The page served last is kept unpacked too (one page: a worker serves the same
        # page many times a minute, and unpacking a 30 kB page takes some 70 µs).
        self._last = (packed, page)
        return page

    def put(self, key: Hashable, page: str, minute: Hashable = None) -> None:
        """Keep ``page`` under ``key`` for ``minute``; a new minute forgets the pages of
        the one before, and the least recently used go beyond the limit."""
        # Level 1: a status page of 10 kB packs to about 3 kB in some 50 µs.
        packed = zlib.compress(page.encode(), 1)
        with self._lock:
            if minute != self._minute:
                self._pages.clear()
                self._minute = minute
            self._pages[key] = packed
            self._pages.move_to_end(key)
            while len(self._pages) > self.limit:
                self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)


def init_app(app: Flask) -> None:
    """A cache for ``app``, and the CSRF token as a mark (after Flask-WTF set its global)."""
    from flask_wtf.csrf import generate_csrf

    app.extensions[EXTENSION] = PageCache()
    register_mark("csrf", generate_csrf)
    # Flask-WTF offers ``csrf_token`` twice, as a Jinja global and from a context
    # processor, and the context processor's wins; so replace both, or kept pages hold a
    # token signed at the second they were rendered (and a re-render a second later in
    # TESTING differs from it).
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})


def csrf_token() -> Any:
    """The CSRF token of this response: a mark while a page is rendered for the cache."""
    return per_request("csrf")


def register_mark(name: str, value: Callable[[], Any]) -> None:
    """Name a value that differs between responses; ``per_request(name)`` gives it."""
    _MARKS[name] = value


def per_request(name: str) -> Any:
    """The value named ``name`` for this response; its mark while a page is being
    rendered for the cache."""
    if g.get("page_cache_rendering"):
        return _mark(name)
    return _MARKS[name]()


# Session keys that change with every request and that no kept page shows (the
# borrower's and the staff member's last request, the CSRF secret).
VOLATILE = frozenset({"seen", "staff_seen", "csrf_token"})


def session_values() -> str:
    """For a page's key: everything the session holds (its link, offer, typed statement,
    language, member, ...) but what moves every request (``VOLATILE``)."""
    return repr(sorted((name, value) for name, value in session.items() if name not in VOLATILE))


def cached_page(key: tuple[Hashable, ...], moment: datetime, render: Callable[[], str]) -> str:
    """The page under ``key`` in the minute of ``moment``, rendered by ``render`` when
    this worker has not kept it; its marks filled in for this response.

    A session holding flashed messages is always rendered and never kept: rendering
    shows the messages and takes them from the session, which a kept page would not."""
    if "_flashes" in session:
        return _filled(_render_with_marks(render))
    cache: PageCache = current_app.extensions[EXTENSION]
    minute = moment.replace(second=0, microsecond=0)
    key = (*key, minute)
    kept = cache.get(key)
    if kept is None:
        cache.misses += 1
    else:
        cache.hits += 1
    if kept is None or current_app.config.get("TESTING"):
        fresh = _render_with_marks(render)
        if kept is not None and fresh != kept:
            cache.mismatches.append((key, _difference(kept, fresh)))
            raise PageCacheMismatchError(f"a kept page differs from the page rendered now: {key}")
        cache.put(key, fresh, minute)
        kept = fresh
    return _filled(kept)


def _difference(kept: str, fresh: str) -> str:
    """The lines of ``kept`` and ``fresh`` that differ, as a short unified diff."""
    lines = difflib.unified_diff(
        kept.splitlines(), fresh.splitlines(), "kept", "fresh", n=1, lineterm=""
    )
    return "\n".join(list(lines)[:40])


def _render_with_marks(render: Callable[[], str]) -> str:
    g.page_cache_rendering = True
    try:
        return render()
    finally:
        g.page_cache_rendering = False


def _filled(page: str) -> str:
    for name, value in _MARKS.items():
        mark = _mark(name)
        if mark in page:
            page = page.replace(mark, str(escape(value())))
    return page


def _mark(name: str) -> str:
    return f"hh-page-cache-mark-{name}-7c1e"
