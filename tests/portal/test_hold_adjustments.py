"""An upheld dispute changes the money through the ledger: the agent proposes what it
means (charges waived, installments reduced, or the case closed with its balance written
off), the supervisor sees exactly those lines, and only the sign-off applies them, in one
transaction with the hold's end. Each line is its own record; what was owed is never
edited; ``haohuan ledger check`` and the finance day balance and show what was forgiven;
the borrower's page shows the corrected amounts and they are told in their language."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from negotiation import Hold
from portal.cases import holds, lifecycle
from portal.cases.adjustments import Request
from portal.cases.facts import policy, view_case
from portal.cli import cli
from portal.core import db
from portal.finance.reports import day_overview
from portal.models import (
    AdjustmentKind,
    AdjustmentStatus,
    AuditEntry,
    Case,
    CaseHold,
    CaseStatus,
    DisputeResolution,
    HoldAdjustment,
    HoldOutcome,
    HoldStatus,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
)
from portal.payments import ledger

from .factories import NOW, TODAY, add_staff, build_case, sign_in, staff_sign_in, unwrapped

AGENT = "agent@haohuan.example"
BOSS = "boss@haohuan.example"


def disputed(app, **kwargs):
    built = build_case(app, days_past_due=31, locale=kwargs.pop("locale", "en"), **kwargs)
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(session, session.get(Case, built.case_id), "dispute", "not right", NOW)
    return built


def staff_ids(app) -> tuple[int, int]:
    return add_staff(app, AGENT, ("agent",)), add_staff(app, BOSS, ("agent", "supervisor"))


def items(app, case_id: int) -> tuple[list[LoanCharge], list[LoanInstallment]]:
    """The case's charges (penalty first) and unpaid installments, detached."""
    with app.app_context():
        session = db.session()
        loan = session.get(Case, case_id).loan
        charges = sorted(loan.charges, key=lambda c: c.kind, reverse=True)
        unpaid = [i for i in loan.installments if i.unpaid > 0]
        session.expunge_all()
        return charges, unpaid


def propose(app, case_id: int, member_id: int, changes, resolution=DisputeResolution.UPHELD):
    with app.test_request_context("/"):
        session = db.session()
        member = session.get(holds.StaffMember, member_id)
        holds.propose(
            session, session.get(Case, case_id), member, resolution, "Checked.", NOW, changes
        )


def sign_off(app, case_id: int, member_id: int, approve: bool = True):
    with app.test_request_context("/"):
        session = db.session()
        member = session.get(holds.StaffMember, member_id)
        return holds.sign_off(session, session.get(Case, case_id), member, approve, NOW).id


def lines(app, case_id: int) -> list[HoldAdjustment]:
    with app.app_context():
        rows = (
            db.session()
            .scalars(
                select(HoldAdjustment)
                .where(HoldAdjustment.case_id == case_id)
                .order_by(HoldAdjustment.id)
            )
            .all()
        )
        db.session().expunge_all()
        return list(rows)


def books(app, case_id: int) -> dict[str, tuple[int, ...]]:
    """Every item of the loan as (asked for, paid, waived), keyed by what it is."""
    with app.app_context():
        loan = db.session().get(Case, case_id).loan
        found = {f"charge {c.id}": (c.amount, c.paid, c.waived) for c in loan.charges}
        for i in loan.installments:
            found[f"installment {i.id}"] = (
                i.principal_due,
                i.interest_due,
                i.principal_paid,
                i.interest_paid,
                i.principal_waived,
                i.interest_waived,
            )
        return found


def check(app) -> list[str]:
    with app.app_context():
        return ledger.check(db.session())


