"""Reconciliation against Stripe: the real stripe SDK talking to localstripe on 127.0.0.1
(when HAOHUAN_TEST_LOCALSTRIPE is set; CI sets it), and a fake reader for what localstripe
cannot do (automatic payouts, dispute adjustments). Every test runs on both backends."""

from __future__ import annotations

import csv
import io
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import stripe
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from flask_babel import force_locale
from sqlalchemy import select

from portal.cli import cli
from portal.core import db
from portal.finance.reconcile import (
    note_text,
    reconcile,
    reconcile_with,
    totals,
    write_run_csv,
)
from portal.models import AuditEntry, Dispute, Payment, ReconciliationItem, ReconciliationRun
from portal.payments.stripe_gateway import (
    BalanceLine,
    ChargeState,
    PayoutLine,
    StripeSettings,
)
from portal.wording.finance import note_sentence

from .factories import build_case
from .localstripe_server import FEE_PER_MILLE, free_port, running

needs_localstripe = pytest.mark.skipif(
    not os.environ.get("HAOHUAN_TEST_LOCALSTRIPE"),
    reason="HAOHUAN_TEST_LOCALSTRIPE is not set (CI sets it)",
)

# localstripe dates everything by the real clock, so the periods here are real times.
MOMENT = datetime.now(UTC).replace(microsecond=0)
SINCE, UNTIL = MOMENT - timedelta(hours=1), MOMENT + timedelta(hours=1)
KEY = "sk_test_haohuan"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def stripe_url(app: Flask, localstripe: str) -> str:
    """localstripe emptied, and the app pointed at it."""
    address = f"{localstripe}/_config/data"
    request = urllib.request.Request(address, method="DELETE")  # noqa: S310 (loopback http)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
    app.config.update(STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=localstripe)
    return localstripe


@pytest.fixture
def case_id(app: Flask) -> int:
    return build_case(app).case_id


def pay(url: str, amount: int, currency: str = "twd", confirm: bool = True) -> str:
    """What a borrower's browser does at Stripe: a PaymentIntent paid by card."""
    browser = stripe.StripeClient(KEY, base_addresses={"api": url})
    params = {"amount": amount, "currency": currency, "payment_method": "pm_card_visa"}
    return str(browser.v1.payment_intents.create(params={**params, "confirm": confirm}).id)


def refund(url: str, intent_id: str, amount: int) -> None:
    """A refund made from Stripe's dashboard: by charge, so the refund names no intent."""
    client = stripe.StripeClient(KEY, base_addresses={"api": url})
    charge = client.v1.payment_intents.retrieve(intent_id).latest_charge
    charge_id = charge if isinstance(charge, str) else charge.id
    client.v1.refunds.create(params={"charge": charge_id, "amount": amount})


def ours(
    app: Flask,
    case_id: int,
    intent_id: str,
    amount: int,
    *,
    status: str = "succeeded",
    refunded: int = 0,
    confirmed_at: datetime = MOMENT,
) -> int:
    """One of our Stripe payments; returns its id."""
    with app.app_context():
        session = db.session()
        payment = Payment(
            case_id=case_id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status=status,
            gateway="stripe",
            gateway_reference=intent_id,
            created_at=confirmed_at,
            confirmed_at=confirmed_at if status == "succeeded" else None,
            refunded=refunded,
        )
        session.add(payment)
        session.commit()
        return payment.id


def kinds(run: ReconciliationRun) -> dict[str, list[int | None]]:
    """Each kind of line and the payments it names."""
    found: dict[str, list[int | None]] = {}
    for item in run.items:
        found.setdefault(item.kind, []).append(item.payment_id)
    return found


def reconciled(since: datetime = SINCE, until: datetime = UNTIL, **options) -> ReconciliationRun:
    """Reconcile with the app's Stripe (inside an app context)."""
    settings = StripeSettings.from_config()
    return reconcile(db.session(), settings, since, until, "test", MOMENT, **options)


