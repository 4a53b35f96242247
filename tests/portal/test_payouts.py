"""Payouts to the bank: stored from each reconciliation run (a fake reader with the
automatic payouts localstripe cannot make), matched to their transactions, and ticked
off against the bank's deposits: from a camt.053 statement (tests/portal/fixtures) by the
rules, or by hand; bad files refused with a 4xx; the pages in three languages."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import stripe
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from portal.cli import cli
from portal.core import db
from portal.finance import payouts
from portal.finance.reconcile import reconcile_with
from portal.models import AuditEntry, BankDeposit, BankStatement, Payment, Payout, StaffMember
from portal.payments.stripe_gateway import BalanceLine, ChargeState, PayoutLine

from .factories import NOW, PASSWORD, add_staff, build_case, staff_sign_in

# localstripe's fixtures, shared with the reconciliation's tests.
from .test_reconcile import KEY, localstripe, needs_localstripe, reconciled, stripe_url  # noqa: F401

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


def test_business_days_agree_with_counting_them_one_by_one():
    def counted(start: date, end: date) -> int:
        return sum(
            (start + timedelta(days=n)).weekday() < 5 for n in range(1, (end - start).days + 1)
        )

    for first in range(14):
        start = date(2026, 11, 1) + timedelta(days=first)
        for span in range(40):
            end = start + timedelta(days=span)
            assert payouts.business_days_after(start, end) == counted(start, end), (start, end)


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
            select(AuditEntry).where(AuditEntry.action == "finance.payouts.statement_import")
        ).all()
        assert len(imports) == 1


def test_an_overlapping_statement_adds_only_its_new_entries(app):
    run(app)
    imported(app)
    # The same entries in another file (a monthly statement over the daily ones).
    other = FIXTURE.read_bytes().replace(b"STMT-20261113-001", b"STMT-202611-M")
    result = imported(app, other, "month.xml")
    assert (result.already, result.added, result.skipped) == (False, 0, 7)


def test_an_mt940_statement_matches_the_same_payouts(app):
    run(app)
    result = imported(app, MT940_FIXTURE.read_bytes(), "nov.sta")
    assert (result.added, result.matched, result.ambiguous, result.unmatched) == (7, 4, 1, 2)
    assert result.statement.format == "mt940"
    assert result.statement.statement_date == date(2026, 11, 13)
    assert ticked(app) == {
        "po_exact": ("BK-1001", "auto"),
        "po_descr": ("BK-1002", "auto"),
        "po_amount": ("BK-1003", "auto"),
        "po_ref_b": ("BK-1006", "auto"),
    }
    # The camt.053 of the same account and days holds the same entries: all held already.
    again = imported(app)
    assert (again.already, again.added, again.skipped) == (False, 0, 7)


def test_a_deposit_imported_before_its_payout_is_matched_by_the_next_run(app):
    """Import first, reconcile after: the run stores its payouts and ticks off the
    deposits waiting for them by the same rules, audited in the run's name."""
    imported(app)
    assert ticked(app) == {}
    first = run(app)
    assert ticked(app) == {
        "po_exact": ("BK-1001", "auto"),
        "po_descr": ("BK-1002", "auto"),
        "po_amount": ("BK-1003", "auto"),
        "po_ref_b": ("BK-1006", "auto"),
    }
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "finance.payouts.auto_match"))
            .one()
        )
        assert entry.actor == "test"
        assert entry.details["run_id"] == first
        assert sorted(stripe_id for _, stripe_id in entry.details["matched"]) == [
            "po_amount",
            "po_descr",
            "po_exact",
            "po_ref_b",
        ]
    # A second run finds nothing new to tick off, and records no match.
    run(app, now=NOW + timedelta(hours=1))
    with app.app_context():
        matches = select(func.count()).where(AuditEntry.action == "finance.payouts.auto_match")
        assert db.session().scalar(matches.select_from(AuditEntry)) == 1


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
            select(AuditEntry).where(AuditEntry.action == "finance.payouts.tick_off")
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
MT940_FIXTURE = FIXTURE.with_name("mt940-payouts.sta")
MT940_BAD_CURRENCY = MT940_FIXTURE.read_bytes().replace(b"C261102TWD", b"C261102T$D", 1)
BAD_AMOUNT = FIXTURE.read_bytes().replace(b">8694.00<", b">86.945<", 1)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (XXE, "unsafe"),
        (LAUGHS, "unsafe"),
        (b"<Document><unclosed></Document>", "not_xml"),
        (b"\x89PNG\r\n\x1a\n", "unknown_format"),
        (b"/etc/passwd", "unknown_format"),  # text, never a file to read
        (b":20:X\r\n:61:garbage\r\n", "bad_entry"),
        (MT940_BAD_CURRENCY, "bad_entry"),
        (NOT_CAMT, "not_camt053"),
        (BAD_AMOUNT, "bad_entry"),
        (b" " * (payouts.STATEMENT_LIMIT + 1) + b"<x/>", "too_large"),
    ],
    ids=[
        "empty",
        "xxe",
        "laughs",
        "broken",
        "binary",
        "path",
        "mt940",
        "mt940-currency",
        "pain001",
        "amount",
        "large",
    ],
)
def test_a_file_that_is_no_statement_is_refused_and_changes_nothing(app, data, problem):
    with pytest.raises(payouts.StatementError) as refused:
        imported(app, data)
    assert refused.value.problem == problem
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(BankStatement)) == 0


