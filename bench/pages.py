"""The pages people wait for, against a baseline served the same way, in one run.

Seeds the demo portfolio into a PostgreSQL database of its own, then serves Haohuan and the
baseline (``baseline_app.py``: one query, a small template) one after the other with the
production gunicorn configuration (``portal/gunicorn_conf.py``, ``--workers`` sync workers).
wrk (Debian's package; 1 thread, 8 connections) loads each path for ``--seconds``, in
``--rounds`` rounds that alternate Haohuan and the baseline; the medians are compared.

Paths: the borrower's status page (a verified session), the plan calculator's htmx GET,
and the agent queue's first page (a signed-in agent). The two borrower pages are served
from the page cache after their first request in each minute
(``portal.web.common.page_cache``), so they are loaded again with a new address each
request (``FRESH_ADDRESSES``): rows with no goal, the cost of a page not kept. Then each
side's memory after its load (the workers' peak RSS, the goal's measure, and the server's
PSS per worker), and a worker's boot (a replacement's first answer, one worker).

    .venv/bin/python bench/pages.py [--seconds 20] [--rounds 3] [--workers 5]
        [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from _common import ROOT, Server, postgres_database, postgres_unreachable, production_server
from _compare import Row, at_least, at_most, shown

sys.path.insert(0, str(ROOT))

from profile_pages import CALCULATOR, _csrf, prepare

from portal import create_app
from portal.core import db
from portal.core.clock import now
from portal.demo import seed

BENCH = Path(__file__).resolve().parent
DEFAULT_POSTGRES = "postgresql://root@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Load:
    """One wrk run's figures."""

    rate: float
    p50_ms: float
    p99_ms: float

    def text(self) -> str:
        """As the table prints it."""
        return f"{self.rate:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.0f} ms"


@contextmanager
def gunicorn(app: str, url: str, workers: int) -> Iterator[Server]:
    """``app`` served with the production configuration and ``workers`` workers."""
    path = None if app.startswith("portal:") else BENCH
    chosen = None if app.startswith("portal:") else app
    with production_server(url, chosen, path, WEB_CONCURRENCY=str(workers)) as server:
        yield server


def first_answer(port: int, path: str, timeout: float = 60.0) -> float:
    """Seconds until ``path`` first answers 200 (or any answer but a refused connection)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path)
            connection.getresponse().read()
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing answered on port {port}")


def _post_form(port: int, path: str, fields: dict[str, str]) -> str:
    """GET ``path`` for its CSRF token and cookie, POST ``fields``; the new cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", path)
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    body = urlencode({"csrf_token": _csrf(page), **fields})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    response.read()
    if response.status != 303:
        raise RuntimeError(f"POST {path} answered {response.status}")
    return response.getheader("Set-Cookie", "").split(";")[0]


# A wrk script that gives each request an address of its own (``?fresh=N`` added): a
# page the page cache keeps by its address is then rendered every time, the cost of a miss.
FRESH_ADDRESSES = """
counter = 0
request = function()
  counter = counter + 1
  local joint = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. joint .. "fresh=" .. counter)
end
"""


