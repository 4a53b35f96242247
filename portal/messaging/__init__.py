"""Reminders by SMS and email: providers chosen by configuration (``providers``), the
words in the borrower's language (``compose``), chosen by each message's purpose, the
contact strategies' templates among them (``purposes``), the one sending path under the
contact rules (``service``), and the borrower's opt-out pages (``optout_views``)."""

from __future__ import annotations

from flask import Flask

from portal.messaging.providers import ConfigError, from_config


def init_app(app: Flask) -> None:
    """Build the providers the app's settings name (``portal.core.settings`` read and
    checked them, and refuses the outboxes in production), refuse to start with
    provider settings that cannot work, and keep the built providers on the app."""
    from portal.core.settings import ConfigurationError

    try:
        built = from_config(app.config)
    except ConfigError as error:
        raise ConfigurationError(str(error)) from None
    app.extensions["haohuan.messaging"] = built
