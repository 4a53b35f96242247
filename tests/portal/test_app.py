import secrets

import pytest
from click.testing import CliRunner

from portal import ConfigurationError, create_app
from portal.cli import cli
from portal.core.settings import _random_enough


def test_health_check_answers():
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "dev",
        "change-me",
        "short-but-random-9f8a",
        # Long enough, but not random: one character, two alternating, a short cycle.
        "a" * 64,
        "ab" * 32,
        "0123" * 16,
    ],
)
def test_production_refuses_a_missing_or_weak_secret(secret):
    with pytest.raises(ConfigurationError, match="HAOHUAN_SECRET_KEY"):
        create_app({"ENV_NAME": "production", "SECRET_KEY": secret})


def test_a_random_secret_is_random_enough():
    for _ in range(200):
        assert _random_enough(secrets.token_urlsafe(32))
        assert _random_enough(secrets.token_hex(32))


@pytest.mark.parametrize("asked", ["1", "true", "yes"])
def test_production_refuses_debug_mode(monkeypatch, asked):
    monkeypatch.setenv("FLASK_DEBUG", asked)
    with pytest.raises(ConfigurationError, match="FLASK_DEBUG"):
        create_app({"ENV_NAME": "production", **PRODUCTION})
    monkeypatch.setenv("FLASK_DEBUG", "0")
    assert create_app({"ENV_NAME": "production", **PRODUCTION}).config["ENV_NAME"] == "production"
    monkeypatch.setenv("FLASK_DEBUG", asked)
    assert create_app({}).config["ENV_NAME"] == "development"


def test_production_refuses_the_sandbox_gateway():
    # A borrower could approve their own payment on the sandbox's page.
    strong = "x" * 16 + "9f8a7b6c5d4e3f2a1b0c"
    with pytest.raises(ConfigurationError, match="sandbox is refused in production"):
        create_app({"ENV_NAME": "production", "SECRET_KEY": strong})


def test_an_unknown_gateway_is_refused_at_start():
    with pytest.raises(ConfigurationError, match="unknown PAYMENT_GATEWAY"):
        create_app({"PAYMENT_GATEWAY": "paypal"})


def test_development_gets_a_random_secret_per_process():
    first = create_app()
    second = create_app()
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]


def test_the_haohuan_command_lists_its_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output


# Everything production needs (but the environment's name).
PRODUCTION = {
    "SECRET_KEY": "x" * 16 + "9f8a7b6c5d4e3f2a1b0c",
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "PUBLIC_URL": "https://pay.haohuan.example",
    "EMAIL_PROVIDER": "smtp",
    "SMTP_HOST": "mail.example.com",
    "MAIL_FROM": "reminders@haohuan.example",
    "SMS_PROVIDER": "http",
    "SMS_HTTP_URL": "https://api.sms.example/send",
    "SMS_HTTP_TOKEN": "token",
    "SMS_SENDER": "Haohuan",
}


def test_production_refuses_a_frozen_clock():
    config = {"ENV_NAME": "production", **PRODUCTION}
    assert create_app(config).config["HAOHUAN_NOW"] == ""
    with pytest.raises(ConfigurationError, match="HAOHUAN_NOW is refused in production"):
        create_app({**config, "HAOHUAN_NOW": "2026-11-30T02:00:00+00:00"})


@pytest.mark.parametrize("days", ["0", "91", "seven", "-3", "2.5"])
def test_an_offer_validity_outside_1_to_90_days_is_refused_at_start(days):
    with pytest.raises(ConfigurationError, match="HAOHUAN_OFFER_VALID_DAYS"):
        create_app({"OFFER_VALID_DAYS": days})
    assert create_app({"OFFER_VALID_DAYS": "30"}).config["OFFER_VALID_DAYS"] == 30


@pytest.mark.parametrize("typo", ["prod", "Production", "staging", "", "development "])
def test_a_typo_in_haohuan_env_is_refused_not_read_as_development(monkeypatch, typo):
    monkeypatch.setenv("HAOHUAN_ENV", typo)
    with pytest.raises(ConfigurationError, match="HAOHUAN_ENV must be development or production"):
        create_app({"TESTING": True})
    monkeypatch.delenv("HAOHUAN_ENV")
    with pytest.raises(ConfigurationError, match="HAOHUAN_ENV"):
        create_app({"TESTING": True, "ENV_NAME": typo})


