"""The supervisors' strategy page (issue 14): each step's counts today and this week, per
experiment arm, what was skipped and why, the pause switch and a challenger's promotion
(``portal.strategy.reporting``, ``portal.web.agent.strategy_views``)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import event, func, select

from negotiation.strategy import default_document, load_strategy
from portal.core import db
from portal.models import (
    AuditEntry,
    Case,
    Message,
    MessageStatus,
    PlannedStatus,
    PlannedStep,
    StrategySource,
    StrategySwitch,
    StrategyVersion,
)
from portal.strategy import reporting, versions

from .factories import add_staff, build_case, staff_sign_in

# A Thursday (10:00 in Taipei): the lender's week began on Monday the 30th.
NOW_HERE = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
TODAY_HERE = date(2026, 12, 3)
MONDAY = date(2026, 11, 30)
BOSS = "boss@haohuan.example"
AGENT = "agent@haohuan.example"
ADMIN = "admin@haohuan.example"
EXPERIMENT = "day1-plan-first"


@pytest.fixture
def extra_config():
    return {"HAOHUAN_NOW": NOW_HERE.isoformat()}


@pytest.fixture
def boss(app):
    add_staff(app, BOSS, ("agent", "supervisor"))
    client = app.test_client()
    assert staff_sign_in(client, BOSS).status_code == 303
    return client


@pytest.fixture
def version(app) -> int:
    """The default strategy recorded as the version in force."""
    with app.app_context():
        session = db.session()
        number = versions.in_force(session, default_document(), NOW_HERE).version
        session.commit()
        return number


OCCURRENCE = count(1)


def plan(app, version: int, case_id: int, step: str, as_of: date, status: str, **extra) -> None:
    """One planned step; ``message`` (a message status) adds the message it planned."""
    outcome = extra.pop("message", None)
    with app.app_context():
        session = db.session()
        message_id = None
        if outcome is not None:
            message = Message(
                case_id=case_id,
                borrower_id=session.get(Case, case_id).loan.borrower_id,
                channel="sms",
                purpose="reminder",
                address="+886 912 345 678",
                locale="zh_Hant_TW",
                status=MessageStatus(outcome),
                send_at=NOW_HERE,
                created_by="strategy",
                created_at=NOW_HERE,
            )
            session.add(message)
            session.flush()
            message_id = message.id
        session.add(
            PlannedStep(
                case_id=case_id,
                step=step,
                occurrence=f"o{next(OCCURRENCE)}",
                as_of=as_of,
                version=version,
                status=PlannedStatus(status),
                message_id=message_id,
                planned_at=NOW_HERE,
                **extra,
            )
        )
        session.commit()


def seed(app, version: int) -> int:
    """A week of planned steps over two cases; returns the first case's id."""
    first = build_case(app).case_id
    second = build_case(app).case_id
    champion, challenger = f"{EXPERIMENT}:champion", f"{EXPERIMENT}:plan-first"
    sent = {"variant": champion, "message": "sent"}
    failed = {"variant": challenger, "message": "failed"}
    canceled = {"variant": challenger, "message": "cancelled"}
    yesterday = TODAY_HERE - timedelta(days=1)
    older = MONDAY - timedelta(days=1)  # last week's Sunday: not counted
    rows = [
        # Today: the day-1 SMS, two champion (one sent), one challenger (failed).
        (first, "overdue_1_sms", TODAY_HERE, "queued", sent),
        (second, "overdue_1_sms", TODAY_HERE, "deferred", {"variant": champion}),
        (first, "overdue_1_sms", TODAY_HERE, "queued", failed),
        # Today: a call task, and two skipped for two reasons.
        (first, "overdue_5_call", TODAY_HERE, "task", {}),
        (second, "overdue_3_email", TODAY_HERE, "skipped", {"reason": "opened"}),
        (first, "overdue_3_email", TODAY_HERE, "skipped", {"reason": "on_hold"}),
        # Earlier this week.
        (second, "overdue_1_sms", yesterday, "queued", canceled),
        (second, "overdue_3_email", MONDAY, "skipped", {"reason": "opened"}),
        (first, "plan_due_3", MONDAY, "queued", {"message": "scheduled"}),
        # Last week: nowhere on the page.
        (first, "overdue_1_sms", older, "queued", {"variant": champion}),
        (second, "overdue_10_sms", older, "skipped", {"reason": "no_channel"}),
        # A step the strategy no longer has, planned this week by an older version.
        (second, "overdue_2_sms", yesterday, "queued", {}),
    ]  # fmt: skip
    for case_id, step, as_of, status, extra in rows:
        plan(app, version, case_id, step, as_of, status, **extra)
    return first


