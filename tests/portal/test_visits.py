"""Home visits through the portal: proposed by an agent, approved by another person, the
written notice sent first through the contact gate in the borrower's language, scheduled
inside the hours of the borrower's zone with two identified field visitors, recorded from
the visitor's form (a promise, a photo of the notice left behind), cancelled by a hold;
the field role sees only its own visits; the form records nothing about third parties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.core import db
from portal.models import (
    AuditEntry,
    Borrower,
    CaseEvent,
    HomeVisit,
    Message,
    Promise,
    VisitPhoto,
    VisitStatus,
)
from portal.visits import service
from portal.web.field.forms import ALLOWED, VisitRecordForm
from tests.portal.factories import NOW, add_staff, build_case, sign_in, staff_sign_in
from tests.portal.test_holds import declare

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4 not a photo"
# NOW (factories) is Monday 30 November 2026, 10:00 in Taipei: the notice goes today,
# so the date range is 7 to 20 December.
IN_RANGE = {"day": "2026-12-08", "at": "10:30"}


@pytest.fixture
def extra_config(tmp_path):
    return {"EVIDENCE_FOLDER": str(tmp_path / "evidence")}


def big_case(app, **kwargs):
    """A mid-stage Taiwan case well above the visit threshold, its borrower with an email."""
    built = build_case(app, principal_part=1_500_000, days_past_due=60, **kwargs)
    with app.app_context():
        borrower = db.session().get(Borrower, built.borrower_id)
        borrower.email = "borrower@example.com"
        borrower.postal_address = "台北市信義區市府路1號"
        db.session().commit()
    return built


def signed_in(app, email, roles):
    client = app.test_client()
    member_id = add_staff(app, email, roles)
    assert staff_sign_in(client, email).status_code == 303
    return client, member_id


@pytest.fixture
def floor(app):
    """An agent, a supervisor and three field visitors, each signed in."""
    agent, _ = signed_in(app, "agent@haohuan.example", ("agent",))
    boss, _ = signed_in(app, "boss@haohuan.example", ("agent", "supervisor"))
    one, one_id = signed_in(app, "one@haohuan.example", ("field",))
    two, two_id = signed_in(app, "two@haohuan.example", ("field",))
    other, _ = signed_in(app, "other@haohuan.example", ("field",))
    return {
        "agent": agent, "boss": boss, "one": one, "two": two, "other": other,
        "one_id": one_id, "two_id": two_id,
    }  # fmt: skip


def the_visit(app, case_id):
    with app.app_context():
        visit = db.session().scalars(select(HomeVisit).where(HomeVisit.case_id == case_id)).one()
        db.session().expunge(visit)
        return visit


def propose_and_approve(app, floor, case_id):
    proposed = floor["agent"].post(
        f"/agent/cases/{case_id}/visits", data={"reason": "Two months overdue, no answer."}
    )
    assert proposed.status_code == 303
    visit = the_visit(app, case_id)
    approved = floor["boss"].post(f"/agent/cases/{case_id}/visits/{visit.id}/approve")
    assert approved.status_code == 303
    return the_visit(app, case_id)


def schedule(floor, case_id, visit_id, **changes):
    data = {
        **IN_RANGE,
        "visitor_one": floor["one_id"],
        "card_one": "HH-0001",
        "visitor_two": floor["two_id"],
        "card_two": "HH-0002",
        **changes,
    }
    return floor["agent"].post(f"/agent/cases/{case_id}/visits/{visit_id}/schedule", data=data)


def test_a_visit_needs_the_policys_thresholds(app, floor):
    small = build_case(app)  # 47 days past due, NT$11,450 overdue: below NT$30,000
    refused = floor["agent"].post(f"/agent/cases/{small.case_id}/visits", data={"reason": "x"})
    assert refused.status_code == 409
    assert "拜訪門檻" in refused.get_data(as_text=True)


def test_the_proposer_cannot_approve_and_an_agent_alone_cannot(app, floor):
    built = big_case(app)
    floor["boss"].post(f"/agent/cases/{built.case_id}/visits", data={"reason": "Long overdue."})
    visit = the_visit(app, built.case_id)
    waiting = floor["boss"].get("/agent/approvals").get_data(as_text=True)
    assert f"/agent/cases/{built.case_id}?section=visits" in waiting
    same = floor["boss"].post(f"/agent/cases/{built.case_id}/visits/{visit.id}/approve")
    assert same.status_code == 409
    assert (
        floor["agent"].post(f"/agent/cases/{built.case_id}/visits/{visit.id}/approve").status_code
        == 403
    )
    assert the_visit(app, built.case_id).status is VisitStatus.PROPOSED


def test_the_written_notice_goes_first_in_the_borrowers_language(app, floor):
    built = big_case(app)
    visit = propose_and_approve(app, floor, built.case_id)
    assert visit.status is VisitStatus.NOTICED
    assert (str(visit.window_first), str(visit.window_last)) == ("2026-12-07", "2026-12-20")
    with app.app_context():
        [message] = db.session().scalars(select(Message).where(Message.purpose == "visit_notice"))
        assert message.channel == "email"
        assert message.status == "sent"
        body = message.body or ""
    assert "2026年12月7日" in body
    assert "到府拜訪您" in body
    assert "/r/" in body  # the link to pay or choose a plan


def test_the_status_page_tells_the_borrower_honestly(app, floor):
    built = big_case(app, locale="en")
    propose_and_approve(app, floor, built.case_id)
    borrower = app.test_client()
    sign_in(borrower, built)
    page = borrower.get("/status").get_data(as_text=True)
    assert "A home visit is planned" in page
    assert "7 December 2026" in page or "December 7, 2026" in page
    assert "choose a plan you can afford" in page


def test_scheduling_keeps_to_the_range_and_hours_of_the_borrowers_zone(app, floor):
    built = big_case(app)
    visit = propose_and_approve(app, floor, built.case_id)
    evening = schedule(floor, built.case_id, visit.id, at="20:00")
    assert evening.status_code == 409
    assert "拜訪時段" in evening.get_data(as_text=True)
    early = schedule(floor, built.case_id, visit.id, day="2026-12-04")
    assert early.status_code == 409
    holiday = schedule(floor, built.case_id, visit.id, day="2026-12-25")
    assert holiday.status_code == 409
    same = schedule(floor, built.case_id, visit.id, visitor_two=floor["one_id"])
    assert same.status_code == 409
    assert schedule(floor, built.case_id, visit.id).status_code == 303
    visit = the_visit(app, built.case_id)
    assert visit.status is VisitStatus.SCHEDULED
    # 10:30 in Taipei is 02:30 UTC.
    assert visit.scheduled_for == datetime(2026, 12, 8, 2, 30, tzinfo=UTC)
    assert (visit.visitor_one_card, visit.visitor_two_card) == ("HH-0001", "HH-0002")


def test_a_borrower_in_los_angeles_is_visited_on_their_clock(app, floor):
    built = big_case(app, timezone="America/Los_Angeles", locale="en")
    visit = propose_and_approve(app, floor, built.case_id)
    # 10:30 in Los Angeles on 8 December is 18:30 UTC; 20:00 there is past the hours.
    assert schedule(floor, built.case_id, visit.id, at="20:00").status_code == 409
    assert schedule(floor, built.case_id, visit.id).status_code == 303
    assert the_visit(app, built.case_id).scheduled_for == datetime(2026, 12, 8, 18, 30, tzinfo=UTC)


def test_a_hold_cancels_the_visit(app, floor):
    built = big_case(app)
    visit = propose_and_approve(app, floor, built.case_id)
    assert schedule(floor, built.case_id, visit.id).status_code == 303
    declare(app, built.case_id, "hardship", "lost my job")
    visit = the_visit(app, built.case_id)
    assert visit.status is VisitStatus.CANCELLED
    assert visit.cancel_reason == "hold"
    assert floor["one"].get(f"/field/visits/{visit.id}").status_code == 404


def record(floor, visit_id, who="one", photos=(("notice.png", PNG),), **changes):
    from io import BytesIO

    data = {
        "outcome": "met",
        "said": "Borrower will pay on Friday.",
        "follow_up": "promise",
        "promise_amount": "20000",
        "promise_due": "2026-12-11",
        **changes,
        "photos": [(BytesIO(content), name) for name, content in photos],
    }
    return floor[who].post(
        f"/field/visits/{visit_id}", data=data, content_type="multipart/form-data"
    )


def scheduled_visit(app, floor):
    built = big_case(app)
    visit = propose_and_approve(app, floor, built.case_id)
    assert schedule(floor, built.case_id, visit.id).status_code == 303
    return built, visit


def test_a_field_visitor_records_the_visit_with_a_photo_and_a_promise(app, floor):
    built, visit = scheduled_visit(app, floor)
    listing = floor["one"].get("/field/visits").get_data(as_text=True)
    assert f"/field/visits/{visit.id}" in listing
    form = floor["one"].get(f"/field/visits/{visit.id}").get_data(as_text=True)
    assert "絕不拍攝住家或任何人" in form
    recorded = record(floor, visit.id)
    assert recorded.status_code == 303, recorded.get_data(as_text=True)[:2000]
    visit = the_visit(app, built.case_id)
    assert visit.status is VisitStatus.VISITED
    with app.app_context():
        session = db.session()
        [photo] = session.scalars(select(VisitPhoto))
        assert photo.content_type == "image/png"
        promise = session.get(Promise, visit.promise_id)
        assert promise.amount == 2_000_000
        kinds = set(
            session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == built.case_id))
        )
        actions = set(
            session.scalars(select(AuditEntry.action).where(AuditEntry.case_id == built.case_id))
        )
    assert {
        "visit_proposed",
        "visit_approved",
        "visit_noticed",
        "visit_scheduled",
        "visit_recorded",
    } <= kinds
    assert {
        "visit.propose",
        "visit.approve",
        "visit.notice",
        "visit.schedule",
        "visit.open",
        "visit.record",
    } <= actions
    # The case page's events show it, in words.
    events = (
        floor["agent"].get(f"/agent/cases/{built.case_id}?section=events").get_data(as_text=True)
    )
    assert "到府拜訪已記錄" in events


@pytest.mark.parametrize(
    ("photos", "changes", "says"),
    [
        ((("notice.pdf", PDF),), {}, "JPEG 或 PNG"),
        ((("a.png", PNG),) * 4, {}, "最多 3 張照片"),
        ((), {"latitude": "25.03", "longitude": "121.56"}, "勾選同意"),
        ((), {"outcome": "nobody_home"}, "須見到借款人本人"),
    ],
)
def test_the_form_refuses_what_it_must_not_keep(app, floor, photos, changes, says):
    built, visit = scheduled_visit(app, floor)
    refused = record(floor, visit.id, photos=photos, **changes)
    assert refused.status_code == 422
    assert says in refused.get_data(as_text=True)
    assert the_visit(app, built.case_id).status is VisitStatus.SCHEDULED


def test_the_place_is_kept_only_with_consent(app, floor):
    built, visit = scheduled_visit(app, floor)
    done = record(floor, visit.id, gps_consent="y", latitude="25.033964", longitude="121.564468")
    assert done.status_code == 303
    assert str(the_visit(app, built.case_id).latitude) == "25.033964"


def test_field_staff_see_only_their_own_visits(app, floor):
    built, visit = scheduled_visit(app, floor)
    assert floor["other"].get(f"/field/visits/{visit.id}").status_code == 404
    assert f"/field/visits/{visit.id}" not in floor["other"].get("/field/visits").get_data(
        as_text=True
    )
    assert record(floor, visit.id, who="other").status_code == 404
    for page in (
        "/agent/",
        f"/agent/cases/{built.case_id}",
        "/agent/my-work",
        "/finance/",
        "/admin/audit",
    ):
        assert floor["one"].get(page).status_code == 403, page
    # Signing in lands a field visitor on their visits.
    landing = floor["one"].get("/staff/")
    assert landing.headers["Location"].endswith("/field/visits")


def test_the_form_has_no_field_for_a_third_party():
    names = {field.name for field in VisitRecordForm(meta={"csrf": False, "currency": "TWD"})}
    assert names | {"csrf_token"} == ALLOWED
    for forbidden in ("neighbour", "neighbor", "employer", "relative", "third", "told", "disclos"):
        assert not any(forbidden in name for name in ALLOWED), forbidden


def test_the_service_refuses_a_visitor_who_is_not_field_staff(app, floor):
    built = big_case(app)
    visit = propose_and_approve(app, floor, built.case_id)
    with app.app_context():
        session = db.session()
        agent_id = session.scalars(
            select(AuditEntry.staff_id).where(AuditEntry.action == "visit.propose")
        ).one()
    refused = schedule(floor, built.case_id, visit.id, visitor_two=agent_id)
    assert refused.status_code in (409, 422)
    assert service.FIELD == "field"


def test_a_plan_chosen_after_the_notice_cancels_the_visit(app, floor):
    from tests.portal.factories import add_plan

    built, visit = scheduled_visit(app, floor)
    add_plan(app, built.case_id, "active")
    refused = record(floor, visit.id)
    assert refused.status_code == 422
    visit = the_visit(app, built.case_id)
    assert (visit.status, visit.cancel_reason) == (VisitStatus.CANCELLED, "plan")


def test_a_notice_by_sms_says_nothing_a_bystander_could_read(app, floor):
    built = build_case(app, principal_part=1_500_000, days_past_due=60)  # a phone, no email
    propose_and_approve(app, floor, built.case_id)
    with app.app_context():
        [message] = db.session().scalars(select(Message).where(Message.purpose == "visit_notice"))
        body = message.body or ""
    assert message.channel == "sms"
    assert "重要通知" in body
    for secret in ("拜訪", "逾期", "NT$", "2026年12月"):
        assert secret not in body, secret


def test_a_notice_not_yet_sent_goes_stale_once_the_visit_is_cancelled(app, floor):
    from negotiation.contact import Channel
    from portal.messaging.purposes import StaleMessageError, compose_purpose
    from portal.models import Case

    built, _ = scheduled_visit(app, floor)
    declare(app, built.case_id, "dispute", "not mine")
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        with pytest.raises(StaleMessageError):
            compose_purpose(
                db.session(), case, "visit_notice", Channel.EMAIL, NOW, link="L", opt_out="O"
            )


def test_a_plan_offered_at_the_door_goes_through_the_offer_rules(app, floor):
    from portal.models import Offer

    built, visit = scheduled_visit(app, floor)
    beyond = record(
        floor, visit.id, follow_up="plan", plan_installments="36", plan_first_due="2026-12-15"
    )
    assert beyond.status_code == 422
    done = record(
        floor, visit.id, follow_up="plan", plan_installments="6", plan_first_due="2026-12-15"
    )
    assert done.status_code == 303, done.get_data(as_text=True)[:1500]
    visit = the_visit(app, built.case_id)
    with app.app_context():
        offer = db.session().get(Offer, visit.offer_id)
        assert offer.created_by == "one@haohuan.example"
        assert offer.status == "ready"
        assert offer.terms["installments"] == 6


def test_a_plan_chosen_before_the_approval_cancels_the_visit_and_no_notice_goes(app, floor):
    from tests.portal.factories import add_plan

    built = big_case(app)
    proposed = floor["agent"].post(
        f"/agent/cases/{built.case_id}/visits", data={"reason": "Two months overdue."}
    )
    assert proposed.status_code == 303
    visit = the_visit(app, built.case_id)
    add_plan(app, built.case_id, "active")
    floor["boss"].post(f"/agent/cases/{built.case_id}/visits/{visit.id}/approve")
    visit = the_visit(app, built.case_id)
    assert (visit.status, visit.cancel_reason) == (VisitStatus.CANCELLED, "plan")
    with app.app_context():
        sent = db.session().scalars(select(Message).where(Message.purpose == "visit_notice"))
        assert list(sent) == []


def test_a_notice_kept_for_later_goes_stale_once_the_borrower_chose_a_plan(app, floor):
    from negotiation.contact import Channel
    from portal.messaging.purposes import StaleMessageError, compose_purpose
    from portal.models import Case
    from tests.portal.factories import add_plan

    built, _ = scheduled_visit(app, floor)
    add_plan(app, built.case_id, "active")
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        with pytest.raises(StaleMessageError):
            compose_purpose(
                db.session(), case, "visit_notice", Channel.EMAIL, NOW, link="L", opt_out="O"
            )