def test_waiving_part_of_a_charge_moves_nothing_until_the_sign_off_applies_it(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    [penalty, fee], _ = items(app, built.case_id)
    before = books(app, built.case_id)
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 5_000)])
    assert books(app, built.case_id) == before  # proposed: nothing has moved
    [line] = lines(app, built.case_id)
    assert (line.status, line.target, line.charge_id, line.amount) == (
        AdjustmentStatus.PROPOSED,
        "penalty",
        penalty.id,
        5_000,
    )
    sign_off(app, built.case_id, boss)
    after = books(app, built.case_id)
    # What was asked for stays; only the waived total rises, by exactly the line.
    assert after[f"charge {penalty.id}"] == (penalty.amount, penalty.paid, penalty.waived + 5_000)
    assert after[f"charge {fee.id}"] == before[f"charge {fee.id}"]
    [line] = lines(app, built.case_id)
    assert line.status is AdjustmentStatus.APPLIED
    assert line.applied_at == NOW
    assert line.note == "Checked."
    with app.app_context():
        hold = db.session().get(CaseHold, line.hold_id)
        assert hold.outcome is HoldOutcome.UPHELD  # the hold ended in the same transaction
        assert hold.ended_at == NOW
        assert db.session().get(Case, built.case_id).hold is None
        events = {e.kind: e.data for e in db.session().get(Case, built.case_id).events}
        assert events["dispute_adjusted"]["amount"] == 5_000
        assert events["dispute_adjusted"]["lines"] == [line.id]
        actions = (
            db.session()
            .scalars(select(AuditEntry.action).where(AuditEntry.case_id == built.case_id))
            .all()
        )
        assert {"dispute.propose", "dispute.sign_off", "hold.end"} <= set(actions)
    assert check(app) == []


def test_reducing_an_installment_takes_its_interest_first_then_its_principal(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    _, [first, *_rest] = items(app, built.case_id)
    # 50,000 of interest and 500,000 of principal: 80,000 takes all the interest and 30,000.
    propose(
        app, built.case_id, agent, [Request(AdjustmentKind.REDUCE_INSTALLMENT, first.id, 80_000)]
    )
    sign_off(app, built.case_id, boss)
    assert [(x.target, x.amount) for x in lines(app, built.case_id)] == [
        ("interest", 50_000),
        ("principal", 30_000),
    ]
    due_p, due_i, _paid_p, _paid_i, waived_p, waived_i = books(app, built.case_id)[
        f"installment {first.id}"
    ]
    assert (due_p, due_i) == (first.principal_due, first.interest_due)  # never edited
    assert (waived_i, waived_p) == (50_000, 30_000)
    assert check(app) == []


def test_closing_the_case_writes_off_everything_and_collection_stops_for_good(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    with app.app_context():
        session = db.session()
        # A reminder scheduled before the dispute was upheld must not go out after it.
        session.add(
            Message(
                case_id=built.case_id,
                borrower_id=built.borrower_id,
                channel="sms",
                purpose="reminder",
                address="+886 912 345 678",
                locale="en",
                status=MessageStatus.SCHEDULED,
                send_at=NOW + timedelta(days=1),
                created_by=AGENT,
                created_at=NOW,
            )
        )
        session.commit()
        owed = sum(c.outstanding for c in session.get(Case, built.case_id).loan.charges) + sum(
            i.unpaid for i in session.get(Case, built.case_id).loan.installments
        )
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WRITE_OFF)])
    sign_off(app, built.case_id, boss)
    written = lines(app, built.case_id)
    assert {x.kind for x in written} == {AdjustmentKind.WRITE_OFF}
    assert sum(x.amount for x in written) == owed
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        assert case.status is CaseStatus.RESOLVED
        assert ledger.balance_lines(case.loan) == []
        reminder = session.scalars(
            select(Message).where(Message.case_id == case.id, Message.purpose == "reminder")
        ).one()
        assert (reminder.status, reminder.error) == (MessageStatus.CANCELLED, "written_off")
    assert check(app) == []
    # Months of daily work later: nothing reopens, escalates or accrues.
    engine = app.extensions["haohuan.engine"]
    with app.app_context():
        for days in (1, 31, 62, 400):
            work = lifecycle.work_day(engine, policy(), TODAY + timedelta(days=days), NOW)
            assert (work.cases_reopened, work.penalties, work.became_overdue) == (0, 0, 0)
        case = db.session().get(Case, built.case_id)
        assert case.status is CaseStatus.RESOLVED
        assert case.overdue_since is None