@needs_localstripe
def test_charges_match_our_payments_and_fees_add_up(app, stripe_url, case_id):
    first = ours(app, case_id, pay(stripe_url, 500_000), 500_000)
    second = ours(app, case_id, pay(stripe_url, 300_000), 300_000)
    with app.app_context():
        run = reconciled()
        assert (run.status, run.unmatched) == ("completed", 0)
        assert sorted(kinds(run)["matched"]) == [first, second]
        fees = 500_000 * FEE_PER_MILLE // 1000 + 300_000 * FEE_PER_MILLE // 1000
        money = totals(run)["TWD"]
        assert (money.gross, money.fees, money.refunded) == (800_000, fees, 0)
        assert money.net == 800_000 - fees
        assert all(item.balance_transaction.startswith("txn_") for item in run.items)


@needs_localstripe
def test_what_either_side_lacks_and_what_disagrees_is_flagged(app, stripe_url, case_id):
    pay(stripe_url, 120_000)  # money at Stripe for no payment of ours
    never_paid = ours(app, case_id, pay(stripe_url, 200_000, confirm=False), 200_000)
    unknown = ours(app, case_id, "pi_never_created_at_stripe", 50_000)
    short = ours(app, case_id, pay(stripe_url, 400_000), 450_000)
    pending = ours(app, case_id, pay(stripe_url, 70_000), 70_000, status="pending")
    with app.app_context():
        run = reconciled()
        found = kinds(run)
        assert sorted(found["missing_here"], key=str) == sorted([None, pending], key=str)
        assert found["amount_mismatch"] == [short]
        assert sorted(found["missing_at_stripe"]) == [never_paid, unknown]
        assert (run.matched, run.missing_here, run.missing_at_stripe) == (0, 2, 2)
        assert (run.amount_mismatches, run.unmatched) == (1, 5)
        mismatch = next(item for item in run.items if item.kind == "amount_mismatch")
        assert (mismatch.stripe_amount, mismatch.our_amount) == (400_000, 450_000)
        # Our own lines are not Stripe's money: only Stripe's four charges count.
        assert totals(run)["TWD"].gross == 120_000 + 400_000 + 70_000


@needs_localstripe
def test_refunds_are_checked_against_what_we_recorded(app, stripe_url, case_id):
    agreed = pay(stripe_url, 500_000)
    refund(stripe_url, agreed, 100_000)
    refund(stripe_url, agreed, 50_000)
    unrecorded = pay(stripe_url, 300_000)
    refund(stripe_url, unrecorded, 30_000)
    kept = ours(app, case_id, agreed, 500_000, refunded=150_000)
    forgot = ours(app, case_id, unrecorded, 300_000)
    with app.app_context():
        run = reconciled()
        refunds = [item for item in run.items if item.transaction_type == "refund"]
        assert sorted((item.kind, item.payment_id, item.stripe_amount) for item in refunds) == [
            ("amount_mismatch", forgot, -30_000),
            ("matched", kept, -100_000),
            ("matched", kept, -50_000),
        ]
        assert (run.matched, run.amount_mismatches) == (4, 1)  # two charges, two refunds
        money = totals(run)["TWD"]
        assert money.refunded == 180_000
        assert money.net == 800_000 - money.fees - 180_000


@needs_localstripe
def test_a_charge_dated_just_outside_the_period_is_no_alarm(app, stripe_url, case_id):
    intent_id = pay(stripe_url, 500_000)
    # Stripe dated the charge a second before the period; we confirmed it inside it.
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    payment_id = ours(app, case_id, intent_id, 500_000, confirmed_at=later + timedelta(seconds=1))
    with app.app_context():
        run = reconciled(since=later, until=later + timedelta(hours=1))
        assert kinds(run) == {"outside_window": [payment_id]}
        assert run.unmatched == 0
        assert totals(run) == {}  # nothing of Stripe's falls in the period


@needs_localstripe
def test_every_page_of_the_balance_history_is_read(app, stripe_url, case_id):
    payments = [ours(app, case_id, pay(stripe_url, 10_000 + n), 10_000 + n) for n in range(25)]
    with app.app_context():
        run = reconciled(page_size=10)  # three pages
        assert sorted(kinds(run)["matched"]) == payments
        assert run.unmatched == 0


