"""Moving one installment of an active plan, on SQLite and PostgreSQL: the move made,
each refusal in words, once per plan, concurrent submits, and the three languages."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from negotiation import load_policy
from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.models import CaseEvent, Plan, PlanInstallment

from .factories import NOW, TODAY, build_case, sign_in, unwrapped
from .test_money_paths import accept_first, pay_due

SUBMITS = 8


def start_plan(app, client, **case):
    """A signed-in borrower whose arrears plan is active (its first payment made).
    Returns the ids and due dates of the plan's installments."""
    built = build_case(app, **case)
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    pay_due(client)
    with app.app_context():
        query = select(Plan).where(Plan.case_id == built.case_id)
        plan = db.session().scalars(query).one()
        assert plan.status == "active"
        return built, [(i.id, i.due_date) for i in plan.installments]


def move(client, installment_id, new_date):
    """Ask to move one installment of the plan to ``new_date``."""
    data = {"installment": str(installment_id), "new_date": new_date.isoformat()}
    return client.post("/plan/move", data=data)


def installments(app):
    with app.app_context():
        rows = db.session().scalars(select(PlanInstallment).order_by(PlanInstallment.id))
        return [(i.due_date, i.moved_from) for i in rows]


def move_events(app):
    with app.app_context():
        query = select(CaseEvent).where(CaseEvent.kind == "installment_moved")
        return [event.data for event in db.session().scalars(query)]


def test_the_next_payment_moves_and_the_status_page_says_so(app, client):
    _built, rows = start_plan(app, client, locale="en")
    (_, first), (second_id, second), *_ = rows
    assert first == TODAY  # paid: the plan is active
    status = client.get("/status").get_data(as_text=True)
    assert "Need a few more days?" in status
    assert f'min="{(second + timedelta(days=1)).isoformat()}"' in status
    assert "can move to any day from" in status
    # The next three unpaid payments, each with its own latest date.
    assert status.count('name="installment" type="radio"') == 3
    assert status.count("Can move to") == 3

    new_date = second + timedelta(days=10)
    response = move(client, second_id, new_date)
    assert response.status_code == 303
    assert response.location.endswith("/status#move-title")
    after = installments(app)
    assert after[1] == (new_date, second)
    assert [row for n, row in enumerate(after) if n != 1] == [
        (due, None) for n, (_, due) in enumerate(rows) if n != 1
    ]
    [event] = move_events(app)
    assert event["moved_from"] == second.isoformat()
    assert event["moved_to"] == new_date.isoformat()
    assert event["days"] == 10
    assert event["fee"] == 0
    assert event["installment_id"] == second_id

    page = client.get("/status").get_data(as_text=True)
    assert "You moved your payment of" in page
    assert "at no cost" in page
    assert "instead of" in page  # the plan's timeline states the move
    assert "moved from" in page  # beside the next payment's date
    assert "Move this payment" not in page  # once per plan: no form any more
    with app.app_context():
        # No fee: the plan's amounts and the loan's charges are as they were.
        plan = db.session().scalars(select(Plan)).one()
        assert sum(i.amount for i in plan.installments) == plan.total


def test_a_double_submit_is_the_same_move(app, client):
    _built, rows = start_plan(app, client)
    second_id, second = rows[1]
    data = {"installment": str(second_id), "new_date": (second + timedelta(days=3)).isoformat()}
    assert client.post("/plan/move", data=data).status_code == 303
    assert client.post("/plan/move", data=data).status_code == 303
    assert len(move_events(app)) == 1


