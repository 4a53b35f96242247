"""``python -m negotiation``: one JSON case on stdin, the engine's answer on stdout.

Commands: ``propose`` (every plan on offer), ``stage`` (stage and dated timeline),
``evaluate`` (a custom request under "request"), ``offer`` (an agent's offer under
"offer"). Bad input exits 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from negotiation.affordability import assess
from negotiation.consequences import plan_timeline, timeline
from negotiation.jsonio import (
    InputError,
    dump_assessment,
    dump_decision,
    dump_event,
    dump_judgement,
    dump_proposal,
    parse_case,
    parse_offer,
    parse_policy_overrides,
    parse_request,
    parse_statement,
    policy_summary,
)
from negotiation.offers import judge_offer
from negotiation.policy import Policy, PolicyError, load_policy
from negotiation.proposals import evaluate_request, propose
from negotiation.snapshot import LoanSnapshot

EXIT_BAD_INPUT = 2


def _header(snapshot: LoanSnapshot, policy: Policy) -> dict[str, Any]:
    return {
        "as_of": snapshot.as_of.isoformat(),
        "currency": snapshot.currency.value,
        "days_past_due": snapshot.days_past_due,
        "stage": policy.stage_for(snapshot.days_past_due).value,
        "on_hold": sorted(hold.value for hold in snapshot.holds),
    }


def run_stage(raw: Any, snapshot: LoanSnapshot, today: date, policy: Policy) -> dict[str, Any]:
    """The stage and the dated timeline if nothing changes."""
    result = _header(snapshot, policy)
    result["thresholds"] = policy_summary(policy)
    result["timeline"] = [dump_event(event) for event in timeline(snapshot, policy)]
    return result


def run_propose(raw: Any, snapshot: LoanSnapshot, today: date, policy: Policy) -> dict[str, Any]:
    """Every plan the borrower may choose, best first, each with its timeline."""
    statement = parse_statement(raw)
    result = _header(snapshot, policy)
    if statement is not None:
        result["affordability"] = dump_assessment(assess(statement, policy, snapshot.currency))
    result["proposals"] = [
        dump_proposal(
            proposal,
            plan_timeline(
                snapshot,
                policy,
                proposal.plan,
                today,
                conditional_waiver=proposal.conditional_waiver,
            ),
        )
        for proposal in propose(snapshot, policy, today, statement)
    ]
    return result


def run_evaluate(raw: Any, snapshot: LoanSnapshot, today: date, policy: Policy) -> dict[str, Any]:
    """A borrower's custom request: accepted with its schedule, or refused with reasons."""
    decision = evaluate_request(
        snapshot, policy, today, parse_request(raw, today), parse_statement(raw)
    )
    events = None
    if decision.proposal is not None:
        events = plan_timeline(
            snapshot,
            policy,
            decision.proposal.plan,
            today,
            conditional_waiver=decision.proposal.conditional_waiver,
        )
    return {**_header(snapshot, policy), **dump_decision(decision, events)}


def run_offer(raw: Any, snapshot: LoanSnapshot, today: date, policy: Policy) -> dict[str, Any]:
    """An agent's offer judged against the agent's and the supervisor's authority."""
    judgement = judge_offer(snapshot, policy, today, parse_offer(raw, today), parse_statement(raw))
    return {**_header(snapshot, policy), **dump_judgement(judgement)}


COMMANDS: dict[str, Callable[[Any, LoanSnapshot, date, Policy], dict[str, Any]]] = {
    "propose": run_propose,
    "stage": run_stage,
    "evaluate": run_evaluate,
    "offer": run_offer,
}


def answer(command: str, text: str) -> dict[str, Any]:
    """The JSON answer of ``command`` for the JSON case ``text``.

    Raises ``InputError`` or ``PolicyError`` (both ValueErrors) for bad input.
    """
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON: {error.msg} (line {error.lineno})") from None
    snapshot, today = parse_case(raw)
    policy = load_policy(parse_policy_overrides(raw))
    return COMMANDS[command](raw, snapshot, today, policy)


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m negotiation", description="Haohuan's negotiation engine on JSON."
    )
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    source = stdin if stdin is not None else sys.stdin
    sink = stdout if stdout is not None else sys.stdout
    try:
        result = answer(args.command, source.read())
    except (InputError, PolicyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, ArithmeticError, RecursionError) as error:
        # A value the parsers let through but the domain refuses is still bad input.
        print(f"error: invalid value: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    json.dump(result, sink, ensure_ascii=False, indent=2)
    sink.write("\n")
    return 0