@needs_localstripe
def test_a_manual_payout_is_listed_but_cannot_be_summed(app, stripe_url):
    client = stripe.StripeClient(KEY, base_addresses={"api": stripe_url})
    # localstripe's payouts are manual and in euros only.
    payout = client.v1.payouts.create(params={"amount": 12_345, "currency": "eur"})
    with app.app_context():
        run = reconciled()
        (item,) = run.items
        assert (item.kind, item.payout, item.currency) == ("payout_unchecked", payout.id, "EUR")
        assert item.stripe_amount == 12_345
        assert run.unmatched == 0


@pytest.mark.usefixtures("stripe_without_retries")
def test_a_stripe_outage_stores_a_failed_run_and_fails_the_command(app, case_id):
    ours(app, case_id, "pi_1", 500_000)
    app.config.update(STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")
    with app.app_context():
        run = reconciled()
        assert run.status == "failed"
        assert run.error == "unreachable"  # a code: never the exception's text
        assert (run.items, run.matched) == ([], 0)
    result = invoke(app, *period_arguments())
    assert result.exit_code == 1
    assert "Stripe could not be read" in result.output
    assert "Stripe did not answer" in result.output
    assert "APIConnectionError" not in result.output
    with app.app_context():
        stored = db.session().scalars(select(ReconciliationRun.status)).all()
        assert stored == ["failed", "failed"]


@pytest.mark.usefixtures("stripe_without_retries")
def test_a_run_from_the_command_and_its_export_are_audited(app, tmp_path):
    app.config.update(STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")
    result = invoke(app, *period_arguments(), "--csv", str(tmp_path / "run.csv"))
    assert result.exit_code == 1
    with app.app_context():
        run_id = db.session().scalars(select(ReconciliationRun.id)).one()
        entries = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.actor, e.staff_id, e.action) for e in entries] == [
            ("cli", None, "reconcile.run"),
            ("cli", None, "reconcile.export"),
        ]
        assert entries[0].details["run_id"] == entries[1].details["run_id"] == run_id
        assert entries[0].details["status"] == "failed"


def invoke(app: Flask, *arguments: str):
    return CliRunner().invoke(
        cli, ["reconcile", *arguments], obj=ScriptInfo(create_app=lambda: app)
    )


def period_arguments() -> list[str]:
    """Yesterday to the day after tomorrow in Taipei, by the real clock."""
    today = MOMENT.astimezone(ZoneInfo("Asia/Taipei")).date()
    return ["--since", str(today - timedelta(days=1)), "--until", str(today + timedelta(days=2))]


@needs_localstripe
def test_the_command_exits_0_when_all_matches_and_writes_the_csv(
    app, stripe_url, case_id, tmp_path
):
    payment_id = ours(app, case_id, pay(stripe_url, 500_000), 500_000)
    path = tmp_path / "run.csv"
    result = invoke(app, *period_arguments(), "--csv", str(path))
    assert result.exit_code == 0, result.output
    assert "matched 1" in result.output
    assert "TWD: gross 5,000.00  fees 170.00  refunded 0.00  net 4,830.00" in result.output
    assert "0 unmatched" in result.output
    with path.open(encoding="utf-8", newline="") as stream:
        (row,) = csv.DictReader(stream)
    assert (row["kind"], row["payment_id"], row["stripe_type"]) == (
        "matched",
        str(payment_id),
        "charge",
    )
    assert (row["stripe_amount_minor"], row["stripe_amount"]) == ("500000", "5000.00")
    assert (row["fee_minor"], row["net_minor"]) == ("17000", "483000")
    with app.app_context():
        run = db.session().scalars(select(ReconciliationRun)).one()
        assert (run.started_by, run.status) == ("cli", "completed")


@needs_localstripe
def test_the_command_exits_1_and_lists_what_is_unmatched(app, stripe_url, case_id):
    stranger = pay(stripe_url, 120_000)
    result = invoke(app, *period_arguments())
    assert result.exit_code == 1
    assert "1 unmatched:" in result.output
    assert "missing_here TWD txn_" in result.output
    assert stranger in result.output


def test_the_command_refuses_a_period_that_ends_before_it_starts(app):
    result = invoke(app, "--since", "2026-11-30", "--until", "2026-11-30")
    assert result.exit_code == 2
    assert "must be after --since" in result.output


