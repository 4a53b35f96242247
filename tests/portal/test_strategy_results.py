"""Experiment results (issue 14): the intervals against the published formulas computed
by hand, maturity, each outcome's window edges, the verdicts, the ended experiments, the
daily work's "nothing overdue any more" event they count as cured, and the command."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from statistics import NormalDist

import pytest
from click.testing import CliRunner
from flask import render_template_string
from flask.cli import ScriptInfo
from flask_babel import force_locale
from scipy import stats
from sqlalchemy import event, func, select

from negotiation.strategy import Arm, Experiment, Strategy, default_document
from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.cli import cli
from portal.core import db
from portal.models import (
    Case,
    CaseEvent,
    CaseHold,
    ExperimentAssignment,
    OptOut,
    Payment,
    PaymentStatus,
    Plan,
    ReminderLink,
    StrategySource,
    StrategyVersion,
    VerificationAttempt,
)
from portal.strategy import results as measured
from portal.strategy.results import (
    OUTCOMES,
    ArmResult,
    Verdict,
    compare,
    newcombe,
    wilson,
)
from portal.wording.results import RESULT_WORDS

from .factories import NOW, TODAY, build_case

Z = NormalDist().inv_cdf(0.975)
BY_CODE = {outcome.code: outcome for outcome in OUTCOMES}


# The maths, by hand ---------------------------------------------------------------------


def hand_wilson(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson (1927): the score interval, as Newcombe (1998) writes it (his eq. 3)."""
    p = k / n
    centre = (2 * n * p + z * z) / (2 * (n + z * z))
    half = z * math.sqrt(z * z + 4 * n * p * (1 - p)) / (2 * (n + z * z))
    return centre - half, centre + half


