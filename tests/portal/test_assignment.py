"""Case ownership: the assignment rules give open cases owners, spread by capacity,
least loaded first; owners away or deactivated lose their cases; closed cases are left
alone; a re-run changes nothing; a supervisor reassigns one case with a note."""

from __future__ import annotations

from collections import Counter

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from negotiation import Stage
from portal.cases import assignment
from portal.cli import cli
from portal.core import db
from portal.models import AssignmentRule, AuditEntry, Case, CaseEvent, CaseStatus, StaffMember

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in


def agents(app, count: int, capacity: int = 100) -> list[int]:
    ids = [add_staff(app, f"agent{n}@haohuan.example", ("agent",)) for n in range(1, count + 1)]
    with app.app_context():
        for member in db.session().scalars(select(StaffMember).where(StaffMember.id.in_(ids))):
            member.capacity = capacity
        db.session().commit()
    return ids


def rule(app, staff_ids: list[int], priority: int = 100, **conditions: object) -> int:
    with app.app_context():
        members = list(
            db.session().scalars(select(StaffMember).where(StaffMember.id.in_(staff_ids)))
        )
        return assignment.add_rule(
            db.session(), "rule", members, "test", NOW, priority=priority, **conditions
        ).id


def run(app) -> assignment.AssignRun:
    with app.app_context():
        return assignment.assign(app.extensions["haohuan.engine"], NOW)


def owners(app) -> dict[int, int | None]:
    with app.app_context():
        return dict(db.session().execute(select(Case.id, Case.owner_id)).all())


def set_member(app, staff_id: int, **values: object) -> None:
    with app.app_context():
        member = db.session().get(StaffMember, staff_id)
        for key, value in values.items():
            setattr(member, key, value)
        db.session().commit()


def test_cases_are_spread_by_capacity_least_loaded_first_and_a_rerun_changes_nothing(app):
    cases = [build_case(app, days_past_due=10 + n).case_id for n in range(6)]
    first, second = agents(app, 2)
    set_member(app, first, capacity=2)
    set_member(app, second, capacity=4)
    rule(app, [first, second])
    done = run(app)
    assert (done.assigned, done.reassigned, done.unassigned, done.waiting) == (6, 0, 0, 0)
    assert Counter(owners(app).values()) == {first: 2, second: 4}
    # The most overdue case goes to the least loaded place first: both start empty,
    # the first agent's first place is half its capacity, the second's a quarter.
    assert owners(app)[cases[-1]] == second
    before = owners(app)
    with app.app_context():
        events = db.session().scalar(select(func.count()).select_from(CaseEvent))
    again = run(app)
    assert again.changed == 0
    assert owners(app) == before
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(CaseEvent)) == events
        audits = (
            db.session()
            .scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "cases.assign")
                .order_by(AuditEntry.id)
            )
            .all()
        )
        assert [entry.details["assigned"] for entry in audits] == [6, 0]


def test_the_first_matching_rule_decides_and_unmatched_cases_wait(app):
    usd = build_case(app, currency="USD").case_id
    twd = build_case(app, currency="TWD", locale="en").case_id
    other = build_case(app, currency="HKD", locale="zh_Hans_CN").case_id
    first, second = agents(app, 2)
    rule(app, [first], priority=1, currency="USD")
    rule(app, [second], priority=2, locale="en")
    rule(app, [first], priority=3, locale="en", stage=Stage.CURRENT)
    done = run(app)
    assert owners(app) == {usd: first, twd: second, other: None}
    assert done.waiting == 1


def test_an_away_or_deactivated_owner_loses_cases_to_the_others(app):
    cases = [build_case(app).case_id for _ in range(4)]
    first, second, third = agents(app, 3)
    rule(app, [first, second, third])
    run(app)
    mine = owners(app)
    set_member(app, first, away=True)
    set_member(app, second, active=False)
    done = run(app)
    assert set(owners(app).values()) == {third}
    moved = [case for case in cases if mine[case] in (first, second)]
    assert done.reassigned == len(moved)
    with app.app_context():
        reasons = {
            event.case_id: event.data["reason"]
            for event in db.session().scalars(
                select(CaseEvent).where(CaseEvent.kind == "owner_changed", CaseEvent.id > 0)
            )
            if event.data.get("from") is not None
        }
    assert reasons == {case: ("away" if mine[case] == first else "deactivated") for case in moved}
    # Back from being away: nothing moves back by itself, and a re-run is quiet.
    set_member(app, first, away=False)
    assert run(app).changed == 0


