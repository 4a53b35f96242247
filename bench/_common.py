"""What the portal's benchmarks share: the app served by gunicorn, concurrent keep-alive
clients, latency figures, and a PostgreSQL database of a benchmark's own."""

from __future__ import annotations

import http.client
import os
import re
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


@dataclass
class Server:
    """A running gunicorn: its port and its master process."""

    port: int
    process: subprocess.Popen[bytes]

    def worker_pids(self) -> list[int]:
        """The master's workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def worker_peak_rss_mib(self) -> float:
        """The largest peak resident set (VmHWM) among the master's workers, in MiB."""
        peaks = []
        for pid in self.worker_pids():
            found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            if found:
                peaks.append(int(found.group(1)) / 1024)
        return max(peaks)

    def server_pss_mib(self) -> float:
        """The whole server's memory now, in MiB: the proportional sets (PSS) of the master
        and every worker, summed. Each page is counted once across them however many
        processes share it, so this is what the server costs the machine: a preloading
        master's pages are charged in full, once."""
        total = 0.0
        for pid in (self.process.pid, *self.worker_pids()):
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
            total += int(found.group(1)) / 1024 if found else 0.0
        return total

    def worker_pss_uss_mib(self) -> tuple[float, float]:
        """The largest proportional set (PSS: each page shared with the master or other
        workers counted as its share) and unique set (USS: the worker's own pages) among
        the master's workers now, in MiB. RSS counts every shared page in full."""
        pss, uss = [], []
        for pid in self.worker_pids():
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()

            def field(name: str, text: str = rollup) -> float:
                found = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
                return int(found.group(1)) / 1024 if found else 0.0

            pss.append(field("Pss"))
            uss.append(field("Private_Clean") + field("Private_Dirty"))
        return max(pss), max(uss)


@contextmanager
def production_server(
    url: str, app: str | None = None, path: Path | None = None, **settings: str
) -> Iterator[Server]:
    """A WSGI app served by gunicorn with the production configuration
    (``portal/gunicorn_conf.py``: its worker count, timeouts, keep-alive, worker recycling
    and access log) on a free local port: the portal unless ``app`` names another
    (``module:callable``, importable from ``path``). Both sides of a comparison are served
    this way, so the ratio compares the apps and not the servers. Yields the server once
    it listens (its workers may still be starting).

    The access log is written as in production (to standard output) and thrown away here;
    only gunicorn's warnings reach the terminal."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "HAOHUAN_SECRET_KEY": "bench-" + "k" * 40,  # shared by every worker
        "HAOHUAN_BIND": f"127.0.0.1:{port}",
        "HAOHUAN_LOG_LEVEL": "warning",
        # As docs/operations.md runs the web processes, for both sides: no docstrings.
        "PYTHONOPTIMIZE": "2",
        **settings,
    }
    if path is not None:
        # After the project root, so ``portal`` stays the package, not a bench script.
        environment["PYTHONPATH"] = os.pathsep.join((str(ROOT), str(path)))
    command = [sys.executable, "-m", "gunicorn", "-c", "python:portal.gunicorn_conf"]
    process = subprocess.Popen(
        [*command, *([app] if app else [])],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        yield Server(port, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def production_served(
    url: str, app: str | None = None, path: Path | None = None, **settings: str
) -> Iterator[int]:
    """``production_server``'s port."""
    with production_server(url, app, path, **settings) as server:
        yield server.port
