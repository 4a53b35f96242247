"""The database: one engine per application, one session per request.

Plain SQLAlchemy 2 (typed models, ``select()``), bound to the app with ``init_app``.
SQLite by default (``instance/haohuan.db``); PostgreSQL through ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import SQLAlchemyError

# Re-exported: the web layer names the session's type without importing SQLAlchemy.
from sqlalchemy.orm import Session as Session
from sqlalchemy.orm import sessionmaker

# Python's int, and PostgreSQL's bigint: a longer number cannot be an id.
MAX_ID = 2**63 - 1

Row = TypeVar("Row")

log = logging.getLogger(__name__)


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


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5, jit: str = "") -> Engine:
    """An engine with the settings each backend needs. Each process has its own pool:
    a gunicorn worker serves one request at a time, so a small pool suffices, and
    workers times machines times (pool size + overflow) must stay under PostgreSQL's
    max_connections. ``jit`` ("on" or "off") sets PostgreSQL's JIT compilation for every
    connection; empty leaves the server's setting (``HAOHUAN_DB_JIT``)."""
    options: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # Pre-ping replaces connections a database restart or a proxy's idle timeout
        # closed; a dead database host fails in 10 s rather than hanging a worker.
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if jit:
            # Set as the connection starts: no statement of its own, in no request.
            connect_args["options"] = f"-c jit={jit}"
        options.update(
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args=connect_args,
        )
    engine = create_engine(url, **options)
    _track_writes(engine)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    if jit:
        event.listen(engine, "connect", lambda _connection, record: _mark_jit(record, jit))
    return engine


# A connection's ``info`` key: the JIT setting it started with.
_JIT = "haohuan.jit"


def _mark_jit(record: Any, jit: str) -> None:
    record.info[_JIT] = jit


def jit_of(connection: Connection) -> str:
    """The JIT setting ``connection`` started with ("on" or "off"), or "" when its
    engine left the server's."""
    return str(connection.connection.info.get(_JIT, ""))


# What a connection without psycopg's ``prepare_threshold`` answers.
_NOT_PSYCOPG = object()


@contextmanager
def planned_for_values(db: Session | Connection) -> Iterator[None]:
    """Inside, psycopg prepares no statement, so PostgreSQL plans each for its own values
    every time. After five executions of the same text psycopg prepares a statement, and
    PostgreSQL may then choose a generic plan blind to the values: the queue's plans at
    1M depend on them (how many cases a filter leaves, which zones are at the edge of the
    day), and so do the month-end's counts of each month (a month's plans on the 1M
    bench book went from 7 s to over a minute). A setting of the driver's connection, so
    no round trip: ``SET plan_cache_mode`` would cost one to set and one to undo.
    SQLite: nothing (nothing is prepared across requests)."""
    connection = db.connection() if isinstance(db, Session) else db
    raw: Any = connection.connection.driver_connection
    threshold = getattr(raw, "prepare_threshold", _NOT_PSYCOPG)
    if threshold is _NOT_PSYCOPG:
        yield
        return
    raw.prepare_threshold = None
    try:
        yield
    finally:
        raw.prepare_threshold = threshold


def without_jit(db: Session) -> None:
    """No JIT compilation on PostgreSQL for the rest of the transaction. A page's
    statements read a few thousand rows at most, but the planner charges every
    per-row subquery (the borrower's zone at the edge of the day, the amount counted
    from the installments) on every row it might read, so their estimated cost passes
    ``jit_above_cost`` and compiling them took longer than running them (0.1 to 0.9 s
    at 1M cases, ``bench/explain/``); the reports' aggregates over a year of a million
    cases' activity likewise (1 to 3 s of compiling a statement, ``bench/reporting.py``)."""
    connection = db.connection()
    # Not when every connection starts without JIT (gunicorn's workers:
    # ``HAOHUAN_DB_JIT``): a round trip of each page's eight saved.
    if connection.dialect.name == "postgresql" and jit_of(connection) != "off":
        # One statement, as the driver's own (nothing for SQLAlchemy to build or
        # compile): set_config(..., true) is SET LOCAL.
        connection.exec_driver_sql("SELECT set_config('jit', 'off', true)")


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
        jit=str(app.config.get("DB_JIT", "")),
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


def _close_session(error: BaseException | None) -> None:
    """End the request's session: a transaction that wrote nothing is committed, not
    rolled back, and anything else is rolled back as before.

    For a read-only transaction the two are the same to the database, but not to
    psycopg: its ``rollback()`` discards every statement it has prepared on the
    connection and its count of uses toward preparing one (five), so when every
    request ended in a rollback no statement was ever prepared and PostgreSQL parsed
    and planned each one on every request. Ending read-only requests with a commit lets
    a worker's hot statements be prepared once (the status page and the calculator took
    a third less time in process: ``bench/profiles/pages.md``)."""
    db_session: Session | None = g.pop("db_session", None)
    if db_session is None:
        return
    try:
        if error is None and _read_only(db_session):
            db_session.commit()
    except SQLAlchemyError:
        # A statement failed earlier in the transaction (the view caught it): the
        # transaction can only be rolled back, which closing does.
        log.debug("a read-only transaction could not commit; rolled back", exc_info=True)
    finally:
        db_session.close()


# ``Connection.info`` key: a statement that may write ran in the current transaction.
_WROTE = "haohuan.wrote"

# Statements that read (a SELECT may lock rows; SET LOCAL and SHOW touch no data). Any
# other statement, a WITH included (it may hold an INSERT), counts as a write.
_READS = ("SELECT", "SET LOCAL", "SHOW")


def _read_only(db_session: Session) -> bool:
    """Whether ``db_session``'s transaction has run nothing that may write and holds no
    object change a commit would flush."""
    if not db_session.in_transaction() or db_session.new or db_session.dirty or db_session.deleted:
        return False
    return not db_session.connection().info.get(_WROTE, False)


def _track_writes(engine: Engine) -> None:
    """Note on the connection when a statement that may write runs, until its
    transaction ends (``_close_session`` reads it)."""

    @event.listens_for(engine, "before_cursor_execute")
    def noted(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        # The statement's first words only: it runs before every statement, and some
        # are kilobytes long.
        if not statement[:32].lstrip().upper().startswith(_READS):
            conn.info[_WROTE] = True

    def ended(conn: Connection) -> None:
        if conn.invalidated or conn.closed:
            return  # no connection to read (the next checkout forgets the mark)
        # A transaction a failed statement left invalid, being rolled back: its
        # connection cannot be read until then. The mark stays, which only means one
        # more rollback; the next checkout forgets it.
        with contextlib.suppress(SQLAlchemyError):
            conn.info.pop(_WROTE, None)

    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)

    @event.listens_for(engine, "checkout")
    def fresh(_dbapi: Any, record: Any, _proxy: Any) -> None:
        # A connection back from the pool was reset by a rollback no event saw.
        record.info.pop(_WROTE, None)


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
