"""Headers, CSRF, and hostile input: another borrower's ids get nothing."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core import db
from portal.models import Offer, Payment, Plan

from .factories import NOW, build_case, sign_in
from .test_journey import first_review_link, review_form


def test_security_headers_on_every_page(app, client):
    built = build_case(app)
    pages = [client.get("/"), client.get(f"/r/{built.token}"), client.get("/r/" + "z" * 43)]
    sign_in(client, built)
    pages += [
        client.get(path) for path in ("/status", "/plans", "/pay", "/help", "/contact", "/callback")
    ]
    for response in pages:
        policy = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_no_inline_script_or_style_in_any_page(app, client):
    built = build_case(app)
    sign_in(client, built)
    for path in ("/status", "/plans", "/pay", "/help", "/contact", "/callback"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html
        assert " style=" not in html
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
        assert '"allowEval": false' in html


def test_htmx_history_cache_is_off_on_debt_pages(app, client):
    built = build_case(app)
    sign_in(client, built)
    assert '"historyCacheSize": 0' in client.get("/plans").get_data(as_text=True)


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_every_post_needs_the_csrf_token(csrf_app):
    client = csrf_app.test_client()
    built = build_case(csrf_app)
    refused = client.post(f"/r/{built.token}", data={"method": "id_last4", "answer": "6789"})
    assert refused.status_code == 400
    assert "expired" in refused.get_data(as_text=True).lower() or "過期" in refused.get_data(
        as_text=True
    )
    page = client.get(f"/r/{built.token}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = client.post(
        f"/r/{built.token}",
        data={"method": "id_last4", "answer": "6789", "csrf_token": token},
    )
    assert accepted.status_code == 303
    # The session is new after verification, and so is its token.
    assert client.post("/sign-out", headers={"X-CSRFToken": token}).status_code == 400
    status = client.get("/status").get_data(as_text=True)
    fresh = re.search(r'"X-CSRFToken": "([^"]+)"', status).group(1)
    # An htmx request carries the token in a header instead of a field.
    assert client.post("/sign-out").status_code == 400
    assert client.post("/sign-out", headers={"X-CSRFToken": fresh}).status_code == 303


def _other_borrowers_things(app, client):
    """A second borrower who accepted a plan, started a payment and has an offer."""
    other = build_case(app, name="林志明", date_of_birth="1990-01-01", id_last4="1111")
    sign_in(client, other)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    client.post("/pay", data={"purpose": "installment"})
    with app.app_context():
        session = db.session()
        offer = Offer(
            case_id=other.case_id,
            status="ready",
            terms={"kind": "arrears_plan", "installments": 6, "first_due_date": "2026-12-02"},
            created_by="agent",
            expires_at=NOW + timedelta(days=7),
        )
        session.add(offer)
        session.commit()
        payment = session.scalars(select(Payment)).one()
        return payment.id, payment.gateway_reference, offer.id


def test_another_borrowers_ids_get_404_on_every_route(app, client):
    payment_id, reference, offer_id = _other_borrowers_things(app, client)
    client.post("/sign-out")
    mine = build_case(app)
    sign_in(client, mine)
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("borrower", "sandbox")
    ]
    with app.app_context():
        plan_id = db.session().scalars(select(Plan.id)).one()  # the other borrower's
        case_id = db.session().scalars(select(Plan.case_id)).one()  # theirs too
    values = {
        "payment_id": payment_id,
        "reference": reference,
        "plan_id": plan_id,
        "case_id": case_id,
    }
    walked = 0
    for rule in rules:
        if not rule.arguments or rule.arguments == {"token"}:
            continue
        url = rule.build({name: values[name] for name in rule.arguments})[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method, data={"outcome": "succeed"})
            assert response.status_code == 404, (method, url)
            walked += 1
    assert walked >= 3
    stolen = f"/plans/review?kind=arrears_plan&installments=6&frequency=monthly&offer_id={offer_id}"
    assert client.get(stolen).status_code == 404
    accept = {
        "kind": "arrears_plan",
        "installments": "6",
        "frequency": "monthly",
        "offer_id": str(offer_id),
        "shown": "x",
        "consent": "y",
    }
    assert client.post("/plans/accept", data=accept).status_code == 404
    with app.app_context():
        # Nothing of the other borrower's changed.
        assert db.session().get(Payment, payment_id).status == "pending"
        assert db.session().get(Offer, offer_id).status == "ready"


def test_tampered_choices_are_recomputed_not_trusted(app, client):
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    tampered = {**form, "installments": "60", "consent": "y"}
    response = client.post("/plans/accept", data=tampered)
    assert response.status_code == 303
    assert response.location.endswith("/plans")  # refused, back to the options
    nonsense = {**form, "kind": "free_money", "consent": "y"}
    assert client.post("/plans/accept", data=nonsense).status_code == 303
    changed = {**form, "shown": "0" * 64, "consent": "y"}
    assert client.post("/plans/accept", data=changed).status_code == 409


def test_secrets_never_reach_the_logs(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    built = build_case(app, date_of_birth="1977-07-17", id_last4="4242")
    client.get(f"/r/{built.token}")
    client.post(f"/r/{built.token}", data={"method": "id_last4", "answer": "0000"})
    sign_in(client, built)
    client.get("/status")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (built.token, "1977-07-17", "4242", "912 345 678"):
        assert secret not in logged


def test_request_logs_redact_link_tokens():
    from portal.core.logs import RedactLinkTokens

    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 - "GET /r/%s HTTP/1.1" 200',
        ("abcDEF123_-" * 4,),
        None,
    )
    assert RedactLinkTokens().filter(record)
    assert "abcDEF123" not in record.getMessage()
    assert "/r/[redacted]" in record.getMessage()


def test_every_route_that_carries_a_token_is_redacted_in_request_logs(app):
    from portal.core.logs import RedactLinkTokens, token_prefixes

    carrying = [rule for rule in app.url_map.iter_rules() if "token" in rule.arguments]
    assert {rule.endpoint for rule in carrying} >= {
        "borrower.open_link",
        "borrower.verify_link",
        "optout.confirm",
        "optout.record",
    }
    assert token_prefixes(app) >= {"/r/", "/opt-out/"}
    secret = "Zq9_-x" * 8
    for rule in carrying:
        path = rule.rule.replace("<token>", secret)
        for method in ("GET", "POST", "HEAD"):
            record = logging.LogRecord(
                "gunicorn.access",
                logging.INFO,
                __file__,
                1,
                '203.0.113.9 - - "%s %s?lang=en HTTP/1.1" 200 512',
                (method, path),
                None,
            )
            assert RedactLinkTokens().filter(record)
            assert secret not in record.getMessage(), rule.rule
            assert "[redacted]?lang=en" in record.getMessage()


@pytest.mark.parametrize(
    "query",
    [
        "/pay/result/99999999999999999999",
        "/plans/review?kind=arrears_plan&installments=6&offer_id=99999999999999999999",
        "/plans/review?kind=arrears_plan&installments=6&first_due_date=9999-12-31",
        "/plans/calculate?kind=arrears_plan&installments=6&frequency=monthly&first_due_date=9999-12-31",
        "/plans/calculate?kind=arrears_plan&installments=6&frequency=monthly&first_due_date=0001-01-01",
        "/plans?kind=arrears_plan&installments=6&frequency=monthly&first_due_date=9999-12-31",
        "/plans/review?kind=arrears_plan&installments=99999999999999999999999",
        "/plans/review?kind=arrears_plan&installments=6&down_payment=-5",
    ],
)
def test_absurd_values_get_a_page_not_a_500(app, client, query):
    built = build_case(app)
    sign_in(client, built)
    response = client.get(query)
    assert response.status_code in (200, 303, 404), (query, response.status_code)


def test_absurd_posted_values_get_a_page_not_a_500(app, client):
    built = build_case(app)
    sign_in(client, built)
    for data in (
        {
            "kind": "arrears_plan",
            "installments": "6",
            "offer_id": "99999999999999999999",
            "consent": "y",
        },
        {
            "kind": "arrears_plan",
            "installments": "6",
            "first_due_date": "9999-12-31",
            "consent": "y",
        },
        {"kind": "arrears_plan", "installments": "1e9", "consent": "y"},
    ):
        assert client.post("/plans/accept", data=data).status_code in (303, 404), data
    for amount in ("1_000", "1E-2", "0", "+5", "１０００.５"):
        response = client.post("/pay", data={"purpose": "partial", "amount": amount})
        assert response.status_code in (303, 422), amount


@pytest.mark.parametrize(
    ("lang", "heading"),
    [("zh_Hant_TW", "送出的內容太多了"), ("zh_Hans_CN", "提交的内容太多了"), ("en", "too much")],
)
def test_a_body_past_the_limit_is_a_translated_413_and_changes_nothing(app, client, lang, heading):
    from portal.web.security import BODY_LIMIT

    built = build_case(app)
    client.get(f"/r/{built.token}?lang={lang}")
    response = client.post(
        f"/r/{built.token}",
        data={"method": "date_of_birth", "answer": "x" * (BODY_LIMIT + 1)},
    )
    assert response.status_code == 413
    assert heading in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    # Nothing was read, so nothing was counted: the link still takes the right answer.
    verified = client.post(
        f"/r/{built.token}", data={"method": "date_of_birth", "answer": built.date_of_birth}
    )
    assert verified.status_code == 303


@pytest.mark.parametrize(
    "path", ["/%5Cevil.example/x", "/%5C%5Cevil.example/", "//evil.example/x", "/%2F/evil.example"]
)
def test_language_links_on_any_page_stay_on_this_site(app, client, path):
    html = client.get(path).get_data(as_text=True)
    links = re.findall(r'href="([^"]*lang=[^"]*)"', html)
    assert links
    for link in links:
        assert link.startswith("/"), link
        assert not link.startswith(("//", "/\\")), link
        assert "evil.example" not in link.split("?", 1)[0], link


def test_language_links_keep_the_page_and_its_query(app, client):
    built = build_case(app)
    html = client.get(f"/r/{built.token}?lang=en&x=1").get_data(as_text=True)
    links = set(re.findall(r'href="([^"]*lang=[^"]*)"', html))
    assert f"/r/{built.token}?lang=zh_Hant_TW&amp;x=1" in links


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh_Hant_TW", "參考編號"), ("zh_Hans_CN", "参考编号"), ("en", "quote this reference")],
)
def test_a_500_logs_its_traceback_and_the_page_names_the_entry(app, caplog, lang, words):
    def broken() -> str:
        raise RuntimeError("a detail only the log may show")

    app.add_url_rule("/broken", "broken", broken)
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="portal.web.errors"):
        response = client.get(f"/broken?lang={lang}")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert words in page
    assert "a detail only the log may show" not in page
    assert "Traceback" not in page
    (entry,) = [r for r in caplog.records if r.name == "portal.web.errors"]
    assert entry.exc_info is not None
    assert entry.exc_info[0] is RuntimeError
    reference = entry.getMessage().rsplit(" ", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{12}", reference)
    assert reference in page
