"""The daily case work, with frozen dates: stages follow days past due, penalties accrue
on anniversaries, plans are watched (missed, broken, lapsed), holds pause everything,
and every day is worked once: a re-run changes nothing."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import event, func, select

from negotiation import EventKind, add_months
from portal.cases import lifecycle
from portal.cases.facts import policy, view_case
from portal.cli import cli
from portal.core import db
from portal.models import (
    Case,
    CaseEvent,
    LifecycleRun,
    LoanCharge,
    Payment,
    Plan,
    PlanInstallment,
)

from .factories import NOW, TODAY, build_case, sign_in, unwrapped
from .test_money_paths import accept_first, pay_due


def work(app, as_of: date) -> lifecycle.DayWork:
    with app.app_context():
        return lifecycle.work_day(app.extensions["haohuan.engine"], policy(), as_of, NOW)


def case_state(app, case_id: int) -> tuple[str, str, date | None]:
    with app.app_context():
        case = db.session().get(Case, case_id)
        return case.status, case.stage, case.overdue_since


def events_of(app, case_id: int, kind: str | None = None) -> list[CaseEvent]:
    with app.app_context():
        query = select(CaseEvent).where(CaseEvent.case_id == case_id)
        if kind:
            query = query.where(CaseEvent.kind == kind)
        found = db.session().scalars(query.order_by(CaseEvent.id)).all()
        db.session().expunge_all()
        return list(found)


def everything(app) -> tuple[int, ...]:
    """Counts of every row the daily work may write, and a digest of case states."""
    with app.app_context():
        session = db.session()
        counts = tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (CaseEvent, LoanCharge, Plan)
        )
        states = tuple(
            session.execute(
                select(Case.id, Case.status, Case.stage, Case.overdue_since).order_by(Case.id)
            )
        )
        plans = tuple(session.execute(select(Plan.id, Plan.status).order_by(Plan.id)))
        missed = tuple(
            session.execute(
                select(PlanInstallment.id, PlanInstallment.missed_on).order_by(PlanInstallment.id)
            )
        )
        return (*counts, hash((states, plans, missed)))


def test_a_day_moves_each_case_to_its_stage_once(app):
    current = build_case(app, days_past_due=0)
    early = build_case(app, days_past_due=10)
    mid = build_case(app, days_past_due=47)
    late = build_case(app, days_past_due=120)
    day = work(app, TODAY)
    assert (day.became_overdue, day.stages_changed) == (3, 3)
    assert case_state(app, current.case_id) == ("open", "current", None)
    assert case_state(app, early.case_id)[1:] == ("early", TODAY - timedelta(days=10))
    assert case_state(app, mid.case_id)[1] == "mid"
    assert case_state(app, late.case_id)[1] == "late"
    [changed] = events_of(app, late.case_id, "stage_changed")
    assert changed.data == {"as_of": "2026-11-30", "from": "current", "to": "late"}
    [overdue] = events_of(app, late.case_id, "became_overdue")
    assert overdue.data["since"] == str(TODAY - timedelta(days=120))

    before = everything(app)
    again = work(app, TODAY)
    assert again.changed == 0
    assert everything(app) == before


def test_the_stage_changes_on_the_day_the_threshold_is_crossed(app):
    built = build_case(app, days_past_due=29)
    work(app, TODAY)
    assert work(app, TODAY + timedelta(days=1)).stages_changed == 0  # 30 days: still early
    assert case_state(app, built.case_id)[1] == "early"
    assert work(app, TODAY + timedelta(days=2)).stages_changed == 1
    assert case_state(app, built.case_id)[1] == "mid"  # 31 days past due
    assert work(app, TODAY + timedelta(days=3)).stages_changed == 0


def test_each_changed_case_is_written_once_with_its_date_and_its_stage(app):
    """Every kind of change the overdue step makes (becoming overdue and entering a
    stage, a stage alone, the overdue date alone, caught up and back to current), on
    cases scattered among ones that do not change (so a batch reads them by key): each
    changed case gets one UPDATE, carrying both effects, and its events in the order the
    steps run."""
    filler = {"days_past_due": 0}
    built: dict[str, int] = {}
    for name, shape in (
        ("f1", filler),
        ("overdue_and_stage", {"days_past_due": 1}),
        ("f2", filler),
        ("f3", filler),
        ("stage_only", {"days_past_due": 31}),
        ("f4", filler),
        ("f5", filler),
        ("date_only", {"days_past_due": 70, "paid": 2}),
        ("f6", filler),
        ("f7", filler),
        ("cured", {"days_past_due": 10}),
    ):
        built[name] = build_case(app, **shape).case_id
    work(app, TODAY - timedelta(days=1))
    with app.app_context():
        session = db.session()
        for name, oldest_only in (("date_only", True), ("cured", False)):
            loan = session.get(Case, built[name]).loan
            owed = sorted(
                (i for i in loan.installments if i.due_date < TODAY and i.unpaid > 0),
                key=lambda i: i.due_date,
            )
            for installment in owed[:1] if oldest_only else owed:
                installment.principal_paid = installment.principal_due
                installment.interest_paid = installment.interest_due
        session.commit()
    before = {name: case_state(app, case_id) for name, case_id in built.items()}
    written: list[int] = []

    def count(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        sets = statement.upper().partition(" SET ")[2].partition(" WHERE ")[0]
        if statement.upper().startswith("UPDATE CASES") and (
            "OVERDUE_SINCE" in sets or "STAGE" in sets
        ):
            written.append(_cursor.rowcount)

    engine = app.extensions["haohuan.engine"]
    event.listen(engine, "after_cursor_execute", count)
    try:
        day = work(app, TODAY)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    after = {name: case_state(app, case_id) for name, case_id in built.items()}
    changed = {name for name in built if after[name] != before[name]}
    assert changed == {"overdue_and_stage", "stage_only", "date_only", "cured"}
    assert sum(written) == len(changed)  # each changed case written once, none twice
    assert (day.became_overdue, day.caught_up, day.stages_changed) == (1, 1, 3)
    assert after["overdue_and_stage"][1:] == ("early", TODAY - timedelta(days=1))
    assert (before["stage_only"][1], after["stage_only"][1]) == ("early", "mid")
    assert before["date_only"][1] == after["date_only"][1] == "mid"
    assert after["date_only"][2] > before["date_only"][2]
    assert after["cured"][1:] == ("current", None)
    kinds = {name: [e.kind for e in events_of(app, built[name])] for name in changed}
    assert kinds["overdue_and_stage"] == ["became_overdue", "stage_changed"]
    assert kinds["stage_only"][-2:] == ["stage_changed", "penalty_charged"]  # its anniversary
    assert kinds["cured"][-2:] == ["caught_up", "stage_changed"]
    assert work(app, TODAY).changed == 0


def test_a_payment_that_catches_up_returns_the_case_to_current(app):
    built = build_case(app, days_past_due=10, installments=6, paid=4)
    work(app, TODAY)
    with app.app_context():
        session = db.session()
        loan = session.get(Case, built.case_id).loan
        for installment in loan.installments:
            if installment.due_date < TODAY:
                installment.principal_paid = installment.principal_due
                installment.interest_paid = installment.interest_due
        session.commit()
    day = work(app, TODAY + timedelta(days=1))
    assert (day.caught_up, day.stages_changed) == (1, 1)
    assert case_state(app, built.case_id) == ("open", "current", None)


def test_penalties_accrue_on_the_anniversary_the_borrower_was_shown(app):
    # First missed 30 October: anniversary today. An odd principal, so that the rounding
    # (down, to the currency's step) is tested, not hidden by an exact division.
    built = build_case(app, days_past_due=31, principal_part=501_234)
    with app.test_request_context("/"):
        session = db.session()
        shown = view_case(session, session.get(Case, built.case_id), TODAY - timedelta(days=1))
        [promised] = [e for e in shown.timeline if e.kind is EventKind.PENALTY_ACCRUES]
    assert promised.date == TODAY
    work(app, TODAY - timedelta(days=1))
    assert work(app, TODAY).penalties == 1
    with app.app_context():
        charge = (
            db.session().scalars(select(LoanCharge).where(LoanCharge.charged_on == TODAY)).one()
        )
        assert (charge.kind, charge.amount) == ("penalty", promised.amount)
        assert charge.amount == 2_500  # 0.5% of NT$5,012.34 is 25.06: NT$25, whole dollars
    [told] = events_of(app, built.case_id, "penalty_charged")
    assert told.data["amount"] == 2_500
    assert work(app, TODAY).penalties == 0
    assert work(app, TODAY + timedelta(days=1)).penalties == 0


def test_an_anniversary_of_the_31st_falls_on_a_shorter_months_last_day(app):
    built = build_case(app, days_past_due=30, paid=0)  # first missed 31 October
    assert case_state(app, built.case_id)[2] is None
    assert work(app, TODAY).penalties == 1  # 30 November
    with app.app_context():
        since = db.session().get(Case, built.case_id).overdue_since
    assert since == date(2026, 10, 31)


def test_penalties_stop_at_the_policys_number(app):
    # First missed ten months ago: the tenth anniversary is beyond the nine allowed.
    build_case(app, days_past_due=(TODAY - add_months(TODAY, -10)).days)
    assert work(app, TODAY).penalties == 0


def test_a_hold_pauses_stages_and_penalties(app):
    held = build_case(app, days_past_due=31, hold="dispute")
    day = work(app, TODAY)
    assert (day.stages_changed, day.penalties) == (0, 0)
    assert case_state(app, held.case_id)[1] == "current"
    assert case_state(app, held.case_id)[2] is not None  # the facts are still kept


def test_an_arranged_case_does_not_escalate_and_a_broken_plan_re_escalates(app, client):
    built = build_case(app, days_past_due=25)
    work(app, TODAY)
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    pay_due(client)
    assert case_state(app, built.case_id)[:2] == ("arranged", "early")
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        dues = [i.due_date for i in plan.installments]
        waiver = plan.waived_penalties + plan.waived_fees
    grace = timedelta(days=5)
    # Past the mid threshold, still arranged: no escalation.
    assert work(app, TODAY + timedelta(days=10)).stages_changed == 0
    # The second installment unpaid past its grace days: missed, dated as shown.
    first_miss = dues[1] + grace + timedelta(days=1)
    day = work(app, first_miss)
    assert (day.installments_missed, day.plans_broken) == (1, 0)
    with app.app_context():
        second = (
            db.session().scalars(select(PlanInstallment).where(PlanInstallment.sequence == 2)).one()
        )
        assert second.missed_on == dues[1] + grace
    # The third missed too: the plan breaks and the case goes back to collection.
    day = work(app, dues[2] + grace + timedelta(days=1))
    assert (day.installments_missed, day.plans_broken, day.stages_changed) == (1, 1, 1)
    status, stage, _since = case_state(app, built.case_id)
    assert (status, stage) == ("open", "late" if (dues[2] - TODAY).days + 31 >= 91 else "mid")
    [broken] = events_of(app, built.case_id, "plan_broken")
    assert broken.data["waiver_reinstated"] == waiver
    with app.app_context():
        assert db.session().scalars(select(Plan)).one().status == "broken"
    assert work(app, dues[2] + grace + timedelta(days=1)).changed == 0
    # The borrower is told: when it ended, why, and what is owed again.
    page = unwrapped(client.get("/status").get_data(as_text=True))
    ended = dues[2] + grace
    assert f"您的還款方案已於 {ended.year}年{ended.month}月{ended.day}日 終止" in page
    assert "2 期款項未繳" in page
    assert "您可以在下方選擇新的還款方案" in page


def test_a_plan_never_started_lapses_and_its_checkout_is_void(app, client):
    built = build_case(app, days_past_due=10)
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    client.post("/pay", data={"purpose": "installment"})  # opened, never paid
    with app.app_context():
        first_due = db.session().scalars(select(Plan)).one().installments[0].due_date
    day = work(app, first_due + timedelta(days=6))
    assert day.plans_lapsed == 1
    with app.app_context():
        session = db.session()
        assert session.scalars(select(Plan)).one().status == "lapsed"
        assert session.scalars(select(Payment)).one().status == "voided"
    assert case_state(app, built.case_id)[0] == "open"
    assert "您的還款方案未生效" in client.get("/status").get_data(as_text=True)
    # Its stage moves after the lapse, as the steps run: the timeline reads in that order.
    assert (day.became_overdue, day.stages_changed) == (1, 1)
    kinds = [e.kind for e in events_of(app, built.case_id)]
    assert kinds[-3:] == ["became_overdue", "plan_lapsed", "stage_changed"]


def test_a_kept_plan_resolves_and_a_later_miss_reopens(app, client):
    built = build_case(app, days_past_due=10)
    sign_in(client, built)
    accept_first(client, "pay_in_full")
    pay_due(client)
    assert case_state(app, built.case_id)[0] == "resolved"
    work(app, TODAY)
    assert case_state(app, built.case_id) == ("resolved", "current", None)
    with app.app_context():
        loan = db.session().get(Case, built.case_id).loan
        next_due = min(i.due_date for i in loan.installments if i.unpaid > 0)
    day = work(app, next_due + timedelta(days=1))
    assert (day.became_overdue, day.cases_reopened, day.stages_changed) == (1, 1, 1)
    assert case_state(app, built.case_id)[:2] == ("open", "early")
    kinds = [e.kind for e in events_of(app, built.case_id)]
    assert kinds[-3:] == ["became_overdue", "case_reopened", "stage_changed"]


def test_a_case_resolved_while_overdue_is_reopened_though_its_date_stands(app):
    """A case marked resolved while it still owes an installment due (its overdue date
    unchanged since the last run) is reopened by the next day's work all the same."""
    built = build_case(app, days_past_due=10)
    work(app, TODAY)
    with app.app_context():
        db.session().get(Case, built.case_id).status = "resolved"
        db.session().commit()
    day = work(app, TODAY + timedelta(days=1))
    assert (day.became_overdue, day.cases_reopened, day.stages_changed) == (0, 1, 0)
    assert case_state(app, built.case_id) == ("open", "early", TODAY - timedelta(days=10))
    assert work(app, TODAY + timedelta(days=1)).changed == 0


