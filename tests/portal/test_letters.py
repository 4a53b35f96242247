"""Printed letters: the PDF in each language read back (amounts, the deadline, the link,
the QR code decoded from the rendered page), the window of the envelope, the fonts, and
the agent's route through the contact gate."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta

import pypdf
import pypdfium2
import pytest
import zxingcpp
from flask_babel import force_locale
from reportlab.lib.units import mm
from sqlalchemy import func, select

from negotiation.contact import Channel
from portal.access.verification import LinkState, find_link
from portal.cases.facts import view_case
from portal.contact.gate import record_opt_out
from portal.core import db
from portal.core.i18n import long_date, money
from portal.letters.content import letter_for
from portal.letters.fonts import KNOWN_FONTS, letter_fonts
from portal.letters.pdf import render_pdf
from portal.models import AuditEntry, Case, ContactAttempt, Message, ReminderLink

from .factories import NOW, TODAY, add_plan, add_staff, build_case, staff_sign_in

PUBLIC = "https://portal.haohuan.example"
AGENT = "agent@haohuan.example"
ADDRESSES = {
    "zh_Hant_TW": ("陳怡君", "106 台北市大安區\n忠孝東路四段 100 號 5 樓", "TWD", "Asia/Taipei"),
    "zh_Hans_CN": ("王芳", "上海市浦东新区\n世纪大道 100 号 25 楼 2501 室", "CNY", "Asia/Shanghai"),
    "en": (
        "Chan Ka Yan",
        "Flat 12B, Tower 3, Harbour View Gardens\n23 Tai Hang Road\nCauseway Bay, Hong Kong",
        "HKD",
        "Asia/Hong_Kong",
    ),
}
# Phrases only the right script has: "overdue" and "repayment plan" in each script.
PHRASES = {
    "zh_Hant_TW": (("逾期", "還款方案", "回條"), ("还款方案", "回执")),
    "zh_Hans_CN": (("逾期", "还款方案", "回执"), ("還款方案", "回條")),
    "en": (("Total overdue", "repayment plan", "Reply slip"), ("逾期",)),
}
# Words that tell of a debt, in every language: none may show through the window.
DEBT_WORDS = ("逾期", "欠款", "還款", "还款", "貸款", "贷款", "overdue", "debt", "loan", "Loan")


@pytest.fixture
def extra_config():
    return {"PUBLIC_URL": PUBLIC}


def letter_case(app, locale="zh_Hant_TW", address=True, **kwargs):
    """A case whose borrower has a postal address (unless ``address`` is False)."""
    name, postal, currency, zone = ADDRESSES[locale]
    built = build_case(app, locale=locale, name=name, currency=currency, timezone=zone, **kwargs)
    if address:
        with app.app_context():
            session = db.session()
            session.get(Case, built.case_id).loan.borrower.postal_address = postal
            session.commit()
    return built


def agent_client(app):
    add_staff(app, AGENT, ("agent",))
    client = app.test_client()
    assert staff_sign_in(client, AGENT).status_code == 303
    return client


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def fonts_of(pdf: bytes) -> list:
    """Every font the pages use, as PDF dictionaries."""
    return [
        font.get_object()
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()
    ]


def compact(text: str) -> str:
    """Without whitespace: Chinese lines wrap between any two characters."""
    return re.sub(r"\s+", "", text)


def qr_codes(pdf: bytes) -> list[str]:
    """Every QR code on the rendered pages (rendered at 200 dpi, as a scan would be)."""
    document = pypdfium2.PdfDocument(pdf)
    found = []
    for page in document:
        image = page.render(scale=200 / 72).to_pil()
        found += [r.text for r in zxingcpp.read_barcodes(image) if r.format.name == "QRCode"]
    document.close()
    return found


def expected(app, built, locale):
    """The figures the letter must state, formatted as the status page formats them."""
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        view = view_case(db.session(), case, TODAY)
        upcoming = next(e for e in view.timeline if not e.past)
        deadline = max(upcoming.date, TODAY + timedelta(days=14))
        with force_locale(locale):
            return {
                "total": money(view.snapshot.arrears.total, case.loan.currency),
                "penalties": money(view.snapshot.arrears.penalties, case.loan.currency),
                "deadline": long_date(deadline),
                "number": case.loan.number,
            }


# The letter in each language -------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh_Hant_TW", "zh_Hans_CN", "en"])
def test_the_printed_letter_reads_back_in_the_borrowers_language(app, locale):
    built = letter_case(app, locale)
    client = agent_client(app)
    response = client.post(f"/agent/cases/{built.case_id}/letter")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    pdf = response.data
    assert pdf.startswith(b"%PDF")
    text = text_of(pdf)
    want = expected(app, built, locale)
    flat = compact(text)
    for value in (want["number"], want["total"], want["penalties"], want["deadline"]):
        assert compact(value) in flat, (value, text)
    present, absent = PHRASES[locale]
    for phrase in present:
        assert compact(phrase) in flat if locale != "en" else phrase in " ".join(text.split())
    for phrase in absent:
        assert phrase not in flat
    # The link is printed whole, is a fresh link to this very case, and is what the QR
    # code on the page says.
    links = re.findall(re.escape(PUBLIC) + r"/r/[A-Za-z0-9_-]{20,}", text)
    assert len(links) == 1, text
    assert qr_codes(pdf) == links
    with app.app_context():
        state, link = find_link(db.session(), links[0].rsplit("/", 1)[1], NOW)
        assert state is LinkState.USABLE
        assert link.case_id == built.case_id


def test_a_letter_in_traditional_chinese_says_so_in_taiwan_wording(app):
    built = letter_case(app, "zh_Hant_TW")
    pdf = agent_client(app).post(f"/agent/cases/{built.case_id}/letter").data
    flat = compact(text_of(pdf))
    taiwan = (
        "逾期總額",
        "本金",
        "利息",
        "手續費",
        "違約金",
        "如果情況沒有改變",
        "我對這筆欠款有異議",
    )
    for phrase in taiwan:
        assert phrase in flat, phrase


def test_the_window_of_the_envelope_shows_the_name_and_address_only(app):
    built = letter_case(app, "zh_Hant_TW")
    pdf = agent_client(app).post(f"/agent/cases/{built.case_id}/letter").data
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    height = float(page.mediabox.height)
    seen: list[str] = []

    def in_window(text, cm, tm, _font, _size):
        x, y = cm[4] + tm[4], cm[5] + tm[5]
        # A DL window, generously: 15 to 115 mm from the left, 40 to 95 mm from the top.
        if 15 * mm <= x <= 115 * mm and height - 95 * mm <= y <= height - 40 * mm:
            seen.append(text)

    page.extract_text(visitor_text=in_window)
    shown = "".join(seen)
    assert compact(shown) == compact("陳怡君" + ADDRESSES["zh_Hant_TW"][1])
    for word in DEBT_WORDS:
        assert word not in shown


def letter_content(app, built, locale, link="https://portal.haohuan.example/r/token"):
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        return letter_for(db.session(), case, NOW, link)


def test_letters_in_the_standard_cjk_fonts_read_back_and_name_the_right_cmaps(app):
    app.config["LETTER_FONT"] = "cid"
    for locale, face, cmap in (
        ("zh_Hant_TW", "/MSung-Light", "/UniCNS-UCS2-H"),
        ("zh_Hans_CN", "/STSong-Light", "/UniGB-UCS2-H"),
    ):
        content = letter_content(app, letter_case(app, locale), locale)
        with app.app_context():
            pdf = render_pdf(content)
        fonts = fonts_of(pdf)
        encodings = {font["/BaseFont"]: font.get("/Encoding") for font in fonts}
        # reportlab pairs MSung-Light with the GB CMap by default: the wrong glyphs.
        assert encodings[face] == cmap
        assert not any("/FontFile2" in font.get("/FontDescriptor", {}) for font in fonts)
        flat = compact(text_of(pdf))
        assert compact(content.total[1]) in flat
        assert PHRASES[locale][0][1] in flat


def test_each_character_is_set_in_a_face_that_has_it(app):
    app.config["LETTER_FONT"] = "cid"
    with app.app_context():
        traditional, simplified = letter_fonts("zh_Hant_TW"), letter_fonts("zh_Hans_CN")
    assert [traditional.face_for(c) for c in "A$還还"] == [
        "Helvetica", "Helvetica", "MSung-Light", "STSong-Light",
    ]  # fmt: skip
    assert [simplified.face_for(c) for c in "9¥还還"] == [
        "Helvetica", "Helvetica", "STSong-Light", "STSong-Light",
    ]  # fmt: skip
    markup = traditional.markup("NT$1 <還> 还")
    assert markup == (
        'NT$1 &lt;<font face="MSung-Light">還</font>&gt; <font face="STSong-Light">还</font>'
    )


def truetype_font():
    for path, _faces in KNOWN_FONTS:
        try:
            open(path, "rb").close()
        except OSError:
            continue
        return path
    return None


# CI installs Debian's fonts-wqy-zenhei and sets HAOHUAN_TEST_LETTER_FONT, so there the
# test runs, and fails loudly if the font is missing.
@pytest.mark.skipif(
    truetype_font() is None and not os.environ.get("HAOHUAN_TEST_LETTER_FONT"),
    reason="no TrueType CJK font on this machine (CI sets HAOHUAN_TEST_LETTER_FONT)",
)
def test_a_configured_truetype_font_is_embedded_and_reads_back(app):
    font = truetype_font()
    assert font is not None, "HAOHUAN_TEST_LETTER_FONT is set but no TrueType CJK font is installed"
    app.config["LETTER_FONT"] = font
    content = letter_content(app, letter_case(app, "zh_Hans_CN"), "zh_Hans_CN")
    with app.app_context():
        pdf = render_pdf(content)
    embedded = [font for font in fonts_of(pdf) if "/FontFile2" in font.get("/FontDescriptor", {})]
    assert embedded
    assert all("/ToUnicode" in font for font in embedded)
    assert "还款方案" in compact(text_of(pdf))


def test_a_font_that_cannot_be_embedded_falls_back_to_the_standard_fonts(app, tmp_path):
    broken = tmp_path / "not-a-font.ttf"
    broken.write_bytes(b"OTTO not really a font")
    app.config["LETTER_FONT"] = str(broken)
    content = letter_content(app, letter_case(app, "zh_Hant_TW"), "zh_Hant_TW")
    with app.app_context():
        pdf = render_pdf(content)
    assert "還款方案" in compact(text_of(pdf))


def test_a_long_address_is_fitted_into_the_window_and_a_letter_spills_onto_numbered_pages(app):
    built = letter_case(app, "en")
    content = letter_content(app, built, "en")
    long_address = (
        "Chan Ka Yan",
        "Flat 12B, 38th Floor, Tower 3, Harbour View Gardens East Wing",
        "23-25 Tai Hang Road, Tai Hang",
        "Causeway Bay",
        "Hong Kong Island",
        "Hong Kong SAR",
    )
    with app.app_context():
        from dataclasses import replace

        pdf = render_pdf(replace(content, address_lines=long_address))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert pages >= 2
    assert f"Page {pages} of {pages}" in reader.pages[-1].extract_text()
    assert "Hong Kong SAR" in reader.pages[0].extract_text()
    # The reply slip is whole, on the last page.
    last = reader.pages[-1].extract_text()
    for words in ("Reply slip", "I will pay on", "I dispute this debt", "Signature"):
        assert words in last


@pytest.mark.parametrize("days_past_due", [29, 47, 119])
def test_a_letters_deadline_allows_for_the_post(app, days_past_due):
    """Whatever happens next, and however soon, the letter never asks the borrower to
    act sooner than the policy's 14 days after its date."""
    built = letter_case(app, "en", days_past_due=days_past_due)
    content = letter_content(app, built, "en")
    with app.test_request_context("/"):
        view = view_case(db.session(), db.session().get(Case, built.case_id), TODAY)
        upcoming = next(e for e in view.timeline if not e.past)
        with force_locale("en"):
            want = long_date(max(upcoming.date, TODAY + timedelta(days=14)))
            too_soon = [
                long_date(TODAY + timedelta(days=d))
                for d in range(14)
                if TODAY + timedelta(days=d) != max(upcoming.date, TODAY + timedelta(days=14))
            ]
    assert content.deadline == f"Please act before {want}."
    assert not any(day in content.deadline for day in too_soon)
    if days_past_due == 29:
        # The credit report is tomorrow; the letter still gives the post its 14 days.
        assert upcoming.date == TODAY + timedelta(days=1)
        assert want == "December 14, 2026"


