"""Automatic plan payments, the service: the run charges each installment on its date to
the saved card, once, retries a decline on the policy's days, stops for authentication
and for a card that can no longer be used, and skips what was paid by hand. The sandbox
gateway's test cards stand in for Stripe's (``tests/portal/test_autopay_localstripe.py``
runs the same against localstripe)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from negotiation import AttemptOutcome
from portal.cases.facts import policy
from portal.core import db
from portal.models import (
    Autopay,
    AutopayAttempt,
    AutopayEnd,
    AutopayStatus,
    CardStatus,
    Case,
    Message,
    Payment,
    PaymentStatus,
    Plan,
    PlanInstallment,
    PlanStatus,
    SavedCard,
)
from portal.payments import autopay
from portal.payments.autopay import MandateConsent
from portal.payments.sandbox import chosen_reference

from .factories import NOW, build_case, sign_in
from .test_journey import first_review_link, review_form

CONSENT = MandateConsent("127.0.0.1", "pytest", "zh_Hant_TW", "the mandate as shown")


def plan_on_autopay(app, client, card: str = "4242", installments_kind: str = "arrears_plan"):
    """A borrower who accepted a plan and turned autopay on with the sandbox test card
    ending ``card``. Returns the case id."""
    if "sandbox.card" not in app.view_functions:
        # The sandbox's card page (the borrower's side, tested with the pages) is not
        # what these tests are about: only its address is needed here.
        app.add_url_rule("/sandbox/card/<reference>", "sandbox.card", lambda reference: "")
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(
        client.get(first_review_link(plans, installments_kind)).get_data(as_text=True)
    )
    client.post("/plans/accept", data={**form, "consent": "y"})
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        assert autopay.enroll(session, case, CONSENT, NOW).status is AutopayStatus.PENDING
        setup = autopay.begin_setup(session, case, NOW)
        chosen = chosen_reference(setup.reference, card)
        assert chosen is not None
        saved = autopay.finish_setup(session, case, setup.customer_ref, chosen, NOW)
        assert saved is not None
        assert saved.last4 == card
    return built.case_id


def installments(app, case_id: int) -> list[tuple[date, int, int]]:
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan).where(Plan.case_id == case_id)).one()
        return [(i.due_date, i.amount, i.paid) for i in plan.installments]


def at(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock in Taipei (the test borrower's zone) on ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo("Asia/Taipei")).astimezone(
        UTC
    )


def run(app, moment: datetime, as_of: date | None = None):
    with app.app_context():
        return autopay.run(db.session(), moment, as_of)


def attempts(app) -> list[tuple[int, int, str]]:
    with app.app_context():
        rows = (
            db.session()
            .execute(
                select(
                    AutopayAttempt.installment_id, AutopayAttempt.number, AutopayAttempt.outcome
                ).order_by(AutopayAttempt.id)
            )
            .all()
        )
        return [(i, n, str(o)) for i, n, o in rows]


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model).where(*where)) or 0


def automatic_payment(app, case_id: int, status: PaymentStatus, provider: str) -> int:
    """An open automatic payment for the case's plan, as a run in progress leaves it."""
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan).where(Plan.case_id == case_id)).one()
        payment = Payment(
            case_id=case_id,
            plan_id=plan.id,
            purpose="installment",
            amount=1,
            currency="TWD",
            status=status,
            gateway=provider,
            automatic=True,
            created_at=NOW,
        )
        session.add(payment)
        session.commit()
        return payment.id


def gateway_down(monkeypatch):
    """The sandbox gateway unreachable for every charge; returns its real charge."""
    from portal.payments.gateway import GatewayUnavailableError
    from portal.payments.sandbox import SandboxGateway

    real = SandboxGateway.charge_saved

    def down(self, payment, card, key, resume=False):
        raise GatewayUnavailableError("timeout")

    monkeypatch.setattr(SandboxGateway, "charge_saved", down)
    return real


