"""Haohuan's Flask application: the borrower portal, and later the agent and finance
consoles. Thin over ``negotiation``: views parse, check access, call a service, render."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent

# Secrets that must never reach production: the development default and obvious fillers.
WEAK_SECRETS = frozenset({"", "dev", "change-me", "secret", "development"})


class ConfigurationError(RuntimeError):
    """The application refuses to start with this configuration."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. Configuration comes from ``HAOHUAN_*`` environment
    variables, then ``config``; nothing is read at import time."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        ENV_NAME=os.environ.get("HAOHUAN_ENV", "development"),
        SECRET_KEY=os.environ.get("HAOHUAN_SECRET_KEY", ""),
    )
    app.config.update(config or {})
    _check_secret(app)

    from portal.health import blueprint as health

    app.register_blueprint(health)
    return app


def _check_secret(app: Flask) -> None:
    """Refuse to start in production with a missing or weak secret; in development use
    a random one per process, so nothing depends on a known key."""
    secret = app.config.get("SECRET_KEY") or ""
    if app.config["ENV_NAME"] == "production":
        if secret.lower() in WEAK_SECRETS or len(secret) < 32:
            raise ConfigurationError(
                "HAOHUAN_SECRET_KEY must be set to at least 32 random characters in production"
            )
    elif not secret:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
