"""Every loan of a borrower in one place (issue 20): one verification shows them all,
each with what is overdue, its stage and its plan; the borrower moves between them and
agrees a plan per loan; nobody reaches another person's loan, and ending the verified
link ends every loan."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.access.verification import issue_link
from portal.core import db
from portal.models import Case, CaseStatus, Payment, Plan, ReminderLink, SessionStatement
from tests.portal.factories import NOW, another_loan, build_case, sign_in, unwrapped
from tests.portal.test_accessibility import _idle
from tests.portal.test_money_paths import accept_first

LANGUAGES = {
    "en": ("Your loans", "Showing now", "Show loan"),
    "zh_Hant_TW": ("您的貸款", "目前顯示", "查看貸款"),
    "zh_Hans_CN": ("您的贷款", "当前显示", "查看贷款"),
}


def status(client, lang: str = "en") -> str:
    answer = client.get(f"/status?lang={lang}")
    assert answer.status_code == 200, answer.status_code
    return unwrapped(answer.get_data(as_text=True))


def shown_loan(page: str) -> str:
    """The loan the page is about (its heading line)."""
    found = re.search(r'<p class="loan">Loan ([^<]+)</p>', page)
    assert found, page[:2000]
    return found.group(1)


def number_of(app, case_id: int) -> str:
    with app.app_context():
        case = db.session().get(Case, case_id)
        return case.loan.number


def plans_of(app, case_id: int) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(select(Plan.status).where(Plan.case_id == case_id)))


@pytest.fixture
def two_loans(app, client):
    """A borrower with two overdue TWD loans, verified once through the first's link."""
    built = build_case(app, days_past_due=47)
    second = another_loan(app, built, days_past_due=20)
    sign_in(client, built)
    return built, second


def test_one_verification_shows_both_loans_with_their_figures(app, client, two_loans):
    built, second = two_loans
    page = status(client)
    assert "Your loans" in page
    first_number, second_number = number_of(app, built.case_id), number_of(app, second)
    assert shown_loan(page) == first_number
    assert f"Loan {second_number}" in page
    # The loan shown is marked; the other is a form that posts to its own address.
    assert page.count('<li aria-current="true"') == 1
    assert f'action="/loans/{second}"' in page
    assert f'action="/loans/{built.case_id}"' not in page
    # Each line says what is overdue on that loan (the second: 20 days behind, one
    # installment of 3,000 principal and 200 interest).
    assert "Overdue now: NT$3,200" in page
    assert "No plan yet" in page


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_the_list_is_in_each_language(client, two_loans, lang):
    page = status(client, lang)
    for words in LANGUAGES[lang]:
        assert words in page


def test_switching_shows_the_other_loan_and_a_plan_is_agreed_for_it_alone(app, client, two_loans):
    built, second = two_loans
    moved = client.post(f"/loans/{second}")
    assert moved.status_code == 303
    assert moved.location.endswith("/status")
    page = status(client)
    assert shown_loan(page) == number_of(app, second)
    assert f'action="/loans/{built.case_id}"' in page
    accept_first(client, "arrears_plan")
    assert plans_of(app, second) == ["pending"]
    assert plans_of(app, built.case_id) == []
    # Back on the first: the list shows the second's plan as it now stands (a kept page
    # of the first loan is not served stale: the test app re-renders and compares).
    client.post(f"/loans/{built.case_id}")
    page = status(client)
    assert shown_loan(page) == number_of(app, built.case_id)
    assert "Plan: Accepted, first payment not made" in page


def test_another_persons_loan_is_a_404_that_changes_nothing(app, client, two_loans):
    built, _second = two_loans
    stranger = build_case(app, name="林志明", date_of_birth="1990-01-02")
    for case_id in (stranger.case_id, 999_999, 2**31, 2**70):
        assert client.post(f"/loans/{case_id}").status_code == 404
    assert client.post("/loans/abc").status_code == 404
    assert client.get(f"/loans/{stranger.case_id}").status_code == 405
    page = status(client)
    assert shown_loan(page) == number_of(app, built.case_id)
    assert number_of(app, stranger.case_id) not in page


def test_a_resolved_loan_cannot_be_switched_to(app, client, two_loans):
    _built, second = two_loans
    with app.app_context():
        db.session().get(Case, second).status = CaseStatus.RESOLVED
        db.session().commit()
    assert client.post(f"/loans/{second}").status_code == 404
    assert f'action="/loans/{second}"' not in status(client)


def test_revoking_the_verified_link_ends_every_loan(app, client, two_loans):
    _built, second = two_loans
    client.post(f"/loans/{second}")
    assert client.get("/status").status_code == 200
    with app.app_context():
        db.session().scalars(select(ReminderLink)).one().revoked_at = NOW
        db.session().commit()
    ended = client.get("/status")
    assert ended.status_code == 302
    assert "/session-ended" in ended.location
    assert client.post(f"/loans/{second}").status_code in (302, 303)
    assert "/session-ended" in client.get("/plans").location