def test_a_missed_day_is_caught_up_not_skipped(app):
    build_case(app, days_past_due=29)
    engine = app.extensions["haohuan.engine"]
    with app.app_context():
        lifecycle.advance(engine, policy(), TODAY - timedelta(days=3), NOW)
        worked = lifecycle.advance(engine, policy(), TODAY, NOW)
        assert [w.as_of for w in worked] == [TODAY - timedelta(days=n) for n in (2, 1, 0)]
        assert lifecycle.advance(engine, policy(), TODAY, NOW) == []
        assert db.session().scalar(select(func.count()).select_from(LifecycleRun)) == 4


def test_the_command_works_a_day_and_says_what_changed(app):
    build_case(app, days_past_due=47)
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    result = runner.invoke(cli, ["cases", "advance", "--as-of", "2026-11-30"], obj=info)
    assert result.exit_code == 0, result.output
    assert "2026-11-30: 1 became overdue" in result.output
    assert "1 stage changes" in result.output
    again = runner.invoke(cli, ["cases", "advance", "--as-of", "2026-11-30"], obj=info)
    assert "0 became overdue" in again.output
    assert "0 stage changes" in again.output


def test_the_status_page_shows_the_days_penalty(app, client):
    built = build_case(app, days_past_due=31, penalties=0)
    sign_in(client, built)
    before = client.get("/status").get_data(as_text=True)
    work(app, TODAY)
    after = client.get("/status").get_data(as_text=True)
    assert "NT$25" in after
    assert before != after


