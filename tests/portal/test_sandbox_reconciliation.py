"""The sandbox's books read as Stripe's (``portal.finance.sandbox_reader``): chosen when
the gateway is the sandbox and Stripe is not set up, deterministic from the database
(charges with Stripe's 3.4% fee rounded down, refunds, each day's automatic payout), and
the demo's four planted discrepancies found by a run and each worked to an end, after
which the month closes, and the demo's bank statement of the sandbox's payouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.core import db
from portal.demo.payouts import INTEREST, STRIPE_NAME, write_statement
from portal.demo.reconciliation import plant_discrepancies
from portal.finance import closing, payouts
from portal.finance import exceptions as work
from portal.finance.reconcile import available, reconcile, totals
from portal.finance.sandbox_reader import SandboxStripe, fee
from portal.models import (
    AuditEntry,
    Case,
    Payment,
    Payout,
    ReconciliationException,
    StaffMember,
)
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.stripe_gateway import StripeSettings

from .exception_books import MONTH, SINCE, UNTIL
from .factories import add_staff, build_case

AFTER = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
MEI = "mei@haohuan.example"


def sandbox_payment(app, case_id, amount, at, number, refund=0):
    """A sandbox payment confirmed at ``at`` through the gateway's event."""
    with app.test_request_context("/"):
        session = db.session()
        payment = Payment(
            case_id=session.get(Case, case_id).id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status="pending",
            gateway="sandbox",
            gateway_reference=f"sbx_{number}",
            created_at=at,
        )
        session.add(payment)
        session.commit()
        handle(
            session, GatewayEvent("sandbox", f"e{number}", f"sbx_{number}", Outcome.SUCCEEDED), at
        )
        if refund:
            event = GatewayEvent("sandbox", f"r{number}", f"sbx_{number}", Outcome.REFUNDED, refund)
            handle(session, event, at + timedelta(hours=1))
        return payment.id


@pytest.fixture
def month(app):
    """Five sandbox payments in November (Taipei), one refunded in part."""
    add_staff(app, MEI)
    day = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    ids = []
    for number, amount in enumerate((100_000, 150_000, 200_000, 250_000, 123_450)):
        case_id = build_case(app).case_id
        ids.append(sandbox_payment(app, case_id, amount, day + timedelta(days=number), number))
    case_id = build_case(app).case_id
    ids.append(sandbox_payment(app, case_id, 80_000, day, 9, refund=30_000))
    return ids


def run(now=AFTER):
    member = db.session().scalars(select(StaffMember)).first()
    return reconcile(db.session(), StripeSettings.from_config(), SINCE, UNTIL, member, now)


def test_the_sandboxs_books_match_ours_with_stripes_fees_and_daily_payouts(app, month):
    with app.test_request_context("/"):
        found = run()
        assert found.status == "completed"
        assert found.unmatched == 0
        kinds = sorted({item.kind for item in found.items})
        assert kinds == ["matched", "payout_ok"]
        money = totals(found)["TWD"]
        gross = 100_000 + 150_000 + 200_000 + 250_000 + 123_450 + 80_000
        assert money.gross == gross
        assert money.fees == sum(
            fee(a) for a in (100_000, 150_000, 200_000, 250_000, 123_450, 80_000)
        )
        assert fee(123_450) == 4_197  # 3.4%, rounded down
        assert money.refunded == 30_000
        payouts = [item for item in found.items if item.payout]
        assert len(payouts) == 5  # one per day with money, the next morning
        # The same books read twice are the same lines.
        reader = SandboxStripe(db.session())
        assert list(reader.balance_lines(SINCE, UNTIL)) == list(reader.balance_lines(SINCE, UNTIL))


def test_the_planted_discrepancies_are_found_and_each_worked_to_an_end(app, month):
    with app.test_request_context("/"):
        session = db.session()
        assert plant_discrepancies(session, AFTER) == 4
        assert plant_discrepancies(session, AFTER) == 0  # once
        first = run()
        found = session.scalars(select(ReconciliationException)).all()
        assert sorted((e.kind, e.item.note_code) for e in found) == [
            ("amount_mismatch", "refunds_differ"),
            ("amount_mismatch", "stripe_charged"),
            ("missing_at_stripe", "no_charge_at_stripe"),
            ("missing_here", "no_payment"),
        ]
        assert first.unmatched == 4
        me = session.scalars(select(StaffMember)).first()
        with pytest.raises(closing.CloseError):
            closing.close(session, MONTH, me, AFTER)
        by_note = {e.item.note_code: e for e in found}
        work.link_payment(session, by_note["no_payment"], month[0], me, "paid twice", AFTER)
        work.record_refund(session, by_note["refunds_differ"], me, AFTER)
        assert work.write_off(session, by_note["no_charge_at_stripe"], me, "never taken", AFTER)
        assert work.write_off(session, by_note["stripe_charged"], me, "short by NT$50", AFTER)
        assert ledger.check(session) == []
        second = run()
        assert second.unmatched == 3  # the refund now matches; the rest stay, finished
        assert len(session.scalars(select(ReconciliationException)).all()) == 4
        statuses = sorted(e.status for e in session.scalars(select(ReconciliationException)))
        assert statuses == ["resolved", "resolved", "written_off", "written_off"]
        closing.close(session, MONTH, me, AFTER)
        assert closing.closed(session, MONTH) is not None


@pytest.mark.parametrize("import_first", [False, True], ids=["run-then-import", "import-then-run"])
def test_the_demos_bank_statement_ticks_the_months_payouts_off_in_either_order(
    app, month, tmp_path, import_first
):
    """The demo's bank statement of the month just over (``portal.demo.payouts``) pays the
    payouts a run over that month stores, whichever comes first, the run or the import:
    every payout is ticked off but the one with a twin deposit, both left for a person,
    and the bank's interest is nobody's."""
    with app.test_request_context("/"):
        session = db.session()
        written = write_statement(session, tmp_path, AFTER)
        assert (written.month, len(written.payouts)) == (MONTH, 5)  # a payout a day
        data = written.path.read_bytes()
        if import_first:
            early = payouts.import_statement(session, data, written.path.name, "cli", AFTER)
            assert (early.added, early.matched, early.unmatched) == (7, 0, 7)
        run()
        if not import_first:
            late = payouts.import_statement(session, data, written.path.name, "cli", AFTER)
            assert (late.added, late.matched, late.ambiguous, late.unmatched) == (7, 4, 2, 1)
        stored = session.scalars(select(Payout).order_by(Payout.stripe_id)).all()
        assert [p.stripe_id for p in stored] == sorted(written.payouts)
        assert sum(p.deposit is not None for p in stored) == 4
        assert {p.deposit.matched_how for p in stored if p.deposit} == {"auto"}
        waiting = sorted((d.amount, d.details) for d in payouts.waiting_deposits(session))
        left = next(p for p in stored if p.deposit is None)
        assert waiting == sorted(
            [(left.amount, STRIPE_NAME), (left.amount, STRIPE_NAME), (INTEREST, "INTEREST")]
        )
        step = "auto_match" if import_first else "statement_import"
        action = f"finance.payouts.{step}"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).one()
        assert len(entry.details["matched"]) == 4


def test_the_sandbox_is_read_only_when_it_is_the_gateway_and_stripe_is_not_set_up(app):
    with app.test_request_context("/"):
        assert available(StripeSettings.from_config())  # the sandbox
        app.config["PAYMENT_GATEWAY"] = "stripe"  # chosen, but no key: nothing to read
        assert not available(StripeSettings.from_config())