def test_the_plain_text_copy_holds_the_letter(app):
    content = letter_content(app, letter_case(app, "en"), "en")
    text = content.plain_text()
    for part in (content.total[1], content.link_url, content.deadline, "Reply slip"):
        assert part in text


# The route -------------------------------------------------------------------------------


def rows(app, model, **where):
    with app.app_context():
        query = select(model).filter_by(**where)
        return list(db.session().scalars(query))


def test_printing_records_the_message_the_contact_and_the_audit_entry(app):
    built = letter_case(app, "zh_Hant_TW")
    response = agent_client(app).post(f"/agent/cases/{built.case_id}/letter")
    assert response.status_code == 200
    number = expected(app, built, "zh_Hant_TW")["number"]
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="letter-{number}-2026-11-30.pdf"'
    assert "陳" not in disposition
    assert response.headers["Cache-Control"] == "no-store"
    token = re.search(r"/r/([A-Za-z0-9_-]{20,})", text_of(response.data)).group(1)

    [message] = rows(app, Message, case_id=built.case_id)
    assert (message.channel, message.status, message.provider, message.purpose) == (
        "letter", "sent", "print", "reminder",
    )  # fmt: skip
    assert message.address == "106 台北市大安區，忠孝東路四段 100 號 5 樓"  # a Chinese comma
    assert message.created_by == AGENT
    assert message.locale == "zh_Hant_TW"
    assert message.send_at.replace(tzinfo=UTC) == message.sent_at.replace(tzinfo=UTC) == NOW
    assert number in message.body
    assert "逾期" in message.body
    assert token not in message.body  # a link's token is never stored
    assert f"{PUBLIC}/r/…" in message.body
    [link] = rows(app, ReminderLink, id=message.link_id)
    assert link.case_id == built.case_id

    [attempt] = rows(app, ContactAttempt, case_id=built.case_id)
    assert (attempt.channel, attempt.agent, attempt.message_id) == ("letter", AGENT, message.id)
    assert attempt.outcome == "sent"
    [entry] = rows(app, AuditEntry, action="letter.print")
    assert (entry.actor, entry.case_id, entry.details["message_id"]) == (
        AGENT, built.case_id, message.id,
    )  # fmt: skip
    with app.app_context():
        case = db.session().get(Case, built.case_id)
        assert case.last_contact_at.replace(tzinfo=UTC) == NOW


