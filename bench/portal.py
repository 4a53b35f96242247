"""The status page under concurrent load on gunicorn (2 workers), beside a trivial page.

Seeds the demo portfolio into a fresh SQLite database (or DATABASE_URL), signs one
borrower in, then drives ``/status`` and ``/healthz`` (a trivial Flask JSON page on the
same server) with the same number of concurrent keep-alive clients for the same time.
Prints requests per second, p50 and p99 latency for each, and their ratio.

    .venv/bin/python bench/portal.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import sys
import tempfile
import time
from urllib.parse import urlencode

from _common import ROOT, drive, figures, served

sys.path.insert(0, str(ROOT))  # this file is bench/portal.py: the package must win

from portal import create_app
from portal.core import db, migrate
from portal.core.clock import local_today, now
from portal.demo import seed


def prepare(url: str) -> tuple[str, str]:
    """Migrate and seed; return one mid-stage borrower's link token and date of birth."""
    app = create_app({"DATABASE_URL": url})
    with app.test_request_context("/"):
        migrate.upgrade(app)
        session = db.session()
        seed.seed(session, local_today("Asia/Taipei"), random.Random(1), now())
        links = seed.demo_links(session, now())
        session.commit()
    chosen = next(item for item in links if item.days_past_due == 47)
    return chosen.token, chosen.date_of_birth


def sign_in(port: int, token: str, date_of_birth: str) -> str:
    """Verify through the real pages; returns the session cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", f"/r/{token}")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = urlencode({"csrf_token": csrf, "method": "date_of_birth", "answer": date_of_birth})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    connection.request("POST", f"/r/{token}", body, headers)
    response = connection.getresponse()
    response.read()
    if response.status != 303:
        raise RuntimeError(f"verification answered {response.status}")
    return response.getheader("Set-Cookie", "").split(";")[0]


def load(port: int, path: str, cookie: str, clients: int, seconds: float) -> list[float]:
    """Keep-alive clients requesting ``path`` back to back; the latency of each request."""
    deadline = time.perf_counter() + seconds

    def step(connection: http.client.HTTPConnection) -> str | None:
        if time.perf_counter() >= deadline:
            return None
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        return path

    return drive(port, clients, step).get(path, [])


def report(name: str, latencies: list[float], seconds: float) -> float:
    """Print one page's figures; return its requests per second."""
    measured = figures(latencies, seconds)
    print(
        f"{name:<10} {measured.rate:>8.0f} req/s   p50 {measured.p50_ms:6.1f} ms"
        f"   p99 {measured.p99_ms:6.1f} ms   ({measured.count:,} requests)"
    )
    return measured.rate


def main() -> None:
    """Serve with gunicorn, load both pages, print the figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="haohuan-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/haohuan.db"
    token, date_of_birth = prepare(url)
    with served(url) as port:
        cookie = sign_in(port, token, date_of_birth)
        load(port, "/status", cookie, args.clients, 1.0)  # warm up both workers
        print(
            f"gunicorn, 2 workers; {args.clients} concurrent clients for {args.seconds:.0f} s each"
        )
        trivial = report(
            "/healthz", load(port, "/healthz", cookie, args.clients, args.seconds), args.seconds
        )
        status = report(
            "/status", load(port, "/status", cookie, args.clients, args.seconds), args.seconds
        )
        print(f"ratio      /status serves {status / trivial:.2f}x the trivial page's throughput")


if __name__ == "__main__":
    main()
