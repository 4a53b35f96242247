"""Holds that end: a hardship is a breathing space of the policy's length (no penalty,
no stage change, no collection contact while it runs) that ends by itself on its date,
early when a plan is agreed, or when an agent lifts it; every change is a case event
and an audit entry, and the hold's row is kept."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from alembic import command
from sqlalchemy import select

from negotiation import Channel, load_policy
from portal.cases import evidence, holds, lifecycle
from portal.cases.facts import policy
from portal.contact.gate import judge
from portal.core import db, migrate
from portal.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseHold,
    HoldOutcome,
    HoldStatus,
    Message,
    StaffMember,
)

from .factories import NOW, TODAY, add_staff, build_case, sign_in, staff_sign_in
from .test_money_paths import accept_first


def work(app, as_of: date) -> lifecycle.DayWork:
    with app.app_context():
        return lifecycle.work_day(app.extensions["haohuan.engine"], policy(), as_of, NOW)


def declare(app, case_id: int, reason: str = "hardship", details: str = "lost my job") -> None:
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(session, session.get(Case, case_id), reason, details, NOW)


def hold_rows(app, case_id: int) -> list[CaseHold]:
    with app.app_context():
        rows = db.session().scalars(select(CaseHold).where(CaseHold.case_id == case_id)).all()
        db.session().expunge_all()
        return list(rows)


def event_kinds(app, case_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session().scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def audit_actions(app, case_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session().execute(
            select(AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.case_id == case_id)
            .order_by(AuditEntry.id)
        )
        return [(actor, action) for actor, action in rows]


def case_hold(app, case_id: int) -> tuple[str | None, bool]:
    with app.app_context():
        case = db.session().get(Case, case_id)
        return case.hold, case.needs_agent


def test_a_declared_hardship_is_a_breathing_space_of_the_policys_length(app, client):
    built = build_case(app, days_past_due=31)
    sign_in(client, built)
    response = client.post("/help", data={"reason": "hardship", "details": "lost my job"})
    assert response.status_code == 303
    [row] = hold_rows(app, built.case_id)
    assert row.kind == "hardship"
    assert row.status is HoldStatus.ACTIVE
    assert row.ends_on == TODAY + timedelta(days=60)
    assert row.details == "lost my job"
    assert row.placed_by == "borrower"
    assert case_hold(app, built.case_id) == ("hardship", True)
    assert "hardship_declared" in event_kinds(app, built.case_id)
    assert ("borrower", "hold.place") in audit_actions(app, built.case_id)


def test_the_breathing_spaces_length_comes_from_the_policy(app):
    built = build_case(app, days_past_due=31)
    with app.test_request_context("/"):
        session = db.session()
        rules = load_policy({"holds": {"hardship_breathing_space_days": 14}})
        holds.hold_case(session, session.get(Case, built.case_id), "hardship", "", NOW, rules=rules)
        session.commit()
    [row] = hold_rows(app, built.case_id)
    assert row.ends_on == TODAY + timedelta(days=14)


def test_no_penalty_accrues_and_nothing_escalates_during_the_breathing_space(app):
    # First missed 30 October: today is the penalty's anniversary and past the mid stage.
    held = build_case(app, days_past_due=31)
    free = build_case(app, days_past_due=31)
    declare(app, held.case_id)
    day = work(app, TODAY)
    assert day.penalties == 1
    assert day.stages_changed == 1
    with app.app_context():
        assert db.session().get(Case, held.case_id).stage == "current"
        assert db.session().get(Case, free.case_id).stage == "mid"


def test_no_collection_contact_is_allowed_during_the_breathing_space(app):
    built = build_case(app, days_past_due=31)
    midday = NOW.replace(hour=5)  # 13:00 in Taipei: allowed on any other day
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        assert judge(session, case, Channel.CALL, midday).allowed
    declare(app, built.case_id)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        for channel in (Channel.CALL, Channel.SMS, Channel.EMAIL, Channel.LETTER):
            decision = judge(session, case, channel, midday)
            assert not decision.allowed
            assert decision.allowed_from is None


def test_the_breathing_space_ends_by_itself_on_its_date_and_asks_an_agent(app):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id)
    with app.app_context():
        db.session().get(Case, built.case_id).needs_agent = False
        db.session().commit()
    ends_on = TODAY + timedelta(days=60)
    assert work(app, ends_on - timedelta(days=1)).hardships_ended == 0
    # A review was asked for a week before (test_hold_reviews); the hold still stands.
    assert case_hold(app, built.case_id) == ("hardship", True)
    day = work(app, ends_on)
    assert day.hardships_ended == 1
    assert case_hold(app, built.case_id) == (None, True)  # an agent is asked to review
    [row] = hold_rows(app, built.case_id)  # kept, ended
    assert row.status is HoldStatus.ENDED
    assert row.outcome is HoldOutcome.EXPIRED
    assert row.ended_by == "system"
    assert row.details == "lost my job"
    assert event_kinds(app, built.case_id)[-1] != "hardship_declared"
    assert "hold_ended" in event_kinds(app, built.case_id)
    assert ("system", "hold.end") in audit_actions(app, built.case_id)
    # Worked again, the day changes nothing; the case escalates again by the rules.
    assert work(app, ends_on).hardships_ended == 0
    assert day.stages_changed == 1


def test_agreeing_a_plan_ends_the_breathing_space_early(app, client):
    built = build_case(app, days_past_due=25)
    sign_in(client, built)
    client.post("/help", data={"reason": "hardship", "details": ""})
    accept_first(client, "arrears_plan")
    [row] = hold_rows(app, built.case_id)
    assert row.outcome is HoldOutcome.PLAN_AGREED
    assert row.ended_by == "borrower"
    assert case_hold(app, built.case_id)[0] is None
    assert ("borrower", "hold.end") in audit_actions(app, built.case_id)


def test_a_dispute_is_not_ended_by_a_plan_or_by_the_daily_work(app):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id, "dispute", "not my loan")
    [row] = hold_rows(app, built.case_id)
    assert row.review_by == TODAY + timedelta(days=30)
    assert row.ends_on is None
    assert work(app, TODAY + timedelta(days=400)).hardships_ended == 0
    assert case_hold(app, built.case_id)[0] == "dispute"


def lift_service(app, case_id: int, member_id: int, note: str) -> None:
    with app.test_request_context("/"):
        session = db.session()
        member = session.get(StaffMember, member_id)
        holds.lift(session, session.get(Case, case_id), member, note, NOW)
        session.commit()


def test_an_agent_lifts_a_hardship_with_a_note_and_its_history_is_kept(app):
    built = build_case(app, days_past_due=31)
    agent = add_staff(app, "agent@haohuan.example", ("agent",))
    declare(app, built.case_id)
    with pytest.raises(holds.HoldError) as refused:
        lift_service(app, built.case_id, agent, "  ")
    assert refused.value.code == "note_required"
    lift_service(app, built.case_id, agent, "Found work again, called in.")
    [row] = hold_rows(app, built.case_id)
    assert row.outcome is HoldOutcome.LIFTED
    assert row.ended_by == "agent@haohuan.example"
    assert row.end_note == "Found work again, called in."
    assert case_hold(app, built.case_id)[0] is None
    assert ("agent@haohuan.example", "hold.end") in audit_actions(app, built.case_id)
    # A new declaration is a new hold; the old one stays as it was.
    declare(app, built.case_id)
    assert [r.outcome for r in hold_rows(app, built.case_id)] == [HoldOutcome.LIFTED, None]


# The case page's hold section and the agent's actions ------------------------------------


def staff(app, client, email: str, roles: tuple[str, ...]) -> int:
    member = add_staff(app, email, roles)
    client.post("/staff/sign-out")
    assert staff_sign_in(client, email).status_code == 303
    return member


def test_an_agent_lifts_a_hardship_from_the_case_page_and_a_note_is_required(app, client):
    built = build_case(app, days_past_due=31, locale="en")
    declare(app, built.case_id, details="<b>lost</b> my job")
    staff(app, client, "agent@haohuan.example", ("agent",))
    page = client.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
    assert "&lt;b&gt;lost&lt;/b&gt; my job" in page
    assert "<b>lost</b>" not in page
    assert "Breathing space ends" in page
    refused = client.post(f"/agent/cases/{built.case_id}/hold/lift", data={"note": ""})
    assert refused.status_code == 422
    assert case_hold(app, built.case_id)[0] == "hardship"
    lifted = client.post(f"/agent/cases/{built.case_id}/hold/lift", data={"note": "Back at work"})
    assert lifted.status_code == 303
    assert case_hold(app, built.case_id)[0] is None
    assert lifted.headers["Location"].endswith("?section=holds#hold")
    back = lifted.headers["Location"].split("#")[0] + "&lang=en"
    page = client.get(back).get_data(as_text=True)
    assert "Earlier holds" in page
    assert "Back at work" in page


def dispute_status_text(client) -> str:
    return " ".join(client.get("/status?lang=en").get_data(as_text=True).split())


def test_a_dispute_is_resolved_by_an_agent_and_signed_off_by_another_supervisor(app):
    built = build_case(app, days_past_due=31, locale="en")
    borrower = app.test_client()
    sign_in(borrower, built)
    refused = borrower.post("/help", data={"reason": "dispute", "details": "x"})
    assert refused.status_code == 422  # a dispute says why
    borrower.post(
        "/help",
        data={
            "reason": "dispute",
            "dispute_reason": "already_paid",
            "details": "<script>alert(1)</script> paid in March",
        },
    )
    [row] = hold_rows(app, built.case_id)
    assert row.reason == "already_paid"
    assert row.review_by == TODAY + timedelta(days=30)
    assert "We have received your dispute. We will review it by" in dispute_status_text(borrower)

    agent = app.test_client()
    staff(app, agent, "agent@haohuan.example", ("agent", "supervisor"))
    # Above the fold, the hold waiting and its reason; the borrower's words in its section.
    summary = agent.get(f"/agent/cases/{built.case_id}?lang=en").get_data(as_text=True)
    assert "I have already paid" in summary
    assert '?section=holds#hold">Review the hold<' in summary
    page = agent.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
    assert "I have already paid" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; paid in March" in page
    assert "<script>alert(1)" not in page
    # A dispute is not lifted like a hardship: it ends by its signed-off resolution.
    assert (
        agent.post(f"/agent/cases/{built.case_id}/hold/lift", data={"note": "no"}).status_code
        == 409
    )
    proposed = agent.post(
        f"/agent/cases/{built.case_id}/hold/propose",
        data={"resolution": "rejected", "note": "No payment in March in the ledger."},
    )
    assert proposed.status_code == 303
    assert "Your dispute is under review until" in dispute_status_text(borrower)
    # The agent who proposed cannot sign off, even as a supervisor.
    same = agent.post(f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"})
    assert same.status_code == 409
    assert case_hold(app, built.case_id)[0] == "dispute"

    plain = app.test_client()
    staff(app, plain, "other@haohuan.example", ("agent",))
    forbidden = plain.post(
        f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"}
    )
    assert forbidden.status_code == 403

    supervisor = app.test_client()
    staff(app, supervisor, "boss@haohuan.example", ("agent", "supervisor"))
    signed = supervisor.post(
        f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"}
    )
    assert signed.status_code == 303
    [row] = hold_rows(app, built.case_id)
    assert row.outcome is HoldOutcome.REJECTED
    assert row.ended_by == "boss@haohuan.example"
    assert case_hold(app, built.case_id)[0] is None  # the hold lifts
    actions = [action for _, action in audit_actions(app, built.case_id)]
    assert {"dispute.propose", "dispute.sign_off", "hold.end"} <= set(actions)
    assert {"dispute_proposed", "hold_ended"} <= set(event_kinds(app, built.case_id))
    # The borrower is sent an explanation, in their language, and their page says so.
    with app.app_context():
        [message] = db.session().scalars(select(Message).where(Message.purpose == "dispute"))
        assert message.locale.startswith("en")
        assert message.channel == "sms"
        assert "we have replied to the question you raised" in (message.body or "")
    assert "found that the amount shown is owed" in dispute_status_text(borrower)


def test_a_supervisor_can_send_a_resolution_back(app):
    built = build_case(app, days_past_due=31, locale="en")
    declare(app, built.case_id, "dispute", "not mine")
    agent = app.test_client()
    staff(app, agent, "agent@haohuan.example", ("agent",))
    agent.post(
        f"/agent/cases/{built.case_id}/hold/propose",
        data={"resolution": "upheld", "note": "Identity theft report on file.", "close_case": "y"},
    )
    supervisor = app.test_client()
    staff(app, supervisor, "boss@haohuan.example", ("agent", "supervisor"))
    supervisor.post(f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "send_back"})
    [row] = hold_rows(app, built.case_id)
    assert row.status is HoldStatus.ACTIVE
    assert row.ended_at is None
    assert "dispute.send_back" in [a for _, a in audit_actions(app, built.case_id)]


def test_a_hold_standing_before_the_migration_gets_its_record(app):
    config = migrate.alembic_config(app)
    command.downgrade(config, "0013_juris")  # before the holds migration
    built = build_case(app, days_past_due=31, hold="hardship")
    with app.app_context():
        db.engine().dispose()
    migrate.upgrade(app)
    [row] = hold_rows(app, built.case_id)
    assert row.kind == "hardship"
    assert row.ends_on == TODAY + timedelta(days=60)  # counted from when it began
    assert work(app, row.ends_on).hardships_ended == 1


@pytest.mark.parametrize(
    ("locale", "received", "rejected"),
    [
        ("zh_Hant_TW", "我們已收到您的異議，將在", "我們已調查您的異議，顯示的金額確實應繳"),
        ("zh_Hans_CN", "我们已收到您的异议，将在", "我们已调查您的异议，显示的金额确实应还"),
        ("en", "We have received your dispute. We will review it by", "the amount shown is owed"),
    ],
)
def test_the_borrower_reads_where_their_dispute_stands_in_their_language(
    app, locale, received, rejected
):
    built = build_case(app, days_past_due=31, locale=locale)
    borrower = app.test_client()
    sign_in(borrower, built)
    borrower.post(
        "/help", data={"reason": "dispute", "dispute_reason": "wrong_amount", "details": ""}
    )
    assert received in borrower.get("/status").get_data(as_text=True)
    agent = app.test_client()
    staff(app, agent, "agent@haohuan.example", ("agent",))
    agent.post(
        f"/agent/cases/{built.case_id}/hold/propose",
        data={"resolution": "rejected", "note": "Amount matches the contract."},
    )
    supervisor = app.test_client()
    staff(app, supervisor, "boss@haohuan.example", ("agent", "supervisor"))
    supervisor.post(f"/agent/cases/{built.case_id}/hold/sign-off", data={"decision": "approve"})
    assert rejected in borrower.get("/status").get_data(as_text=True)
    with app.app_context():
        [message] = db.session().scalars(select(Message).where(Message.purpose == "dispute"))
        assert message.locale == locale
        assert message.status == "sent"


# Evidence ----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n<<>>\nendobj\n"


def disputed(app, tmp_path):
    app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidence")
    built = build_case(app, days_past_due=31, locale="en")
    borrower = app.test_client()
    sign_in(borrower, built)
    borrower.post("/help", data={"reason": "dispute", "dispute_reason": "already_paid"})
    return built, borrower


def upload(client, data: bytes, name: str):
    return client.post(
        "/status/evidence",
        data={"evidence": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_a_borrower_sends_evidence_that_only_staff_with_the_case_open_can_read(app, tmp_path):
    built, borrower = disputed(app, tmp_path)
    assert upload(borrower, PNG, "receipt.png").status_code == 303
    assert upload(borrower, PDF, "statement.pdf").status_code == 303
    stored = sorted((tmp_path / "evidence").iterdir())
    assert len(stored) == 2
    assert all("receipt" not in p.name for p in stored)  # a random name, not theirs
    agent = app.test_client()
    staff(app, agent, "agent@haohuan.example", ("agent",))
    page = agent.get(f"/agent/cases/{built.case_id}?section=holds&lang=en").get_data(as_text=True)
    assert "receipt.png" in page
    links = re.findall(rf"/agent/cases/{built.case_id}/evidence/\d+", page)
    assert len(links) == 2
    got = agent.get(links[0])
    assert got.status_code == 200
    assert got.data == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert ("agent@haohuan.example", "evidence.view") in audit_actions(app, built.case_id)
    assert ("borrower", "evidence.add") in audit_actions(app, built.case_id)
    # Not through another case's address, and not for anyone signed out.
    other = build_case(app, days_past_due=31)
    assert (
        agent.get(links[0].replace(f"/{built.case_id}/", f"/{other.case_id}/")).status_code == 404
    )
    assert app.test_client().get(links[0]).status_code in (302, 303)
    assert borrower.get(links[0]).status_code in (302, 303)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<html><script>alert(1)</script></html>", "photo.png"),  # the name is not trusted
        (b"", "empty.pdf"),
        (b"\xff\xd8\xff" + b"\x00" * 4096, "huge.jpg"),  # past the limit set below
    ],
)
def test_evidence_is_checked_by_type_and_size(app, tmp_path, monkeypatch, data, name):
    # A small limit: the test client spools a body of megabytes to a file it never closes.
    monkeypatch.setattr(evidence, "MAX_BYTES", 4096)
    _, borrower = disputed(app, tmp_path)
    response = upload(borrower, data, name)
    assert response.status_code in (413, 422)
    assert not (tmp_path / "evidence").exists() or not any((tmp_path / "evidence").iterdir())


def test_evidence_needs_an_open_dispute(app, tmp_path):
    app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidence")
    built = build_case(app, days_past_due=31, locale="en")
    borrower = app.test_client()
    sign_in(borrower, built)
    assert upload(borrower, PNG, "x.png").status_code == 422
