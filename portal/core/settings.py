"""The application's settings: every environment variable the portal reads, declared
once, read once when the app is built, checked, and documented.

``SETTINGS`` declares each variable: its name in the environment, the ``app.config`` key
it becomes, its default, what it means, and how it is checked. ``from_environ`` reads
them all (``create_app`` calls it once, with any configuration the caller passes laid
over the environment), checks them together and refuses to start with a
``ConfigurationError`` naming the variable. ``current()`` gives code outside the web
layer the running app's settings, read from its ``app.config`` (a test may still change
a value there after the start).

``docs/configuration.md`` is generated from these declarations:
``haohuan configuration > docs/configuration.md``; a test keeps it in step.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from negotiation import accounts
from negotiation.accounts import Chart, ChartError


class ConfigurationError(RuntimeError):
    """The application refuses to start with this configuration."""


# The groups of variables: read by the app, by gunicorn's configuration, by the tests.
APP, GUNICORN, TEST = "app", "gunicorn", "test"

# The environments the code tells apart; anything else is a typo, refused at start.
ENVIRONMENTS = ("development", "production")
# Secrets that must never reach production: the development default and obvious fillers.
WEAK_SECRETS = frozenset({"", "dev", "change-me", "secret", "development"})
# Gateways this build can use, and the settings each cannot run without.
KNOWN_GATEWAYS = frozenset({"sandbox", "stripe"})
STRIPE_REQUIRED = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
# A borrower's request makes at most one call to Stripe, and waits for it less than this
# (seconds); an outage is then answered honestly and the sweeper follows the payment up.
STRIPE_REQUEST_BUDGET = 10
# The default order money pays what is owed in; a lender can choose another
# (``HAOHUAN_WATERFALL``), as long as it names each of the four exactly once.
DEFAULT_WATERFALL = ("penalty", "fee", "interest", "principal")
# The lender's time zone unless HAOHUAN_LENDER_TIMEZONE names another.
DEFAULT_ZONE = "Asia/Taipei"

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Setting:
    """One environment variable: ``env`` in the environment, ``key`` in ``app.config``
    (empty for variables the app never reads), ``default`` as it would be written in
    the environment, what it means, the values it allows (in words, for the docs), and
    ``check``, which is given the variable's name and value and returns the value to
    keep or raises ``ValueError`` with the whole complaint."""

    env: str
    key: str
    default: str
    meaning: str
    allowed: str = ""
    check: Check | None = None
    group: str = APP


def parse_waterfall(text: str) -> tuple[str, ...]:
    """A waterfall from its comma-separated form; raises ValueError unless it orders
    exactly penalty, fee, interest and principal."""
    order = tuple(part.strip() for part in text.split(",") if part.strip())
    if sorted(order) != sorted(DEFAULT_WATERFALL):
        raise ValueError(f"a waterfall orders each of {', '.join(DEFAULT_WATERFALL)} once")
    return order


def _environment(name: str, value: Any) -> Any:
    if value not in ENVIRONMENTS:
        raise ValueError(f"{name} must be {' or '.join(ENVIRONMENTS)}, not {value!r}")
    return value


def _jit(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("", "on", "off"):
        raise ValueError(f"{name} is on, off or empty (the server's setting), not {value!r}")
    return text


def _whole(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _count(name: str, value: Any) -> Any:
    # Kept as written (the app reads it with int()); only checked here.
    if not (str(value or "0").isascii() and str(value or "0").isdigit()):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return value


def _waterfall(name: str, value: Any) -> Any:
    try:
        parse_waterfall(str(value or ""))
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    return value


def _offer_days(name: str, value: Any) -> int:
    raw = str(value or "7")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 90:
        raise ValueError(f"{name} must be 1 to 90 days, not {raw!r}")
    return int(raw)


# Credit bureaus a lender can name as the one it reports late payments to: Taiwan's
# Joint Credit Information Center (聯徵中心). Empty: the borrower is told of "the credit
# bureau" without a name.
CREDIT_BUREAUS = frozenset({"", "jcic"})


def _credit_bureau(name: str, value: Any) -> Any:
    if str(value or "") not in CREDIT_BUREAUS:
        raise ValueError(f"{name} must be empty or jcic, not {value!r}")
    return str(value or "")


def _reporting_currency(name: str, value: Any) -> Any:
    from negotiation.money import Currency

    if str(value or "TWD") not in Currency.__members__:
        raise ValueError(f"{name} must be one of {', '.join(Currency.__members__)}, not {value!r}")
    return value


def _rates(name: str, value: Any) -> Any:
    from portal.core.currency import parse_rates

    try:
        parse_rates(str(value or ""))
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    return value


def _chart(name: str, value: Any) -> Any:
    """The chart of accounts file, read and checked now: a missing or wrong mapping
    refuses to start, naming each one."""
    try:
        chart_of_accounts(str(value or ""))
    except (OSError, ChartError) as error:
        problems = error.problems if isinstance(error, ChartError) else [str(error)]
        raise ValueError(f"{name}: " + "; ".join(problems)) from None
    return value


@functools.lru_cache(maxsize=4)
def chart_of_accounts(path: str) -> Chart:
    """The chart of accounts: ``path`` (TOML) laid over the shipped
    ``negotiation/default_accounts.toml``, or the default alone for an empty path.
    Read once per path; raises ``ChartError`` or ``OSError``."""
    document = accounts.default_document()
    if path:
        document = accounts.overlay(document, accounts.read_document(path))
    return accounts.load_chart(document)


def _zone(name: str, value: Any) -> Any:
    if value:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name} must be an IANA time zone such as {DEFAULT_ZONE}, not {value!r}"
            ) from None
    return value


def _moment(name: str, value: Any) -> Any:
    if value and isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{name} must be an ISO 8601 time such as 2026-11-30T10:00:00+08:00, not {value!r}"
            ) from None
    return value


def _stripe_timeout(name: str, value: Any) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= STRIPE_REQUEST_BUDGET:
        raise ValueError(f"{name} must be seconds above 0, at most {STRIPE_REQUEST_BUDGET}")
    return seconds


def _stripe_retries(name: str, value: Any) -> int:
    raw = str(value)
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 5:
        raise ValueError(f"{name} must be 0 to 5, not {raw!r}")
    return int(raw)


def _send_rate(name: str, value: Any) -> float:
    try:
        rate = float(str(value or "0"))
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 10_000 or math.isnan(rate):
        raise ValueError(f"{name} must be messages a second, 0 (no limit) to 10000, not {value!r}")
    return rate


def _connections(name: str, value: Any) -> int:
    raw = str(value or "1")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 64:
        raise ValueError(f"{name} must be 1 to 64 connections, not {raw!r}")
    return int(raw)


def stripe_worst_case(timeout: float, retries: int) -> float:
    """The longest one Stripe call can keep a request waiting: every attempt timing out,
    and the SDK's pause before each retry (0.5 s doubling, at most 5 s)."""
    pauses = sum(min(0.5 * 2.0 ** (n - 1), 5.0) for n in range(1, retries + 1))
    return float(timeout) * (retries + 1) + pauses