def refused(app, client, built, status=409):
    response = client.post(f"/agent/cases/{built.case_id}/letter")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert rows(app, Message, case_id=built.case_id) == []
    assert rows(app, ContactAttempt, case_id=built.case_id) == []
    [entry] = rows(app, AuditEntry, action="letter.refused", case_id=built.case_id)
    return response.get_data(as_text=True), entry


def test_a_case_on_hold_gets_no_letter(app):
    built = letter_case(app, "en", hold="dispute")
    client = agent_client(app)
    client.get("/?lang=en")
    page, entry = refused(app, client, built)
    assert "The case is on hold" in page
    assert "Waiting does not make a letter allowed" in page
    assert entry.details["reasons"] == ["on_hold"]


def test_a_borrower_who_opted_out_of_letters_gets_none(app):
    built = letter_case(app, "en")
    with app.app_context():
        record_opt_out(db.session(), built.borrower_id, Channel.LETTER, NOW, "agent", AGENT)
        db.session().commit()
    client = agent_client(app)
    client.get("/?lang=en")
    page, entry = refused(app, client, built)
    assert "The borrower has opted out of this channel." in page
    assert entry.details["reasons"] == ["opted_out"]


def test_no_letter_is_posted_in_a_holiday_blackout_and_the_page_says_from_when(app):
    # 10:00 in Shanghai during China's 2027 Spring Festival blackout (5 to 13 February).
    app.config["HAOHUAN_NOW"] = datetime(2027, 2, 8, 2, 0, tzinfo=UTC).isoformat()
    built = letter_case(app, "zh_Hans_CN")
    client = agent_client(app)
    client.get("/?lang=en")
    page, entry = refused(app, client, built)
    assert "public holiday blackout" in page
    assert "A letter is allowed from Feb 14, 2027" in page
    assert entry.details["reasons"] == ["holiday_blackout"]