def test_full_agents_leave_cases_waiting_and_closed_cases_are_left_alone(app):
    resolved = build_case(app).case_id
    cases = [build_case(app).case_id for _ in range(3)]
    (only,) = agents(app, 1, capacity=2)
    with app.app_context():
        db.session().get(Case, resolved).status = CaseStatus.RESOLVED
        db.session().commit()
    rule(app, [only])
    done = run(app)
    assert (done.assigned, done.waiting) == (2, 1)
    assert owners(app)[resolved] is None
    assert sum(owners(app)[case] == only for case in cases) == 2


def test_a_supervisor_pins_an_owner_the_rules_then_leave_alone(app):
    case_id = build_case(app).case_id
    first, second = agents(app, 2)
    boss = add_staff(app, "boss@haohuan.example", ("supervisor",))
    rule(app, [first])
    run(app)
    with app.app_context():
        session = db.session()
        assignment.reassign(
            session,
            session.get(Case, case_id),
            session.get(StaffMember, second),
            "speaks Hakka",
            session.get(StaffMember, boss),
            NOW,
        )
    assert run(app).changed == 0
    assert owners(app)[case_id] == second
    set_member(app, second, away=True)
    run(app)
    assert owners(app)[case_id] == first
    with app.app_context():
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign"))
            .one()
        )
        assert entry.details["note"] == "speaks Hakka"


def test_the_command_assigns_and_says_what_changed(app):
    build_case(app)
    add_staff(app, "agent@haohuan.example", ("agent",))
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    added = runner.invoke(
        cli, ["cases", "rule-add", "--name", "all", "--agent", "agent@haohuan.example"], obj=info
    )
    assert added.exit_code == 0, added.output
    result = runner.invoke(cli, ["cases", "assign"], obj=info)
    assert result.exit_code == 0, result.output
    assert "1 assigned, 0 reassigned" in result.output
    again = runner.invoke(cli, ["cases", "assign"], obj=info)
    assert "0 assigned, 0 reassigned, 0 left without an owner" in again.output


# The queue's owner column and filters; a supervisor reassigns one case ------------------


def test_the_queue_filters_by_owner_and_by_needing_an_agent(app, client):
    from portal.cases.queue import QueueFilter, matching_cases, parse_filter

    from .test_agent_queue import make_case

    mine = make_case(app, 40).case_id
    theirs = make_case(app, 41).case_id
    nobody = make_case(app, 42).case_id
    me = add_staff(app, "me@haohuan.example", ("agent",))
    other = add_staff(app, "other@haohuan.example", ("agent",))
    with app.app_context():
        session = db.session()
        session.get(Case, mine).owner_id = me
        session.get(Case, theirs).owner_id = other
        session.get(Case, nobody).needs_agent = True
        session.commit()

    def ids(**chosen: object) -> set[int]:
        with app.app_context():
            return set(db.session().scalars(matching_cases(QueueFilter(**chosen), NOW)))

    assert ids(owner=str(me)) == {mine}
    assert ids(owner="none") == {nobody}
    assert ids(needs_agent="yes") == {nobody}
    assert ids(needs_agent="no") == {mine, theirs}
    with app.test_request_context("/"):
        chosen, problems = parse_filter({"owner": "x'; drop", "needs": "maybe"})
        assert (chosen.owner, chosen.needs_agent, len(problems)) == (None, None, 2)
        assert parse_filter(QueueFilter(owner="none", needs_agent="yes").to_args()) == (
            QueueFilter(owner="none", needs_agent="yes"),
            [],
        )
    staff_sign_in(client, "me@haohuan.example")
    page = client.get("/agent/?lang=en&owner=me").get_data(as_text=True)
    assert "1 case found" in page
    assert f'href="/agent/cases/{mine}"' in page
    assert ">林美</td>" in page  # the owner column names the owner
    unassigned = client.get("/agent/?lang=en&owner=none").get_data(as_text=True)
    assert f'href="/agent/cases/{nobody}"' in unassigned
    assert "Unassigned</td>" in unassigned