def test_two_runs_at_once_write_each_change_once(app):
    """PostgreSQL by its advisory lock; SQLite because it lets one writer in at a time."""
    for days in (10, 47, 120, 31):
        build_case(app, days_past_due=days)
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        work(app, TODAY)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        kinds = db.session().scalars(select(CaseEvent.kind)).all()
    assert kinds.count("stage_changed") == 4
    assert kinds.count("penalty_charged") == 1


def test_a_big_day_is_changed_a_batch_at_a_time_with_the_same_result(app, monkeypatch):
    """Batches of two cases: every change made once, every event written once."""
    monkeypatch.setattr(lifecycle, "BATCH", 2)
    built = [build_case(app, days_past_due=days) for days in (0, 10, 47, 120, 95, 3)]
    day = work(app, TODAY)
    assert (day.became_overdue, day.stages_changed) == (5, 5)
    stages = [case_state(app, b.case_id)[1] for b in built]
    assert stages == ["current", "early", "mid", "late", "late", "early"]
    with app.app_context():
        kinds = db.session().scalars(select(CaseEvent.kind)).all()
    assert kinds.count("stage_changed") == 5
    assert kinds.count("became_overdue") == 5
    assert work(app, TODAY).changed == 0


def overdue_from_scratch(app, as_of: date) -> dict[int, date | None]:
    """Each case's overdue date recomputed from nothing but its installments: the oldest
    one still owed once due, or None."""
    with app.app_context():
        session = db.session()
        result: dict[int, date | None] = {}
        for case in session.scalars(select(Case).order_by(Case.id)):
            owed = [
                i.due_date
                for i in case.loan.installments
                if i.due_date < as_of
                and (i.principal_outstanding > 0 or i.interest_outstanding > 0)
            ]
            result[case.id] = min(owed, default=None)
        return result


