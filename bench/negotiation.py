"""Proposals for 10,000 random cases: median and p99 time per case, cases per second, and
the same cases against their floor.

Run on demand (``make bench`` or ``.venv/bin/python bench/negotiation.py [--cases N]``);
not part of the test suite. Each case is a realistic random loan in one of the four
currencies and any stage, half of them with an income-and-expenditure statement, so the
fastest-affordable searches are measured too.

The floor of a case is the bare arithmetic of the installments the engine proposes for
it: for each proposal, its total split over its count by integer division (the remainder
on the last installment, where the engine places it) and its due dates stepped from the
first (whole months clamped to the month's end, or 7 or 14 days), as plain (date, amount)
tuples. It knows no policy, searches nothing and builds no objects of the engine's; it is
what any code producing those schedules must do at the least. Engine and floor are timed
case by case, interleaved, in one process (``compare_rows``, a row of
``make bench-compare``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
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
    Proposal,
    Statement,
    load_policy,
    propose,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare import Row, at_most  # noqa: E402

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


# One proposal's schedule as the floor sees it: first due date, installments, days between
# them (0 for monthly) and the total.
Shape = tuple[date, int, int, int]
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_STEP_DAYS = {Frequency.MONTHLY: 0, Frequency.BIWEEKLY: 14, Frequency.WEEKLY: 7}


def shapes(proposals: tuple[Proposal, ...]) -> list[Shape]:
    """What the floor needs of each proposal: no more than its size and its start."""
    return [
        (
            p.plan.first_due_date,
            len(p.plan.installments),
            _STEP_DAYS[p.plan.frequency],
            p.plan.total,
        )
        for p in proposals
    ]


def floor_schedules(case: list[Shape]) -> list[list[tuple[date, int]]]:
    """The floor: the same installments as plain (date, amount) tuples, by bare arithmetic.

    Amounts: the total over the count, the remainder on the last. Dates: whole months from
    the first date's month, clamped to the month's end, or a fixed step of days."""
    schedules = []
    for first, count, days, total in case:
        base = total // count
        amounts = [base] * (count - 1)
        amounts.append(total - base * (count - 1))
        dates = [first]
        if days:
            step = timedelta(days=days)
            day = first
            for _ in range(count - 1):
                day += step
                dates.append(day)
        else:
            anchor, year, month = first.day, first.year, first.month
            for _ in range(count - 1):
                month += 1
                if month == 13:
                    year, month = year + 1, 1
                last = _DAYS_IN_MONTH[month - 1]
                if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
                    last = 29
                dates.append(date(year, month, anchor if anchor < last else last))
        schedules.append(list(zip(dates, amounts, strict=True)))
    return schedules


def measure_against_floor(cases: int = 10_000, seed: int = 20261130) -> tuple[float, float]:
    """Median seconds per case of the engine's proposals and of their floor, each case
    timed both ways back to back (the order alternating), in this process."""
    rng = random.Random(seed)
    policy = load_policy()
    today = AS_OF
    drawn = [random_case(rng) for _ in range(cases)]
    floors = [shapes(propose(snapshot, policy, today, statement)) for snapshot, statement in drawn]
    for (snapshot, statement), case in zip(drawn[:300], floors, strict=False):  # warm up
        propose(snapshot, policy, today, statement)
        floor_schedules(case)
    engine_times: list[float] = []
    floor_times: list[float] = []
    clock = time.perf_counter
    gc.collect()
    for index, ((snapshot, statement), case) in enumerate(zip(drawn, floors, strict=True)):
        for turn in (index % 2, 1 - index % 2):
            if turn == 0:
                begin = clock()
                propose(snapshot, policy, today, statement)
                engine_times.append(clock() - begin)
            else:
                begin = clock()
                floor_schedules(case)
                floor_times.append(clock() - begin)
    return statistics.median(engine_times), statistics.median(floor_times)


def profile(cases: int, seed: int) -> None:
    """Print where ``propose`` spends its time over ``cases`` random cases: the functions
    by their own time, then by their time with what they call."""
    rng = random.Random(seed)
    policy = load_policy()
    drawn = [random_case(rng) for _ in range(cases)]
    for snapshot, statement in drawn[:200]:  # warm up
        propose(snapshot, policy, AS_OF, statement)
    profiler = cProfile.Profile()
    profiler.enable()
    for snapshot, statement in drawn:
        propose(snapshot, policy, AS_OF, statement)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)


def compare_rows(admin_url: str | None = None) -> list[Row]:
    """The row "all proposals for one case": the engine's median per case over its floor's
    (``admin_url`` is unused: the engine needs no database)."""
    engine, floor = measure_against_floor()
    return [
        at_most(
            "all proposals for one case",
            f"{engine * 1000:.3f} ms median",
            f"plain-Python schedule for the same installments: {floor * 1000:.3f} ms",
            engine / floor,
            5,
        )
    ]


def main() -> None:
    """Time ``propose`` over random cases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument(
        "--floor", action="store_true", help="time the engine against its floor instead"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the proposals (cProfile) instead"
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.cases, args.seed)
        return
    if args.floor:
        engine, floor = measure_against_floor(args.cases, args.seed)
        print(f"engine median per case  {engine * 1000:>8.3f} ms")
        print(f"floor median per case   {floor * 1000:>8.3f} ms")
        print(f"ratio                   {engine / floor:>8.2f}x  (goal <= 5x)")
        return
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
