"""What the portal's benchmarks share: the app served by gunicorn, concurrent keep-alive
clients, latency figures, and a PostgreSQL database of a benchmark's own."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2

# One request on a client's connection: returns a label for its latency, or None (having
# sent nothing) when the client is done.
Step = Callable[[http.client.HTTPConnection], str | None]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(url: str, **settings: str) -> Iterator[int]:
    """The app on ``url`` served by gunicorn (``WORKERS`` workers) with these extra
    environment settings; yields its port, and stops the server afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "HAOHUAN_SECRET_KEY": "bench-" + "k" * 40,  # shared by both workers
        **settings,
    }
    command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*command, "--log-level", "warning", "portal:create_app()"], cwd=ROOT, env=environment
    )
    try:
        _wait_for(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(port: int) -> None:
    # The master listens before its workers boot; requests queue until they are up.
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start listening on port {port}")


def drive(port: int, clients: int, step: Step) -> dict[str, list[float]]:
    """``clients`` threads, each on its own keep-alive connection, calling ``step`` back
    to back until it returns None; the latencies in seconds, by the label each returned.
    The first failure of any client is raised once all have stopped."""
    latencies: dict[str, list[float]] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[tuple[str, float]] = []
        try:
            while True:
                started = time.perf_counter()
                label = step(connection)
                if label is None:
                    break
                mine.append((label, time.perf_counter() - started))
        except Exception as error:  # re-raised in the caller's thread below
            failures.append(error)
        finally:
            connection.close()
            with lock:
                for label, seconds in mine:
                    latencies.setdefault(label, []).append(seconds)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return latencies


@dataclass(frozen=True)
class Figures:
    """A run's throughput and latency."""

    count: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.count / self.seconds


def figures(latencies: list[float], seconds: float) -> Figures:
    """The figures of ``latencies`` (in seconds) measured over ``seconds``."""
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return Figures(len(ordered), seconds, statistics.median(ordered) * 1000, p99 * 1000)


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A URL for a fresh SQLite file in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="haohuan-bench-") as folder:
        yield f"sqlite:///{folder}/haohuan.db"


@contextmanager
def postgres_database(admin_url: str, database: str) -> Iterator[str]:
    """A URL for a fresh PostgreSQL database next to ``admin_url``'s, dropped afterwards.

    Its name is ``database`` followed by this process's id and a random suffix, so two
    people running benchmarks on one server never drop each other's data, and the test
    database is never touched."""
    unique = f"{database}_{os.getpid()}_{secrets.token_hex(3)}"
    name = sql.Identifier(unique)
    # CREATE and DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{unique}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def database_name(url: str) -> str:
    """The database's name in ``url``."""
    return urlsplit(url).path.lstrip("/")


def postgres_unreachable(admin_url: str) -> str | None:
    """Why PostgreSQL at ``admin_url`` cannot be used, or None when it can."""
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]
    return None


@contextmanager
def production_served(
    url: str, app: str | None = None, path: Path | None = None, **settings: str
) -> Iterator[int]:
    """A WSGI app served by gunicorn with the production configuration
    (``portal/gunicorn_conf.py``: its worker count, timeouts, keep-alive, worker recycling
    and access log) on a free local port: the portal unless ``app`` names another
    (``module:callable``, importable from ``path``). Both sides of a comparison are served
    this way, so the ratio compares the apps and not the servers. Yields the port.

    The access log is written as in production (to standard output) and thrown away here;
    only gunicorn's warnings reach the terminal."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "HAOHUAN_SECRET_KEY": "bench-" + "k" * 40,  # shared by every worker
        "HAOHUAN_BIND": f"127.0.0.1:{port}",
        "HAOHUAN_LOG_LEVEL": "warning",
        **settings,
    }
    if path is not None:
        # After the project root, so ``portal`` stays the package, not bench/portal.py.
        environment["PYTHONPATH"] = os.pathsep.join((str(ROOT), str(path)))
    command = [sys.executable, "-m", "gunicorn", "-c", "python:portal.gunicorn_conf"]
    server = subprocess.Popen(
        [*command, *([app] if app else [])],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