def _url(name: str, value: Any) -> Any:
    if value:
        parts = urlsplit(str(value))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{name} must be an http(s) URL")
    return value


SETTINGS: tuple[Setting, ...] = (
    # The application ------------------------------------------------------------------
    Setting(
        "HAOHUAN_ENV",
        "ENV_NAME",
        "development",
        "`production` refuses a weak secret, the sandbox gateway, a frozen clock, the "
        "message outboxes and a missing public address, and sets Secure cookies",
        "`development` or `production`; anything else is refused",
        _environment,
    ),
    Setting(
        "HAOHUAN_SECRET_KEY",
        "SECRET_KEY",
        "",
        "signs sessions, CSRF tokens and opt-out links; without it, development uses a "
        "random one per process",
        "at least 32 random characters in production, the same for every worker",
    ),
    Setting(
        "DATABASE_URL",
        "DATABASE_URL",
        "",
        "the database; without it, `instance/haohuan.db` (SQLite)",
        "`postgresql://user@host/db` (psycopg 3), `postgres://…`, or `sqlite:///path`",
    ),
    Setting(
        "HAOHUAN_DB_POOL_SIZE",
        "DB_POOL_SIZE",
        "5",
        "PostgreSQL connections each process keeps",
        "a whole number",
        _whole,
    ),
    Setting(
        "HAOHUAN_DB_MAX_OVERFLOW",
        "DB_MAX_OVERFLOW",
        "5",
        "PostgreSQL connections each process may open beyond the pool",
        "a whole number",
        _whole,
    ),
    Setting(
        "HAOHUAN_DB_JIT",
        "DB_JIT",
        "",
        "PostgreSQL's JIT compilation for this process's connections: gunicorn's workers "
        "set `off` unless it is set (`portal/gunicorn_conf.py`: a page's statements run "
        "for milliseconds, and compiling one took longer than running it); empty, the "
        "server's own setting (the commands and jobs)",
        "empty, `on` or `off`",
        _jit,
    ),
    Setting(
        "REDIS_URL",
        "REDIS_URL",
        "",
        "Redis for rate limits shared by every web worker and for the RQ job queue; "
        "without it both stay in the process",
        "`redis://host:6379/0`, or `rediss://` for TLS",
    ),
    Setting(
        "HAOHUAN_REDIS_PREFIX",
        "REDIS_PREFIX",
        "haohuan",
        "prefix of every Redis key and the queue's name, so environments can share one Redis",
    ),
    Setting(
        "HAOHUAN_RATE_LIMITS",
        "RATE_LIMITS",
        "",
        "requests per seconds from one client address (an IPv6 client's /64), or for "
        "`staff_sign_in_account` to one staff account, or for `webhook` Stripe deliveries "
        "that do not verify (signed ones are never counted), by name; any subset of "
        "`link=120/600,verify=60/600,staff_sign_in=300/600,staff_sign_in_account=10/600,"
        "webhook=1200/60` (those are the defaults)",
        "`name=count/seconds`, comma-separated",
    ),
    Setting(
        "HAOHUAN_POLICY_FILE",
        "POLICY_FILE",
        "",
        "a product's policy TOML, laid over `negotiation/default_policy.toml`: recorded as "
        "policy version 1 when no version is recorded yet; later versions are made in the "
        "admin console or with `haohuan policy` (maker-checker)",
        "a path",
    ),
    Setting(
        "HAOHUAN_STRATEGY_FILE",
        "STRATEGY_FILE",
        "",
        "the contact strategy (TOML, or JSON ending `.json`) that `haohuan strategy run` "
        "plans reminders by; empty: `negotiation/default_strategy.toml`. Checked at start; "
        "each distinct document is recorded as a strategy version when it first runs",
        "a path",
    ),
    Setting(
        "HAOHUAN_TRUSTED_PROXIES",
        "TRUSTED_PROXIES",
        "0",
        "reverse proxies in front of the app whose `X-Forwarded-For` is trusted",
        "a whole number",
        _count,
    ),
    Setting(
        "HAOHUAN_PUBLIC_URL",
        "PUBLIC_URL",
        "",
        "the borrower site's address, used in every link a message or letter carries; "
        "without it, the request's host (required in production)",
        "an http(s) URL",
        _url,
    ),
    Setting(
        "HAOHUAN_NOW",
        "HAOHUAN_NOW",
        "",
        "freezes the clock (tests and demonstrations only; refused in production)",
        "an ISO 8601 time, e.g. `2026-11-30T10:00:00+08:00`",
        _moment,
    ),
    Setting(
        "FLASK_DEBUG",
        "FLASK_DEBUG_ASKED",
        "",
        "Flask's debug mode (`flask --debug` sets it): the interactive debugger runs any "
        "code a visitor types, so it is refused in production",
        "empty or 0 (anything else asks for debug mode)",
    ),
    # The lender ---------------------------------------------------------------------------
    Setting(
        "HAOHUAN_LENDER_NAME",
        "LENDER_NAME",
        "好還 Haohuan Finance",
        "the lender's name on every page, message and letter in Traditional Chinese and English",
    ),
    Setting(
        "HAOHUAN_LENDER_NAME_HANS",
        "LENDER_NAME_HANS",
        "好还 Haohuan Finance",
        "the lender's name on Simplified Chinese pages, messages and letters",
    ),
    Setting(
        "HAOHUAN_LENDER_PHONE",
        "LENDER_PHONE",
        "0800-000-123",
        "the lender's phone number for Taiwan borrowers (and staff pages)",
    ),
    Setting("HAOHUAN_LENDER_EMAIL", "LENDER_EMAIL", "help@haohuan.example", "the lender's email"),
    Setting(
        "HAOHUAN_LENDER_HOURS",
        "LENDER_HOURS",
        "09:00-18:00",
        "the lender's opening hours for Taiwan borrowers",
    ),
    Setting(
        "HAOHUAN_LENDER_PHONE_CN",
        "LENDER_PHONE_CN",
        "400-000-0123",
        "the phone number mainland borrowers (CNY loans) are given",
    ),
    Setting(
        "HAOHUAN_LENDER_HOURS_CN",
        "LENDER_HOURS_CN",
        "",
        "the opening hours mainland borrowers are given; empty: `HAOHUAN_LENDER_HOURS`",
    ),
    Setting(
        "HAOHUAN_LENDER_PHONE_HK",
        "LENDER_PHONE_HK",
        "+852 3000 0123",
        "the phone number Hong Kong borrowers (HKD loans) are given",
    ),
    Setting(
        "HAOHUAN_LENDER_HOURS_HK",
        "LENDER_HOURS_HK",
        "",
        "the opening hours Hong Kong borrowers are given; empty: `HAOHUAN_LENDER_HOURS`",
    ),
    Setting(
        "HAOHUAN_CREDIT_BUREAU",
        "CREDIT_BUREAU",
        "",
        "the credit bureau the lender reports Taiwan loans' late payments to, named to "
        "Taiwan borrowers (`jcic`: 聯徵中心); empty: a credit bureau, unnamed",
        "empty or `jcic`",
        _credit_bureau,
    ),
    Setting(
        "HAOHUAN_LENDER_ADDRESS",
        "LENDER_ADDRESS",
        "",
        "the lender's postal address at the head of a letter",
        "one line per line of the address",
    ),
    Setting(
        "HAOHUAN_LENDER_TIMEZONE",
        "LENDER_TIMEZONE",
        DEFAULT_ZONE,
        "the lender's time zone: the today the demo is seeded on and `haohuan cases "
        "advance` works on by default; the finance and console zones follow it unless "
        "set (a borrower's own zone is on their record: their days count in it)",
        "an IANA time zone",
        _zone,
    ),
    Setting(
        "HAOHUAN_FINANCE_TIMEZONE",
        "FINANCE_TIMEZONE",
        "",
        "the finance console's and the audit log's calendar days and times, and "
        "`haohuan reconcile`'s; without it, the lender's",
        "an IANA time zone",
        _zone,
    ),
    Setting(
        "HAOHUAN_CONSOLE_TIMEZONE",
        "CONSOLE_TIMEZONE",
        "",
        "the agent console's today (the queue's and a bulk send's segment) and the "
        "times it shows; without it, the finance time zone",
        "an IANA time zone",
        _zone,
    ),
    # Money --------------------------------------------------------------------------------
    Setting(
        "HAOHUAN_REPORTING_CURRENCY",
        "REPORTING_CURRENCY",
        "TWD",
        "the currency the agent console compares and sorts overdue amounts in when no "
        "currency is chosen (with `HAOHUAN_REPORTING_RATES`)",
        "`TWD`, `CNY`, `HKD` or `USD`",
        _reporting_currency,
    ),
    Setting(
        "HAOHUAN_REPORTING_RATES",
        "REPORTING_RATES",
        "",
        "the value of one unit of each other lending currency in the reporting currency, "
        "exact decimals; with a rate for every one, the queue compares and sorts overdue "
        "amounts across currencies converted at these rates (and says so); without, an "
        "amount filter needs a currency chosen and sorting ranks within each currency",
        "`CODE=rate`, comma-separated, such as `CNY=4.45,HKD=4.1,USD=32`",
        _rates,
    ),
    Setting(
        "HAOHUAN_FINANCE_APPROVAL_ABOVE",
        "FINANCE_APPROVAL_ABOVE",
        "TWD=3000,CNY=700,HKD=800,USD=100",
        "the amount in each currency above which a refund or a write-off by finance needs "
        "a second finance member's approval; in a currency not listed, every amount does",
        "`CODE=amount` in major units, comma-separated, such as `TWD=3000,USD=100`",
        _rates,
    ),
    Setting(
        "HAOHUAN_CHART_OF_ACCOUNTS",
        "CHART_OF_ACCOUNTS",
        "",
        "the chart of accounts the general-ledger journals post to (`haohuan ledger "
        "journal`, the finance console's Journals): a TOML file laid over "
        "`negotiation/default_accounts.toml`, mapping each kind (principal, interest, fee, "
        "penalty, credit, clearing, stripe_fee, suspense, refunds_payable, dispute, "
        "dispute_fee, write_off) per product and currency to an account. Checked at start",
        "a path",
        _chart,
    ),
    Setting(
        "PAYMENT_GATEWAY",
        "PAYMENT_GATEWAY",
        "sandbox",
        "the payment gateway; the sandbox (a simulated checkout) is refused in production",
        "`sandbox` or `stripe`",
    ),
    Setting(
        "STRIPE_SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "",
        "Stripe's secret key (required when `PAYMENT_GATEWAY=stripe`)",
    ),
    Setting(
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "",
        "Stripe's publishable key (required when `PAYMENT_GATEWAY=stripe`)",
    ),
    Setting(
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_WEBHOOK_SECRET",
        "",
        "verifies `POST /webhooks/stripe`, the only route without CSRF: Stripe signs it "
        "(required when `PAYMENT_GATEWAY=stripe`)",
    ),
    Setting(
        "STRIPE_API_BASE",
        "STRIPE_API_BASE",
        "",
        "Stripe's API at another address, such as localstripe; without it, Stripe's own",
        "a URL",
    ),
    Setting(
        "STRIPE_JS_URL",
        "STRIPE_JS_URL",
        "",
        "Stripe.js from another address, such as localstripe; without it, Stripe's own",
        "a URL",
    ),
    Setting(
        "STRIPE_TIMEOUT",
        "STRIPE_TIMEOUT",
        "4",
        "seconds one attempt of a call to Stripe may take (to connect, and between bytes "
        "of its answer); with the retries, a call must end within "
        f"{STRIPE_REQUEST_BUDGET} s, so a borrower is never kept waiting by an outage",
        "seconds, such as `4` or `2.5`",
        _stripe_timeout,
    ),
    Setting(
        "STRIPE_RETRIES",
        "STRIPE_RETRIES",
        "1",
        "times a call to Stripe that failed on the network is tried again (each attempt "
        "has the whole timeout, and the SDK pauses 0.5 s, doubling, before each)",
        "0 to 5",
        _stripe_retries,
    ),
    Setting(
        "STRIPE_WALLETS",
        "STRIPE_WALLETS",
        "1",
        "offer Alipay and WeChat Pay where the currency allows them",
        "`0`, `false` or `no` turns them off",
    ),
    Setting(
        "HAOHUAN_WATERFALL",
        "WATERFALL",
        ",".join(DEFAULT_WATERFALL),
        "the order a payment pays what is overdue in (oldest first within each part); "
        "refunds take back in reverse",
        "`penalty`, `fee`, `interest` and `principal`, each once, comma-separated",
        _waterfall,
    ),
    Setting(
        "HAOHUAN_OFFER_VALID_DAYS",
        "OFFER_VALID_DAYS",
        "7",
        # The policy file has no such key; a week matches a reminder link's own lifetime
        # (portal.access.verification.LINK_LIFETIME), so a link sent the day an offer is
        # made lives as long.
        "how long an agent's offer may be taken up once ready",
        "1 to 90 (days)",
        _offer_days,
    ),
    # Messages and letters ---------------------------------------------------------------
    Setting(
        "SMS_PROVIDER",
        "SMS_PROVIDER",
        "outbox",
        "`outbox` keeps SMS in the agent console's outbox (nothing leaves the machine; "
        "refused in production); `http` posts them to a provider in Twilio's Messages "
        "API shape",
        "`outbox` or `http`",
    ),
    Setting(
        "SMS_HTTP_URL",
        "SMS_HTTP_URL",
        "",
        "the SMS provider's full endpoint (`SMS_PROVIDER=http`)",
        "an https URL (plain http only to this machine)",
    ),
    Setting(
        "SMS_HTTP_ACCOUNT",
        "SMS_HTTP_ACCOUNT",
        "",
        "the SMS provider's account, for basic auth with the token; without it, the "
        "token alone is sent as a bearer",
    ),
    Setting("SMS_HTTP_TOKEN", "SMS_HTTP_TOKEN", "", "the SMS provider's token"),
    Setting(
        "SMS_HTTP_TIMEOUT",
        "SMS_HTTP_TIMEOUT",
        "10",
        "seconds to wait for the SMS provider",
        "more than 0, at most 120",
    ),
    Setting("SMS_SENDER", "SMS_SENDER", "", "the number or sender id SMS are sent from"),
    Setting(
        "SMS_INBOUND_AUTH_TOKEN",
        "SMS_INBOUND_AUTH_TOKEN",
        "",
        "the auth token the SMS provider signs inbound SMS with (Twilio's "
        "`X-Twilio-Signature`), for `POST /webhooks/sms/inbound`, where a reply of STOP "
        "or 退訂 opts the borrower out of SMS; without it that address is not found. The "
        "signature covers the public URL: behind a proxy, set `HAOHUAN_TRUSTED_PROXIES`",
    ),
    Setting(
        "SMS_RATE",
        "SMS_RATE",
        "10",
        "SMS the scheduled sender hands the provider per second, at most, per sending "
        "process (`haohuan messages send-due --workers N` shares it among its N); the "
        "outbox takes them without limit",
        "0 (no limit) to 10000",
        _send_rate,
    ),
    Setting(
        "SMS_CONNECTIONS",
        "SMS_CONNECTIONS",
        "4",
        "requests to the SMS provider the scheduled sender makes at the same time, per "
        "sending process",
        "1 to 64",
        _connections,
    ),
    Setting(
        "HAOHUAN_SMS_NAME",
        "SMS_NAME",
        "好還 Haohuan",
        "the lender's name an SMS starts with (an English SMS keeps only its Latin "
        "words, so it stays in GSM-7)",
    ),
    Setting(
        "HAOHUAN_SMS_NAME_HANS",
        "SMS_NAME_HANS",
        "好还 Haohuan",
        "the lender's name a Simplified Chinese SMS starts with",
    ),
    Setting(
        "LINE_PROVIDER",
        "LINE_PROVIDER",
        "outbox",
        "`outbox` keeps LINE messages in the agent console's outbox (nothing leaves the "
        "machine; refused in production once `LINE_CHANNEL_SECRET` turns LINE on); "
        "`http` pushes them through the LINE Messaging API",
        "`outbox` or `http`",
    ),
    Setting(
        "LINE_API_URL",
        "LINE_API_URL",
        "https://api.line.me",
        "the LINE Messaging API's origin (`LINE_PROVIDER=http`)",
        "an https URL (plain http only to this machine)",
    ),
    Setting("LINE_CHANNEL_TOKEN", "LINE_CHANNEL_TOKEN", "", "the LINE channel access token"),
    Setting(
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_SECRET",
        "",
        "the LINE channel secret, which signs LINE's webhook (`X-Line-Signature`); "
        "without it borrowers cannot link LINE",
    ),
    Setting(
        "LINE_MESSAGE_URL",
        "LINE_MESSAGE_URL",
        "https://line.me/R/oaMessage/@haohuan/",
        "the official account's message link (LINE's `oaMessage` scheme): the linking "
        "link opens it with the one-time token typed in",
    ),
    Setting(
        "LINE_TIMEOUT",
        "LINE_TIMEOUT",
        "10",
        "seconds to wait for LINE",
        "more than 0, at most 120",
    ),
    Setting(
        "WECHAT_PROVIDER",
        "WECHAT_PROVIDER",
        "outbox",
        "`outbox` keeps WeChat messages in the agent console's outbox (refused in "
        "production once `WECHAT_TOKEN` turns WeChat on); `http` sends them as a service "
        "account's template messages",
        "`outbox` or `http`",
    ),
    Setting(
        "WECHAT_API_URL",
        "WECHAT_API_URL",
        "https://api.weixin.qq.com",
        "the WeChat API's origin (`WECHAT_PROVIDER=http`)",
        "an https URL (plain http only to this machine)",
    ),
    Setting("WECHAT_APP_ID", "WECHAT_APP_ID", "", "the WeChat service account's AppID"),
    Setting("WECHAT_APP_SECRET", "WECHAT_APP_SECRET", "", "the service account's AppSecret"),
    Setting(
        "WECHAT_TEMPLATE_ID",
        "WECHAT_TEMPLATE_ID",
        "",
        "the template message's id (fields `first` and `remark`, and the link)",
    ),
    Setting(
        "WECHAT_TOKEN",
        "WECHAT_TOKEN",
        "",
        "the token WeChat's server messages are signed with; without it borrowers cannot "
        "link WeChat",
    ),
    Setting(
        "WECHAT_TIMEOUT",
        "WECHAT_TIMEOUT",
        "10",
        "seconds to wait for WeChat",
        "more than 0, at most 120",
    ),
    Setting(
        "HAOHUAN_CHAT_TERMS",
        "CHAT_TERMS_VERSION",
        "2026-12",
        "the version of the terms a borrower agrees to when they link LINE or WeChat, "
        "kept with their consent",
    ),
    Setting(
        "EMAIL_PROVIDER",
        "EMAIL_PROVIDER",
        "outbox",
        "`outbox` keeps email in the agent console's outbox (refused in production); "
        "`smtp` sends it",
        "`outbox` or `smtp`",
    ),
    Setting("SMTP_HOST", "SMTP_HOST", "", "the SMTP server (`EMAIL_PROVIDER=smtp`)"),
    Setting(
        "SMTP_PORT",
        "SMTP_PORT",
        "",
        "the SMTP server's port; without it, 587, 465 or 25 by `SMTP_SECURITY`",
        "a port number",
    ),
    Setting("SMTP_USERNAME", "SMTP_USERNAME", "", "the SMTP user"),
    Setting("SMTP_PASSWORD", "SMTP_PASSWORD", "", "the SMTP user's password"),
    Setting(
        "SMTP_SECURITY",
        "SMTP_SECURITY",
        "starttls",
        "how the SMTP connection is protected; `none` is refused with a password to another host",
        "`starttls`, `ssl` or `none`",
    ),
    Setting(
        "SMTP_TIMEOUT",
        "SMTP_TIMEOUT",
        "10",
        "seconds to wait for the SMTP server",
        "more than 0, at most 120",
    ),
    Setting("MAIL_FROM", "MAIL_FROM", "", "the address email is sent from", "an email address"),
    Setting(
        "EMAIL_RATE",
        "EMAIL_RATE",
        "5",
        "emails the scheduled sender hands the SMTP server per second, at most, per "
        "sending process (`--workers N` shares it among its N); the outbox takes them "
        "without limit",
        "0 (no limit) to 10000",
        _send_rate,
    ),
    Setting(
        "EMAIL_CONNECTIONS",
        "EMAIL_CONNECTIONS",
        "2",
        "SMTP connections the scheduled sender keeps busy at the same time, per sending "
        "process (each email opens its own)",
        "1 to 64",
        _connections,
    ),
    Setting(
        "HAOHUAN_LETTER_FONT",
        "LETTER_FONT",
        "",
        "the font printed letters are set in; without it, a TrueType CJK font found on "
        "the machine, else the CJK fonts every PDF viewer knows by name",
        "a TrueType font file (`.ttf`, or `.ttc` with `#index`), or `cid` for the viewer's fonts",
    ),
    # gunicorn (portal/gunicorn_conf.py) ---------------------------------------------------
    Setting(
        "HAOHUAN_BIND",
        "",
        "127.0.0.1:8000",
        "the addresses gunicorn listens on",
        "`host:port` or `unix:path`, comma-separated",
        group=GUNICORN,
    ),
    Setting(
        "WEB_CONCURRENCY",
        "",
        "",
        "gunicorn's worker processes; without it, two per core plus one",
        "a whole number",
        group=GUNICORN,
    ),
    Setting(
        "HAOHUAN_THREADS",
        "",
        "1",
        "threads per worker; more than one switches to the gthread worker",
        "a whole number",
        group=GUNICORN,
    ),
    Setting(
        "HAOHUAN_WORKER_TIMEOUT",
        "",
        "60",
        "seconds before a silent worker is replaced, and the grace to finish on a restart",
        "a whole number",
        group=GUNICORN,
    ),
    Setting(
        "FORWARDED_ALLOW_IPS",
        "",
        "127.0.0.1,::1",
        "the proxies allowed to say a request came over HTTPS (`X-Forwarded-Proto`)",
        "addresses, comma-separated",
        group=GUNICORN,
    ),
    Setting(
        "HAOHUAN_ACCESS_LOG",
        "",
        "-",
        "where gunicorn writes the access log (no query strings, link tokens redacted)",
        "a path, or `-` for standard output",
        group=GUNICORN,
    ),
    Setting(
        "HAOHUAN_LOG_LEVEL",
        "",
        "info",
        "gunicorn's log level",
        "`debug`, `info`, `warning`, `error` or `critical`",
        group=GUNICORN,
    ),
    # The tests ----------------------------------------------------------------------------
    Setting(
        "HAOHUAN_TEST_POSTGRES_URL",
        "",
        "",
        "runs the PostgreSQL tests on this database (emptied by each test)",
        "a PostgreSQL URL",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_TEST_REDIS_URL",
        "",
        "",
        "runs the Redis tests on this Redis",
        "a Redis URL",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_TEST_BROWSER",
        "",
        "",
        "runs the browser tests (Chromium)",
        "any non-empty value",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_CHROMIUM",
        "",
        "/usr/bin/chromium",
        "the Chromium the browser tests drive",
        "a path",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_VNU_JAR",
        "",
        "tests/browser/node_modules/vnu-jar/build/dist/vnu.jar",
        "the Nu Html Checker the browser tests run over every page they open",
        "a path",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_TEST_LOCALSTRIPE",
        "",
        "",
        "runs the tests against localstripe, a fake Stripe started on 127.0.0.1",
        "any non-empty value",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_TEST_LETTER_FONT",
        "",
        "",
        "makes the test of letters set in a TrueType font fail, rather than skip, "
        "when no such font is found",
        "any non-empty value",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_STATEFUL_EXAMPLES",
        "",
        "30",
        "examples the ledger's stateful property test runs",
        "a whole number",
        group=TEST,
    ),
    Setting(
        "HAOHUAN_SCREENSHOTS_DIR",
        "",
        ".artifacts/screenshots",
        "where the browser tests write their screenshots (`make screenshots` sets "
        "docs/screenshots, the images the README and docs show)",
        "a folder",
        group=TEST,
    ),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS if s.group == APP}


