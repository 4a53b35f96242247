"""The engine's full output for thousands of random cases, recorded once and compared after
every change: an optimisation must leave every proposal and every installment as it was.

``--record FILE`` writes the output (one JSON line per case), ``--check FILE`` recomputes
it and names the first case that differs; without either, it prints the output's SHA-256.
The cases are ``bench/negotiation.py``'s generator under the default policy and a few
overrides (rates on every kind, every frequency, small minimums, no self-service), each
with ``propose``, random ``evaluate_request`` calls and random ``judge_offer`` calls, so
the shared builders (schedules, waivers, searches) are covered on every path.

Run: ``.venv/bin/python bench/engine_golden.py --check /tmp/engine-golden.jsonl``
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

# This folder holds a script named like the package: keep it off the import path.
sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

from negotiation import (  # noqa: E402 (must follow the path fix above)
    Frequency,
    PlanKind,
    PlanRequest,
    Policy,
    Terms,
    evaluate_request,
    judge_offer,
    load_policy,
    propose,
)


def _bench_module() -> Any:
    """bench/negotiation.py, its generator (it cannot be imported by its name, which is
    the package's)."""
    path = Path(__file__).resolve().parent / "negotiation.py"
    spec = importlib.util.spec_from_file_location("bench_negotiation", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH = _bench_module()
AS_OF: date = _BENCH.AS_OF
random_case = _BENCH.random_case

ALL_FREQUENCIES = [frequency.value for frequency in Frequency]
ALL_KINDS = [kind.value for kind in PlanKind]
OVERRIDES: tuple[dict[str, Any], ...] = (
    {},
    {"stage": {"late": {"plan_interest_rate_pct": "12.5", "frequencies": ALL_FREQUENCIES}}},
    {
        "stage": {
            "early": {
                "plan_kinds": ALL_KINDS,
                "max_restructure_installments": 24,
                "minimum_down_payment_pct": "33.3",
                "max_fee_waiver_pct": "12.5",
                "settlement_discount_cap_pct": 15,
                "plan_interest_rate_pct": "7.25",
            },
            "mid": {
                "plan_interest_rate_pct": "36",
                "minimum_installment": {"TWD": 1, "CNY": 1, "HKD": 1, "USD": 1},
                "max_restructure_installments": 84,
            },
        }
    },
    {"stage": {"late": {"self_service": False}}},
)


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data, independent of hash order (labels are a frozenset)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"@": type(value).__name__, **fields}
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, frozenset | set):
        return sorted(canonical(item) for item in value)
    if isinstance(value, tuple | list):
        return [canonical(item) for item in value]
    if isinstance(value, Decimal):
        return f"D{value}"  # the exponent too: Decimal("5") and Decimal("5.0") differ
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"cannot record {value!r}")


def _requests(rng: random.Random, today: date) -> Iterator[PlanRequest]:
    for _ in range(4):
        yield PlanRequest(
            kind=rng.choice(list(PlanKind)),
            first_due_date=today + timedelta(days=rng.choice((0, 0, 3, 14, 15, 30, -1))),
            installments=rng.choice((1, 2, 3, 6, 12, 13, 24, 36, 60, 61)),
            frequency=rng.choice(list(Frequency)),
            down_payment=rng.choice((None, None, 0, 100, 50_000, 10**7)),
        )


def _offers(rng: random.Random, today: date) -> Iterator[Terms]:
    for _ in range(3):
        yield Terms(
            kind=rng.choice(list(PlanKind)),
            first_due_date=today + timedelta(days=rng.choice((0, 7, 30, 45, 46))),
            installments=rng.choice((1, 2, 6, 12, 24, 36, 84)),
            frequency=rng.choice(list(Frequency)),
            down_payment=rng.choice((None, None, 0, 20_000)),
            penalty_waiver_pct=Decimal(rng.choice(("0", "50", "100"))),
            fee_waiver_pct=Decimal(rng.choice(("0", "25", "12.5"))),
            settlement_discount_pct=Decimal(rng.choice(("0", "10", "40", "41"))),
            interest_rate_pct=Decimal(rng.choice(("0", "3", "5", "7.25"))),
        )


def outputs(cases: int, seed: int) -> Iterator[str]:
    """One canonical JSON line per case and policy."""
    policies: list[Policy] = [load_policy(overrides) for overrides in OVERRIDES]
    rng = random.Random(seed)
    for number in range(cases):
        snapshot, statement = random_case(rng)
        policy_index = number % len(policies)
        policy = policies[policy_index]
        today = AS_OF + timedelta(days=rng.choice((0, 0, 0, 1, 29)))
        record: dict[str, Any] = {
            "case": number,
            "policy": policy_index,
            "proposals": canonical(propose(snapshot, policy, today, statement)),
            "requests": [
                canonical(evaluate_request(snapshot, policy, today, request, statement))
                for request in _requests(rng, today)
            ],
            "offers": [
                canonical(judge_offer(snapshot, policy, today, terms, statement))
                for terms in _offers(rng, today)
            ],
        }
        yield json.dumps(record, sort_keys=True, separators=(",", ":"))


def main() -> None:
    """Record, check or digest the engine's output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20261206)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--record", type=Path)
    action.add_argument("--check", type=Path)
    args = parser.parse_args()
    lines = outputs(args.cases, args.seed)
    if args.record:
        with args.record.open("w") as handle:
            for line in lines:
                handle.write(line + "\n")
        print(f"recorded {args.cases} cases to {args.record}")
        return
    if args.check:
        with args.check.open() as handle:
            for expected, line in zip(handle, lines, strict=True):
                if expected.rstrip("\n") != line:
                    print(f"DIFFERS: case {json.loads(line)['case']}")
                    print(f"expected {expected.strip()[:2000]}")
                    print(f"got      {line[:2000]}")
                    sys.exit(1)
        print(f"identical: {args.cases} cases")
        return
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
