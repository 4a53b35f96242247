"""Languages: chosen by script, switched on every page, and catalogs that cannot go stale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.core.catalogs import inherited
from portal.core.i18n import supported_for

from .factories import build_case, sign_in

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
LOCALES = ("zh_Hant_TW", "zh_Hans_CN", "en")
# Characters only Simplified Chinese writes, and their Traditional forms: a Traditional
# catalog holds none of the first, a Simplified one none of the second.
SIMPLIFIED_ONLY = (
    "们这还说时发经为与过东车门见长开关问钱认让请进给页额贷账户费号码电话邮确设务选择线处"
)
TRADITIONAL_ONLY = (
    "們這還說時發經為與過東車門見長開關問錢認讓請進給頁額貸賬戶費號碼電話郵確設務選擇線處"
)
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-TW", "zh_Hant_TW"),
        ("zh-HK", "zh_Hant_HK"),
        ("zh-MO", "zh_Hant_HK"),
        ("zh-Hant", "zh_Hant_TW"),
        ("zh-Hant-HK", "zh_Hant_HK"),
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
    page = client.get("/", headers={"Accept-Language": "fr;q=1, zh-TW;q=0.9, en;q=0.5"})
    assert '<html lang="zh-Hant-TW">' in page.get_data(as_text=True)
    page = client.get("/", headers={"Accept-Language": "fr;q=1, zh-HK;q=0.9, en;q=0.5"})
    assert '<html lang="zh-Hant-HK">' in page.get_data(as_text=True)
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


def test_the_requests_catalog_follows_a_forced_or_refreshed_locale(app):
    """The catalog kept for a request (portal.core.i18n.RequestCatalog) is the one of the
    locale in force: inside force_locale, after it, and after a refresh."""
    from flask_babel import force_locale, gettext, lazy_gettext, refresh

    label = lazy_gettext("Sign out")
    with app.test_request_context("/?lang=zh_Hans_CN"):
        app.preprocess_request()
        simplified = gettext("Sign out")
        assert simplified != "Sign out"
        assert str(label) == simplified
        with force_locale("en"):
            assert gettext("Sign out") == "Sign out"
            assert str(label) == "Sign out"
            with force_locale("zh_Hant_TW"):
                traditional = gettext("Sign out")
        assert traditional not in ("Sign out", simplified)
        assert gettext("Sign out") == str(label) == simplified
        refresh()
        assert gettext("Sign out") == simplified
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        assert gettext("Sign out") == "Sign out"


def _key(message) -> tuple[str, str | None]:
    """A message's identity: its id (a plural's singular) and its context."""
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return str(msgid), message.context


def _messages(path: Path) -> dict[tuple[str, str | None], object]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {_key(message): message for message in catalog if message.id}


def _keywords() -> list[str]:
    """The extraction keywords, as the Makefile gives them to pybabel."""
    makefile = (ROOT / "Makefile").read_text("utf-8")
    line = re.search(r"^KEYWORDS := (.*)$", makefile, flags=re.M).group(1)
    return line.split()


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
            *_keywords(),
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
        wanted = set(PLACEHOLDER.findall(key[0]))
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


def _strings(catalog) -> list[tuple[str, str]]:
    """Every (English, translation) pair of a catalog, plural forms one by one."""
    pairs = []
    for message in catalog:
        if not message.id:
            continue
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        pairs += [(_key(message)[0], text) for text in texts]
    return pairs


def _catalog(locale: str):
    if locale == "zh_Hant_HK":
        return inherited("zh_Hant_HK", "zh_Hant_TW")
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


# Words that are wrong in a region's catalog (a pattern each), with the right one. Each
# was found by a reviewer; the list keeps them from coming back.
REGION_WRONG = {
    "zh_Hant_TW": [
        ("聯繫", "聯絡"),
        ("支付服務商", "金流服務商"),
        ("以電話跟進", "致電與您聯絡"),
        ("短信", "簡訊"),
        ("信息", "資訊 or 訊息"),
        ("賬戶", "帳戶"),
        ("身份證", "身分證"),
        ("網絡", "網路"),
        ("數據", "資料"),
        ("仲裁", "支付命令 or 訴訟 (Taiwan's path)"),
        ("毀約", "未履行"),
        ("已結清", "已結案 (a closed case), or name what was paid"),
    ],
    "zh_Hans_CN": [
        ("联络", "联系"),
        ("栏位", "内容 or 字段"),
        ("资料", "信息"),
        ("多付款", "溢缴款"),
        ("支付第一期还款", "完成首期还款"),
        ("仲裁或法院", "仲裁或诉讼"),
        ("违约(?!金)", "未履行"),
        ("已结清", "已结案"),
        ("讯息|网路|帐户|登入|预设|连结|列印|透过|简讯|资讯|点选", "mainland wording"),
    ],
    "zh_Hant_HK": [
        ("簡訊", "短訊"),
        ("身分證", "身份證"),
        ("國定假日", "公眾假期"),
        ("帳戶", "賬戶"),
        ("支付命令", "向法院提出申索"),
        ("金流", "支付平台"),
    ],
}


# The legal track's milestones of the mainland's path (issue 19) name arbitration in
# every language: staff in Taiwan see a mainland case's steps as they are.
_OTHER_MARKETS = {"仲裁": ("Arbitral award", "Arbitration application filed")}


def _names_another_markets_path(english: str, wrong: str) -> bool:
    return english in _OTHER_MARKETS.get(wrong, ())


@pytest.mark.parametrize("locale", sorted(REGION_WRONG))
def test_no_region_wrong_terms(locale):
    found = [
        (wrong, right, english)
        for english, text in _strings(_catalog(locale))
        for wrong, right in REGION_WRONG[locale]
        if re.search(wrong, text) and not _names_another_markets_path(english, wrong)
    ]
    assert not found, f"{locale}: " + "; ".join(f"{w} → {r} in {e!r}" for w, r, e in found[:5])


@pytest.mark.parametrize(
    ("locale", "wrong"),
    [
        ("zh_Hant_TW", SIMPLIFIED_ONLY),
        ("zh_Hant_HK", SIMPLIFIED_ONLY),
        ("zh_Hans_CN", TRADITIONAL_ONLY),
    ],
)
def test_each_catalog_keeps_to_its_script(locale, wrong):
    found = [
        (english, text) for english, text in _strings(_catalog(locale)) if set(text) & set(wrong)
    ]
    assert not found, f"{locale}: {found[:3]}"


def test_one_term_per_concept():
    """A hold is 暫緩, a disputed debt 異議 (爭議 only for card disputes), the schedule one
    word, a first payment 完成首期还款, one greeting form in Simplified Chinese."""
    for locale, hold, dispute, schedule in (
        ("zh_Hant_TW", "暫緩", "異議", "還款計畫表"),
        ("zh_Hans_CN", "暂缓", "异议", "还款计划表"),
    ):
        for english, text in _strings(_catalog(locale)):
            if re.search(r"\b[Hh]old\b", english):
                assert hold in text, f"{locale}: a hold is {hold}: {english!r} → {text!r}"
            # A debt disputed by the borrower (a hold's reason), not a card dispute.
            if re.search(r"(?i)disput", english) and re.search(
                r"(?i)debt|hardship|your dispute|on hold: dispute|^dispute$", english
            ):
                assert dispute in text, f"{locale}: a disputed debt is {dispute}: {english!r}"
            if re.search(r"(?i)\bschedule\b(?! it)", english):
                assert schedule in text, f"{locale}: the schedule is {schedule}: {english!r}"
            # A plan is a 方案; 計畫 names only the schedule (還款計畫表).
            assert not re.search(schedule[:-1] + "(?!表)", text), f"{locale}: {text!r}"
    greetings = {
        re.sub(r"%\(name\)s", "N", text)
        for english, text in _strings(_catalog("zh_Hans_CN"))
        if re.match(r"(Dear|Hello|Welcome),? %\(name\)s", english)
    }
    assert {g.rstrip("：") for g in greetings} == {"N，您好"}, greetings


def test_a_source_string_used_in_two_senses_has_a_context_for_each():
    """The same English word meaning two things is two messages, told apart by context."""
    catalog = _messages(TRANSLATIONS / "zh_Hant_TW" / "LC_MESSAGES" / "messages.po")
    for sense, other in (
        (("Kept", "promise status"), ("Kept", None)),  # a promise kept / money kept
        (("To", "recipient"), ("To", None)),  # a recipient / a date range's end
        (("Open", "promise status"), ("Open", "case status")),
        (("Broken", "promise status"), ("Broken", "plan status")),
        (("Email", "channel"), ("Email", "address")),
        (("Reference", "a borrower's"), ("Reference", None)),  # a customer / a payment
        (("Paid", "installment status"), ("Paid", None)),  # paid off / the amount paid
        (("Waived", "installment status"), ("Waived", None)),
    ):
        assert sense in catalog, sense
        assert other in catalog, other
    assert catalog[("Kept", "promise status")].string == "已履行"
    assert catalog[("Kept", None)].string == "實收"
    # "Record" is only a verb now (the case page's "Record" heading became its tabs),
    # and keeps its context should the noun come back.
    assert catalog[("Record", "verb")].string == "記錄"
    assert catalog[("To", "recipient")].string == "收件人"
    assert catalog[("Open", "promise status")].string == "待履行"
    assert catalog[("Broken", "promise status")].string == "未履行"
    assert catalog[("Resolved", "case status")].string == "已結案"
    simplified = _messages(TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po")
    assert simplified[("Email", "channel")].string == "电子邮件"
    assert simplified[("Email", "address")].string == "电子邮箱"


def test_legal_wording_follows_the_market():
    def legal(locale):
        return next(
            text
            for english, text in _strings(_catalog(locale))
            if "legal action" in english and "three months" in english
        )

    assert "支付命令" in legal("zh_Hant_TW")
    assert "仲裁" not in legal("zh_Hant_TW")
    assert "仲裁或诉讼" in legal("zh_Hans_CN")
    assert "申索" in legal("zh_Hant_HK")
    assert "支付命令" not in legal("zh_Hant_HK")


def test_hong_kong_overrides_only_what_differs_and_follow_the_source():
    """Each override names a message Taiwan's catalog has (a changed source string must
    take its override along), and differs from Taiwan's translation."""
    with (TRANSLATIONS / "zh_Hant_HK" / "LC_MESSAGES" / "overrides.po").open("rb") as handle:
        overrides = read_po(handle)
    taiwan = _messages(TRANSLATIONS / "zh_Hant_TW" / "LC_MESSAGES" / "messages.po")
    assert len(overrides) > 0
    for override in overrides:
        if not override.id:
            continue
        assert _key(override) in taiwan, f"override of a message gone: {override.id!r}"
        assert override.string != taiwan[_key(override)].string, override.id
        assert override.string, override.id
        assert not override.fuzzy, override.id