# The report --------------------------------------------------------------------------------


def report_of(app) -> reporting.StrategyReport:
    with app.app_context():
        strategy = load_strategy(default_document())
        return reporting.step_report(db.session(), strategy, TODAY_HERE, MONDAY)


def test_the_report_counts_today_and_this_week_per_step_and_arm(app, version):
    seed(app, version)
    report = report_of(app)
    rows = {row.name: row for row in report.steps}
    # The document's order, then the retired step.
    names = [row.name for row in report.steps]
    assert names[:3] == ["plan_due_3", "promise_due_1", "overdue_1_sms"]
    assert names[-1] == "overdue_2_sms"
    assert rows["overdue_2_sms"].step is None

    day1 = rows["overdue_1_sms"]
    assert day1.line.today == reporting.Counts(queued=2, deferred=1)
    assert day1.line.week == reporting.Counts(queued=3, deferred=1)  # not last week's
    assert day1.line.messages == reporting.Outcomes(sent=1, failed=1, canceled=1)
    arms = {v.arm: v for v in day1.variants}
    assert list(arms) == ["champion", "plan-first"]
    assert arms["champion"].champion
    assert arms["champion"].weight == 80
    assert arms["champion"].line.today == reporting.Counts(queued=1, deferred=1)
    assert arms["champion"].line.week == reporting.Counts(queued=1, deferred=1)
    assert arms["plan-first"].line.today == reporting.Counts(queued=1)
    assert arms["plan-first"].line.week == reporting.Counts(queued=2)
    assert arms["plan-first"].line.messages == reporting.Outcomes(failed=1, canceled=1)

    assert rows["overdue_5_call"].line.today == reporting.Counts(tasks=1)
    assert rows["overdue_5_call"].variants == ()  # no experiment varies it
    assert rows["overdue_3_email"].line.today == reporting.Counts(skipped=2)
    assert rows["overdue_3_email"].line.week == reporting.Counts(skipped=3)
    assert rows["plan_due_3"].line.today == reporting.Counts()
    assert rows["plan_due_3"].line.messages == reporting.Outcomes(waiting=1)
    assert rows["overdue_10_sms"].line.week == reporting.Counts()  # last week only

    skipped = {item.reason: (item.today, item.week) for item in report.skipped}
    assert skipped == {"opened": (1, 2), "on_hold": (1, 1)}
    assert [item.reason for item in report.skipped] == ["opened", "on_hold"]  # most first
    assert report.total.today == reporting.Counts(queued=2, deferred=1, tasks=1, skipped=2)
    assert report.total.today.reached == 4
    assert report.total.week.total == 10


def test_an_ended_experiments_arm_and_a_whole_challengers_steps_are_shown(app, version):
    built = build_case(app)
    document = copy.deepcopy(default_document())
    document["experiments"] = [
        {
            "name": "gentle",
            "arms": [
                {"name": "champion", "weight": 50},
                {
                    "name": "gentle",
                    "weight": 50,
                    "strategy": [
                        {
                            "name": "overdue_2_gentle",
                            "event": "overdue",
                            "days": 2,
                            "channels": ["email"],
                        }
                    ],
                },
            ],
        }
    ]
    strategy = load_strategy(document)
    plan(app, version, built.case_id, "overdue_1_sms", TODAY_HERE, "queued", variant="old:x")
    plan(
        app,
        version,
        built.case_id,
        "overdue_2_gentle",
        TODAY_HERE,
        "queued",
        variant="gentle:gentle",
    )
    with app.app_context():
        report = reporting.step_report(db.session(), strategy, TODAY_HERE, MONDAY)
    rows = {row.name: row for row in report.steps}
    assert report.steps[-1].name == "overdue_2_gentle"
    assert rows["overdue_2_gentle"].arm_of == "gentle:gentle"
    assert [v.variant for v in rows["overdue_2_gentle"].variants] == ["gentle:gentle"]
    assert rows["overdue_2_gentle"].variants[0].line.today == reporting.Counts(queued=1)
    # The champion arm runs the champion's steps; the old experiment's arm is its own row.
    day1 = [(v.variant, v.weight) for v in rows["overdue_1_sms"].variants]
    assert day1 == [("gentle:champion", 50), ("old:x", None)]


