"""The legal track (issue 19): eligibility, the two-person approval, the final notice,
a payment or a plan before the deadline stopping it, a plan after it pausing it, costs
only where the law allows, the order of each market's milestones, and the borrower's
status page showing the real milestone."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from negotiation.legal import LegalCost, LegalMilestone
from portal.core import db
from portal.legal import hooks, service
from portal.legal.service import CostLine, LegalError
from portal.models import (
    AuditEntry,
    Case,
    LegalCostEntry,
    LegalTrack,
    LegalTrackStatus,
    LoanCharge,
    Message,
    Plan,
    PlanStatus,
    StaffMember,
    TrackEnd,
)

from .factories import NOW, TODAY, add_staff, build_case, sign_in, staff_sign_in, unwrapped
from .test_money_paths import accept_first

AGENT = "agent@haohuan.example"
BOSS = "boss@haohuan.example"
OTHER_BOSS = "chief@haohuan.example"


def late_case(app, currency: str = "TWD", days: int = 120, locale: str = "zh_Hant_TW"):
    """A case well past the referral threshold and amount, with a postal address and an
    email, so the final notice may go by post and electronically."""
    built = build_case(
        app, currency=currency, days_past_due=days, principal_part=1_500_000, locale=locale
    )
    with app.app_context():
        borrower = db.session().get(Case, built.case_id).loan.borrower
        borrower.postal_address = "台北市信義區市府路1號"
        borrower.email = "borrower@example.com"
        db.session().commit()
    return built


@pytest.fixture
def staff(app):
    return {
        "agent": add_staff(app, AGENT, ("agent",)),
        "boss": add_staff(app, BOSS, ("agent", "supervisor")),
        "other": add_staff(app, OTHER_BOSS, ("agent", "supervisor")),
    }


def act(app, case_id: int, action, who: int, *args):
    with app.test_request_context("/"):
        session = db.session()
        return action(
            session, session.get(Case, case_id), session.get(StaffMember, who), NOW, *args
        )


def track_of(app, case_id: int) -> LegalTrack:
    with app.app_context():
        track = (
            db.session()
            .scalars(
                select(LegalTrack)
                .where(LegalTrack.case_id == case_id)
                .order_by(LegalTrack.id.desc())
            )
            .first()
        )
        db.session().expunge_all()
        return track


def noticed(app, case_id: int, staff) -> None:
    """Refer, approve and send the final notice."""
    act(app, case_id, service.refer, staff["agent"], "no contact for months")
    act(app, case_id, service.approve, staff["boss"])
    act(app, case_id, service.send_final_notice, staff["agent"])


def past_deadline(app, case_id: int, sent_on: date = date(2026, 10, 1)) -> None:
    """Move the track's notice into the past: its deadline has gone by."""
    with app.app_context():
        track = db.session().scalars(select(LegalTrack).where(LegalTrack.case_id == case_id)).one()
        track.notice_sent_on = sent_on
        track.deadline = sent_on + timedelta(days=21)
        db.session().commit()


def test_a_case_below_the_threshold_cannot_be_referred(app, staff):
    built = build_case(app, days_past_due=47)
    with pytest.raises(LegalError) as refused:
        act(app, built.case_id, service.refer, staff["agent"], "why not")
    assert refused.value.reasons == ("too_few_days", "amount_too_low")


def test_a_referral_needs_a_second_person_who_is_a_supervisor(app, client, staff):
    built = late_case(app)
    staff_sign_in(client, BOSS)
    referred = client.post(f"/agent/cases/{built.case_id}/legal/refer", data={"note": "silent"})
    assert referred.status_code == 303
    own = client.post(f"/agent/cases/{built.case_id}/legal/decide", data={"decision": "approve"})
    assert own.status_code == 409
    assert track_of(app, built.case_id).status == LegalTrackStatus.REFERRED
    client.post("/staff/sign-out")
    staff_sign_in(client, OTHER_BOSS)
    waiting = client.get("/agent/legal/approvals").get_data(as_text=True)
    assert f"/agent/cases/{built.case_id}" in waiting
    other = client.post(f"/agent/cases/{built.case_id}/legal/decide", data={"decision": "approve"})
    assert other.status_code == 303
    assert track_of(app, built.case_id).approved_by_id == staff["other"]