def other_case_items(app):
    other = build_case(app, days_past_due=31)
    charges, unpaid = items(app, other.case_id)
    return charges[0].id, unpaid[0].id


HOSTILE = [
    (
        "more than owed",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, 15_001)],
        "exceeds",
    ),
    (
        "installment more than owed",
        lambda c, i, o: [Request(AdjustmentKind.REDUCE_INSTALLMENT, i[0].id, 550_001)],
        "exceeds",
    ),
    (
        "negative",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, -1)],
        "amount_invalid",
    ),
    (
        "zero",
        lambda c, i, o: [Request(AdjustmentKind.REDUCE_INSTALLMENT, i[0].id, 0)],
        "amount_invalid",
    ),
    (
        "not a whole number",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, 1.5)],
        "amount_invalid",
    ),  # type: ignore[arg-type]
    (
        "a bool",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, True)],
        "amount_invalid",
    ),
    (
        "no amount",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id)],
        "amount_invalid",
    ),
    (
        "another case's charge",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, o[0], 100)],
        "unknown_item",
    ),
    (
        "another case's installment",
        lambda c, i, o: [Request(AdjustmentKind.REDUCE_INSTALLMENT, o[1], 100)],
        "unknown_item",
    ),
    (
        "an installment id as a charge",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, i[0].id, 100)],
        "unknown_item",
    ),
    (
        "no such id",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, 10**12, 100)],
        "unknown_item",
    ),
    (
        "the same charge twice",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, 10_000)] * 2,
        "duplicate_item",
    ),
    (
        "closing beside another line",
        lambda c, i, o: [
            Request(AdjustmentKind.WRITE_OFF),
            Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, 1),
        ],
        "close_alone",
    ),
    ("upheld changing nothing", lambda c, i, o: [], "adjustment_required"),
    (
        "too many lines",
        lambda c, i, o: [Request(AdjustmentKind.WAIVE_CHARGE, c[0].id, 1)] * 21,
        "too_many",
    ),
]


