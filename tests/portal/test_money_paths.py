"""Money paths that must never go wrong: no double charge, no payment to a withdrawn
plan, waivers written off exactly when earned, nothing left owing after a kept plan."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal import ConfigurationError, create_app
from portal.cases.facts import snapshot_of
from portal.core import db
from portal.models import Case, CaseEvent, Payment, Plan, Waiver
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle

from .factories import NOW, TODAY, build_case, sign_in
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
    from portal.payments import ledger

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


def owed(app, case_id) -> int:
    """Everything the loan still asks for: installments and charges."""
    with app.app_context():
        loan = db.session().get(Case, case_id).loan
        return sum(i.unpaid for i in loan.installments) + sum(c.outstanding for c in loan.charges)


def take_back(app, payment_id: int, outcome: Outcome, amount: int, event_id: str) -> None:
    with app.test_request_context("/"):
        session = db.session()
        reference = session.get(Payment, payment_id).gateway_reference
        handle(session, GatewayEvent("sandbox", event_id, reference, outcome, amount), NOW)


def test_a_refunded_settlement_owes_again_what_it_forgave(app, client):
    built = build_case(app, days_past_due=120, locale="en")
    sign_in(client, built)
    before = owed(app, built.case_id)
    accept_first(client, "settlement")
    pay_due(client)
    assert owed(app, built.case_id) == 0
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
    take_back(app, payment.id, Outcome.REFUNDED, payment.amount, "evt_refund_all")
    # The discount, the waived charges and the contract's future interest are all owed
    # again: the loan is exactly as it was before the settlement.
    assert owed(app, built.case_id) == before
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Plan)).one().status == "pending"
        assert session.get(Case, built.case_id).status == "open"
        waivers = session.scalars(select(Waiver)).all()
        assert {w.earned_by for w in waivers} == {"activation", "completion"}
        assert all(w.reinstated_at is not None for w in waivers)
        assert ledger.check(session) == []
    # The dispute is won back: the plan is kept again, and so are its waivers.
    take_back(app, payment.id, Outcome.DISPUTED, payment.amount, "evt_dispute_lost")
    take_back(app, payment.id, Outcome.DISPUTED, 0, "evt_dispute_won")
    assert owed(app, built.case_id) == before  # nothing to win back: it was refunded


def test_a_lost_dispute_that_reopens_a_kept_plan_takes_its_conditional_waiver_back(app, client):
    built = build_case(app)  # mid stage: half the NT$150 penalty waived if the plan is kept
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    for _ in range(20):
        pay_due(client)
        with app.app_context():
            if db.session().scalars(select(Plan)).one().status == "completed":
                break
    assert arrears_now(app, built.case_id).total == 0
    with app.app_context():
        last = db.session().scalars(select(Payment).order_by(Payment.id.desc())).first()
    take_back(app, last.id, Outcome.DISPUTED, last.amount, "evt_dispute_last")
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Plan)).one().status == "active"
        assert session.get(Case, built.case_id).status == "arranged"
        completion = session.scalars(select(Waiver).where(Waiver.earned_by == "completion")).all()
        assert sum(w.amount for w in completion) == 7_500
        assert all(w.reinstated_at is not None for w in completion)
    # The last installment is owed again, and the half penalty it would have earned.
    assert arrears_now(app, built.case_id).total == last.amount + 7_500
    take_back(app, last.id, Outcome.DISPUTED, 0, "evt_dispute_won_back")
    assert arrears_now(app, built.case_id).total == 0
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Plan)).one().status == "completed"
        assert ledger.check(session) == []


def test_the_waterfall_is_the_lenders_choice(app):
    built = build_case(app)
    with app.test_request_context("/"):
        loan = db.session().get(Case, built.case_id).loan
        default = ledger.apply_to_loan(loan, 100, TODAY)
        assert [share.target for share in default] == ["penalty"]
        db.session().rollback()

        app.config["WATERFALL"] = "principal, interest, fee, penalty"
        loan = db.session().get(Case, built.case_id).loan
        overdue = [i for i in loan.installments if i.due_date < TODAY]
        principal = sum(i.principal_outstanding for i in overdue)
        shares = ledger.apply_to_loan(loan, principal + 1, TODAY)
        assert {s.target for s in shares[:-1]} == {"principal"}
        assert sum(s.amount for s in shares[:-1]) == principal
        assert (shares[-1].target, shares[-1].amount) == ("interest", 1)
        db.session().rollback()


@pytest.mark.parametrize("order", ["principal,interest", "penalty,fee,interest,principal,fee", "x"])
def test_a_waterfall_that_misses_a_part_is_refused(order, tmp_path):
    with pytest.raises(ConfigurationError, match="HAOHUAN_WATERFALL"):
        create_app({"WATERFALL": order, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
