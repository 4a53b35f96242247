"""Automatic plan payments against a real local Stripe: localstripe as a process on
127.0.0.1 (taught what it lacks in ``localstripe_server``: idempotency keys, off-session
refusals, SetupIntents attaching their card), the portal's ``StripeGateway`` and the real
stripe SDK. The card is saved as Stripe.js saves it (a SetupIntent confirmed with a test
card at Stripe), then each run charges off session.

What is counted at Stripe as well as here: a re-run, an outage and the webhook that
follows every charge make one PaymentIntent and one charge per installment. Runs when
HAOHUAN_TEST_LOCALSTRIPE is set (CI sets it)."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.cases.facts import policy
from portal.cli import cli
from portal.core import db
from portal.finance.reconcile import reconcile
from portal.models import (
    Allocation,
    Autopay,
    AutopayAttempt,
    AutopayEnd,
    AutopayStatus,
    CardStatus,
    Case,
    Message,
    Payment,
    PaymentStatus,
    ProcessedEvent,
    SavedCard,
)
from portal.payments import autopay, ledger
from portal.payments.stripe_gateway import StripeSettings
from portal.payments.sweeper import sweep

from .factories import NOW
from .localstripe_server import empty, free_port, pay_at_stripe, prune_keys, running
from .localstripe_server import register_webhook as register
from .test_autopay import CONSENT, at, attempts, count, installments
from .test_stripe_checkout import accept_a_plan

pytestmark = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

KEY = "sk_test_haohuan"
WEBHOOK_SECRET = "whsec_localstripe"
# Nothing listens here: where webhooks go in the tests that do not serve the portal.
CLOSED = f"http://127.0.0.1:{free_port()}"

VISA = "4242424242424242"
# Stripe's test cards: attaches, then every charge is declined; always asks for
# authentication (at the setup, and on every payment after it).
DECLINED_AFTER_ATTACHING = "4000000000000341"
ALWAYS_AUTHENTICATE = "4000002760003184"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def stripe_base(localstripe: str) -> str:
    """localstripe, emptied (its objects and the idempotency keys they were made with:
    every test's database numbers its installments from 1 again), webhooks going
    nowhere unless a test serves the portal."""
    empty(localstripe)
    register_webhook(localstripe, CLOSED)
    return localstripe


@pytest.fixture
def extra_config(stripe_base: str) -> dict[str, object]:
    return {
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_haohuan",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_base,
    }


@pytest.fixture(autouse=True)
def card_page(app) -> None:
    """The card page's address. The page itself (the borrower's side, tested with the
    pages) is not what these tests are about."""
    if "autopay.card" not in app.view_functions:
        app.add_url_rule("/autopay/card/<reference>", "autopay.card", lambda reference: "")


def register_webhook(localstripe: str, url: str) -> None:
    """Where localstripe delivers its signed events."""
    register(localstripe, url, WEBHOOK_SECRET)


def sdk(base: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": base})


def confirm_setup(base: str, setup_id: str, number: str) -> str:
    """What Stripe.js does on the card page: the card entered, the SetupIntent confirmed,
    and the bank's authentication completed when it asks (localstripe's Stripe.js
    confirms again). Returns the SetupIntent's status."""
    intents = sdk(base).v1.setup_intents
    card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    found = intents.confirm(
        setup_id, params={"payment_method_data": {"type": "card", "card": card}}
    )
    if found.status == "requires_action":
        found = intents.confirm(setup_id)
    return str(found.status)


