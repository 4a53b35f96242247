"""``portal.core.sql.one_of``: ``IN (...)`` on SQLite, ``= ANY`` of one array parameter
on PostgreSQL, and the same answers on both, whatever the values (quotes, backslashes,
commas, braces, "NULL", empty text; any integer a bigint holds), including when a
compiled statement is reused with other values."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, String, literal, select
from sqlalchemy.dialects import postgresql

from portal.core import db
from portal.core.sql import one_of
from portal.models import Case

from .factories import build_case

AWKWARD = [
    "Asia/Taipei",
    'a"b',
    "c\\d",
    '\\"',
    "NULL",
    "null",
    "",
    " padded ",
    "a,b",
    "{x}",
    'a","b',
    "台北",
]
NUMBERS = [0, 1, -1, 2**63 - 1, -(2**63), 10_000_000_001]


def _answers(values: list, candidates: list, kind) -> list[bool]:
    session = db.session()
    return [
        bool(session.scalar(select(one_of(literal(candidate, kind), values))))
        for candidate in candidates
    ]


def test_every_value_is_found_and_nothing_else(app):
    with app.app_context():
        others = ["Asia", "ab", 'a"', "c\\\\d", "NUL", "a", "x", "台"]
        for chosen in (AWKWARD, AWKWARD[:1], AWKWARD[1:6], []):
            found = _answers(chosen, AWKWARD + others, String())
            assert found == [value in chosen for value in AWKWARD + others]
        missing = [2, -2, 2**62]
        for numbers in (NUMBERS, NUMBERS[2:4], []):
            found = _answers(numbers, NUMBERS + missing, BigInteger())
            assert found == [value in numbers for value in NUMBERS + missing]


def test_a_column_of_a_table_reads_as_in(app):
    for _ in range(4):
        build_case(app)
    with app.app_context():
        session = db.session()
        ids = list(session.scalars(select(Case.id).order_by(Case.id)))
        assert len(ids) == 4
        for chosen in (ids, ids[::2], ids[:1], [], [max(ids, default=0) + 1]):
            found = session.scalars(
                select(Case.id).where(one_of(Case.id, chosen)).order_by(Case.id)
            )
            assert list(found) == [case_id for case_id in ids if case_id in chosen]


def test_the_postgresql_statement_does_not_grow_with_its_values():
    def text(count: int) -> str:
        query = select(Case.id).where(one_of(Case.id, list(range(count))))
        return str(query.compile(dialect=postgresql.psycopg.dialect()))

    assert text(2) == text(300)
    assert "= ANY (%(param_1)s::BIGINT[])" in text(2)


def test_other_values_are_refused():
    with pytest.raises(TypeError):
        one_of(Case.id, [1.5])
    with pytest.raises(TypeError):
        one_of(Case.id, [True])
    with pytest.raises(TypeError):
        one_of(Case.id, [1, "1"])
