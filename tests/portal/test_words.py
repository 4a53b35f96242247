"""Words per reader: the lender's name, phone and hours by language and market, Hong Kong's
catalog for Hong Kong borrowers, and separators that belong to the language (issue 12,
items 30, 40 and 42)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_babel import force_locale

from negotiation.contact import Channel
from portal.core import db
from portal.core.i18n import zoned_time
from portal.letters.content import letter_for
from portal.messaging.compose import compose
from portal.models import Case
from portal.web.agent.views import borrower_clock

from .factories import NOW, build_case, sign_in
from .test_i18n import SIMPLIFIED_ONLY, TRADITIONAL_ONLY

ROOT = Path(__file__).resolve().parents[2]
TAIWAN_PHONE = "0800-000-123"


# The lender's name, phone and hours ------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "currency", "brand", "phone", "lang"),
    [
        ("zh_Hant_TW", "TWD", "好還 Haohuan Finance", TAIWAN_PHONE, "zh-Hant-TW"),
        ("zh_Hans_CN", "CNY", "好还 Haohuan Finance", "400-000-0123", "zh-Hans-CN"),
        ("zh_Hant_TW", "HKD", "好還 Haohuan Finance", "+852 3000 0123", "zh-Hant-HK"),
        ("en", "HKD", "好還 Haohuan Finance", "+852 3000 0123", "en"),
    ],
)
def test_the_brand_and_the_phone_follow_the_language_and_the_market(
    app, client, locale, currency, brand, phone, lang
):
    name = "王芳" if locale == "zh_Hans_CN" else "陳怡君"
    built = build_case(app, locale=locale, currency=currency, name=name)
    pages = [client.get(f"/r/{built.token}").get_data(as_text=True)]
    sign_in(client, built)
    pages.append(client.get("/status").get_data(as_text=True))
    for html in pages:
        assert f'<html lang="{lang}">' in html
        assert f'<span class="brand">{brand}</span>' in html
        assert f"· {brand}</title>" in html
        assert phone in html
        if currency != "TWD":
            assert TAIWAN_PHONE not in html, "a Taiwan 0800 number outside Taiwan"
        if locale == "zh_Hans_CN":
            assert "好還" not in html
        # Every word in the page's own script (the language switch names the others).
        text = re.sub(r'<nav class="languages".*?</nav>', "", html, flags=re.S)
        wrong = {"zh-Hans-CN": TRADITIONAL_ONLY, "zh-Hant-TW": SIMPLIFIED_ONLY}.get(lang)
        wrong = SIMPLIFIED_ONLY if lang == "zh-Hant-HK" else wrong
        if wrong:
            assert not set(text) & set(wrong), sorted(set(text) & set(wrong))


def test_a_simplified_page_never_shows_the_traditional_brand_to_a_visitor(app, client):
    html = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "好还 Haohuan Finance" in html
    assert "好還" not in html


def test_messages_name_the_lender_and_its_phone_for_the_borrowers_market(app):
    for locale, currency, sms_name, phone, wrong in (
        ("zh_Hans_CN", "CNY", "好还 Haohuan", "400-000-0123", "好還"),
        ("zh_Hant_TW", "HKD", "好還 Haohuan", "+852 3000 0123", "簡訊"),
    ):
        built = build_case(app, locale=locale, currency=currency)
        with app.test_request_context("/", headers={"Accept-Language": "en"}):
            session = db.session()
            case = session.get(Case, built.case_id)
            sms = compose(session, case, Channel.SMS, NOW, link="https://x/r/t", opt_out="o")
            email = compose(session, case, Channel.EMAIL, NOW, link="https://x/r/t", opt_out="o")
        assert sms.text.startswith(sms_name)
        assert wrong not in sms.text + email.text
        assert phone in email.text
        assert TAIWAN_PHONE not in email.text
    assert sms.locale == "zh_Hant_HK"
    assert "短訊" in sms.text  # "To stop SMS from us", in Hong Kong's word


# Hong Kong's catalog ---------------------------------------------------------------------


def test_a_hong_kong_borrower_reads_hong_kong_wording(app, client):
    built = build_case(app, locale="zh_Hant_TW", currency="HKD")
    html = client.get(f"/r/{built.token}").get_data(as_text=True)
    assert '<html lang="zh-Hant-HK">' in html
    assert "身份證號碼" in html
    assert "身分證字號" not in html
    # Everything Hong Kong does not override is Taiwan's translation.
    assert "確認您的身份" in html or "出生日期" in html
    # The switch shows Traditional Chinese as the current language, and switching to it
    # again keeps Hong Kong's wording.
    assert '<span aria-current="true" lang="zh-Hant-TW">繁體中文</span>' in html
    sign_in(client, built)
    client.get("/status?lang=en")
    again = client.get("/status?lang=zh_Hant_TW").get_data(as_text=True)
    assert '<html lang="zh-Hant-HK">' in again
    assert "HK$" in again


def test_a_taiwan_borrower_keeps_taiwan_wording(app, client):
    built = build_case(app, locale="zh_Hant_TW", currency="TWD")
    html = client.get(f"/r/{built.token}", headers={"Accept-Language": "zh-HK"}).get_data(
        as_text=True
    )
    assert '<html lang="zh-Hant-TW">' in html
    assert "身分證字號" in html


def test_a_hong_kong_letter_is_in_hong_kong_wording(app):
    built = build_case(app, locale="zh_Hant_TW", currency="HKD")
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        content = letter_for(db.session(), case, NOW, "https://x/r/t")
    assert content.locale == "zh_Hant_HK"
    text = content.plain_text()
    assert "+852 3000 0123" in text
    assert TAIWAN_PHONE not in text
    assert "支付命令" not in text


# Separators built in code ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "colon", "comma"), [("zh_Hant_TW", "：", "，"), ("zh_Hans_CN", "：", "，")]
)
def test_a_letters_plain_text_uses_the_languages_colon_and_comma(app, locale, colon, comma):
    app.config["LENDER_ADDRESS"] = "台北市信義區松仁路 100 號\n10 樓"
    built = build_case(app, locale=locale)
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        text = letter_for(db.session(), case, NOW, "https://x/r/t").plain_text()
    for line in text.splitlines():
        if "://" in line or not re.search(r"[\u4e00-\u9fff]", line):
            continue
        assert ": " not in line, line
        assert ", " not in line, line
    assert f"{colon}____" in text
    assert f"Haohuan Finance{comma}台北市" in text


def test_zone_names_take_the_languages_parentheses(app):
    moment = NOW
    with app.test_request_context("/"):
        with force_locale("zh_Hant_TW"):
            chinese = (zoned_time(moment, "Asia/Taipei"), borrower_clock("Asia/Taipei", moment))
        with force_locale("en"):
            english = (zoned_time(moment, "Asia/Taipei"), borrower_clock("Asia/Taipei", moment))
    for shown in chinese:
        assert shown.endswith("（台北）")
    for shown in english:
        assert shown.endswith(" (Taipei)")


TAG = re.compile(r"<[^<>]*>")


def _flatten(text: str) -> str:
    """A template's text as it reads: comments gone, whitespace control applied, branches
    (elif, else) and tags as breaks, other statements transparent."""
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    text = re.sub(r"\s*\{%-", "{%", text)
    text = re.sub(r"-%\}\s*", "%}", text)
    text = re.sub(r"\s*\{\{-", "{{", text)
    text = re.sub(r"-\}\}\s*", "}}", text)
    text = re.sub(r"\{% *(?:elif|else)\b.*?%\}", "\x00", text, flags=re.S)
    text = re.sub(r"\{%.*?%\}", "\x02", text, flags=re.S)
    return TAG.sub("\x00", text)


# ASCII ": , ; ." or parentheses written beside an output ({{ ... }}) outside a tag: the punctuation
# of one language put around words translated into another.
JOINED = re.compile(
    r"\}\}[\x00\x02]*[ \t]*[:,;](?=[ \t\n]|$|\{\{)"
    r"|\}\}[\x00\x02]*\.(?=\s|$)"
    r"|[^\s\x00\x02>][ \t]*[:,;][ \t]+\x02*\{\{"
    r"|\(\{\{|\}\}\)",
    re.M,
)
# A literal space before a translated sentence that follows another output: a space in
# the middle of Chinese text (use gap()).
SPACED = re.compile(r"\}\}[\s\x02]*\s[\s\x02]*\{\{ *(?:_|ngettext|pgettext)\(")


def test_templates_put_no_ascii_punctuation_or_spaces_around_translated_text():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = _flatten(path.read_text("utf-8"))
        for pattern in (JOINED, SPACED):
            for match in pattern.finditer(text):
                shown = text[max(0, match.start() - 50) : match.end() + 30]
                found.append(f"{path.relative_to(ROOT)}: {shown!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("bureau", "currency", "named"),
    [("jcic", "TWD", True), ("", "TWD", False), ("jcic", "HKD", False)],
)
def test_the_credit_bureau_is_named_only_where_the_lender_reports_to_it(
    app, client, bureau, currency, named
):
    app.config["CREDIT_BUREAU"] = bureau
    built = build_case(app, locale="zh_Hant_TW", currency=currency, days_past_due=10)
    sign_in(client, built)
    html = client.get("/status").get_data(as_text=True)
    assert ("聯徵中心" in html) is named
    assert ("徵信機構" in html) is not named


def test_a_promise_reads_as_a_promise_and_the_opt_out_button_as_an_action(app):
    from .test_calls_and_promises import agent, promise, text_of

    built = build_case(app)
    client = agent(app)
    assert promise(client, built.case_id, "2026-12-05", "1500").status_code == 303
    calls = text_of(client.get(f"/agent/cases/{built.case_id}/calls?lang=zh_Hant_TW"))
    assert "待履行" in calls  # an open promise, not 處理中 (a case being processed)
    assert "處理中" not in calls
    page = client.get(f"/agent/cases/{built.case_id}?section=messages&lang=zh_Hant_TW")
    page = page.get_data(as_text=True)
    button = re.search(r'<button type="submit" class="secondary">記錄</button>', page)
    assert button, "the opt-out form's button says 記錄 (record it), not 案件資料"