# The page ----------------------------------------------------------------------------------


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh_Hant_TW", ("聯絡策略", "逾期第 1 天", "最近開啟過連結", "暫緩中", "本週")),
        ("zh_Hans_CN", ("联系策略", "逾期第 1 天", "最近打开过链接", "暂缓中", "本周")),
        ("en", ("Contact strategy", "Day 1 past due", "Opened a link", "On hold", "This week")),
    ],
)  # fmt: skip
def test_the_page_shows_each_step_its_arms_and_the_skipped_reasons(app, boss, version, lang, words):
    seed(app, version)
    response = boss.get("/agent/strategy", query_string={"lang": lang})
    assert response.status_code == 200
    html = _text(response)
    for word in words:
        assert word in html, word
    if lang == "en":
        assert "Day 1: SMS reminder" in html  # the document's label
        assert "3 days before a plan installment" in html
        assert "SMS, else email" in html
        assert "Challenger arm: plan-first (20% of cases)" in html
        assert "Champion arm: champion (80% of cases)" in html
        assert "No longer in the strategy" in html
        assert "Running" in html
        assert "Pause the strategy" in html
        assert 'href="/agent/strategy" aria-current="page"' in html  # in the navigation
    # The day-1 step's row: today 2 queued, 1 deferred; the week 3 and 1; 1 sent, 1 failed,
    # 1 canceled.
    row = re.search(
        r'<tr class="step">\s*<th scope="row">\s*'
        r'<span class="step-label">Day 1: SMS reminder.*?</tr>',
        html,
        re.S,
    )
    if lang == "en":
        assert row is not None
        cells = re.findall(r'<td class="num">(\d+)</td>', row.group(0))
        assert cells == ["2", "1", "0", "0", "3", "1", "0", "0", "1", "1", "1"]


def test_agents_are_refused_and_admins_read_without_the_forms(app):
    add_staff(app, AGENT, ("agent",))
    add_staff(app, ADMIN, ("admin",))
    agent, admin = app.test_client(), app.test_client()
    staff_sign_in(agent, AGENT)
    staff_sign_in(admin, ADMIN)
    refused = agent.get("/agent/strategy", query_string={"lang": "zh_Hant_TW"})
    assert refused.status_code == 403
    assert "您的帳戶無法開啟此頁面" in _text(refused)  # the translated 403 of every console
    assert agent.post("/agent/strategy/switch", data={"state": "pause"}).status_code == 403
    page = admin.get("/agent/strategy", query_string={"lang": "en"})
    assert page.status_code == 200
    assert "Pause the strategy" not in _text(page)
    assert admin.post("/agent/strategy/switch", data={"state": "pause"}).status_code == 403
    with app.app_context():
        assert not versions.is_paused(db.session())


def _audit(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session().scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_pausing_and_resuming_are_audited_and_a_repeat_changes_nothing(app, boss):
    paused = boss.post(
        "/agent/strategy/switch",
        data={"state": "pause", "note": "Typhoon"},
        query_string={"lang": "en"},
    )
    assert paused.status_code == 303
    page = _text(boss.get("/agent/strategy", query_string={"lang": "en"}))
    assert "The strategy is paused." in page
    assert f"Paused by {BOSS}" in page
    assert "Typhoon" in page
    assert "Resume the strategy" in page
    again = boss.post(
        "/agent/strategy/switch", data={"state": "pause"}, query_string={"lang": "en"}
    )
    assert again.status_code == 303
    assert "already paused" in _text(boss.get("/agent/strategy", query_string={"lang": "en"}))
    assert len(_audit(app, "strategy.pause")) == 1
    assert _audit(app, "strategy.pause")[0].details["note"] == "Typhoon"
    with app.app_context():
        assert versions.is_paused(db.session())
    assert boss.post("/agent/strategy/switch", data={"state": "resume"}).status_code == 303
    assert boss.post("/agent/strategy/switch", data={"state": "resume"}).status_code == 303
    assert len(_audit(app, "strategy.resume")) == 1
    with app.app_context():
        assert not versions.is_paused(db.session())


def test_resuming_a_strategy_never_paused_records_nothing(app, boss):
    assert boss.post("/agent/strategy/switch", data={"state": "resume"}).status_code == 303
    assert _audit(app, "strategy.resume") == []
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(StrategySwitch)) == 0


