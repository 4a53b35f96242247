"""Running in production: rate limits shared through Redis (and in the process without
it), the job queue on real Redis with a real RQ worker (and in the process without it),
follow-ups of payments Stripe could not be asked about, readiness, and gunicorn's
configuration and access log.

The Redis tests run when HAOHUAN_TEST_REDIS_URL is set (CI sets it); when it is set and
Redis does not answer, they fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from flask import Flask, current_app, g
from flask.cli import ScriptInfo
from redis import Redis
from rq.job import Job
from sqlalchemy import func, select, text

from portal import create_app
from portal.access.addresses import address_hash, client_of
from portal.cli import cli
from portal.core import db, jobs
from portal.core.migrate import alembic_config
from portal.models import VerificationAttempt
from portal.payments import sweeper
from portal.web.ratelimit import (
    Limit,
    Limiter,
    MemoryCounter,
    RedisCounter,
    parse_limits,
)

from .factories import build_case
from .localstripe_server import free_port, running, wait_for
from .test_stripe_checkout import (
    CLOSED,
    KEYS,
    accept_a_plan,
    needs_localstripe,
    pay_at_stripe,
    start,
    the_payment,
)

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HAOHUAN_TEST_REDIS_URL", "")
DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def redis_url() -> str:
    """The test Redis: skipped without its URL, a failure when it does not answer."""
    if not REDIS_URL:
        pytest.skip("HAOHUAN_TEST_REDIS_URL is not set (CI sets it)")
    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as error:
        pytest.fail(f"HAOHUAN_TEST_REDIS_URL is set but Redis does not answer: {error!r}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"haohuan-test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(f"{name}:*")) + list(redis.scan_iter(f"rq:*{name}*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def siblings(app: Flask) -> Iterator[list[Flask]]:
    """More apps on the test's database (another worker of the same deployment)."""
    made: list[Flask] = []
    yield made
    for other in made:
        other.extensions["haohuan.engine"].dispose()


def sibling(app: Flask, made: list[Flask], **config: object) -> Flask:
    """Another app on the same database, with some settings changed."""
    other = create_app({**app.config, **config})
    made.append(other)
    return other


# The limiter alone -------------------------------------------------------------------


