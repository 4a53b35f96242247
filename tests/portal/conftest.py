"""Portal fixtures: an app on a migrated database (SQLite, and PostgreSQL when
HAOHUAN_TEST_POSTGRES_URL is set) at a frozen moment. The builders (cases, plans, staff)
are in factories.py.

Under pytest-xdist each worker migrates and empties a PostgreSQL database of its own: the
URL's database name plus the worker's id (``test_gw0``), created when missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from portal import create_app
from portal.cases import arrears, zones
from portal.core import db, migrate
from portal.models import Base
from portal.payments import stripe_gateway
from portal.web.common import kept_rows, page_cache

from .factories import NOW, app_config

POSTGRES_URL = os.environ.get("HAOHUAN_TEST_POSTGRES_URL", "")

BACKENDS = ["sqlite", "postgres"]


def worker_postgres_url(url: str) -> str:
    """The PostgreSQL database of this xdist worker (``url`` itself when not under xdist),
    created on the server when it does not exist yet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "haohuan.db"
    app = create_app(app_config(f"sqlite:///{path}"))
    migrate.upgrade(app)
    app.extensions["haohuan.engine"].dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The PostgreSQL test database, migrated once; tables are emptied between tests."""
    if not POSTGRES_URL:
        pytest.skip("HAOHUAN_TEST_POSTGRES_URL is not set (CI sets it)")
    url = worker_postgres_url(POSTGRES_URL)
    app = create_app(app_config(url))
    engine = app.extensions["haohuan.engine"]
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(app)
    engine.dispose()
    return url


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every portal test runs on SQLite and on PostgreSQL (skipped without its URL)."""
    if "backend" in metafunc.fixturenames:
        # A race that only PostgreSQL can lose (SQLite runs one writer at a time) is
        # marked postgres_only: it runs there alone, rather than skipped on SQLite.
        only = metafunc.definition.get_closest_marker("postgres_only")
        # A long test marked one_backend runs once: on PostgreSQL when it is configured.
        one = metafunc.definition.get_closest_marker("one_backend")
        backends = ["postgres"] if only else [BACKENDS[bool(POSTGRES_URL)]] if one else BACKENDS
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this run of the test."""
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_emptied(postgres_migrated: str) -> Iterator[Callable[[], None]]:
    """Empties every table of the migrated PostgreSQL database and restarts its ids, as
    ``TRUNCATE ... RESTART IDENTITY`` would, on one connection kept for the session.

    DELETE rather than TRUNCATE: a TRUNCATE of the 45 tables creates new files for each
    and took 0.3 to 2 s a test, against some 30 ms for DELETE of the few rows a test
    writes; over the suite's PostgreSQL tests that was minutes of CI."""
    driver_url = "postgresql+psycopg://" + postgres_migrated.removeprefix("postgresql://")
    engine = create_engine(driver_url, poolclass=StaticPool)
    with engine.connect() as connection:
        sequences = connection.scalars(text(OWNED_SEQUENCES)).all()
    # The names are the models' own tables, not input.
    tables = reversed(Base.metadata.sorted_tables)
    statements = [f"DELETE FROM {table.name}" for table in tables]  # noqa: S608
    statements += [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
    # The audit log refuses DELETE by trigger; a superuser's test reset may switch
    # triggers (the foreign keys' with them) off for its own transaction, and nothing
    # else can.
    reset = text("SET LOCAL session_replication_role = replica; " + "; ".join(statements))

    emptied = [0]

    def empty() -> None:
        with engine.begin() as connection:
            connection.execute(reset)
        emptied[0] += 1
        if emptied[0] % VACUUM_EVERY == 0:
            # DELETE leaves dead rows; where autovacuum is off (as on the CI machine),
            # they would pile up over the run and slow every later scan.
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM"))

    yield empty
    engine.dispose()


# How many tests' resets between two VACUUMs of the PostgreSQL test database.
VACUUM_EVERY = 100

# The sequences behind the tables' identity and serial columns: what RESTART IDENTITY
# restarts.
OWNED_SEQUENCES = """
SELECT quote_ident(ns.nspname) || '.' || quote_ident(seq.relname)
FROM pg_class seq
JOIN pg_namespace ns ON ns.oid = seq.relnamespace
JOIN pg_depend dep ON dep.objid = seq.oid AND dep.classid = 'pg_class'::regclass
WHERE seq.relkind = 'S' AND dep.deptype IN ('a', 'i')
ORDER BY 1
"""


def backend_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """An empty migrated database of ``backend`` (a copy of the SQLite template in
    ``folder``, or the worker's PostgreSQL database emptied), as a URL."""
    if backend == "postgres":
        url = str(request.getfixturevalue("postgres_migrated"))
        request.getfixturevalue("postgres_emptied")()
        return url
    template = request.getfixturevalue("sqlite_template")
    path = folder / "haohuan.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def extra_config() -> dict[str, object]:
    """Configuration a test module adds to its app (override it in the module)."""
    return {}


@pytest.fixture
def app(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, extra_config: dict[str, object]
) -> Iterator[Flask]:
    """The application on a fresh database of the chosen backend."""
    with checked_app(backend_url(backend, request, tmp_path), extra_config) as application:
        yield application


@contextmanager
def checked_app(url: str, extra_config: dict[str, object]) -> Iterator[Flask]:
    """The test application on ``url``; when done with, the after-test checks (stored
    arrears, zone copies, kept pages) and its pool closed."""
    application = create_app({**app_config(url), **extra_config})
    yield application
    try:
        stored_arrears_agree(application)
        kept_pages_agree(application)
        kept_rows_agree(application)
    finally:
        # Closed whatever the checks found, or the pool's connections are collected
        # during a later test and fail it with a ResourceWarning.
        application.extensions["haohuan.engine"].dispose()


def stored_arrears_agree(application: Flask) -> None:
    """After every test, whatever paths it wrote by: each case's stored overdue amount
    (``portal.cases.arrears``), on every day its window says it holds, is the amount
    counted from its installments and charges, as the queue counted it before; and each
    case's copy of its borrower's time zone (``portal.cases.zones``) is the borrower's."""
    with application.app_context():
        session = db.session()
        for days in (0, 40, -40):
            moment = NOW + timedelta(days=days)
            assert arrears.check(session, moment) == [], f"stored arrears disagree at {moment}"
        assert zones.check(session) == [], "a case's copy of its borrower's zone disagrees"
        session.rollback()


def kept_pages_agree(application: Flask) -> None:
    """After every test: no page the page cache served differed from the same page
    rendered anew (``portal.web.common.page_cache``: under TESTING each hit is checked)."""
    cache = application.extensions[page_cache.EXTENSION]
    stale = "\n\n".join(f"{key}\n{difference}" for key, difference in cache.mismatches)
    assert not cache.mismatches, f"stale pages served from the page cache:\n{stale}"


def kept_rows_agree(application: Flask) -> None:
    """After every test: no table row kept rendered differed from the same row rendered
    anew (``portal.web.common.kept_rows``: under TESTING every row is checked)."""
    store = application.extensions[kept_rows.EXTENSION]
    stale = "\n\n".join(f"{key}\n{kept}\n{fresh}" for key, kept, fresh in store.mismatches)
    assert not store.mismatches, f"stale rows served:\n{stale}"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class _NoRetries(stripe.StripeClient):
    """Stripe's client, never retrying a failed request."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **{**kwargs, "max_network_retries": 0})  # type: ignore[arg-type]


@pytest.fixture
def stripe_without_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stripe clients that give up at the first failure: an outage test need not sit
    through the SDK's retries and their back-off."""
    stripe_gateway.client.cache_clear()
    monkeypatch.setattr(stripe, "StripeClient", _NoRetries)
    yield
    stripe_gateway.client.cache_clear()
