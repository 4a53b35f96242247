"""Reminders by SMS and email: providers chosen by configuration (``providers``), the
words in the borrower's language (``compose``), the one sending path under the contact
rules (``service``), and the borrower's opt-out pages (``optout_views``)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Flask

from portal.messaging.providers import ConfigError, from_config

# The settings read from the environment, with their defaults.
SETTINGS = {
    "SMS_PROVIDER": "outbox",
    "SMS_HTTP_URL": "",
    "SMS_HTTP_ACCOUNT": "",
    "SMS_HTTP_TOKEN": "",
    "SMS_HTTP_TIMEOUT": "10",
    "SMS_SENDER": "",
    "EMAIL_PROVIDER": "outbox",
    "SMTP_HOST": "",
    "SMTP_PORT": "",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_SECURITY": "starttls",
    "SMTP_TIMEOUT": "10",
    "MAIL_FROM": "",
}


def init_app(app: Flask) -> None:
    """Read the providers' settings (the environment, unless the app's configuration
    names them), refuse to start with settings that cannot work, and keep the built
    providers on the app."""
    from portal.core.settings import ConfigurationError

    for key, default in SETTINGS.items():
        app.config.setdefault(key, os.environ.get(key, default))
    app.config.setdefault("PUBLIC_URL", os.environ.get("HAOHUAN_PUBLIC_URL", ""))
    app.config.setdefault("SMS_NAME", os.environ.get("HAOHUAN_SMS_NAME", "好還 Haohuan"))
    try:
        built = from_config(app.config)
    except ConfigError as error:
        raise ConfigurationError(str(error)) from None
    public = str(app.config["PUBLIC_URL"] or "")
    if public:
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError("HAOHUAN_PUBLIC_URL must be an http(s) URL")
    outboxes = [
        name
        for name, provider in (("SMS_PROVIDER", built.sms), ("EMAIL_PROVIDER", built.email))
        if provider.name == "outbox"
    ]
    if app.config.get("ENV_NAME") == "production" and outboxes:
        # An outbox message is recorded as sent, counts toward the borrower's caps, and
        # reaches nobody: never with real borrowers.
        raise ConfigurationError(
            f"{' and '.join(outboxes)}=outbox is refused in production: name a real provider"
        )
    if app.config.get("ENV_NAME") == "production" and not public:
        # Without it a link in a message or a printed letter would name whichever host
        # the agent's console answered on.
        raise ConfigurationError("HAOHUAN_PUBLIC_URL is required in production")
    app.extensions["haohuan.messaging"] = built
