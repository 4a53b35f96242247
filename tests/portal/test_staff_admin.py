"""The admin console's staff and assignment: the staff list and its filters, a new member
through a one-time set-up link (password rules, a one-time code enrolled), deactivation,
roles with the self and last-admin guards, capacity and away, a one-time code reset,
teams; the assignment rules for supervisors and admins (a rule may feed a team), run now;
a supervisor reassigning a segment of the queue; and the audit log's actions in words."""

from __future__ import annotations

import ast
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from portal.arrangements.offers import DECISIONS
from portal.cases import assignment
from portal.cli import cli
from portal.core import db
from portal.core.hashing import token_hash
from portal.models import (
    AssignmentRule,
    AuditEntry,
    Case,
    CaseEvent,
    CaseStatus,
    StaffMember,
    StaffSetUpLink,
    Team,
)
from portal.staff import accounts, directory, totp
from portal.wording.audit import ACTION_LABELS

from .factories import NOW, PASSWORD, add_staff, build_case, staff_sign_in

GOOD_PASSWORD = "walnut ferry lantern quietly"


def at(app, delta):
    """Move the app's frozen clock to ``NOW + delta``."""
    app.config["HAOHUAN_NOW"] = (NOW + delta).isoformat()


def signed_in(app, email, roles):
    """A client signed in as a new member with ``roles``; returns (client, member id)."""
    member_id = add_staff(app, email=email, roles=roles)
    client = app.test_client()
    assert staff_sign_in(client, email=email).status_code == 303
    return client, member_id


def member(app, member_id) -> StaffMember:
    with app.app_context():
        found = db.session().get(StaffMember, member_id)
        db.session().expunge(found)
        return found