def test_the_switch_with_htmx_answers_its_panel_alone(app, boss):
    response = boss.post(
        "/agent/strategy/switch",
        data={"state": "pause"},
        headers={"HX-Request": "true"},
        query_string={"lang": "en"},
    )
    assert response.status_code == 200
    html = _text(response)
    assert html.lstrip().startswith('<section id="strategy-switch"')
    assert "The strategy is paused." in html
    assert "Resume the strategy" in html
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    # The counts alone for the refresh button.
    fragment = boss.get(
        "/agent/strategy", headers={"HX-Request": "true"}, query_string={"lang": "en"}
    )
    assert fragment.status_code == 200
    assert "<html" not in _text(fragment)
    assert 'id="steps-heading"' in _text(fragment)
    assert "Promote a challenger" not in _text(fragment)


def test_the_switch_needs_the_csrf_token_and_a_known_state(app, boss):
    app.config["WTF_CSRF_ENABLED"] = True
    assert boss.post("/agent/strategy/switch", data={"state": "pause"}).status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    assert boss.post("/agent/strategy/switch", data={"state": "explode"}).status_code == 422
    long_note = {"state": "pause", "note": "x" * 5000}
    refused = boss.post("/agent/strategy/switch", data=long_note, query_string={"lang": "en"})
    assert refused.status_code == 422
    assert "Write at most 1,000 characters." in _text(refused)
    htmx = boss.post(
        "/agent/strategy/switch",
        data=long_note,
        headers={"HX-Request": "true"},
        query_string={"lang": "en"},
    )
    # htmx swaps only a 2xx answer: the panel, with the form's error.
    assert htmx.status_code == 200
    assert "Write at most 1,000 characters." in _text(htmx)
    assert "<html" not in _text(htmx)
    with app.app_context():
        assert not versions.is_paused(db.session())
    assert _audit(app, "strategy.pause") == []


def _promote(client, arm="plan-first", note="Twice the opens", name=EXPERIMENT, **extra):
    data = {f"promote-{name}-arm": arm, f"promote-{name}-note": note}
    return client.post(
        f"/agent/strategy/experiments/{name}/promote",
        data=data,
        query_string={"lang": "en"},
        **extra,
    )


def test_promoting_a_challenger_records_a_version_without_the_experiment(app, boss, version):
    built = build_case(app)
    plan(
        app,
        version,
        built.case_id,
        "overdue_1_sms",
        TODAY_HERE,
        "queued",
        variant=f"{EXPERIMENT}:plan-first",
    )
    response = _promote(boss)
    assert response.status_code == 303
    page = _text(boss.get("/agent/strategy", query_string={"lang": "en"}))
    assert f"plan-first is the champion now: version {version + 1} is in force." in page
    assert "Promote a challenger" not in page  # no experiment left
    assert "Twice the opens" in page  # the history's note
    with app.app_context():
        session = db.session()
        newest = versions.history(session)[0]
        assert newest.version == version + 1
        assert newest.source is StrategySource.PROMOTION
        assert newest.created_by == BOSS
        assert newest.document.get("experiments") == []
        day1 = next(s for s in newest.document["steps"] if s["name"] == "overdue_1_sms")
        assert day1["template"] == "reminder_plan"
        # The step already planned is not disturbed.
        planned = session.scalars(select(PlannedStep)).one()
        assert (planned.version, planned.variant) == (version, f"{EXPERIMENT}:plan-first")
    [entry] = _audit(app, "strategy.promote")
    assert entry.actor == BOSS
    assert entry.details["arm"] == "plan-first"
    assert entry.details["version"] == version + 1


@pytest.mark.parametrize(
    ("name", "arm", "note", "status", "said"),
    [
        (EXPERIMENT, "plan-first", "   ", 422, "Say why the challenger is promoted."),
        (EXPERIMENT, "plan-first", "x" * 5000, 422, "Write at most 1,000 characters."),
        (EXPERIMENT, "champion", "Keep it", 422, "Not a valid choice."),
        (EXPERIMENT, "nobody", "Why not", 422, "Not a valid choice."),
        (EXPERIMENT, "", "Why not", 422, "Choose the challenger to promote."),
        ("no-such-experiment", "plan-first", "Why", 404, "That experiment or arm is not in"),
        ("../../etc", "x", "Why", 404, ""),
    ],
)
def test_a_refused_promotion_says_why_and_changes_nothing(
    app, boss, version, name, arm, note, status, said
):
    response = _promote(boss, arm=arm, note=note, name=name)
    assert response.status_code == status
    assert said in _text(response)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(StrategyVersion)) == 1
    assert _audit(app, "strategy.promote") == []