def test_haohuan_env_production_makes_cookies_secure(monkeypatch):
    assert create_app({"TESTING": True}).config["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("HAOHUAN_ENV", "production")
    production = {**PRODUCTION, "ENV_NAME": "production"}
    assert create_app(production).config["SESSION_COOKIE_SECURE"] is True
    with pytest.raises(ConfigurationError, match="HAOHUAN_SECRET_KEY"):
        create_app({"TESTING": True})


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("HAOHUAN_LENDER_TIMEZONE", "LENDER_TIMEZONE"),
        ("HAOHUAN_FINANCE_TIMEZONE", "FINANCE_TIMEZONE"),
        ("HAOHUAN_CONSOLE_TIMEZONE", "CONSOLE_TIMEZONE"),
    ],
)
def test_each_time_zone_is_set_from_the_environment(monkeypatch, variable, key):
    from portal.cases.queue import console_zone
    from portal.core.settings import current
    from portal.finance.reports import finance_timezone

    monkeypatch.setenv(variable, "America/Los_Angeles")
    app = create_app({"TESTING": True})
    assert app.config[key] == "America/Los_Angeles"
    with app.app_context():
        zones = {
            "LENDER_TIMEZONE": current().lender_zone,
            "FINANCE_TIMEZONE": finance_timezone(),
            "CONSOLE_TIMEZONE": console_zone(),
        }
    # The finance zone follows the lender's, the console's the finance zone.
    following = {
        "LENDER_TIMEZONE": {"LENDER_TIMEZONE", "FINANCE_TIMEZONE", "CONSOLE_TIMEZONE"},
        "FINANCE_TIMEZONE": {"FINANCE_TIMEZONE", "CONSOLE_TIMEZONE"},
        "CONSOLE_TIMEZONE": {"CONSOLE_TIMEZONE"},
    }[key]
    for name, zone in zones.items():
        assert zone.key == ("America/Los_Angeles" if name in following else "Asia/Taipei"), name


@pytest.mark.parametrize(
    "variable", ["HAOHUAN_LENDER_TIMEZONE", "HAOHUAN_FINANCE_TIMEZONE", "HAOHUAN_CONSOLE_TIMEZONE"]
)
@pytest.mark.parametrize("zone", ["Taipei", "Asia/Taipai", "UTC+8", "../../etc/passwd"])
def test_a_time_zone_that_does_not_exist_is_refused_at_start(monkeypatch, variable, zone):
    monkeypatch.setenv(variable, zone)
    with pytest.raises(ConfigurationError, match=f"{variable} must be an IANA time zone"):
        create_app({"TESTING": True})


def test_a_web_worker_loads_no_sdk_it_may_never_use(tmp_path):
    """Stripe's SDK, reportlab and Alembic load when first used (a payment, a letter, the
    readiness check), not when a worker builds the app: each worker would carry them.
    Without REDIS_URL, neither redis nor RQ loads at all. Nor do argon2 (a sign-in), or
    smtplib and the email package's headers (an email sent by SMTP), nor the bank
    statements' parsers (pycamt with lxml, mt-940) or Beancount (with regex), used a few
    times a month; each still works when first used in a process that had not loaded it
    (the statement and journal tests)."""
    import subprocess
    import sys

    unused = {"stripe", "reportlab", "alembic", "redis", "rq", "argon2", "smtplib"}
    unused |= {"pycamt", "lxml", "mt940", "beancount", "regex"}
    script = (
        "import sys; from portal import create_app;"
        f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/app.db', 'REDIS_URL': ''}});"
        "app.test_client().get('/healthz');"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} & {unused!r};"
        "loaded |= {m for m in sys.modules if m == 'email.headerregistry'};"
        "print(sorted(loaded));"
        "from portal.staff import passwords;"
        "from portal.messaging.providers import Email, build_email;"
        "ctx = app.app_context(); ctx.push();"
        "stored = passwords.hash_password('a long passphrase');"
        "print(passwords.password_matches(stored, 'a long passphrase'),"
        " passwords.needs_rehash(stored), passwords.password_matches('$argon2id$x', 'x'));"
        "mail = Email('b@example.org', 'Hi', 'Text', None, 'https://example.org/u', 'r1', 'B');"
        "print(build_email(mail, 'Haohuan <n@example.org>')['To'])"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert found.splitlines() == ["[]", "True False False", "B <b@example.org>"]
