"""Work done after a request: on an RQ queue when Redis is configured, in the process
when it is not.

``enqueue`` inside a request sends the work only once the view has returned, after its
commit, so a worker never looks for rows a request has not committed yet; without
Redis the work runs in the process once the response has gone to the browser. Every
job runs inside an app context with a session of its own. Jobs read what they need
from the database and are safe to run twice: a lost job is made good by the sweeper,
a repeated one changes nothing.

Work asked for with a ``delay`` needs the queue's scheduler (``haohuan worker`` runs
it). Without Redis there is nothing to wait in, and such work is left to the commands
cron runs (``haohuan payments sweep``), rather than holding a web worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import (
    Flask,
    Response,
    after_this_request,
    current_app,
    g,
    has_request_context,
)

from portal.core import redis_client

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue, SimpleWorker, Worker

log = logging.getLogger(__name__)

Job = tuple[Callable[..., Any], tuple[Any, ...], timedelta | None]


def queue(app: Flask | None = None, connection: Redis | None = None) -> Queue | None:
    """The app's RQ queue, or None without Redis."""
    app = app or current_app
    connection = connection or redis_client.client(app)
    if connection is None:
        return None
    from rq import Queue  # RQ only once there is a queue: a web worker without Redis has none

    return Queue(redis_client.prefix(app), connection=connection)


def enqueue(function: Callable[..., Any], *args: Any, delay: timedelta | None = None) -> None:
    """Run ``function(*args)`` in an app context, after the current request (if any) has
    answered: on the RQ queue with Redis (``delay`` later, when given), in this process
    without it. Arguments must be plain values (ids, not rows): they are pickled."""
    job: Job = (function, args, delay)
    if not has_request_context():
        # current_app is typed as the Flask app; _get_current_object is its werkzeug proxy's.
        _send(current_app._get_current_object(), [job])  # type: ignore[attr-defined]
        return
    if "haohuan_jobs" not in g:
        g.haohuan_jobs = []
        after_this_request(_send_after)
    g.haohuan_jobs.append(job)


def _send_after(response: Response) -> Response:
    # current_app is typed as the Flask app; _get_current_object is its werkzeug proxy's.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pending: list[Job] = g.pop("haohuan_jobs", [])
    if redis_client.client(app) is not None:
        _send(app, pending)
    else:
        # After the last byte is sent: the borrower does not wait for the work.
        response.call_on_close(lambda: _send(app, pending))
    return response


def _send(app: Flask, pending: list[Job]) -> None:
    work_queue = queue(app)
    if work_queue is None:
        for function, args, delay in pending:
            if delay:
                log.info(
                    "job %s left to the scheduled commands: no REDIS_URL to wait in",
                    _name(function),
                )
            else:
                run_here(app, function, *args)
        return
    _queue_now(work_queue, [(function, args) for function, args, delay in pending if not delay])
    for function, args, delay in pending:
        if delay:
            _queue_later(work_queue, function, args, delay)


def _queue_now(work_queue: Queue, now: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    """Queue jobs that need no wait in one pipeline: one round trip to Redis for them
    all, where RQ alone makes two for each."""
    if not now:
        return
    try:
        pipeline = work_queue.connection.pipeline()
        for function, args in now:
            work_queue.enqueue_call(function, args=args, pipeline=pipeline)
        pipeline.execute()
    except redis_client.RedisError as error:
        # The sweeper makes good what a job would have done.
        for function, _args in now:
            log.warning(
                "job %s not queued, Redis failed: %s", _name(function), type(error).__name__
            )


def _queue_later(
    work_queue: Queue, function: Callable[..., Any], args: tuple[Any, ...], delay: timedelta
) -> None:
    try:
        work_queue.enqueue_in(delay, function, *args)
    except redis_client.RedisError as error:
        log.warning("job %s not queued, Redis failed: %s", _name(function), type(error).__name__)


def _name(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def run_here(app: Flask, function: Callable[..., Any], *args: Any) -> None:
    """Run a job now in this process, in an app context of its own; a failure is logged
    (by type only: a message could carry personal data), never raised."""
    with app.app_context():
        try:
            function(*args)
        except Exception as error:
            log.error("job %s failed: %s", function.__qualname__, type(error).__name__)


def worker(app: Flask, *, simple: bool = False) -> Worker | SimpleWorker:
    """A worker for the app's queue (``portal.core.job_workers``: RQ is imported there,
    by the ``haohuan worker`` command, never by a web worker)."""
    from portal.core.job_workers import worker as build

    return build(app, simple=simple)
