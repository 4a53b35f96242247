"""Two-person approval for finance (portal.finance.approval): the limit per currency from
HAOHUAN_FINANCE_APPROVAL_ABOVE, in minor units by the currency's exponent; every amount in
a currency without a limit; and only another active finance member approves."""

from __future__ import annotations

import pytest

from portal.core import db
from portal.finance.approval import (
    SamePersonError,
    approval_limit,
    check_second_person,
    needs_second_person,
)
from portal.models import StaffMember

from .factories import add_staff


@pytest.fixture
def extra_config() -> dict[str, object]:
    return {"FINANCE_APPROVAL_ABOVE": "TWD=3000,USD=100.50"}


def test_the_limit_is_in_minor_units_by_the_currency(app):
    with app.app_context():
        assert approval_limit("TWD") == 3000 * 100
        assert approval_limit("usd") == 10050
        assert approval_limit("HKD") is None


def test_above_the_limit_or_without_one_needs_a_second_person(app):
    with app.app_context():
        assert not needs_second_person(300000, "TWD")
        assert needs_second_person(300001, "TWD")
        assert needs_second_person(1, "HKD")


def test_only_another_active_finance_member_approves(app):
    add_staff(app, "asker@haohuan.example", roles=("finance",))
    add_staff(app, "second@haohuan.example", roles=("finance",))
    add_staff(app, "agent@haohuan.example", roles=("agent",))
    with app.app_context():
        members = {m.email.split("@")[0]: m for m in db.session().query(StaffMember)}
        asker = members["asker"]
        check_second_person(asker.id, members["second"])
        with pytest.raises(SamePersonError):
            check_second_person(asker.id, asker)
        with pytest.raises(SamePersonError):
            check_second_person(asker.id, members["agent"])
        members["second"].active = False
        with pytest.raises(SamePersonError):
            check_second_person(asker.id, members["second"])
