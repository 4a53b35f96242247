"""A hypothesis state machine over the money paths: random part payments, plans
accepted and withdrawn, payments approved and declined, double clicks. After every
step the books balance and every paid figure stays within what was owed."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from negotiation.accounts import default_document, load_chart
from portal import create_app
from portal.core import db
from portal.core.clock import now
from portal.finance import journals
from portal.models import Allocation, Case, LoanCharge, Payment, Plan, Waiver
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle

from .factories import app_config, build_case, sign_in

TEMPLATE: dict[str, Path] = {}


@pytest.fixture
def template(sqlite_template):
    TEMPLATE["path"] = sqlite_template
    return sqlite_template


class MoneyPaths(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        folder = Path(tempfile.mkdtemp())
        shutil.copy(TEMPLATE["path"], folder / "haohuan.db")
        self.app = create_app(app_config(f"sqlite:///{folder}/haohuan.db"))
        self.client = self.app.test_client()
        self.built = build_case(self.app)
        sign_in(self.client, self.built)
        self.checkouts: list[str] = []
        self.events = 0

    def teardown(self) -> None:
        self.app.extensions["haohuan.engine"].dispose()

    @rule(amount=st.integers(min_value=1, max_value=12_000))
    def part_payment(self, amount: int) -> None:
        response = self.client.post("/pay", data={"purpose": "partial", "amount": str(amount)})
        if response.status_code == 303:
            self.checkouts.append(response.location)

    @rule(kind=st.sampled_from(["pay_in_full", "arrears_plan", "restructure", "deferral"]))
    def accept(self, kind: str) -> None:
        plans = self.client.get("/plans").get_data(as_text=True)
        links = [
            link.replace("&amp;", "&")
            for link in re.findall(r'href="(/plans/review\?[^"]+)"', plans)
            if f"kind={kind}" in link
        ]
        if not links:
            return
        page = self.client.get(links[0]).get_data(as_text=True)
        fields = dict(
            re.findall(r'<input id="(\w+)" name="\w+" type="hidden" value="([^"]*)"', page)
        )
        fields.pop("csrf_token", None)
        if fields:
            self.client.post("/plans/accept", data={**fields, "consent": "y"})

    @rule()
    def withdraw(self) -> None:
        self.client.post("/plans/withdraw")

    @rule()
    def open_installment_payment(self) -> None:
        response = self.client.post("/pay", data={"purpose": "installment"})
        if response.status_code == 303 and "/sandbox/" in response.location:
            self.checkouts.append(response.location)

    @rule(data=st.data(), outcome=st.sampled_from(["succeed", "succeed", "fail"]))
    def answer_a_checkout(self, data: st.DataObject, outcome: str) -> None:
        if self.checkouts:
            checkout = data.draw(st.sampled_from(self.checkouts))
            self.client.post(checkout, data={"outcome": outcome})

    @rule(data=st.data(), share=st.integers(min_value=1, max_value=100))
    def refund(self, data: st.DataObject, share: int) -> None:
        """Stripe refunds part (or all) of a succeeded payment; totals only grow."""
        payment = self._succeeded(data)
        if payment is not None:
            total = min(payment.amount, payment.refunded + payment.amount * share // 100)
            self._event(payment, Outcome.REFUNDED, total)

    @rule(data=st.data(), won=st.booleans())
    def dispute(self, data: st.DataObject, won: bool) -> None:
        """A dispute opens on a succeeded payment, or is settled."""
        payment = self._succeeded(data)
        if payment is not None:
            held = 0 if won else payment.amount - payment.refunded
            self._event(payment, Outcome.DISPUTED, held)

    def _succeeded(self, data: st.DataObject) -> Payment | None:
        with self.app.app_context():
            paid = db.session().scalars(select(Payment).where(Payment.status == "succeeded")).all()
        return data.draw(st.sampled_from(paid)) if paid else None

    def _event(self, payment: Payment, outcome: Outcome, amount: int) -> None:
        self.events += 1
        event = GatewayEvent(
            "sandbox", f"evt_state_{self.events}", payment.gateway_reference or "", outcome, amount
        )
        with self.app.test_request_context("/"):
            handle(db.session(), event, now())

    @invariant()
    def the_books_balance(self) -> None:
        with self.app.app_context():
            session = db.session()
            assert ledger.check(session) == []
            received = sum(
                p.kept
                for p in session.scalars(select(Payment).where(Payment.status == "succeeded"))
            )
            allocated = session.scalar(select(func.coalesce(func.sum(Allocation.amount), 0)))
            assert received == allocated

    @invariant()
    def the_journals_balance_and_post_the_ledger(self) -> None:
        """The general-ledger journals of the plans' real waivers, reinstatements,
        refunds and disputes balance, and post what the rows hold."""
        with self.app.app_context():
            session = db.session()
            found = journals.check(session, ZoneInfo("Asia/Taipei"), load_chart(default_document()))
            assert found == []

    @invariant()
    def plans_and_cases_agree(self) -> None:
        with self.app.app_context():
            session = db.session()
            plans = session.scalars(select(Plan)).all()
            live = [p for p in plans if p.status in ("pending", "active")]
            assert len(live) <= 1
            for plan in plans:
                assert all(0 <= i.paid <= i.amount for i in plan.installments)
            case = session.get(Case, self.built.case_id)
            if any(p.status == "active" for p in plans):
                assert case.status == "arranged"

    @invariant()
    def waivers_stand_only_while_earned(self) -> None:
        """What a plan wrote off stands only while the payments that earned it do: a
        refunded or disputed payment takes its waivers back, item by item."""
        with self.app.app_context():
            session = db.session()
            standing = session.scalars(select(Waiver).where(Waiver.reinstated_at.is_(None)))
            by_charge: dict[int, int] = {}
            for waiver in standing:
                plan = session.get(Plan, waiver.plan_id)
                earned = ("active", "completed") if waiver.earned_by == "activation" else ()
                assert plan.status in (*earned, "completed"), (waiver.earned_by, plan.status)
                if waiver.charge_id is not None:
                    by_charge[waiver.charge_id] = by_charge.get(waiver.charge_id, 0) + waiver.amount
            for charge_id, amount in by_charge.items():
                assert amount <= session.get(LoanCharge, charge_id).waived


def test_money_paths_keep_every_invariant(template):
    MoneyPaths.TestCase.settings = settings(
        max_examples=int(os.environ.get("HAOHUAN_STATEFUL_EXAMPLES", "30")),
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    MoneyPaths.TestCase().runTest()