def save_card(app, case_id: int, base: str, number: str) -> SavedCard:
    """The borrower saves ``number`` for the plan's autopay: a SetupIntent begun here,
    confirmed at Stripe, finished here."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        setup = autopay.begin_setup(session, case, NOW)
    assert confirm_setup(base, setup.reference, number) == "succeeded"
    with app.test_request_context("/"):
        session = db.session()
        saved = autopay.finish_setup(
            session, session.get(Case, case_id), setup.customer_ref, setup.reference, NOW
        )
        assert saved is not None
        session.expunge(saved)
        return saved


def plan_on_autopay(app, client, base: str, number: str = VISA) -> int:
    """A borrower who accepted a plan, consented to autopay and saved ``number`` at
    Stripe. Returns the case id."""
    case_id = accept_a_plan(app, client)
    with app.test_request_context("/"):
        session = db.session()
        mandate = autopay.enroll(session, session.get(Case, case_id), CONSENT, NOW)
        assert mandate is not None
        assert mandate.status is AutopayStatus.PENDING
    save_card(app, case_id, base, number)
    return case_id


def run(app, moment: datetime):
    with app.app_context():
        return autopay.run(db.session(), moment)


def at_stripe(base: str) -> tuple[list[Any], list[Any]]:
    """Every PaymentIntent and every charge localstripe holds."""
    client = sdk(base)
    intents = list(client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())
    charges = list(client.v1.charges.list(params={"limit": 100}).auto_paging_iter())
    return intents, charges


def automatic(app) -> list[Payment]:
    with app.app_context():
        session = db.session()
        found = list(
            session.scalars(select(Payment).where(Payment.automatic.is_(True)).order_by(Payment.id))
        )
        for payment in found:
            session.expunge(payment)
        return found


def purposes(app) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(select(Message.purpose).order_by(Message.id)))


def method_at_stripe(base: str, method: str) -> Any:
    return sdk(base).v1.payment_methods.retrieve(method)


# Opting in, and charging on the date ---------------------------------------------------


def test_opting_in_saves_the_card_to_the_borrowers_customer_at_stripe(app, client, stripe_base):
    case_id = plan_on_autopay(app, client, stripe_base)
    with app.app_context():
        session = db.session()
        card = session.scalars(select(SavedCard)).one()
        mandate = session.scalars(select(Autopay)).one()
        assert (card.gateway, card.brand, card.last4) == ("stripe", "visa", "4242")
        assert (card.exp_month, card.exp_year) == (12, 2030)
        assert mandate.status is AutopayStatus.ON
        assert mandate.card_id == card.id
        customer, method = card.customer_ref, card.method_ref
    assert customer.startswith("cus_")
    assert method.startswith("pm_")
    assert method_at_stripe(stripe_base, method).customer == customer
    # Saving a second card keeps the customer and removes the first card at Stripe.
    second = save_card(app, case_id, stripe_base, VISA)
    assert second.customer_ref == customer
    assert second.method_ref != method
    assert method_at_stripe(stripe_base, method).customer is None
    assert method_at_stripe(stripe_base, second.method_ref).customer == customer


def test_each_installment_is_charged_at_stripe_on_its_date_once(app, client, stripe_base):
    case_id = plan_on_autopay(app, client, stripe_base)
    due, amount, _ = installments(app, case_id)[0]
    assert run(app, at(due - timedelta(days=1))).charged == 0
    counts = run(app, at(due))
    assert (counts.charged, counts.declined, counts.skipped) == (1, 0, 0)
    assert counts.amount_by_currency == {"TWD": amount}
    assert installments(app, case_id)[0][2] == amount
    # Again the same day, from the command as cron runs it: nothing more, here or there.
    app.config["HAOHUAN_NOW"] = at(due, 15).isoformat()
    again = CliRunner().invoke(
        cli, ["payments", "autopay", "--json"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["charged"] == 0
    assert run(app, at(due + timedelta(days=1))).charged == 0
    (payment,) = automatic(app)
    assert payment.status is PaymentStatus.SUCCEEDED
    intents, charges = at_stripe(stripe_base)
    assert [intent.id for intent in intents] == [payment.gateway_reference]
    (intent,) = intents
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", amount, "twd")
    assert intent.metadata["payment_id"] == str(payment.id)
    assert intent.metadata["automatic"] == "1"
    assert [charge.payment_intent for charge in charges] == [intent.id]


# Failures ---------------------------------------------------------------------------


def test_a_decline_is_retried_and_the_retry_charges_the_card_saved_meanwhile(
    app, client, stripe_base
):
    case_id = plan_on_autopay(app, client, stripe_base, DECLINED_AFTER_ATTACHING)
    due, amount, _ = installments(app, case_id)[0]
    with app.app_context():
        retry_days = policy().autopay_retry_after_days
    first = run(app, at(due))
    assert (first.charged, first.declined) == (0, 1)
    (declined,) = automatic(app)
    assert declined.status is PaymentStatus.FAILED
    assert declined.gateway_reference is not None  # the intent Stripe refused
    with app.app_context():
        code = db.session().scalars(select(AutopayAttempt.decline_code)).one()
    assert code == "generic_decline"
    assert purposes(app)[-1] == autopay.NOTICE_RETRY
    # Nothing before the retry day; the borrower saves another card meanwhile.
    for day in range(1, retry_days):
        assert run(app, at(due + timedelta(days=day))).as_json()["declined"] == 0
    old = save_card(app, case_id, stripe_base, VISA)
    retried = run(app, at(due + timedelta(days=retry_days)))
    assert (retried.charged, retried.declined) == (1, 0)
    assert installments(app, case_id)[0][2] == amount
    assert [(n, o) for _, n, o in attempts(app)] == [(1, "declined"), (2, "succeeded")]
    intents, charges = at_stripe(stripe_base)
    assert sorted(intent.status for intent in intents) == ["requires_payment_method", "succeeded"]
    assert sorted(charge.status for charge in charges) == ["failed", "succeeded"]
    assert {intent.id for intent in intents} == {p.gateway_reference for p in automatic(app)}
    assert method_at_stripe(stripe_base, old.method_ref).customer == old.customer_ref


def test_authentication_required_is_not_retried_and_the_borrower_is_asked_to_confirm(
    app, client, stripe_base
):
    case_id = plan_on_autopay(app, client, stripe_base, ALWAYS_AUTHENTICATE)
    due = installments(app, case_id)[0][0]
    counts = run(app, at(due))
    assert (counts.charged, counts.needs_authentication) == (0, 1)
    assert purposes(app)[-1] == autopay.NOTICE_CONFIRM
    with app.app_context():
        grace = policy().grace_days
    for day in range(1, grace + 2):
        assert run(app, at(due + timedelta(days=day))).needs_authentication == 0
    assert [o for _, _, o in attempts(app)] == ["needs_authentication"]
    (intent,), charges = at_stripe(stripe_base)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "authentication_required"
    assert charges == []
    (payment,) = automatic(app)
    assert (payment.status, payment.gateway_reference) == (PaymentStatus.FAILED, intent.id)
    # The link in the notice leads to the ordinary checkout: a new payment, by hand.
    assert client.post("/pay", data={"purpose": "installment"}).status_code == 303


def test_a_card_detached_at_stripe_turns_autopay_off_and_tells_the_borrower(
    app, client, stripe_base
):
    case_id = plan_on_autopay(app, client, stripe_base)
    due = installments(app, case_id)[0][0]
    with app.app_context():
        method = db.session().scalars(select(SavedCard.method_ref)).one()
    sdk(stripe_base).v1.payment_methods.detach(method)  # from Stripe's dashboard
    counts = run(app, at(due))
    assert (counts.charged, counts.cards_off, counts.unreachable) == (0, 1, 0)
    with app.app_context():
        session = db.session()
        assert session.scalars(select(SavedCard.status)).one() is CardStatus.DETACHED
        mandate = session.scalars(select(Autopay)).one()
        assert (mandate.status, mandate.ended_because) == (
            AutopayStatus.OFF,
            AutopayEnd.CARD_UNUSABLE,
        )
    assert purposes(app)[-1] == autopay.NOTICE_CARD_OFF
    assert at_stripe(stripe_base) == ([], [])


# The borrower in control ----------------------------------------------------------


def test_turned_off_nothing_is_charged_and_the_card_is_detached_at_stripe(app, client, stripe_base):
    case_id = plan_on_autopay(app, client, stripe_base)
    due = installments(app, case_id)[0][0]
    with app.test_request_context("/"):
        session = db.session()
        assert autopay.turn_off(session, session.get(Case, case_id), NOW)
        card = session.scalars(select(SavedCard)).one()
        assert card.status is CardStatus.REMOVED
        method = card.method_ref
    assert method_at_stripe(stripe_base, method).customer is None
    assert run(app, at(due)).charged == 0
    assert at_stripe(stripe_base) == ([], [])
    assert automatic(app) == []


def test_an_installment_paid_early_by_hand_is_not_charged_again(app, client, stripe_base):
    case_id = plan_on_autopay(app, client, stripe_base)
    due, amount, _ = installments(app, case_id)[0]
    assert client.post("/pay", data={"purpose": "installment"}).status_code == 303
    with app.app_context():
        reference = db.session().scalars(select(Payment.gateway_reference)).one()
    assert reference is not None
    assert pay_at_stripe(stripe_base, reference) == "succeeded"
    with app.test_request_context("/"):
        swept = sweep(
            db.session(),
            StripeSettings.from_config(),
            NOW + timedelta(minutes=10),
            timedelta(minutes=5),
        )
        assert swept.succeeded == 1
    assert installments(app, case_id)[0][2] == amount
    counts = run(app, at(due))
    assert (counts.charged, counts.skipped) == (0, 1)
    assert automatic(app) == []
    intents, charges = at_stripe(stripe_base)
    assert [intent.id for intent in intents] == [reference]
    assert len(charges) == 1


# Stripe down mid-run ----------------------------------------------------------------


class LosingProxy:
    """A proxy in front of localstripe that loses the PaymentIntent creates: while
    ``losing`` is "answer", each is passed on to Stripe and then Stripe's answer dropped
    (the connection closes before a byte of it reaches the caller: the charge is made,
    the caller never hears of it); while "request", each is dropped before Stripe sees
    it. Everything else passes both ways. ``creates`` counts the creates Stripe was
    sent, ``replayed`` the answers Stripe gave from an earlier request with the same
    key."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.losing: str | None = None
        self.lost: list[str] = []
        self.creates = 0
        self.replayed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_DELETE(self) -> None:
                self._forward()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else None
                create = self.command == "POST" and self.path == "/v1/payment_intents"
                if create and proxy.losing:
                    proxy.lost.append(str(self.headers.get("Idempotency-Key")))
                if create and proxy.losing == "request":
                    self.close_connection = True
                    return  # never reaches Stripe
                status, headers, answer = proxy.ask(self.command, self.path, self.headers, body)
                proxy.creates += create
                if headers.get("Idempotent-Replayed") == "true":
                    proxy.replayed += 1
                if create and proxy.losing == "answer":
                    self.close_connection = True
                    return  # Stripe answered; the answer is lost on the way back
                self.send_response(status)
                for name in ("Content-Type", "Idempotent-Replayed"):
                    if name in headers:
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def ask(
        self, method: str, path: str, headers: Any, body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=10
        )
        try:
            passed = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, path, body=body, headers=passed)
            answer = connection.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()

    def __enter__(self) -> LosingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("lost", ["answer", "request"])