@pytest.mark.parametrize(("name", "changes", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_proposal_outside_what_is_owed_is_refused_and_nothing_is_kept(app, name, changes, code):
    built = disputed(app)
    agent, _boss = staff_ids(app)
    charges, unpaid = items(app, built.case_id)
    other = other_case_items(app)
    before = books(app, built.case_id)
    with pytest.raises(holds.HoldError) as refused:
        propose(app, built.case_id, agent, changes(charges, unpaid, other))
    assert refused.value.code == code
    assert lines(app, built.case_id) == []
    assert books(app, built.case_id) == before
    [row] = hold_rows(app, built.case_id)
    assert row.status is HoldStatus.ACTIVE  # nothing proposed: the agent may try again


def test_a_rejection_changes_nothing_in_the_books(app):
    built = disputed(app)
    agent, _ = staff_ids(app)
    charges, _ = items(app, built.case_id)
    with pytest.raises(holds.HoldError) as refused:
        propose(
            app,
            built.case_id,
            agent,
            [Request(AdjustmentKind.WAIVE_CHARGE, charges[0].id, 100)],
            DisputeResolution.REJECTED,
        )
    assert refused.value.code == "adjustment_not_upheld"


def hold_rows(app, case_id):
    with app.app_context():
        rows = db.session().scalars(select(CaseHold).where(CaseHold.case_id == case_id)).all()
        db.session().expunge_all()
        return list(rows)


def test_closing_a_loan_with_nothing_owed_is_refused(app):
    built = disputed(app)
    agent, _ = staff_ids(app)
    with app.app_context():
        session = db.session()
        ledger.write_off_balance(session.get(Case, built.case_id).loan, 10**12)
        ledger.write_off_charges(session.get(Case, built.case_id).loan, penalties=10**9, fees=10**9)
        session.commit()
    with pytest.raises(holds.HoldError) as refused:
        propose(app, built.case_id, agent, [Request(AdjustmentKind.WRITE_OFF)])
    assert refused.value.code == "nothing_owed"


def test_a_second_sign_off_and_the_proposers_own_are_refused_and_apply_nothing_twice(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    both = add_staff(app, "both@haohuan.example", ("agent", "supervisor"))
    [penalty, _], _ = items(app, built.case_id)
    # A supervisor who proposes cannot sign off their own proposal.
    propose(app, built.case_id, both, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 1_000)])
    with pytest.raises(holds.HoldError) as refused:
        sign_off(app, built.case_id, both)
    assert refused.value.code == "same_person"
    with pytest.raises(holds.HoldError) as refused:
        sign_off(app, built.case_id, agent)  # not a supervisor
    assert refused.value.code == "not_supervisor"
    sign_off(app, built.case_id, boss)
    with pytest.raises(holds.HoldError) as again:
        sign_off(app, built.case_id, boss)
    assert again.value.code == "no_hold"
    assert books(app, built.case_id)[f"charge {penalty.id}"][2] == penalty.waived + 1_000
    assert check(app) == []


def test_a_proposal_the_books_moved_past_is_refused_at_sign_off_and_moves_nothing(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    [penalty, _], _ = items(app, built.case_id)
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 15_000)])
    with app.app_context():
        session = db.session()
        session.get(LoanCharge, penalty.id).paid += 1  # a payment paid part of it meanwhile
        session.commit()
    before = books(app, built.case_id)
    with pytest.raises(holds.HoldError) as refused:
        sign_off(app, built.case_id, boss)
    assert refused.value.code == "proposal_stale"
    assert books(app, built.case_id) == before
    [row] = hold_rows(app, built.case_id)
    assert (row.status, row.ended_at) == (HoldStatus.PROPOSED, None)
    assert [x.status for x in lines(app, built.case_id)] == [AdjustmentStatus.PROPOSED]
    # Sent back, the lines are kept as withdrawn, and a new proposal starts afresh.
    sign_off(app, built.case_id, boss, approve=False)
    assert [x.status for x in lines(app, built.case_id)] == [AdjustmentStatus.WITHDRAWN]
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 14_999)])
    sign_off(app, built.case_id, boss)
    assert [x.status for x in lines(app, built.case_id)] == [
        AdjustmentStatus.WITHDRAWN,
        AdjustmentStatus.APPLIED,
    ]
    assert check(app) == []


def test_a_charge_added_after_a_close_was_proposed_makes_it_stale(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WRITE_OFF)])
    with app.app_context():
        session = db.session()
        loan = session.get(Case, built.case_id).loan
        session.add(
            LoanCharge(
                loan_id=loan.id, kind="fee", description="late_fee", amount=700, charged_on=TODAY
            )
        )
        session.commit()
    with pytest.raises(holds.HoldError) as refused:
        sign_off(app, built.case_id, boss)
    assert refused.value.code == "proposal_stale"
    with app.app_context():
        assert db.session().get(Case, built.case_id).status is not CaseStatus.RESOLVED
        assert db.session().get(Case, built.case_id).hold == Hold.DISPUTE


def test_the_ledger_check_finds_an_applied_line_the_books_do_not_show(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    [penalty, _], _ = items(app, built.case_id)
    propose(app, built.case_id, agent, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 2_000)])
    sign_off(app, built.case_id, boss)
    runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)
    result = runner.invoke(cli, ["ledger", "check"], obj=info)
    assert result.exit_code == 0, result.output
    with app.app_context():
        session = db.session()
        session.get(LoanCharge, penalty.id).waived -= 1  # someone edits the books by hand
        session.commit()
    result = runner.invoke(cli, ["ledger", "check"], obj=info)
    assert result.exit_code == 1
    assert f"charge {penalty.id}: dispute adjustments exceed what is waived" in result.output