def test_a_supervisor_reassigns_a_case_with_a_note_and_an_agent_may_not(app, client):
    case_id = build_case(app).case_id
    agent = add_staff(app, "agent@haohuan.example", ("agent",))
    add_staff(app, "boss@haohuan.example", ("agent", "supervisor"))
    staff_sign_in(client, "agent@haohuan.example")
    refused = client.post(f"/agent/cases/{case_id}/owner", data={"owner": agent, "note": "x"})
    assert refused.status_code == 403
    client.post("/staff/sign-out")
    staff_sign_in(client, "boss@haohuan.example")
    page = client.get(f"/agent/cases/{case_id}?section=owner&lang=en").get_data(as_text=True)
    assert 'id="owner-section"' in page
    assert "Reassign" in page
    empty = client.post(f"/agent/cases/{case_id}/owner", data={"owner": agent, "note": ""})
    assert empty.status_code == 422
    assert "Say why the case changes hands." in empty.get_data(as_text=True)
    unknown = client.post(f"/agent/cases/{case_id}/owner", data={"owner": "999", "note": "x"})
    assert unknown.status_code == 422
    done = client.post(
        f"/agent/cases/{case_id}/owner", data={"owner": agent, "note": "speaks Hakka"}
    )
    assert done.status_code == 303
    assert owners(app)[case_id] == agent
    with app.app_context():
        event = (
            db.session().scalars(select(CaseEvent).where(CaseEvent.kind == "owner_changed")).one()
        )
        assert (event.data["to"], event.data["reason"], event.data["note"]) == (
            agent,
            "supervisor",
            "speaks Hakka",
        )
        entry = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign"))
            .one()
        )
        assert entry.case_id == case_id
        assert entry.actor == "boss@haohuan.example"


def test_when_the_rules_change_the_cases_follow_them(app):
    case_id = build_case(app).case_id
    first, second = agents(app, 2)
    old = rule(app, [first])
    run(app)
    with app.app_context():
        db.session().get(AssignmentRule, old).active = False
        db.session().commit()
    assert run(app).unassigned == 1  # no rule matches it now
    rule(app, [second])
    done = run(app)
    assert (done.assigned, owners(app)[case_id]) == (1, second)
    assert run(app).changed == 0


def test_the_demo_spreads_its_cases_among_its_agents(app):
    import random

    from portal.demo import seed

    engine = app.extensions["haohuan.engine"]
    with app.test_request_context("/"):
        session = db.session()
        seed.seed(session, TODAY, random.Random(1), NOW)
        session.commit()
        seed.demo_staff_accounts(session, NOW)
        seed.demo_assignment(session, engine, NOW)
        open_owners = session.scalars(
            select(Case.owner_id).where(Case.status != CaseStatus.RESOLVED)
        ).all()
        # By the demo's rules (language, market, stage), among its agents and supervisors.
        assert len(set(open_owners)) >= 4
        assert None not in open_owners
        assert seed.demo_assignment(session, engine, NOW).changed == 0


def test_the_staff_command_marks_an_agent_away_and_sets_a_capacity(app):
    staff_id = add_staff(app, "agent@haohuan.example", ("agent",))
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    result = runner.invoke(
        cli,
        ["staff", "availability", "--email", "agent@haohuan.example", "--away", "--capacity", "7"],
        obj=info,
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        member = db.session().get(StaffMember, staff_id)
        assert (member.away, member.capacity) == (True, 7)
        assert db.session().scalars(
            select(AuditEntry.action).where(AuditEntry.action == "staff.availability")
        ).all() == ["staff.availability"]
    refused = runner.invoke(
        cli,
        ["staff", "availability", "--email", "agent@haohuan.example", "--capacity", "-1"],
        obj=info,
    )
    assert refused.exit_code != 0