def test_stripe_unreachable_mid_run_loses_nothing_and_doubles_nothing(
    app, client, stripe_base, lost
):
    """Stripe's answer lost after it charged (the real danger), or the request lost
    before it: the run records the attempt as unknown; the sweeper leaves it alone; the
    next run finds the charge Stripe made, or makes it, once."""
    case_id = plan_on_autopay(app, client, stripe_base)
    due, amount, _ = installments(app, case_id)[0]
    with LosingProxy(stripe_base) as proxy:
        app.config["STRIPE_API_BASE"] = proxy.url
        proxy.losing = lost
        counts = run(app, at(due))
        assert (counts.charged, counts.unreachable) == (0, 1)
        with app.app_context():
            key = db.session().scalars(select(AutopayAttempt.key)).one()
        # The SDK tried twice (its one retry), with the attempt's key both times.
        assert proxy.lost == [key, key]
        (payment,) = automatic(app)
        assert payment.status is PaymentStatus.UNKNOWN
        assert installments(app, case_id)[0][2] == 0
        made, taken = at_stripe(stripe_base)
        if lost == "answer":
            # Stripe charged, once: the SDK's retry was answered from the first request.
            assert (proxy.creates, proxy.replayed) == (2, 1)
            assert [i.status for i in made] == ["succeeded"]
            assert [c.payment_intent for c in taken] == [made[0].id]
            assert made[0].metadata["payment_id"] == str(payment.id)
        else:
            assert (proxy.creates, made, taken) == (0, [], [])
        # The sweeper leaves the automatic payment to the run, which owns its key.
        with app.test_request_context("/"):
            sweep(db.session(), StripeSettings.from_config(), at(due, 11), timedelta(minutes=5))
        assert len(at_stripe(stripe_base)[0]) == len(made)
        # Stripe answers again: the next run finds the intent made for the payment (no
        # second create), or, Stripe having none, makes it with the same key.
        proxy.losing = None
        creates = proxy.creates
        resumed = run(app, at(due, 12))
        assert (resumed.charged, resumed.unreachable) == (1, 0)
        assert proxy.creates == creates + (lost == "request")
    (payment,) = automatic(app)
    (intent,), (charge,) = at_stripe(stripe_base)
    assert (payment.status, payment.gateway_reference) == (PaymentStatus.SUCCEEDED, intent.id)
    assert intent.status == "succeeded"
    assert charge.payment_intent == intent.id
    assert installments(app, case_id)[0][2] == amount
    assert [(n, o) for _, n, o in attempts(app)] == [(1, "succeeded")]
    with app.app_context():
        assert db.session().scalar(
            select(func.count()).select_from(Allocation).where(Allocation.payment_id == payment.id)
        )
        assert ledger.check(db.session()) == []


