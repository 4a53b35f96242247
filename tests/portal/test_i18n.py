"""Languages: chosen by script, switched on every page, and catalogs that cannot go stale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.core.i18n import supported_for

from .factories import build_case, sign_in

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
LOCALES = ("zh_Hant_TW", "zh_Hans_CN", "en")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-TW", "zh_Hant_TW"),
        ("zh-HK", "zh_Hant_TW"),
        ("zh-MO", "zh_Hant_TW"),
        ("zh-Hant", "zh_Hant_TW"),
        ("zh-Hant-HK", "zh_Hant_TW"),
        ("zh_TW", "zh_Hant_TW"),
        ("zh-CN", "zh_Hans_CN"),
        ("zh-SG", "zh_Hans_CN"),
        ("zh-Hans", "zh_Hans_CN"),
        ("zh-Hans-TW", "zh_Hans_CN"),  # the script decides, not the territory
        ("zh", "zh_Hans_CN"),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr-FR", None),
        ("not a tag", None),
        ("", None),
    ],
)
def test_chinese_is_chosen_by_script(tag, expected):
    assert supported_for(tag) == expected


def test_accept_language_picks_the_first_supported_script(app, client):
    page = client.get("/", headers={"Accept-Language": "fr;q=1, zh-HK;q=0.9, en;q=0.5"})
    assert '<html lang="zh-Hant-TW">' in page.get_data(as_text=True)
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans-CN">' in page.get_data(as_text=True)


def test_the_borrowers_stored_language_then_the_switch(app, client):
    built = build_case(app, locale="zh_Hans_CN")
    sign_in(client, built)
    status = client.get("/status", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in status
    switched = client.get("/status?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in switched
    assert "What you owe" in switched
    # The switch is remembered for the rest of the session.
    assert '<html lang="en">' in client.get("/plans").get_data(as_text=True)
    traditional = client.get("/status?lang=zh_Hant_TW").get_data(as_text=True)
    assert "逾期" in traditional
    assert "NT$" not in traditional or "$" in traditional


def test_every_page_has_a_language_switch(app, client):
    built = build_case(app)
    pages = [client.get("/"), client.get(f"/r/{built.token}")]
    sign_in(client, built)
    pages += [client.get(p) for p in ("/status", "/plans", "/pay", "/help")]
    for page in pages:
        html = page.get_data(as_text=True)
        assert len(re.findall(r'href="/[^"]*\?(?:[^"]*&amp;)?lang=', html)) == 2  # the others
        assert 'aria-current="true"' in html


def test_switching_language_keeps_the_plan_being_reviewed(app, client):
    built = build_case(app)
    sign_in(client, built)
    query = "kind=arrears_plan&installments=4&frequency=monthly&first_due_date=2026-11-30"
    html = client.get(f"/plans/review?{query}").get_data(as_text=True)
    english = re.search(r'href="([^"]*lang=en[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "installments=4" in english
    page = client.get(english).get_data(as_text=True)
    assert "Spread the overdue amount" in page
    assert page.count("<tr><td>") == 4  # the same four payments
    # A review with no plan in its address goes back to the options.
    assert client.get("/plans/review?lang=en").status_code == 303


def test_money_and_dates_follow_the_language(app, client):
    built = build_case(app, locale="en", days_past_due=10)
    sign_in(client, built)
    english = client.get("/status").get_data(as_text=True)
    assert "NT$11,450" not in english  # only one installment overdue at 10 days
    assert "NT$5,950" in english  # NT$5,500, the NT$300 fee and the NT$150 penalty
    assert "December 20, 2026" in english
    chinese = client.get("/status?lang=zh_Hant_TW").get_data(as_text=True)
    assert "2026年12月20日" in chinese


def _messages(path: Path) -> dict[str, object]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {str(message.id): message for message in catalog if message.id}


def test_messages_pot_is_up_to_date(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(TRANSLATIONS / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(fresh),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    committed = set(_messages(TRANSLATIONS / "messages.pot"))
    current = set(_messages(fresh))
    assert current - committed == set(), "new strings: run `make translations`"
    assert committed - current == set(), "strings no longer used: run `make translations`"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_string_is_translated_in_every_catalog(locale):
    template = _messages(TRANSLATIONS / "messages.pot")
    catalog = _messages(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po")
    assert set(template) <= set(catalog), (
        f"{locale} lacks: {sorted(set(template) - set(catalog))[:5]}"
    )
    for key, message in catalog.items():
        if key not in template:
            continue
        assert not message.fuzzy, f"{locale}: fuzzy {key!r}"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: untranslated {key!r}"
        wanted = set(PLACEHOLDER.findall(key if isinstance(key, str) else key[0]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted or (
                # A plural's singular may drop the number, as English "one payment".
                message.pluralizable and set(PLACEHOLDER.findall(text)) <= wanted
            ), f"{locale}: placeholders differ in {key!r}"


def test_traditional_chinese_uses_taiwan_wording():
    catalog = (TRANSLATIONS / "zh_Hant_TW" / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    strings = "".join(re.findall(r'^msgstr(?:\[\d\])? "(.*)"$', catalog, flags=re.M))
    for mainland, taiwan in (
        ("短信", "簡訊"),
        ("信息", "資訊"),
        ("賬戶", "帳戶"),
        ("身份證", "身分證"),
        ("網絡", "網路"),
    ):
        assert mainland not in strings, f"use {taiwan}, not {mainland}"