def test_the_in_process_limiter_counts_each_window():
    clock = [1000.0]
    limiter = Limiter(MemoryCounter(), {"link": Limit(3, 60)}, "t", lambda: clock[0])
    assert [limiter.refusal("link", "10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.refusal("link", "10.0.0.1") == 20  # the window ends at 1020
    assert limiter.refusal("link", "10.0.0.2") is None  # another address
    clock[0] = 1020.0
    assert limiter.refusal("link", "10.0.0.1") is None


def test_the_redis_limiter_counts_concurrent_hits_exactly(redis_url, prefix):
    limiter = Limiter(RedisCounter(Redis.from_url(redis_url)), {"link": Limit(100, 600)}, prefix)
    refusals: list[int | None] = []

    def hit() -> None:
        for _ in range(25):
            refusals.append(limiter.refusal("link", "10.0.0.1"))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(refusal is None for refusal in refusals) == 100
    (key,) = Redis.from_url(redis_url).scan_iter(f"{prefix}:rl:link:*")
    assert 0 < Redis.from_url(redis_url).ttl(key) <= 600


def test_ipv6_clients_are_counted_by_their_network():
    assert client_of("2001:db8:1:2:aaaa::1") == client_of("2001:db8:1:2:bbbb::9")
    assert client_of("2001:db8:1:2::1") != client_of("2001:db8:1:3::1")
    assert client_of("203.0.113.7") == "203.0.113.7"
    assert client_of("::ffff:203.0.113.7") == "203.0.113.7"
    # The stored limits count by the same client as the request limiter.
    assert address_hash("2001:db8:1:2:aaaa::1") == address_hash("2001:db8:1:2:bbbb::9")
    assert address_hash("::ffff:203.0.113.7") == address_hash("203.0.113.7")


def test_limits_are_configured_by_name():
    assert parse_limits("link=5/60")["link"] == Limit(5, 60)
    assert parse_limits("")["verify"] == Limit(60, 600)
    for bad in ("nothing=1/1", "link=5", "link=5/0", "link=a/60"):
        with pytest.raises(ValueError, match=r"link|nothing"):
            parse_limits(bad)


# Limits on requests ------------------------------------------------------------------


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"RATE_LIMITS": "link=2/600,verify=2/600,staff_sign_in=1/600,webhook=1/60"}


UNKNOWN_LINK = "/r/" + "x" * 43

TOO_MANY = {
    "zh-TW": "請求次數過多",
    "zh-CN": "请求次数过多",
    "en": "Too many requests",
}


@pytest.mark.parametrize(("language", "title"), TOO_MANY.items())
def test_the_429_page_is_translated(app, client, language, title):
    headers = {"Accept-Language": language}
    assert [client.get(UNKNOWN_LINK, headers=headers).status_code for _ in range(2)] == [404, 404]
    refused = client.get(UNKNOWN_LINK, headers=headers)
    assert refused.status_code == 429
    assert title in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert refused.headers["Cache-Control"] == "no-store"


def test_head_draws_on_the_same_limit_as_get(app, client):
    # A HEAD runs the GET view (a token tried is a token tried): it is counted with GET.
    assert [client.head(UNKNOWN_LINK).status_code for _ in range(2)] == [404, 404]
    assert client.get(UNKNOWN_LINK).status_code == 429
    assert client.head(UNKNOWN_LINK).status_code == 429


def test_verification_is_refused_before_the_database_counts_it(app, client):
    built = build_case(app)
    wrong = {"method": "date_of_birth", "answer": "1999-01-01"}
    answers = [client.post(f"/r/{built.token}", data=wrong).status_code for _ in range(3)]
    assert answers == [422, 422, 429]
    with app.app_context():
        assert db.session().scalar(select(func.count(VerificationAttempt.id))) == 2


def test_staff_sign_in_and_the_webhook_are_limited(app, client):
    form = {"email": "nobody@haohuan.example", "password": "not the password at all"}
    assert client.post("/staff/sign-in", data=form).status_code == 401
    assert client.post("/staff/sign-in", data=form).status_code == 429
    client.post("/webhooks/stripe", data=b"{}")
    refused = client.post("/webhooks/stripe", data=b"{}")
    assert (refused.status_code, refused.json) == (429, {"error": "rate limited"})


def test_the_limit_counts_the_client_behind_trusted_proxies(app, siblings):
    proxied = sibling(app, siblings, TRUSTED_PROXIES="1").test_client()

    def status(client_address: str) -> int:
        headers = {"X-Forwarded-For": client_address}
        return proxied.get(UNKNOWN_LINK, headers=headers).status_code

    assert [status("198.51.100.1"), status("198.51.100.1"), status("198.51.100.1")] == [
        404,
        404,
        429,
    ]
    assert status("198.51.100.2") == 404


def test_two_workers_share_their_limits_through_redis(app, siblings, redis_url, prefix):
    first, second = (
        sibling(app, siblings, REDIS_URL=redis_url, REDIS_PREFIX=prefix).test_client()
        for _ in range(2)
    )
    assert first.get(UNKNOWN_LINK).status_code == 404
    assert second.get(UNKNOWN_LINK).status_code == 404
    assert first.get(UNKNOWN_LINK).status_code == 429
    assert second.get(UNKNOWN_LINK).status_code == 429


def test_a_redis_outage_does_not_shut_the_portal(app, siblings):
    client = sibling(app, siblings, REDIS_URL=DEAD_REDIS).test_client()
    assert [client.get(UNKNOWN_LINK).status_code for _ in range(3)] == [404, 404, 404]


# Jobs ----------------------------------------------------------------------------------

DONE: list[tuple[str, bool]] = []


def remember(word: str) -> str:
    """A job: what it was given, and whether it had an app context of its own."""
    fresh = "haohuan_marker" not in g
    g.haohuan_marker = True
    DONE.append((word, fresh))
    return f"{current_app.name}:{word}:{db.session().scalar(text('SELECT 1'))}"


def write_file(path: str) -> None:
    """A job for the worker subprocess: proves it ran, with the app's database."""
    Path(path).write_text(str(db.session().scalar(text("SELECT 41 + 1"))), encoding="utf-8")


def _job_route(app: Flask, word: str) -> None:
    def view() -> str:
        g.haohuan_marker = True
        jobs.enqueue(remember, word)
        assert DONE == []  # never inside the view, before its commit
        return "queued"

    app.add_url_rule("/_job", view_func=view)


def test_without_redis_jobs_run_in_the_process_after_the_response(app):
    DONE.clear()
    _job_route(app, "here")
    response = app.test_client().get("/_job")
    assert DONE == []
    response.close()  # what the server does once the last byte is sent
    assert DONE == [("here", True)]


def test_without_redis_waiting_work_is_left_to_the_scheduled_commands(app, caplog):
    DONE.clear()
    caplog.set_level(logging.INFO, logger="portal.core.jobs")
    with app.app_context():
        jobs.enqueue(remember, "later", delay=timedelta(minutes=1))
        jobs.enqueue(remember, "now")
    assert DONE == [("now", True)]
    assert "left to the scheduled commands" in caplog.text


def test_with_redis_a_worker_runs_the_job_in_an_app_context(app, siblings, redis_url, prefix):
    DONE.clear()
    queued = sibling(app, siblings, REDIS_URL=redis_url, REDIS_PREFIX=prefix)
    _job_route(queued, "queued")
    queued.test_client().get("/_job").close()
    assert DONE == []
    work_queue = jobs.queue(queued)
    (job_id,) = work_queue.job_ids
    assert jobs.worker(queued, simple=True).work(burst=True)
    assert DONE == [("queued", True)]
    result = Job.fetch(job_id, connection=Redis.from_url(redis_url)).return_value()
    assert result == f"{queued.name}:queued:1"


def test_haohuan_worker_runs_queued_jobs(app, redis_url, prefix, tmp_path):
    marker = tmp_path / "ran"
    queued = create_app({**app.config, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix})
    with queued.app_context():
        jobs.enqueue(write_file, str(marker))
    queued.extensions["haohuan.engine"].dispose()
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["DATABASE_URL"],
        "REDIS_URL": redis_url,
        "HAOHUAN_REDIS_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    finished = subprocess.run(
        [str(Path(sys.executable).parent / "haohuan"), "worker", "--burst"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert marker.read_text(encoding="utf-8") == "42"


def test_haohuan_worker_needs_redis(app):
    info = ScriptInfo(create_app=lambda: app)
    result = CliRunner().invoke(cli, ["worker", "--burst"], obj=info)
    assert result.exit_code != 0
    assert "REDIS_URL is not set" in result.output


# Follow-ups of payments Stripe could not be asked about --------------------------------


@pytest.fixture
def stripe_app(app, siblings, redis_url, prefix, stripe_without_retries) -> Flask:
    """The test's database, Stripe "down" (no retries: it fails at once), and jobs on
    the test Redis."""
    return sibling(
        app,
        siblings,
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        STRIPE_API_BASE=CLOSED,
        STRIPE_JS_URL=f"{CLOSED}/v3/",
        **KEYS,
    )


def test_an_unknown_payment_is_rechecked_later_by_a_job(stripe_app):
    client = stripe_app.test_client()
    accept_a_plan(stripe_app, client)
    assert start(client).status_code == 422  # Stripe is down: the payment is unknown
    payment = the_payment(stripe_app)
    work_queue = jobs.queue(stripe_app)
    (job_id,) = work_queue.scheduled_job_registry.get_job_ids()
    job = work_queue.fetch_job(job_id)
    assert (job.func_name, job.args) == ("portal.payments.sweeper.follow_up", (payment.id, 0))
    when = work_queue.scheduled_job_registry.get_scheduled_time(job)
    assert 10 <= when.timestamp() - time.time() <= 15


def test_the_follow_up_backs_off_while_stripe_is_down_then_stops(stripe_app, monkeypatch):
    monkeypatch.setattr(sweeper, "FOLLOW_UP_DELAYS", (timedelta(0),) * 3)
    checks: list[sweeper.Checked] = []
    real_check = sweeper.check

    def counted(*args: object) -> sweeper.Checked:
        checks.append(real_check(*args))  # type: ignore[arg-type]
        return checks[-1]

    monkeypatch.setattr(sweeper, "check", counted)
    client = stripe_app.test_client()
    accept_a_plan(stripe_app, client)
    start(client)
    jobs.worker(stripe_app, simple=True).work(burst=True)
    assert checks == [sweeper.Checked.UNREACHABLE] * 3
    assert the_payment(stripe_app).status == "unknown"  # the sweeper carries on
    assert jobs.queue(stripe_app).count == 0


@needs_localstripe
def test_a_payment_stripe_could_not_confirm_is_settled_by_the_follow_up(stripe_app, monkeypatch):
    monkeypatch.setattr(sweeper, "FOLLOW_UP_DELAYS", (timedelta(0),) * 3)
    with running() as stripe_base:
        stripe_app.config.update(STRIPE_API_BASE=stripe_base, STRIPE_JS_URL=f"{stripe_base}/v3/")
        client = stripe_app.test_client()
        accept_a_plan(stripe_app, client)
        start(client)
        payment = the_payment(stripe_app)
        pay_at_stripe(stripe_base, payment.gateway_reference)
        stripe_app.config["STRIPE_API_BASE"] = CLOSED
        client.get(f"/pay/return/{payment.id}")
        assert the_payment(stripe_app).status == "unknown"
        stripe_app.config["STRIPE_API_BASE"] = stripe_base
        jobs.worker(stripe_app, simple=True).work(burst=True)
        assert the_payment(stripe_app).status == "succeeded"


# Readiness -----------------------------------------------------------------------------


def test_ready_when_the_database_is_at_head(app, client):
    response = client.get("/readyz")
    assert (response.status_code, response.json) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}},
    )


