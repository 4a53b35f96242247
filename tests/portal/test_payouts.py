"""Payouts to the bank: stored from each reconciliation run (a fake reader with the
automatic payouts localstripe cannot make), matched to their transactions, and ticked
off against the bank's deposits: from a camt.053 statement (tests/portal/fixtures) by the
rules, or by hand; bad files refused with a 4xx; the pages in three languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.core import db
from portal.finance import payouts
from portal.finance.reconcile import reconcile_with
from portal.models import AuditEntry, BankDeposit, BankStatement, Payout, StaffMember
from portal.payments.stripe_gateway import BalanceLine, ChargeState, PayoutLine

from .factories import NOW, add_staff

FIXTURE = Path(__file__).parent / "fixtures" / "camt053-payouts.xml"
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 14, tzinfo=UTC)
LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")


def line(id: str, type: str, amount: int, net: int, intent: str | None = None) -> BalanceLine:
    return BalanceLine(
        id=id,
        type=type,
        amount=amount,
        fee=amount - net,
        net=net,
        currency="TWD",
        created=SINCE,
        payment_intent=intent,
        charge=None,
        charged=amount if type == "charge" else None,
        charged_currency="TWD" if type == "charge" else None,
    )


def payout(
    id: str,
    amount: int,
    arrival: date,
    *,
    status: str = "paid",
    automatic: bool = True,
    descriptor: str | None = None,
) -> PayoutLine:
    created = datetime(arrival.year, arrival.month, arrival.day, tzinfo=UTC) - timedelta(days=2)
    return PayoutLine(id, amount, "TWD", status, automatic, created, arrival, descriptor)


class FakeStripe:
    """Balance history and payouts as given; nothing else exists."""

    def __init__(self, lines: list[BalanceLine], carried: dict[PayoutLine, list[BalanceLine]]):
        self.lines, self.carried = lines, carried

    def balance_lines(self, since: datetime, until: datetime) -> list[BalanceLine]:
        return self.lines

    def payouts(self, since: datetime, until: datetime) -> list[PayoutLine]:
        return list(self.carried)

    def payout_lines(self, payout_id: str) -> list[BalanceLine]:
        return next(lines for p, lines in self.carried.items() if p.id == payout_id)

    def charge(self, charge_id: str) -> ChargeState:
        raise AssertionError("no charges here")

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        return None


def one(amount: int) -> list[BalanceLine]:
    """An automatic payout's one charge, net ``amount``."""
    return [line(f"txn_{amount}", "charge", amount + 100, amount)]


# The payouts of the fixture's statement (November 2026: the 2nd is a Monday).
PAYOUTS = {
    "po_exact": payout("po_exact", 869_400, date(2026, 11, 2)),
    "po_descr": payout("po_descr", 500_000, date(2026, 11, 4), descriptor="HAOHUAN PAYOUT"),
    "po_amount": payout("po_amount", 123_400, date(2026, 11, 5)),  # a Thursday
    "po_twin_a": payout("po_twin_a", 300_000, date(2026, 11, 9)),
    "po_twin_b": payout("po_twin_b", 300_000, date(2026, 11, 9)),
    "po_late": payout("po_late", 250_000, date(2026, 11, 2)),
    "po_ref_a": payout("po_ref_a", 400_000, date(2026, 11, 11)),
    "po_ref_b": payout("po_ref_b", 400_000, date(2026, 11, 11)),
    "po_failed": payout("po_failed", 777_700, date(2026, 11, 12), status="failed"),
}


# What po_exact carried: two charges, and its own payout transaction.
EXACT_LINES = [
    line("txn_a", "charge", 500_000, 483_000, "pi_a"),
    line("txn_b", "charge", 400_000, 386_400),
    line("txn_po", "payout", -869_400, -869_400),
]


def the_reader(**changed: PayoutLine) -> FakeStripe:
    listed = {**PAYOUTS, **changed}
    carried = {p: EXACT_LINES if p.id == "po_exact" else one(p.amount) for p in listed.values()}
    return FakeStripe([], carried)


def run(app: Flask, reader: FakeStripe | None = None, now: datetime = NOW) -> int:
    """A reconciliation run over the reader; returns its id."""
    with app.app_context():
        found = reconcile_with(db.session(), reader or the_reader(), SINCE, UNTIL, "test", now)
        return found.id


def stored(app: Flask) -> dict[str, Payout]:
    with app.app_context():
        session = db.session()
        found = {p.stripe_id: p for p in session.scalars(select(Payout))}
        for p in found.values():
            _ = (p.transactions, p.deposit)  # loaded before the session closes
        return found


def imported(app: Flask, data: bytes | None = None, name: str = "nov.xml"):
    with app.app_context():
        return payouts.import_statement(
            db.session(), FIXTURE.read_bytes() if data is None else data, name, "cli", NOW
        )


