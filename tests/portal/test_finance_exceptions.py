"""Reconciliation exceptions worked to an end: opened by a run, one per line whatever the
runs, never reopened once finished, each resolution doing its work through the service
that already does it (the ledger exact after a recorded refund or payment), write-offs
above the limit approved by a second finance member, every step audited; and the pages,
in three languages, calm about bad input and other people's ids."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.core import db
from portal.finance import exceptions as work
from portal.finance.exceptions import ExceptionError, Refusal
from portal.models import (
    AuditEntry,
    Payment,
    ReconciliationException,
    ReconciliationItem,
    StaffMember,
)
from portal.payments import ledger

from .exception_books import AFTER, MONTH, exceptions_by_kind, month_of_books, run_month
from .factories import add_staff, staff_sign_in

LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")
MEI, LI = "mei@haohuan.example", "li@haohuan.example"


@pytest.fixture
def extra_config():
    # Up to NT$300 one finance member writes off alone; more needs a second.
    return {"FINANCE_APPROVAL_ABOVE": "TWD=300"}


@pytest.fixture
def books(app):
    add_staff(app, MEI)
    add_staff(app, LI)
    return month_of_books(app)


def exception(app, note_code):
    """The exception of the line whose note is ``note_code`` (in an app context)."""
    query = select(ReconciliationException).join(ReconciliationException.item)
    return db.session().scalars(query.where(ReconciliationItem.note_code == note_code)).one()


def member(email):
    return db.session().scalars(select(StaffMember).where(StaffMember.email == email)).one()


def audited(app, prefix="reconcile.exception"):
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.action.startswith(prefix))
        return [(e.actor, e.action) for e in db.session().scalars(query.order_by(AuditEntry.id))]


def test_a_run_opens_one_exception_per_line_that_needs_a_person(app, books):
    run_id = run_month(app, books)
    with app.app_context():
        found = db.session().scalars(select(ReconciliationException)).all()
        assert sorted((e.kind, e.item.note_code, e.status) for e in found) == [
            ("amount_mismatch", "refunds_differ", "open"),
            ("missing_at_stripe", "no_charge_at_stripe", "open"),
            ("missing_here", "no_payment", "open"),
            ("missing_here", "not_succeeded", "open"),
        ]
        assert {e.run_id for e in found} == {run_id}
        assert {e.month for e in found} == {MONTH}
        ghost = exception(app, "no_charge_at_stripe")
        assert (ghost.payment_id, ghost.our_amount) == (books.ghost, 40_000)
        assert ghost.identity == f"missing_at_stripe:TWD:payment:{books.ghost}"
        assert exception(app, "no_payment").identity == "missing_here:TWD:txn_5"
        assert [n.action for n in ghost.notes] == ["opened"]


def test_the_next_run_finds_the_same_exceptions_and_never_reopens_finished_ones(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        stray, ghost = exception(app, "no_payment"), exception(app, "no_charge_at_stripe")
        work.mark_duplicate(session, stray, member(MEI), "The same as txn_1, charged twice", AFTER)
        work.write_off(session, ghost, member(MEI), "Never reached Stripe", AFTER)
        work.approve_write_off(session, exception(app, "no_charge_at_stripe"), member(LI), AFTER)
    before = {note: found[:2] for note, found in exceptions_by_kind(app).items()}
    second = run_month(app, books)
    after = exceptions_by_kind(app)
    assert {note: found[:2] for note, found in after.items()} == before  # same rows, statuses
    assert after["no_payment"][1] == "resolved"
    assert after["no_charge_at_stripe"][1] == "written_off"
    assert {found[2] for found in after.values()} == {second}  # each at its latest line
    with app.app_context():
        assert len(db.session().scalars(select(ReconciliationException.id)).all()) == 4
        # A finished exception keeps what it was settled on; the line moved on.
        latest = exception(app, "no_payment")
        assert latest.item.run_id == second
        assert [n.action for n in latest.notes] == ["opened", "duplicate"]


def test_a_line_a_later_run_matches_is_cleared_and_no_longer_blocks(app, books):
    """Stripe's record of our payment arrives late, and a payment we had not seen succeed
    is confirmed: the next run matches both lines, so their exceptions end on their own
    (nothing for a person to do); the others stay open."""
    from .exception_books import pay_pending_late

    run_month(app, books)
    books.stripe.charged("pi_ghost", 40_000, 6)
    pay_pending_late(app, books)
    second = run_month(app, books)
    after = exceptions_by_kind(app)
    assert {note: status for note, (_, status, _, _) in after.items()} == {
        "no_charge_at_stripe": "resolved",
        "not_succeeded": "resolved",
        "no_payment": "open",
        "refunds_differ": "open",
    }
    with app.app_context():
        for note in ("no_charge_at_stripe", "not_succeeded"):
            found = exception(app, note)
            assert (found.resolution, found.run_id) == ("matched_later", second)
            assert [n.action for n in found.notes] == ["opened", "matched_later"]
            assert [n.author for n in found.notes] == ["system", "system"]
    # Run again: nothing changes, nothing reopens.
    run_month(app, books)
    assert {note: row[1] for note, row in exceptions_by_kind(app).items()} == {
        "no_charge_at_stripe": "resolved",
        "not_succeeded": "resolved",
        "no_payment": "open",
        "refunds_differ": "open",
    }


def test_a_recorded_refund_reverses_the_ledger_exactly_and_the_next_run_matches(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = exception(app, "refunds_differ")
        assert work.Resolution.RECORDED_REFUND in work.resolutions(found)
        work.record_refund(session, found, member(MEI), AFTER)
        session.expire_all()
        assert session.get(Payment, books.refunded).refunded == 20_000
        assert ledger.check(session) == []
        found = exception(app, "refunds_differ")
        assert (found.status, found.resolution) == ("resolved", "recorded_refund")
        with pytest.raises(ExceptionError) as refused:
            work.record_refund(session, found, member(MEI), AFTER)
        assert refused.value.reason is Refusal.FINISHED
    run_month(app, books)
    with app.app_context():
        refunds = db.session().scalars(
            select(ReconciliationItem.kind).where(ReconciliationItem.transaction_type == "refund")
        )
        assert list(refunds) == ["amount_mismatch", "matched"]  # the first run's, the second's
    assert ("mei@haohuan.example", "reconcile.exception.refund") in audited(app)


def test_a_recorded_payment_succeeds_through_the_gateways_path(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = exception(app, "not_succeeded")
        assert work.resolutions(found)[0] is work.Resolution.RECORDED_PAYMENT
        work.record_payment(session, found, member(MEI), AFTER)
        session.expire_all()
        assert session.get(Payment, books.pending).status == "succeeded"
        assert ledger.check(session) == []
    run_month(app, books)
    with app.app_context():
        latest = exception(app, "not_succeeded")
        assert latest.status == "resolved"
    assert ("mei@haohuan.example", "reconcile.exception.payment") in audited(app)


def test_a_stray_charge_is_linked_to_a_payment_of_its_currency(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = exception(app, "no_payment")
        with pytest.raises(ExceptionError) as refused:
            work.link_payment(session, found, 999, member(MEI), None, AFTER)
        assert refused.value.reason is Refusal.NO_PAYMENT
        work.link_payment(session, found, books.matched, member(MEI), "paid twice", AFTER)
        found = exception(app, "no_payment")
        assert (found.status, found.resolution, found.payment_id) == (
            "resolved",
            "linked_to_payment",
            books.matched,
        )
        assert found.item.payment_id == books.matched
        assert [n.action for n in found.notes] == ["opened", "linked"]
        # The link does not fit a line of ours Stripe lacks.
        with pytest.raises(ExceptionError) as refused:
            work.link_payment(
                session,
                exception(app, "no_charge_at_stripe"),
                books.matched,
                member(MEI),
                None,
                AFTER,
            )
        assert refused.value.reason is Refusal.NOT_APPLICABLE


def test_a_write_off_above_the_limit_waits_for_a_second_finance_member(app, books):
    add_staff(app, "agent@haohuan.example", roles=("agent",))
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = exception(app, "no_charge_at_stripe")  # NT$400, above NT$300
        assert work.write_off_amount(found) == 40_000
        assert not work.write_off(session, found, member(MEI), "Never reached Stripe", AFTER)
        found = exception(app, "no_charge_at_stripe")
        assert (found.status, found.write_off_amount) == ("investigating", 40_000)
        for who in (MEI, "agent@haohuan.example"):
            with pytest.raises(ExceptionError) as refused:
                work.approve_write_off(session, found, member(who), AFTER)
            assert refused.value.reason is Refusal.SAME_PERSON
        with pytest.raises(ExceptionError) as refused:
            work.write_off(session, found, member(LI), "again", AFTER)
        assert refused.value.reason is Refusal.PENDING_APPROVAL
        work.approve_write_off(session, found, member(LI), AFTER)
        found = exception(app, "no_charge_at_stripe")
        assert (found.status, found.resolution) == ("written_off", "written_off")
        assert (found.write_off_by, found.approved_by) == (member(MEI).id, member(LI).id)
        with pytest.raises(ExceptionError) as refused:
            work.approve_write_off(session, exception(app, "no_payment"), member(LI), AFTER)
        assert refused.value.reason is Refusal.NO_REQUEST
    assert audited(app) == [
        (MEI, "reconcile.exception.write_off"),
        (LI, "reconcile.exception.approve"),
    ]


def test_owners_notes_and_investigation_are_history_and_audited(app, books):
    run_month(app, books)
    with app.app_context():
        session = db.session()
        found = exception(app, "no_payment")
        work.assign(session, found, member(LI), member(MEI), AFTER)
        work.add_note(session, found, member(LI), "  Asked Stripe support  ", AFTER)
        work.investigate(session, found, member(LI), AFTER)
        with pytest.raises(ExceptionError) as refused:
            work.add_note(session, found, member(LI), "   ", AFTER)
        assert refused.value.reason is Refusal.NOTE_NEEDED
        found = exception(app, "no_payment")
        assert (found.owner_id, found.status) == (member(LI).id, "investigating")
        assert [(n.author, n.action, n.text) for n in found.notes] == [
            ("system", "opened", None),
            (MEI, "assigned", None),
            (LI, "note", "Asked Stripe support"),
            (LI, "investigating", None),
        ]
        # Mine first, then oldest first.
        shown = work.listing(session, member(LI), work.ExceptionFilters())
        assert shown[0].id == found.id
        assert len(shown) == 4
        mine = work.listing(session, member(LI), work.ExceptionFilters(owner="mine"))
        assert [e.id for e in mine] == [found.id]
        add_staff(app, "agent@haohuan.example", roles=("agent",))
        with pytest.raises(ExceptionError) as refused:
            work.assign(session, found, member("agent@haohuan.example"), member(MEI), AFTER)
        assert refused.value.reason is Refusal.NOT_FINANCE
    assert audited(app) == [
        (MEI, "reconcile.exception.assign"),
        (LI, "reconcile.exception.note"),
        (LI, "reconcile.exception.investigate"),
    ]


# The pages ---------------------------------------------------------------------------------


@pytest.fixture
def finance(app, client, books):
    assert staff_sign_in(client, email=MEI).status_code == 303
    run_month(app, books)
    return client


def exception_id(app, note_code):
    with app.app_context():
        return exception(app, note_code).id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pages_in_every_language(app, finance, lang):
    html_lang = {"zh_Hant_TW": "zh-Hant-TW", "zh_Hans_CN": "zh-Hans-CN", "en": "en"}[lang]
    number = exception_id(app, "refunds_differ")
    for path in ("/finance/exceptions", f"/finance/exceptions/{number}", "/finance/close"):
        response = finance.get(f"{path}?lang={lang}")
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert f'<html lang="{html_lang}">' in html, path
        assert " style=" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        if lang == "zh_Hant_TW":
            # Simplified-only characters never appear in Taiwan's pages.
            assert not re.search("[这对账户务记录于关]", html), path


def test_the_list_and_an_exceptions_page_in_english(app, finance):
    listed = finance.get("/finance/exceptions?lang=en").get_data(as_text=True)
    number = exception_id(app, "refunds_differ")
    assert f'href="/finance/exceptions/{number}"' in listed
    assert "Exceptions" in listed
    page = finance.get(f"/finance/exceptions/{number}?lang=en").get_data(as_text=True)
    assert "Record the missing refund" in page
    assert "Write off" in page


def test_working_an_exception_through_the_forms(app, finance, books):
    number = exception_id(app, "refunds_differ")
    base = f"/finance/exceptions/{number}"
    assert finance.post(f"{base}/take").status_code == 303
    assert (
        finance.post(f"{base}/note", data={"text": "Refunded from the dashboard"}).status_code
        == 303
    )
    assert finance.post(f"{base}/investigate").status_code == 303
    done = finance.post(f"{base}/resolve", data={"resolution": "recorded_refund"})
    assert done.status_code == 303
    with app.app_context():
        found = db.session().get(ReconciliationException, number)
        assert (found.status, found.resolution) == ("resolved", "recorded_refund")
        assert ledger.check(db.session()) == []
    again = finance.post(f"{base}/resolve?lang=en", data={"resolution": "recorded_refund"})
    assert again.status_code == 409
    assert "already" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("note", {"text": ""}),
        ("note", {"text": "x" * 2001}),
        ("assign", {"owner": "abc"}),
        ("assign", {"owner": "999"}),
        ("resolve", {"resolution": "bogus"}),
        ("resolve", {"resolution": "linked_to_payment", "payment": "x"}),
        ("resolve", {"resolution": "duplicate", "why": ""}),
    ],
)
def test_bad_form_input_is_a_clear_4xx(app, finance, path, data):
    number = exception_id(app, "no_payment")
    response = finance.post(f"/finance/exceptions/{number}/{path}?lang=en", data=data)
    assert 400 <= response.status_code < 500
    assert response.status_code != 404 or path == "assign"


def test_unknown_ids_are_404(finance):
    assert finance.get("/finance/exceptions/999").status_code == 404
    assert finance.post("/finance/exceptions/999/take").status_code == 404
    assert finance.post("/finance/exceptions/999/approve").status_code == 404


def test_an_agent_cannot_open_the_pages(app, client, books):
    add_staff(app, "agent@haohuan.example", roles=("agent",))
    staff_sign_in(client, email="agent@haohuan.example")
    assert client.get("/finance/exceptions").status_code == 403


def test_the_asker_cannot_approve_their_own_write_off_from_the_page(app, finance):
    number = exception_id(app, "no_charge_at_stripe")  # NT$400, above NT$300
    base = f"/finance/exceptions/{number}"
    asked = finance.post(f"{base}/resolve", data={"resolution": "written_off", "why": "gone"})
    assert asked.status_code == 303
    page = finance.get(f"{base}?lang=en").get_data(as_text=True)
    assert "needs another finance member" in page
    assert f'action="{base}/approve"' not in page  # not offered to the asker
    refused = finance.post(f"{base}/approve?lang=zh_Hant_TW")
    assert refused.status_code == 409
    assert "另一位" in refused.get_data(as_text=True)
    finance.post("/staff/sign-out")
    assert staff_sign_in(finance, email=LI).status_code == 303
    offered = finance.get(f"{base}?lang=en").get_data(as_text=True)
    assert f'action="{base}/approve"' in offered
    assert finance.post(f"{base}/approve").status_code == 303
    with app.app_context():
        assert db.session().get(ReconciliationException, number).status == "written_off"