def test_signing_out_ends_every_loan(client, two_loans):
    _built, second = two_loans
    client.post(f"/loans/{second}")
    client.post("/sign-out")
    assert "/session-ended" in client.get("/status").location


def test_a_link_opens_on_the_loan_it_was_sent_for(app, client, two_loans):
    built, second = two_loans
    with app.app_context():
        token = issue_link(db.session(), db.session().get(Case, second), NOW)
        db.session().commit()
    other = app.test_client()
    answer = other.post(
        f"/r/{token}", data={"method": "date_of_birth", "answer": built.date_of_birth}
    )
    assert answer.status_code == 303
    page = status(other)
    assert shown_loan(page) == number_of(app, second)
    assert f'action="/loans/{built.case_id}"' in page


def test_a_borrower_with_one_loan_sees_no_list(app, client):
    built = build_case(app)
    sign_in(client, built)
    page = status(client)
    assert "Your loans" not in page
    assert "/loans/" not in page


def test_the_switch_needs_the_csrf_token(app, two_loans):
    built, second = two_loans
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    page = browser.get(f"/r/{built.token}").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    verified = browser.post(
        f"/r/{built.token}",
        data={"method": "date_of_birth", "answer": built.date_of_birth, "csrf_token": token},
    )
    assert verified.status_code == 303
    assert browser.post(f"/loans/{second}").status_code == 400
    assert shown_loan(status(browser)) == number_of(app, built.case_id)


def test_a_payment_opened_on_one_loan_is_shown_and_paid_after_moving_to_another(
    app, client, two_loans
):
    """The checkout and the result of a payment follow its own loan, not the one the
    borrower moved to in another tab."""
    built, second = two_loans
    accept_first(client, "arrears_plan")
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    client.post(f"/loans/{second}")
    assert shown_loan(status(client)) == number_of(app, second)
    paid = client.post(checkout, data={"outcome": "succeed"})
    assert paid.status_code == 303
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        assert (payment.case_id, payment.status) == (built.case_id, "succeeded")
    result = client.get(paid.location)
    assert result.status_code == 200
    # The pages now show the loan the payment was for.
    assert shown_loan(status(client)) == number_of(app, built.case_id)


def test_another_persons_payment_is_still_a_404(app, client, two_loans):
    stranger = build_case(app, name="林志明", date_of_birth="1990-01-02")
    other = app.test_client()
    sign_in(other, stranger)
    accept_first(other, "arrears_plan")
    checkout = other.post("/pay", data={"purpose": "installment"}).location
    with app.app_context():
        payment_id = db.session().scalars(select(Payment.id)).one()
    assert client.get(checkout).status_code == 404
    assert client.post(checkout, data={"outcome": "succeed"}).status_code == 404
    assert client.get(f"/pay/result/{payment_id}").status_code == 404
    with app.app_context():
        assert db.session().get(Payment, payment_id).status != "succeeded"


def test_the_income_typed_for_one_loan_is_not_used_for_another(app, client, two_loans):
    _built, second = two_loans
    typed = {"net_monthly_income": "45,000", "household_size": "3", "housing": "15000"}
    assert client.post("/plans?lang=en", data=typed).status_code == 303
    typed_back = re.compile(r'name="net_monthly_income"[^>]*value="45,?000')
    assert typed_back.search(client.get("/plans?lang=en").get_data(as_text=True))
    with app.app_context():
        assert len(db.session().scalars(select(SessionStatement)).all()) == 1
    client.post(f"/loans/{second}")
    assert not typed_back.search(client.get("/plans?lang=en").get_data(as_text=True))
    with app.app_context():
        assert db.session().scalars(select(SessionStatement)).all() == []


def test_a_paid_off_second_loan_makes_no_list(app, client):
    built = build_case(app)
    paid_off = another_loan(app, built)
    with app.app_context():
        db.session().get(Case, paid_off).status = CaseStatus.RESOLVED
        db.session().commit()
    sign_in(client, built)
    assert "Your loans" not in status(client)


def test_a_form_kept_on_one_loan_comes_back_on_that_loan_through_another_loans_link(
    app, client, two_loans
):
    """The session ended while the borrower wrote for help on the second loan; they verify
    again through the first loan's link (the one they have): the form comes back, on the
    second loan. Another person's kept form never does (``test_accessibility``)."""
    built, second = two_loans
    client.post(f"/loans/{second}")
    _idle(client, 16)
    details = "The second loan: my salary comes on the 5th."
    posted = client.post("/help?lang=en", data={"reason": "hardship", "details": details})
    assert posted.headers["Location"].endswith("/session-ended?kept=1")
    again = client.post(
        f"/r/{built.token}", data={"method": "date_of_birth", "answer": built.date_of_birth}
    )
    assert again.headers["Location"] == "/help"
    page = client.get("/help?lang=en").get_data(as_text=True)
    assert details in page
    assert shown_loan(status(client)) == number_of(app, second)
