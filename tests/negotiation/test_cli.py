"""The JSON command line: its contract, and bad input that exits 2 with one line."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from negotiation.cli import main

ROOT = Path(__file__).resolve().parents[2]

CASE = {
    "as_of": "2026-11-30",
    "currency": "TWD",
    "arrears": {"principal": 1_500_000, "interest": 120_000, "fees": 30_000, "penalties": 45_000},
    "not_yet_due_principal": 9_000_000,
    "regular_installment": 550_000,
    "days_past_due": 47,
}


def run(command, payload):
    """Run the real module in a child process, as a caller would."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [sys.executable, "-m", "negotiation", command],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def call(command, payload):
    """Run the command line in-process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    text = payload if isinstance(payload, str) else json.dumps(payload)
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        status = main([command], stdin=io.StringIO(text), stdout=out)
    finally:
        sys.stderr = sys_stderr
    return status, out.getvalue(), err.getvalue()


def test_propose_honours_the_contract():
    result = run("propose", CASE)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["stage"] == "mid"
    assert answer["proposals"]
    for proposal in answer["proposals"]:
        assert {"kind", "installments", "total", "waived", "affordable"} <= set(proposal)
        assert proposal["total"] == sum(i["amount"] for i in proposal["installments"])
        assert all(isinstance(i["amount"], int) for i in proposal["installments"])
        assert all(len(i["due_date"]) == 10 for i in proposal["installments"])
        assert proposal["affordable"] is None  # no statement given
        assert proposal["timeline"]
    kinds = {p["kind"] for p in answer["proposals"]}
    assert kinds == {"pay_in_full", "deferral", "arrears_plan", "restructure"}


def test_propose_with_a_statement_judges_affordability():
    case = {
        **CASE,
        "statement": {
            "net_monthly_income": 4_500_000,
            "household_size": 3,
            "housing": 1_500_000,
            "food": 1_200_000,
            "utilities": 300_000,
            "transport": 300_000,
        },
    }
    status, out, _ = call("propose", case)
    assert status == 0
    answer = json.loads(out)
    assert answer["affordability"] == {
        "disposable_income": 1_200_000,
        "affordable_monthly": 960_000,
        "flags": [],
    }
    first = answer["proposals"][0]
    assert first["affordable"] is True
    assert "recommended" in first["labels"]


def test_stage_writes_the_dated_timeline():
    status, out, _ = call("stage", {**CASE, "days_past_due": 10})
    assert status == 0
    answer = json.loads(out)
    assert answer["stage"] == "early"
    assert [(e["date"], e["event"]) for e in answer["timeline"]] == [
        ("2026-12-20", "penalty_accrues"),
        ("2026-12-20", "credit_reported"),
        ("2026-12-21", "stage_changes"),
        ("2027-02-19", "stage_changes"),
        ("2027-02-19", "legal_referral"),
    ]


def test_policy_overrides_in_the_input():
    status, out, _ = call("stage", {**CASE, "policy": {"stages": {"mid_from_days": 60}}})
    assert status == 0
    assert json.loads(out)["stage"] == "early"


def test_evaluate_a_custom_request():
    request = {"kind": "arrears_plan", "installments": 13, "first_due_date": "2026-12-01"}
    status, out, _ = call("evaluate", {**CASE, "request": request})
    assert status == 0
    answer = json.loads(out)
    assert answer["accepted"] is False
    assert answer["rejections"] == [{"reason": "term_too_long", "nearest": 12}]
    request["installments"] = 12
    answer = json.loads(call("evaluate", {**CASE, "request": request})[1])
    assert answer["accepted"] is True
    assert len(answer["proposal"]["installments"]) == 12


def test_judge_an_offer():
    offer = {"kind": "arrears_plan", "installments": 15, "first_due_date": "2026-12-01"}
    status, out, _ = call("offer", {**CASE, "offer": offer})
    assert status == 0
    answer = json.loads(out)
    assert answer["authority"] == "needs_approval"
    assert answer["reasons"] == [{"reason": "term_too_long", "nearest": 12}]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({**CASE, "as_of": "30/11/2026"}, "as_of: must be a date"),
        ({k: v for k, v in CASE.items() if k != "as_of"}, "as_of: must be a date"),
        ({**CASE, "currency": "JPY"}, "currency: must be one of TWD, CNY, HKD, USD"),
        ({**CASE, "arrears": {"principal": -5}}, "arrears.principal"),
        ({**CASE, "arrears": {"principal": 10.5}}, "arrears.principal"),
        ({**CASE, "arrears": {"principal": "100"}}, "arrears.principal"),
        ({**CASE, "arrears": []}, "arrears: must be an object"),
        ({**CASE, "days_past_due": True}, "days_past_due"),
        ({**CASE, "days_past_due": 10**6}, "days_past_due"),
        ({**CASE, "regular_installment": 10**30}, "regular_installment"),
        ({**CASE, "holds": ["bankrupt"]}, "holds"),
        ({**CASE, "today": "2026-11-01"}, "today: must not be before as_of"),
        ({**CASE, "statement": {"net_monthly_income": 1, "household_size": 0}}, "household_size"),
        ({**CASE, "statement": "poor"}, "statement: must be an object"),
        ({**CASE, "policy": {"plans": {"grace_days": -1}}}, "plans.grace_days"),
        ({**CASE, "policy": []}, "policy: must be an object"),
        ({**CASE, "arrears": {}, "days_past_due": 5}, "must have arrears"),
    ],
)
def test_bad_input_exits_2_with_one_line(payload, message):
    status, out, err = call("propose", payload)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_bad_input_never_prints_a_traceback():
    result = run("propose", '{"as_of": "2026-02-30"}')
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    result = run("evaluate", {**CASE, "request": {"kind": "arrears_plan", "installments": "x"}})
    assert result.returncode == 2
    assert "request.installments" in result.stderr


def test_unknown_command_is_refused_by_the_parser():
    result = run("haggle", CASE)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