def test_concurrent_submits_move_once(app, client):
    _built, rows = start_plan(app, client)
    cookie = client.get_cookie("haohuan")
    assert cookie is not None
    (second_id, second), (third_id, third) = rows[1], rows[2]
    # Half ask to move the second installment, half the third: one move in all.
    requests = [
        {"installment": str(second_id), "new_date": (second + timedelta(days=5)).isoformat()},
        {"installment": str(third_id), "new_date": (third + timedelta(days=6)).isoformat()},
    ] * (SUBMITS // 2)
    barrier = threading.Barrier(SUBMITS)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def submit(data) -> None:
        own = app.test_client()
        own.set_cookie("haohuan", cookie.value)
        try:
            barrier.wait(timeout=10)
            statuses.append(own.post("/plan/move", data=data).status_code)
        except BaseException as error:  # reported to the main thread below
            failures.append(error)

    threads = [threading.Thread(target=submit, args=(data,)) for data in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert len(move_events(app)) == 1
    moved = [row for row in installments(app) if row[1] is not None]
    assert len(moved) == 1
    # The winner's kind of request redirects; the other kind is told why, never a 500.
    assert sorted(set(statuses)) == [303, 409]


def bad_moves(rows):
    (first_id, _first), (second_id, second), (third_id, third) = rows[:3]
    return {
        "same date": ({"installment": second_id, "new_date": second}, "must be after"),
        "earlier": ({"installment": second_id, "new_date": second - timedelta(days=3)}, "after"),
        "too far": (
            {"installment": second_id, "new_date": second + timedelta(days=15)},
            "later than the plan allows",
        ),
        "on the next": ({"installment": third_id, "new_date": third}, "must be after"),
        "already paid": ({"installment": first_id, "new_date": TODAY + timedelta(days=3)}, "paid"),
        "no date": ({"installment": second_id, "new_date": ""}, "Enter a date like"),
        "not a date": ({"installment": second_id, "new_date": "2026-13-45"}, "Enter a date like"),
        "words": ({"installment": second_id, "new_date": "next friday"}, "Enter a date like"),
        "tampered id": ({"installment": "1 OR 1=1", "new_date": third}, "upcoming payments"),
        "huge id": ({"installment": "9" * 40, "new_date": third}, "upcoming payments"),
        "no id": ({"new_date": third}, "upcoming payments"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "same date",
        "earlier",
        "too far",
        "on the next",
        "already paid",
        "no date",
        "not a date",
        "words",
        "tampered id",
        "huge id",
        "no id",
    ],
)
def test_each_bad_move_is_answered_in_words_and_changes_nothing(app, client, name):
    _built, rows = start_plan(app, client, locale="en")
    data, words = bad_moves(rows)[name]
    sent = {key: str(value) for key, value in data.items()}
    response = client.post("/plan/move", data=sent)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert words in page
    assert "Move this payment" in page  # the form is still there, to try again
    assert installments(app) == [(due, None) for _, due in rows]
    assert move_events(app) == []


def test_a_date_between_two_installments_keeps_their_order(app, client):
    _built, rows = start_plan(app, client, locale="en")
    (second_id, second), (third_id, _third) = rows[1], rows[2]
    with app.app_context():
        session = db.session()
        session.get(PlanInstallment, third_id).due_date = second + timedelta(days=4)
        session.commit()
    page = unwrapped(client.get("/status").get_data(as_text=True))
    latest = second + timedelta(days=3)  # the day before the third installment
    assert f"Can move to {latest:%B} {latest.day}, {latest.year} at the latest" in page
    refused = move(client, second_id, second + timedelta(days=4))
    assert refused.status_code == 422
    assert "before your next payment" in refused.get_data(as_text=True)
    allowed = move(client, second_id, second + timedelta(days=3))
    assert allowed.status_code == 303


def test_a_second_move_of_the_plan_is_refused(app, client):
    _built, rows = start_plan(app, client, locale="en")
    (second_id, second), (third_id, third) = rows[1], rows[2]
    move(client, second_id, second + timedelta(days=2))
    again = move(client, third_id, third + timedelta(days=2))
    assert again.status_code == 409
    assert "a plan allows one move" in again.get_data(as_text=True)
    assert installments(app)[2] == (third, None)
    assert len(move_events(app)) == 1


def test_another_borrowers_installment_is_not_theirs_to_move(app, client):
    _built, rows = start_plan(app, client, locale="en", name="One")
    other_client = app.test_client()
    _other, other_rows = start_plan(
        app, other_client, locale="en", name="Two", date_of_birth="1990-01-02"
    )
    victim_id, victim_due = rows[1]
    response = move(other_client, victim_id, victim_due + timedelta(2))
    assert response.status_code == 422
    assert "upcoming payments" in response.get_data(as_text=True)
    assert installments(app)[: len(rows)] == [(due, None) for _, due in rows]
    assert move_events(app) == []
    assert other_rows  # the second borrower's own plan is untouched too
    assert all(moved is None for _, moved in installments(app))


def test_a_pending_plan_offers_no_move(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    assert "Need a few more days?" not in client.get("/status").get_data(as_text=True)
    with app.app_context():
        second = db.session().scalars(select(Plan)).one().installments[1]
        data = {"installment": str(second.id), "new_date": str(second.due_date + timedelta(2))}
    response = client.post("/plan/move", data=data)
    assert response.status_code == 409
    assert "once your plan has started" in response.get_data(as_text=True)
    assert move_events(app) == []


def test_no_plan_at_all_is_answered_calmly(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    response = client.post("/plan/move", data={"installment": "1", "new_date": "2026-12-10"})
    assert response.status_code == 409
    assert "once your plan has started" in response.get_data(as_text=True)
    # Even a form that does not parse is answered about the plan, not left blank.
    response = client.post("/plan/move", data={"installment": "x", "new_date": "soon"})
    assert response.status_code == 422
    assert "once your plan has started" in response.get_data(as_text=True)


def test_a_product_without_moves_shows_no_form(app, client):
    _built, rows = start_plan(app, client, locale="en")
    app.extensions["haohuan.policy"] = load_policy({"plans": {"max_installment_move_days": 0}})
    assert "Need a few more days?" not in client.get("/status").get_data(as_text=True)
    second_id, second = rows[1]
    response = move(client, second_id, second + timedelta(2))
    assert response.status_code == 409
    assert "cannot be moved online" in response.get_data(as_text=True)


def test_a_move_needs_the_csrf_token(app, client):
    _built, rows = start_plan(app, client, locale="en")
    app.config["WTF_CSRF_ENABLED"] = True
    second_id, second = rows[1]
    response = move(client, second_id, second + timedelta(2))
    assert response.status_code == 400
    assert move_events(app) == []


MOVED_WORDS = {
    "zh_Hant_TW": ("需要晚幾天繳款嗎？", "您已延後一期款項", "不收任何費用", "原本"),
    "zh_Hans_CN": ("需要晚几天还款吗？", "您已推迟一期还款", "不收任何费用", "原本"),
    "en": ("Need a few more days?", "You moved a payment", "at no cost", "instead of"),
}


@pytest.mark.parametrize("locale", list(MOVED_WORDS))
def test_the_move_reads_in_every_language(app, client, locale):
    _built, rows = start_plan(app, client, locale=locale)
    second_id, second = rows[1]
    title, moved_title, no_cost, instead = MOVED_WORDS[locale]
    assert title in client.get("/status").get_data(as_text=True)
    move(client, second_id, second + timedelta(7))
    page = client.get("/status").get_data(as_text=True)
    assert moved_title in page
    assert title not in page
    assert no_cost in page
    assert instead in page
    new = second + timedelta(7)
    if locale == "en":
        assert f"{new:%B} {new.day}, {new.year}" in page
    else:
        assert f"{new.year}年{new.month}月{new.day}日" in page


def test_the_move_is_for_dates_only(app, client):
    """A move never touches amounts or what has been paid."""
    _built, rows = start_plan(app, client)
    with app.app_context():
        before = [(i.amount, i.paid) for i in db.session().scalars(select(Plan)).one().installments]
    second_id, second = rows[1]
    move(client, second_id, second + timedelta(days=1))
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        assert [(i.amount, i.paid) for i in plan.installments] == before
        assert plan.installments[1].due_date == second + timedelta(days=1)
        assert isinstance(plan.installments[1].moved_from, date)


def test_a_date_typed_with_full_width_digits_is_read(app, client):
    _built, rows = start_plan(app, client)
    second_id, second = rows[1]
    wanted = second + timedelta(days=2)
    typed = wanted.isoformat().translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    response = client.post("/plan/move", data={"installment": str(second_id), "new_date": typed})
    assert response.status_code == 303
    assert installments(app)[1] == (wanted, second)


def test_the_daily_work_counts_a_moved_payment_from_its_new_date(app, client):
    _built, rows = start_plan(app, client)
    second_id, second = rows[1]
    new_date = second + timedelta(days=10)
    assert move(client, second_id, new_date).status_code == 303
    grace = timedelta(days=5)

    def missed_on(day):
        with app.app_context():
            lifecycle.work_day(app.extensions["haohuan.engine"], policy(), day, NOW)
            return db.session().get(PlanInstallment, second_id).missed_on

    # The first day it would have counted as missed, had it not moved: it does not.
    assert missed_on(second + grace + timedelta(days=1)) is None
    assert missed_on(new_date + grace) is None
    assert missed_on(new_date + grace + timedelta(days=1)) is not None
