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
from typing import Any, cast

from flask import (
    Flask,
    Response,
    after_this_request,
    current_app,
    g,
    has_request_context,
)
from redis import Redis, RedisError
from rq import Queue, SimpleWorker, Worker

from portal.core import db, redis_client

log = logging.getLogger(__name__)

Job = tuple[Callable[..., Any], tuple[Any, ...], timedelta | None]


def queue(app: Flask | None = None, connection: Redis | None = None) -> Queue | None:
    """The app's RQ queue, or None without Redis."""
    app = app or current_app
    connection = connection or redis_client.client(app)
    if connection is None:
        return None
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
    for function, args, delay in pending:
        name = f"{function.__module__}.{function.__qualname__}"
        if work_queue is None:
            if delay:
                log.info("job %s left to the scheduled commands: no REDIS_URL to wait in", name)
            else:
                run_here(app, function, *args)
            continue
        try:
            if delay:
                work_queue.enqueue_in(delay, function, *args)
            else:
                work_queue.enqueue_call(function, args=args)
        except RedisError as error:
            # The sweeper makes good what a job would have done.
            log.warning("job %s not queued, Redis failed: %s", name, type(error).__name__)


def run_here(app: Flask, function: Callable[..., Any], *args: Any) -> None:
    """Run a job now in this process, in an app context of its own; a failure is logged
    (by type only: a message could carry personal data), never raised."""
    with app.app_context():
        try:
            function(*args)
        except Exception as error:
            log.error("job %s failed: %s", function.__qualname__, type(error).__name__)


class _InAppContext:
    """Runs each job inside the app's context, as a request would be."""

    app: Flask
    # A forked work horse must not use the parent's pooled database connections.
    fresh_pool = False

    def subscribe(self) -> None:
        """RQ's command channel (stop, kill a job), listened to by a thread that wakes every
        second: RQ's own waits up to 60 s for a message, and its stop joins that thread, so
        a worker told to stop (or a ``--burst`` run that is done) could hang for a minute."""
        # A mixin: the attributes are those of the RQ worker it is mixed into.
        rq_worker = cast(Worker, self)
        channel = rq_worker.pubsub_channel_name
        rq_worker.log.info("Worker %s: subscribing to channel %s", rq_worker.name, channel)
        rq_worker.pubsub = rq_worker.connection.pubsub()
        rq_worker.pubsub.subscribe(**{channel: rq_worker.handle_payload})
        # rq declares pubsub_thread as None in its __init__ (no annotation of the thread).
        rq_worker.pubsub_thread = rq_worker.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=rq_worker._pubsub_exception_handler
        )

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        """RQ's job execution, inside an app context."""
        with self.app.app_context():
            if self.fresh_pool:
                db.engine().dispose(close=False)
            # A mixin: perform_job is that of the RQ worker it is mixed into.
            return bool(super().perform_job(job, queue, *args, **kwargs))  # type: ignore[misc]


class AppWorker(_InAppContext, Worker):
    """RQ's forking worker (a process per job) for the app: what ``haohuan worker`` runs."""

    fresh_pool = True


class AppSimpleWorker(_InAppContext, SimpleWorker):
    """RQ's worker that runs jobs in its own process (tests, and platforms without fork)."""


def worker(app: Flask, *, simple: bool = False) -> Worker | SimpleWorker:
    """A worker for the app's queue. Its connection has no read timeout: the worker
    blocks on Redis while it waits for work."""
    url = str(app.config.get("REDIS_URL") or "")
    if not url:
        raise RuntimeError("REDIS_URL is not set: without it, jobs run in the web process")
    connection = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    work_queue = Queue(redis_client.prefix(app), connection=connection)
    chosen = AppSimpleWorker if simple else AppWorker
    built = chosen([work_queue], connection=connection)
    built.app = app
    return built
