"""Exceptions against localstripe (the real stripe SDK on 127.0.0.1; CI sets
HAOHUAN_TEST_LOCALSTRIPE): a refund made at Stripe and a stray charge become exceptions;
the refund recorded through the gateway's path leaves the ledger exact; neither is
reopened by the next run; and a month closed refuses to reopen without an admin."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from flask import Flask
from sqlalchemy import select

from portal.core import db
from portal.finance import closing
from portal.finance import exceptions as work
from portal.finance.closing import CloseError, CloseRefusal
from portal.finance.reconcile import reconcile
from portal.models import Case, Payment, ReconciliationException, ReconciliationItem, StaffMember
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.stripe_gateway import StripeSettings

from .factories import add_staff, build_case
from .localstripe_server import running

pytestmark = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

# localstripe dates everything by the real clock, so the periods here are real times.
MOMENT = datetime.now(UTC).replace(microsecond=0)
SINCE, UNTIL = MOMENT - timedelta(hours=1), MOMENT + timedelta(hours=1)
KEY = "sk_test_haohuan"
MEI, LI, BOSS = "mei@haohuan.example", "li@haohuan.example", "boss@haohuan.example"


@pytest.fixture
def extra_config():
    return {"FINANCE_APPROVAL_ABOVE": "TWD=100000"}


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def stripe_url(app: Flask, localstripe: str) -> str:
    """localstripe emptied, and the app pointed at it."""
    request = urllib.request.Request(f"{localstripe}/_config/data", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback http)
        assert answer.status == 200
    app.config.update(STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=localstripe)
    add_staff(app, MEI)
    add_staff(app, LI)
    add_staff(app, BOSS, roles=("admin",))
    return localstripe


def stripe_client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": url})


def charge(url: str, amount: int) -> str:
    """A PaymentIntent paid by card at Stripe; its id."""
    params = {"amount": amount, "currency": "twd", "payment_method": "pm_card_visa"}
    return str(stripe_client(url).v1.payment_intents.create(params={**params, "confirm": True}).id)


def refund_at_stripe(url: str, intent_id: str, amount: int) -> None:
    """A refund made from Stripe's dashboard, by charge."""
    client = stripe_client(url)
    latest = client.v1.payment_intents.retrieve(intent_id).latest_charge
    charge_id = latest if isinstance(latest, str) else latest.id
    client.v1.refunds.create(params={"charge": charge_id, "amount": amount})


def ours(app: Flask, intent_id: str, amount: int) -> int:
    """Our payment of the intent, confirmed through the gateway's event."""
    case_id = build_case(app).case_id
    with app.test_request_context("/"):
        session = db.session()
        payment = Payment(
            case_id=session.get(Case, case_id).id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status="pending",
            gateway="stripe",
            gateway_reference=intent_id,
            created_at=MOMENT,
        )
        session.add(payment)
        session.commit()
        handle(
            session, GatewayEvent("stripe", f"ok_{intent_id}", intent_id, Outcome.SUCCEEDED), MOMENT
        )
        return payment.id


def member(email: str) -> StaffMember:
    return db.session().scalars(select(StaffMember).where(StaffMember.email == email)).one()


def run(since: datetime = SINCE, until: datetime = UNTIL, now: datetime = MOMENT) -> int:
    found = reconcile(db.session(), StripeSettings.from_config(), since, until, "test", now)
    return found.id


def by_note(note_code: str) -> ReconciliationException:
    query = select(ReconciliationException).join(ReconciliationException.item)
    return db.session().scalars(query.where(ReconciliationItem.note_code == note_code)).one()


def test_exceptions_resolved_stay_resolved_in_the_next_run(app, stripe_url):
    intent = charge(stripe_url, 500_000)
    payment_id = ours(app, intent, 500_000)
    refund_at_stripe(stripe_url, intent, 100_000)  # never recorded here
    charge(stripe_url, 120_000)  # a stray charge
    with app.test_request_context("/"):
        run()
        session = db.session()
        statuses = sorted(
            (e.kind, e.item.note_code) for e in session.scalars(select(ReconciliationException))
        )
        assert statuses == [("amount_mismatch", "refunds_differ"), ("missing_here", "no_payment")]
        work.record_refund(session, by_note("refunds_differ"), member(MEI), MOMENT)
        work.write_off(session, by_note("no_payment"), member(MEI), "a test charge", MOMENT)
        session.expire_all()
        assert session.get(Payment, payment_id).refunded == 100_000
        assert ledger.check(session) == []
        second = run()
        found = session.scalars(select(ReconciliationException)).all()
        assert sorted((e.status, e.resolution) for e in found) == [
            ("resolved", "recorded_refund"),
            ("written_off", "written_off"),
        ]
        refund_lines = session.scalars(
            select(ReconciliationItem.kind).where(
                ReconciliationItem.run_id == second, ReconciliationItem.transaction_type == "refund"
            )
        )
        assert list(refund_lines) == ["matched"]


def test_a_month_closed_refuses_to_reopen_without_an_admin(app, stripe_url):
    ours(app, charge(stripe_url, 300_000), 300_000)
    charge(stripe_url, 50_000)  # a stray charge
    with app.test_request_context("/"):
        zone = closing.finance_zone()
        month = closing.month_of(MOMENT, zone)
        start, end = closing.month_bounds(month, zone)
        after = end + timedelta(days=1)
        session = db.session()
        run(start, end, after)
        with pytest.raises(CloseError) as refused:
            closing.close(session, month, member(MEI), after)
        assert refused.value.reason is CloseRefusal.OPEN_EXCEPTIONS
        work.mark_duplicate(session, by_note("no_payment"), member(MEI), "charged twice", after)
        closing.close(session, month, member(MEI), after)
        with pytest.raises(closing.PeriodClosedError):
            run(start, end, after)
        for who in (MEI, LI):
            with pytest.raises(CloseError) as refused:
                closing.reopen(session, month, member(who), "a late refund", after)
            assert refused.value.reason is CloseRefusal.NOT_ADMIN
        assert closing.closed(session, month) is not None
        closing.reopen(session, month, member(BOSS), "a late refund", after)
        assert closing.closed(session, month) is None
        run(start, end, after)  # open again
