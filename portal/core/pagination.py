"""One page of a query's rows: every list the consoles page through (the case queue,
payments, the audit log, the outbox) counts, clamps and slices the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

# Any select, of any row shape (SQLAlchemy 2.1 types a select by its columns).
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Window:
    """Which page of how many: ``page`` is clamped to the pages that exist (a page past
    the end is the last, and an empty list has one page)."""

    total: int
    page: int
    pages: int
    per_page: int

    def of(self, query: Query) -> Query:
        """``query`` (ordered) cut to this page's rows."""
        return query.limit(self.per_page).offset((self.page - 1) * self.per_page)


def window(db: Session, query: Select[*tuple[Any, ...]], page: int, per_page: int) -> Window:
    """Count the rows ``query`` selects and place ``page`` among the pages they fill."""
    return placed(count(db, query), page, per_page)


def count(db: Session, query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` selects."""
    return int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)


def placed(total: int, page: int, per_page: int) -> Window:
    """``page`` placed among the pages ``total`` rows fill."""
    pages = max(1, -(-total // per_page))
    return Window(total, min(max(page, 1), pages), pages, per_page)