def wrk(
    port: int, path: str, seconds: float, headers: dict[str, str], *, fresh: bool = False
) -> Load:
    """wrk's figures for ``path`` (1 thread, 8 connections); any non-2xx answer fails.
    With ``fresh``, each request's address is new (``FRESH_ADDRESSES``)."""
    command = ["wrk", "-t1", "-c8", f"-d{seconds:.0f}s", "--latency"]
    if fresh:
        script = Path(tempfile.gettempdir()) / f"bench-fresh-{os.getpid()}.lua"
        script.write_text(FRESH_ADDRESSES)
        command += ["-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"{path} answered other than 2xx:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return Load(rate, _latency(output, "50%"), _latency(output, "99%"))


def _latency(output: str, percentile: str) -> float:
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", output)
    if found is None:
        raise RuntimeError(f"no {percentile} latency in wrk's output:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


def median_load(loads: list[Load]) -> Load:
    """The median of each figure over the rounds."""
    return Load(
        statistics.median(load.rate for load in loads),
        statistics.median(load.p50_ms for load in loads),
        statistics.median(load.p99_ms for load in loads),
    )


def seeded(url: str) -> tuple[str, str, str, str]:
    """The demo portfolio on ``url``: a borrower's token and date of birth, an agent's
    email and password."""
    app = create_app({"DATABASE_URL": url})
    token, date_of_birth = prepare(app)
    with app.app_context():
        accounts = seed.demo_staff_accounts(db.session(), now())
    _, email, password = next(item for item in accounts if item[1] == "agent@haohuan.example")
    app.extensions["haohuan.engine"].dispose()
    return token, date_of_birth, email, password


def measure(url: str, seconds: float, rounds: int, workers: int) -> list[Row]:
    """Every row of this benchmark, on the seeded database ``url``."""
    token, date_of_birth, email, password = seeded(url)
    # The sign-ins on a server of their own (the cookies hold in every round: one secret
    # key), so that no measured worker's peak is a password check's: the agent's Argon2
    # takes 64 MiB for a moment, the borrower's scrypt 16 MiB. Every round measures the
    # same thing; with one round, the peak was that of the worker that checked the password.
    with gunicorn("portal:create_app()", url, 1) as server:
        first_answer(server.port, "/healthz")
        borrower = _post_form(
            server.port, f"/r/{token}", {"method": "date_of_birth", "answer": date_of_birth}
        )
        agent = _post_form(server.port, "/staff/sign-in", {"email": email, "password": password})
    paths = {
        "status": ("/status", {"Cookie": borrower}),
        "calculator": (CALCULATOR, {"Cookie": borrower, "HX-Request": "true"}),
        "queue": ("/agent/", {"Cookie": agent}),
    }
    haohuan: dict[str, list[Load]] = {"status": [], "calculator": [], "queue": []}
    # The borrower pages again, each request at a new address: never served from the
    # page cache (what a borrower's first view of the minute costs).
    fresh: dict[str, list[Load]] = {"status": [], "calculator": []}
    baseline: list[Load] = []
    rss: dict[str, float] = {}
    shared: dict[str, tuple[float, float]] = {}
    per_worker: dict[str, float] = {}
    for _ in range(rounds):
        with gunicorn("portal:create_app()", url, workers) as server:
            first_answer(server.port, "/healthz")
            for name, (path, headers) in paths.items():
                wrk(server.port, path, 2, headers)  # every worker warm
                haohuan[name].append(wrk(server.port, path, seconds, headers))
            for name in fresh:
                path, headers = paths[name]
                fresh[name].append(wrk(server.port, path, seconds, headers, fresh=True))
            rss["haohuan"] = server.worker_peak_rss_mib()
            shared["haohuan"] = server.worker_pss_uss_mib()
            per_worker["haohuan"] = server.server_pss_mib() / workers
        with gunicorn("baseline_app:create_app()", url, workers) as server:
            first_answer(server.port, "/")
            wrk(server.port, "/", 2, {})
            baseline.append(wrk(server.port, "/", seconds, {}))
            rss["baseline"] = server.worker_peak_rss_mib()
            shared["baseline"] = server.worker_pss_uss_mib()
            per_worker["baseline"] = server.server_pss_mib() / workers
    base = median_load(baseline)
    goals = {"status": 0.5, "calculator": 0.5, "queue": 0.3}
    names = {
        "status": "borrower status page (verified session)",
        "calculator": "htmx calculator GET",
        "queue": "agent queue, first page (demo data)",
    }
    rows = []
    for name, loads in haohuan.items():
        ours = median_load(loads)
        rows.append(
            at_least(names[name], ours.text(), base.text(), ours.rate / base.rate, goals[name])
        )
    for name, loads in fresh.items():
        ours = median_load(loads)
        why = "none: the cost of a page the page cache does not have"
        rows.append(
            shown(f"{names[name]}, not kept", ours.text(), base.text(), ours.rate / base.rate, why)
        )
    rows += boot_and_memory(url, Memory(rss, shared, per_worker, workers))
    return rows


def worker_boot(app: str, url: str, path: str, replacements: int = 3) -> float:
    """The median time a worker takes to replace one that left (as gunicorn replaces each
    worker after ``max_requests``): from the old worker's exit to the first answer."""
    with gunicorn(app, url, 1) as server:
        first_answer(server.port, path)
        times = []
        for _ in range(replacements):
            (worker,) = server.worker_pids()
            os.kill(worker, signal.SIGTERM)
            while worker in server.worker_pids():
                time.sleep(0.005)
            times.append(first_answer(server.port, path))
        return statistics.median(times)


@dataclass(frozen=True)
class Memory:
    """Each side's memory after its load: the workers' peak RSS, their largest PSS and
    USS, and the whole server's PSS (master and workers) divided by the workers."""

    rss: dict[str, float]
    shared: dict[str, tuple[float, float]]
    per_worker: dict[str, float]
    workers: int


def boot_and_memory(url: str, memory: Memory) -> list[Row]:
    """A worker's boot (median of 3 replacements) and memory, each side against the
    baseline.

    The goal's measure is the workers' peak RSS after the load, shown with their PSS and
    USS. RSS counts in full the pages a worker shares with the master, which makes it the
    measure that does not depend on preloading: the portal's master imports the app
    before it forks (``portal/gunicorn_conf.py``) and the baseline's does not, and a
    preloaded baseline's workers would share most of theirs (measured: its PSS per
    worker falls from 44 to 25 MiB, its RSS stays at 53-56). Beside it, with no goal,
    what the whole server costs the machine per worker (the PSS of the master and every
    worker, summed, divided by the workers), which favours the preloading side."""
    ours = worker_boot("portal:create_app()", url, "/healthz")
    theirs = worker_boot("baseline_app:create_app()", url, "/")

    def per_worker(side: str) -> str:
        return f"{memory.per_worker[side]:.0f} MiB"

    def peak(side: str) -> str:
        pss, uss = memory.shared[side]
        return f"{memory.rss[side]:.0f} MiB (PSS {pss:.0f}, USS {uss:.0f})"

    return [
        at_most(
            "worker peak RSS after load",
            peak("haohuan"),
            peak("baseline"),
            memory.rss["haohuan"] / memory.rss["baseline"],
            1.5,
        ),
        shown(
            f"server memory per worker after load (PSS of the master and {memory.workers}"
            " workers, ÷ workers)",
            per_worker("haohuan"),
            per_worker("baseline"),
            memory.per_worker["haohuan"] / memory.per_worker["baseline"],
            "none: the portal's master preloads the app and the baseline's does not, which"
            " favours the portal here",
        ),
        at_most("worker boot", f"{ours:.2f} s", f"{theirs:.2f} s", ours / theirs, 2),
    ]


def compare_rows(
    admin_url: str, seconds: float = 20, rounds: int = 3, workers: int = 5
) -> list[Row]:
    """The pages' rows of ``make bench-compare``, on a database of their own."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with postgres_database(admin_url, "bench_pages") as url:
        return measure(url, seconds, rounds, workers)


def main() -> None:
    """Print the rows as a table."""
    from _compare import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    print(table(compare_rows(args.postgres_url, args.seconds, args.rounds, args.workers)))


if __name__ == "__main__":
    main()
