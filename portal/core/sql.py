"""SQL constructs the dialects write differently.

``one_of`` is ``column IN (values)`` whose text does not grow with its values on
PostgreSQL: there it is ``column = ANY(:values)``, one array parameter, which the
planner reads as it reads an IN list (PostgreSQL turns ``IN (...)`` into ``= ANY`` of an
array itself). A statement listing two hundred time zones as an IN list was 15 to 55 kB
of SQL that SQLAlchemy rendered and psycopg parsed again on every request (psycopg keeps
its parse of a statement only under 4 kB); as one parameter the statement's text is the
same on every request. Elsewhere (SQLite has no arrays) it stays the IN list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, Boolean, ColumnElement, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType


class OneOf(ColumnElement[bool]):
    """``column`` is one of a list of values (see ``one_of``)."""

    __visit_name__ = "one_of"
    type = Boolean()
    # Every part the statement's cache key and bound values are read from: both forms'
    # parameters, so whichever the dialect renders takes this statement's values when
    # the compiled form is reused.
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's own form)
        ("column", InternalTraversal.dp_clauseelement),
        ("listed", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self, column: ColumnElement[Any] | QueryableAttribute[Any], values: list[str] | list[int]
    ) -> None:
        # The column itself (a mapped attribute's), which the compilers and the cache key
        # read.
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

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


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


__all__ = ["OneOf", "array_text", "one_of"]
