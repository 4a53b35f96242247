"""Redis, when ``REDIS_URL`` configures it: shared rate limits and the job queue.

Without it the portal runs alone: limits count in the process, jobs run in the process.
"""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis

# Requests wait on Redis at most this long: a slow or dead Redis must not hold a web
# worker (limits then let the request through; jobs are left to the sweeper).
REQUEST_TIMEOUT_SECONDS = 1.0


def init_app(app: Flask) -> None:
    """Create the app's Redis client (none without ``REDIS_URL``); it connects lazily."""
    url = str(app.config.get("REDIS_URL") or "")
    app.extensions["haohuan.redis"] = (
        Redis.from_url(
            url,
            socket_timeout=REQUEST_TIMEOUT_SECONDS,
            socket_connect_timeout=REQUEST_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        if url
        else None
    )


def client(app: Flask | None = None) -> Redis | None:
    """The app's Redis client, or None when the portal runs without Redis."""
    return (app or current_app).extensions.get("haohuan.redis")


def prefix(app: Flask | None = None) -> str:
    """The prefix of every key and queue name, so environments can share one Redis."""
    return str((app or current_app).config.get("REDIS_PREFIX") or "haohuan")
