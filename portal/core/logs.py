"""Logging that never records a secret: link tokens are redacted from request lines."""

from __future__ import annotations

import logging
import re

_LINK = re.compile(r"/r/[A-Za-z0-9_\-]{16,}")


class RedactLinkTokens(logging.Filter):
    """Replace the token in any logged ``/r/<token>`` path (request logs print paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/r/" in message:
            record.msg = _LINK.sub("/r/[redacted]", message)
            record.args = ()
        return True


def init_app() -> None:
    """Attach the filter to the request loggers of the development server and gunicorn."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())
