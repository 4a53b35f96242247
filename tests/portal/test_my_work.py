"""My work and Next case: each group holds what it should, in its order; a flag is
cleared and a callback canceled with a note only on one's own case; Next case never
offers a case the contact rules forbid now, and offers the first one they allow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from negotiation.contact import Channel
from portal.cases import flags, worklist
from portal.cases.worklist import Group
from portal.contact import callbacks, gate
from portal.core import db
from portal.models import (
    AuditEntry,
    Callback,
    CallbackSource,
    CallbackStatus,
    Case,
    CaseEvent,
    CaseFlag,
    FlagReason,
    Promise,
    PromiseStatus,
    QuietHours,
    StaffMember,
)

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in
from .test_holds import declare

AGENT = "agent@haohuan.example"
OTHER = "other@haohuan.example"
BOSS = "boss@haohuan.example"


@pytest.fixture
def staff(app):
    """An agent, another agent and a supervisor; their ids."""
    return {
        "agent": add_staff(app, AGENT, roles=("agent",)),
        "other": add_staff(app, OTHER, roles=("agent",)),
        "boss": add_staff(app, BOSS, roles=("agent", "supervisor")),
    }


def owned(app, owner_id: int, **kwargs) -> int:
    """A case built with ``kwargs``, owned by ``owner_id``, overdue since its first unpaid
    installment (as the daily work keeps it)."""
    built = build_case(app, **kwargs)
    days = kwargs.get("days_past_due", 47)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        case.owner_id = owner_id
        case.overdue_since = TODAY - timedelta(days=days) if days else None
        session.commit()
    return built.case_id


def work_of(app, owner_id: int, moment=NOW) -> worklist.MyWork:
    with app.test_request_context("/"):
        session = db.session()
        return worklist.my_work(session, session.get(StaffMember, owner_id), moment)


def ids(work: worklist.MyWork, key: Group) -> list[int]:
    group = work.group(key)
    assert group is not None
    return [row.item.case_id for row in group.rows]


def flag(app, case_id: int, reason: FlagReason, at=NOW) -> int:
    with app.app_context():
        session = db.session()
        raised = flags.raise_flag(session, session.get(Case, case_id), reason, at, "system")
        session.commit()
        return raised.id


def callback(app, case_id: int, due, by: str = "borrower") -> int:
    with app.app_context():
        session = db.session()
        row = callbacks.schedule_callback(
            session,
            session.get(Case, case_id),
            due,
            CallbackSource.BORROWER if by == "borrower" else CallbackSource.AGENT,
            by,
            NOW - timedelta(hours=1),
        )
        session.commit()
        return row.id


def promise(app, case_id: int, due, amount: int = 1000, status=PromiseStatus.OPEN) -> None:
    with app.app_context():
        session = db.session()
        session.add(
            Promise(
                case_id=case_id,
                made_by=AGENT,
                made_at=NOW - timedelta(days=3),
                due_date=due,
                amount=amount,
                currency="TWD",
                status=status,
            )
        )
        session.commit()


# The groups ------------------------------------------------------------------------------


def test_callbacks_due_now_and_later_today_in_time_order_on_own_cases_only(app, staff):
    me = staff["agent"]
    overdue = owned(app, me)
    soon = owned(app, me)
    later = owned(app, me)
    tomorrow = owned(app, me)
    theirs = owned(app, staff["other"])
    callback(app, soon, NOW + timedelta(minutes=20))
    callback(app, overdue, NOW - timedelta(minutes=40))
    callback(app, later, NOW + timedelta(hours=3), by=AGENT)
    # The console's day (Taipei, 10:00 now) ends at 16:00 UTC.
    callback(app, tomorrow, NOW + timedelta(hours=15))
    callback(app, theirs, NOW)
    work = work_of(app, me)
    assert ids(work, Group.CALLBACKS) == [overdue, soon]
    assert work.group(Group.CALLBACKS).total == 2
    assert ids(work, Group.LATER_TODAY) == [later]
    # A callback the borrower asked for from the portal says so.
    assert work.group(Group.CALLBACKS).rows[0].item.detail == "portal"
    assert work.group(Group.LATER_TODAY).rows[0].item.detail == "agent"
    # A canceled one is gone.
    with app.app_context():
        session = db.session()
        callbacks.cancel_callback(session, session.get(Case, overdue), NOW, "borrower")
        session.commit()
    assert ids(work_of(app, me), Group.CALLBACKS) == [soon]


def test_promises_due_today_on_the_borrowers_today_and_broken_ones_until_dealt_with(app, staff):
    me = staff["agent"]
    small = owned(app, me)
    big = owned(app, me)
    yesterday = owned(app, me)
    kept = owned(app, me)
    # 02:00 UTC is still the 29th in Los Angeles: a promise for the 30th is not due yet.
    los_angeles = owned(app, me, timezone="America/Los_Angeles")
    promise(app, small, TODAY, 500)
    promise(app, big, TODAY, 9000)
    promise(app, yesterday, TODAY - timedelta(days=1))
    promise(app, kept, TODAY, status=PromiseStatus.KEPT)
    promise(app, los_angeles, TODAY)
    broken = owned(app, me)
    flag_id = flag(app, broken, FlagReason.PROMISE_BROKEN)
    work = work_of(app, me)
    assert ids(work, Group.PROMISES_DUE) == [big, small]
    assert ids(work, Group.PROMISES_BROKEN) == [broken]
    # At 03:00 in Los Angeles (19:00 in Taipei) it is due there too; largest first.
    later = work_of(app, me, NOW + timedelta(hours=9))
    assert ids(later, Group.PROMISES_DUE) == [big, los_angeles, small]
    with app.app_context():
        session = db.session()
        flags.clear_flag(session, session.get(Case, broken), flag_id, NOW, AGENT, "called")
        session.commit()
    assert ids(work_of(app, me), Group.PROMISES_BROKEN) == []


def test_holds_to_review_and_for_a_supervisor_disputes_awaiting_sign_off(app, staff):
    me = staff["agent"]
    first = owned(app, me)
    second = owned(app, me)
    declare(app, first, "dispute")
    ended = owned(app, me)
    flag(app, ended, FlagReason.HOLD_ENDED, NOW + timedelta(minutes=1))
    declare(app, second, "hardship")  # raised at NOW too: the older flag id first
    theirs = owned(app, staff["other"])
    declare(app, theirs, "dispute")
    work = work_of(app, me)
    assert ids(work, Group.HOLDS) == [first, second, ended]
    assert work.group(Group.HOLDS).rows[0].item.detail == "dispute"
    assert work.group(Group.HOLDS).rows[0].item.on is not None  # its review-by date
    assert work.group(Group.SIGN_OFF) is None  # an agent signs nothing off
    with app.test_request_context("/"):
        session = db.session()
        from portal.cases import holds
        from portal.models import DisputeResolution

        agent = session.get(StaffMember, staff["other"])
        holds.propose(
            session, session.get(Case, theirs), agent, DisputeResolution.REJECTED, "x", NOW
        )
    boss = work_of(app, staff["boss"])
    assert ids(boss, Group.SIGN_OFF) == [theirs]
    # An agent, the maker of the proposal, has no sign-off group.
    assert worklist.Group.SIGN_OFF not in [g.key for g in work_of(app, staff["other"]).groups]


def test_flagged_for_an_agent_holds_the_other_reasons_oldest_first(app, staff):
    me = staff["agent"]
    locked = owned(app, me)
    asked = owned(app, me)
    broken = owned(app, me)
    flag(app, asked, FlagReason.AGENT, NOW - timedelta(hours=1))
    flag(app, locked, FlagReason.VERIFICATION_LOCKED)
    flag(app, broken, FlagReason.PROMISE_BROKEN)
    work = work_of(app, me)
    assert ids(work, Group.FLAGGED) == [asked, locked]
    assert [row.item.why for row in work.group(Group.FLAGGED).rows] == [
        "agent",
        "verification_locked",
    ]
    assert all(row.item.flag_id for row in work.group(Group.FLAGGED).rows)


def test_borrower_replies_are_what_they_sent_since_the_case_was_last_worked(app, staff):
    me = staff["agent"]
    disputed = owned(app, me)
    asked = owned(app, me)
    worked = owned(app, me)
    agent_asked = owned(app, me)
    declare(app, disputed, "dispute")
    callback(app, asked, NOW + timedelta(days=1))
    callback(app, agent_asked, NOW + timedelta(days=1), by=AGENT)  # not the borrower's
    callback(app, worked, NOW + timedelta(days=1))
    with app.app_context():
        session = db.session()
        case = session.get(Case, worked)
        gate.record_attempt(session, case, Channel.CALL, NOW, AGENT)  # worked after it
        session.commit()
    work = work_of(app, me)
    replies = work.group(Group.REPLIES)
    assert sorted(ids(work, Group.REPLIES)) == sorted([disputed, asked])
    assert {row.item.why for row in replies.rows} == {"hold", "callback_asked"}
    # The system's reminder is not the case being worked.
    with app.app_context():
        session = db.session()
        gate.record_attempt(session, session.get(Case, asked), Channel.SMS, NOW, "system")
        session.commit()
    assert asked in ids(work_of(app, me), Group.REPLIES)


def test_the_top_cases_are_the_queues_order_and_every_group_is_capped(app, staff):
    me = staff["agent"]
    made = [owned(app, me, days_past_due=days) for days in (5, 90, 30, 60)]
    for day in range(12):
        flag(app, owned(app, me, days_past_due=1), FlagReason.AGENT, NOW + timedelta(seconds=day))
    owned(app, staff["other"], days_past_due=400)
    work = work_of(app, me)
    top = ids(work, Group.TOP)
    assert top[:4] == [made[1], made[3], made[2], made[0]]
    assert len(top) == worklist.SHOWN
    assert work.group(Group.TOP).total == 16
    assert work.group(Group.TOP).queue_args == {"owner": str(me)}
    assert work.group(Group.FLAGGED).total == 12
    assert len(work.group(Group.FLAGGED).rows) == worklist.SHOWN


def test_the_page_costs_the_same_statements_whatever_the_rows(app, staff):
    from sqlalchemy import event

    me = staff["agent"]

    def statements() -> int:
        count = 0

        def seen(*_args) -> None:
            nonlocal count
            count += 1

        engine = app.extensions["haohuan.engine"]
        event.listen(engine, "before_cursor_execute", seen)
        try:
            work_of(app, me)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        return count

    case_id = owned(app, me)
    flag(app, case_id, FlagReason.AGENT)
    statements()  # the first read of the policy records its version 1 (once, ever)
    few = statements()
    for _ in range(8):
        more = owned(app, me)
        flag(app, more, FlagReason.AGENT)
        callback(app, more, NOW)
        promise(app, more, TODAY)
    assert statements() == few


# The pages -------------------------------------------------------------------------------


def test_signing_in_lands_on_my_work_with_a_next_case_button(app, client, staff):
    me = staff["agent"]
    case_id = owned(app, me)
    flag(app, case_id, FlagReason.AGENT)
    response = staff_sign_in(client, email=AGENT)
    assert response.headers["Location"] == "/staff/"
    landing = client.get("/staff/")
    assert landing.headers["Location"] == "/agent/my-work"
    page = client.get("/agent/my-work")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="/agent/next-case"' in html
    assert "陳怡君" not in html  # masked as the queue masks it
    assert 'id="flag-' in html
    assert 'href="/agent/my-work"' in html  # the console's nav


def test_a_flag_is_cleared_with_a_note_audited_and_only_on_ones_own_case(app, client, staff):
    me = staff["agent"]
    mine = owned(app, me)
    theirs = owned(app, staff["other"])
    my_flag = flag(app, mine, FlagReason.AGENT)
    their_flag = flag(app, theirs, FlagReason.AGENT)
    staff_sign_in(client, email=AGENT)
    # No note: refused, nothing cleared.
    blank = client.post(f"/agent/my-work/flags/{my_flag}/clear", data={"note": "   "})
    assert blank.status_code == 422
    refused = client.post(f"/agent/my-work/flags/{their_flag}/clear", data={"note": "mine now"})
    assert refused.status_code == 403
    missing = client.post("/agent/my-work/flags/999999/clear", data={"note": "x"})
    assert missing.status_code == 404
    done = client.post(f"/agent/my-work/flags/{my_flag}/clear", data={"note": "called them"})
    assert done.status_code == 303
    again = client.post(
        f"/agent/my-work/flags/{my_flag}/clear?lang=en",
        data={"note": "again"},
        headers={"HX-Request": "true"},
    )
    assert "already dealt with" in again.get_data(as_text=True)
    with app.app_context():
        session = db.session()
        cleared = session.get(CaseFlag, my_flag)
        assert (cleared.clear_note, cleared.cleared_by) == ("called them", AGENT)
        assert session.get(CaseFlag, their_flag).cleared_at is None
        assert session.get(Case, mine).needs_agent is False
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("flag.clear") == 1


def test_with_htmx_clearing_a_flag_answers_the_rows_new_text(app, client, staff):
    case_id = owned(app, staff["agent"])
    flag_id = flag(app, case_id, FlagReason.VERIFICATION_LOCKED)
    staff_sign_in(client, email=AGENT)
    response = client.post(
        f"/agent/my-work/flags/{flag_id}/clear",
        data={"note": "unlocked"},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.strip().startswith("<td")
    assert "<html" not in html


def test_a_supervisor_clears_any_flag_and_views_any_agents_work_audited(app, client, staff):
    case_id = owned(app, staff["agent"])
    flag_id = flag(app, case_id, FlagReason.AGENT)
    staff_sign_in(client, email=BOSS)
    page = client.get(f"/agent/my-work?agent={staff['agent']}")
    assert page.status_code == 200
    assert f"flag-{flag_id}" in page.get_data(as_text=True)
    assert client.get("/agent/my-work?agent=987654").status_code == 404
    assert client.get("/agent/my-work?agent=%C2%B2").status_code == 404
    done = client.post(f"/agent/my-work/flags/{flag_id}/clear", data={"note": "checked"})
    assert done.status_code == 303
    with app.app_context():
        entries = db.session().scalars(
            select(AuditEntry).where(AuditEntry.action == "my_work.view")
        )
        assert [entry.details["agent_id"] for entry in entries] == [staff["agent"]]


def test_an_agent_cannot_open_another_agents_work(app, client, staff):
    staff_sign_in(client, email=AGENT)
    assert client.get(f"/agent/my-work?agent={staff['other']}").status_code == 403
    assert client.get(f"/agent/my-work?agent={staff['agent']}").status_code == 200


def test_a_callback_is_canceled_with_a_note_on_ones_own_case_only(app, client, staff):
    mine = owned(app, staff["agent"])
    theirs = owned(app, staff["other"])
    my_callback = callback(app, mine, NOW)
    their_callback = callback(app, theirs, NOW)
    staff_sign_in(client, email=AGENT)
    refused = client.post(f"/agent/my-work/callbacks/{their_callback}/cancel", data={"note": "x"})
    assert refused.status_code == 403
    assert client.post(f"/agent/my-work/callbacks/{my_callback}/cancel", data={}).status_code == 422
    done = client.post(f"/agent/my-work/callbacks/{my_callback}/cancel", data={"note": "paid"})
    assert done.status_code == 303
    with app.app_context():
        session = db.session()
        assert session.get(Callback, my_callback).status is CallbackStatus.CANCELED
        assert session.get(Callback, their_callback).status is CallbackStatus.OPEN
        event = session.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == mine, CaseEvent.kind == "callback_canceled"
            )
        ).one()
        assert event.data["note"] == "paid"
        assert "callback.cancel" in session.scalars(select(AuditEntry.action)).all()


# Next case -------------------------------------------------------------------------------


def next_for(app, owner_id: int, moment=NOW) -> worklist.NextCase:
    with app.test_request_context("/"):
        session = db.session()
        return worklist.find_next(session, session.get(StaffMember, owner_id), moment)


def cap_calls(app, case_id: int) -> None:
    """Call attempts up to the borrower's 7-day cap, none connected, on earlier days."""
    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        rules = gate.borrower_rules(case.loan.borrower, case.loan.currency)
        for day in range(rules.max_call_attempts_per_7_days):
            at = NOW - timedelta(days=1 + day % 5, minutes=day)
            gate.record_attempt(session, case, Channel.CALL, at, OTHER)
        session.commit()