def _defaults() -> dict[str, Any]:
    return {key: setting.default for key, setting in BY_KEY.items()}


@dataclass(frozen=True)
class Settings:
    """The app's checked settings by ``app.config`` key (``app.config`` holds the same
    values), with typed accessors for what code outside the web layer reads."""

    values: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or its declared default when the values lack it."""
        if key in self.values:
            return self.values[key]
        setting = BY_KEY.get(key)
        return setting.default if setting is not None else default

    def _text(self, key: str) -> str:
        return str(self.get(key) or "")

    @property
    def reporting_currency(self) -> str:
        """The currency amounts across currencies are compared in."""
        return self._text("REPORTING_CURRENCY") or "TWD"

    @property
    def reporting_rates(self) -> dict[str, Decimal]:
        """One unit of each currency in the reporting currency (itself at 1)."""
        from portal.core.currency import parse_rates

        rates = parse_rates(self._text("REPORTING_RATES"))
        rates[self.reporting_currency] = Decimal(1)
        return rates

    @property
    def finance_approval_above(self) -> dict[str, int]:
        """Per currency, the largest refund or write-off (minor units) one finance member
        may make alone (``portal.finance.approval``)."""
        from portal.core.currency import parse_rates, to_minor_exact

        limits = parse_rates(self._text("FINANCE_APPROVAL_ABOVE"))
        return {code: to_minor_exact(amount, code) for code, amount in limits.items()}

    @property
    def chart_of_accounts(self) -> Chart:
        """The checked chart of accounts (``HAOHUAN_CHART_OF_ACCOUNTS`` over the default)."""
        return chart_of_accounts(self._text("CHART_OF_ACCOUNTS"))

    @property
    def frozen_now(self) -> str:
        """``HAOHUAN_NOW``: the time the clock is frozen at, or empty."""
        return self._text("HAOHUAN_NOW")

    @property
    def lender_zone(self) -> ZoneInfo:
        return ZoneInfo(self._text("LENDER_TIMEZONE") or DEFAULT_ZONE)

    @property
    def finance_zone(self) -> ZoneInfo:
        """The finance console's, the audit log's and reconciliation's calendar."""
        return ZoneInfo(self._text("FINANCE_TIMEZONE") or self.lender_zone.key)

    @property
    def console_zone(self) -> ZoneInfo:
        """The agent console's calendar and clock."""
        return ZoneInfo(self._text("CONSOLE_TIMEZONE") or self.finance_zone.key)

    @property
    def lender_name(self) -> str:
        return self._text("LENDER_NAME")

    @property
    def lender_phone(self) -> str:
        return self._text("LENDER_PHONE")

    @property
    def lender_email(self) -> str:
        return self._text("LENDER_EMAIL")

    @property
    def lender_hours(self) -> str:
        return self._text("LENDER_HOURS")

    @property
    def sms_name(self) -> str:
        return self._text("SMS_NAME") or BY_KEY["SMS_NAME"].default

    @property
    def sms_name_hans(self) -> str:
        return self._text("SMS_NAME_HANS") or self.sms_name

    @property
    def public_url(self) -> str:
        return self._text("PUBLIC_URL")

    @property
    def payment_gateway(self) -> str:
        return self._text("PAYMENT_GATEWAY") or BY_KEY["PAYMENT_GATEWAY"].default

    @property
    def waterfall(self) -> tuple[str, ...]:
        return parse_waterfall(self._text("WATERFALL") or ",".join(DEFAULT_WATERFALL))

    def send_limits(self, channel: str) -> tuple[float, int]:
        """The scheduled sender's limits for ``channel`` (``sms`` or ``email``): messages
        a second (0: none) and parallel connections."""
        prefix = "SMS" if channel == "sms" else "EMAIL"
        rate = _send_rate(f"{prefix}_RATE", self.get(f"{prefix}_RATE"))
        return rate, _connections(f"{prefix}_CONNECTIONS", self.get(f"{prefix}_CONNECTIONS"))

    @property
    def offer_valid_days(self) -> int:
        return int(self.get("OFFER_VALID_DAYS") or BY_KEY["OFFER_VALID_DAYS"].default)