def test_each_installment_is_charged_on_its_date_once(app, client):
    case_id = plan_on_autopay(app, client)
    schedule = installments(app, case_id)
    first_due, first_amount, _ = schedule[0]
    counts = run(app, at(first_due))
    assert (counts.charged, counts.declined, counts.skipped) == (1, 0, 0)
    assert counts.amount_by_currency == {"TWD": first_amount}
    assert installments(app, case_id)[0][2] == first_amount
    # The run again, the same day: nothing more.
    again = run(app, at(first_due, 15))
    assert again.as_json()["charged"] == 0
    assert count(app, Payment, Payment.automatic.is_(True)) == 1
    if len(schedule) > 1:
        second_due, second_amount, _ = schedule[1]
        # The day before: nothing is due yet.
        assert run(app, at(second_due - timedelta(days=1))).charged == 0
        counts = run(app, at(second_due))
        assert counts.charged == 1
        assert installments(app, case_id)[1][2] == second_amount
    with app.app_context():
        session = db.session()
        payments = session.scalars(select(Payment).where(Payment.automatic.is_(True))).all()
        assert all(p.status is PaymentStatus.SUCCEEDED for p in payments)


def test_outside_the_borrowers_hours_nothing_is_charged_until_they_open(app, client):
    case_id = plan_on_autopay(app, client)
    first_due = installments(app, case_id)[0][0]
    early = run(app, at(first_due, 5))
    assert (early.charged, early.skipped) == (0, 1)
    assert run(app, at(first_due, 9)).charged == 1


def test_a_decline_is_tried_again_on_the_policys_days_then_counts_as_missed(app, client):
    case_id = plan_on_autopay(app, client, card="0341")
    due = installments(app, case_id)[0][0]
    with app.app_context():
        grace, retry = policy().grace_days, policy().autopay_retry_after_days
    assert run(app, at(due)).declined == 1
    # Not again until the retry day.
    for day in range(1, retry):
        assert run(app, at(due + timedelta(days=day))).declined == 0
    assert run(app, at(due + timedelta(days=retry))).declined == 1
    assert run(app, at(due + timedelta(days=grace))).declined == 1
    assert run(app, at(due + timedelta(days=grace + 1))).declined == 0
    made = attempts(app)
    assert [n for _, n, _ in made] == [1, 2, 3]
    assert {o for _, _, o in made} == {"declined"}
    with app.app_context():
        purposes = db.session().scalars(select(Message.purpose).order_by(Message.id)).all()
    assert purposes[-3:] == ["autopay_retry", "autopay_retry", "autopay_failed"]
    assert count(app, Payment, Payment.status == PaymentStatus.FAILED) == 3


def test_authentication_required_is_not_retried_and_the_borrower_gets_a_link(app, client):
    case_id = plan_on_autopay(app, client, card="3184")
    due = installments(app, case_id)[0][0]
    assert run(app, at(due)).needs_authentication == 1
    with app.app_context():
        grace = policy().grace_days
    for day in range(1, grace + 1):
        assert run(app, at(due + timedelta(days=day))).as_json()["needs_authentication"] == 0
    assert [o for _, _, o in attempts(app)] == ["needs_authentication"]
    with app.app_context():
        assert db.session().scalars(select(Message.purpose)).all()[-1] == "autopay_confirm"
    # The borrower pays it by hand: the ordinary checkout is open to them.
    assert client.post("/pay", data={"purpose": "installment"}).status_code == 303


def test_an_expired_card_turns_autopay_off_and_tells_the_borrower(app, client):
    case_id = plan_on_autopay(app, client, card="0069")
    due = installments(app, case_id)[0][0]
    counts = run(app, at(due))
    assert (counts.charged, counts.cards_off) == (0, 1)
    with app.app_context():
        session = db.session()
        mandate = session.scalars(select(Autopay)).one()
        assert mandate.status is AutopayStatus.OFF
        assert mandate.ended_because is AutopayEnd.CARD_UNUSABLE
        assert session.scalars(select(SavedCard)).one().status is CardStatus.DETACHED
        assert session.scalars(select(Message.purpose)).all()[-1] == "autopay_card_off"
    assert run(app, at(due + timedelta(days=3))).as_json()["declined"] == 0