def test_next_case_never_offers_a_case_the_rules_forbid_now(app, staff):
    me = staff["agent"]
    # Most days past due first, but each of these may not be called at 10:00 Taipei time.
    night = owned(app, me, days_past_due=300, timezone="America/New_York")  # 21:00 there
    held = owned(app, me, days_past_due=250, hold="dispute")
    opted = owned(app, me, days_past_due=200)
    capped = owned(app, me, days_past_due=150)
    with app.app_context():
        session = db.session()
        gate.record_opt_out(
            session, session.get(Case, opted).loan.borrower_id, Channel.CALL, NOW, "agent"
        )
        session.commit()
    cap_calls(app, capped)
    right = owned(app, me, days_past_due=40)
    owned(app, me, days_past_due=20)
    owned(app, staff["other"], days_past_due=500)  # another agent's
    found = next_for(app, me)
    assert found.case_id == right
    with app.app_context():
        session = db.session()
        for case_id in (night, held, opted, capped):
            assert not gate.judge(session, session.get(Case, case_id), Channel.CALL, NOW).allowed
        assert gate.judge(session, session.get(Case, right), Channel.CALL, NOW).allowed


def test_next_case_says_why_and_when_when_nobody_may_be_called(app, staff):
    me = staff["agent"]
    assert next_for(app, me).reason is worklist.NoCase.NONE_OWNED
    owned(app, me, timezone="America/New_York")
    owned(app, me, hold="hardship")
    found = next_for(app, me)
    assert found.case_id is None
    assert found.reason is worklist.NoCase.NONE_NOW
    # 08:00 in New York the next morning.
    assert found.allowed_from is not None
    local = found.allowed_from.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert (local.hour, local.minute, local.day) == (8, 0, 30)


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_next_case_agrees_with_the_gate_at_every_hour(app, staff, hour):
    me = staff["agent"]
    zones = [
        "Asia/Taipei",
        "Asia/Shanghai",
        "Asia/Hong_Kong",
        "America/Los_Angeles",
        "America/New_York",
    ]
    made = [
        owned(app, me, days_past_due=100 - index, timezone=zone) for index, zone in enumerate(zones)
    ]
    moment = NOW.replace(hour=hour)
    found = next_for(app, me, moment)
    with app.app_context():
        session = db.session()
        allowed = [
            case_id
            for case_id in made
            if gate.judge(session, session.get(Case, case_id), Channel.CALL, moment).allowed
        ]
    assert found.case_id == (allowed[0] if allowed else None)


