"""What readiness asks of the services the portal depends on: does the database answer,
at the latest migration, and does Redis (if configured) answer. Each answer is a state
word, never a URL or an error message (either could carry a secret)."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.core import db, redis_client

log = logging.getLogger(__name__)


def database_state(app: Flask) -> str:
    """The database's state: ok, unreachable, or migrations not at head (behind, or
    ahead when a newer build has migrated it)."""
    # Alembic loads when readiness is first asked, not in every worker that serves pages.
    from alembic.runtime.migration import MigrationContext

    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        log.warning("readiness: database unreachable: %s", type(error).__name__)
        return "unreachable"
    if current != _heads(app):
        return "migrations not at head"
    return "ok"


def _heads(app: Flask) -> set[str]:
    # The migration scripts do not change while the process runs: read them once.
    if "haohuan.migration_heads" not in app.extensions:
        from alembic.script import ScriptDirectory

        from portal.core.migrate import alembic_config

        script = ScriptDirectory.from_config(alembic_config(app))
        app.extensions["haohuan.migration_heads"] = set(script.get_heads())
    return set(app.extensions["haohuan.migration_heads"])


def redis_state() -> str:
    """Redis's state: ok, unreachable, or not configured."""
    redis = redis_client.client()
    if redis is None:
        return "not configured"
    try:
        redis.ping()
    except redis_client.RedisError as error:
        log.warning("readiness: Redis unreachable: %s", type(error).__name__)
        return "unreachable"
    return "ok"