def test_an_agent_alone_cannot_approve(app, staff):
    built = late_case(app)
    act(app, built.case_id, service.refer, staff["boss"], "silent")
    with pytest.raises(LegalError) as refused:
        act(app, built.case_id, service.approve, staff["agent"])
    assert refused.value.code == "not_supervisor"


def test_the_final_notice_goes_by_post_and_email_with_a_deadline(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    track = track_of(app, built.case_id)
    assert (track.status, track.notice_sent_on, track.deadline) == (
        LegalTrackStatus.NOTICED,
        TODAY,
        TODAY + timedelta(days=21),
    )
    with app.app_context():
        sent = db.session().scalars(
            select(Message).where(
                Message.case_id == built.case_id, Message.purpose == "legal_notice"
            )
        )
        channels = sorted((m.channel, m.locale) for m in sent)
    assert channels == [("email", "zh_Hant_TW"), ("letter", "zh_Hant_TW")]


def test_a_payment_before_the_deadline_stops_the_track(app, client, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    sign_in(client, built)
    checkout = client.post("/pay", data={"purpose": "partial", "amount": "5,500"}).location
    client.post(checkout, data={"outcome": "succeed"})
    track = track_of(app, built.case_id)
    assert (track.status, track.end) == (LegalTrackStatus.STOPPED, TrackEnd.PAYMENT)


def test_a_plan_before_the_deadline_stops_the_track(app, client, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    track = track_of(app, built.case_id)
    assert (track.status, track.end) == (LegalTrackStatus.STOPPED, TrackEnd.PLAN)


def test_a_payment_after_the_deadline_does_not_stop_it(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    with app.app_context():
        session = db.session()
        stopped = hooks.on_payment(session, session.get(Case, built.case_id), TODAY, NOW)
    assert stopped is None


def test_a_plan_after_the_deadline_pauses_the_track_and_a_broken_one_resumes_it(app, client, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    assert track_of(app, built.case_id).status == LegalTrackStatus.PAUSED
    with app.app_context():
        session = db.session()
        for plan in session.scalars(select(Plan).where(Plan.case_id == built.case_id)):
            plan.status = PlanStatus.BROKEN
        hooks.advance_tracks(session, TODAY)
        session.commit()
    assert track_of(app, built.case_id).status == LegalTrackStatus.ACTIVE


def test_milestones_follow_the_markets_order(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    with pytest.raises(LegalError) as refused:
        act(
            app,
            built.case_id,
            service.record_milestone,
            staff["agent"],
            LegalMilestone.PAYMENT_ORDER,
            date(2026, 11, 1),
            "",
        )
    assert refused.value.reasons == ("out_of_order",)


def test_a_mainland_case_follows_its_own_path(app, staff):
    built = late_case(app, currency="CNY", locale="zh_Hans_CN")
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    with pytest.raises(LegalError) as refused:
        act(
            app,
            built.case_id,
            service.record_milestone,
            staff["agent"],
            LegalMilestone.DEMAND_LETTER,
            date(2026, 11, 1),
            "",
        )
    assert refused.value.reasons == ("not_on_path",)


def charges_of(app, case_id: int) -> list[tuple[str, int]]:
    with app.app_context():
        loan = db.session().get(Case, case_id).loan
        return sorted((c.description, c.amount) for c in loan.charges)


def test_costs_are_charged_only_where_the_law_allows(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    before = charges_of(app, built.case_id)
    with pytest.raises(LegalError) as refused:
        act(
            app,
            built.case_id,
            service.record_milestone,
            staff["agent"],
            LegalMilestone.DEMAND_LETTER,
            date(2026, 10, 25),
            "",
            (CostLine(LegalCost.LAWYER_FEE, 500_000, charge=True),),
        )
    assert refused.value.code == "cost_not_allowed"
    assert charges_of(app, built.case_id) == before
    # The lender may still record a cost it bears, and charge one the law allows.
    act(
        app,
        built.case_id,
        service.record_milestone,
        staff["agent"],
        LegalMilestone.DEMAND_LETTER,
        date(2026, 10, 25),
        "",
        (CostLine(LegalCost.SERVICE_FEE, 50_000, charge=False),),
    )
    act(
        app,
        built.case_id,
        service.record_milestone,
        staff["agent"],
        LegalMilestone.PAYMENT_ORDER,
        date(2026, 11, 2),
        "",
        (CostLine(LegalCost.COURT_FEE, 50_000, charge=True),),
    )
    assert charges_of(app, built.case_id) == sorted([*before, ("legal_court_fee", 50_000)])


def test_a_cost_is_never_charged_in_a_market_whose_law_the_policy_doubts(app, staff):
    built = late_case(app, currency="HKD", locale="en")
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    with pytest.raises(LegalError) as refused:
        act(
            app,
            built.case_id,
            service.record_milestone,
            staff["agent"],
            LegalMilestone.LETTER_BEFORE_ACTION,
            date(2026, 10, 25),
            "",
            (CostLine(LegalCost.COURT_FEE, 10_000, charge=True),),
        )
    assert refused.value.code == "cost_not_allowed"
    with app.app_context():
        recorded = db.session().scalars(select(LegalCostEntry)).all()
    assert recorded == []


def test_the_status_page_shows_the_milestone_reached_and_the_costs(app, client, staff):
    built = late_case(app, locale="en")
    sign_in(client, built)
    threat = unwrapped(client.get("/status?lang=en").get_data(as_text=True))
    assert "From this date, the loan can be referred for legal action." in threat
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    for milestone, on, costs in (
        (LegalMilestone.DEMAND_LETTER, date(2026, 10, 25), ()),
        (
            LegalMilestone.PAYMENT_ORDER,
            date(2026, 11, 2),
            (CostLine(LegalCost.COURT_FEE, 50_000, charge=True),),
        ),
    ):
        act(app, built.case_id, service.record_milestone, staff["agent"], milestone, on, "", costs)
    page = unwrapped(client.get("/status?lang=en").get_data(as_text=True))
    assert "Legal action: Payment order from the district court (支付命令)." in page
    assert '<time datetime="2026-11-02">November 2, 2026</time>' in page
    assert "the loan can be referred for legal action" not in page
    assert "Court fee: NT$500, added on November 2, 2026" in page


def test_every_step_is_audited(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    with app.app_context():
        actions = db.session().scalars(
            select(AuditEntry.action)
            .where(AuditEntry.case_id == built.case_id, AuditEntry.action.like("legal.%"))
            .order_by(AuditEntry.id)
        )
        assert list(actions) == ["legal.refer", "legal.approve", "legal.notice"]


def test_the_case_page_shows_the_track_above_the_fold(app, client, staff):
    built = late_case(app)
    act(app, built.case_id, service.refer, staff["agent"], "silent")
    staff_sign_in(client, OTHER_BOSS)
    page = client.get(f"/agent/cases/{built.case_id}?section=legal&lang=en").get_data(as_text=True)
    above = page.split('class="next-actions"')[0]
    assert "Referred: waiting for a supervisor" in above
    assert "Approve the referral" in page


def test_another_case_id_gets_nothing(app, client, staff):
    staff_sign_in(client, AGENT)
    response = client.post("/agent/cases/999999/legal/refer", data={"note": "x"})
    assert response.status_code == 404


def test_a_legal_charge_is_a_fee_the_waterfall_sees(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id)
    act(
        app,
        built.case_id,
        service.record_milestone,
        staff["agent"],
        LegalMilestone.DEMAND_LETTER,
        date(2026, 10, 25),
        "",
    )
    act(
        app,
        built.case_id,
        service.record_milestone,
        staff["agent"],
        LegalMilestone.PAYMENT_ORDER,
        date(2026, 11, 2),
        "",
        (CostLine(LegalCost.COURT_FEE, 50_000, charge=True),),
    )
    with app.app_context():
        charge = (
            db.session()
            .scalars(select(LoanCharge).where(LoanCharge.description == "legal_court_fee"))
            .one()
        )
        assert (charge.kind, charge.charged_on) == ("fee", date(2026, 11, 2))


def test_the_notice_email_says_the_deadline_in_the_borrowers_language(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    with app.app_context():
        body = (
            db.session()
            .scalars(
                select(Message.body).where(
                    Message.case_id == built.case_id,
                    Message.purpose == "legal_notice",
                    Message.channel == "email",
                )
            )
            .one()
        )
    assert "最後通知" in body
    assert "2026年12月21日" in body


def test_the_daily_work_starts_a_noticed_track_once_its_deadline_passed(app, staff):
    built = late_case(app)
    noticed(app, built.case_id, staff)
    deadline = track_of(app, built.case_id).deadline
    with app.app_context():
        assert hooks.advance_tracks(db.session(), deadline) == (0, 0)
        assert hooks.advance_tracks(db.session(), deadline + timedelta(days=1)) == (1, 0)
        db.session().commit()
    assert track_of(app, built.case_id).status == LegalTrackStatus.ACTIVE


def test_a_refusal_and_a_stop_say_why(app, staff):
    built = late_case(app)
    act(app, built.case_id, service.refer, staff["agent"], "silent")
    with pytest.raises(LegalError) as bare:
        act(app, built.case_id, service.refuse, staff["boss"], " ")
    assert bare.value.code == "note_required"
    act(app, built.case_id, service.refuse, staff["boss"], "the borrower is in hospital")
    track = track_of(app, built.case_id)
    assert (track.status, track.end) == (LegalTrackStatus.STOPPED, TrackEnd.REFUSED)
    act(app, built.case_id, service.refer, staff["agent"], "again")
    act(app, built.case_id, service.stop, staff["agent"], "paid at the branch")
    assert track_of(app, built.case_id).end == TrackEnd.STAFF


def test_the_printed_notice_carries_the_tracks_own_deadline(app, client, staff):
    from flask_babel import force_locale

    from portal.core.i18n import long_date

    from .test_letters import compact, text_of

    built = late_case(app)
    noticed(app, built.case_id, staff)
    past_deadline(app, built.case_id, sent_on=TODAY - timedelta(days=3))
    deadline = TODAY - timedelta(days=3) + timedelta(days=21)
    assert staff_sign_in(client, AGENT).status_code == 303
    response = client.post(f"/agent/cases/{built.case_id}/legal/final-notice.pdf")
    assert response.status_code == 200
    with app.test_request_context("/"), force_locale("zh_Hant_TW"):
        wanted = long_date(deadline)
    assert compact(wanted) in compact(text_of(response.data))


def test_nothing_on_the_track_moves_while_a_hold_stands(app, staff):
    # A dispute or a hardship: no approval, no step, and no cost charged.
    from .test_holds import declare

    built = late_case(app)
    act(app, built.case_id, service.refer, staff["agent"], "no contact for months")
    declare(app, built.case_id, "dispute", "not mine")
    with pytest.raises(LegalError) as refused:
        act(app, built.case_id, service.approve, staff["boss"])
    assert refused.value.code == "on_hold"

    other = late_case(app)
    noticed(app, other.case_id, staff)
    past_deadline(app, other.case_id)
    before = charges_of(app, other.case_id)
    declare(app, other.case_id, "hardship", "lost my job")
    with pytest.raises(LegalError) as refused:
        act(
            app,
            other.case_id,
            service.record_milestone,
            staff["agent"],
            LegalMilestone.DEMAND_LETTER,
            date(2026, 10, 25),
            "",
            (CostLine(LegalCost.COURT_FEE, 50_000, charge=True),),
        )
    assert refused.value.code == "on_hold"
    assert charges_of(app, other.case_id) == before