def test_judge_many_gives_judges_answer_for_every_case(app, staff):
    me = staff["agent"]
    made = [
        owned(app, me, timezone="America/New_York"),
        owned(app, me, hold="dispute"),
        owned(app, me),
        owned(app, me, currency="CNY", timezone="Asia/Shanghai"),
    ]
    cap_calls(app, made[2])
    # A borrower at work 09:00-18:00 on weekdays, who asked not to be called then.
    at_work = owned(app, me)
    with app.app_context():
        session = db.session()
        session.add(
            QuietHours(
                borrower_id=session.get(Case, at_work).loan.borrower_id,
                days=0b0011111,
                start_minute=9 * 60,
                end_minute=18 * 60,
                set_at=NOW,
            )
        )
        session.commit()
    made.append(at_work)
    for moment in (NOW, NOW + timedelta(hours=7), NOW + timedelta(hours=13)):
        with app.app_context():
            session = db.session()
            many = gate.judge_many(session, made, Channel.CALL, moment)
            for case_id in made:
                one = gate.judge(session, session.get(Case, case_id), Channel.CALL, moment)
                assert many[case_id] == one
    with app.app_context():
        asleep = gate.judge_many(db.session(), [at_work], Channel.CALL, NOW)[at_work]
        assert not asleep.allowed  # 10:00 on a Monday in Taipei: at work


