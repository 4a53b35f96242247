"""Request limits per client address, shared by every web worker through Redis.

A first, cheap line in front of the limits kept in the database (failed verifications in
``portal.access.verification``, failed staff sign-ins in ``portal.staff.accounts``): it counts every
request to a few endpoints, before any query runs, so a flood from one address costs a
Redis round trip rather than database work. Fixed windows (one INCR and, on the first
hit of a window, an EXPIRE, run atomically by a Lua script); without ``REDIS_URL`` the
counts are kept in the process, which is right for one process and too lenient for many.

The limits are generous on purpose: many phones share a carrier's address, and the
database limits, which count only failures, are the ones that stop guessing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, Response, current_app, make_response, render_template, request
from redis import Redis, RedisError

from portal.access.addresses import address_hash
from portal.core import redis_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` in each window of ``seconds``."""

    requests: int
    seconds: int


# Which requests are counted, and under which limit. The endpoints' own views stay as
# they are: the limit is checked before any of them runs.
RULES: dict[tuple[str, str], str] = {
    ("borrower.open_link", "GET"): "link",
    ("borrower.verify_link", "POST"): "verify",
    ("staff.sign_in_submit", "POST"): "staff_sign_in",
    # The one-time code is the same guessing, so it draws on the same allowance.
    ("staff.sign_in_code_submit", "POST"): "staff_sign_in",
    ("webhooks.stripe_webhook", "POST"): "webhook",
}

DEFAULT_LIMITS: dict[str, Limit] = {
    # Opening reminder links: a carrier address shared by many borrowers stays well
    # inside it; a scan for tokens does not.
    "link": Limit(120, 600),
    # Every verification answer, right or wrong (the database counts only wrong ones).
    "verify": Limit(60, 600),
    "staff_sign_in": Limit(30, 600),
    # Stripe delivers from a handful of addresses and retries what we refuse.
    "webhook": Limit(1200, 60),
}

# Fixed window: the first hit of a window sets its expiry, in the same atomic step.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class Counter(Protocol):
    """Counts hits on a key within a window that ends ``seconds`` after its first hit."""

    def hit(self, key: str, seconds: int, now: float) -> int:
        """Count one hit and return the window's count so far."""
        ...


class RedisCounter:
    """Counts in Redis, shared by every process that uses the same Redis and prefix."""

    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_HIT)

    def hit(self, key: str, seconds: int, now: float) -> int:
        """Count one hit atomically (``now`` is already part of the key)."""
        return int(self._script(keys=[key], args=[seconds]))


class MemoryCounter:
    """Counts in this process: the fallback without Redis."""

    # Beyond this many keys, expired windows are dropped, so memory stays bounded.
    PRUNE_ABOVE = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, seconds: int, now: float) -> int:
        """Count one hit in the window the key names."""
        with self._lock:
            expires, count = self._counts.get(key, (now + seconds, 0))
            self._counts[key] = (expires, count + 1)
            if len(self._counts) > self.PRUNE_ABOVE:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            return count + 1


class Limiter:
    """Checks requests against named limits with one counter."""

    def __init__(
        self,
        counter: Counter,
        limits: Mapping[str, Limit],
        prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counter = counter
        self.limits = dict(limits)
        self.prefix = prefix
        self.clock = clock

    def refusal(self, rule: str, client: str) -> int | None:
        """Count a request from the address ``client`` under ``rule`` (by its client,
        ``portal.access.addresses``): None when it may go on, else the seconds until the
        window ends (for ``Retry-After``)."""
        limit = self.limits[rule]
        now = self.clock()
        window = int(now // limit.seconds)
        key = f"{self.prefix}:rl:{rule}:{address_hash(client)}:{window}"
        if self.counter.hit(key, limit.seconds, now) <= limit.requests:
            return None
        return max(1, int((window + 1) * limit.seconds - now))


def parse_limits(text: str) -> dict[str, Limit]:
    """``link=120/600,verify=60/600`` (requests per seconds) laid over the defaults."""
    limits = dict(DEFAULT_LIMITS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        requests, _, seconds = value.partition("/")
        if name.strip() not in DEFAULT_LIMITS or not (
            f"{requests}{seconds}".isascii() and requests.isdigit() and seconds.isdigit()
        ):
            raise ValueError(f"{item!r} is not NAME=REQUESTS/SECONDS with a known name")
        if int(seconds) == 0:
            raise ValueError(f"{item!r} has a window of 0 seconds")
        limits[name.strip()] = Limit(int(requests), int(seconds))
    return limits


def init_app(app: Flask) -> None:
    """Build the app's limiter (Redis when configured) and check every counted request."""
    from portal.core.settings import ConfigurationError

    try:
        limits = parse_limits(str(app.config.get("RATE_LIMITS") or ""))
    except ValueError as error:
        raise ConfigurationError(f"HAOHUAN_RATE_LIMITS: {error}") from None
    redis = redis_client.client(app)
    counter: Counter = RedisCounter(redis) if redis is not None else MemoryCounter()
    app.extensions["haohuan.limiter"] = Limiter(counter, limits, redis_client.prefix(app))
    app.before_request(_check)


def limiter() -> Limiter:
    """The current app's limiter."""
    bound: Limiter = current_app.extensions["haohuan.limiter"]
    return bound


def _check() -> Response | None:
    # HEAD is GET without the body: Flask runs the same view, so it draws on GET's limit.
    method = "GET" if request.method == "HEAD" else request.method
    rule = RULES.get((request.endpoint or "", method))
    if rule is None:
        return None
    try:
        retry_after = limiter().refusal(rule, request.remote_addr or "")
    except RedisError as error:
        # A Redis outage must not shut the portal: the database limits still stand.
        log.warning("rate limit not checked, Redis failed: %s", type(error).__name__)
        return None
    if retry_after is None:
        return None
    log.info("rate limit %s reached by a client", rule)
    return too_many(rule, retry_after)


def too_many(rule: str, retry_after: int) -> Response:
    """The 429 answer: JSON for Stripe's webhook, a translated page for people."""
    if rule == "webhook":
        response = make_response({"error": "rate limited"}, 429)
    else:
        response = make_response(render_template("errors.html", kind="too_many"), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response
