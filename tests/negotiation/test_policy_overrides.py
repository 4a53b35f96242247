"""Override files as policy versions read them: unknown keys refused, written back as
TOML that reads the same, compared key by key."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from negotiation import (
    PolicyError,
    changes,
    dump_overrides,
    effective_table,
    parse_overrides,
    read_overrides,
    with_values,
)
from negotiation.policy import _default_table


def test_the_whole_default_policy_is_written_back_as_it_reads():
    table = _default_table()
    assert read_overrides(dump_overrides(table)) == table


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[authority.agent]\nmax_instalments = 3\n", "authority.agent.max_instalments"),
        ("[authority.manager]\nmax_installments = 3\n", "authority.manager"),
        ("colour = 1\n", "colour"),
        ("[contact.jurisdiction.SG]\nbedtime = 1\n", "contact.jurisdiction.SG.bedtime"),
    ],
)
def test_a_key_the_policy_does_not_have_is_named(text, key):
    with pytest.raises(PolicyError, match=f"^{key.replace('.', '[.]')}: is not a key"):
        read_overrides(text)


def test_bad_toml_is_a_policy_error():
    with pytest.raises(PolicyError, match=r"^toml: "):
        read_overrides("[holds\n")


def test_a_new_jurisdiction_with_known_keys_is_read():
    text = (
        '[contact.jurisdiction.SG]\nallowed_from = "09:00"\nallowed_until = "20:00"\n'
        "blackouts = []\n"
    )
    assert parse_overrides(text).contact_tables["SG"].windows[0].start.hour == 9


def test_changes_compare_effective_values():
    assert changes("", "[authority.agent]\nmax_installments = 12\n") == ()  # the default
    [change] = changes("", "[holds]\ndispute_review_days = 21\n")
    assert (change.key, change.old, change.new) == ("holds.dispute_review_days", 30, 21)
    back = changes("[holds]\ndispute_review_days = 21\n", "")
    assert [(c.old, c.new) for c in back] == [(21, 30)]


def test_with_values_writes_only_what_differs_and_keeps_the_rest():
    base = "[holds]\ndispute_review_days = 21\n"
    text = with_values(
        base,
        {
            "authority.agent.max_installments": 18,
            "authority.agent.max_fee_waiver_pct": Decimal(25),  # the default: left out
            "holds.dispute_review_days": 21,
        },
    )
    assert read_overrides(text) == {
        "holds": {"dispute_review_days": 21},
        "authority": {"agent": {"max_installments": 18}},
    }


VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.text(max_size=20),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)),
)
KEYS = st.text(min_size=1, max_size=12)
TABLES = st.recursive(
    st.dictionaries(KEYS, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=4),
    lambda inner: st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)


@given(TABLES)
def test_any_table_is_written_as_toml_that_reads_back_the_same(table):
    assert tomllib.loads(dump_overrides(table), parse_float=Decimal) == table


def test_effective_table_lays_the_file_over_the_defaults():
    flat = effective_table("[holds]\ndispute_review_days = 21\n")
    assert flat["holds.dispute_review_days"] == 21
    assert flat["holds.hardship_breathing_space_days"] == 60
