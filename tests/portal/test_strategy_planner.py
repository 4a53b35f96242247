"""``haohuan strategy run``: each event and offset at frozen times across time zones, the
contact rules deciding when (or whether) each planned message goes, tasks for owners,
arms recorded, idempotency (also under concurrent runs on PostgreSQL), catch-up, dry
runs, the pause switch, and a property: no planned message breaks the contact gate."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from negotiation.contact import Channel
from negotiation.strategy import default_document
from portal import create_app
from portal.cli import cli
from portal.contact.gate import judge
from portal.core import db
from portal.messaging.service import opt_out
from portal.models import (
    Borrower,
    Callback,
    CallbackSource,
    CallbackStatus,
    Case,
    CaseEvent,
    CaseFlag,
    ExperimentAssignment,
    FlagReason,
    Loan,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    Plan,
    PlanInstallment,
    PlannedStatus,
    PlannedStep,
    Promise,
    PromiseStatus,
    ReminderLink,
    StrategyRun,
    VerificationAttempt,
)
from portal.strategy import planner, versions

from .factories import NOW, TODAY, app_config, build_case, notice_sent

EMAIL = "chen.yijun@example.com"


def _doc(*steps: dict[str, Any], experiments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": "test", "steps": list(steps), "experiments": experiments or []}


def _step(name: str, event: str, days: int, channels: list[str], **more: Any) -> dict[str, Any]:
    template = more.pop("template", "reminder")
    return {
        "name": name,
        "event": event,
        "days": days,
        "channels": channels,
        "template": template,
        **more,
    }


def _case(app: Flask, days: int = 1, **changes: Any) -> int:
    """An overdue case as the daily work leaves it: days past due counted from
    ``overdue_since``, its stage set; borrower fields in ``changes``."""
    built = build_case(app, days_past_due=days, timezone=changes.pop("timezone", "Asia/Taipei"))
    with app.app_context():
        session = db.session()
        case = session.get_one(Case, built.case_id)
        case.overdue_since = TODAY - timedelta(days=days) if days else None
        case.stage = (
            "current" if not days else "early" if days <= 30 else "mid" if days <= 90 else "late"
        )
        borrower = case.loan.borrower
        for key, value in changes.items():
            setattr(borrower if hasattr(Borrower, key) else case, key, value)
        session.commit()
    return built.case_id


def _run(
    app: Flask,
    document: dict[str, Any] | None = None,
    *,
    as_of: date = TODAY,
    now: datetime = NOW,
    dry_run: bool = False,
) -> planner.RunSummary:
    with app.test_request_context("/"):
        return planner.run(
            db.session(), document or default_document(), as_of, now, dry_run=dry_run
        )


def _planned(app: Flask, case_id: int) -> list[PlannedStep]:
    with app.app_context():
        rows = db.session().scalars(
            select(PlannedStep).where(PlannedStep.case_id == case_id).order_by(PlannedStep.id)
        )
        return list(rows)


def _messages(app: Flask, case_id: int) -> list[Message]:
    with app.app_context():
        rows = db.session().scalars(
            select(Message)
            .where(Message.case_id == case_id, Message.created_by == "strategy")
            .order_by(Message.id)
        )
        return list(rows)


ONE_SMS = _doc(_step("day1", "overdue", 1, ["sms", "email"]))


def test_the_day_1_sms_is_planned_once_for_the_overdue_spell(app: Flask) -> None:
    case_id = _case(app, 1)
    first = _run(app, ONE_SMS)
    assert first.as_json() == {
        "planned": 1,
        "by_step": {"day1": 1},
        "by_channel": {"sms": 1},
        "by_variant": {},
        "skipped": {},
        "scheduled_later": 0,
    }
    (message,) = _messages(app, case_id)
    assert (message.channel, message.purpose, message.status) == ("sms", "reminder", "scheduled")
    # 10:00 in Taipei is the step's time: the frozen now.
    assert message.send_at == NOW
    (step,) = _planned(app, case_id)
    assert (step.step, step.status, step.message_id) == ("day1", PlannedStatus.QUEUED, message.id)
    assert step.occurrence == f"od:{TODAY - timedelta(days=1)}"
    again = _run(app, ONE_SMS)
    assert again.planned == 0
    assert again.skipped == {}
    assert len(_messages(app, case_id)) == 1


def test_a_case_on_another_day_past_due_is_not_planned_for_day_1(app: Flask) -> None:
    for days in (0, 2, 3, 30):
        _case(app, days)
    assert _run(app, ONE_SMS).planned == 0


def test_los_angeles_gets_its_message_at_ten_in_the_morning_there(app: Flask) -> None:
    case_id = _case(app, 1, timezone="America/Los_Angeles", jurisdiction="US-CA")
    notice_sent(app, case_id)
    _run(app, ONE_SMS)
    (message,) = _messages(app, case_id)
    assert message.send_at == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def test_a_us_borrower_without_the_validation_notice_gets_email_not_sms(app: Flask) -> None:
    case_id = _case(app, 1, timezone="America/New_York", jurisdiction="US-NY", email=EMAIL)
    _run(app, ONE_SMS)
    (message,) = _messages(app, case_id)
    assert message.channel == "email"
    bare = _case(app, 1, timezone="America/New_York", jurisdiction="US-NY")
    summary = _run(app, ONE_SMS)
    assert summary.skipped == {"validation_notice_pending": 1}
    assert _messages(app, bare) == []


def test_at_night_the_message_waits_for_the_morning(app: Flask) -> None:
    case_id = _case(app, 1)
    late = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 in Taipei
    summary = _run(app, ONE_SMS, now=late)
    assert summary.scheduled_later == 1
    (message,) = _messages(app, case_id)
    # Taiwan's allowed hours start at 07:00.
    assert message.send_at == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert _planned(app, case_id)[0].status is PlannedStatus.DEFERRED


def test_an_open_promise_suppresses_overdue_reminders(app: Flask) -> None:
    case_id = _case(app, 1)
    with app.app_context():
        db.session().add(
            Promise(
                case_id=case_id,
                made_by="agent@haohuan.example",
                made_at=NOW,
                due_date=TODAY + timedelta(days=5),
                amount=1000,
                currency="TWD",
            )
        )
        db.session().commit()
    summary = _run(app, ONE_SMS)
    assert summary.skipped == {"open_promise": 1}
    assert _messages(app, case_id) == []
    (step,) = _planned(app, case_id)
    assert (step.status, step.reason) == (PlannedStatus.SKIPPED, "open_promise")


def test_a_hold_skips_the_step_for_good(app: Flask) -> None:
    _case(app, 1, hold="dispute")
    assert _run(app, ONE_SMS).skipped == {"on_hold": 1}


def test_opted_out_of_sms_falls_back_to_email(app: Flask) -> None:
    case_id = _case(app, 1, email=EMAIL)
    with app.test_request_context("/"):
        borrower_id = db.session().get_one(Case, case_id).loan.borrower_id
        opt_out(db.session(), borrower_id, Channel.SMS, NOW, source="link")
    _run(app, ONE_SMS)
    (message,) = _messages(app, case_id)
    assert (message.channel, message.address) == ("email", EMAIL)


def test_no_way_to_reach_the_borrower_is_skipped_with_the_reason(app: Flask) -> None:
    _case(app, 1, phone="")
    assert _run(app, ONE_SMS).skipped == {"no_address": 1}


def test_the_days_caps_move_a_third_message_to_a_later_day(app: Flask) -> None:
    case_id = _case(app, 1)
    three = _doc(*(_step(f"s{n}", "overdue", 1, ["sms"]) for n in range(3)))
    summary = _run(app, three)
    assert summary.planned == 3
    assert summary.scheduled_later == 1
    sends = sorted(message.send_at for message in _messages(app, case_id))
    # Two messages a day (the lender's cap): the third goes at 07:00 the next day.
    assert sends[:2] == [NOW, NOW]
    assert sends[2] == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_a_call_step_is_a_callback_in_the_owners_work_list(app: Flask) -> None:
    case_id = _case(app, 5)
    summary = _run(app, _doc(_step("call5", "overdue", 5, ["call"])))
    assert summary.by_channel == {"call": 1}
    with app.app_context():
        (callback,) = db.session().scalars(select(Callback).where(Callback.case_id == case_id))
        assert callback.source is CallbackSource.STRATEGY
        assert callback.status is CallbackStatus.OPEN
        assert callback.due_at == NOW
    (step,) = _planned(app, case_id)
    assert (step.status, step.callback_id) == (PlannedStatus.TASK, callback.id)


def test_a_call_step_keeps_the_callback_the_borrower_asked_for(app: Flask) -> None:
    case_id = _case(app, 5)
    with app.app_context():
        borrower_asked = Callback(
            case_id=case_id,
            due_at=NOW + timedelta(hours=3),
            source=CallbackSource.BORROWER,
            requested_by="borrower",
            requested_at=NOW,
        )
        db.session().add(borrower_asked)
        db.session().commit()
        kept = borrower_asked.id
    _run(app, _doc(_step("call5", "overdue", 5, ["call"])))
    assert _planned(app, case_id)[0].callback_id == kept
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Callback)) == 1


def test_a_letter_step_asks_the_owner_for_a_letter(app: Flask) -> None:
    case_id = _case(app, 31, postal_address="台北市信義區松仁路100號")
    with app.app_context():
        case = db.session().get_one(Case, case_id)
        db.session().add(
            CaseEvent(
                case_id=case_id,
                kind="stage_changed",
                actor="system",
                at=NOW,
                data={"as_of": str(TODAY), "from": "early", "to": "mid"},
            )
        )
        db.session().commit()
        assert case.id == case_id
    letter = _step("mid_letter", "stage_entry", 0, ["letter"], when={"stages": ["mid"]})
    summary = _run(app, _doc(letter))
    assert summary.by_channel == {"letter": 1}
    with app.app_context():
        flag = db.session().scalar(select(CaseFlag).where(CaseFlag.case_id == case_id))
        assert flag is not None
        assert flag.reason is FlagReason.LETTER_DUE
        assert db.session().get_one(Case, case_id).needs_agent


def test_a_stage_entry_step_is_for_entries_into_its_stage_only(app: Flask) -> None:
    case_id = _case(app, 91)
    with app.app_context():
        db.session().add(
            CaseEvent(
                case_id=case_id,
                kind="stage_changed",
                actor="system",
                at=NOW,
                data={"as_of": str(TODAY), "from": "mid", "to": "late"},
            )
        )
        db.session().commit()
    mid = _step("mid_sms", "stage_entry", 0, ["sms"], when={"stages": ["mid"]})
    assert _run(app, _doc(mid)).planned == 0


def _plan(
    app: Flask, case_id: int, due: list[date], *, missed: dict[int, date] | None = None
) -> int:
    with app.app_context():
        session = db.session()
        plan = Plan(
            case_id=case_id,
            status="active",
            kind="arrears_plan",
            currency="TWD",
            restructured=3000,
            total=3000,
            accepted_at=NOW - timedelta(days=40),
        )
        for sequence, day in enumerate(due, start=1):
            plan.installments.append(
                PlanInstallment(
                    sequence=sequence,
                    due_date=day,
                    amount=1000,
                    missed_on=(missed or {}).get(sequence),
                )
            )
        session.add(plan)
        case = session.get_one(Case, case_id)
        case.status = "arranged"
        session.commit()
        return plan.id


def test_plan_installments_three_days_ahead_and_missed_today(app: Flask) -> None:
    ahead = _case(app, 0)
    _plan(app, ahead, [TODAY + timedelta(days=3), TODAY + timedelta(days=33)])
    missed = _case(app, 0)
    _plan(
        app,
        missed,
        [TODAY - timedelta(days=6), TODAY + timedelta(days=25)],
        missed={1: TODAY - timedelta(days=1)},
    )
    document = _doc(
        _step("plan_due_3", "plan_due", 3, ["sms"], template="plan_due"),
        _step("plan_missed_0", "plan_missed", 0, ["sms"], template="plan_missed"),
    )
    summary = _run(app, document)
    assert summary.by_step == {"plan_due_3": 1, "plan_missed_0": 1}
    assert [m.purpose for m in _messages(app, ahead)] == ["plan_due"]
    assert [m.purpose for m in _messages(app, missed)] == ["plan_missed"]


def test_the_day_the_daily_work_finds_a_miss_is_the_plan_missed_steps_day(app: Flask) -> None:
    from portal.cases.facts import policy
    from portal.cases.lifecycle import work_day

    case_id = _case(app, 0)
    # Due six days ago, five days' grace: shown "missed if unpaid on" yesterday.
    _plan(app, case_id, [TODAY - timedelta(days=6), TODAY + timedelta(days=24)])
    with app.test_request_context("/"):
        work_day(app.extensions["haohuan.engine"], policy(), TODAY, NOW)
    document = _doc(_step("plan_missed_0", "plan_missed", 0, ["sms"], template="plan_missed"))
    assert _run(app, document).by_step == {"plan_missed_0": 1}
    assert _run(app, document, as_of=TODAY + timedelta(days=1)).planned == 0


def test_a_miss_that_leaves_the_plan_one_miss_from_breaking(app: Flask) -> None:
    risky = _case(app, 0)
    _plan(
        app,
        risky,
        [TODAY - timedelta(days=6), TODAY + timedelta(days=25)],
        missed={1: TODAY - timedelta(days=1)},
    )
    summary = _run(app, _doc(_step("risk", "plan_at_risk", 0, ["sms"], template="plan_missed")))
    # The policy breaks a plan on its second miss: the first leaves it at risk.
    assert summary.by_step == {"risk": 1}


def test_promises_due_tomorrow_and_broken_today(app: Flask) -> None:
    due = _case(app, 10)
    broken = _case(app, 10)
    with app.app_context():
        session = db.session()
        session.add(
            Promise(
                case_id=due,
                made_by="a@haohuan.example",
                made_at=NOW,
                amount=500,
                currency="TWD",
                due_date=TODAY + timedelta(days=1),
            )
        )
        session.add(
            Promise(
                case_id=broken,
                made_by="a@haohuan.example",
                made_at=NOW,
                amount=500,
                currency="TWD",
                due_date=TODAY - timedelta(days=1),
                status=PromiseStatus.BROKEN,
                settled_on=TODAY,
            )
        )
        session.commit()
    document = _doc(
        _step(
            "promise_due_1",
            "promise_due",
            1,
            ["sms"],
            template="promise_due",
            when={"has_open_promise": True},
        ),
        _step("promise_broken_0", "promise_broken", 0, ["sms"], template="promise_broken"),
    )
    summary = _run(app, document)
    assert summary.by_step == {"promise_due_1": 1, "promise_broken_0": 1}
    assert [m.purpose for m in _messages(app, due)] == ["promise_due"]
    assert [m.purpose for m in _messages(app, broken)] == ["promise_broken"]


def _offer(app: Flask, case_id: int, created: datetime) -> int:
    with app.app_context():
        offer = Offer(
            case_id=case_id,
            status=OfferStatus.READY,
            terms={},
            created_by="a@haohuan.example",
            created_at=created,
            expires_at=created + timedelta(days=7),
        )
        db.session().add(offer)
        db.session().commit()
        return offer.id


def _opened(app: Flask, case_id: int, at: datetime, offer_id: int | None = None) -> None:
    with app.app_context():
        session = db.session()
        link = session.scalars(select(ReminderLink).where(ReminderLink.case_id == case_id)).first()
        assert link is not None
        link.offer_id = offer_id
        borrower_id = session.get_one(Case, case_id).loan.borrower_id
        session.add(
            VerificationAttempt(
                borrower_id=borrower_id, link_id=link.id, address_hash="x", succeeded=True, at=at
            )
        )
        session.commit()


def test_an_offer_nobody_opened_is_reminded_with_its_own_link(app: Flask) -> None:
    unopened = _case(app, 12)
    offer_id = _offer(app, unopened, NOW - timedelta(days=2))
    seen = _case(app, 12)
    _offer(app, seen, NOW - timedelta(days=2))
    _opened(app, seen, NOW - timedelta(days=1))
    summary = _run(app, _doc(_step("offer2", "offer_unopened", 2, ["sms"], template="offer")))
    assert summary.by_step == {"offer2": 1}
    (message,) = _messages(app, unopened)
    assert (message.purpose, message.offer_id) == ("offer", offer_id)


def test_a_link_opened_without_a_plan_is_followed_up_at_the_hour_it_was_opened(app: Flask) -> None:
    case_id = _case(app, 8, email=EMAIL)
    # Opened at 20:15 in Taipei two days ago; no plan since.
    _opened(app, case_id, datetime(2026, 11, 28, 12, 15, tzinfo=UTC))
    chose = _case(app, 8)
    _opened(app, chose, datetime(2026, 11, 28, 12, 15, tzinfo=UTC))
    with app.app_context():
        db.session().add(
            Plan(
                case_id=chose,
                status="pending",
                kind="arrears_plan",
                currency="TWD",
                restructured=1,
                total=1,
                accepted_at=datetime(2026, 11, 28, 12, 30, tzinfo=UTC),
            )
        )
        db.session().commit()
    step = _step("nudge", "link_no_plan", 2, ["email"], template="followup", send_at="last_opened")
    summary = _run(app, _doc(step))
    assert summary.by_step == {"nudge": 1}
    (message,) = _messages(app, case_id)
    assert message.send_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 20:00 in Taipei


def test_a_courtesy_reminder_before_a_regular_installment(app: Flask) -> None:
    current = _case(app, 0)
    with app.app_context():
        loan_id = db.session().get_one(Case, current).loan_id
        due = db.session().scalars(select(PlanInstallment).limit(0)).all()
        assert due == []
        from portal.models import LoanInstallment

        installment = (
            db.session()
            .scalars(
                select(LoanInstallment)
                .where(LoanInstallment.loan_id == loan_id, LoanInstallment.principal_paid == 0)
                .order_by(LoanInstallment.due_date)
            )
            .first()
        )
        assert installment is not None
        installment.due_date = TODAY + timedelta(days=3)
        db.session().commit()
    overdue = _case(app, 20)
    summary = _run(app, _doc(_step("courtesy3", "before_due", 3, ["sms"], template="courtesy")))
    assert summary.by_step == {"courtesy3": 1}
    assert [m.purpose for m in _messages(app, current)] == ["courtesy"]
    assert _messages(app, overdue) == []


def test_the_first_run_plans_its_own_day_and_later_runs_catch_up(app: Flask) -> None:
    yesterday_case = _case(app, 2)  # its day 1 was yesterday
    assert _run(app, ONE_SMS).planned == 0
    # A run finished three days ago, none since: yesterday's day-1 step is caught up.
    with app.app_context():
        db.session().query(StrategyRun).delete()
        db.session().add(
            StrategyRun(
                as_of=TODAY - timedelta(days=3),
                version=1,
                started_at=NOW,
                finished_at=NOW,
                summary={},
            )
        )
        db.session().commit()
    assert _run(app, ONE_SMS).planned == 1
    assert len(_messages(app, yesterday_case)) == 1


def test_a_dry_run_plans_and_keeps_nothing(app: Flask) -> None:
    case_id = _case(app, 1)
    summary = _run(app, ONE_SMS, dry_run=True)
    assert summary.planned == 1
    assert _messages(app, case_id) == []
    assert _planned(app, case_id) == []
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(StrategyRun)) == 0
    assert _run(app, ONE_SMS).planned == 1


def test_a_paused_strategy_plans_nothing_until_resumed(app: Flask) -> None:
    case_id = _case(app, 1)
    with app.test_request_context("/"):
        assert versions.set_paused(db.session(), True, "cli", NOW, "new wording under review")
        assert not versions.set_paused(db.session(), True, "cli", NOW)
    summary = _run(app, ONE_SMS)
    assert summary.paused
    assert summary.planned == 0
    assert _messages(app, case_id) == []
    with app.test_request_context("/"):
        versions.set_paused(db.session(), False, "cli", NOW)
    assert _run(app, ONE_SMS).planned == 1


def test_arms_are_recorded_with_what_was_owed_and_counted_by_variant(app: Flask) -> None:
    ids = [_case(app, 1) for _ in range(12)]
    summary = _run(app)
    with app.app_context():
        rows = (
            db.session()
            .scalars(select(ExperimentAssignment).order_by(ExperimentAssignment.case_id))
            .all()
        )
    assert [row.case_id for row in rows] == ids
    assert {row.arm for row in rows} <= {"champion", "plan-first"}
    assert all(row.arrears == 550_000 + 30_000 + 15_000 for row in rows)
    by_arm = {arm: sum(1 for row in rows if row.arm == arm) for arm in ("champion", "plan-first")}
    assert summary.by_variant == {f"day1-plan-first:{arm}": n for arm, n in by_arm.items() if n}
    for row in rows:
        (message,) = [m for m in _messages(app, row.case_id) if m.channel == "sms"]
        assert message.purpose == ("reminder_plan" if row.arm == "plan-first" else "reminder")


def test_the_command_prints_the_json_object_and_a_rerun_plans_nothing(app: Flask) -> None:
    _case(app, 1)
    _case(app, 3, email=EMAIL)
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    first = runner.invoke(cli, ["strategy", "run", "--json", "--as-of", str(TODAY)], obj=info)
    assert first.exit_code == 0, first.output
    printed = json.loads(first.output)
    assert set(printed) == {
        "planned",
        "by_step",
        "by_channel",
        "by_variant",
        "skipped",
        "scheduled_later",
    }
    assert printed["planned"] == 2
    assert printed["by_step"] == {"overdue_1_sms": 1, "overdue_3_email": 1}
    second = runner.invoke(cli, ["strategy", "run", "--json", "--as-of", str(TODAY)], obj=info)
    assert json.loads(second.output)["planned"] == 0
    dry = runner.invoke(cli, ["strategy", "run", "--dry-run", "--as-of", str(TODAY)], obj=info)
    assert "0 planned" in dry.output


@pytest.mark.postgres_only
def test_two_runs_at_once_plan_each_step_once(app: Flask, backend: str) -> None:
    for days in (1, 3, 5, 10, 20):
        for _ in range(30):
            _case(app, days, email=EMAIL)
    url = app.config["DATABASE_URL"]
    results: list[planner.RunSummary] = []
    errors: list[BaseException] = []
    # A barrier that gives up: a thread that fails before it cannot leave the other
    # waiting for ever.
    start = threading.Barrier(2, timeout=60)
    # The two apps are built here, one after the other: CPython 3.11's compile() is not
    # safe in two threads at once ("AST constructor recursion depth mismatch", which
    # werkzeug's routing meets as it compiles each rule), and the runs are what races.
    apps = [create_app(app_config(url)) for _ in range(2)]

    def one(other: Flask) -> None:
        try:
            start.wait()
            results.append(_run(other))
        except BaseException as error:
            errors.append(error)
        finally:
            other.extensions["haohuan.engine"].dispose()

    threads = [threading.Thread(target=one, args=(other,)) for other in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result.planned for result in results) == 150
    with app.app_context():
        session = db.session()
        assert session.scalar(select(func.count()).select_from(PlannedStep)) == 150
        assert session.scalar(select(func.count()).select_from(Message)) == 4 * 30
        doubled = session.execute(
            select(PlannedStep.case_id, PlannedStep.step, func.count())
            .group_by(PlannedStep.case_id, PlannedStep.step)
            .having(func.count() > 1)
        ).all()
        assert doubled == []


ZONES = [
    "Asia/Taipei",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "America/Los_Angeles",
    "America/New_York",
]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    borrowers=st.lists(
        st.tuples(
            st.sampled_from(ZONES),
            st.sampled_from([1, 3, 5, 10, 20]),
            st.integers(0, 3),  # messages already sent today
            st.booleans(),  # has an email
            st.booleans(),  # validation notice sent (for US borrowers)
        ),
        min_size=1,
        max_size=6,
    ),
    hour=st.integers(0, 23),
)
def test_no_planned_message_breaks_the_contact_gate(
    app: Flask, borrowers: list[tuple[str, int, int, bool, bool]], hour: int
) -> None:
    now = datetime(2026, 11, 30, hour, 7, tzinfo=UTC)
    case_ids = []
    for zone, days, sent, has_email, noticed in borrowers:
        place = {"America/Los_Angeles": "US-CA", "America/New_York": "US-NY"}.get(zone)
        changes: dict[str, Any] = {"timezone": zone, "email": EMAIL if has_email else None}
        if place:
            changes["jurisdiction"] = place
        case_id = _case(app, days, **changes)
        case_ids.append(case_id)
        if place and noticed:
            notice_sent(app, case_id, now - timedelta(days=1))
        with app.app_context():
            session = db.session()
            borrower_id = session.get_one(Case, case_id).loan.borrower_id
            for n in range(sent):
                from portal.contact.gate import record_attempt

                record_attempt(
                    session,
                    session.get_one(Case, case_id),
                    Channel.SMS,
                    now - timedelta(minutes=n + 1),
                    "system",
                    outcome="sent",
                )
            assert borrower_id
            session.commit()
    three = _doc(
        *(
            _step(f"s{n}", "overdue", days, ["sms", "email"])
            for n, days in enumerate([1, 3, 5, 10, 20])
        ),
        _step("twice", "overdue", 1, ["email", "sms"]),
    )
    _run(app, three, now=now)
    with app.test_request_context("/"):
        session = db.session()
        planned = session.scalars(
            select(Message).where(Message.created_by == "strategy", Message.case_id.in_(case_ids))
        ).all()
        for message in planned:
            case = session.get_one(Case, message.case_id)
            decision = judge(
                session,
                case,
                Channel(message.channel),
                message.send_at,
                excluding_message=message.id,
            )
            assert decision.allowed, (message.send_at, decision.reasons)
            assert message.send_at >= now
        session.rollback()
    # Clean for the next example: what this one planned stays out of its way.
    with app.app_context():
        session = db.session()
        for case_id in case_ids:
            session.get_one(Case, case_id).overdue_since = None
        session.commit()


def test_a_message_planned_is_sent_by_send_due_in_the_borrowers_language(app: Flask) -> None:
    case_id = _case(app, 1, locale="zh_Hans_CN")
    _run(app, ONE_SMS)
    with app.test_request_context("/"):
        from portal.messaging.service import dispatch_due

        done = dispatch_due(db.session(), NOW)
        assert done.sent == 1
    (message,) = _messages(app, case_id)
    assert message.status is MessageStatus.SENT
    assert message.locale.startswith("zh_Hans")
    assert "/r/" in (message.body or "")
    with app.app_context():
        loan = db.session().scalar(select(Loan).join(Case).where(Case.id == case_id))
        assert loan is not None


def test_the_case_page_shows_what_the_strategy_planned_and_the_cases_arm(app: Flask) -> None:
    from .factories import add_staff, staff_sign_in

    case_id = _case(app, 1)
    held = _case(app, 1, hold="dispute")
    _run(app)
    add_staff(app, "agent@haohuan.example", roles=("agent",))
    client = app.test_client()
    staff_sign_in(client, "agent@haohuan.example")
    page = client.get(f"/agent/cases/{case_id}?section=messages&lang=en").get_data(as_text=True)
    assert "The contact strategy for this case" in page
    assert "Day 1: SMS reminder" in page
    assert "Experiment day1-plan-first: arm " in page
    (message,) = _messages(app, case_id)
    assert f"/agent/messages/{message.id}" in page
    other = client.get(f"/agent/cases/{held}?section=messages&lang=zh_Hant_TW").get_data(
        as_text=True
    )
    assert "已略過" in other
    # The shipped strategy's labels read in the console's language.
    assert "第 1 天：簡訊提醒" in other


def test_a_whole_challenger_strategy_runs_its_own_steps_for_its_arm(app: Flask) -> None:
    ids = [_case(app, 2, email=EMAIL) for _ in range(16)]
    document = _doc(
        _step("sms_day2", "overdue", 2, ["sms"]),
        experiments=[
            {
                "name": "email-first",
                "arms": [
                    {"name": "champion", "weight": 50},
                    {
                        "name": "email",
                        "weight": 50,
                        "strategy": [_step("email_day2", "overdue", 2, ["email"])],
                    },
                ],
            }
        ],
    )
    summary = _run(app, document)
    with app.app_context():
        arms = dict(
            db.session()
            .execute(select(ExperimentAssignment.case_id, ExperimentAssignment.arm))
            .all()
        )
    assert set(arms) == set(ids)
    assert {"champion", "email"} == set(arms.values())
    for case_id in ids:
        (message,) = _messages(app, case_id)
        expected = "sms" if arms[case_id] == "champion" else "email"
        assert message.channel == expected
        (step,) = _planned(app, case_id)
        assert step.variant == f"email-first:{arms[case_id]}"
    assert summary.by_variant == {
        f"email-first:{arm}": sum(1 for a in arms.values() if a == arm)
        for arm in ("champion", "email")
    }