def test_agents_cannot_promote(app, version):
    add_staff(app, AGENT, ("agent",))
    agent = app.test_client()
    staff_sign_in(agent, AGENT)
    assert _promote(agent).status_code == 403


def test_a_file_version_after_a_promotion_takes_the_next_number(app, boss, version):
    assert _promote(boss).status_code == 303
    changed = copy.deepcopy(default_document())
    changed["label"] = "Edited by the lender"
    with app.app_context():
        session = db.session()
        found = versions.in_force(session, changed, NOW_HERE)
        session.commit()
        assert found.version == version + 2
        assert found.source is StrategySource.FILE


def test_a_file_not_yet_run_is_shown_as_pending_and_looking_records_nothing(app, boss):
    page = _text(boss.get("/agent/strategy", query_string={"lang": "en"}))
    assert "Not recorded yet" in page
    assert "No version recorded yet" in page
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(StrategyVersion)) == 0


# What the page costs -------------------------------------------------------------------------


def _statements(app, client, path: str) -> list[str]:
    seen: list[str] = []
    engine = app.extensions["haohuan.engine"]

    def note(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    client.get(path)  # warm
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_the_page_reads_as_much_for_a_busy_week_as_for_an_empty_one(app, boss, version):
    empty = _statements(app, boss, "/agent/strategy")
    seed(app, version)
    built = build_case(app)
    for step in ("overdue_10_sms", "overdue_20_email", "plan_missed_0", "promise_broken_0"):
        for status in ("queued", "deferred", "skipped"):
            plan(app, version, built.case_id, step, TODAY_HERE, status, reason="stage")
    busy = _statements(app, boss, "/agent/strategy")
    assert len(busy) == len(empty), (len(empty), len(busy))
    # The staff member, the version (2), counts (2), switch, history, and the
    # experiments' results (``portal.strategy.results``: 9 whatever the cases).
    assert len(busy) <= 16, busy
    # Counted in two grouped reads of the planned steps, not one per step.
    assert sum("FROM strategy_steps" in s for s in busy) == 2


def test_a_file_put_back_to_an_earlier_document_is_in_force_again(app, version):
    changed = copy.deepcopy(default_document())
    changed["label"] = "Edited by the lender"
    with app.app_context():
        session = db.session()
        assert versions.in_force(session, changed, NOW_HERE).version == version + 1
        session.commit()
        back = versions.in_force(session, default_document(), NOW_HERE)
        session.commit()
        assert back.version == version + 2
        assert back.document == default_document()
        # And once recorded, the same file records nothing more.
        assert versions.in_force(session, default_document(), NOW_HERE).version == version + 2


# The words -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh_Hant_TW", "zh_Hans_CN", "en"])
def test_every_event_template_channel_and_skip_reason_has_words(app, lang):
    from flask_babel import force_locale

    from negotiation.contact import ContactRefusal
    from negotiation.policy import Stage
    from negotiation.strategy import Event, Skip, Step, StepChannel, Template, When
    from portal.wording import strategy as words

    with app.test_request_context("/"), force_locale(lang):
        for event in Event:
            when = When(stages=frozenset({Stage.MID})) if event is Event.STAGE_ENTRY else When()
            for days in (0, 1, 3):
                step = Step("s", event, days, (StepChannel.SMS,), Template.REMINDER, when)
                text = words.timing(step)
                assert text, (event, days)
                assert "%(" not in text, (event, days, text)
        for template in Template:
            assert words.template_name(template) != template.value, template
        reasons = [*Skip, *(r for r in ContactRefusal if r.is_permanent), "no_address"]
        for reason in reasons:
            assert words.skip_reason(reason) != reason, reason
        assert words.skip_reason("something_new") == "something_new"  # never a blank
        channels = words.channels_text([StepChannel.SMS, StepChannel.EMAIL, StepChannel.CALL])
        assert channels.count(",") + channels.count("，") == 2, channels
    with app.test_request_context("/"), force_locale("en"):
        overdue = Step("s", Event.OVERDUE, 3, (StepChannel.SMS,), Template.REMINDER)
        assert words.timing(overdue) == "Day 3 past due"
        plan_due = Step("s", Event.PLAN_DUE, 3, (StepChannel.SMS,), Template.PLAN_DUE)
        assert words.timing(plan_due) == "3 days before a plan installment"
        mid = Step(
            "s",
            Event.STAGE_ENTRY,
            0,
            (StepChannel.LETTER,),
            Template.REMINDER,
            When(stages=frozenset({Stage.MID})),
        )
        assert words.timing(mid) == "The day the case enters: Middle stage"
