"""Partner agencies, the placement and access side: supervisors make agencies and place a
segment of the queue with one for a period (never a case on hold); the agency's staff
sign in to the same console and reach only their live-placed cases (the route walk);
offers only within the agency's authority; no letterhead unless allowed; every action
audited under the agency; recall, by hand or at the period's end, stops access at once;
and no agency path contacts anyone but the borrower."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.agencies import agencies, placement
from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.models import (
    Agency,
    AgencyPlacement,
    AuditEntry,
    Borrower,
    Case,
    ContactAttempt,
    Message,
    StaffMember,
)
from portal.staff import accounts
from portal.web.staff import auth
from portal.web.staff.agency_scope import AGENCY_PAGES, lender_only

from .factories import NOW, PASSWORD, TODAY, add_staff, build_case, staff_sign_in
from .test_agent_queue import make_case
from .test_staff import run, staff_endpoints

AGENCY_EMAIL = "ko@agency.example"
SUPERVISOR = "boss@haohuan.example"
UNTIL = NOW + timedelta(days=30)
OFFER = {
    "kind": "arrears_plan",
    "installments": "3",
    "frequency": "monthly",
    "first_due_date": "2026-12-05",
    "down_payment": "",
    "penalty_waiver_pct": "0",
    "fee_waiver_pct": "0",
    "settlement_discount_pct": "0",
    "interest_rate_pct": "0",
}


def make_agency(app, code="KOCHI", letterhead=False, installments=3) -> int:
    with app.app_context():
        asked = agencies.NewAgency(
            code=code,
            name="高知催收",
            commission_pct=Decimal("12.5"),
            letterhead_allowed=letterhead,
            max_installments=installments,
            max_penalty_waiver_pct=Decimal(10),
            max_fee_waiver_pct=Decimal(0),
        )
        return agencies.create_agency(db.session(), asked, "cli", NOW).id


def add_agency_member(app, agency_id, email=AGENCY_EMAIL) -> int:
    with app.app_context():
        member = accounts.add_member(
            db.session(), email, "柯", ("agency",), PASSWORD, NOW, agency_id=agency_id
        )
        return member.id


def place(app, agency_id, *case_ids, until=UNTIL):
    with app.test_request_context("/"):
        session = db.session()
        if session.scalar(select(StaffMember).where(StaffMember.email == SUPERVISOR)) is None:
            accounts.add_member(session, SUPERVISOR, "王", ("supervisor",), PASSWORD, NOW)
        boss = accounts.find_member(session, SUPERVISOR)
        agency = session.get(Agency, agency_id)
        segment = select(Case.id).where(Case.id.in_(case_ids))
        return placement.place_segment(session, agency, segment, until, boss, NOW, {})


def world(app, **agency):
    """An agency with one member, a case placed with it and one not."""
    agency_id = make_agency(app, **agency)
    add_agency_member(app, agency_id)
    placed = make_case(app, name="陳放置", phone="+886 912 000 001")
    other = make_case(app, name="林未放", phone="+886 912 000 002")
    place(app, agency_id, placed.case_id)
    client = app.test_client()
    assert staff_sign_in(client, email=AGENCY_EMAIL).status_code == 303
    return agency_id, placed, other, client


def loan_number(app, case_id):
    with app.app_context():
        return db.session().get(Case, case_id).loan.number


# Making agencies and placing ---------------------------------------------------------------


def test_an_agencys_authority_cannot_go_beyond_the_policys_agent_authority(app):
    with app.app_context():
        bounds = policy().agent
        asked = agencies.NewAgency(
            code="x",
            name=" ",
            commission_pct=Decimal(60),
            letterhead_allowed=False,
            max_installments=bounds.max_installments + 1,
            max_penalty_waiver_pct=bounds.max_penalty_waiver_pct + 1,
            max_fee_waiver_pct=bounds.max_fee_waiver_pct + 1,
        )
        assert set(agencies.problems_of(db.session(), asked)) == set(agencies.AgencyProblem) - {
            agencies.AgencyProblem.CODE_TAKEN
        }


def test_a_supervisor_makes_an_agency_and_bad_input_is_a_translated_422(app):
    add_staff(app, email=SUPERVISOR, roles=("supervisor",))
    client = app.test_client()
    staff_sign_in(client, email=SUPERVISOR)
    form = {
        "code": "kochi",
        "name": "高知催收",
        "commission_pct": "15",
        "max_installments": "6",
        "max_penalty_waiver_pct": "20",
        "max_fee_waiver_pct": "10",
    }
    made = client.post("/agent/agencies", data=form)
    assert made.status_code == 303
    again = client.post("/agent/agencies?lang=en", data=form)
    assert again.status_code == 422
    assert "Another agency already has that code." in again.get_data(as_text=True)
    with app.app_context():
        agency = db.session().scalars(select(Agency)).one()
        assert (agency.code, agency.commission_rate) == ("KOCHI", Decimal("0.1500"))
        assert agency.offer_max_installments == 6


def test_a_segment_is_placed_with_its_balance_and_rate_but_not_a_case_on_hold(app):
    agency_id = make_agency(app)
    open_case = build_case(app)
    held = build_case(app, hold="dispute", name="吳爭議")
    done = place(app, agency_id, open_case.case_id, held.case_id)
    assert (done.placing, done.on_hold) == (1, 1)
    with app.app_context():
        rows = db.session().scalars(select(AgencyPlacement)).all()
        assert [row.case_id for row in rows] == [open_case.case_id]
        assert rows[0].commission_rate == Decimal("0.1250")
        assert rows[0].placed_balance > 0
        assert rows[0].currency == "TWD"
    again = place(app, agency_id, open_case.case_id)
    assert (again.placing, again.already_placed) == (0, 1)


def test_the_placement_page_says_why_cases_on_hold_are_not_placed(app):
    make_agency(app)
    make_case(app, hold="hardship", name="吳困難")
    add_staff(app, email=SUPERVISOR, roles=("supervisor",))
    client = app.test_client()
    staff_sign_in(client, email=SUPERVISOR)
    page = client.get("/agent/agencies?lang=en&hold=any&dpd=any").get_data(as_text=True)
    assert "On hold (a dispute or a declared hardship)" in page
    assert 'id="on-hold">1<' in page


def test_placing_and_recalling_through_the_supervisor_pages(app):
    agency_id, placed, other, agency_client = world(app)
    boss = app.test_client()
    staff_sign_in(boss, email=SUPERVISOR)
    placed_now = boss.post(
        f"/agent/agencies/{agency_id}/place",
        data={"until": "2026-12-31", "q": loan_number(app, other.case_id)},
    )
    assert placed_now.status_code == 303
    assert agency_client.get(f"/agent/cases/{other.case_id}").status_code == 200
    assert boss.post(f"/agent/agencies/{agency_id}/recall").status_code == 303
    # Recalled: the agency loses every case at once.
    assert agency_client.get(f"/agent/cases/{other.case_id}").status_code == 404
    assert agency_client.get(f"/agent/cases/{placed.case_id}").status_code == 404
    assert boss.post("/agent/agencies/999/recall").status_code == 404


def test_a_supervisor_recalls_one_case_from_its_case_page(app):
    _agency_id, placed, _other, agency_client = world(app)
    add_staff(app, email="lead@haohuan.example", roles=("agent", "supervisor"))
    boss = app.test_client()
    staff_sign_in(boss, email="lead@haohuan.example")
    section = boss.get(f"/agent/cases/{placed.case_id}?section=agency&lang=en")
    assert "Placed with 高知催收 (KOCHI)" in section.get_data(as_text=True)
    assert boss.post(f"/agent/cases/{placed.case_id}/placement/recall").status_code == 303
    assert agency_client.get(f"/agent/cases/{placed.case_id}").status_code == 404
    with app.app_context():
        row = db.session().scalars(select(AgencyPlacement)).one()
        assert (row.status, row.recalled_by) == ("recalled", "lead@haohuan.example")


# The agency's staff ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "with_agency"),
    [(("agency",), False), (("agency", "agent"), True), (("agent",), True)],
)
def test_the_agency_role_needs_an_agency_and_holds_no_other_role(app, roles, with_agency):
    agency_id = make_agency(app)
    with app.app_context(), pytest.raises(accounts.AccountError, match=accounts.AGENCY_ONLY):
        accounts.add_member(
            db.session(), "x@h.example", None, roles, PASSWORD, NOW,
            agency_id=agency_id if with_agency else None,
        )  # fmt: skip


def test_the_cli_makes_an_agency_member_with_their_agency(app):
    make_agency(app)
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    made = run(
        app,
        "staff",
        "create",
        "--role",
        "agency",
        "--agency",
        "KOCHI",
        "--email",
        "a@k.example",
        typed=typed,
    )
    assert made.exit_code == 0, made.output
    unknown = run(
        app,
        "staff",
        "create",
        "--role",
        "agency",
        "--agency",
        "NOPE",
        "--email",
        "b@k.example",
        typed=typed,
    )
    assert unknown.exit_code == 1
    with app.app_context():
        member = accounts.find_member(db.session(), "a@k.example")
        assert member.agency_id is not None


def test_an_agency_member_lands_on_a_queue_of_only_their_placed_cases(app):
    _agency_id, placed, other, client = world(app)
    assert client.get("/staff/").headers["Location"].endswith("/agent/")
    page = client.get("/agent/?dpd=any").get_data(as_text=True)
    assert loan_number(app, placed.case_id) in page
    assert loan_number(app, other.case_id) not in page
    search = client.get(f"/agent/?lang=en&dpd=any&q={loan_number(app, other.case_id)}")
    assert "0 cases found" in search.get_data(as_text=True)


def test_route_walk_an_agency_member_reaches_only_placed_cases(app):
    """Every registered staff route (from the URL map: a new one is walked without a
    word here), tried as an agency member with a placed case and with one not placed."""
    _agency_id, placed, other, client = world(app)
    with app.app_context():
        session = db.session()
        messages = {}
        for built in (placed, other):
            case = session.get(Case, built.case_id)
            message = Message(
                case_id=case.id, borrower_id=case.loan.borrower_id, channel="sms",
                purpose="reminder", address="+886912345678", locale="zh_Hant_TW",
                status="sent", send_at=NOW, created_by="system", created_at=NOW,
            )  # fmt: skip
            session.add(message)
            session.flush()
            messages[built.case_id] = message.id
        session.commit()

    def roles_of(endpoint):
        return getattr(app.view_functions[endpoint], auth.STAFF_ROLES_ATTRIBUTE, None)

    routes = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if (endpoint, "GET") not in {(e, "GET") for e, _m, _p in staff_endpoints(app)}:
            continue
        routes.append(rule)
    walked = reached = 0
    for rule in sorted(routes, key=lambda r: roles_of(r.endpoint) is None):
        roles = roles_of(rule.endpoint)
        if roles is None:
            continue  # signing in and out: open to all
        names = set(rule.arguments)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for built, is_placed in ((placed, True), (other, False)):
                values = {}
                for name in names:
                    converter = type(rule._converters[name]).__name__
                    values[name] = "x" if converter == "UnicodeConverter" else 1
                if "case_id" in names:
                    values["case_id"] = built.case_id
                if "message_id" in names:
                    values["message_id"] = messages[built.case_id]
                path = rule.build(values)[1]
                status = client.open(path, method=method).status_code
                label = f"{method} {path} ({rule.endpoint}) placed={is_placed}: {status}"
                assert status != 500, label
                walked += 1
                case_scoped = rule.endpoint.startswith("agent.") and names & {
                    "case_id",
                    "message_id",
                }
                if case_scoped and not is_placed:
                    assert status == 404, label
                elif case_scoped and lender_only(rule.endpoint):
                    assert status == 403, label  # the legal track, home visits
                elif case_scoped:
                    if roles <= {"agent"}:
                        assert status not in (401, 403), label
                        reached += 1
                    else:
                        assert status == 403, label  # a supervisor's route
                elif rule.endpoint in AGENCY_PAGES or not roles:
                    assert status not in (401, 403, 404), label
                else:
                    assert status == 403, label
                if not case_scoped:
                    break  # no case in the address: once is enough
    assert reached >= 20
    assert walked > 100


def test_a_placement_past_its_end_stops_access_at_once_and_the_daily_work_recalls_it(app):
    agency_id, placed, _other, client = world(app)
    assert client.get(f"/agent/cases/{placed.case_id}").status_code == 200
    after = UNTIL + timedelta(minutes=1)
    app.config["HAOHUAN_NOW"] = after.isoformat()
    client = app.test_client()
    staff_sign_in(client, email=AGENCY_EMAIL)
    # Before the daily work has run: already out of reach, and out of their queue.
    assert client.get(f"/agent/cases/{placed.case_id}").status_code == 404
    assert loan_number(app, placed.case_id) not in client.get("/agent/").get_data(as_text=True)
    with app.app_context():
        engine = app.extensions["haohuan.engine"]
        day = TODAY + timedelta(days=31)
        work = lifecycle.work_day(engine, policy(), day, after)
        assert work.placements_recalled == 1
        assert lifecycle.work_day(engine, policy(), day, after).placements_recalled == 0
        row = db.session().scalars(select(AgencyPlacement)).one()
        assert (row.status, row.recalled_by) == ("recalled", placement.PERIOD_END)
        assert db.session().get(Agency, agency_id).active


def test_the_daily_work_leaves_a_placement_within_its_period(app):
    world(app)
    with app.app_context():
        engine = app.extensions["haohuan.engine"]
        work = lifecycle.work_day(engine, policy(), TODAY, NOW + timedelta(days=1))
        assert work.placements_recalled == 0


def test_an_offer_beyond_the_agencys_authority_is_refused_with_a_translated_reason(app):
    _agency_id, placed, _other, client = world(app, installments=3)
    url = f"/agent/cases/{placed.case_id}/offers/new"
    within = client.post(url + "?lang=en", data=OFFER)
    assert within.status_code == 303
    for lang, words in (("en", "at most 3"), ("zh_Hant_TW", "3"), ("zh_Hans_CN", "3")):
        refused = client.post(f"{url}?lang={lang}", data={**OFFER, "installments": "6"})
        assert refused.status_code == 422
        assert "beyond_agency" not in refused.get_data(as_text=True)
        assert words in refused.get_data(as_text=True)
    english = client.post(url + "?lang=en", data={**OFFER, "penalty_waiver_pct": "50"})
    assert "A larger penalty waiver than your agency may offer" in english.get_data(as_text=True)


def test_no_letter_on_the_letterhead_unless_the_agency_may(app):
    _agency_id, placed, _other, client = world(app, letterhead=False)
    refused = client.post(f"/agent/cases/{placed.case_id}/letter?lang=en")
    assert refused.status_code == 409
    assert "may not print letters on the" in refused.get_data(as_text=True)


def test_every_action_of_an_agency_member_is_audited_under_the_agency(app):
    agency_id, placed, _other, client = world(app)
    client.get(f"/agent/cases/{placed.case_id}")
    client.post(f"/agent/cases/{placed.case_id}/reveal")
    with app.app_context():
        member = accounts.find_member(db.session(), AGENCY_EMAIL)
        entries = (
            db.session().scalars(select(AuditEntry).where(AuditEntry.staff_id == member.id)).all()
        )
        assert len(entries) >= 2
        assert {entry.details.get("agency") for entry in entries} == {agency_id}


def test_no_agency_path_contacts_anyone_but_the_borrower(app):
    """An agency member's messages and calls go through the gate, and only to the
    borrower's own contact points."""
    _agency_id, placed, _other, client = world(app)
    # During allowed hours in Taipei (10:00).
    app.config["HAOHUAN_NOW"] = (NOW.replace(hour=2)).isoformat()
    for channel in ("sms", "email"):
        client.post(f"/agent/cases/{placed.case_id}/messages", data={"channel": channel})
    with app.app_context():
        session = db.session()
        case = session.get(Case, placed.case_id)
        borrower = session.get(Borrower, case.loan.borrower_id)
        own = {borrower.phone, borrower.email}
        sent = session.scalars(select(Message).where(Message.created_by == AGENCY_EMAIL)).all()
        assert sent
        assert {m.address for m in sent} <= own
        assert {m.borrower_id for m in sent} == {borrower.id}
        attempts = session.scalars(
            select(ContactAttempt).where(ContactAttempt.agent == AGENCY_EMAIL)
        ).all()
        assert {a.borrower_id for a in attempts} <= {borrower.id}