def test_letters_are_not_bound_by_the_hours_or_the_message_caps(app):
    # 23:30 in Taipei: no call or message is allowed, a letter is.
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(hours=13, minutes=30)).isoformat()
    built = letter_case(app, "zh_Hant_TW")
    client = agent_client(app)
    for _ in range(3):
        assert client.post(f"/agent/cases/{built.case_id}/letter").status_code == 200
    assert len(rows(app, Message, case_id=built.case_id, channel="letter")) == 3


def test_a_borrower_without_a_postal_address_gets_a_clear_refusal(app):
    built = letter_case(app, "en", address=False)
    client = agent_client(app)
    client.get("/?lang=en")
    page, entry = refused(app, client, built)
    assert "There is no postal address for this borrower" in page
    assert entry.details["reasons"] == ["no_postal_address"]


def test_nothing_overdue_means_nothing_to_write(app):
    built = letter_case(app, "en", days_past_due=0)
    client = agent_client(app)
    client.get("/?lang=en")
    page, _entry = refused(app, client, built)
    assert "Nothing is overdue on this loan" in page


def test_an_active_plan_pauses_letters_and_a_pending_one_is_told(app):
    active = letter_case(app, "en")
    add_plan(app, active.case_id, "active", currency="HKD")
    client = agent_client(app)
    client.get("/?lang=en")
    page, entry = refused(app, client, active)
    assert "plan is active: collection is paused" in page
    assert entry.details["reasons"] == ["plan_active"]
    pending = letter_case(app, "en")
    add_plan(app, pending.case_id, "pending", currency="HKD")
    response = client.post(f"/agent/cases/{pending.case_id}/letter")
    assert response.status_code == 200
    assert "Your plan is waiting for its first payment." in " ".join(text_of(response.data).split())


