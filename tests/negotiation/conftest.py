"""Shared builders for the negotiation tests: a default policy and snapshots by example."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from negotiation import Arrears, Currency, Frequency, LoanSnapshot, Policy, load_policy

AS_OF = date(2026, 11, 30)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


def snapshot(**changes: Any) -> LoanSnapshot:
    """A TWD loan 47 days past due unless told otherwise."""
    values: dict[str, Any] = {
        "as_of": AS_OF,
        "currency": Currency.TWD,
        "arrears": Arrears(principal=1_500_000, interest=120_000, fees=30_000, penalties=45_000),
        "not_yet_due_principal": 9_000_000,
        "regular_installment": 550_000,
        "days_past_due": 47,
        "frequency": Frequency.MONTHLY,
    }
    values.update(changes)
    return LoanSnapshot(**values)
