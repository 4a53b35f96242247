"""Extensions created unbound, once; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from flask_htmx import HTMX

htmx = HTMX()