def paused_cases(app) -> set[int]:
    """Arranged, on hold, or holding a promise to pay: their stage stands still."""
    with app.app_context():
        session = db.session()
        promised = set(
            session.scalars(
                select(Plan.case_id).where(Plan.status == "pending", Plan.kind == "deferral")
            )
        )
        return {
            case.id
            for case in session.scalars(select(Case))
            if case.status == "arranged" or case.hold is not None or case.id in promised
        } | promised


def test_the_days_changes_match_a_full_recompute_over_a_varied_portfolio(app, monkeypatch):
    """Across several days of payments, reversals, partial payments, installments
    falling due, plans kept and missed, holds placed, lifted and expiring, the daily work
    (which touches only what changed) leaves every case as a recompute from scratch
    would: the overdue date is the oldest unpaid due date, the stage follows it unless
    the case is paused, and each change has its one event. Small batches, so that the
    changed ids of one step span several."""
    import random

    from portal.cases.holds import place_hold
    from portal.models import CaseHold

    monkeypatch.setattr(lifecycle, "BATCH", 3)
    rng = random.Random(15)
    built = [
        build_case(app, days_past_due=days, paid=rng.randint(1, 5), installments=14)
        for days in (0, 0, 0, 0, 1, 2, 5, 10, 29, 30, 31, 47, 59, 60, 61, 89, 90, 95, 120, 200)
    ]
    ids = [b.case_id for b in built]
    with app.app_context():
        rules = policy()
        session = db.session()
        # Two arrears plans in force (one kept, one missed until it breaks), a promise
        # to pay, and a hardship whose breathing space ends during the days worked.
        for case_id, status, kind, paid in (
            (ids[9], "active", "arrears_plan", True),
            (ids[12], "active", "arrears_plan", False),
            (ids[16], "pending", "deferral", False),
        ):
            plan = Plan(
                case_id=case_id,
                status=status,
                kind=kind,
                currency="TWD",
                restructured=300_000,
                total=300_000,
                accepted_at=NOW,
                activated_at=NOW if status == "active" else None,
            )
            session.add(plan)
            session.flush()
            for sequence in range(1, 4):
                due = TODAY + timedelta(days=2 + 3 * sequence)
                session.add(
                    PlanInstallment(
                        plan_id=plan.id,
                        sequence=sequence,
                        due_date=due,
                        amount=100_000,
                        paid=100_000 if paid else 0,
                    )
                )
            if status == "active":
                session.get(Case, case_id).status = "arranged"
        session.commit()
        hardship = session.get(Case, ids[17])
        place_hold(session, hardship, "hardship", "lost my job", NOW)
        row = session.scalars(select(CaseHold).where(CaseHold.case_id == ids[17])).one()
        row.ends_on = TODAY + timedelta(days=6)
        session.get(Case, ids[5]).hold = "dispute"
        session.commit()

    def night(as_of: date) -> None:
        """The night's changes before ``as_of``: payments in full and in part, reversals,
        a hold placed or lifted (as the webhooks and the agents would record them)."""
        with app.app_context():
            session = db.session()
            for case_id in rng.sample(ids, 6):
                case = session.get(Case, case_id)
                due = [i for i in case.loan.installments if i.due_date < as_of]
                unpaid = [i for i in due if i.principal_outstanding or i.interest_outstanding]
                paid = [i for i in due if not (i.principal_outstanding or i.interest_outstanding)]
                action = rng.choice(("pay_all", "pay_oldest", "part", "reverse", "hold"))
                if action == "pay_all" or (action == "pay_oldest" and unpaid):
                    for item in unpaid if action == "pay_all" else unpaid[:1]:
                        item.principal_paid = item.principal_due
                        item.interest_paid = item.interest_due
                elif action == "part" and unpaid:
                    unpaid[0].interest_paid = unpaid[0].interest_due
                elif action == "reverse" and paid:
                    # A chargeback: an installment paid long ago is owed again.
                    item = rng.choice(paid)
                    item.principal_paid = item.interest_paid = 0
                elif action == "hold" and case.status == "open":
                    case.hold = None if case.hold else "dispute"
            session.commit()

    stages_before: dict[int, str] = {}
    seen: dict[str, int] = {}
    for offset in (0, 1, 2, 3, 5, 8, 12, 20, 31, 33):
        as_of = TODAY + timedelta(days=offset)
        if offset:
            night(as_of)
        with app.app_context():
            stages_before = dict(db.session().execute(select(Case.id, Case.stage)).all())
        before = {case_id: state[2] for case_id in ids for state in [case_state(app, case_id)]}
        day = work(app, as_of)
        for name in ("became_overdue", "caught_up", "stages_changed", "plans_broken"):
            seen[name] = seen.get(name, 0) + getattr(day, name)
        seen["hardships_ended"] = seen.get("hardships_ended", 0) + day.hardships_ended
        expected = overdue_from_scratch(app, as_of)
        after = {case_id: case_state(app, case_id) for case_id in ids}
        assert {k: v[2] for k, v in after.items()} == expected, as_of
        paused = paused_cases(app)
        for case_id, (_status, stage, since) in after.items():
            if case_id in paused:
                assert stage == stages_before[case_id], (as_of, case_id)
            else:
                days = (as_of - since).days if since else 0
                want = rules.stage_for(days).value if since else "current"
                assert stage == want, (as_of, case_id, since)
        became = {k for k in ids if before[k] is None and expected[k] is not None}
        cured = {k for k in ids if before[k] is not None and expected[k] is None}
        assert (day.became_overdue, day.caught_up) == (len(became), len(cured)), as_of
        with app.app_context():
            written = db.session().execute(
                select(CaseEvent.case_id, CaseEvent.kind).where(
                    CaseEvent.kind.in_(("became_overdue", "caught_up", "stage_changed")),
                    CaseEvent.data["as_of"].as_string() == as_of.isoformat(),
                )
            )
            kinds = {(case_id, kind) for case_id, kind in written}
        assert {k for k, kind in kinds if kind == "became_overdue"} == became
        assert {k for k, kind in kinds if kind == "caught_up"} == cured
        moved = {k for k in ids if after[k][1] != stages_before[k]}
        assert {k for k, kind in kinds if kind == "stage_changed"} == moved
        assert day.stages_changed == len(moved)
        assert work(app, as_of).changed == 0, as_of
    # The portfolio was varied enough for every kind of change to happen.
    assert all(seen.values()), seen
