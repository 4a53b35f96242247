"""Logging that never records a secret: the bearer token in a path (a reminder link's
``/r/<token>``, an opt-out link's ``/opt-out/<token>``, any route whose URL carries a
``<token>``) is redacted from request lines."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from flask import Flask

# The paths whose next segment is a bearer token; init_app adds every route's own.
_TOKEN_PREFIXES: set[str] = {"/r/", "/opt-out/"}


@lru_cache(maxsize=8)
def _pattern(prefixes: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(prefix) for prefix in sorted(prefixes, key=len)[::-1])
    return re.compile(rf"({alternatives})[^\s/?#\"']+")


class RedactLinkTokens(logging.Filter):
    """Replace the token in any logged path that carries one (request logs print paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        prefixes = frozenset(_TOKEN_PREFIXES)
        if any(prefix in message for prefix in prefixes):
            record.msg = _pattern(prefixes).sub(r"\1[redacted]", message)
            record.args = ()
        return True


def token_prefixes(app: Flask) -> set[str]:
    """The path before ``<token>`` of every route of ``app`` that carries one."""
    return {
        rule.rule.split("<token>", 1)[0]
        for rule in app.url_map.iter_rules()
        if "token" in rule.arguments and "<token>" in rule.rule
    }


def init_app(app: Flask) -> None:
    """Attach the filter to the request loggers of the development server and gunicorn,
    knowing every route of ``app`` that carries a token (call it once the blueprints are
    registered)."""
    _TOKEN_PREFIXES.update(token_prefixes(app))
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())
