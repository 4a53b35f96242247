"""The RQ workers that run the app's jobs (``haohuan worker``): RQ's own worker classes,
each job run inside an app context. Apart from ``portal.core.jobs`` so that a web
worker, which only sends jobs, never imports RQ's worker machinery."""

from __future__ import annotations

from typing import Any, cast

from flask import Flask
from redis import Redis
from rq import Queue, SimpleWorker, Worker

from portal.core import db, redis_client


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