# What localstripe cannot do, through a fake reader ------------------------------------


def line(id: str, type: str, amount: int, net: int, intent: str | None = None) -> BalanceLine:
    return BalanceLine(
        id=id,
        type=type,
        amount=amount,
        fee=amount - net,
        net=net,
        currency="TWD",
        created=MOMENT,
        payment_intent=intent,
        charge=None,
        charged=amount if type == "charge" else None,
        charged_currency="TWD" if type == "charge" else None,
    )


class FakeStripe:
    """Balance history and payouts as given; nothing else exists."""

    def __init__(self, lines: list[BalanceLine], payouts: dict[PayoutLine, list[BalanceLine]]):
        self.lines, self.carried = lines, payouts

    def balance_lines(self, since: datetime, until: datetime) -> list[BalanceLine]:
        return self.lines

    def payouts(self, since: datetime, until: datetime) -> list[PayoutLine]:
        return list(self.carried)

    def payout_lines(self, payout_id: str) -> list[BalanceLine]:
        return next(lines for payout, lines in self.carried.items() if payout.id == payout_id)

    def charge(self, charge_id: str) -> ChargeState:
        raise AssertionError("no charges here")

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        return None


def payout(id: str, amount: int, automatic: bool = True, status: str = "paid") -> PayoutLine:
    return PayoutLine(id, amount, "TWD", status, automatic, MOMENT)


def test_an_automatic_payout_must_equal_the_sum_of_its_transactions(app):
    carried = [line("txn_1", "charge", 5_000, 4_830), line("txn_2", "charge", 4_000, 3_864)]
    paid_out = line("txn_po", "payout", -8_694, -8_694)
    reader = FakeStripe(
        [],
        {
            payout("po_ok", 8_694): [*carried, paid_out],
            payout("po_short", 9_000): carried,
            payout("po_failed", 9_000, status="failed"): [],
            payout("po_manual", 9_000, automatic=False): [],
        },
    )
    with app.app_context():
        run = reconcile_with(db.session(), reader, SINCE, UNTIL, "test", MOMENT)
        verdicts = {item.payout: (item.kind, item.net) for item in run.items}
        assert verdicts == {
            "po_ok": ("payout_ok", 8_694),
            "po_short": ("payout_mismatch", 8_694),
            "po_failed": ("payout_unchecked", None),
            "po_manual": ("payout_unchecked", None),
        }
        assert (run.payout_mismatches, run.unmatched) == (1, 1)


def test_a_dispute_adjustment_is_flagged_for_a_person(app):
    reader = FakeStripe([line("txn_dp", "adjustment", -5_000, -6_500, "pi_x")], {})
    with app.app_context():
        run = reconcile_with(db.session(), reader, SINCE, UNTIL, "test", MOMENT)
        (item,) = run.items
        assert (item.kind, item.note_code) == ("missing_here", "unmatched_type")
        assert (item.note_values, item.note) == ({"type": "adjustment"}, None)
        money = totals(run)["TWD"]
        assert (money.gross, money.fees, money.net, money.refunded) == (0, 1_500, -6_500, 0)


