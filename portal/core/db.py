"""The database: one engine per application, one session per request.

Plain SQLAlchemy 2 (typed models, ``select()``), bound to the app with ``init_app``.
SQLite by default (``instance/haohuan.db``); PostgreSQL through ``DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event, update
from sqlalchemy import inspect as sa_inspect

# Re-exported: the web layer names the session's type without importing SQLAlchemy.
from sqlalchemy.orm import Session as Session
from sqlalchemy.orm import sessionmaker

# Python's int, and PostgreSQL's bigint: a longer number cannot be an id.
MAX_ID = 2**63 - 1

Row = TypeVar("Row")


def database_url(app: Flask) -> str:
    """The configured URL, or the embedded SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        # Heroku-style URLs name the old driver; psycopg 3 is the one installed.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgres://")
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return str(url)
    return f"sqlite:///{app.instance_path}/haohuan.db"


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """An engine with the settings each backend needs. Each process has its own pool:
    a gunicorn worker serves one request at a time, so a small pool suffices, and
    workers times machines times (pool size + overflow) must stay under PostgreSQL's
    max_connections."""
    options: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # Pre-ping replaces connections a database restart or a proxy's idle timeout
        # closed; a dead database host fails in 10 s rather than hanging a worker.
        options.update(
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args={"connect_timeout": 10},
        )
    engine = create_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def init_app(app: Flask) -> None:
    """Create the app's engine and session factory, and close sessions after requests."""
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    engine = make_engine(
        database_url(app),
        pool_size=int(app.config.get("DB_POOL_SIZE", 5)),
        max_overflow=int(app.config.get("DB_MAX_OVERFLOW", 5)),
    )
    app.extensions["haohuan.engine"] = engine
    app.extensions["haohuan.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The current app's engine."""
    bound: Engine = current_app.extensions["haohuan.engine"]
    return bound


def session() -> Session:
    """The session of the current request (or app context), created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["haohuan.sessions"]()
    current: Session = g.db_session
    return current


def _close_session(_error: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def lock_row(db_session: Session, model: Any, row_id: int) -> None:
    """Lock one row until the transaction ends, on SQLite as on PostgreSQL.

    A no-op UPDATE: PostgreSQL locks the row as SELECT ... FOR UPDATE would, and SQLite
    (which ignores FOR UPDATE) takes its database write lock, so concurrent requests
    that check-then-write on the same thing run one after another.
    """
    db_session.execute(update(model).where(model.id == row_id).values(id=model.id))


def by_id(db_session: Session, model: type[Row], row_id: int) -> Row | None:
    """The row of ``model`` with this id, or None (an id no id column could hold
    included: it is not looked up)."""
    return db_session.get(model, row_id) if 0 < row_id <= MAX_ID else None


def like_pattern(text: str) -> str:
    """``text`` for a LIKE pattern (with ``escape="\\"``): its ``%``, ``_`` and
    backslashes match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The columns known to exist, by database (engine URL) and table: a database migrated only
# up to an earlier revision (the migration tests build cases on one) lacks a newer column,
# and the listeners that write it leave such a database to the migration's backfill.
_KNOWN_COLUMNS: set[tuple[str, str, str]] = set()


def has_column(connection: Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` in ``connection``'s database; looked up once per
    database while it has it."""
    key = (str(connection.engine.url), table, column)
    if key not in _KNOWN_COLUMNS:
        if column not in {c["name"] for c in sa_inspect(connection).get_columns(table)}:
            return False
        _KNOWN_COLUMNS.add(key)
    return True


def forget_columns() -> None:
    """Look the columns up again (a migration's downgrade that drops one calls it: the
    migration tests go down and up again in one process)."""
    _KNOWN_COLUMNS.clear()
