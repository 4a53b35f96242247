"""Liveness: the process is up and can answer."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}, 200