def test_a_card_past_its_expiry_month_is_never_charged(app, client):
    case_id = plan_on_autopay(app, client)
    due = installments(app, case_id)[0][0]
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        card.exp_year, card.exp_month = due.year - 1, 12
        session.commit()
    counts = run(app, at(due))
    assert (counts.charged, counts.cards_off) == (0, 1)
    assert count(app, Payment, Payment.automatic.is_(True)) == 0
    with app.app_context():
        session = db.session()
        assert session.scalars(select(SavedCard)).one().status is CardStatus.EXPIRED
        assert session.scalars(select(Autopay)).one().ended_because is AutopayEnd.CARD_EXPIRED
        assert session.scalars(select(Message.purpose)).all()[-1] == "autopay_card_off"


def test_a_plan_that_ends_takes_its_autopay_with_it(app, client):
    case_id = plan_on_autopay(app, client)
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan).where(Plan.case_id == case_id)).one()
        plan.status = PlanStatus.BROKEN
        session.commit()
    run(app, NOW)
    with app.app_context():
        mandate = db.session().scalars(select(Autopay)).one()
        assert mandate.status is AutopayStatus.OFF
        assert mandate.ended_because is AutopayEnd.PLAN_ENDED


def test_turned_off_means_no_charge(app, client):
    case_id = plan_on_autopay(app, client)
    due = installments(app, case_id)[0][0]
    with app.test_request_context("/"):
        session = db.session()
        assert autopay.turn_off(session, session.get(Case, case_id), NOW)
        assert session.scalars(select(SavedCard)).one().status is CardStatus.REMOVED
    assert run(app, at(due)).charged == 0
    assert count(app, Payment, Payment.automatic.is_(True)) == 0


def test_an_installment_paid_early_by_hand_is_skipped(app, client):
    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    started = client.post("/pay", data={"purpose": "installment"})
    reference = started.headers["Location"].rsplit("/", 1)[-1]
    client.post(f"/sandbox/checkout/{reference}", data={"outcome": "succeed"})
    assert installments(app, case_id)[0][2] == amount
    counts = run(app, at(due))
    assert (counts.charged, counts.skipped) == (0, 1)
    assert count(app, Payment, Payment.automatic.is_(True)) == 0


def test_a_payment_by_hand_in_progress_stops_the_automatic_one(app, client):
    case_id = plan_on_autopay(app, client)
    due = installments(app, case_id)[0][0]
    assert client.post("/pay", data={"purpose": "installment"}).status_code == 303
    counts = run(app, at(due))
    assert (counts.charged, counts.skipped) == (0, 1)
    assert count(app, Payment) == 1


def test_an_automatic_charge_in_progress_stops_paying_by_hand(app, client):
    case_id = plan_on_autopay(app, client)
    automatic_payment(app, case_id, PaymentStatus.PENDING, "sandbox")
    answer = client.post("/pay", data={"purpose": "installment"})
    assert answer.status_code == 422
    assert count(app, Payment) == 1


def test_the_gateway_down_mid_run_loses_nothing_and_doubles_nothing(app, client, monkeypatch):
    from portal.payments.sandbox import SandboxGateway

    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    real = gateway_down(monkeypatch)
    counts = run(app, at(due))
    assert (counts.charged, counts.unreachable) == (0, 1)
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        assert payment.status is PaymentStatus.UNKNOWN
        key = db.session().scalars(select(AutopayAttempt.key)).one()
    keys = []

    def back(self, payment, card, key, resume=False):
        keys.append(key)
        return real(self, payment, card, key, resume)

    monkeypatch.setattr(SandboxGateway, "charge_saved", back)
    # Even past the grace period: an unfinished attempt is finished, with the same key.
    with app.app_context():
        grace = policy().grace_days
    counts = run(app, at(due + timedelta(days=grace + 10)))
    assert counts.charged == 1
    assert keys == [key]
    assert installments(app, case_id)[0][2] == amount
    assert count(app, Payment) == 1
    assert [n for _, n, _ in attempts(app)] == [1]


@pytest.mark.parametrize("as_of_offset", [0, 1])
def test_as_of_charges_what_falls_due_that_day(app, client, as_of_offset):
    case_id = plan_on_autopay(app, client)
    due = installments(app, case_id)[0][0]
    counts = run(app, at(due), due + timedelta(days=as_of_offset))
    assert counts.charged == 1