def test_refusals_are_translated(app):
    built = letter_case(app, "zh_Hant_TW", hold="hardship")
    client = agent_client(app)
    client.get("/?lang=zh_Hant_TW")
    page, _entry = refused(app, client, built)
    assert "這封信無法寄出" in page


def test_unknown_cases_are_404_and_only_agents_may_print(app):
    built = letter_case(app, "en")
    client = agent_client(app)
    assert client.post("/agent/cases/999999/letter").status_code == 404
    assert client.post(f"/agent/cases/{2**70}/letter").status_code == 404
    add_staff(app, "finance@haohuan.example", ("finance",))
    finance = app.test_client()
    staff_sign_in(finance, "finance@haohuan.example")
    assert finance.post(f"/agent/cases/{built.case_id}/letter").status_code == 403
    signed_out = app.test_client().post(f"/agent/cases/{built.case_id}/letter")
    assert signed_out.status_code == 303
    with app.app_context():
        assert db.session().scalar(select(func.count(Message.id))) == 0


def test_the_print_form_needs_the_csrf_token(app):
    built = letter_case(app, "en")
    client = agent_client(app)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/agent/cases/{built.case_id}/letter").status_code == 400
    assert rows(app, Message, case_id=built.case_id) == []


# The case page's section -----------------------------------------------------------------


def section_html(app, built, member_email=AGENT):
    from flask import g, render_template

    from portal.staff.accounts import find_member
    from portal.web.agent.letter_views import letter_section

    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        session = db.session()
        member = find_member(session, member_email)
        g.staff = member
        context = letter_section(session, session.get(Case, built.case_id), member, NOW)
        return render_template("agent/_case_letter.html", **context)


def test_the_case_section_offers_the_button_and_lists_past_letters(app):
    built = letter_case(app, "en")
    client = agent_client(app)
    html = section_html(app, built)
    assert f'action="/agent/cases/{built.case_id}/letter"' in html
    assert 'name="csrf_token"' in html
    assert "No letter has been printed yet." in html
    assert client.post(f"/agent/cases/{built.case_id}/letter").status_code == 200
    html = section_html(app, built)
    assert AGENT in html
    assert "English" in html
    assert "Nov 30, 2026" in html


def test_the_case_section_says_why_no_letter_can_be_sent(app):
    built = letter_case(app, "en", address=False, hold="dispute")
    agent_client(app)
    html = section_html(app, built)
    assert "Print a letter" not in html
    assert "There is no postal address for this borrower" in html
    assert "The case is on hold" in html
