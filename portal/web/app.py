"""The application factory: settings checked, extensions bound, blueprints registered."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core import settings

ROOT = Path(__file__).resolve().parents[2]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. Configuration comes from the environment variables
    ``portal.core.settings`` declares, then ``config``, checked together (a
    ``ConfigurationError`` refuses to start); nothing is read at import time."""
    app = Flask(
        "portal",  # the package: its root path, logger and name stay as they were
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=None,  # portal.web.assets serves it, under versioned names
    )
    # The environment, read once, with the caller's configuration over it; checked.
    app.config.update(settings.from_environ(overrides=config).values)

    from portal import messaging, strategy
    from portal.cases import arrears, facts, zones
    from portal.core import db, i18n, logs, redis_client
    from portal.web import assets, errors, ratelimit, security, templates
    from portal.web.admin import blueprint as admin
    from portal.web.agent import blueprint as agent
    from portal.web.borrower.views import blueprint as borrower
    from portal.web.chat_views import blueprint as chat
    from portal.web.common import kept_rows, page_cache, pages, unreadable
    from portal.web.extensions import htmx
    from portal.web.field import blueprint as field
    from portal.web.finance.views import blueprint as finance
    from portal.web.health import blueprint as health
    from portal.web.home import blueprint as home
    from portal.web.optout_views import blueprint as optout
    from portal.web.payments.autopay_views import blueprint as autopay
    from portal.web.payments.checkout_views import blueprint as stripe_checkout
    from portal.web.payments.sandbox_views import blueprint as sandbox
    from portal.web.payments.webhooks import blueprint as webhooks
    from portal.web.reports.mine import blueprint as my_figures
    from portal.web.reports.views import blueprint as reports
    from portal.web.sms_views import blueprint as sms_inbound
    from portal.web.staff.views import blueprint as staff

    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind a reverse proxy the client's address is in X-Forwarded-For; trust only
        # as many hops as there are proxies of our own.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    assets.init_app(app, ROOT / "static")
    templates.init_app(app)
    db.init_app(app)
    arrears.track()
    zones.track()
    redis_client.init_app(app)
    ratelimit.init_app(app)
    htmx.init_app(app)
    facts.init_app(app)
    strategy.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    page_cache.init_app(app)
    kept_rows.init_app(app)
    errors.init_app(app)
    pages.init_app(app)
    unreadable.init_app(app)
    messaging.init_app(app)
    for blueprint in (
        health,
        home,
        borrower,
        chat,
        autopay,
        optout,
        webhooks,
        sms_inbound,
        staff,
        finance,
        agent,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin)
    app.register_blueprint(reports)
    app.register_blueprint(my_figures)
    app.register_blueprint(field)
    # The consoles' navigation links only to pages this app serves.
    endpoints = frozenset(app.view_functions)
    app.context_processor(lambda: {"console_endpoints": endpoints})
    if app.config["PAYMENT_GATEWAY"] == "sandbox":
        app.register_blueprint(sandbox)
    else:
        app.register_blueprint(stripe_checkout)
    # Once every route is registered: the log filter learns which paths carry a token.
    logs.init_app(app)
    return app
