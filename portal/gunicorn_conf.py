"""gunicorn's configuration for the portal: ``gunicorn -c python:portal.gunicorn_conf``.

Every value comes from the environment, with a default fit for one machine behind a
reverse proxy on the same host. The app itself reads its own settings (``DATABASE_URL``,
``REDIS_URL``, ``HAOHUAN_*``) when each worker builds it.
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "portal:create_app()"

bind = os.environ.get("HAOHUAN_BIND", "127.0.0.1:8000").split(",")
# gunicorn's own convention; the usual rule of thumb, two per core plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
# More than one thread switches to the gthread worker: fewer processes, more connections.
threads = int(os.environ.get("HAOHUAN_THREADS", "1"))

# A request may wait on Stripe twice (10 s each, then the database): 60 s before a
# worker is presumed stuck and replaced; the same grace to finish on a restart.
timeout = int(os.environ.get("HAOHUAN_WORKER_TIMEOUT", "60"))
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
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The access log goes to standard output with the path and no query string (Stripe's
# return URL carries the intent's client secret there), no referrer, and a link's token
# redacted by portal.core.logs.RedactLinkTokens (each worker's app attaches it).
accesslog = os.environ.get("HAOHUAN_ACCESS_LOG", "-")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("HAOHUAN_LOG_LEVEL", "info")
