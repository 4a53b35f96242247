"""The borrower's automatic payments pages, through the sandbox gateway: consent to the
mandate, the sandbox's card page, the return, the card shown, changed and removed; the
opt-in at acceptance; the status page's section; and what a tampered reference gets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from portal.core import db
from portal.models import Autopay, CardStatus, Plan, SavedCard
from portal.payments import autopay
from portal.payments.autopay import MANDATE_VERSION, shown_hash
from portal.payments.gateway import GatewayUnavailableError
from portal.web.payments import autopay_views

from .factories import build_case, sign_in
from .test_accessibility import parse
from .test_journey import first_review_link, review_form


def accept(client, *, autopay_ticked: bool = False) -> None:
    """Accept the arrears plan of the signed-in borrower (its consent ticked)."""
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(True))
    data = {**form, "consent": "y", **({"autopay": "y"} if autopay_ticked else {})}
    assert client.post("/plans/accept", data=data).location.endswith("/pay")


def pay_first(client) -> str:
    """Pay the plan's first installment on the sandbox's page; the result page's HTML."""
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    done = client.post(checkout, data={"outcome": "succeed"})
    return client.get(done.location).get_data(as_text=True)


def active_plan(app, client, locale: str = "en"):
    built = build_case(app, locale=locale)
    sign_in(client, built)
    accept(client)
    pay_first(client)
    return built


def save_card(client, card_page: str, last4: str = "4242"):
    """Choose a test card on the sandbox's card page; the return page's response."""
    chosen = client.post(card_page, data={"card": last4})
    assert chosen.status_code == 303
    assert "/autopay/return?setup=" in chosen.location
    return client.get(chosen.location)


def only(app, model):
    with app.app_context():
        return db.session().scalars(select(model)).all()


def mandate_of(html: str) -> str:
    """The mandate's words as the page showed them: what the consent's hash is of."""
    found = re.search(r'<div class="mandate">.*?</div>', html, flags=re.S)
    assert found
    return " ".join(unescape(re.sub(r"<[^>]*>", " ", found.group(0))).split())


def test_a_borrower_turns_automatic_payments_on_from_the_status_page(app, client):
    active_plan(app, client)
    status = client.get("/status").get_data(as_text=True)
    assert "Automatic payments" in status
    assert 'href="/autopay"' in status

    page = client.get("/autopay")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Each payment is charged to your card on its due date" in html
    assert "we try again 3 days later" in html
    assert "we send you a link" in html
    assert "turn automatic payments off at any time" in html
    assert "it is not charged again" in html
    assert "Alipay" not in html  # TWD: cards only anyway

    # Without the box ticked, nothing is recorded.
    refused = client.post("/autopay", data={})
    assert refused.status_code == 422
    assert only(app, Autopay) == []

    agreed = client.post("/autopay", data={"consent": "y"})
    assert agreed.status_code == 303
    card_page = urlsplit(agreed.location).path
    assert card_page.startswith("/sandbox/card/sbxs_")
    [mandate] = only(app, Autopay)
    assert mandate.status == "pending"
    assert mandate.terms_version == MANDATE_VERSION
    assert mandate.locale == "en"
    assert mandate.shown_hash == shown_hash(mandate_of(html))

    sandbox = client.get(card_page).get_data(as_text=True)
    assert sandbox.count('type="radio"') == 5
    assert "Every charge succeeds." in sandbox

    back = save_card(client, card_page)
    assert back.status_code == 303
    assert back.location.endswith("/status#autopay-title")
    [mandate] = only(app, Autopay)
    [card] = only(app, SavedCard)
    assert mandate.status == "on"
    assert mandate.card_id == card.id
    assert card.last4 == "4242"

    status = client.get("/status").get_data(as_text=True)
    assert "Automatic payments are on: card •••• 4242." in status
    assert "Visa •••• 4242" in status
    assert "Next charge:" in status
    shown = client.get("/autopay").get_data(as_text=True)
    assert "Expires 12/2034" in shown
    assert "Change card" in shown
    assert "Turn off automatic payments" in shown
    assert 'name="consent"' not in shown


