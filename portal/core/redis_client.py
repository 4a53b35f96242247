"""Redis, when ``REDIS_URL`` configures it: shared rate limits and the job queue.

Without it the portal runs alone: limits count in the process, jobs run in the process,
and the redis package is never imported (about 7 MiB a worker). Code that catches
Redis's errors names ``redis_client.RedisError``, which imports it only when an error
is actually being matched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from redis import Redis
    from redis import RedisError as RedisError

# Requests wait on Redis at most this long: a slow or dead Redis must not hold a web
# worker (limits then let the request through; jobs are left to the sweeper).
REQUEST_TIMEOUT_SECONDS = 1.0


def __getattr__(name: str) -> Any:
    # ``RedisError`` on first use: an ``except`` clause evaluates it only when something
    # was raised, and without Redis configured nothing raises it.
    if name == "RedisError":
        from redis import RedisError

        return RedisError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def init_app(app: Flask) -> None:
    """Create the app's Redis client (none without ``REDIS_URL``); it connects lazily."""
    url = str(app.config.get("REDIS_URL") or "")
    client = None
    if url:
        from redis import Redis

        client = Redis.from_url(
            url,
            socket_timeout=REQUEST_TIMEOUT_SECONDS,
            socket_connect_timeout=REQUEST_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
    app.extensions["haohuan.redis"] = client


def client(app: Flask | None = None) -> Redis | None:
    """The app's Redis client, or None when the portal runs without Redis."""
    return (app or current_app).extensions.get("haohuan.redis")


def prefix(app: Flask | None = None) -> str:
    """The prefix of every key and queue name, so environments can share one Redis."""
    return str((app or current_app).config.get("REDIS_PREFIX") or "haohuan")
