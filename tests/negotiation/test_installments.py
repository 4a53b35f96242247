"""The engine builds installments without their dataclass's __init__ (plans.installments_of):
they must be the very objects __init__ makes."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from negotiation import Installment
from negotiation.plans import installments_of


def test_installments_of_makes_what_the_constructor_makes() -> None:
    dates = [date(2026, 1, 31) + timedelta(days=7 * k) for k in range(5)]
    amounts = [100, 200, 200, 200, 150]
    built = installments_of(dates, amounts)
    expected = tuple(map(Installment, dates, amounts))
    assert built == expected
    assert [vars(item) for item in built] == [vars(item) for item in expected]
    assert [hash(item) for item in built] == [hash(item) for item in expected]
    assert all(type(item) is Installment for item in built)


def test_installment_is_still_what_installments_of_assumes() -> None:
    # installments_of writes these three fields into __dict__: a new field, a slot or a
    # __post_init__ would make it build something the constructor does not.
    assert [field.name for field in dataclasses.fields(Installment)] == [
        "due_date",
        "amount",
        "moved_from",
    ]
    assert not hasattr(Installment, "__post_init__")
    assert not hasattr(Installment, "__slots__")


def test_installments_stay_frozen() -> None:
    item = installments_of([date(2026, 1, 1)], [5])[0]
    try:
        item.amount = 6  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("an installment must stay frozen")