def test_ready_with_redis(app, siblings, redis_url, prefix):
    client = sibling(app, siblings, REDIS_URL=redis_url, REDIS_PREFIX=prefix).test_client()
    assert client.get("/readyz").json["checks"] == {"database": "ok", "redis": "ok"}


def _refused(response, failed: dict[str, str]) -> None:
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    for name, state in failed.items():
        assert response.json["checks"][name] == state
    body = response.get_data(as_text=True)
    # No address and no URL: either could carry a password.
    assert "127.0.0.1" not in body
    assert "://" not in body


def test_not_ready_when_the_database_is_down(app, siblings, backend, tmp_path):
    bad = (
        f"postgresql://root@127.0.0.1:{free_port()}/nothing"
        if backend == "postgres"
        else f"sqlite:///{tmp_path}/no/such/folder/haohuan.db"
    )
    client = sibling(app, siblings, DATABASE_URL=bad).test_client()
    _refused(client.get("/readyz"), {"database": "unreachable"})


def test_not_ready_when_migrations_are_behind(app, client):
    config = alembic_config(app)
    (head,) = ScriptDirectory.from_config(config).get_heads()
    previous = ScriptDirectory.from_config(config).get_revision(head).down_revision
    command.stamp(config, str(previous))
    try:
        _refused(client.get("/readyz"), {"database": "migrations not at head"})
    finally:
        command.stamp(config, head)
    assert client.get("/readyz").status_code == 200