def audits(app, action):
    with app.app_context():
        return list(
            db.session().scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def text_of(response) -> str:
    return response.get_data(as_text=True)


# The staff list --------------------------------------------------------------------------


def test_the_staff_list_shows_each_member_and_filters_by_role_team_and_active(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    agent = add_staff(app, "ann@haohuan.example", ("agent",))
    add_staff(app, "fay@haohuan.example", ("finance",))
    gone = add_staff(app, "gus@haohuan.example", ("agent",))
    with app.app_context():
        session = db.session()
        team = directory.add_team(session, "North", "test", NOW)
        accounts.set_team(session, session.get(StaffMember, agent), team.id, "test", NOW)
        accounts.deactivate(session, session.get(StaffMember, gone), "test", NOW)
        team_id = team.id
    page = text_of(admin.get("/admin/staff", query_string={"lang": "en"}))
    for email in ("boss@", "ann@", "fay@", "gus@"):
        assert email in page
    assert "North" in page
    assert "Deactivated" in page

    def emails(**query):
        response = admin.get("/admin/staff", query_string={"lang": "en", **query})
        assert response.status_code == 200
        return set(re.findall(r"([a-z]+)@haohuan\.example", text_of(response)))

    assert emails(role="agent") == {"ann", "gus"}
    assert emails(role="agent", active="yes") == {"ann"}
    assert emails(active="no") == {"gus"}
    assert emails(team=str(team_id)) == {"ann"}
    assert emails(team="0", role="finance") == {"fay"}
    # A choice the list does not offer is explained, not a 500 nor a silent "all".
    refused = admin.get("/admin/staff", query_string={"lang": "en", "role": "root"})
    assert refused.status_code == 400


# A new member: the set-up link -------------------------------------------------------------


def _create(admin, email="new@haohuan.example", **extra):
    data = {"email": email, "name": "新人", "roles": ["agent", "supervisor"], "team": "0"}
    data.update(extra)
    return admin.post("/admin/staff/new", data=data, query_string={"lang": "en"})


def _link_of(response) -> str:
    found = re.search(r'value="(http://[^"]+/staff/set-up/([^"]+))"', text_of(response))
    assert found, text_of(response)[:2000]
    return found.group(2)


def test_an_admin_creates_a_member_who_sets_their_own_password_and_enrols_a_code(app):
    admin, admin_id = signed_in(app, "boss@haohuan.example", ("admin",))
    response = _create(admin)
    assert response.status_code == 201
    token = _link_of(response)
    with app.app_context():
        session = db.session()
        new = accounts.find_member(session, "new@haohuan.example")
        assert new.role_set == {"agent", "supervisor"}
        assert new.totp_required
        link = session.scalars(select(StaffSetUpLink)).one()
        # Only the token's SHA-256 is kept, and the link lasts 24 hours.
        assert link.token_hash == token_hash(token)
        assert token not in link.token_hash
        assert link.expires_at - link.created_at == timedelta(hours=24)
        new_id = new.id
    # The admin never set a password: nothing they could type signs the member in.
    assert staff_sign_in(app.test_client(), email="new@haohuan.example").status_code == 401

    newcomer = app.test_client()
    # Opening the link (a mail scanner too) spends nothing.
    for _ in range(2):
        assert (
            newcomer.get(f"/staff/set-up/{token}", query_string={"lang": "en"}).status_code == 200
        )
    # The password rules hold here too: too short, common, mismatched.
    for password, confirm, words in (
        ("short", "short", "at least 12"),
        ("password1234", "password1234", "most common"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "x", "differ"),
    ):
        refused = newcomer.post(
            f"/staff/set-up/{token}",
            data={"password": password, "confirm": confirm},
            query_string={"lang": "en"},
        )
        assert refused.status_code == 422, words
        assert words in text_of(refused), words
    done = newcomer.post(
        f"/staff/set-up/{token}", data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/staff/sign-in/enrol")
    # The link is spent: a second use, or anyone else's, finds nothing.
    again = app.test_client().post(
        f"/staff/set-up/{token}", data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}
    )
    assert again.status_code == 404
    assert app.test_client().get(f"/staff/set-up/{token}").status_code == 404

    enrol = newcomer.get("/staff/sign-in/enrol", query_string={"lang": "en"})
    assert enrol.status_code == 200
    assert "otpauth://totp/" in text_of(enrol)
    assert '<svg class="qr"' in text_of(enrol)
    secret = member(app, new_id).totp_pending_secret
    assert secret
    assert member(app, new_id).totp_secret is None
    wrong = newcomer.post("/staff/sign-in/enrol", data={"code": "000000"})
    assert wrong.status_code == 401
    code = totp.code_for(secret, totp.step_at(NOW))
    signed = newcomer.post("/staff/sign-in/enrol", data={"code": code})
    assert signed.status_code == 303
    assert newcomer.get("/agent/").status_code == 200
    after = member(app, new_id)
    assert after.totp_secret == secret
    assert after.totp_pending_secret is None
    # From now on: password, then a code (never the same one twice).
    later = app.test_client()
    at(app, timedelta(minutes=1))
    step = staff_sign_in(later, email="new@haohuan.example", password=GOOD_PASSWORD)
    assert step.status_code == 200
    assert "one-time-code" in text_of(step)
    next_code = totp.code_for(secret, totp.step_at(NOW + timedelta(minutes=1)))
    assert later.post("/staff/sign-in/code", data={"code": next_code}).status_code == 303
    actions = [e.action for e in audits(app, "staff.create")] + [
        e.action for e in audits(app, "staff.set_up")
    ]
    assert actions == ["staff.create", "staff.set_up"]
    assert audits(app, "staff.create")[0].staff_id == admin_id
    assert [e.staff_id for e in audits(app, "staff.totp_enrol")] == [new_id]
    assert audits(app, "staff.set_up_link")[0].details["member"] == new_id


def test_a_set_up_link_expires_after_24_hours_and_a_newer_one_replaces_it(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    first = _link_of(_create(admin))
    with app.app_context():
        new_id = accounts.find_member(db.session(), "new@haohuan.example").id
    second = _link_of(admin.post(f"/admin/staff/{new_id}/set-up-link"))
    assert first != second
    assert app.test_client().get(f"/staff/set-up/{first}").status_code == 404
    assert app.test_client().get(f"/staff/set-up/{second}").status_code == 200
    at(app, timedelta(hours=24, seconds=1))
    late = app.test_client().post(
        f"/staff/set-up/{second}", data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}
    )
    assert late.status_code == 404
    # Tampered and guessed tokens get the same nothing.
    for token in (second[:-1] + ("A" if second[-1] != "A" else "B"), "x", "0" * 200):
        assert app.test_client().get(f"/staff/set-up/{token}").status_code == 404


def test_a_taken_email_or_no_role_is_refused_and_the_cli_create_is_unchanged(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    taken = _create(admin, email="BOSS@haohuan.example")
    assert taken.status_code == 422
    assert "already has an account" in text_of(taken)
    none = _create(admin, roles=[])
    assert none.status_code == 422
    assert "at least one role" in text_of(none)
    unknown = _create(admin, roles=["root"])
    assert unknown.status_code == 422
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["staff", "create", "--email", "cli@haohuan.example", "--role", "agent"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert made.exit_code == 0, made.output
    with app.app_context():
        made_member = accounts.find_member(db.session(), "cli@haohuan.example")
        assert not made_member.totp_required
    assert staff_sign_in(app.test_client(), email="cli@haohuan.example").status_code == 303


# Changing a member ------------------------------------------------------------------------


def test_deactivating_ends_sessions_and_the_next_assignment_moves_their_cases(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    agent_client, agent_id = signed_in(app, "ann@haohuan.example", ("agent",))
    other = add_staff(app, "bob@haohuan.example", ("agent",))
    case_id = build_case(app).case_id
    with app.app_context():
        session = db.session()
        agents = [session.get(StaffMember, agent_id), session.get(StaffMember, other)]
        assignment.add_rule(session, "all", agents, "test", NOW)
        session.get(Case, case_id).owner_id = agent_id
        session.commit()
    assert admin.post(f"/admin/staff/{agent_id}/deactivate").status_code == 303
    assert agent_client.get("/agent/").status_code == 303
    assert not member(app, agent_id).active
    assert [e.details["member"] for e in audits(app, "staff.deactivate")] == [agent_id]
    with app.app_context():
        assignment.assign(app.extensions["haohuan.engine"], NOW)
        assert db.session().get(Case, case_id).owner_id == other
    assert admin.post(f"/admin/staff/{agent_id}/reactivate").status_code == 303
    assert member(app, agent_id).active
    assert audits(app, "staff.reactivate")
    assert staff_sign_in(app.test_client(), email="ann@haohuan.example").status_code == 303


def test_an_admin_keeps_their_own_admin_role_and_the_last_admin_stays(app):
    admin, admin_id = signed_in(app, "boss@haohuan.example", ("admin",))
    for path, data in (
        (f"/admin/staff/{admin_id}/deactivate", {}),
        (f"/admin/staff/{admin_id}/roles", {"roles": ["agent"]}),
    ):
        refused = admin.post(path, data=data, query_string={"lang": "en"})
        assert refused.status_code == 422
        assert "your own" in text_of(refused)
    assert member(app, admin_id).active
    assert "admin" in member(app, admin_id).role_set
    # Neither the CLI nor another admin may remove the last active admin.
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["staff", "deactivate", "--email", "boss@haohuan.example"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code != 0
    assert "last active admin" in result.output
    second, second_id = signed_in(app, "deputy@haohuan.example", ("admin",))
    # With two admins, one may take the role from the other; then the last one stays.
    assert (
        admin.post(f"/admin/staff/{second_id}/roles", data={"roles": ["agent"]}).status_code == 303
    )
    assert member(app, second_id).role_set == {"agent"}
    assert audits(app, "staff.roles")[0].details == {
        "member": second_id,
        "before": "admin",
        "after": "agent",
    }
    with app.app_context():
        session = db.session()
        with pytest.raises(accounts.AccountError, match="last_admin"):
            accounts.set_roles(session, session.get(StaffMember, admin_id), ["agent"], "cli", NOW)
    # Roles take effect at the next request: the former admin is refused the console.
    assert second.get("/admin/staff").status_code == 403


def test_capacity_away_and_team_are_set_and_audited(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    agent_id = add_staff(app, "ann@haohuan.example", ("agent",))
    done = admin.post(f"/admin/staff/{agent_id}/availability", data={"capacity": "40", "away": "y"})
    assert done.status_code == 303
    found = member(app, agent_id)
    assert (found.capacity, found.away) == (40, True)
    for odd in ("-1", "100001", "1.5", "", "９" * 7):
        refused = admin.post(f"/admin/staff/{agent_id}/availability", data={"capacity": odd})
        assert refused.status_code == 422, odd
    assert member(app, agent_id).capacity == 40
    entry = audits(app, "staff.availability")[-1]
    assert entry.details == {"member": agent_id, "away": True, "capacity": 40}
    assert entry.actor == "boss@haohuan.example"
    assert admin.post("/admin/teams", data={"name": "East"}).status_code == 303
    with app.app_context():
        team_id = db.session().scalars(select(Team.id)).one()
    assert (
        admin.post(f"/admin/staff/{agent_id}/team", data={"team": str(team_id)}).status_code == 303
    )
    assert member(app, agent_id).team_id == team_id
    assert admin.post(f"/admin/staff/{agent_id}/team", data={"team": "999"}).status_code == 422
    assert admin.post(f"/admin/staff/{agent_id}/team", data={"team": "0"}).status_code == 303
    assert member(app, agent_id).team_id is None
    assert [e.details["after"] for e in audits(app, "staff.team")] == [team_id, None]


def test_a_totp_reset_ends_sessions_and_the_member_enrols_again_at_sign_in(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    agent_id = add_staff(app, "ann@haohuan.example", ("agent",))
    with app.app_context():
        old_secret = accounts.enable_totp(db.session(), db.session().get(StaffMember, agent_id))
    agent = app.test_client()
    staff_sign_in(agent, email="ann@haohuan.example")
    code = totp.code_for(old_secret, totp.step_at(NOW))
    assert agent.post("/staff/sign-in/code", data={"code": code}).status_code == 303
    assert agent.get("/agent/").status_code == 200
    assert admin.post(f"/admin/staff/{agent_id}/totp-reset").status_code == 303
    assert agent.get("/agent/").status_code == 303
    found = member(app, agent_id)
    assert found.totp_secret is None
    assert found.totp_required
    at(app, timedelta(minutes=2))
    again = app.test_client()
    step = staff_sign_in(again, email="ann@haohuan.example")
    assert step.status_code == 303
    assert step.headers["Location"].endswith("/staff/sign-in/enrol")
    # The old secret's codes open nothing; the code step is not the enrolment step.
    old = totp.code_for(old_secret, totp.step_at(NOW + timedelta(minutes=2)))
    assert again.post("/staff/sign-in/enrol", data={"code": old}).status_code == 401
    assert again.post("/staff/sign-in/code", data={"code": old}).status_code == 401
    again = app.test_client()
    staff_sign_in(again, email="ann@haohuan.example")
    assert again.get("/staff/sign-in/enrol").status_code == 200
    secret = member(app, agent_id).totp_pending_secret
    assert secret != old_secret
    code = totp.code_for(secret, totp.step_at(NOW + timedelta(minutes=2)))
    assert again.post("/staff/sign-in/enrol", data={"code": code}).status_code == 303
    assert again.get("/agent/").status_code == 200
    assert audits(app, "staff.totp_reset")[0].details == {"member": agent_id}


def test_the_enrolment_step_needs_a_right_password_first_and_expires(app):
    assert app.test_client().get("/staff/sign-in/enrol").status_code == 303
    assert (
        app.test_client().post("/staff/sign-in/enrol", data={"code": "123456"}).status_code == 401
    )
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    agent_id = add_staff(app, "ann@haohuan.example", ("agent",))
    admin.post(f"/admin/staff/{agent_id}/totp-reset")
    client = app.test_client()
    staff_sign_in(client, email="ann@haohuan.example")
    at(app, timedelta(minutes=16))
    assert client.get("/staff/sign-in/enrol").status_code == 303


def test_teams_are_created_renamed_and_their_names_are_unique(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    assert admin.post("/admin/teams", data={"name": "  North   team "}).status_code == 303
    taken = admin.post("/admin/teams", data={"name": "NORTH TEAM"}, query_string={"lang": "en"})
    assert taken.status_code == 422
    assert "already has that name" in text_of(taken)
    assert admin.post("/admin/teams", data={"name": "x" * 81}).status_code == 422
    assert admin.post("/admin/teams", data={"name": "   "}).status_code == 422
    assert admin.post("/admin/teams", data={"name": "South"}).status_code == 303
    with app.app_context():
        teams = {t.name: t.id for t in db.session().scalars(select(Team))}
    assert set(teams) == {"North team", "South"}
    assert (
        admin.post(f"/admin/teams/{teams['South']}", data={"name": "north TEAM"}).status_code == 422
    )
    assert admin.post(f"/admin/teams/{teams['South']}", data={"name": "東區"}).status_code == 303
    assert admin.post("/admin/teams/99999", data={"name": "Y"}).status_code == 404
    assert [e.details["name"] for e in audits(app, "team.create")] == ["North team", "South"]
    assert audits(app, "team.rename")[0].details["after"] == "東區"
    assert "東區" in text_of(admin.get("/admin/teams"))


# Assignment rules ---------------------------------------------------------------------------


def test_supervisors_and_admins_manage_rules_and_run_the_assignment(app):
    supervisor, boss_id = signed_in(app, "boss@haohuan.example", ("supervisor",))
    first = add_staff(app, "ann@haohuan.example", ("agent",))
    second = add_staff(app, "bob@haohuan.example", ("agent",))
    cases = [build_case(app, currency="TWD").case_id for _ in range(3)]
    usd = build_case(app, currency="USD").case_id
    made = supervisor.post(
        "/admin/rules/new",
        data={"name": "Taiwan", "priority": "10", "currency": "TWD", "agents": [str(first)]},
    )
    assert made.status_code == 303
    with app.app_context():
        rule = db.session().scalars(select(AssignmentRule)).one()
        rule_id = rule.id
        assert (rule.currency, rule.priority, rule.created_by) == (
            "TWD",
            10,
            "boss@haohuan.example",
        )
    listing = text_of(supervisor.get("/admin/rules", query_string={"lang": "en"}))
    assert "Taiwan" in listing
    assert "林美" in listing
    ran = supervisor.post("/admin/rules/assign", query_string={"lang": "en"})
    assert ran.status_code == 303
    shown = text_of(supervisor.get("/admin/rules", query_string={"lang": "en"}))
    assert "Assignment done: 3 assigned, 0 reassigned" in shown
    assert audits(app, "cases.assign")[-1].staff_id == boss_id
    with app.app_context():
        owners = dict(db.session().execute(select(Case.id, Case.owner_id)).all())
    assert {owners[c] for c in cases} == {first}
    assert owners[usd] is None
    # Edited: every currency, the other agent; the change is audited with what it was.
    edited = supervisor.post(
        f"/admin/rules/{rule_id}",
        data={"name": "All", "priority": "10", "agents": [str(second)]},
    )
    assert edited.status_code == 303
    change = audits(app, "assignment_rule.edit")[0].details
    assert change["before"]["currency"] == "TWD"
    assert change["after"]["currency"] is None
    assert change["before"]["agents"] == [first]
    assert change["after"]["agents"] == [second]
    supervisor.post("/admin/rules/assign")
    with app.app_context():
        owners = dict(db.session().execute(select(Case.id, Case.owner_id)).all())
    assert set(owners.values()) == {second}
    # Deactivated: the rule gives nothing; its cases' owners are released by the next run.
    assert supervisor.post(f"/admin/rules/{rule_id}/deactivate").status_code == 303
    supervisor.post("/admin/rules/assign")
    with app.app_context():
        assert db.session().scalar(select(func.count()).where(Case.owner_id.is_not(None))) == 0
    assert audits(app, "assignment_rule.deactivate")
    assert supervisor.post(f"/admin/rules/{rule_id}/activate").status_code == 303
    # An admin without the supervisor role may too; an agent may not.
    admin, _ = signed_in(app, "root@haohuan.example", ("admin",))
    assert admin.get(f"/admin/rules/{rule_id}").status_code == 200
    agent, _ = signed_in(app, "cat@haohuan.example", ("agent",))
    assert agent.get("/admin/rules").status_code == 403


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"name": "", "priority": "1", "agents": ["A"]}, "Give the rule a name"),
        ({"name": "x", "priority": "-1", "agents": ["A"]}, "whole number"),
        ({"name": "x", "priority": "1"}, "at least one agent or a team"),
        ({"name": "x", "priority": "1", "agents": ["A"], "min_amount": "5"}, "Choose a currency"),
        (
            {
                "name": "x",
                "priority": "1",
                "agents": ["A"],
                "currency": "TWD",
                "min_amount": "9",
                "max_amount": "9",
            },
            "above the lower",
        ),
        ({"name": "x", "priority": "1", "agents": ["A"], "timezone": "Mars/Base"}, "time zone"),
        ({"name": "x", "priority": "1", "agents": ["999"]}, "listed values"),
        ({"name": "x", "priority": "1", "agents": ["A"], "team": "77"}, "valid choice"),
    ],
)
def test_a_rule_that_cannot_work_is_explained(app, data, words):
    supervisor, _ = signed_in(app, "boss@haohuan.example", ("supervisor",))
    agent = add_staff(app, "ann@haohuan.example", ("agent",))
    data = {
        k: [str(agent) if v == "A" else v for v in vs] if isinstance(vs, list) else vs
        for k, vs in data.items()
    }
    refused = supervisor.post("/admin/rules/new", data=data, query_string={"lang": "en"})
    assert refused.status_code == 422
    assert words.lower() in text_of(refused).lower()
    with app.app_context():
        assert db.session().scalar(select(func.count(AssignmentRule.id))) == 0


def test_a_rule_that_feeds_a_team_gives_cases_to_its_active_agents(app):
    supervisor, _ = signed_in(app, "boss@haohuan.example", ("supervisor",))
    ann = add_staff(app, "ann@haohuan.example", ("agent",))
    bob = add_staff(app, "bob@haohuan.example", ("agent",))
    fay = add_staff(app, "fay@haohuan.example", ("finance",))
    out = add_staff(app, "out@haohuan.example", ("agent",))
    cases = [build_case(app).case_id for _ in range(4)]
    with app.app_context():
        session = db.session()
        team = directory.add_team(session, "North", "test", NOW)
        for member_id in (ann, bob, fay):
            accounts.set_team(session, session.get(StaffMember, member_id), team.id, "test", NOW)
        team_id = team.id
    made = supervisor.post(
        "/admin/rules/new", data={"name": "North", "priority": "1", "team": str(team_id)}
    )
    assert made.status_code == 303
    listing = text_of(supervisor.get("/admin/rules", query_string={"lang": "en"}))
    assert "Team North" in listing
    supervisor.post("/admin/rules/assign")
    with app.app_context():
        owners = Counter(db.session().scalars(select(Case.owner_id).where(Case.id.in_(cases))))
    # The finance member is in the team but no agent; the agent outside it gets nothing.
    assert owners == {ann: 2, bob: 2}
    assert out not in owners
    # One leaves the team: their cases go to the one left at the next run.
    with app.app_context():
        session = db.session()
        accounts.set_team(session, session.get(StaffMember, bob), None, "test", NOW)
    supervisor.post("/admin/rules/assign")
    with app.app_context():
        owners = Counter(db.session().scalars(select(Case.owner_id).where(Case.id.in_(cases))))
    assert owners == {ann: 4}


# A supervisor reassigns a segment ---------------------------------------------------------


def _owners(app, ids):
    with app.app_context():
        rows = db.session().execute(
            select(Case.id, Case.owner_id, Case.owner_pinned).where(Case.id.in_(ids))
        )
        return {case_id: (owner, pinned) for case_id, owner, pinned in rows}


def test_a_supervisor_reassigns_every_case_of_the_filter_to_an_agent(app):
    supervisor, boss_id = signed_in(app, "boss@haohuan.example", ("supervisor", "agent"))
    ann = add_staff(app, "ann@haohuan.example", ("agent",))
    bob = add_staff(app, "bob@haohuan.example", ("agent",))
    usd = [build_case(app, currency="USD").case_id for _ in range(3)]
    twd = [build_case(app, currency="TWD").case_id for _ in range(2)]
    resolved = build_case(app, currency="USD").case_id
    with app.app_context():
        session = db.session()
        session.get(Case, usd[0]).owner_id = bob
        session.get(Case, resolved).status = CaseStatus.RESOLVED
        session.commit()
        events_before = session.scalar(select(func.count(CaseEvent.id)))
    queue = text_of(supervisor.get("/agent/", query_string={"currency": "USD", "dpd": "all"}))
    assert "/agent/reassign?" in queue
    preview = supervisor.get(
        "/agent/reassign",
        query_string={"currency": "USD", "dpd": "all", "target": f"agent:{ann}", "lang": "en"},
    )
    assert preview.status_code == 200
    page = text_of(preview)
    assert "matches 4 cases" in page
    assert "Reassign 3 cases" in page
    # Seeing the count changes nothing.
    assert {owner for owner, _ in _owners(app, usd).values()} == {bob, None}
    missing_note = supervisor.post(
        "/agent/reassign", data={"currency": "USD", "dpd": "all", "target": f"agent:{ann}"}
    )
    assert missing_note.status_code == 422
    done = supervisor.post(
        "/agent/reassign",
        data={"currency": "USD", "dpd": "all", "target": f"agent:{ann}", "note": "USD desk"},
        query_string={"lang": "en"},
    )
    assert done.status_code == 303
    assert "currency=USD" in done.headers["Location"]
    assert set(_owners(app, usd).values()) == {(ann, True)}
    assert {owner for owner, _ in _owners(app, twd).values()} == {None}
    assert _owners(app, [resolved])[resolved] == (None, False)
    with app.app_context():
        session = db.session()
        events = list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.id > events_before).order_by(CaseEvent.case_id)
            )
        )
    assert [e.case_id for e in events] == sorted(usd)
    assert all(e.kind == "owner_changed" and e.data["note"] == "USD desk" for e in events)
    assert {e.case_id: e.data["from"] for e in events}[usd[0]] == bob
    (entry,) = audits(app, "cases.reassign_segment")
    assert entry.staff_id == boss_id
    assert entry.details["filters"] == {"currency": "USD", "dpd": "all"}
    assert (entry.details["matching"], entry.details["moved"], entry.details["resolved"]) == (
        4,
        3,
        1,
    )
    assert entry.details["owners"] == {str(ann): 3}
    # Pinned: the rules leave them with the chosen agent.
    with app.app_context():
        session = db.session()
        assignment.add_rule(session, "all", [session.get(StaffMember, bob)], "test", NOW)
        assignment.assign(app.extensions["haohuan.engine"], NOW)
    assert {owner for owner, _ in _owners(app, usd).values()} == {ann}
    # Again: nothing left to move.
    supervisor.post(
        "/agent/reassign",
        data={"currency": "USD", "dpd": "all", "target": f"agent:{ann}", "note": "again"},
    )
    assert audits(app, "cases.reassign_segment")[-1].details["moved"] == 0


def test_a_segment_given_to_a_team_goes_to_the_least_loaded_first(app):
    supervisor, _ = signed_in(app, "boss@haohuan.example", ("supervisor",))
    ann = add_staff(app, "ann@haohuan.example", ("agent",))
    bob = add_staff(app, "bob@haohuan.example", ("agent",))
    away = add_staff(app, "cat@haohuan.example", ("agent",))
    loaded = [build_case(app, currency="HKD").case_id for _ in range(3)]
    segment = [build_case(app, currency="USD").case_id for _ in range(5)]
    with app.app_context():
        session = db.session()
        team = directory.add_team(session, "North", "test", NOW)
        for member_id in (ann, bob, away):
            session.get(StaffMember, member_id).team_id = team.id
        session.get(StaffMember, away).away = True
        for case_id in loaded:
            session.get(Case, case_id).owner_id = ann
        session.commit()
        team_id = team.id
    done = supervisor.post(
        "/agent/reassign",
        data={"currency": "USD", "dpd": "all", "target": f"team:{team_id}", "note": "cover"},
    )
    assert done.status_code == 303
    owners = Counter(owner for owner, _ in _owners(app, segment).values())
    # Ann had 3 open cases, Bob none: Bob takes 4, then each one more in turn (4 and 4).
    assert owners == {bob: 4, ann: 1}
    (entry,) = audits(app, "cases.reassign_segment")
    assert entry.details["team"] == team_id
    assert entry.details["moved"] == 5
    # A team with nobody available is refused, and nothing moves.
    with app.app_context():
        empty = directory.add_team(db.session(), "Empty", "test", NOW).id
    refused = supervisor.post(
        "/agent/reassign",
        data={"currency": "USD", "dpd": "all", "target": f"team:{empty}", "note": "x"},
        query_string={"lang": "en"},
    )
    assert refused.status_code == 422
    assert "no available agent" in text_of(refused)


@pytest.mark.parametrize(
    "target", ["agent:{away}", "agent:99999", "team:99999", "agent:x", "case:1", ""]
)
def test_a_segment_is_never_given_to_someone_unavailable_or_unknown(app, target):
    supervisor, _ = signed_in(app, "boss@haohuan.example", ("supervisor",))
    away = add_staff(app, "cat@haohuan.example", ("agent",))
    with app.app_context():
        db.session().get(StaffMember, away).away = True
        db.session().commit()
    case_id = build_case(app).case_id
    refused = supervisor.post(
        "/agent/reassign",
        data={"dpd": "all", "target": target.format(away=away), "note": "x"},
    )
    assert refused.status_code == 422
    assert _owners(app, [case_id])[case_id] == (None, False)
    assert not audits(app, "cases.reassign_segment")


def test_only_supervisors_see_the_segment_link(app):
    build_case(app)
    agent, _ = signed_in(app, "ann@haohuan.example", ("agent",))
    assert "/agent/reassign" not in text_of(agent.get("/agent/"))
    assert agent.get("/agent/reassign").status_code == 403


# The audit log's actions in words ----------------------------------------------------------

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def _recorded_actions() -> set[str]:
    """Every action code passed to ``trail.record``/``record_read`` in the code base: each
    call's string literal; a call that passes a variable must be one of ``COMPUTED``,
    whose codes come from the table the module reads them from, so no code escapes."""
    found: set[str] = set()
    computed: set[str] = set()
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr not in ("record", "record_read") or not (
                isinstance(owner, ast.Name) and owner.id in ("trail", "audit_trail")
            ):
                continue
            argument = node.args[2]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.add(argument.value)
            else:
                computed.add(f"{path.relative_to(PORTAL.parent)}:{ast.unparse(argument)}")
    assert computed == set(COMPUTED), "add the new call's codes to COMPUTED"
    for codes in COMPUTED.values():
        found |= codes
    return found


# Calls whose action is a variable, and the codes it can hold.
COMPUTED = {
    "portal/arrangements/offers.py:action": {action for _event, action in DECISIONS.values()},
    "portal/legal/service.py:action": {"legal.refuse", "legal.stop", "legal.close"},
    "portal/cases/assignment.py:action": {
        "assignment_rule.activate",
        "assignment_rule.deactivate",
    },
    "portal/finance/payouts.py:action": {
        "finance.payouts.auto_match",
        "finance.payouts.statement_import",
    },
    "portal/finance/refunds.py:action": {
        "finance.refund.request",
        "finance.refund.approve",
        "finance.refund.cancel",
        "finance.refund.succeed",
        "finance.refund.fail",
        "finance.refund.unreachable",
    },
    "portal/reporting/portfolio.py:action": {"reports.portfolio.view", "reports.portfolio.export"},
    "portal/staff/accounts.py:'staff.reactivate' if active else 'staff.deactivate'": {
        "staff.reactivate",
        "staff.deactivate",
    },
}


def test_every_action_code_recorded_has_words():
    recorded = _recorded_actions()
    assert {"call.log", "hold.place", "offer.approve", "cases.reassign_segment"} <= recorded
    assert recorded - set(ACTION_LABELS) == set()


def test_the_audit_log_shows_actions_in_words_and_still_filters_by_code(app):
    admin, _ = signed_in(app, "boss@haohuan.example", ("admin",))
    admin.post("/admin/teams", data={"name": "East"})
    page = text_of(admin.get("/admin/audit", query_string={"lang": "en"}))
    assert "Team created" in page
    assert "team.create" in page
    assert "Signed in" in page
    chosen = admin.get("/admin/audit", query_string={"lang": "en", "action": "team.create"})
    assert chosen.status_code == 200
    assert "Team created (team.create)" in text_of(chosen)
    assert "1 entry found" in text_of(chosen)
    family = admin.get("/admin/audit", query_string={"lang": "zh_Hant_TW", "action": "team."})
    assert "建立團隊" in text_of(family)


def test_a_supervisor_gives_one_case_to_a_team_its_least_loaded_agent(app):
    supervisor, _ = signed_in(app, "boss@haohuan.example", ("supervisor", "agent"))
    ann = add_staff(app, "ann@haohuan.example", ("agent",))
    bob = add_staff(app, "bob@haohuan.example", ("agent",))
    busy = build_case(app).case_id
    case_id = build_case(app).case_id
    with app.app_context():
        session = db.session()
        team = directory.add_team(session, "North", "test", NOW)
        for member_id in (ann, bob):
            session.get(StaffMember, member_id).team_id = team.id
        session.get(Case, busy).owner_id = ann
        session.commit()
        team_id = team.id
    page = text_of(
        supervisor.get(f"/agent/cases/{case_id}", query_string={"lang": "en", "section": "owner"})
    )
    assert f'value="team:{team_id}"' in page
    done = supervisor.post(
        f"/agent/cases/{case_id}/owner", data={"owner": f"team:{team_id}", "note": "Hakka"}
    )
    assert done.status_code == 303
    assert _owners(app, [case_id])[case_id] == (bob, True)
    (entry,) = audits(app, "cases.reassign_segment")
    assert entry.details["filters"] == {"case": str(case_id)}
    assert entry.details["note"] == "Hakka"
    again = supervisor.post(
        f"/agent/cases/{case_id}/owner",
        data={"owner": f"team:{team_id}", "note": "again"},
        query_string={"lang": "en"},
    )
    assert again.status_code == 422
    assert "already with an agent of that team" in text_of(again)
    for odd in ("team:999", "team:x", "team:"):
        refused = supervisor.post(f"/agent/cases/{case_id}/owner", data={"owner": odd, "note": "x"})
        assert refused.status_code == 422, odd
    assert _owners(app, [case_id])[case_id] == (bob, True)
