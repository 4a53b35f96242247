"""The baseline the pages are measured against: a minimal Flask app that renders a small
Jinja template after one PostgreSQL query, served by the same gunicorn configuration
(``gunicorn -c python:portal.gunicorn_conf baseline_app:create_app()``).

``/`` reads one loan by its primary key; ``/webhook`` is not here (``webhooks.py`` has
its own baseline)."""

from __future__ import annotations

import os

from flask import Flask, render_template_string
from sqlalchemy import create_engine, text

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
</head><body><main><h1>{{ title }}</h1><p>Loan {{ number }} in {{ currency }}.</p></main>
</body></html>"""


def create_app() -> Flask:
    """The app, on ``DATABASE_URL``'s database (one pooled connection per worker)."""
    app = Flask(__name__)
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=1)

    @app.get("/")
    def page() -> str:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT number, currency FROM loans WHERE id = :id"), {"id": 1}
            ).one()
        return render_template_string(PAGE, title="Baseline", number=row[0], currency=row[1])

    return app
