"""The application factory: settings checked, extensions bound, blueprints registered."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core.settings import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]

# Secrets that must never reach production: the development default and obvious fillers.
WEAK_SECRETS = frozenset({"", "dev", "change-me", "secret", "development"})
# Gateways this build can use, and the settings each cannot run without.
KNOWN_GATEWAYS = frozenset({"sandbox", "stripe"})
STRIPE_REQUIRED = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. Configuration comes from ``HAOHUAN_*`` environment
    variables, then ``config``; nothing is read at import time."""
    app = Flask(
        "portal",  # the package: its root path, logger and name stay as they were
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        ENV_NAME=os.environ.get("HAOHUAN_ENV", "development"),
        SECRET_KEY=os.environ.get("HAOHUAN_SECRET_KEY", ""),
        DATABASE_URL=os.environ.get("DATABASE_URL", ""),
        DB_POOL_SIZE=int(os.environ.get("HAOHUAN_DB_POOL_SIZE", "5")),
        DB_MAX_OVERFLOW=int(os.environ.get("HAOHUAN_DB_MAX_OVERFLOW", "5")),
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        REDIS_PREFIX=os.environ.get("HAOHUAN_REDIS_PREFIX", "haohuan"),
        RATE_LIMITS=os.environ.get("HAOHUAN_RATE_LIMITS", ""),
        POLICY_FILE=os.environ.get("HAOHUAN_POLICY_FILE", ""),
        PAYMENT_GATEWAY=os.environ.get("PAYMENT_GATEWAY", "sandbox"),
        TRUSTED_PROXIES=os.environ.get("HAOHUAN_TRUSTED_PROXIES", "0"),
        STRIPE_SECRET_KEY=os.environ.get("STRIPE_SECRET_KEY", ""),
        STRIPE_PUBLISHABLE_KEY=os.environ.get("STRIPE_PUBLISHABLE_KEY", ""),
        STRIPE_WEBHOOK_SECRET=os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        STRIPE_API_BASE=os.environ.get("STRIPE_API_BASE", ""),
        STRIPE_JS_URL=os.environ.get("STRIPE_JS_URL", ""),
        STRIPE_WALLETS=os.environ.get("STRIPE_WALLETS", "1"),
        WATERFALL=os.environ.get("HAOHUAN_WATERFALL", "penalty,fee,interest,principal"),
        LENDER_NAME=os.environ.get("HAOHUAN_LENDER_NAME", "好還 Haohuan Finance"),
        LENDER_PHONE=os.environ.get("HAOHUAN_LENDER_PHONE", "0800-000-123"),
        LENDER_EMAIL=os.environ.get("HAOHUAN_LENDER_EMAIL", "help@haohuan.example"),
        LENDER_HOURS=os.environ.get("HAOHUAN_LENDER_HOURS", "09:00-18:00"),
        OFFER_VALID_DAYS=os.environ.get("HAOHUAN_OFFER_VALID_DAYS", "7"),
        HAOHUAN_NOW=os.environ.get("HAOHUAN_NOW", ""),
        SESSION_COOKIE_NAME="haohuan",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("HAOHUAN_ENV", "development") == "production",
    )
    app.config.update(config or {})
    _check_secret(app)
    _check_waterfall(app)
    _check_offer_validity(app)

    from portal import messaging
    from portal.cases import facts
    from portal.core import db, i18n, logs, redis_client
    from portal.web import errors, ratelimit, security
    from portal.web.admin import blueprint as admin
    from portal.web.agent import blueprint as agent
    from portal.web.borrower.views import blueprint as borrower
    from portal.web.extensions import htmx
    from portal.web.finance.views import blueprint as finance
    from portal.web.health import blueprint as health
    from portal.web.home import blueprint as home
    from portal.web.optout_views import blueprint as optout
    from portal.web.payments.checkout_views import blueprint as stripe_checkout
    from portal.web.payments.sandbox_views import blueprint as sandbox
    from portal.web.payments.webhooks import blueprint as webhooks
    from portal.web.staff.views import blueprint as staff

    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind a reverse proxy the client's address is in X-Forwarded-For; trust only
        # as many hops as there are proxies of our own.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    db.init_app(app)
    redis_client.init_app(app)
    ratelimit.init_app(app)
    htmx.init_app(app)
    facts.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    logs.init_app()
    messaging.init_app(app)
    for blueprint in (health, home, borrower, optout, webhooks, staff, finance, agent):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin)
    # The consoles' navigation links only to pages this app serves.
    endpoints = frozenset(app.view_functions)
    app.context_processor(lambda: {"console_endpoints": endpoints})
    if app.config["PAYMENT_GATEWAY"] == "sandbox":
        app.register_blueprint(sandbox)
    else:
        app.register_blueprint(stripe_checkout)
    return app


def _check_secret(app: Flask) -> None:
    """Refuse to start in production with a missing or weak secret; in development use
    a random one per process, so nothing depends on a known key."""
    secret = app.config.get("SECRET_KEY") or ""
    if app.config["PAYMENT_GATEWAY"] not in KNOWN_GATEWAYS:
        raise ConfigurationError(f"unknown PAYMENT_GATEWAY {app.config['PAYMENT_GATEWAY']!r}")
    if app.config["PAYMENT_GATEWAY"] == "stripe":
        missing = [name for name in STRIPE_REQUIRED if not app.config.get(name)]
        if missing:
            raise ConfigurationError(f"PAYMENT_GATEWAY=stripe needs {', '.join(missing)}")
    if app.config["ENV_NAME"] == "production":
        if secret.lower() in WEAK_SECRETS or len(secret) < 32:
            raise ConfigurationError(
                "HAOHUAN_SECRET_KEY must be set to at least 32 random characters in production"
            )
        if app.config["PAYMENT_GATEWAY"] == "sandbox":
            # The sandbox lets a borrower approve their own payment: never with real cases.
            raise ConfigurationError("PAYMENT_GATEWAY=sandbox is refused in production")
        if app.config.get("HAOHUAN_NOW"):
            # A frozen clock would misjudge every contact hour and every due date.
            raise ConfigurationError("HAOHUAN_NOW is refused in production")
    elif not secret:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)


def _check_offer_validity(app: Flask) -> None:
    """Refuse to start unless offers last a whole number of days, 1 to 90."""
    raw = str(app.config.get("OFFER_VALID_DAYS") or "7")
    if not raw.isdigit() or not 1 <= int(raw) <= 90:
        raise ConfigurationError(f"HAOHUAN_OFFER_VALID_DAYS must be 1 to 90 days, not {raw!r}")
    app.config["OFFER_VALID_DAYS"] = int(raw)


def _check_waterfall(app: Flask) -> None:
    """Refuse to start with a payment waterfall that does not order all four parts."""
    from portal.payments.ledger import parse_waterfall

    try:
        parse_waterfall(str(app.config.get("WATERFALL") or ""))
    except ValueError as error:
        raise ConfigurationError(f"HAOHUAN_WATERFALL: {error}") from None
