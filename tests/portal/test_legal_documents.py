"""The legal track's documents: the final notice read back in each language (the parties,
the claim itemized and summing exactly to its total, the deadline, the link and its QR
code, the page in one script), the draft payment order application read back in the
court's Traditional Chinese (the parties, the claim, the blank legal basis, 草稿), and
the staff's routes: roles, audit entries, 404 and translated refusals."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.core import db
from portal.core.i18n import long_date, money
from portal.letters.legal import (
    LegalCost,
    LegalDocument,
    court_money,
    legal_document,
    legal_facts,
    render_payment_order_application,
)
from portal.models import AuditEntry, Case, StaffMember

from .factories import NOW, TODAY, add_plan, add_staff, build_case, staff_sign_in
from .test_i18n import SIMPLIFIED_ONLY, TRADITIONAL_ONLY
from .test_letters import ADDRESSES, PUBLIC, compact, qr_codes, text_of

AGENT = "agent@haohuan.example"
SUPERVISOR = "supervisor@haohuan.example"
LATE = 120
# Phrases each language's notice must have, and the script its page must keep out.
PHRASES = {
    "zh_Hant_TW": (("最後通知", "您的期限", "還款方案", "請求總額"), SIMPLIFIED_ONLY),
    "zh_Hans_CN": (("最后通知", "您的期限", "还款方案", "请求总额"), TRADITIONAL_ONLY),
    "en": (("Final notice before legal action", "Your deadline", "Total claimed"), "逾期欠款"),
}


@pytest.fixture
def extra_config():
    return {"PUBLIC_URL": PUBLIC, "LENDER_ADDRESS": "台北市信義區松仁路 100 號\n10 樓"}


def legal_case(app, locale="zh_Hant_TW", days_past_due=LATE, **kwargs):
    """A late-stage case whose borrower has a postal address."""
    name, postal, currency, zone = ADDRESSES[locale]
    kwargs.setdefault("currency", currency)
    built = build_case(
        app, locale=locale, name=name, timezone=zone, days_past_due=days_past_due, **kwargs
    )
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.postal_address = postal
        session.commit()
    return built


def client_as(app, email, roles):
    add_staff(app, email, roles)
    client = app.test_client()
    assert staff_sign_in(client, email).status_code == 303
    return client


def final_notice(client, case_id):
    return client.post(f"/agent/cases/{case_id}/legal/final-notice.pdf")


def application(client, case_id):
    return client.get(f"/agent/cases/{case_id}/legal/payment-order-application.pdf")


def court_amounts(app, facts):
    """Each claimed line and the total as the court's form writes them (新臺幣…元)."""
    with app.test_request_context("/"):
        parts = [amount for _part, amount in facts.claim] + [c.amount for c in facts.costs]
        amounts = [court_money(amount, facts.currency) for amount in parts]
        return amounts, court_money(facts.total, facts.currency)