def test_the_next_case_button_opens_the_case_and_is_audited(app, client, staff):
    me = staff["agent"]
    case_id = owned(app, me)
    staff_sign_in(client, email=AGENT)
    response = client.post("/agent/next-case")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/agent/cases/{case_id}"
    assert client.get("/agent/next-case").status_code == 405
    with app.app_context():
        entry = (
            db.session().scalars(select(AuditEntry).where(AuditEntry.action == "case.next")).one()
        )
        assert entry.case_id == case_id


def test_the_next_case_button_says_when_nobody_may_be_called(app, client, staff):
    owned(app, staff["agent"], timezone="America/New_York")
    staff_sign_in(client, email=AGENT)
    response = client.post("/agent/next-case?lang=en")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nobody you own may be called now." in html
    assert "The next allowed moment is" in html


def test_two_agents_never_get_the_same_case(app, staff):
    mine = owned(app, staff["agent"], days_past_due=10)
    theirs = owned(app, staff["other"], days_past_due=90)
    assert next_for(app, staff["agent"]).case_id == mine
    assert next_for(app, staff["other"]).case_id == theirs
    # A supervisor takes from their own cases only, never another's or unowned ones.
    build_case(app, days_past_due=500)
    assert next_for(app, staff["boss"]).reason is worklist.NoCase.NONE_OWNED


def test_next_case_skips_borrowers_asleep_in_sql_after_the_first_batch(app, staff, monkeypatch):
    me = staff["agent"]
    monkeypatch.setattr(worklist, "BATCH", 3)
    for index in range(8):  # more days past due, but 21:00 in New York
        owned(app, me, days_past_due=300 - index, timezone="America/New_York")
    awake = owned(app, me, days_past_due=10)
    found = next_for(app, me)
    assert found.case_id == awake
    # Only the awake one reached the gate, and after the first batch the sleeping ones
    # were left out by SQL: 3 rows read, then the awake one.
    assert (found.judged, found.read) == (1, 4)
