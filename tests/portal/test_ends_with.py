"""``portal.core.sql.ends_with``: ``LIKE '%text'`` on SQLite, the start of
``reverse(column)`` on PostgreSQL (which a b-tree index on that expression reads), and the
same answers on both, the pattern's own characters (``%``, ``_``, backslashes) matching
only themselves."""

from __future__ import annotations

from sqlalchemy import String, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.core import db
from portal.core.sql import ends_with

TEXTS = ["0912345678", "886912345678", "345678", "a_b", "axb", "50%", "505", "c\\d", "台北市"]


def test_each_text_ends_with_its_own_ends_and_nothing_else(app):
    endings = ["345678", "12345678", "_b", "%", "\\d", "北市", "0912345678", "1", ""]
    with app.app_context():
        session = db.session()
        for ending in endings:
            found = [
                bool(session.scalar(select(ends_with(literal(text, String()), ending))))
                for text in TEXTS
            ]
            assert found == [text.endswith(ending) for text in TEXTS], ending


def test_postgresql_reads_the_reversed_column_from_its_start():
    column = literal("x", String())
    condition = select(ends_with(column, "12_"))
    on_postgres = str(condition.compile(dialect=postgresql.dialect()))
    assert "reverse(" in on_postgres
    assert "LIKE" in on_postgres
    assert "reverse(" not in str(condition.compile(dialect=sqlite.dialect()))
    values = condition.compile(dialect=postgresql.dialect()).params.values()
    assert "\\_21%" in values