def facts_of(app, built, locale, **kwargs):
    """The case's facts, and each claimed line and the total as ``locale`` writes them."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        facts = legal_facts(session, case, NOW, TODAY + timedelta(days=14), **kwargs)
        with force_locale(locale):
            amounts = [money(amount, facts.currency) for _part, amount in facts.claim]
            amounts += [money(cost.amount, facts.currency) for cost in facts.costs]
            return facts, amounts, money(facts.total, facts.currency)


# The final notice ----------------------------------------------------------------------


def test_the_claim_is_itemized_and_sums_exactly_to_its_total(app):
    built = legal_case(app)
    costs = (LegalCost("court_fee", TODAY, 50_000), LegalCost("postage", TODAY, 43_300))
    facts, _amounts, _total = facts_of(app, built, "zh_Hant_TW", costs=costs)
    parts = [amount for _part, amount in facts.claim] + [cost.amount for cost in facts.costs]
    assert facts.total == sum(parts)
    assert all(amount > 0 for amount in parts)
    assert facts.stage == "late"


@pytest.mark.parametrize("locale", ["zh_Hant_TW", "zh_Hans_CN", "en"])
def test_the_final_notice_reads_back_in_the_borrowers_language(app, locale):
    built = legal_case(app, locale)
    response = final_notice(client_as(app, AGENT, ("agent",)), built.case_id)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    text = text_of(response.data)
    flat = compact(text)
    facts, amounts, total = facts_of(app, built, locale)
    with app.test_request_context("/"), force_locale(locale):
        deadline = long_date(TODAY + timedelta(days=14))
    name, postal, _currency, _zone = ADDRESSES[locale]
    wanted = [name, postal, facts.loan_number, *amounts, total, deadline, facts.lender.phone]
    for value in wanted:
        assert compact(value) in flat, (value, text)
    phrases, wrong_script = PHRASES[locale]
    for phrase in phrases:
        assert compact(phrase) in flat, phrase
    assert not set(flat) & set(wrong_script), set(flat) & set(wrong_script)
    # How to pay: a fresh link to this case, printed and in the QR code.
    links = re.findall(re.escape(PUBLIC) + r"/r/[A-Za-z0-9_-]{20,}", text)
    assert len(links) == 1, text
    assert qr_codes(response.data) == links


def test_the_final_notice_says_a_payment_or_a_plan_stops_the_action_in_taiwan_wording(app):
    built = legal_case(app, "zh_Hant_TW")
    pdf = final_notice(client_as(app, AGENT, ("agent",)), built.case_id).data
    flat = compact(text_of(pdf))
    for phrase in ("或與我們議定還款方案，法律程序就會停止", "暫緩", "20日內", "提出異議"):
        assert phrase in flat, phrase


def test_the_final_notice_itemises_legal_costs_with_their_dates(app):
    built = legal_case(app, "zh_Hans_CN")
    costs = (LegalCost("court_fee", TODAY - timedelta(days=3), 50_000),)
    facts, amounts, total = facts_of(app, built, "zh_Hans_CN", costs=costs)
    with app.test_request_context("/"):
        from portal.letters.legal import render_final_notice

        pdf = render_final_notice(facts, "zh_Hans_CN")
        with force_locale("zh_Hans_CN"):
            day = long_date(TODAY - timedelta(days=3))
    flat = compact(text_of(pdf))
    for value in (*amounts, total, "诉讼费", day):
        assert compact(value) in flat, value
    assert "支付命令" not in flat  # a mainland loan: no Taiwan procedure named


# The draft application to the court ----------------------------------------------------


def between(flat: str, start: str, end: str) -> str:
    """The text from ``start`` to ``end``, the pages' draft marks and numbers left out."""
    flat = re.sub(r"草稿(·第\d+頁，共\d+頁)?", "", flat)
    return flat[flat.index(start) + len(start) : flat.index(end)]


def test_the_application_reads_back_in_the_courts_form(app):
    built = legal_case(app, "zh_Hant_TW")
    response = application(client_as(app, SUPERVISOR, ("agent", "supervisor")), built.case_id)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    flat = compact(text_of(response.data))
    facts, _amounts, _total = facts_of(app, built, "zh_Hant_TW")
    amounts, total = court_amounts(app, facts)
    assert total.startswith("新臺幣")
    assert total.endswith("元")
    form = (
        "民事支付命令聲請狀",
        "聲請人（債權人）",
        "相對人（債務人）",
        "請求標的",
        "請求之原因事實",
        "證據",
        "此致",
        "臺灣○○地方法院",
        "中華民國115年11月30日",
        "草稿",
    )
    for phrase in form:
        assert phrase in flat, phrase
    address = ADDRESSES["zh_Hant_TW"][1].replace("\n", "，")
    parties = ("Haohuan", "陳怡君", address, "台北市信義區松仁路100號，10樓")
    for value in (*parties, facts.loan_number, *amounts, total):
        assert compact(value) in flat, value
    assert not set(flat) & set(SIMPLIFIED_ONLY)