def ticked(app: Flask) -> dict[str, tuple[str | None, str]]:
    """Each matched payout: the deposit's bank reference, how and by whom."""
    with app.app_context():
        rows = db.session().execute(
            select(Payout.stripe_id, BankDeposit.bank_reference, BankDeposit.matched_how).join(
                BankDeposit, BankDeposit.payout_id == Payout.id
            )
        )
        return {stripe_id: (ref, str(how)) for stripe_id, ref, how in rows}


# Stored from a run ------------------------------------------------------------------------


def test_a_run_stores_each_payout_with_what_it_carried(app):
    first = run(app)
    found = stored(app)
    assert set(found) == set(PAYOUTS)
    exact = found["po_exact"]
    assert (exact.amount, exact.currency, exact.arrival_date) == (869_400, "TWD", date(2026, 11, 2))
    assert (exact.status, exact.automatic, exact.last_run_id) == ("paid", True, first)
    # The payout's own balance transaction is not something it carried.
    assert [t.balance_transaction for t in exact.transactions] == ["txn_a", "txn_b"]
    assert (exact.transaction_count, exact.transaction_sum) == (2, 869_400)
    assert found["po_failed"].transaction_count is None  # Stripe sums a failed one to nothing
    assert found["po_descr"].statement_descriptor == "HAOHUAN PAYOUT"


def test_a_second_run_updates_the_same_rows(app):
    run(app)
    later = NOW + timedelta(days=1)
    second = run(app, the_reader(po_exact=replace(PAYOUTS["po_exact"], status="in_transit")), later)
    found = stored(app)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Payout)) == len(PAYOUTS)
    exact = found["po_exact"]
    assert (exact.status, exact.last_run_id) == ("in_transit", second)
    assert exact.first_seen_at == NOW
    assert exact.last_seen_at == later
    assert len(exact.transactions) == 2  # replaced, not added again


def test_a_run_that_could_not_read_stripe_stores_no_payouts(app):
    import stripe

    class Down(FakeStripe):
        def balance_lines(self, since, until):
            raise stripe.APIConnectionError("down")

    run(app, Down([], {PAYOUTS["po_exact"]: []}))
    assert stored(app) == {}


# The matching rules -----------------------------------------------------------------------


def test_business_days_skip_the_weekend():
    thursday = date(2026, 11, 5)
    assert payouts.business_days_after(thursday, thursday) == 0
    assert payouts.business_days_after(thursday, date(2026, 11, 9)) == 2  # Fri, Mon
    assert payouts.business_days_after(thursday, date(2026, 11, 10)) == 3
    assert payouts.business_days_after(thursday, date(2026, 11, 4)) is None


def test_the_statement_matches_exactly_the_right_payouts(app):
    run(app)
    result = imported(app)
    assert (result.already, result.added, result.skipped) == (False, 7, 0)
    assert ticked(app) == {
        "po_exact": ("BK-1001", "auto"),  # names the payout's id
        "po_descr": ("BK-1002", "auto"),  # names its statement descriptor
        "po_amount": ("BK-1003", "auto"),  # amount, 3 business days after arrival
        "po_ref_b": ("BK-1006", "auto"),  # named, so preferred over its twin po_ref_a
    }
    # The twins' one deposit could be either: a person decides. The late one is 5
    # business days late, and NT$7,777 is nobody's payout (the failed one reached no bank).
    assert (result.matched, result.ambiguous, result.unmatched) == (4, 1, 2)
    with app.app_context():
        waiting = db.session().scalars(
            select(BankDeposit.bank_reference).where(BankDeposit.payout_id.is_(None))
        )
        assert sorted(waiting) == ["BK-1004", "BK-1005", "BK-1007"]
        statement = db.session().scalars(select(BankStatement)).one()
        assert (statement.statement_date, statement.file_name) == (date(2026, 11, 13), "nov.xml")
        deposit = (
            db.session()
            .scalars(select(BankDeposit).where(BankDeposit.bank_reference == "BK-1001"))
            .one()
        )
        assert deposit.account == "0123-456-789012"
        assert (deposit.booking_date, deposit.amount, deposit.currency) == (
            date(2026, 11, 3),
            869_400,
            "TWD",
        )
        assert (deposit.matched_by, deposit.matched_at) == ("cli", NOW)


def test_importing_the_same_file_again_changes_nothing(app):
    run(app)
    imported(app)
    before = ticked(app)
    again = imported(app, name="renamed.xml")
    assert again.already
    assert ticked(app) == before
    with app.app_context():
        session = db.session()
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 1
        assert session.scalar(select(func.count()).select_from(BankDeposit)) == 7
        imports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "payouts.statement_import")
        ).all()
        assert len(imports) == 1