def test_a_chargebacks_adjustments_are_matched_to_our_dispute(app):
    """Stripe's adjustment for a dispute we hold (the money taken with its fee, then
    returned when won) is matched to it, not handed to a person; one of a dispute we do
    not know still is, and one of another amount is a mismatch."""
    with app.app_context():
        session = db.session()
        session.add(
            Dispute(
                gateway="stripe",
                reference="dp_ours",
                payment_reference="pi_x",
                amount=5_000,
                currency="TWD",
                reason="fraudulent",
                status="won",
                opened_at=MOMENT,
                last_event_at=MOMENT,
            )
        )
        session.commit()
    lines = [
        replace(line("txn_take", "adjustment", -5_000, -6_500, "pi_x"), source="dp_ours"),
        replace(line("txn_back", "adjustment", 5_000, 5_000, "pi_x"), source="dp_ours"),
        replace(line("txn_odd", "adjustment", -4_000, -4_000, "pi_x"), source="dp_ours"),
        replace(line("txn_theirs", "adjustment", -700, -700, "pi_y"), source="dp_theirs"),
    ]
    with app.app_context():
        run = reconcile_with(db.session(), FakeStripe(lines, {}), SINCE, UNTIL, "test", MOMENT)
        found = {item.balance_transaction: item for item in run.items}
        assert {key: (item.kind, item.note_code) for key, item in found.items()} == {
            "txn_take": ("matched", "dispute_taken"),
            "txn_back": ("matched", "dispute_returned"),
            "txn_odd": ("amount_mismatch", "dispute_taken"),
            "txn_theirs": ("missing_here", "unmatched_type"),
        }
        assert found["txn_take"].note_values == {"dispute": "dp_ours", "status": "won"}
        assert found["txn_take"].our_amount == -5_000
        assert (run.matched, run.unmatched) == (2, 2)
        with force_locale("zh_Hant_TW"):
            worded = note_sentence("dispute_taken", found["txn_take"].note_values, "UTC")
        assert "dp_ours" in worded
        assert "扣款" in worded


class RefundedStripe(FakeStripe):
    """One charge of NT$5,000, refunded NT$1,500 in all at Stripe."""

    def charge(self, charge_id: str) -> ChargeState:
        return ChargeState(charge_id, "pi_refunded", 500_000, "TWD", 150_000, MOMENT)


def test_notes_are_codes_and_values_worded_in_each_language_with_money_formatted(app):
    ours(app, build_case(app).case_id, "pi_refunded", 500_000, refunded=100_000)
    refund_line = replace(line("txn_rf", "refund", -150_000, -150_000), charge="ch_1")
    reader = RefundedStripe(
        [refund_line],
        {payout("po_short", 900_000): [line("txn_1", "charge", 869_400, 869_400)]},
    )
    with app.app_context():
        run = reconcile_with(db.session(), reader, SINCE, UNTIL, "test", MOMENT)
        by_kind = {item.kind: item for item in run.items}
        differ, short = by_kind["amount_mismatch"], by_kind["payout_mismatch"]
        assert (differ.note_code, differ.note_values) == (
            "refunds_differ",
            {"stripe": 150_000, "ours": 100_000, "currency": "TWD"},
        )
        assert (short.note_code, short.note_values) == (
            "payout_sum",
            {"count": 1, "net": 869_400, "currency": "TWD"},
        )
    wanted = {
        "en": (
            "Stripe refunded NT$1,500 in all; we recorded NT$1,000.",
            "1 transaction, net NT$8,694.",
        ),
        "zh_Hant_TW": ("NT$1,500", "NT$8,694"),
        "zh_Hans_CN": ("NT$1,500", "NT$8,694"),
    }
    for locale, (refunds, payout_sum) in wanted.items():
        with app.test_request_context("/"), force_locale(locale):
            session = db.session()
            items = {i.kind: i for i in session.scalars(select(ReconciliationItem))}
            refund_text = note_text(items["amount_mismatch"])
            payout_text = note_text(items["payout_mismatch"])
        assert refunds in refund_text, locale
        assert payout_sum in payout_text, locale
        assert "150000" not in refund_text
        assert "869400" not in payout_text
        if locale != "en":
            assert not re.search("[A-Za-z]{3,}", refund_text.replace("Stripe", "")), refund_text


# The CSV ------------------------------------------------------------------------------


def test_the_csv_never_hands_a_spreadsheet_a_formula():
    notes = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "fine"]
    run = ReconciliationRun(id=7)
    run.items = [
        ReconciliationItem(
            kind="missing_here", currency="TWD", stripe_amount=-1_050, fee=0, net=-1_050, note=note
        )
        for note in notes
    ]
    stream = io.StringIO()
    write_run_csv(run, stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [row["note"] for row in rows] == ["'" + note for note in notes[:-1]] + ["fine"]
    # Numbers are ours, never formulas: a negative amount stays a number.
    assert {(row["stripe_amount_minor"], row["stripe_amount"]) for row in rows} == {
        ("-1050", "-10.50")
    }
    assert rows[0]["run_id"] == "7"
