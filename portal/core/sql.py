"""SQL constructs the dialects write differently.

``one_of`` is ``column IN (values)`` whose text does not grow with its values on
PostgreSQL: there it is ``column = ANY(:values)``, one array parameter, which the
planner reads as it reads an IN list (PostgreSQL turns ``IN (...)`` into ``= ANY`` of an
array itself). A statement listing two hundred time zones as an IN list was 15 to 55 kB
of SQL that SQLAlchemy rendered and psycopg parsed again on every request (psycopg keeps
its parse of a statement only under 4 kB); as one parameter the statement's text is the
same on every request. Elsewhere (SQLite has no arrays) it stays the IN list.

``ends_with`` is ``column LIKE '%text'``, on PostgreSQL ``reverse(column) LIKE 'txet%'``:
the start of the reversed column, which a b-tree index on ``reverse(column)`` (with
``text_pattern_ops``) reads as a range, where ``LIKE '%text'`` can be read through no
b-tree and a trigram index reads every row sharing the text's trigrams (all of them,
when a million phones share a prefix). SQLite has no ``reverse()``; there it stays the
plain LIKE.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, Boolean, ColumnElement, bindparam, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from portal.core.db import like_pattern


class _TwoForms(ColumnElement[bool]):
    """A condition on ``column`` that PostgreSQL and the other dialects write in two
    forms (each subclass's compilers choose), both kept on the element."""

    type = Boolean()
    # The column itself (a mapped attribute's), which the compilers and the cache key
    # read.
    column: ColumnElement[Any]

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


def _internals(*names: str) -> _TraverseInternalsType:
    """Every part the statement's cache key and bound values are read from: both forms'
    parameters, so whichever the dialect renders takes this statement's values when the
    compiled form is reused."""
    return [(name, InternalTraversal.dp_clauseelement) for name in names]


class OneOf(_TwoForms):
    """``column`` is one of a list of values (see ``one_of``)."""

    __visit_name__ = "one_of"
    _traverse_internals = _internals("column", "listed", "array")

    def __init__(
        self, column: ColumnElement[Any] | QueryableAttribute[Any], values: list[str] | list[int]
    ) -> None:
        column = column.expression
        self.column = column
        # An expanding parameter made directly: ``in_`` given the list would make (and
        # check) a parameter for each value, which the page then throws away.
        self.listed = column.in_(bindparam(None, values, type_=column.type, expanding=True))
        # PostgreSQL's array as its text ('{"a","b"}'): psycopg sends a string as it is
        # (a list's values it adapts one by one), and of no type, so PostgreSQL reads it
        # as the array type the statement casts it to once, as a constant (a string
        # typed text and cast would be read again for every row).
        self.array = bindparam(None, _array_text(values), type_=NullType())


def _array_text(values: list[str] | list[int]) -> str:
    """``values`` as a PostgreSQL array's text: each string double-quoted, its
    backslashes and double quotes escaped (so any text is itself, "NULL" included);
    each integer as its digits."""
    if not values:
        return "{}"
    try:
        plain = "".join(values)  # type: ignore[arg-type]  # TypeError: not all strings
    except TypeError:
        if all(type(value) is int for value in values):
            return "{" + ",".join(map(str, values)) + "}"
    else:
        texts: list[str] = values  # type: ignore[assignment]
        if "\\" in plain or '"' in plain:
            texts = [text.replace("\\", "\\\\").replace('"', '\\"') for text in texts]
        return '{"' + '","'.join(texts) + '"}'
    raise TypeError("one_of takes a list of strings or a list of integers")


def array_text(values: list[str] | list[int]) -> str:
    """``values`` as the text of a PostgreSQL array, the parameter ``one_of`` sends there:
    for a statement built once that takes its list at execution (cast to the array type
    in the statement)."""
    return _array_text(values)


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[str] | Iterable[int]
) -> ColumnElement[bool]:
    """``column IN (values)``, on PostgreSQL as ``column = ANY(:values)`` (one parameter,
    the same statement text whatever the values)."""
    listed: list[Any] = list(values)
    if len(listed) == 1:
        # One value is an equality, as PostgreSQL makes of IN with one value (its plans
        # for one id read the indexes as the equality does).
        _array_text(listed)  # the same values refused
        equal: ColumnElement[bool] = column == listed[0]
        return equal
    return OneOf(column, listed)


@compiles(OneOf)
def _listed(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.listed, **kw)})"


@compiles(OneOf, "postgresql")
def _any(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    array = compiler.dialect.type_compiler_instance.process(ARRAY(element.column.type))
    return f"({column} = ANY ({compiler.process(element.array, **kw)}::{array}))"


class EndsWith(_TwoForms):
    """``column`` ends with a text (see ``ends_with``)."""

    __visit_name__ = "ends_with"
    _traverse_internals = _internals("column", "plain", "reversed")

    def __init__(self, column: ColumnElement[Any] | QueryableAttribute[Any], text: str) -> None:
        column = column.expression
        self.column = column
        self.plain = column.like("%" + like_pattern(text), escape="\\")
        # The text reversed before it is escaped: an escape must stay before its
        # character.
        self.reversed = func.reverse(column).like(like_pattern(text[::-1]) + "%", escape="\\")


def ends_with(
    column: ColumnElement[Any] | QueryableAttribute[Any], text: str
) -> ColumnElement[bool]:
    """``column`` ends with ``text`` (its ``%``, ``_`` and backslashes matching
    themselves): on PostgreSQL the start of ``reverse(column)``, which an index on that
    expression reads as a range."""
    return EndsWith(column, text)


@compiles(EndsWith)
def _ends_plain(element: EndsWith, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.plain, **kw)})"


@compiles(EndsWith, "postgresql")
def _ends_reversed(element: EndsWith, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.reversed, **kw)})"


__all__ = ["EndsWith", "OneOf", "array_text", "ends_with", "one_of"]