def hand_newcombe(k1: int, n1: int, k0: int, n0: int, z: float = Z) -> tuple[float, float]:
    """Newcombe (1998), method 10: the hybrid score interval of p1 - p0 from the two
    Wilson intervals."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = hand_wilson(k1, n1, z)
    l0, u0 = hand_wilson(k0, n0, z)
    d = p1 - p0
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def test_wilson_and_newcombe_agree_with_the_published_formulas():
    # Champion 45 of 100, challenger 60 of 100.
    assert wilson(45, 100) == pytest.approx(hand_wilson(45, 100), abs=1e-4)
    assert wilson(60, 100) == pytest.approx(hand_wilson(60, 100), abs=1e-4)
    assert newcombe(60, 100, 45, 100) == pytest.approx(hand_newcombe(60, 100, 45, 100), abs=1e-4)
    # The same figures written out, so that a change of method cannot pass unnoticed.
    assert wilson(45, 100) == pytest.approx((0.3561, 0.5476), abs=1e-4)
    assert wilson(60, 100) == pytest.approx((0.5020, 0.6906), abs=1e-4)
    assert newcombe(60, 100, 45, 100) == pytest.approx((0.0117, 0.2804), abs=1e-4)
    # Bonferroni for two challengers: each interval at 97.5%.
    z = NormalDist().inv_cdf(1 - 0.025 / 2)
    assert newcombe(60, 100, 45, 100, alpha=0.025) == pytest.approx(
        hand_newcombe(60, 100, 45, 100, z), abs=1e-4
    )
    # The edges, where p ± 1.96·SE goes below 0: Wilson stays within [0, 1].
    assert wilson(0, 100) == pytest.approx((0.0, 0.0370), abs=1e-4)


def test_welch_interval_of_the_mean_share_paid_agrees_with_the_formula():
    mine = [1.0] * 60 + [0.5] * 20 + [0.0] * 40  # 120 cases: mean 7/12
    theirs = [1.0] * 40 + [0.25] * 20 + [0.0] * 60  # 120 cases: mean 3/8
    compared = compare(
        BY_CODE["paid_30d"], arm(mine), arm(theirs, champion=True), 0.05, mine, theirs
    )
    m1, m0 = sum(mine) / 120, sum(theirs) / 120
    v1 = sum((x - m1) ** 2 for x in mine) / 119
    v0 = sum((x - m0) ** 2 for x in theirs) / 119
    se = math.sqrt(v1 / 120 + v0 / 120)
    df = se**4 / ((v1 / 120) ** 2 / 119 + (v0 / 120) ** 2 / 119)  # Welch-Satterthwaite
    t = stats.t.ppf(0.975, df)
    assert compared.difference == pytest.approx(m1 - m0, abs=1e-9)
    assert (compared.low, compared.high) == pytest.approx(
        (m1 - m0 - t * se, m1 - m0 + t * se), abs=1e-4
    )
    assert compared.verdict is Verdict.BETTER


def arm(shares: list[float], *, champion: bool = False) -> ArmResult:
    paid = measured.mean_measure(shares)
    return ArmResult("a" if champion else "b", 50, champion, len(shares), {"paid_30d": paid})


def rates(code: str, count: int, n: int, base_count: int, base_n: int) -> measured.Comparison:
    mine = ArmResult("b", 50, False, n, {code: measured.rate_measure(count, n)})
    theirs = ArmResult("a", 50, True, base_n, {code: measured.rate_measure(base_count, base_n)})
    return compare(BY_CODE[code], mine, theirs, 0.05, [], [])


def test_the_verdicts():
    better = rates("link_opened_3d", 60, 100, 45, 100)
    assert better.verdict is Verdict.BETTER
    assert better.better_by == pytest.approx((0.15, 0.0117, 0.2804), abs=1e-4)
    # Opting out more is worse; fewer is better, and said as a positive difference.
    assert rates("opted_out_30d", 60, 100, 45, 100).verdict is Verdict.WORSE
    fewer = rates("opted_out_30d", 45, 100, 60, 100)
    assert fewer.verdict is Verdict.BETTER
    assert fewer.difference == pytest.approx(-0.15)
    assert fewer.better_by == pytest.approx((0.15, 0.0117, 0.2804), abs=1e-4)
    assert rates("link_opened_3d", 52, 100, 50, 100).verdict is Verdict.NO_DIFFERENCE
    # 99 mature cases in one arm: not yet, however large the difference.
    assert rates("link_opened_3d", 90, 99, 10, 100).verdict is Verdict.NOT_ENOUGH
    # Enough cases, too few events: 2 disputes against 7 is no verdict either.
    assert rates("disputed_30d", 2, 400, 7, 400).verdict is Verdict.NOT_ENOUGH
    # ... nor too few cases without the outcome.
    assert rates("link_opened_3d", 398, 400, 399, 400).verdict is Verdict.NOT_ENOUGH
    # Nothing mature: no figures at all.
    nothing = rates("link_opened_3d", 0, 0, 45, 100)
    assert (nothing.difference, nothing.verdict) == (None, Verdict.NOT_ENOUGH)


# The measurement on a database --------------------------------------------------------------

EXPERIMENT = "day1-plan-first"


def version(app, document: dict | None = None, at: datetime = NOW - timedelta(days=400)) -> int:
    with app.app_context():
        session = db.session()
        number = (session.scalar(select(func.max(StrategyVersion.version))) or 0) + 1
        session.add(
            StrategyVersion(
                version=number,
                name="default",
                digest=f"{number:064d}",
                document=document or default_document(),
                source=StrategySource.FILE,
                created_by="file",
                created_at=at,
            )
        )
        session.commit()
        return number


def assign(
    app,
    case_id: int,
    at: datetime,
    *,
    experiment: str = EXPERIMENT,
    arm: str = "champion",
    arrears: int = 100_000,
    currency: str = "TWD",
) -> None:
    with app.app_context():
        session = db.session()
        number = session.scalar(select(func.max(StrategyVersion.version)))
        session.add(
            ExperimentAssignment(
                experiment=experiment,
                arm=arm,
                case_id=case_id,
                version=number,
                assigned_at=at,
                as_of=at.date(),
                arrears=arrears,
                currency=currency,
            )
        )
        session.commit()


def happen(app, case_id: int, at: datetime) -> None:
    """Every outcome happens to the case at ``at``: a link opened, a plan accepted,
    50,000 paid (10,000 of it refunded since), nothing overdue any more, an opt-out and
    a dispute."""
    with app.app_context():
        session = db.session()
        case = session.get(Case, case_id)
        link = session.scalars(select(ReminderLink).where(ReminderLink.case_id == case_id)).first()
        session.add_all(
            [
                VerificationAttempt(
                    borrower_id=case.loan.borrower_id,
                    link_id=link.id,
                    address_hash="0" * 64,
                    succeeded=True,
                    at=at,
                ),
                Plan(
                    case_id=case_id,
                    status="cancelled",
                    kind="arrears_plan",
                    currency="TWD",
                    restructured=100,
                    total=100,
                    accepted_at=at,
                ),
                Payment(
                    case_id=case_id,
                    purpose="arrears",
                    amount=50_000,
                    refunded=10_000,
                    currency="TWD",
                    status=PaymentStatus.SUCCEEDED,
                    gateway="sandbox",
                    created_at=at,
                    confirmed_at=at,
                ),
                CaseEvent(case_id=case_id, kind="caught_up", actor="system", at=at, data={}),
                OptOut(borrower_id=case.loan.borrower_id, channel="sms", at=at, source="link"),
                CaseHold(case_id=case_id, kind="dispute", placed_at=at, placed_by="borrower"),
            ]
        )
        session.commit()


def measure(app, strategy: Strategy, now: datetime = NOW) -> list[measured.ExperimentResult]:
    with app.app_context():
        return measured.results(db.session(), strategy, now.date(), now)


def two_arms(*names: str, challenger: str = "challenger") -> Strategy:
    arms = tuple(Arm(name, 50) for name in ("champion", challenger))
    return Strategy("test", (), tuple(Experiment(name, arms) for name in names))


def test_each_outcome_counts_within_its_window_and_not_at_its_end(app):
    """[assigned_at, assigned_at + window): an event at the moment of assignment counts,
    one a second before the window ends counts, one at its end or before the assignment
    does not. One case, whose every outcome happens at the same moment, in four
    experiments per window, each assigned at a different moment."""
    version(app)
    built = build_case(app)
    event = NOW - timedelta(days=100)
    happen(app, built.case_id, event)
    second = timedelta(seconds=1)
    windows = sorted({outcome.days for outcome in OUTCOMES})
    # Whether the event counts, by experiment: assigned at the event's moment ("start"),
    # a window less a second before it ("inside"), a whole window before it ("end"), a
    # second after it ("before").
    counted = {"start": True, "inside": True, "end": False, "before": False}
    for days in windows:
        window = timedelta(days=days)
        assign(app, built.case_id, event, experiment=f"start-{days}")
        assign(app, built.case_id, event - window + second, experiment=f"inside-{days}")
        assign(app, built.case_id, event - window, experiment=f"end-{days}")
        assign(app, built.case_id, event + second, experiment=f"before-{days}")
    names = [f"{where}-{days}" for days in windows for where in counted]
    found = {result.name: result for result in measure(app, two_arms(*names))}
    for outcome in OUTCOMES:
        for where, counts in counted.items():
            champion = found[f"{where}-{outcome.days}"].arms[0]
            figure = champion.outcomes[outcome.code]
            assert figure.mature == 1, (outcome.code, where)
            if outcome.mean:
                # 50,000 paid less 10,000 refunded, of 100,000 owed.
                assert figure.rate == pytest.approx(0.4 if counts else 0.0), where
                paid = {"TWD": 40_000} if counts else {}
                assert champion.paid_by_currency == paid, where
            else:
                assert figure.count == int(counts), (outcome.code, where)


def test_only_mature_cases_count(app):
    version(app)
    yesterday, three_days_ago, month_ago = (build_case(app) for _ in range(3))
    assign(app, yesterday.case_id, NOW - timedelta(days=1))
    assign(app, three_days_ago.case_id, NOW - timedelta(days=3))
    assign(app, month_ago.case_id, NOW - timedelta(days=30), arm="plan-first", arrears=0)
    # Assigned after the moment measured: not there at all.
    assign(app, build_case(app).case_id, NOW + timedelta(seconds=1))
    for built in (yesterday, three_days_ago):
        happen(app, built.case_id, NOW - timedelta(hours=12))
    with app.app_context():
        strategy = measured.in_force(db.session(), default_document())
    (result,) = measure(app, strategy)
    champion, challenger = result.arms
    assert (champion.name, champion.cases, challenger.cases) == ("champion", 2, 1)
    # The case assigned yesterday is not counted for "within 3 days"; the one assigned
    # three days ago is (and opened its link).
    opened = champion.outcomes["link_opened_3d"]
    assert (opened.mature, opened.count, opened.rate) == (1, 1, 1.0)
    assert champion.outcomes["plan_accepted_14d"].mature == 0
    assert champion.outcomes["plan_accepted_14d"].rate is None
    # A case that owed nothing when assigned is not counted for paid or cured.
    assert challenger.outcomes["opted_out_30d"].mature == 1
    assert challenger.outcomes["paid_30d"].mature == 0
    assert challenger.outcomes["cured_60d"].mature == 0
    assert {c.verdict for c in result.comparisons} == {Verdict.NOT_ENOUGH}


def test_an_ended_experiment_is_shown_ended_and_several_challengers_are_adjusted(app):
    document = default_document()
    document["experiments"][0]["arms"] = [
        {"name": "champion", "weight": 50},
        {
            "name": "plan-first",
            "weight": 25,
            "steps": {"overdue_1_sms": {"template": "reminder_plan"}},
        },
        {
            "name": "email-too",
            "weight": 25,
            "steps": {"overdue_1_sms": {"channels": ["sms", "email"]}},
        },
    ]
    version(app, document)
    built = build_case(app)
    for arm in ("champion", "plan-first", "email-too"):
        assign(
            app, built.case_id, NOW - timedelta(days=70), experiment=f"{EXPERIMENT}-{arm}", arm=arm
        )
    assign(app, built.case_id, NOW - timedelta(days=70), arm="email-too")
    promoted_at = NOW - timedelta(days=5)
    ended = {**document, "experiments": []}
    version(app, ended, at=promoted_at)
    with app.app_context():
        strategy = measured.in_force(db.session(), default_document())
    assert strategy.experiments == ()
    found = {result.name: result for result in measure(app, strategy)}
    result = found[EXPERIMENT]
    assert (result.ended, result.ended_at) == (True, promoted_at)
    assert [(a.name, a.weight, a.cases) for a in result.arms] == [
        ("champion", 50, 0),
        ("plan-first", 25, 0),
        ("email-too", 25, 1),
    ]
    # Two challengers: each comparison's interval at 97.5%, 95% for the family.
    assert {c.confidence for c in result.comparisons} == {0.975}
    assert len(result.comparisons) == 2 * len(OUTCOMES)


def test_the_daily_work_records_a_cure_once_and_it_counts(app):
    """The daily work writes "caught_up" in the same statement batch that clears
    overdue_since (set-based); a re-run writes none; the results count it as cured."""
    version(app)
    built = build_case(app, days_past_due=10, installments=6, paid=4)
    engine = app.extensions["haohuan.engine"]
    with app.app_context():
        lifecycle.work_day(engine, policy(), TODAY, NOW)
    assign(app, built.case_id, NOW - timedelta(days=1))
    with app.app_context():
        session = db.session()
        for installment in session.get(Case, built.case_id).loan.installments:
            if installment.due_date < TODAY:
                installment.principal_paid = installment.principal_due
                installment.interest_paid = installment.interest_due
        session.commit()
    later = NOW + timedelta(days=1)
    with app.app_context():
        assert lifecycle.work_day(engine, policy(), TODAY + timedelta(days=1), later).caught_up == 1
        assert lifecycle.work_day(engine, policy(), TODAY + timedelta(days=1), later).caught_up == 0
        cured = (
            db.session()
            .scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == built.case_id, CaseEvent.kind == "caught_up"
                )
            )
            .all()
        )
        assert len(cured) == 1
        assert db.session().get(Case, built.case_id).overdue_since is None
    # A plan paid to the end resolves its case: cured too.
    completed = build_case(app)
    assign(app, completed.case_id, NOW - timedelta(days=1), arm="plan-first")
    with app.app_context():
        session = db.session()
        session.add(
            CaseEvent(case_id=completed.case_id, kind="plan_completed", actor="system", at=NOW)
        )
        session.commit()
    (result,) = measure(
        app, two_arms(EXPERIMENT, challenger="plan-first"), NOW + timedelta(days=59)
    )
    for figures in result.arms:
        assert figures.outcomes["cured_60d"].mature == 1
        assert figures.outcomes["cured_60d"].count == 1


# The command and the page's partial ---------------------------------------------------------


def test_the_command_prints_the_same_figures_as_json(app):
    version(app)
    built = build_case(app)
    assign(app, built.case_id, NOW - timedelta(days=40))
    happen(app, built.case_id, NOW - timedelta(days=39))
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    result = runner.invoke(cli, ["strategy", "results", "--json"], obj=info)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["as_of"] == NOW.date().isoformat()
    (experiment,) = printed["experiments"]
    assert set(experiment) >= {"name", "label", "ended", "arms", "comparisons"}
    champion = experiment["arms"][0]
    assert set(champion) >= {"name", "weight", "cases", "outcomes", "paid_by_currency"}
    assert set(champion["outcomes"]) == {outcome.code for outcome in OUTCOMES}
    assert champion["outcomes"]["link_opened_3d"] == {
        "mature": 1,
        "count": 1,
        "rate": 1.0,
        "ci": pytest.approx([hand_wilson(1, 1)[0], 1.0], abs=1e-6),  # 1 / (1 + z²)
    }
    assert champion["outcomes"]["cured_60d"]["mature"] == 0
    assert champion["paid_by_currency"] == {"TWD": 40_000}
    assert set(experiment["comparisons"][0]) >= {"arm", "outcome", "difference", "ci", "verdict"}
    assert experiment["comparisons"][0]["verdict"] == "not_enough"
    # A day in the past: the case was not assigned yet.
    result = runner.invoke(
        cli, ["strategy", "results", "--json", "--as-of", "2026-10-01"], obj=info
    )
    assert json.loads(result.output)["experiments"][0]["arms"][0]["cases"] == 0
    table = runner.invoke(cli, ["strategy", "results"], obj=info)
    assert table.exit_code == 0, table.output
    assert "link_opened_3d" in table.output
    assert "not_enough" in table.output


def test_the_partial_shows_each_outcome_and_the_verdict_in_words(app):
    version(app)
    built = build_case(app)
    assign(app, built.case_id, NOW - timedelta(days=40))
    with app.app_context():
        found = measured.results(db.session(), two_arms(EXPERIMENT), TODAY, NOW)
    # A verdict the data cannot reach with one case: set it, to see its sentence.
    better = measured.Comparison(
        "challenger", "link_opened_3d", 0.15, 0.0117, 0.2804, 0.95, Verdict.BETTER
    )
    shown = [
        measured.ExperimentResult(
            r.name,
            r.label,
            r.as_of,
            r.ended,
            r.ended_at,
            r.champion,
            r.arms,
            (better, *r.comparisons[1:]),
        )
        for r in found
    ]
    template = '{% include "agent/strategy/_results.html" %}'
    with app.test_request_context("/"), force_locale("en"):
        html = render_template_string(template, experiments=shown, **RESULT_WORDS)
    assert "<caption" in html
    assert 'scope="col"' in html
    assert 'scope="row"' in html
    assert "challenger better by 15.0 percentage points (95% CI 1.2 to 28.0)" in html
    assert "Not yet enough cases" in html
    assert "champion (champion, 50%): 1 case<br>challenger (challenger, 50%): 0 cases" in html
    assert "Only cases assigned at least" in html
    with app.test_request_context("/"), force_locale("zh_Hant_TW"):
        chinese = render_template_string(template, experiments=shown, **RESULT_WORDS)
    assert "challenger 較佳，差距 15.0 個百分點（95% 信賴區間 1.2 至 28.0）" in chinese
    assert "案件數尚不足" in chinese


def test_shares_without_any_spread_give_no_interval_and_no_verdict():
    everyone, nobody = [1.0] * 150, [0.0] * 150
    compared = compare(
        BY_CODE["paid_30d"], arm(everyone), arm(nobody, champion=True), 0.05, everyone, nobody
    )
    assert (compared.difference, compared.low, compared.high) == (1.0, None, None)
    assert compared.verdict is Verdict.NOT_ENOUGH


def test_the_number_of_statements_does_not_grow_with_the_cases(app):
    """A handful of set-based statements per experiment, never one per case."""
    version(app)
    engine = app.extensions["haohuan.engine"]

    def statements() -> int:
        seen: list[str] = []

        def listener(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", listener)
        try:
            measure(app, two_arms(EXPERIMENT))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    first = build_case(app)
    assign(app, first.case_id, NOW - timedelta(days=70))
    happen(app, first.case_id, NOW - timedelta(days=69))
    one = statements()
    for index in range(4):
        built = build_case(app)
        assign(
            app, built.case_id, NOW - timedelta(days=70), arm=("champion", "challenger")[index % 2]
        )
        happen(app, built.case_id, NOW - timedelta(days=69))
    assert statements() == one <= 10
