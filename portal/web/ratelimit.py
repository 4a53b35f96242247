"""Request limits per client address, shared by every web worker through Redis.

A first, cheap line in front of the limits kept in the database (failed verifications in
``portal.access.verification``, failed staff sign-ins in ``portal.staff.accounts``): it counts every
request to a few endpoints, before any query runs, so a flood from one address costs a
Redis round trip rather than database work. Fixed windows (one INCR and, on the first
hit of a window, an EXPIRE, run atomically by a Lua script); without ``REDIS_URL`` the
counts are kept in the process, which is right for one process and too lenient for many.

The limits are generous on purpose: many phones share a carrier's address, and the
database limits, which count only failures, are the ones that stop guessing.

Stripe's webhook is counted differently: only deliveries that do not verify (a bad
signature, or any while no webhook secret is configured) count (``webhook``, per
address), and once an address has spent that allowance its requests are refused, for the
rest of the window, before their body is read or a signature checked. Signed deliveries
never count, so a burst of them is never refused: Stripe sends bursts (a backlog after
an outage, a bulk refund) from a handful of shared addresses, and what it is refused it
retries, which only makes the burst longer. The signature is what keeps others out; the
body limit (``WEBHOOK_BODY_LIMIT``) and this allowance keep a forged flood cheap.

Staff sign-in is counted twice, separately: per client address (``staff_sign_in``), high
enough for an office whose agents all sign in behind one address at the start of a shift,
and per account (``staff_sign_in_account``: the email typed at the password step, the
account waiting at the code step), which is what stops someone trying one account fast.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import Flask, Response, current_app, make_response, render_template, request

from portal.access.addresses import address_hash
from portal.core import redis_client

if TYPE_CHECKING:
    from redis import Redis

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
}

# Requests refused once their address has spent the limit on failures, which their views
# count (``count_failure``): Stripe's webhook, whose failures are bad signatures.
FAILURE_RULES: dict[tuple[str, str], str] = {
    ("webhooks.stripe_webhook", "POST"): "webhook",
    ("chat.line_webhook", "POST"): "webhook",
    ("chat.wechat_webhook", "POST"): "webhook",
    ("chat.wechat_verify", "GET"): "webhook",
    ("sms_inbound.inbound_sms", "POST"): "webhook",
}

DEFAULT_LIMITS: dict[str, Limit] = {
    # Opening reminder links: a carrier address shared by many borrowers stays well
    # inside it; a scan for tokens does not.
    "link": Limit(120, 600),
    # Every verification answer, right or wrong (the database counts only wrong ones).
    "verify": Limit(60, 600),
    # Per address: an office of 100 staff behind one address signing in at shift start
    # (a password and a code each, a typo or two among them) stays inside it.
    "staff_sign_in": Limit(300, 600),
    # Per account, from anywhere: five passwords and five codes in ten minutes.
    "staff_sign_in_account": Limit(10, 600),
    # Webhook deliveries whose signature fails, per address: Stripe's own (signed)
    # deliveries are never counted, however many it sends.
    "webhook": Limit(1200, 60),
}


def _account_of_sign_in() -> str | None:
    """The account a sign-in request is about: the email typed at the password step, the
    account waiting for its code at the code step; None when there is none."""
    from portal.core.clock import now
    from portal.staff.accounts import normalise_email
    from portal.web.staff.auth import awaiting_code

    if request.endpoint == "staff.sign_in_code_submit":
        pending = awaiting_code(now())
        return f"member:{pending[0]}" if pending is not None else None
    email = normalise_email(str(request.form.get("email") or ""))[:254]
    return f"email:{email}" if email else None


# Requests also counted per account, under which limit and for which account.
ACCOUNT_RULES: dict[tuple[str, str], tuple[str, Callable[[], str | None]]] = {
    ("staff.sign_in_submit", "POST"): ("staff_sign_in_account", _account_of_sign_in),
    ("staff.sign_in_code_submit", "POST"): ("staff_sign_in_account", _account_of_sign_in),
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

    def count(self, key: str, now: float) -> int:
        """The window's count so far, without counting."""
        ...


class RedisCounter:
    """Counts in Redis, shared by every process that uses the same Redis and prefix."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_HIT)

    def hit(self, key: str, seconds: int, now: float) -> int:
        """Count one hit atomically (``now`` is already part of the key)."""
        return int(self._script(keys=[key], args=[seconds]))

    def count(self, key: str, now: float) -> int:
        """The window's count (a key gone is a window over)."""
        return int(self._redis.get(key) or 0)


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

    def count(self, key: str, now: float) -> int:
        """The window's count so far."""
        with self._lock:
            return self._counts.get(key, (now, 0))[1]


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
        limit, now, key, retry_after = self._window(rule, client)
        if self.counter.hit(key, limit.seconds, now) <= limit.requests:
            return None
        return retry_after

    def spent(self, rule: str, client: str) -> int | None:
        """Whether ``client`` has already spent ``rule``'s allowance in this window, without
        counting this request: None when it has not, else the seconds until the window
        ends. For limits that count failures only (``count_failure``)."""
        limit, now, key, retry_after = self._window(rule, client)
        return retry_after if self.counter.count(key, now) >= limit.requests else None

    def fail(self, rule: str, client: str) -> None:
        """Count one failure of ``client`` under ``rule``."""
        limit, now, key, _ = self._window(rule, client)
        self.counter.hit(key, limit.seconds, now)

    def _window(self, rule: str, client: str) -> tuple[Limit, float, str, int]:
        limit = self.limits[rule]
        now = self.clock()
        window = int(now // limit.seconds)
        key = f"{self.prefix}:rl:{rule}:{address_hash(client)}:{window}"
        return limit, now, key, max(1, int((window + 1) * limit.seconds - now))


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


def count_failure(rule: str) -> None:
    """Count a failure of this request's client under ``rule`` (one of ``FAILURE_RULES``):
    once the client has spent the limit, its requests to that endpoint are refused before
    the view runs. A Redis outage counts nothing (logged), as with the other limits."""
    try:
        limiter().fail(rule, request.remote_addr or "")
    except redis_client.RedisError as error:
        log.warning("rate limit not counted, Redis failed: %s", type(error).__name__)


def _check() -> Response | None:
    # HEAD is GET without the body: Flask runs the same view, so it draws on GET's limit.
    method = "GET" if request.method == "HEAD" else request.method
    endpoint = (request.endpoint or "", method)
    if endpoint in FAILURE_RULES:
        return _check_failures(FAILURE_RULES[endpoint])
    rule = RULES.get(endpoint)
    if rule is None:
        return None
    counted = [(rule, request.remote_addr or "")]
    if endpoint in ACCOUNT_RULES:
        account_rule, account_of = ACCOUNT_RULES[endpoint]
        account = account_of()
        if account is not None:
            counted.append((account_rule, account))
    for name, who in counted:
        try:
            retry_after = limiter().refusal(name, who)
        except redis_client.RedisError as error:
            # A Redis outage must not shut the portal: the database limits still stand.
            log.warning("rate limit not checked, Redis failed: %s", type(error).__name__)
            return None
        if retry_after is not None:
            log.info("rate limit %s reached by a client", name)
            return too_many(name, retry_after)
    return None


def _check_failures(rule: str) -> Response | None:
    # Nothing is counted here: the view counts the failures. Refused, the request costs
    # one counter read; its body is never read.
    try:
        retry_after = limiter().spent(rule, request.remote_addr or "")
    except redis_client.RedisError as error:
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
