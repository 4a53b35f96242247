"""Money paths that must never go wrong: no double charge, no payment to a withdrawn
plan, waivers written off exactly when earned, nothing left owing after a kept plan."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal import db
from portal.cases import snapshot_of
from portal.models import Case, CaseEvent, Payment, Plan

from .conftest import TODAY, build_case, sign_in
from .test_journey import first_review_link, review_form


def accept_first(client, kind):
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, kind)).get_data(as_text=True))
    response = client.post("/plans/accept", data={**form, "consent": "y"})
    assert response.status_code == 303, response.status_code


def pay_due(client, outcome="succeed"):
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    client.post(checkout, data={"outcome": outcome})
    return checkout


def arrears_now(app, case_id):
    with app.test_request_context("/"):
        session = db.session()
        return snapshot_of(session, session.get(Case, case_id), TODAY).arrears


def test_a_declined_checkout_cannot_be_paid_after_a_retry(app, client):
    built = build_case(app)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    declined = pay_due(client, "fail")
    retried = pay_due(client, "succeed")
    assert retried != declined
    # The borrower goes back to the first checkout and approves it.
    late = client.post(declined, data={"outcome": "succeed"})
    assert late.status_code == 303
    with app.app_context():
        statuses = sorted(p.status for p in db.session().scalars(select(Payment)))
    assert statuses == ["failed", "succeeded"]


def test_a_withdrawn_plans_checkout_is_void(app, client):
    built = build_case(app)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    old_checkout = client.post("/pay", data={"purpose": "installment"}).location
    assert client.post("/plans/withdraw").status_code == 303
    accept_first(client, "arrears_plan")
    client.post(old_checkout, data={"outcome": "succeed"})
    with app.app_context():
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        assert payment.status == "voided"
        plans = {p.kind: p.status for p in session.scalars(select(Plan))}
        assert plans == {"pay_in_full": "cancelled", "arrears_plan": "pending"}
        assert session.get(Case, built.case_id).status == "open"


def test_a_kept_plan_leaves_nothing_owing_and_earns_its_waiver(app, client):
    built = build_case(app)  # mid stage: half the NT$150 penalty waived if the plan is kept
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    pay_due(client)
    middle = arrears_now(app, built.case_id)
    # While the plan runs, the waived half of the penalty is held aside, not paid off.
    assert middle.penalties >= 7_500
    for _ in range(20):
        with app.app_context():
            if db.session().scalars(select(Plan)).one().status == "completed":
                break
        pay_due(client)
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan)).one()
        case = session.get(Case, built.case_id)
        assert plan.status == "completed"
        assert case.status == "resolved"
        paid = session.scalar(select(func.sum(Payment.amount)).where(Payment.status == "succeeded"))
        assert paid == plan.total == 1_145_000 - 7_500
    assert arrears_now(app, built.case_id).total == 0


def test_a_settlement_closes_the_whole_loan(app, client):
    built = build_case(app, days_past_due=120, locale="en")
    sign_in(client, built)
    accept_first(client, "settlement")
    pay_due(client)
    with app.app_context():
        session = db.session()
        loan = session.get(Case, built.case_id).loan
        assert all(i.unpaid == 0 for i in loan.installments)
        assert all(c.outstanding == 0 for c in loan.charges)
        assert session.get(Case, built.case_id).status == "resolved"
        assert not session.scalars(select(CaseEvent).where(CaseEvent.kind == "credit")).all()


def test_no_part_payment_beside_a_live_plan(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    refused = client.post("/pay", data={"purpose": "partial", "amount": "100"})
    assert refused.status_code == 422
    assert "You have a plan" in refused.get_data(as_text=True)


def test_a_double_click_on_pay_opens_one_payment(app, client):
    built = build_case(app)
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    cookie = client.get_cookie("haohuan").value
    barrier = threading.Barrier(6)
    locations: list[str] = []

    def click() -> None:
        own = app.test_client()
        own.set_cookie("haohuan", cookie)
        barrier.wait(timeout=10)
        locations.append(own.post("/pay", data={"purpose": "installment"}).location)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(locations) == 6
    assert len(set(locations)) == 1
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Payment)) == 1


def test_a_part_payment_of_everything_points_to_paying_in_full(app, client):
    built = build_case(app, locale="en", days_past_due=10)  # early: the penalty is waived
    sign_in(client, built)
    response = client.post("/pay", data={"purpose": "partial", "amount": "5950"})
    assert response.status_code == 422
    assert "Use “Pay everything overdue” instead: it is NT$5,800" in response.get_data(as_text=True)


def books(app) -> list[str]:
    from portal import ledger

    with app.app_context():
        return ledger.check(db.session())


def test_the_books_balance_after_every_kind_of_payment(app, client):
    built = build_case(app)
    sign_in(client, built)
    client.post("/pay", data={"purpose": "partial", "amount": "1000"})
    checkout = client.post("/pay", data={"purpose": "partial", "amount": "1000"}).location
    client.post(checkout, data={"outcome": "succeed"})
    accept_first(client, "arrears_plan")
    for _ in range(20):
        with app.app_context():
            if db.session().scalars(select(Plan)).one().status == "completed":
                break
        pay_due(client)
    assert books(app) == []
    with app.app_context():
        session = db.session()
        from portal.models import Allocation

        for payment in session.scalars(select(Payment).where(Payment.status == "succeeded")):
            allocated = session.scalar(
                select(func.sum(Allocation.amount)).where(Allocation.payment_id == payment.id)
            )
            assert allocated == payment.amount


def test_the_ledger_check_command_finds_drift(app, client):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli
    from portal.models import Allocation

    built = build_case(app)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    pay_due(client)
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    balanced = runner.invoke(cli, ["ledger", "check"], obj=info)
    assert balanced.exit_code == 0
    assert "the ledger balances" in balanced.output
    with app.app_context():
        share = db.session().scalars(select(Allocation)).first()
        share.amount += 1  # a cent appears from nowhere
        db.session().commit()
    drifted = runner.invoke(cli, ["ledger", "check"], obj=info)
    assert drifted.exit_code == 1
    assert "allocated" in drifted.output