def test_not_ready_when_redis_is_down(app, siblings):
    client = sibling(app, siblings, REDIS_URL=DEAD_REDIS).test_client()
    _refused(client.get("/readyz"), {"redis": "unreachable", "database": "ok"})


# gunicorn --------------------------------------------------------------------------------

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def test_the_gunicorn_configuration_loads():
    checked = subprocess.run(
        [GUNICORN, "--check-config", "-c", "python:portal.gunicorn_conf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "WEB_CONCURRENCY": "3", "HAOHUAN_BIND": "127.0.0.1:9"},
    )
    assert checked.returncode == 0, checked.stderr[-2000:]


def test_the_master_reads_every_zone_the_queue_keeps_before_it_forks():
    from zoneinfo import available_timezones

    from portal.cases import overdue

    assert overdue.load_zones() == len(available_timezones()) > 400


@pytest.mark.parametrize("optimize", ["2", ""])
def test_the_access_log_carries_no_link_token_and_no_query(app, tmp_path, optimize):
    # As docs/operations.md runs it (PYTHONOPTIMIZE=2: no docstrings, no asserts), and
    # without, when the master says what is missing.
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["DATABASE_URL"],
        "HAOHUAN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PYTHONOPTIMIZE": optimize,
    }
    server = subprocess.Popen(
        [GUNICORN, "-c", "python:portal.gunicorn_conf"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    token = "T0k3n" * 9
    try:
        wait_for(port)
        # The master listens before its worker has built the app; a first run with
        # PYTHONOPTIMIZE compiles every module's optimized bytecode then.
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=120)
        for path in (f"/r/{token}", "/pay/return/1?payment_intent_client_secret=pi_1_secret_2"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "/r/[redacted]" in output
    assert "/pay/return/1" in output
    assert token not in output
    assert "secret" not in output
    assert ("PYTHONOPTIMIZE is not 2" in output) is (optimize != "2")


# The contact strategy's morning ---------------------------------------------------------


def test_with_redis_the_strategys_due_messages_go_to_the_workers_at_once(
    app, siblings, redis_url, prefix
):
    from datetime import timedelta as days

    from portal.models import Case, Message, MessageStatus

    from .factories import TODAY, build_case

    queued = sibling(app, siblings, REDIS_URL=redis_url, REDIS_PREFIX=prefix)
    built = build_case(queued, days_past_due=1)
    with queued.app_context():
        case = db.session().get_one(Case, built.case_id)
        case.overdue_since, case.stage = TODAY - days(days=1), "early"
        db.session().commit()
    info = ScriptInfo(create_app=lambda: queued)
    result = CliRunner().invoke(cli, ["strategy", "run", "--as-of", str(TODAY)], obj=info)
    assert result.exit_code == 0, result.output
    work_queue = jobs.queue(queued)
    assert [job.func_name for job in work_queue.jobs] == [
        "portal.messaging.service.dispatch_due_job"
    ]
    assert jobs.worker(queued, simple=True).work(burst=True)
    with queued.app_context():
        statuses = db.session().scalars(select(Message.status)).all()
    assert statuses == [MessageStatus.SENT]
    # A dry run, or a run that plans nothing, queues nothing.
    again = CliRunner().invoke(cli, ["strategy", "run", "--as-of", str(TODAY)], obj=info)
    assert again.exit_code == 0
    assert work_queue.count == 0