# The pages -------------------------------------------------------------------------------


@pytest.fixture
def finance(app, client):
    """A client signed in as a finance staff member."""
    add_staff(app)
    assert staff_sign_in(client).status_code == 303
    return client


def payout_id(app: Flask, stripe_id: str) -> int:
    with app.app_context():
        return db.session().scalars(select(Payout.id).where(Payout.stripe_id == stripe_id)).one()


def plain(html: str) -> str:
    """A page's text without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def multipart(data: bytes, name: str) -> bytes:
    """A form's body with one file, written out: the test client would spool a large
    file to a temporary file that it never closes."""
    head = f'--b\r\nContent-Disposition: form-data; name="statement"; filename="{name}"\r\n\r\n'
    return head.encode() + data + b"\r\n--b--\r\n"


def upload(client, data: bytes, name: str = "nov.xml"):
    return client.post(
        "/finance/payouts/statements",
        data={"statement": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_speak_each_language(app, finance, language):
    run(app)
    imported(app)
    wanted = {
        "zh_Hant_TW": ("撥款至銀行", "銀行入帳"),
        "zh_Hans_CN": ("出款到银行", "银行入账"),
        "en": ("Payouts to the bank", "Bank deposit"),
    }[language]
    listing = finance.get(f"/finance/payouts?lang={language}")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert all(word in text for word in wanted), language
    # Waiting payouts first: the twins, the late one and po_ref_a before the matched ones.
    assert text.index("po_twin_a") < text.index("po_exact")
    assert text.index("po_late") < text.index("po_failed")  # a failed one waits for nothing
    page = finance.get(f"/finance/payouts/{payout_id(app, 'po_exact')}?lang={language}")
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert "txn_a" in shown
    assert "BK-1001" in shown
    assert "NT$8,694" in shown
    if language != "en":
        assert "Ticked off" not in shown
        assert "Balance transactions" not in shown


def test_a_payout_page_lists_its_transactions_and_their_sum(app, finance):
    case = build_case(app)
    with app.app_context():
        session = db.session()
        payment = Payment(
            case_id=case.case_id,
            purpose="partial",
            amount=500_000,
            currency="TWD",
            status="succeeded",
            gateway="stripe",
            gateway_reference="pi_a",
            created_at=NOW,
            confirmed_at=NOW,
        )
        session.add(payment)
        session.commit()
        paid_id = payment.id
    # The run's balance history holds txn_a, matched to our payment by its intent.
    reader = the_reader()
    reader.lines = [EXACT_LINES[0]]
    run(app, reader)
    text = finance.get(f"/finance/payouts/{payout_id(app, 'po_exact')}?lang=en").get_data(
        as_text=True
    )
    assert f"/finance/payments/{paid_id}" in text
    assert "The transactions add up to the payout." in text
    assert "NT$8,694" in text


def test_a_short_payout_says_so(app, finance):
    run(app, the_reader(po_exact=replace(PAYOUTS["po_exact"], amount=900_000)))
    text = finance.get(f"/finance/payouts/{payout_id(app, 'po_exact')}?lang=en").get_data(
        as_text=True
    )
    assert "The transactions add up to NT$8,694, not the payout's NT$9,000." in plain(text)


def test_a_statement_uploaded_is_matched_and_again_changes_nothing(app, finance):
    run(app)
    # A browser may send the folders too: only the file's own name is kept.
    answer = upload(finance, FIXTURE.read_bytes(), "statements/2026/nov.xml")
    assert answer.status_code == 303
    shown = finance.get(answer.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "Imported nov.xml." in shown
    assert "7 deposits added." in shown
    assert "4 of them ticked off against payouts." in shown
    with app.app_context():
        names = db.session().scalars(select(BankStatement.file_name)).all()
        assert names == ["nov.xml"]
    again = upload(finance, FIXTURE.read_bytes(), "again.xml")
    assert again.status_code == 303
    assert "already=1" in again.headers["Location"]
    text = finance.get(again.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "This file was imported before (nov.xml): nothing changed." in text
    assert len(ticked(app)) == 4


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (XXE, 422, "declares a document type"),
        (LAUGHS, 422, "declares a document type"),
        (b"<Document><unclosed></Document>", 422, "not well-formed XML"),
        (b"GIF89a", 422, "neither a camt.053"),
        (NOT_CAMT, 422, "not a camt.053 bank statement"),
        (BAD_AMOUNT, 422, "cannot be read"),
    ],
    ids=["xxe", "laughs", "broken", "gif", "pain001", "amount"],
)
def test_a_bad_file_gets_a_clear_4xx(app, finance, data, status, words):
    answer = finance.post(
        "/finance/payouts/statements?lang=en",
        data={"statement": (io.BytesIO(data), "bad.xml")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == status
    assert words in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(BankStatement)) == 0


def test_an_oversized_or_missing_file_gets_a_clear_4xx(app, finance):
    big = b"<x>" + b" " * payouts.STATEMENT_LIMIT + b"</x>"
    answer = finance.post(
        "/finance/payouts/statements?lang=en",
        data=multipart(big, "big.xml"),
        content_type="multipart/form-data; boundary=b",
    )
    assert answer.status_code == 422
    assert "larger than 5 MB" in answer.get_data(as_text=True)
    # Past the body's limit Werkzeug answers 413 before reading a byte.
    answer = finance.post(
        "/finance/payouts/statements?lang=en",
        data=multipart(b" " * (payouts.STATEMENT_LIMIT * 2), "huge.xml"),
        content_type="multipart/form-data; boundary=b",
    )
    assert answer.status_code == 413
    assert "That was too much to send" in answer.get_data(as_text=True)
    missing = finance.post("/finance/payouts/statements?lang=en", data={})
    assert missing.status_code == 422
    assert "Choose the statement file to import." in missing.get_data(as_text=True)


def test_ticking_off_by_hand_from_the_page(app, finance):
    run(app)
    late = payout_id(app, "po_late")
    bad = finance.post(
        f"/finance/payouts/{late}/tick-off?lang=en", data={"booking_date": "2026-13-40"}
    )
    assert bad.status_code == 422
    assert "Enter the bank's reference of the deposit." in bad.get_data(as_text=True)
    blank = finance.post(
        f"/finance/payouts/{late}/tick-off?lang=en",
        data={"booking_date": "2026-11-09", "reference": "   "},
    )
    assert blank.status_code == 422
    early = finance.post(
        f"/finance/payouts/{late}/tick-off?lang=en",
        data={"booking_date": "2026-10-01", "reference": "BK-1005"},
    )
    assert early.status_code == 422
    assert "before Stripe made the payout" in early.get_data(as_text=True)
    done = finance.post(
        f"/finance/payouts/{late}/tick-off",
        data={"booking_date": "2026-11-09", "reference": "BK-1005"},
    )
    assert done.status_code == 303
    again = finance.post(
        f"/finance/payouts/{late}/tick-off?lang=en",
        data={"booking_date": "2026-11-09", "reference": "BK-1005"},
    )
    assert again.status_code == 409
    assert "already ticked off" in again.get_data(as_text=True)
    page = finance.get(f"/finance/payouts/{late}?lang=en").get_data(as_text=True)
    assert "Ticked off by hand" in page
    assert ticked(app)["po_late"] == ("BK-1005", "manual")


def test_choosing_a_deposit_from_the_page(app, finance):
    run(app)
    imported(app)
    twin = payout_id(app, "po_twin_a")
    page = finance.get(f"/finance/payouts/{twin}?lang=en").get_data(as_text=True)
    assert "BK-1004" in page
    with app.app_context():
        deposit = (
            db.session()
            .scalars(select(BankDeposit.id).where(BankDeposit.bank_reference == "BK-1004"))
            .one()
        )
    assert (
        finance.post(f"/finance/payouts/{twin}/deposit", data={"deposit": "x"}).status_code == 422
    )
    answer = finance.post(f"/finance/payouts/{twin}/deposit", data={"deposit": str(deposit)})
    assert answer.status_code == 303
    assert ticked(app)["po_twin_a"] == ("BK-1004", "manual")


def test_another_id_gets_a_404(app, finance):
    for path in ("/finance/payouts/999", "/finance/payouts/99999999999999999999"):
        assert finance.get(path).status_code == 404
    assert finance.post("/finance/payouts/999/tick-off", data={}).status_code == 404
    assert finance.post("/finance/payouts/999/deposit", data={"deposit": "1"}).status_code == 404
    run(app)
    twin = payout_id(app, "po_twin_a")
    answer = finance.post(f"/finance/payouts/{twin}/deposit", data={"deposit": "424242"})
    assert answer.status_code == 404


def test_a_large_statement_passes_the_csrf_check_and_a_missing_token_is_refused(app):
    """The CSRF check reads the body before the view: a statement larger than the portal's
    usual 256 KiB body must reach it, and without its token gets a 400."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    add_staff(app)
    page = client.get("/staff/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = client.post(
        "/staff/sign-in",
        data={"email": "mei@haohuan.example", "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.status_code == 303
    listing = client.get("/finance/payouts").get_data(as_text=True)
    token = listing.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    run(app)
    # The fixture, padded with a comment to 1 MB.
    padded = FIXTURE.read_bytes().replace(
        b"<Document", b"<!--" + b" " * 1_000_000 + b"-->\n<Document"
    )
    field = f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode()
    answer = client.post(
        "/finance/payouts/statements",
        data=field + multipart(padded, "padded.xml"),
        content_type="multipart/form-data; boundary=b",
    )
    assert answer.status_code == 303
    assert len(ticked(app)) == 4
    refused = client.post(
        "/finance/payouts/statements",
        data=multipart(padded, "padded.xml"),
        content_type="multipart/form-data; boundary=b",
    )
    assert refused.status_code == 400


# The command -----------------------------------------------------------------


def command(app: Flask, *arguments: str):
    return CliRunner().invoke(cli, list(arguments), obj=ScriptInfo(create_app=lambda: app))


def test_the_command_imports_a_statement_once_and_refuses_a_bad_file(app, tmp_path):
    run(app)
    first = command(app, "finance", "import-statement", str(FIXTURE))
    assert first.exit_code == 0, first.output
    assert "7 deposits added (0 held already), 4 matched to payouts" in first.output
    assert "1 ambiguous, 2 unmatched" in first.output
    again = command(app, "finance", "import-statement", str(FIXTURE))
    assert again.exit_code == 0
    assert "was imported before: nothing changed" in again.output
    bad = tmp_path / "bad.xml"
    bad.write_bytes(XXE)
    refused = command(app, "finance", "import-statement", str(bad))
    assert refused.exit_code == 1
    assert "declares a document type" in refused.output
    with app.app_context():
        entries = db.session().scalars(
            select(AuditEntry).where(AuditEntry.action == "finance.payouts.statement_import")
        )
        assert [(e.actor, e.details["added"]) for e in entries] == [("cli", 7)]


def test_a_statement_imported_by_someone_else_meanwhile_is_already_there(app, monkeypatch):
    """Two people import the same file at once: the second's insert fails on the unique
    SHA-256, and it answers as for a file imported before (never a 500)."""
    from sqlalchemy.exc import IntegrityError

    real = payouts._import
    calls = []

    def raced(db_session, *args, **kwargs):
        if not calls:
            calls.append("raced")
            imported(app)  # the other person's import, committed first
            raise IntegrityError("INSERT INTO bank_statements", {}, Exception("unique"))
        return real(db_session, *args, **kwargs)

    monkeypatch.setattr(payouts, "_import", raced)
    with app.app_context():
        result = payouts.import_statement(db.session(), FIXTURE.read_bytes(), "b.xml", "cli", NOW)
    assert result.already
    assert calls == ["raced"]


@needs_localstripe
@pytest.mark.usefixtures("stripe_url")
def test_a_manual_payout_at_localstripe_is_stored_with_its_arrival_date(app):
    """The real stripe SDK against localstripe: its payouts are manual, in euros, arriving
    two days on, with the statement descriptor they were made with."""
    client = stripe.StripeClient(KEY, base_addresses={"api": app.config["STRIPE_API_BASE"]})
    made = client.v1.payouts.create(
        params={"amount": 12_345, "currency": "eur", "statement_descriptor": "HAOHUAN"}
    )
    with app.app_context():
        reconciled()
    found = stored(app)[str(made.id)]
    assert (found.amount, found.currency, found.automatic) == (12_345, "EUR", False)
    assert found.statement_descriptor == "HAOHUAN"
    assert found.arrival_date is not None
    assert found.arrival_date >= found.created_at.date()
    assert (found.transaction_count, found.transactions) == (None, [])