def test_an_overlapping_statement_adds_only_its_new_entries(app):
    run(app)
    imported(app)
    # The same entries in another file (a monthly statement over the daily ones).
    other = FIXTURE.read_bytes().replace(b"STMT-20261113-001", b"STMT-202611-M")
    result = imported(app, other, "month.xml")
    assert (result.already, result.added, result.skipped) == (False, 0, 7)


def test_a_deposit_imported_before_its_payout_is_matched_by_the_next_run(app):
    imported(app)
    assert ticked(app) == {}
    run(app)
    assert set(ticked(app)) == {"po_exact", "po_descr", "po_amount", "po_ref_b"}
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "payouts.auto_match"))
            .one()
        )
        assert entry.actor == "test"
        assert len(entry.details["matched"]) == 4


# By hand ----------------------------------------------------------------------------------


def test_a_person_ticks_off_a_payout_from_the_statement_they_hold(app):
    run(app)
    member_id = add_staff(app)
    with app.app_context():
        session = db.session()
        member = session.get(StaffMember, member_id)
        late = session.scalars(select(Payout).where(Payout.stripe_id == "po_late")).one()
        deposit = payouts.tick_off(session, late, date(2026, 11, 9), " BK-1005 ", member, NOW)
        assert (deposit.amount, deposit.bank_reference, deposit.matched_how) == (
            250_000,
            "BK-1005",
            "manual",
        )
        assert deposit.matched_by == "mei@haohuan.example"
        with pytest.raises(payouts.TickOffError) as refused:
            payouts.tick_off(session, late, date(2026, 11, 9), "again", member, NOW)
        assert refused.value.reason == "already_matched"
        failed = session.scalars(select(Payout).where(Payout.stripe_id == "po_failed")).one()
        with pytest.raises(payouts.TickOffError) as refused:
            payouts.tick_off(session, failed, date(2026, 11, 12), "x", member, NOW)
        assert refused.value.reason == "not_paid"
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "payouts.tick_off")
        ).one()
        assert (entry.staff_id, entry.details["payout"]) == (member_id, "po_late")
        assert entry.details["booking_date"] == "2026-11-09"


def test_a_person_chooses_between_the_twins(app):
    run(app)
    imported(app)
    member_id = add_staff(app)
    with app.app_context():
        session = db.session()
        member = session.get(StaffMember, member_id)
        twin = session.scalars(select(Payout).where(Payout.stripe_id == "po_twin_b")).one()
        view = payouts.payout_view(session, twin.id)
        (candidate,) = view.candidates
        assert candidate.bank_reference == "BK-1004"
        nobody = session.scalars(
            select(BankDeposit).where(BankDeposit.bank_reference == "BK-1007")
        ).one()
        with pytest.raises(payouts.TickOffError) as refused:
            payouts.match_deposit(session, twin, nobody.id, member, NOW)
        assert refused.value.reason == "deposit_differs"
        payouts.match_deposit(session, twin, candidate.id, member, NOW)
        other = session.scalars(select(Payout).where(Payout.stripe_id == "po_twin_a")).one()
        with pytest.raises(payouts.TickOffError) as refused:
            payouts.match_deposit(session, other, candidate.id, member, NOW)
        assert refused.value.reason == "deposit_taken"
        with pytest.raises(payouts.TickOffError) as refused:
            payouts.match_deposit(session, other, 10_000, member, NOW)
        assert refused.value.reason == "no_such_deposit"
    assert ticked(app)["po_twin_b"] == ("BK-1004", "manual")


# Files that are no statement ------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>&secret;</MsgId><CreDtTm>2026-11-13T00:00:00</CreDtTm></GrpHdr>
</BkToCstmrStmt></Document>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document>&lol2;</Document>"""
NOT_CAMT = b"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>"""
BAD_AMOUNT = FIXTURE.read_bytes().replace(b">8694.00<", b">86.945<", 1)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (XXE, "unsafe"),
        (LAUGHS, "unsafe"),
        (b"<Document><unclosed></Document>", "not_xml"),
        (b"\x89PNG\r\n\x1a\n", "not_xml"),
        (NOT_CAMT, "not_camt053"),
        (BAD_AMOUNT, "bad_entry"),
        (b" " * (payouts.STATEMENT_LIMIT + 1) + b"<x/>", "too_large"),
    ],
    ids=["empty", "xxe", "laughs", "broken", "binary", "pain001", "amount", "large"],
)
def test_a_file_that_is_no_statement_is_refused_and_changes_nothing(app, data, problem):
    with pytest.raises(payouts.StatementError) as refused:
        imported(app, data)
    assert refused.value.problem == problem
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(BankStatement)) == 0