def test_the_finance_day_shows_what_was_forgiven_as_its_own_lines(app):
    built = disputed(app)
    agent, boss = staff_ids(app)
    [penalty, fee], [first, *_] = items(app, built.case_id)
    propose(
        app,
        built.case_id,
        agent,
        [
            Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 15_000),
            Request(AdjustmentKind.WAIVE_CHARGE, fee.id, 1_000),
            Request(AdjustmentKind.REDUCE_INSTALLMENT, first.id, 2_500),
        ],
    )
    sign_off(app, built.case_id, boss)
    closed = disputed(app)
    propose(app, closed.case_id, agent, [Request(AdjustmentKind.WRITE_OFF)])
    sign_off(app, closed.case_id, boss)
    written = sum(x.amount for x in lines(app, closed.case_id))
    with app.app_context():
        from portal.finance.reports import finance_timezone

        zone = finance_timezone()
        day = NOW.astimezone(zone).date()
        [twd] = day_overview(db.session(), day, zone).currencies
    assert twd.forgiven == {
        "waive_charge": 16_000,
        "reduce_installment": 2_500,
        "write_off": written,
    }
    assert twd.kept == twd.allocated_total == 0  # forgiven is not money received
    finance = app.test_client()
    add_staff(app, "fin@haohuan.example", ("finance",))
    staff_sign_in(finance, "fin@haohuan.example")
    page = finance.get(f"/finance/?day={day.isoformat()}&lang=en").get_data(as_text=True)
    assert "Forgiven by upheld disputes" in page
    assert "Balances written off (cases closed)" in page


# The console -------------------------------------------------------------------------------


def console(app, email: str, roles: tuple[str, ...]):
    client = app.test_client()
    add_staff(app, email, roles)
    assert staff_sign_in(client, email).status_code == 303
    return client


def test_an_agent_proposes_from_the_case_page_and_the_supervisor_sees_exactly_the_lines(app):
    built = disputed(app)
    agent = console(app, AGENT, ("agent",))
    page = agent.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
    charge_fields = re.findall(r'name="(charge_\d+)"', page)
    installment_fields = re.findall(r'name="(installment_\d+)"', page)
    assert len(charge_fields) == 2
    assert installment_fields
    proposed = agent.post(
        f"/agent/cases/{built.case_id}/hold/propose",
        data={
            "resolution": "upheld",
            "note": "Penalty charged in error.",
            charge_fields[0]: "100",  # NT$100.00 of a charge
            installment_fields[0]: "2.50",
        },
    )
    assert proposed.status_code == 303
    boss = console(app, BOSS, ("agent", "supervisor"))
    page = " ".join(
        unwrapped(
            boss.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
        ).split()
    )
    assert "What signing off changes in the books" in page
    assert "NT$100" in page
    assert "NT$2.50" in page
    assert "NT$102.50" in page  # the total
    assert (
        boss.post(
            f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"}
        ).status_code
        == 303
    )
    assert sum(x.amount for x in lines(app, built.case_id)) == 10_250
    # The hold is now history on the case page, with its outcome and its lines.
    page = " ".join(
        unwrapped(
            boss.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
        ).split()
    )
    history = page[page.index("Earlier holds") :]
    assert "Dispute upheld" in history
    assert "Changes in the books" in history
    assert "applied" in history
    assert "NT$102.50" in history


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"AMOUNT": "-5"}, 422),  # negative
        ({"AMOUNT": "0"}, 422),
        ({"AMOUNT": "1.555"}, 422),  # TWD has two decimals
        ({"AMOUNT": "1e3"}, 422),
        ({"AMOUNT": "150.01"}, 409),  # more than the penalty owes (NT$150.00)
        ({}, 422),  # upheld, changing nothing
        ({"AMOUNT": "10", "close_case": "y"}, 422),  # closing beside a line
        ({"charge_999999": "10"}, 422),  # a charge that is not this case's: no such field
    ],
)
def test_the_proposal_form_refuses_hostile_input_in_words(app, data, status):
    built = disputed(app)
    other = build_case(app, days_past_due=31)
    other_charge, _ = items(app, other.case_id)
    agent = console(app, AGENT, ("agent",))
    [penalty, _fee], _ = items(app, built.case_id)
    penalty_field = f"charge_{penalty.id}"
    page = agent.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
    assert f'name="{penalty_field}"' in page
    form = {"resolution": "upheld", "note": "x"}
    for key, value in data.items():
        if key == "AMOUNT":
            form[penalty_field] = value
        elif key == "charge_999999":
            form[f"charge_{other_charge[0].id}"] = value
        else:
            form[key] = value
    response = agent.post(f"/agent/cases/{built.case_id}/hold/propose", data=form)
    assert response.status_code == status
    assert lines(app, built.case_id) == []
    body = response.get_data(as_text=True)
    assert 'class="errors"' in body or 'role="alert"' in body  # said in words, not a 500
    with app.app_context():
        assert db.session().get(LoanCharge, other_charge[0].id).waived == other_charge[0].waived