def test_the_applications_legal_basis_is_left_blank_for_counsel(app):
    built = legal_case(app, "zh_Hant_TW")
    response = application(client_as(app, SUPERVISOR, ("agent", "supervisor")), built.case_id)
    flat = compact(text_of(response.data))
    # Under its heading, the legal basis holds the blank's mark and nothing else.
    assert between(flat, "法律依據（法條及契約條款）", "證據") == "【待律師填寫】"
    # The interest after the claim, the respondent's ID and the notice's date: blank too.
    assert flat.count("【待律師填寫】") >= 6
    assert "遞狀前請補全所有標示「【待律師填寫】」的欄位" in flat


def test_the_application_itemises_legal_costs_and_the_total_is_their_sum(app):
    built = legal_case(app, "zh_Hant_TW")
    costs = (LegalCost("court_fee", TODAY, 50_000), LegalCost("other", TODAY, 12_300))
    facts, _amounts, _total = facts_of(app, built, "zh_Hant_TW", costs=costs)
    amounts, total = court_amounts(app, facts)
    with app.test_request_context("/"):
        pdf = render_payment_order_application(replace(facts, notice_sent=date(2026, 11, 2)))
    flat = compact(text_of(pdf))
    for value in (*amounts, total, "裁判費", "其他法律費用", "中華民國115年11月2日"):
        assert compact(value) in flat, value


# The routes ---------------------------------------------------------------------------


def audit_actions(app, case_id):
    with app.app_context():
        query = select(AuditEntry.action).where(AuditEntry.case_id == case_id)
        return list(db.session().scalars(query))


def test_each_download_is_audited(app):
    built = legal_case(app, "zh_Hant_TW")
    client = client_as(app, SUPERVISOR, ("agent", "supervisor"))
    assert final_notice(client, built.case_id).status_code == 200
    assert application(client, built.case_id).status_code == 200
    actions = audit_actions(app, built.case_id)
    assert actions == ["legal.final_notice", "legal.payment_order_application"]


def test_unknown_cases_are_404_and_only_supervisors_draw_the_application(app):
    built = legal_case(app, "zh_Hant_TW")
    agent = client_as(app, AGENT, ("agent",))
    assert final_notice(agent, 999_999).status_code == 404
    assert application(agent, built.case_id).status_code == 403
    finance = client_as(app, "finance@haohuan.example", ("finance",))
    assert final_notice(finance, built.case_id).status_code == 403
    supervisor = client_as(app, SUPERVISOR, ("agent", "supervisor"))
    assert application(supervisor, 999_999).status_code == 404


def refusal(response):
    assert response.status_code == 409
    return response.get_data(as_text=True)


def test_a_case_before_the_late_stage_gets_a_translated_refusal(app):
    built = legal_case(app, "zh_Hant_TW", days_past_due=47)
    client = client_as(app, AGENT, ("agent",))
    page = refusal(client.post(f"/agent/cases/{built.case_id}/legal/final-notice.pdf?lang=en"))
    assert "not in the late stage" in page
    chinese = refusal(
        client.post(f"/agent/cases/{built.case_id}/legal/final-notice.pdf?lang=zh_Hant_TW")
    )
    assert "尚未進入逾期後期" in chinese
    assert audit_actions(app, built.case_id)[-1] == "legal.refused"


def test_a_case_on_hold_or_with_an_active_plan_gets_no_document(app):
    held = legal_case(app, "zh_Hant_TW", hold="hardship")
    arranged = legal_case(app, "zh_Hans_CN")
    add_plan(app, arranged.case_id, "active", currency="CNY")
    client = client_as(app, AGENT, ("agent",))
    assert "暫緩" in refusal(final_notice(client, held.case_id))
    assert "還款方案正在進行" in refusal(final_notice(client, arranged.case_id))


def test_a_payment_order_is_drawn_only_for_a_taiwan_loan(app):
    built = legal_case(app, "zh_Hans_CN")
    client = client_as(app, SUPERVISOR, ("agent", "supervisor"))
    assert "新臺幣" in refusal(application(client, built.case_id))
    assert final_notice(client, built.case_id).status_code == 200


