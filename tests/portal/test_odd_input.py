"""The odd inputs the issue's testers found 500s with, each now a clear 4xx: one test per
root cause (the route-wide property test is in test_fuzz.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .factories import add_staff, build_case, sign_in, staff_sign_in
from .test_stripe_webhooks import SECRET, deliver

HUGE = "1" * 309
LONGEST = "9" * 4301  # one digit more than Python's int() reads


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"STRIPE_WEBHOOK_SECRET": SECRET}


def _staff(app, role):
    add_staff(app, email=f"{role}@haohuan.example", roles=(role,))
    client = app.test_client()
    staff_sign_in(client, email=f"{role}@haohuan.example")
    return client


def _is_4xx(response) -> bool:
    return 400 <= response.status_code < 500


STATEMENT = {
    "net_monthly_income": "40000",
    "household_size": "2",
    "housing": "10000",
    "utilities": "0",
    "food": "0",
    "transport": "0",
    "other_debt_payments": "0",
    "other": "0",
}


@pytest.mark.parametrize("typed", [HUGE, LONGEST, "-3", "2.5", " "])
def test_a_number_of_any_length_in_a_number_field_is_a_4xx(app, client, typed):
    sign_in(client, build_case(app, locale="en"))
    response = client.post("/plans", data={**STATEMENT, "household_size": typed})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter a number from 1 to 20." in page or "Enter how many people" in page


def test_a_309_digit_number_of_payments_is_refused_in_words(app, client):
    sign_in(client, build_case(app, locale="en"))
    query = {"kind": "arrears_plan", "installments": HUGE, "frequency": "monthly", "lang": "en"}
    response = client.get("/plans/calculate", query_string=query)
    assert response.status_code < 500
    assert "Enter a number from 1 to 600." in response.get_data(as_text=True)


@pytest.mark.parametrize("spaces", [" ", "   ", "\t"])
def test_a_space_only_date_is_asked_for_again_on_the_move_form(app, client, spaces):
    sign_in(client, build_case(app, locale="en"))
    response = client.post("/plan/move", data={"installment": "1", "new_date": spaces})
    assert response.status_code == 422


@pytest.mark.parametrize("spaces", [" ", "   "])
def test_a_space_only_date_is_asked_for_again_in_the_offer_preview(app, spaces):
    built = build_case(app, locale="en")
    agent = _staff(app, "agent")
    response = agent.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data={
            "kind": "arrears_plan",
            "installments": "6",
            "frequency": "monthly",
            "first_due_date": spaces,
        },
    )
    assert response.status_code == 422
    assert "Enter a date like 2026-12-05." in response.get_data(as_text=True)


CALL = {
    "direction": "outbound",
    "answered": "borrower",
    "outcome": "promise",
    "started": "0",
    "promise_date": "2026-12-10",
    "promise_amount": "100",
}


@pytest.mark.parametrize("choice", ["direction", "answered", "outcome", "started"])
def test_a_space_as_a_call_forms_choice_is_refused_in_words(app, choice):
    built = build_case(app, locale="en")
    agent = _staff(app, "agent")
    response = agent.post(f"/agent/cases/{built.case_id}/calls?lang=en", data={**CALL, choice: " "})
    assert response.status_code == 422
    assert "Choose one of the listed values." in response.get_data(as_text=True)


@pytest.mark.parametrize("page", ["+", " ", "-1", LONGEST, "99999999999999999999"])
@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("admin", "/admin/audit"),
        ("admin", "/admin/audit.csv"),
        ("finance", "/finance/payments"),
        ("finance", "/finance/payments.csv"),
        ("agent", "/agent/"),
        ("agent", "/agent/outbox"),
    ],
)
def test_any_page_number_is_a_page_or_a_4xx(app, role, path, page):
    client = _staff(app, role)
    response = client.get(path, query_string={"page": page})
    assert response.status_code < 500
    response.close()


@pytest.mark.parametrize("host", ["bad host", "a/b", "[::1", "exa<mple>.com"])
@pytest.mark.parametrize("path", ["/", "/nope", "/status", "/staff/"])
def test_a_host_no_url_is_built_for_is_a_400_page(app, path, host):
    app.config["TRUSTED_HOSTS"] = ["localhost"]
    response = app.test_client().get(path, headers={"Host": host})
    assert response.status_code == 400
    assert "無法處理此要求" in response.get_data(as_text=True)  # in the default language


def _signed_delivery(client, body: object):
    return deliver(client, json.dumps(body).encode())


@pytest.mark.parametrize(
    "data",
    [
        {"object": "pi_123"},
        "pi_123",
        {"object": ["pi_123"]},
        {"object": None},
        None,
        42,
    ],
)
def test_a_signed_event_without_an_object_is_a_400(app, client, data):
    body = {"id": "evt_odd", "type": "payment_intent.succeeded", "data": data}
    assert _signed_delivery(client, body).status_code == 400


def test_a_signed_event_nested_deeper_than_the_parser_goes_is_a_400(app, client):
    depth = 5000
    payload = (
        '{"id": "evt_deep", "type": "x", "data": {"object": ' + "[" * depth + "]" * depth + "}}"
    ).encode()
    assert deliver(client, payload).status_code == 400


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    kind=st.sampled_from(
        [
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "charge.refunded",
            "charge.dispute.created",
            "charge.dispute.closed",
            "customer.created",
        ]
    ),
    data=JSON | st.fixed_dictionaries({"object": JSON}),
)
def test_any_signed_json_is_answered_below_500(app, client, kind, data):
    response = _signed_delivery(client, {"id": "evt_any", "type": kind, "data": data})
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    ("role", "path", "query"),
    [
        ("agent", "/agent/", {"q": "a\x00b"}),
        ("finance", "/finance/payments", {"q": "\x00"}),
        ("admin", "/admin/audit", {"actor": "\x00"}),
        ("agent", "/agent/", {"q\x00": "x"}),
    ],
)
def test_a_nul_character_anywhere_in_a_query_is_a_400(app, role, path, query):
    response = _staff(app, role).get(path, query_string=query)
    assert response.status_code == 400


def test_a_nul_character_in_a_form_is_a_400_before_anything_is_stored(app, client):
    sign_in(client, build_case(app, locale="en"))
    response = client.post("/help", data={"reason": "hardship", "details": "lost\x00my job"})
    assert response.status_code == 400
