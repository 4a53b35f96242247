"""Proposals for 10,000 random cases: median and p99 time per case, cases per second.

Run on demand (``make bench`` or ``.venv/bin/python bench/negotiation.py [--cases N]``);
not part of the test suite. Each case is a realistic random loan in one of the four
currencies and any stage, half of them with an income-and-expenditure statement, so the
fastest-affordable searches are measured too.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

# This script shares the package's name: keep its own folder off the import path so that
# "negotiation" below is the package, not this file.
sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

from negotiation import (  # noqa: E402 (must follow the path fix above)
    Arrears,
    Currency,
    Frequency,
    Hold,
    LoanSnapshot,
    Statement,
    load_policy,
    propose,
)

AS_OF = date(2026, 11, 30)

# Rough size of a typical installment loan per currency, in minor units.
LOAN_SIZE = {
    Currency.TWD: 30_000_000,
    Currency.CNY: 8_000_000,
    Currency.HKD: 9_000_000,
    Currency.USD: 1_200_000,
}


def random_case(rng: random.Random) -> tuple[LoanSnapshot, Statement | None]:
    """One random overdue loan and, half the time, a statement."""
    currency = rng.choice(list(Currency))
    size = int(LOAN_SIZE[currency] * rng.uniform(0.2, 3))
    regular = size // rng.choice((12, 24, 36, 60))
    days = rng.choice((rng.randint(1, 30), rng.randint(31, 90), rng.randint(91, 400)))
    missed = min(1 + days // 30, 12)
    principal = int(regular * missed * rng.uniform(0.7, 0.9))
    snapshot = LoanSnapshot(
        as_of=AS_OF,
        currency=currency,
        arrears=Arrears(
            principal=principal,
            interest=regular * missed - principal,
            fees=rng.randint(0, regular // 10),
            penalties=rng.randint(0, regular // 5) * (days // 30),
        ),
        not_yet_due_principal=max(size - principal, 0),
        regular_installment=regular,
        days_past_due=days,
        frequency=rng.choice((Frequency.MONTHLY,) * 8 + (Frequency.BIWEEKLY, Frequency.WEEKLY)),
        restructures_last_12_months=rng.choice((0, 0, 0, 1)),
        holds=frozenset({Hold.HARDSHIP}) if rng.random() < 0.05 else frozenset(),
    )
    statement = None
    if rng.random() < 0.5:
        income = int(regular * rng.uniform(2, 8))
        statement = Statement(
            net_monthly_income=income,
            household_size=rng.randint(1, 5),
            housing=int(income * rng.uniform(0.15, 0.4)),
            utilities=int(income * 0.05),
            food=int(income * rng.uniform(0.1, 0.25)),
            transport=int(income * 0.05),
            other_debt_payments=int(income * rng.uniform(0, 0.2)),
        )
    return snapshot, statement


def main() -> None:
    """Time ``propose`` over random cases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    policy = load_policy()
    cases = [random_case(rng) for _ in range(args.cases)]
    today = AS_OF + timedelta(days=0)
    for snapshot, statement in cases[:200]:  # warm up
        propose(snapshot, policy, today, statement)
    timings = []
    proposals = 0
    started = time.perf_counter()
    for snapshot, statement in cases:
        begin = time.perf_counter()
        proposals += len(propose(snapshot, policy, today, statement))
        timings.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"cases             {len(cases):>10,}")
    print(f"proposals         {proposals:>10,}  ({proposals / len(cases):.1f} per case)")
    print(f"median per case   {statistics.median(timings) * 1000:>10.3f} ms")
    print(f"p99 per case      {p99 * 1000:>10.3f} ms")
    print(f"max per case      {timings[-1] * 1000:>10.3f} ms")
    print(f"cases per second  {len(cases) / elapsed:>10,.0f}")


if __name__ == "__main__":
    main()