# The borrower ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "told", "page_words"),
    [
        ("zh_Hant_TW", "我們已調查您對借款", "我們已從您的應繳金額中扣除"),
        ("zh_Hans_CN", "我们已调查您对借款", "我们已从您的应还金额中扣除"),
        (
            "en",
            "and agree with you: the dispute is upheld",
            "We have taken NT$150 off what you owe",
        ),
    ],
)
def test_the_borrower_sees_the_corrected_amounts_and_is_told_in_their_language(
    app, locale, told, page_words
):
    built = disputed(app, locale=locale)
    with app.app_context():
        session = db.session()
        session.get(Case, built.case_id).loan.borrower.email = "chen@example.com"
        session.commit()
    borrower = app.test_client()
    sign_in(borrower, built)
    before = snapshot(app, built.case_id)
    agent_id, boss_id = staff_ids(app)
    [penalty, _], _ = items(app, built.case_id)
    propose(
        app, built.case_id, agent_id, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 15_000)]
    )
    sign_off(app, built.case_id, boss_id)
    # The sign-off's view sends the news; here the service is called as the view does.
    from portal.messaging.service import send_dispute_outcome

    with app.test_request_context("/"):
        session = db.session()
        send_dispute_outcome(
            session, session.get(Case, built.case_id), upheld=True, actor=BOSS, moment=NOW
        )
        [message] = session.scalars(select(Message).where(Message.purpose == "dispute_upheld"))
        assert message.locale == locale
        assert message.channel == "email"
        assert told in (message.body or "")
    status = unwrapped(borrower.get("/status").get_data(as_text=True))
    assert page_words in " ".join(status.split())
    after = snapshot(app, built.case_id)
    assert after.arrears.penalties == before.arrears.penalties - 15_000
    assert after.arrears.total == before.arrears.total - 15_000


def snapshot(app, case_id: int):
    with app.test_request_context("/"):
        session = db.session()
        return view_case(session, session.get(Case, case_id), TODAY).snapshot