def test_an_answer_lost_then_resumed_after_stripe_pruned_the_key_charges_once(
    app, client, stripe_base
):
    case_id = plan_on_autopay(app, client, stripe_base)
    due, amount, _ = installments(app, case_id)[0]
    with LosingProxy(stripe_base) as proxy:
        app.config["STRIPE_API_BASE"] = proxy.url
        proxy.losing = "answer"
        assert run(app, at(due)).unreachable == 1
    app.config["STRIPE_API_BASE"] = stripe_base
    # Stripe down for the rest of the day; the next morning its key is a day old, and
    # Stripe may have pruned it: the key alone would make a second charge.
    prune_keys(stripe_base)
    resumed = run(app, at(due + timedelta(days=1)))
    assert (resumed.charged, resumed.unreachable) == (1, 0)
    (intent,), (charge,) = at_stripe(stripe_base)
    assert charge.payment_intent == intent.id
    (payment,) = automatic(app)
    assert (payment.status, payment.gateway_reference) == (PaymentStatus.SUCCEEDED, intent.id)
    assert installments(app, case_id)[0][2] == amount
    assert [(n, o) for _, n, o in attempts(app)] == [(1, "succeeded")]


# The webhook that follows every charge ---------------------------------------------


@pytest.fixture
def served(app, stripe_base) -> Iterator[str]:
    """The portal on a real HTTP server, registered as localstripe's webhook endpoint."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    register_webhook(stripe_base, url)
    yield url
    register_webhook(stripe_base, CLOSED)
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_charges_webhook_from_stripe_is_a_harmless_duplicate(app, client, stripe_base, served):
    case_id = plan_on_autopay(app, client, stripe_base)
    due, amount, _ = installments(app, case_id)[0]
    assert run(app, at(due)).charged == 1
    (payment,) = automatic(app)
    # localstripe signs and delivers payment_intent.succeeded about a second later.
    delivered = 0
    for _ in range(100):
        with app.app_context():
            delivered = db.session().scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.event_id.like("evt_%"))
            )
        if delivered:
            break
        time.sleep(0.1)
    assert delivered == 1
    with app.app_context():
        session = db.session()
        allocated = session.scalars(
            select(Allocation.amount).where(Allocation.payment_id == payment.id)
        ).all()
        assert sum(allocated) == amount
        assert session.get(Payment, payment.id).status is PaymentStatus.SUCCEEDED
        assert ledger.check(session) == []
    assert installments(app, case_id)[0][2] == amount
    assert count(app, Payment) == 1


# A month of dates --------------------------------------------------------------------


def test_a_month_of_runs_leaves_the_ledger_and_the_reconciliation_clean(app, client, stripe_base):
    case_id = plan_on_autopay(app, client, stripe_base)
    schedule = installments(app, case_id)
    first_due = schedule[0][0]
    last_day = first_due + timedelta(days=35)
    day = NOW.date()
    while day <= last_day:
        # The morning run, and the later one cron makes in case the first was missed.
        run(app, at(day, 9))
        run(app, at(day, 16))
        day += timedelta(days=1)
    due = [(d, a) for d, a, _ in schedule if d <= last_day]
    assert len(due) >= 2
    assert [(d, paid) for d, _, paid in installments(app, case_id) if d <= last_day] == due
    payments = automatic(app)
    assert [p.amount for p in payments] == [a for _, a in due]
    assert all(p.status is PaymentStatus.SUCCEEDED for p in payments)
    intents, charges = at_stripe(stripe_base)
    assert sorted(i.id for i in intents) == sorted(str(p.gateway_reference) for p in payments)
    assert len(charges) == len(payments)
    with app.app_context():
        session = db.session()
        assert ledger.check(session) == []
        # localstripe dates its charges by the real clock; ours are dated by the
        # simulated one: one period covers both.
        real = datetime.now(UTC)
        since = min(NOW, real) - timedelta(days=1)
        until = max(at(last_day, 23), real) + timedelta(days=1)
        result = reconcile(session, StripeSettings.from_config(), since, until, "test", real)
        assert (result.status, result.unmatched) == ("completed", 0)
        matched = sorted(item.payment_id for item in result.items if item.kind == "matched")
        assert matched == [p.id for p in payments]