BRITISH = re.compile(
    r"(?i)\b(cancelled|cancelling|towards|instalments?|colour|behaviour|favour|honour|"
    r"centre|licence|cheque|enrol|fulfil|organis\w*|recognis\w*|authoris\w*|realis\w*|"
    r"apologis\w*|summaris\w*|prioritis\w*|whilst|amongst)\b"
)


def test_one_english_spelling_system():
    """What readers read in English, every page and the documentation, is in US spelling
    (canceled, toward, installment): no British forms. (Code names such as a "cancelled"
    status stored in the database are not prose.)"""
    template = _messages(TRANSLATIONS / "messages.pot")
    found = [
        key
        for key, message in template.items()
        for text in (message.id if isinstance(message.id, tuple) else (message.id,))
        if BRITISH.search(text)
    ]
    for document in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for number, line in enumerate(document.read_text("utf-8").splitlines(), 1):
            if BRITISH.search(re.sub(r"`[^`]*`", "", line)):
                found.append((document.name, number, line.strip()))
    assert not found, found


def test_the_english_source_says_what_it_means():
    template = set(_messages(TRANSLATIONS / "messages.pot"))
    for stale in ("Need a look", "Most fees waived", "Address", "Cancelled"):
        assert (stale, None) not in template
    assert ("Minimum first payment (share of the overdue amount)", None) in template
    assert ("IP address", None) in template
    assert ("Needs review", None) in template


def test_taiwans_credit_bureau_is_named_only_in_the_messages_that_say_the_lender_reports_to_it():
    for english, text in _strings(_catalog("zh_Hant_TW")):
        assert ("聯徵" in text) == ("JCIC" in english), english