def read(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every app setting from the environment (``os.environ`` unless given), by
    ``app.config`` key, as written there or its default; not yet checked. The session
    cookie is Secure in production, as the environment names it."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {
        key: environ.get(setting.env, setting.default) for key, setting in BY_KEY.items()
    }
    values.update(
        SESSION_COOKIE_NAME="haohuan",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=values["ENV_NAME"] == "production",
    )
    return values


def from_environ(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """The settings from the environment (``os.environ`` unless given) with
    ``overrides`` laid over them, checked; raises ``ConfigurationError``."""
    return check({**read(environ), **(overrides or {})})


def check(given: Mapping[str, Any]) -> Settings:
    """``given`` checked, one variable and then the variables together, with the values
    to keep (a random secret in development when none is set, the offer days as a
    number, the finance and console zones resolved); raises ``ConfigurationError``
    naming the variable."""
    values = {**_defaults(), **given}
    try:
        values["ENV_NAME"] = _environment("HAOHUAN_ENV", values["ENV_NAME"])
        _check_secret(values)
        for key, setting in BY_KEY.items():
            if setting.check is not None and key != "ENV_NAME":
                values[key] = setting.check(setting.env, values[key])
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    worst = stripe_worst_case(values["STRIPE_TIMEOUT"], values["STRIPE_RETRIES"])
    if worst >= STRIPE_REQUEST_BUDGET:
        raise ConfigurationError(
            f"STRIPE_TIMEOUT and STRIPE_RETRIES would keep a request waiting up to {worst:g} s "
            f"for Stripe: keep it under {STRIPE_REQUEST_BUDGET} s"
        )
    values["FINANCE_TIMEZONE"] = values["FINANCE_TIMEZONE"] or values["LENDER_TIMEZONE"]
    values["CONSOLE_TIMEZONE"] = values["CONSOLE_TIMEZONE"] or values["FINANCE_TIMEZONE"]
    _check_messaging(values)
    return Settings(values)


# A secret's least Shannon entropy, in bits, counted over its own characters: a long
# string of one repeated character (or two, alternating) is long but guessable.
SECRET_MIN_BITS = 100
# And what it must still weigh compressed: a short cycle repeated ("0123" * 16) has the
# entropy of its characters but squeezes to almost nothing.
SECRET_MIN_COMPRESSED = 24


def _random_enough(secret: str) -> bool:
    """Whether ``secret`` looks random: its characters carry ``SECRET_MIN_BITS`` of
    entropy, judged by how often each occurs, and it does not compress below
    ``SECRET_MIN_COMPRESSED`` bytes (``secrets.token_urlsafe(32)`` carries about 200 bits
    and compresses to about 50)."""
    counts = Counter(secret)
    per_character = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    squeezed = len(zlib.compress(secret.encode(), 9))
    return per_character * len(secret) >= SECRET_MIN_BITS and squeezed >= SECRET_MIN_COMPRESSED


def _check_secret(values: dict[str, Any]) -> None:
    """Refuse to start in production with a missing or weak secret; in development use
    a random one per process, so nothing depends on a known key."""
    secret = values.get("SECRET_KEY") or ""
    if values["PAYMENT_GATEWAY"] not in KNOWN_GATEWAYS:
        raise ConfigurationError(f"unknown PAYMENT_GATEWAY {values['PAYMENT_GATEWAY']!r}")
    if values["PAYMENT_GATEWAY"] == "stripe":
        missing = [name for name in STRIPE_REQUIRED if not values.get(name)]
        if missing:
            raise ConfigurationError(f"PAYMENT_GATEWAY=stripe needs {', '.join(missing)}")
    if values["ENV_NAME"] == "production":
        if secret.lower() in WEAK_SECRETS or len(secret) < 32 or not _random_enough(secret):
            raise ConfigurationError(
                "HAOHUAN_SECRET_KEY must be set to at least 32 random characters in production"
            )
        if str(values.get("FLASK_DEBUG_ASKED") or "").strip().lower() not in ("", "0", "false"):
            # Werkzeug's debugger lets whoever sees an error page run code on the server.
            raise ConfigurationError("FLASK_DEBUG (debug mode) is refused in production")
        if values["PAYMENT_GATEWAY"] == "sandbox":
            # The sandbox lets a borrower approve their own payment: never with real cases.
            raise ConfigurationError("PAYMENT_GATEWAY=sandbox is refused in production")
        if values.get("HAOHUAN_NOW"):
            # A frozen clock would misjudge every contact hour and every due date.
            raise ConfigurationError("HAOHUAN_NOW is refused in production")
    elif not secret:
        values["SECRET_KEY"] = secrets.token_urlsafe(32)


def _check_messaging(values: dict[str, Any]) -> None:
    """Refuse the message outboxes, and a missing public address, in production (the
    providers' own settings are checked when ``portal.messaging`` builds them)."""
    if values["ENV_NAME"] != "production":
        return
    outboxes = [
        key for key in ("SMS_PROVIDER", "EMAIL_PROVIDER") if (values[key] or "outbox") == "outbox"
    ]
    # A chat app is on once its webhook's secret is set (borrowers can link it): then
    # its messages must reach them.
    outboxes += [
        key
        for key, secret in (
            ("LINE_PROVIDER", "LINE_CHANNEL_SECRET"),
            ("WECHAT_PROVIDER", "WECHAT_TOKEN"),
        )
        if values.get(secret) and (values[key] or "outbox") == "outbox"
    ]
    if outboxes:
        # An outbox message is recorded as sent, counts toward the borrower's caps, and
        # reaches nobody: never with real borrowers.
        raise ConfigurationError(
            f"{' and '.join(outboxes)}=outbox is refused in production: name a real provider"
        )
    if not values["PUBLIC_URL"]:
        # Without it a link in a message or a printed letter would name whichever host
        # the agent's console answered on.
        raise ConfigurationError("HAOHUAN_PUBLIC_URL is required in production")


def current() -> Settings:
    """The running app's settings (from its ``app.config``)."""
    from flask import current_app

    return Settings(current_app.config)


def finance_zone_anywhere() -> ZoneInfo:
    """The running app's finance time zone; the lender's default outside an app (a
    benchmark's script)."""
    from flask import has_app_context

    return current().finance_zone if has_app_context() else ZoneInfo(DEFAULT_ZONE)


# The app's settings for gunicorn's workers where the environment sets none: their
# connections start without PostgreSQL's JIT compilation. A page's statements run for
# milliseconds, and the planner's estimates for the queue's at a million cases passed
# jit_above_cost, so compiling one took longer than running it (0.1 to 0.9 s,
# bench/explain/). The commands and jobs keep the server's setting.
WEB_WORKER_DEFAULTS = {"HAOHUAN_DB_JIT": "off"}


def default_web_workers(environ: MutableMapping[str, str] | None = None) -> None:
    """Set ``WEB_WORKER_DEFAULTS`` in the environment (``os.environ`` unless given)
    where it has no value of its own: ``portal/gunicorn_conf.py`` does, in the master,
    before any app is built."""
    environ = os.environ if environ is None else environ
    for name, value in WEB_WORKER_DEFAULTS.items():
        environ.setdefault(name, value)


def read_gunicorn(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """gunicorn's variables from the environment (``os.environ`` unless given), each as
    written there or its default; ``portal/gunicorn_conf.py`` turns them into its own."""
    environ = os.environ if environ is None else environ
    return {s.env: environ.get(s.env, s.default) for s in SETTINGS if s.group == GUNICORN}


# The documentation --------------------------------------------------------------------

SECTIONS = {
    APP: (
        "The application",
        "Read once by `create_app` (`portal.core.settings.from_environ`); a value the "
        "caller passes to `create_app` under the `app.config` key wins over the "
        "environment, and is checked the same way. The app refuses to start, naming "
        "the variable, when one is wrong.",
    ),
    GUNICORN: (
        "gunicorn",
        "Read by `portal/gunicorn_conf.py` (`gunicorn -c python:portal.gunicorn_conf`) "
        "when gunicorn starts; each worker then builds the app, which reads the variables "
        "above.",
    ),
    TEST: (
        "The tests",
        "Read by the test suite only; the app never reads them.",
    ),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(settings: Iterable[Setting] = SETTINGS) -> str:
    """``docs/configuration.md``: every variable, its default, meaning and values."""
    chosen = tuple(settings)
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from portal/core/settings.py, where each variable is declared: edit",
        "     it there, then run `haohuan configuration > docs/configuration.md`",
        "     (tests/portal/test_settings.py checks that this file is up to date). -->",
        "",
        "Every environment variable Haohuan reads. An empty default means none.",
    ]
    for group, (title, intro) in SECTIONS.items():
        lines += ["", f"## {title}", "", intro, ""]
        if group == APP:
            lines += ["| variable | `app.config` | default | what it does | values |"]
            lines += ["|---|---|---|---|---|"]
        else:
            lines += ["| variable | default | what it does | values |", "|---|---|---|---|"]
        for s in (s for s in chosen if s.group == group):
            default = f"`{s.default}`" if s.default else ""
            cells = [f"`{s.env}`", default, _cell(s.meaning), _cell(s.allowed)]
            if group == APP:
                cells.insert(1, f"`{s.key}`")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
