"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: it can serve,
because what it depends on answers). A load balancer sends traffic only to ready
workers; an orchestrator restarts only dead ones."""

from __future__ import annotations

from flask import Blueprint, current_app

from portal.core.readiness import database_state, redis_state

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
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    checks = {"database": database_state(app), "redis": redis_state()}
    ready = all(state in ("ok", "not configured") for state in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