def test_closing_tells_the_borrower_they_owe_nothing(app):
    built = disputed(app)
    borrower = app.test_client()
    sign_in(borrower, built)
    agent = console(app, AGENT, ("agent",))
    agent.post(
        f"/agent/cases/{built.case_id}/hold/propose",
        data={"resolution": "upheld", "note": "Identity theft report.", "close_case": "y"},
    )
    boss = console(app, BOSS, ("agent", "supervisor"))
    signed = boss.post(f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"})
    assert signed.status_code == 303
    status = " ".join(borrower.get("/status?lang=en").get_data(as_text=True).split())
    assert "We have written off the balance of this loan" in status
    with app.app_context():
        [message] = db.session().scalars(select(Message).where(Message.purpose == "dispute_upheld"))
        assert message.status == "sent"
    assert all(x.kind is AdjustmentKind.WRITE_OFF for x in lines(app, built.case_id))


def test_a_lifted_hold_never_loses_what_happened_under_it(app):
    """Every hold the case had stays on its page with its outcome, who decided and its
    lines in the books, and its events stay in the timeline."""
    built = disputed(app)
    agent = console(app, AGENT, ("agent",))
    boss = console(app, BOSS, ("agent", "supervisor"))
    [penalty, _fee], _ = items(app, built.case_id)
    case_url = f"/agent/cases/{built.case_id}"

    def propose_upheld(amount: str) -> None:
        response = agent.post(
            f"{case_url}/hold/propose",
            data={
                "resolution": "upheld",
                "note": "Penalty in error",
                f"charge_{penalty.id}": amount,
            },
        )
        assert response.status_code == 303

    # A first proposal is sent back, a second signed off.
    propose_upheld("20")
    boss.post(f"{case_url}/hold/sign-off", data={"decision": "send_back"})
    page = " ".join(
        unwrapped(agent.get(f"{case_url}?section=holds&lang=en").get_data(as_text=True)).split()
    )
    assert "Changes proposed for this dispute and sent back" in page
    assert "withdrawn (sent back)" in page
    propose_upheld("30")
    boss.post(f"{case_url}/hold/sign-off", data={"decision": "approve"})
    # Then a hardship, lifted by the agent; then a dispute rejected.
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(session, session.get(Case, built.case_id), "hardship", "lost job", NOW)
    agent.post(f"{case_url}/hold/lift", data={"note": "Back at work"})
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(session, session.get(Case, built.case_id), "dispute", "again", NOW)
    agent.post(f"{case_url}/hold/propose", data={"resolution": "rejected", "note": "Owed."})
    boss.post(f"{case_url}/hold/sign-off", data={"decision": "approve"})

    page = " ".join(
        unwrapped(agent.get(f"{case_url}?section=holds&lang=en").get_data(as_text=True)).split()
    )
    history = page[page.index("Earlier holds") :]
    history = history[: history.index("</ul>")]
    items_shown = re.findall(r"<li>(.*?)</li>", history)
    assert len(items_shown) == 3  # newest first: rejected, lifted, upheld
    rejected, lifted, upheld = items_shown
    assert "Dispute rejected" in rejected
    assert "signed off by boss@haohuan.example" in rejected
    assert "Lifted by an agent" in lifted
    assert "Back at work" in lifted
    assert "Dispute upheld" in upheld
    assert "Proposed: Upheld, by agent@haohuan.example" in upheld
    assert "Changes in the books" in upheld
    assert "NT$20" in upheld  # the withdrawn line, kept
    assert "withdrawn (sent back)" in upheld
    assert "NT$30" in upheld
    assert "applied" in upheld
    with app.app_context():
        kinds = [e.kind for e in db.session().get(Case, built.case_id).events]
    assert kinds.count("hold_ended") == 3
    assert kinds.count("dispute_sent_back") == 1
    assert kinds.count("dispute_adjusted") == 1
    assert check(app) == []


SIGN_OFFS = 4


def test_concurrent_sign_offs_apply_the_lines_exactly_once(app):
    """Supervisors clicking "sign off" at the same moment: the case row's lock lets one
    apply the lines and end the hold; every other is told there is no hold any more."""
    built = disputed(app)
    agent_id = add_staff(app, AGENT, ("agent",))
    [penalty, _fee], _ = items(app, built.case_id)
    propose(app, built.case_id, agent_id, [Request(AdjustmentKind.WAIVE_CHARGE, penalty.id, 9_000)])
    clients = [
        console(app, f"boss{n}@haohuan.example", ("agent", "supervisor")) for n in range(SIGN_OFFS)
    ]
    barrier = threading.Barrier(SIGN_OFFS)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def sign(client) -> None:
        try:
            barrier.wait(timeout=10)
            response = client.post(
                f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"}
            )
            statuses.append(response.status_code)
        except BaseException as error:  # reported to the main thread below
            failures.append(error)

    threads = [threading.Thread(target=sign, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sorted(statuses) == [303] + [409] * (SIGN_OFFS - 1)
    assert books(app, built.case_id)[f"charge {penalty.id}"][2] == penalty.waived + 9_000
    assert [x.status for x in lines(app, built.case_id)] == [AdjustmentStatus.APPLIED]
    with app.app_context():
        events = db.session().get(Case, built.case_id).events
        assert [e.kind for e in events].count("dispute_adjusted") == 1
    assert check(app) == []
