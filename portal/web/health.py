"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: it can serve,
because what it depends on answers). A load balancer sends traffic only to ready
workers; an orchestrator restarts only dead ones."""

from __future__ import annotations

import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app
from redis import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.core import db, redis_client
from portal.core.migrate import alembic_config

log = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}, 200


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, object], int]:
    """200 when the database answers at the latest migration and Redis (if configured)
    answers; 503 otherwise. The body names each check's state, never a URL or an error
    message (either could carry a secret)."""
    checks = {"database": _database(), "redis": _redis()}
    ready = all(state in ("ok", "not configured") for state in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def _database() -> str:
    """The database's state: ok, unreachable, or migrations not at head (behind, or
    ahead when a newer build has migrated it)."""
    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        log.warning("readiness: database unreachable: %s", type(error).__name__)
        return "unreachable"
    # current_app is typed as the Flask app; _get_current_object is its werkzeug proxy's.
    if current != _heads(current_app._get_current_object()):  # type: ignore[attr-defined]
        return "migrations not at head"
    return "ok"


def _heads(app: Flask) -> set[str]:
    # The migration scripts do not change while the process runs: read them once.
    if "haohuan.migration_heads" not in app.extensions:
        script = ScriptDirectory.from_config(alembic_config(app))
        app.extensions["haohuan.migration_heads"] = set(script.get_heads())
    return set(app.extensions["haohuan.migration_heads"])


def _redis() -> str:
    redis = redis_client.client()
    if redis is None:
        return "not configured"
    try:
        redis.ping()
    except RedisError as error:
        log.warning("readiness: Redis unreachable: %s", type(error).__name__)
        return "unreachable"
    return "ok"