def test_turning_off_removes_the_card_and_the_status_page_says_so(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    save_card(client, urlsplit(agreed.location).path)
    client.get("/status")  # the flashed message
    assert "Visa •••• 4242" in client.get("/status").get_data(as_text=True)

    off = client.post("/autopay/off")
    assert off.location.endswith("/status#autopay-title")
    status = client.get("/status").get_data(as_text=True)
    assert "Automatic payments are off." in status
    assert "Off. Have each installment charged" in status
    [mandate] = only(app, Autopay)
    [card] = only(app, SavedCard)
    assert mandate.status == "off"
    assert card.status == CardStatus.REMOVED
    # Turned on again: the mandate is asked for once more, and a card with it.
    again = client.post("/autopay", data={"consent": "y"})
    assert "/sandbox/card/" in again.location


def test_changing_the_card_replaces_it(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    save_card(client, urlsplit(agreed.location).path)
    change = client.post("/autopay/card")
    assert change.status_code == 303
    save_card(client, urlsplit(change.location).path, "9995")
    cards = {card.last4: card.status for card in only(app, SavedCard)}
    assert cards == {"4242": CardStatus.REMOVED, "9995": CardStatus.ACTIVE}
    [mandate] = only(app, Autopay)
    assert mandate.status == "on"
    assert "•••• 9995" in client.get("/autopay").get_data(as_text=True)


def test_a_second_consent_with_a_card_on_file_is_on_at_once(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    card_page = urlsplit(agreed.location).path
    save_card(client, card_page)
    # The same form posted again (a second tab): the one mandate, no second card.
    again = client.post("/autopay", data={"consent": "y"})
    assert again.location.endswith("/status#autopay-title")
    assert len(only(app, Autopay)) == 1
    assert len(only(app, SavedCard)) == 1
    # The return page reloaded after the card was saved: the mandate page, nothing more.
    reload = client.get("/autopay/return?setup=whatever")
    assert reload.location.endswith("/autopay")
    assert len(only(app, SavedCard)) == 1


def test_a_tampered_or_another_borrowers_setup_gets_a_404(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    card_page = urlsplit(agreed.location).path
    reference = card_page.rsplit("/", 1)[1]
    tampered = reference[:-1] + ("0" if reference[-1] != "0" else "1")
    assert client.get(f"/sandbox/card/{tampered}").status_code == 404
    assert client.post(f"/sandbox/card/{tampered}", data={"card": "4242"}).status_code == 404
    assert client.get("/autopay/return?setup=sbxc_1_2_4242_0000").status_code == 404
    assert client.get("/autopay/return").status_code == 404
    # A chosen card signed for this setup but edited to another card.
    chosen = client.post(card_page, data={"card": "0341"}).location
    edited = chosen.replace("_0341_", "_4242_")
    assert client.get(edited).status_code == 404
    assert only(app, SavedCard) == []

    # Another borrower's setup, on this borrower's session.
    other = app.test_client()
    other_built = build_case(app, locale="en", name="Other Borrower")
    sign_in(other, other_built)
    accept(other)
    pay_first(other)
    theirs = urlsplit(other.post("/autopay", data={"consent": "y"}).location).path
    assert client.get(theirs).status_code == 404
    assert client.post(theirs, data={"card": "4242"}).status_code == 404
    their_choice = other.post(theirs, data={"card": "4242"}).location
    assert client.get(their_choice).status_code == 404
    assert only(app, SavedCard) == []
    # Their own return still works.
    assert other.get(their_choice).status_code == 303
    assert [card.borrower_id for card in only(app, SavedCard)] == [other_built.borrower_id]


def test_stripes_card_page_is_not_served_by_the_sandbox(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    reference = urlsplit(agreed.location).path.rsplit("/", 1)[1]
    assert client.get(f"/autopay/card/{reference}").status_code == 404


def test_every_change_needs_the_csrf_token(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    card_page = urlsplit(agreed.location).path
    app.config["WTF_CSRF_ENABLED"] = True
    for path, data in (
        ("/autopay", {"consent": "y"}),
        ("/autopay/card", {}),
        ("/autopay/off", {}),
        (card_page, {"card": "4242"}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    [mandate] = only(app, Autopay)
    assert mandate.status == "pending"
    assert only(app, SavedCard) == []


def test_the_forms_work_without_javascript(app, client):
    """Every autopay form is a plain POST with its token, its button inside it."""
    active_plan(app, client)
    app.config["WTF_CSRF_ENABLED"] = True  # the forms carry their tokens
    pages = [client.get("/autopay").get_data(as_text=True)]
    app.config["WTF_CSRF_ENABLED"] = False
    agreed = client.post("/autopay", data={"consent": "y"})
    app.config["WTF_CSRF_ENABLED"] = True
    pages.append(client.get("/status").get_data(as_text=True))
    pages.append(client.get("/autopay").get_data(as_text=True))
    pages.append(client.get(agreed.location).get_data(as_text=True))
    for html in pages:
        document = parse(html)
        forms = [
            form
            for form in document.find_all("form")
            if "autopay" in form.attrs.get("action", "") or "sandbox" in form.attrs["action"]
        ]
        assert forms
        for form in forms:
            assert form.attrs["method"] == "post"
            assert form.find_all("input", name="csrf_token")
            assert form.find_all("button", type="submit")
        assert "/static/checkout" not in html  # no Stripe.js on the sandbox path


def test_no_plan_explains_and_links_to_the_options(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    page = client.get("/autopay")
    assert page.status_code == 200
    assert 'href="/plans"' in page.get_data(as_text=True)
    assert client.post("/autopay", data={"consent": "y"}).location.endswith("/autopay")
    assert client.post("/autopay/card").location.endswith("/autopay")
    assert only(app, Autopay) == []
    assert "autopay-title" not in client.get("/status").get_data(as_text=True)


def test_an_unreachable_gateway_is_a_calm_503(app, client, monkeypatch):
    active_plan(app, client)

    def down(*_args):
        raise GatewayUnavailableError("timeout")

    monkeypatch.setattr(autopay_views, "begin_setup", down)
    page = client.post("/autopay", data={"consent": "y"})
    assert page.status_code == 503
    assert "Your card was not saved, and nothing was charged." in page.get_data(as_text=True)
    assert only(app, SavedCard) == []


def test_opting_in_at_acceptance_then_adding_the_card_after_the_first_payment(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    review = client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True)
    assert "Pay each installment automatically from a card" in review
    assert "<details>" in review
    form = review_form(review)
    accepted = client.post("/plans/accept", data={**form, "consent": "y", "autopay": "y"})
    assert accepted.location.endswith("/pay")
    [mandate] = only(app, Autopay)
    assert mandate.status == "pending"
    assert mandate.shown_hash == shown_hash(mandate_of(review))

    result = pay_first(client)
    assert "Add your card for automatic payments" in result
    [plan] = only(app, Plan)
    assert plan.status == "active"
    assert "Add your card" in client.get("/status").get_data(as_text=True)
    added = client.post("/autopay/card")
    save_card(client, urlsplit(added.location).path)
    [mandate] = only(app, Autopay)
    assert mandate.status == "on"


def test_accepting_without_the_box_records_no_mandate(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    accept(client)
    assert only(app, Autopay) == []
    assert "Add your card for automatic payments" not in pay_first(client)


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ("Automatic payments", "Each payment is charged")),
        ("zh_Hant_TW", ("自動扣款", "信用卡")),
        ("zh_Hans_CN", ("自动扣款", "银行卡")),
    ],
)
def test_the_mandate_reads_in_each_language(app, client, locale, words):
    built = build_case(app, locale=locale, currency="CNY" if locale == "zh_Hans_CN" else "TWD")
    sign_in(client, built)
    accept(client)
    pay_first(client)
    html = client.get(f"/autopay?lang={locale}").get_data(as_text=True)
    for word in words:
        assert word in html, word
    if locale != "en":
        assert "Each payment is charged" not in mandate_of(html)
    if locale == "zh_Hans_CN":
        assert "支付宝" in mandate_of(html)  # CNY: the wallets stay one-off


def test_the_status_page_follows_autopay_as_it_changes(app, client):
    """The kept status page is made again when autopay changes, by any path."""
    active_plan(app, client)
    assert "Off. Have each installment" in client.get("/status").get_data(as_text=True)
    agreed = client.post("/autopay", data={"consent": "y"})
    assert "Add your card to start them" in client.get("/status").get_data(as_text=True)
    save_card(client, urlsplit(agreed.location).path)
    client.get("/status")  # shows, and takes, the flashed message
    assert "Visa •••• 4242" in client.get("/status").get_data(as_text=True)
    with app.app_context():
        database = db.session()
        database.execute(text("UPDATE saved_cards SET last4 = '1111'"))
        database.commit()
    assert "Visa •••• 1111" in client.get("/status").get_data(as_text=True)
    with app.app_context():
        database = db.session()
        database.execute(text("UPDATE autopays SET status = 'off'"))
        database.commit()
    assert "Off. Have each installment" in client.get("/status").get_data(as_text=True)


def test_a_declined_charge_is_shown_with_the_way_to_pay(app, client):
    active_plan(app, client)
    agreed = client.post("/autopay", data={"consent": "y"})
    save_card(client, urlsplit(agreed.location).path, "0341")
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        due = sorted(row.due_date for row in plan.installments)[1]
        # 10:00 in Taipei on the second installment's date.
        moment = datetime.combine(due, datetime.min.time(), UTC) + timedelta(hours=2)
        counts = autopay.run(db.session(), moment, as_of=due)
    assert counts.declined == 1
    status = client.get("/status").get_data(as_text=True)
    assert "was declined. You can pay it yourself now." in status
    assert 'href="/pay"' in status
