"""gunicorn's configuration for the portal: ``gunicorn -c python:portal.gunicorn_conf``.

Every value comes from the environment, with a default fit for one machine behind a
reverse proxy on the same host: the variables are declared, with their defaults, in
``portal.core.settings`` (the ``gunicorn`` group; ``docs/configuration.md`` lists them).
The app itself reads its own settings (``DATABASE_URL``, ``REDIS_URL``, ``HAOHUAN_*``)
when each worker builds it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys

from portal.core.settings import default_web_workers, read_gunicorn

_env = read_gunicorn()
# The app's settings the workers have unless the environment says otherwise (their
# connections without PostgreSQL's JIT): set in the master, so the workers inherit them.
default_web_workers()

wsgi_app = "portal:create_app()"

bind = _env["HAOHUAN_BIND"].split(",")
# gunicorn's own convention; the usual rule of thumb, two per core plus one.
workers = int(_env["WEB_CONCURRENCY"] or multiprocessing.cpu_count() * 2 + 1)
# More than one thread switches to the gthread worker: fewer processes, more connections.
threads = int(_env["HAOHUAN_THREADS"])

# A request may wait on Stripe twice (10 s each, then the database): 60 s before a
# worker is presumed stuck and replaced; the same grace to finish on a restart.
timeout = int(_env["HAOHUAN_WORKER_TIMEOUT"])
graceful_timeout = timeout
keepalive = 5
# Workers are replaced now and then, so a slow leak never grows for long.
max_requests = 1000
max_requests_jitter = 100
# Each worker builds its own app, and so its own database pool: connections are never
# shared across a fork.
preload_app = False
# The heartbeat file on tmpfs: a container's overlay disk can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (tmpfs, not a temp file)

# The proxies allowed to say the request came over HTTPS (X-Forwarded-Proto). The client's
# address in X-Forwarded-For is the app's business: HAOHUAN_TRUSTED_PROXIES.
forwarded_allow_ips = _env["FORWARDED_ALLOW_IPS"]

# The access log goes to standard output with the path and no query string (Stripe's
# return URL carries the intent's client secret there), no referrer, and a link's token
# redacted by portal.core.logs.RedactLinkTokens (each worker's app attaches it).
accesslog = _env["HAOHUAN_ACCESS_LOG"]
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = _env["HAOHUAN_LOG_LEVEL"]


def when_ready(server: object) -> None:
    """Once the master listens, before any worker forks: build the app once in the master,
    compile its templates and read the time zones, so every worker, and every one that
    replaces a worker after ``max_requests``, starts with the modules imported, the
    templates compiled (``portal.web.templates``) and the zones its first queue page
    would read from some 600 files (``load_zones``). The app is thrown away: it has
    opened no connection, and each worker builds its own. A configuration the app
    refuses stops the server here, before any worker starts.

    What the master keeps is then frozen (``gc.freeze``): the workers' collections no
    longer walk those objects, whose pages they share with the master, so a worker under
    load copies a third fewer of them (about 45 MiB of its own instead of 65). Its
    resident size, which counts shared pages too, is unchanged."""
    if getattr(getattr(server, "app", None), "app_uri", wsgi_app) != wsgi_app:
        return  # another app served with this configuration (the benchmarks' baselines)
    from portal import create_app
    from portal.cases.overdue import load_zones
    from portal.web.templates import precompile

    app = create_app()
    precompile(app)
    load_zones()
    app.extensions["haohuan.engine"].dispose()
    del app
    gc.collect()
    gc.freeze()
    if sys.flags.optimize < OPTIMIZE:
        log = getattr(server, "log", None)
        if log is not None:
            log.warning(WITH_DOCSTRINGS)


# The workers run without docstrings (``PYTHONOPTIMIZE=2``, docs/operations.md): this
# app's and its libraries' are some 6 MiB a worker that no request reads. The flag is the
# interpreter's, set before it starts, so the master can only say when it is missing.
OPTIMIZE = 2
WITH_DOCSTRINGS = (
    "PYTHONOPTIMIZE is not 2: every worker keeps the docstrings of the code it imports, some"
    " 6 MiB each (docs/operations.md, Processes)"
)
