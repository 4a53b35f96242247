"""Table rows kept rendered, keyed by exactly what they show.

A page of the agents' queue is fifty rows whose HTML is a function of the row's values
(a frozen ``QueueRow``: masked name and phone, amount, days, stage, state, owner, last
contact), the language, the console's time zone and the address the app is served
under: nothing else the row's template reads. So each row's HTML is kept under a key
of those values and served again for the same key, by any request: a row whose case
changed has other values, hence another key, and no kept row can be stale (no time,
no version to move). The template renders a row only when its key is new
(``kept``/``keep``, see ``templates/agent/_queue_results.html``).

Each worker keeps its ``LIMIT`` most recently used rows (a few hundred bytes each).
With ``TESTING`` (every test app) every row is rendered anyway and compared with the
kept one: a difference raises and is noted in ``mismatches``, which the test suite
checks after every test, so the whole suite checks that the key misses nothing a row
shows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Flask, current_app, request
from flask_babel import get_locale
from markupsafe import Markup, escape

from portal.core import settings

LIMIT = 4096
EXTENSION = "haohuan.kept_rows"


class KeptRowMismatchError(AssertionError):
    """A kept row differs from the same row rendered now: its key misses something the
    row shows."""


class KeptRows:
    """Rendered rows by key, the least recently used forgotten beyond ``limit``."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._rows: OrderedDict[Hashable, Markup] = OrderedDict()
        self._lock = threading.Lock()
        # With TESTING: each stale row's key, the kept HTML and the fresh one.
        self.mismatches: list[tuple[Hashable, str, str]] = []

    def get(self, key: Hashable) -> Markup | None:
        """The row kept under ``key``, or None."""
        with self._lock:
            kept = self._rows.get(key)
            if kept is not None:
                self._rows.move_to_end(key)
            return kept

    def put(self, key: Hashable, html: Markup) -> None:
        """Keep ``html`` under ``key``."""
        with self._lock:
            self._rows[key] = html
            self._rows.move_to_end(key)
            while len(self._rows) > self.limit:
                self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


def init_app(app: Flask) -> None:
    """A store of kept rows for ``app``, and ``kept_html``/``keep_html`` for templates."""
    app.extensions[EXTENSION] = KeptRows()
    app.jinja_env.globals.update(kept_html=kept_html, keep_html=keep_html)


def kept_html(kind: str, key: Hashable) -> Markup | None:
    """In a template: the part of ``kind`` kept under ``key`` (every value it shows beyond
    the language, the console's zone and the script root), or None: render it and give
    it to ``keep_html``. For a part shown once a page (``row_keeper`` serves a page's
    rows)."""
    kept, _keep = row_keeper(kind)
    return kept(key)


def keep_html(kind: str, key: Hashable, html: str) -> Markup:
    """In a template: keep the part of ``kind`` rendered for ``key``, and give it back."""
    _kept, keep = row_keeper(kind)
    return keep(key, html)


def row_keeper(kind: str) -> tuple[Callable[[Hashable], Markup | None], Callable[..., Markup]]:
    """For this response, the template's two functions for rows of ``kind``: ``kept(row)``
    gives the row's HTML kept under its key (None: render it), and ``keep(row, html)``
    keeps what was rendered and gives it back. ``row`` must be hashable and hold every
    value the row shows; the language, the console's zone and the script root are added
    here, once a response."""
    store: KeptRows = current_app.extensions[EXTENSION]
    checking = bool(current_app.config.get("TESTING"))
    context = (kind, str(get_locale()), settings.current().console_zone.key, request.script_root)

    def kept(row: Hashable) -> Markup | None:
        if checking:
            return None  # rendered anyway, and compared in ``keep``
        return store.get((context, row))

    def keep(row: Hashable, html: str) -> Markup:
        key = (context, row)
        # What the template captured is Markup already (escaped as it was rendered);
        # anything else is escaped.
        fresh = escape(html)
        if checking:
            before = store.get(key)
            if before is not None and before != fresh:
                store.mismatches.append((key, str(before), str(fresh)))
                raise KeptRowMismatchError(f"a kept row differs from the row rendered now: {key}")
        store.put(key, fresh)
        return fresh

    return kept, keep


__all__ = [
    "EXTENSION",
    "KeptRowMismatchError",
    "KeptRows",
    "init_app",
    "keep_html",
    "kept_html",
    "row_keeper",
]
