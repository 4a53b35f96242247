"""The settings: every environment variable declared once (portal.core.settings), read
only there, documented in docs/configuration.md as generated from the declarations; and
the agent console's one "today", shared by the queue and a bulk send's segment."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask import url_for
from sqlalchemy import select

from portal.cli import cli
from portal.core import db, settings
from portal.models import Case, Message

from .factories import NOW, add_staff, build_case, staff_sign_in

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"
# The moment the tests' clock is frozen at, 2026-11-30 02:00 UTC, is still the 29th in
# Los Angeles (18:00) and already the 30th in Taipei (10:00).
CONSOLE_ZONE = "America/Los_Angeles"


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"CONSOLE_TIMEZONE": CONSOLE_ZONE}


# The declarations and their document ------------------------------------------------------


def test_the_configuration_document_is_generated_from_the_declarations():
    assert DOCS.read_text(encoding="utf-8") == settings.markdown(), (
        "docs/configuration.md is out of date: haohuan configuration > docs/configuration.md"
    )
    result = CliRunner().invoke(cli, ["configuration"])
    assert result.exit_code == 0, result.output
    assert result.output == settings.markdown()


def test_every_variable_is_documented_with_a_meaning():
    names = [s.env for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    keys = [s.key for s in settings.SETTINGS if s.group == settings.APP]
    assert len(keys) == len(set(keys))
    for setting in settings.SETTINGS:
        assert setting.meaning, setting.env
        assert f"`{setting.env}`" in DOCS.read_text(encoding="utf-8")
        assert bool(setting.key) == (setting.group == settings.APP), setting.env


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_only_the_settings_module_reads_the_environment():
    reads = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\.get\b|\benviron\[")
    readers = {
        str(path.relative_to(ROOT))
        for path in _python_files("portal")
        if reads.search(path.read_text(encoding="utf-8"))
    }
    assert readers == {"portal/core/settings.py"}


def test_every_haohuan_variable_named_anywhere_is_declared():
    declared = {s.env for s in settings.SETTINGS}
    sources = [*_python_files("portal", "tests", "bench"), ROOT / "Makefile"]
    named = set()
    for path in sources:
        named |= set(re.findall(r"\bHAOHUAN_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8")))
    assert named - declared == set()


def test_each_app_variable_reaches_its_config_key():
    environ = {s.env: f"value of {s.env}" for s in settings.SETTINGS if not s.check}
    environ["PAYMENT_GATEWAY"] = "sandbox"
    values = settings.from_environ(environ).values
    for setting in settings.SETTINGS:
        if setting.group == settings.APP and not setting.check and setting.env != "PAYMENT_GATEWAY":
            assert values[setting.key] == f"value of {setting.env}", setting.env
    assert settings.read({})["LENDER_NAME"] == "好還 Haohuan Finance"


def test_a_wrong_value_is_refused_naming_its_variable():
    for env, value in [
        ("HAOHUAN_DB_POOL_SIZE", "five"),
        ("HAOHUAN_TRUSTED_PROXIES", "-1"),
        ("HAOHUAN_NOW", "tomorrow"),
        ("HAOHUAN_WATERFALL", "fee,principal"),
        ("HAOHUAN_OFFER_VALID_DAYS", "0"),
        ("HAOHUAN_PUBLIC_URL", "pay.example"),
        ("HAOHUAN_LENDER_TIMEZONE", "Taipei"),
    ]:
        with pytest.raises(settings.ConfigurationError, match=env):
            settings.from_environ({env: value})


def test_the_time_zones_default_to_the_lenders():
    values = settings.from_environ({}).values
    assert values["LENDER_TIMEZONE"] == "Asia/Taipei"
    assert values["FINANCE_TIMEZONE"] == values["CONSOLE_TIMEZONE"] == "Asia/Taipei"
    lender = settings.from_environ({"HAOHUAN_LENDER_TIMEZONE": "Asia/Hong_Kong"})
    assert lender.finance_zone.key == lender.console_zone.key == "Asia/Hong_Kong"
    # The console keeps the finance zone unless it names its own.
    finance = settings.from_environ({"HAOHUAN_FINANCE_TIMEZONE": "Asia/Shanghai"})
    assert (finance.lender_zone.key, finance.console_zone.key) == ("Asia/Taipei", "Asia/Shanghai")


# The console's one today --------------------------------------------------------------------


def _overdue_since(app, built, day):
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        case.overdue_since = day
        case.stage = "early"
        session.commit()


def test_a_bulk_sends_segment_is_the_queue_it_was_chosen_from(app):
    # In Los Angeles, the console's zone, it is still 29 November; in Taipei, where the
    # borrowers live, it is the 30th. Days past due count in the borrower's calendar
    # (portal.cases.overdue), in the queue and the segment alike: the first case is 31
    # days past due, the second 1 day, whatever the console's own date.
    assert NOW.astimezone(ZoneInfo(CONSOLE_ZONE)).date() == date(2026, 11, 29)
    thirty = build_case(app, name="陳一")
    _overdue_since(app, thirty, date(2026, 10, 30))
    not_yet = build_case(app, name="陳二")
    _overdue_since(app, not_yet, date(2026, 11, 29))
    with app.test_request_context("/"):
        assert settings.current().console_zone.key == CONSOLE_ZONE
        links = {url_for("agent.case", case_id=b.case_id): b.case_id for b in (thirty, not_yet)}
    add_staff(app, email="agent@haohuan.example", roles=("agent",))
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert staff_sign_in(client, email="agent@haohuan.example").status_code == 303

    queue = client.get("/agent/?dpd=1-30").get_data(as_text=True)
    in_queue = {case_id for link, case_id in links.items() if f'href="{link}"' in queue}
    assert in_queue == {not_yet.case_id}
    preview = client.get("/agent/bulk?preview=1&channel=sms&dpd=1-30").get_data(as_text=True)
    assert re.search(r"Cases in the segment</dt><dd class=\"num\">1<", preview)
    assert client.post("/agent/bulk", data={"channel": "sms", "dpd": "1-30"}).status_code == 303
    with app.app_context():
        sent_to = set(db.session().scalars(select(Message.case_id)))
    assert sent_to == in_queue