def test_the_service_refuses_without_drawing_and_records_why(app):
    built = legal_case(app, "zh_Hant_TW", days_past_due=47)
    add_staff(app, AGENT, ("agent",))
    with app.test_request_context("/"):
        session = db.session()
        member = session.scalars(select(StaffMember).where(StaffMember.email == AGENT)).one()
        case = session.get(Case, built.case_id)
        result = legal_document(session, case, member, NOW, LegalDocument.FINAL_NOTICE)
    assert not hasattr(result, "pdf")
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.case_id == built.case_id))
            .one()
        )
        assert entry.details == {"document": "final-notice", "reasons": ["not_late_stage"]}


# The case page's section ------------------------------------------------------------------


def section(client, case_id):
    page = client.get(f"/agent/cases/{case_id}/sections/legal_documents?lang=en")
    assert page.status_code == 200
    return " ".join(page.get_data(as_text=True).split())


def test_the_case_section_offers_each_document_to_whom_may_draw_it(app):
    built = legal_case(app, "zh_Hant_TW")
    supervisor = section(client_as(app, SUPERVISOR, ("agent", "supervisor")), built.case_id)
    assert f'action="/agent/cases/{built.case_id}/legal/final-notice.pdf"' in supervisor
    assert f'href="/agent/cases/{built.case_id}/legal/payment-order-application.pdf"' in supervisor
    agent = section(client_as(app, AGENT, ("agent",)), built.case_id)
    assert "final-notice.pdf" in agent
    assert "payment-order-application.pdf" not in agent
    assert "A supervisor downloads the draft application." in agent


def test_the_case_section_says_why_a_case_may_not_have_them(app):
    built = legal_case(app, "zh_Hans_CN", days_past_due=47)
    page = section(client_as(app, SUPERVISOR, ("agent", "supervisor")), built.case_id)
    assert "legal/" not in page
    assert "No final notice can be drawn now." in page
    assert page.count("not in the late stage") == 2
    assert "not in Taiwan dollars" in page


def test_the_final_notices_plain_text_holds_the_claim_the_deadline_and_the_link(app):
    built = legal_case(app, "zh_Hant_TW")
    link = f"{PUBLIC}/r/a-token-of-twenty-chars"
    facts, amounts, total = facts_of(app, built, "zh_Hant_TW", link_url=link)
    with app.test_request_context("/"):
        from portal.letters.legal import final_notice_words

        text = final_notice_words(facts, "zh_Hant_TW").plain_text()
    assert f"請求總額：{total}" in text
    for value in (*amounts, "您的期限：2026年12月14日", link, facts.lender.phone):
        assert value in text, value


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        (2_295_000, "TWD", "新臺幣22,950元"),
        (2_295_050, "TWD", "新臺幣22,950.50元"),
        (2_295_050, "CNY", "CN¥22,950.50"),
    ],
)
def test_the_courts_form_writes_taiwan_dollars_as_pleadings_do(app, amount, currency, written):
    with app.test_request_context("/"), force_locale("zh_Hant_TW"):
        assert court_money(amount, currency) == written


def test_no_final_notice_is_drawn_for_a_borrower_who_opted_out_of_letters(app):
    # The notice carries a link to the borrower's case: the contact gate must allow a
    # letter, as for the reminder letter; no link is issued when it does not.
    from negotiation.contact import Channel
    from portal.contact.gate import record_opt_out
    from portal.models import ReminderLink

    built = legal_case(app)
    with app.app_context():
        record_opt_out(db.session(), built.borrower_id, Channel.LETTER, NOW, "agent", AGENT)
        db.session().commit()
        links_before = len(db.session().scalars(select(ReminderLink.id)).all())
    response = final_notice(client_as(app, AGENT, ("agent",)), built.case_id)
    assert response.status_code == 409
    assert "聯絡規則目前不允許寄信" in response.get_data(as_text=True)
    with app.app_context():
        assert len(db.session().scalars(select(ReminderLink.id)).all()) == links_before
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "legal.refused"))
            .one()
        )
        assert entry.details["reasons"] == ["contact_rules"]