def test_a_placement_without_a_last_day_or_with_a_bad_filter_places_nothing(app):
    agency_id, _placed, other, _client = world(app)
    boss = app.test_client()
    staff_sign_in(boss, email=SUPERVISOR)
    url = f"/agent/agencies/{agency_id}/place?lang=en"
    for data in ({"q": loan_number(app, other.case_id)}, {"until": "2026-12-31", "min": "abc"}):
        assert boss.post(url, data=data).status_code == 303
    past = boss.post(url, data={"until": "2026-11-01", "q": loan_number(app, other.case_id)})
    assert past.status_code == 303
    with app.app_context():
        assert (
            db.session().scalar(
                select(AgencyPlacement.id).where(AgencyPlacement.case_id == other.case_id)
            )
            is None
        )


def test_the_timeline_names_the_placement_in_each_language(app):
    _agency_id, placed, _other, client = world(app)
    page = client.get(f"/agent/cases/{placed.case_id}?section=events&lang=zh_Hant_TW")
    assert "已委託合作機構" in page.get_data(as_text=True)


def test_the_legal_track_and_home_visits_parts_of_a_placed_case_stay_with_the_lender(app):
    # The case page and its htmx fragments render any part by name: an agency's member
    # gets 403 for the lender's own parts, and sees no tab for them.
    _agency_id, placed, _other, client = world(app)
    case_url = f"/agent/cases/{placed.case_id}"
    for part in ("legal", "legal_documents", "visits"):
        assert client.get(f"{case_url}?section={part}").status_code == 403
        assert client.get(f"{case_url}/sections/{part}").status_code == 403
    page = client.get(case_url).get_data(as_text=True)
    for part in ("legal", "legal_documents", "visits"):
        assert f'id="tab-{part}"' not in page
    assert 'id="tab-payments"' in page


def test_an_agency_never_offers_a_settlement_discount(app):
    _agency_id, placed, _other, client = world(app)
    settlement = {
        **OFFER,
        "kind": "settlement",
        "installments": "1",
        "settlement_discount_pct": "5",
    }
    refused = client.post(f"/agent/cases/{placed.case_id}/offers/new?lang=en", data=settlement)
    assert refused.status_code == 422
    assert "A settlement discount forgives part of the debt" in refused.get_data(as_text=True)