def test_the_attempt_number_is_unique_per_installment(app, client):
    case_id = plan_on_autopay(app, client, card="0341")
    due = installments(app, case_id)[0][0]
    run(app, at(due))
    with app.app_context():
        session = db.session()
        first = session.scalars(select(AutopayAttempt)).one()
        installment = session.get(PlanInstallment, first.installment_id)
        assert installment is not None
        session.add(
            AutopayAttempt(
                autopay_id=first.autopay_id,
                installment_id=first.installment_id,
                number=1,
                scheduled_on=due,
                outcome=AttemptOutcome.DECLINED,
                amount=1,
                currency="TWD",
                key="another",
                created_at=NOW,
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_an_unknown_attempt_is_finished_on_its_card_after_autopay_is_turned_off(
    app, client, monkeypatch
):
    """Started before the borrower turned autopay off: the provider may have charged
    it, so it is asked again, on the same card with the same key, and whatever it says
    is applied once; nothing new is started."""
    from portal.payments.sandbox import SandboxGateway

    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    real = gateway_down(monkeypatch)
    assert run(app, at(due)).unreachable == 1
    with app.test_request_context("/"):
        session = db.session()
        assert autopay.turn_off(session, session.get(Case, case_id), at(due))
        charged_card = session.scalars(select(AutopayAttempt.card_id)).one()
    seen = []

    def back(self, payment, card, key, resume=False):
        seen.append(card.id)
        return real(self, payment, card, key, resume)

    monkeypatch.setattr(SandboxGateway, "charge_saved", back)
    assert run(app, at(due + timedelta(days=1))).charged == 1
    assert seen == [charged_card]
    assert installments(app, case_id)[0][2] == amount
    # And nothing after it: autopay is off.
    second = installments(app, case_id)[1][0] if len(installments(app, case_id)) > 1 else None
    if second is not None:
        assert run(app, at(second)).charged == 0
    assert count(app, Payment) == 1


def test_the_sweeper_leaves_a_lost_automatic_charge_to_the_autopay_run(app, client, monkeypatch):
    """A checkout's recovery (a new on-session intent under the checkout's key) is not
    an automatic charge's: the run asks again with the attempt's own key."""
    from portal.payments import sweeper
    from portal.payments.stripe_checkout import StripeGateway
    from portal.payments.stripe_gateway import StripeSettings

    case_id = plan_on_autopay(app, client)
    payment_id = automatic_payment(app, case_id, PaymentStatus.UNKNOWN, "stripe")
    with app.app_context():
        session = db.session()
        payment = session.get(Payment, payment_id)
        assert payment is not None

        def no_intent(self, payment):
            raise AssertionError("no checkout intent for an automatic charge")

        monkeypatch.setattr(StripeGateway, "new_intent", no_intent)
        settings = StripeSettings("sk", "pk", "wh", "http://127.0.0.1:9", "js")
        assert sweeper.check(session, settings, payment, NOW) is sweeper.Checked.UNDECIDED
        assert payment.gateway_reference is None


@pytest.mark.parametrize("renewed", [True, False])
def test_a_card_that_looks_expired_is_checked_with_the_provider_first(
    app, client, monkeypatch, renewed
):
    """A bank may renew a card (Stripe's card updater moves a saved card's expiry): it
    is kept, with its new expiry. One the provider no longer has is ended as gone."""
    from portal.payments.gateway import CardDetails
    from portal.payments.sandbox import SandboxGateway

    case_id = plan_on_autopay(app, client)
    due = installments(app, case_id)[0][0]
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        card.exp_year, card.exp_month = due.year - 1, 12
        session.commit()

    def refreshed(self, card):
        if not renewed:
            return None
        return CardDetails(card.customer_ref, card.method_ref, card.brand, card.last4, 12, 2031)

    monkeypatch.setattr(SandboxGateway, "refresh_card", refreshed)
    counts = run(app, at(due))
    with app.app_context():
        card = db.session().scalars(select(SavedCard)).one()
        if renewed:
            assert (counts.charged, counts.cards_off) == (1, 0)
            assert (card.exp_month, card.exp_year, card.status) == (12, 2031, CardStatus.ACTIVE)
        else:
            assert (counts.charged, counts.cards_off) == (0, 1)
            assert card.status is CardStatus.DETACHED


def test_a_card_removed_at_stripe_turns_autopay_off_at_once(app, client):
    """Stripe's signed ``payment_method.detached``: the card ends, autopay on it stops and
    the borrower is told; a redelivery, or the echo of our own removal, changes nothing."""
    import json

    from .test_stripe_webhooks import SECRET, deliver, signed

    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    plan_on_autopay(app, client)
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        card.gateway, card.method_ref = "stripe", "pm_test_gone"
        session.commit()
    body = json.dumps(
        {
            "id": "evt_detached",
            "object": "event",
            "type": "payment_method.detached",
            "data": {"object": {"id": "pm_test_gone", "object": "payment_method"}},
        }
    ).encode()
    for _ in range(2):
        assert deliver(client, body, signed(body)).status_code == 200
    with app.app_context():
        session = db.session()
        assert session.scalars(select(SavedCard)).one().status is CardStatus.DETACHED
        mandate = session.scalars(select(Autopay)).one()
        assert mandate.ended_because is AutopayEnd.CARD_UNUSABLE
        assert session.scalars(select(Message.purpose)).all().count("autopay_card_off") == 1


def second_loan_on_the_same_card(app, case_id: int) -> int:
    """Another loan of the same borrower, with a live plan of one installment on
    autopay with the same card. Returns its case id."""
    from portal.models import Loan

    with app.app_context():
        session = db.session()
        first = session.get(Case, case_id)
        assert first is not None
        loan = Loan(
            number=f"{first.loan.number}-2",
            currency="TWD",
            principal=100_000,
            annual_rate_pct=first.loan.annual_rate_pct,
            frequency="monthly",
            start_date=first.loan.start_date,
            borrower_id=first.loan.borrower_id,
        )
        case = Case(loan=loan)
        session.add_all([loan, case])
        session.flush()
        plan = Plan(
            case_id=case.id,
            status=PlanStatus.ACTIVE,
            kind="arrears_plan",
            currency="TWD",
            restructured=1_000,
            total=1_000,
            accepted_at=NOW,
        )
        session.add(plan)
        session.flush()
        session.add(PlanInstallment(plan_id=plan.id, sequence=1, due_date=NOW.date(), amount=1_000))
        card = session.scalars(select(SavedCard)).one()
        session.add(
            Autopay(
                plan_id=plan.id,
                card_id=card.id,
                status=AutopayStatus.ON,
                consented_at=NOW,
                terms_version=autopay.MANDATE_VERSION,
                locale="zh_Hant_TW",
                shown_hash="x",
                ip_address="127.0.0.1",
                user_agent="pytest",
                started_at=NOW,
            )
        )
        session.commit()
        return case.id


def mandates(app) -> dict[int, tuple[str, int | None]]:
    """Each plan's mandate: its status and card."""
    with app.app_context():
        rows = db.session().execute(select(Autopay.plan_id, Autopay.status, Autopay.card_id)).all()
        return {plan: (str(status), card) for plan, status, card in rows}


def test_one_card_serves_all_the_borrowers_loans(app, client):
    """Turning autopay off on one loan keeps the card for the other; a new card moves
    both; a card that is gone turns off both, each case told."""
    first = plan_on_autopay(app, client)
    second = second_loan_on_the_same_card(app, first)
    with app.test_request_context("/"):
        session = db.session()
        assert autopay.turn_off(session, session.get(Case, first), NOW)
        assert session.scalars(select(SavedCard)).one().status is CardStatus.ACTIVE
    assert sorted(status for status, _ in mandates(app).values()) == ["off", "on"]
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, second)
        setup = autopay.begin_setup(session, case, NOW)
        chosen = chosen_reference(setup.reference, "0341")
        assert chosen is not None
        new = autopay.finish_setup(session, case, setup.customer_ref, chosen, NOW)
        assert new is not None
        new_id = new.id
    assert [card for status, card in mandates(app).values() if status == "on"] == [new_id]
    with app.app_context():
        # The first loan turned on again, with the new card.
        session = db.session()
        session.execute(
            Autopay.__table__.update()
            .where(Autopay.status == "off")
            .values(status="on", card_id=new_id)
        )
        session.commit()
    with app.test_request_context("/"):
        session = db.session()
        card = session.get(SavedCard, new_id)
        assert card is not None
        assert autopay.card_gone(session, "sandbox", card.method_ref, NOW)
    assert {status for status, _ in mandates(app).values()} == {"off"}
    with app.app_context():
        told = (
            db.session()
            .scalars(select(Message.case_id).where(Message.purpose == "autopay_card_off"))
            .all()
        )
    assert sorted(told) == sorted([first, second])


def test_the_command_prints_one_json_object_and_a_rerun_charges_nothing(app, client):
    import json

    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli

    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    info = ScriptInfo(create_app=lambda: app)
    app.config["HAOHUAN_NOW"] = at(due).isoformat()
    printed = []
    for _ in range(2):
        result = CliRunner().invoke(cli, ["payments", "autopay", "--json"], obj=info)
        assert result.exit_code == 0, result.output
        printed.append(json.loads(result.output))
    first, second = printed
    assert set(first) >= {
        "charged",
        "declined",
        "needs_authentication",
        "skipped",
        "amount_by_currency",
    }
    assert all(isinstance(first[key], int) for key in first if key != "amount_by_currency")
    assert first["charged"] == 1
    assert first["amount_by_currency"] == {"TWD": amount}
    assert second["charged"] == 0
    assert second["amount_by_currency"] == {}
    plain = CliRunner().invoke(cli, ["payments", "autopay", "--as-of", due.isoformat()], obj=info)
    assert plain.exit_code == 0
    assert plain.output.startswith("charged 0 installments")
    bad = CliRunner().invoke(cli, ["payments", "autopay", "--as-of", "tomorrow"], obj=info)
    assert bad.exit_code == 2


@pytest.mark.parametrize(
    ("card", "said"),
    [("0069", "您儲存的信用卡已無法扣款"), ("4242", "您儲存的信用卡已過期")],
)
def test_the_status_page_says_why_autopay_went_off(app, client, card, said):
    case_id = plan_on_autopay(app, client, card=card)
    due = installments(app, case_id)[0][0]
    if card == "4242":
        with app.app_context():
            session = db.session()
            saved = session.scalars(select(SavedCard)).one()
            saved.exp_year, saved.exp_month = due.year - 1, 12
            session.commit()
    assert run(app, at(due)).cards_off == 1
    page = client.get("/status").get_data(as_text=True)
    assert said in page


def test_an_unanswered_charge_is_asked_again_by_a_job_soon(app, client, monkeypatch):
    """Not at the next hourly run: until it is, the borrower cannot pay by hand. The job
    asks again with the same key; while the gateway is still down it waits longer, three
    times, then leaves it to the run."""
    from portal.core import jobs

    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    queued: list[tuple[object, tuple[object, ...], object]] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda function, *args, delay=None: queued.append((function, args, delay))
    )
    real = gateway_down(monkeypatch)
    assert run(app, at(due)).unreachable == 1
    assert queued == [(autopay.resume_job, (queued[0][1][0], 0), autopay.RESUME_DELAYS[0])]
    installment_id = queued[0][1][0]
    for round_ in range(len(autopay.RESUME_DELAYS)):
        queued.clear()
        with app.app_context():
            app.config["HAOHUAN_NOW"] = at(due, 11).isoformat()
            autopay.resume_job(installment_id, round_)
        last = round_ + 1 == len(autopay.RESUME_DELAYS)
        assert queued == (
            []
            if last
            else [
                (
                    autopay.resume_job,
                    (installment_id, round_ + 1),
                    autopay.RESUME_DELAYS[round_ + 1],
                )
            ]
        )
    from portal.payments.sandbox import SandboxGateway

    monkeypatch.setattr(SandboxGateway, "charge_saved", real)
    with app.app_context():
        autopay.resume_job(installment_id)
    assert installments(app, case_id)[0][2] == amount
    assert count(app, Payment) == 1
    assert [o for _, _, o in attempts(app)] == ["succeeded"]
    with app.app_context():
        # Finished: a job that comes late does nothing.
        assert autopay.resume(db.session(), installment_id, at(due, 12)).as_json()["charged"] == 0
