"""The chart of accounts: which general-ledger account each kind of money movement posts
to, per loan product and currency (as Fineract maps each loan product's GL accounts).

A chart is a TOML document (``default_accounts.toml``, or a lender's file laid over it):
``[accounts]`` for every product and currency, ``[currencies.<CUR>]``,
``[products.<product>]`` and ``[products.<product>.currencies.<CUR>]`` overriding any of
its kinds. The most specific mapping wins. ``load_chart`` checks the whole document and
raises ``ChartError`` naming every mapping at fault: a kind with no account, an unknown
kind, an account name a ledger would refuse.

Pure: a document in, a ``Chart`` out; the portal reads the file at start.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_FILE = "default_accounts.toml"
# Beancount's account names (and most ledgers'): a root type, then components that each
# start with a capital letter or a digit.
ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
_COMPONENT = re.compile(r"[A-Z0-9][A-Za-z0-9-]*")
_CURRENCY = re.compile(r"[A-Z]{3}")


class AccountKind(StrEnum):
    """What an amount is, for the ledger: a waterfall target, or a movement around it."""

    PRINCIPAL = "principal"
    INTEREST = "interest"
    FEE = "fee"
    PENALTY = "penalty"
    CREDIT = "credit"
    CLEARING = "clearing"
    STRIPE_FEE = "stripe_fee"
    SUSPENSE = "suspense"
    REFUNDS_PAYABLE = "refunds_payable"
    DISPUTE = "dispute"
    DISPUTE_FEE = "dispute_fee"
    WRITE_OFF = "write_off"


# The kinds a payment's allocations name (``Allocation.target``).
TARGETS = (
    AccountKind.PENALTY,
    AccountKind.FEE,
    AccountKind.INTEREST,
    AccountKind.PRINCIPAL,
    AccountKind.CREDIT,
)


class ChartError(ValueError):
    """The chart cannot be used; ``problems`` names each mapping at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Chart:
    """A checked chart: ``account`` answers for any product and currency."""

    default: Mapping[AccountKind, str]
    by_currency: Mapping[str, Mapping[AccountKind, str]] = field(default_factory=dict)
    by_product: Mapping[str, Mapping[AccountKind, str]] = field(default_factory=dict)
    by_product_currency: Mapping[tuple[str, str], Mapping[AccountKind, str]] = field(
        default_factory=dict
    )

    def account(self, kind: AccountKind | str, product: str, currency: str) -> str:
        """The account ``kind`` posts to for a loan of ``product`` in ``currency``; an
        unknown target (no kind of the chart) posts to suspense."""
        try:
            wanted = AccountKind(kind)
        except ValueError:
            wanted = AccountKind.SUSPENSE
        for layer in (
            self.by_product_currency.get((product, currency), {}),
            self.by_product.get(product, {}),
            self.by_currency.get(currency, {}),
            self.default,
        ):
            if wanted in layer:
                return layer[wanted]
        # load_chart refuses a default without every kind, so this is a broken Chart
        # built by hand.
        raise ChartError([f"no account for {wanted.value} ({product}, {currency})"])

    def accounts(self) -> list[str]:
        """Every account the chart names, sorted (what a ledger file opens)."""
        names = set(self.default.values())
        for layers in (self.by_currency, self.by_product, self.by_product_currency):
            for layer in layers.values():
                names.update(layer.values())
        return sorted(names)


def default_document() -> dict[str, Any]:
    """The shipped chart, as a table."""
    text = resources.files("negotiation").joinpath(DEFAULT_FILE).read_text("utf-8")
    return tomllib.loads(text)


def read_document(path: Path | str) -> dict[str, Any]:
    """A chart file (TOML) as a table; raises ``ChartError`` when it is not TOML."""
    try:
        return tomllib.loads(Path(path).read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ChartError([f"{path}: not valid TOML ({error})"]) from error


def overlay(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``, table by table (a lender's file over the default)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_chart(document: Mapping[str, Any]) -> Chart:
    """A chart from its document, checked whole; raises ``ChartError`` naming every
    mapping at fault (``[accounts]`` must map every kind)."""
    problems: list[str] = []
    unknown = sorted(set(document) - {"accounts", "currencies", "products"})
    problems += [f"[{key}]: not a section of a chart of accounts" for key in unknown]
    default = _layer(document.get("accounts", {}), "[accounts]", problems)
    problems += [
        f"[accounts]: no account for {kind.value}" for kind in AccountKind if kind not in default
    ]
    by_currency = {
        currency: _layer(table, f"[currencies.{currency}]", problems)
        for currency, table in _tables(document.get("currencies", {}), "currencies", problems)
    }
    problems += [
        f"[currencies.{code}]: {code!r} is not a currency code such as TWD"
        for code in by_currency
        if not _CURRENCY.fullmatch(code)
    ]
    by_product: dict[str, Mapping[AccountKind, str]] = {}
    by_product_currency: dict[tuple[str, str], Mapping[AccountKind, str]] = {}
    for product, table in _tables(document.get("products", {}), "products", problems):
        where = f"[products.{product}]"
        own = {key: value for key, value in table.items() if key != "currencies"}
        by_product[product] = _layer(own, where, problems)
        for code, inner in _tables(
            table.get("currencies", {}), f"{where[1:-1]}.currencies", problems
        ):
            if not _CURRENCY.fullmatch(code):
                problems.append(f"[products.{product}.currencies.{code}]: not a currency code")
            by_product_currency[(product, code)] = _layer(
                inner, f"[products.{product}.currencies.{code}]", problems
            )
    if problems:
        raise ChartError(problems)
    return Chart(default, by_currency, by_product, by_product_currency)


def valid_account(name: str) -> bool:
    """Whether ``name`` is an account name a ledger takes (``Assets:Loans:Principal``)."""
    parts = name.split(":")
    return (
        len(parts) >= 2
        and parts[0] in ROOTS
        and all(_COMPONENT.fullmatch(part) for part in parts[1:])
    )


def _tables(value: Any, where: str, problems: list[str]) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(value, Mapping):
        problems.append(f"[{where}]: must be a table")
        return []
    found = []
    for key, table in value.items():
        if isinstance(table, Mapping):
            found.append((str(key), table))
        else:
            problems.append(f"[{where}.{key}]: must be a table")
    return found


def _layer(table: Any, where: str, problems: list[str]) -> dict[AccountKind, str]:
    if not isinstance(table, Mapping):
        problems.append(f"{where}: must be a table")
        return {}
    layer: dict[AccountKind, str] = {}
    for key, name in table.items():
        try:
            kind = AccountKind(key)
        except ValueError:
            problems.append(f"{where}: {key!r} is not a kind the chart maps")
            continue
        if not isinstance(name, str) or not valid_account(name):
            problems.append(
                f"{where}: {key} = {name!r} is not an account name such as "
                "Assets:Loans:Receivable:Principal"
            )
            continue
        layer[kind] = name
    return layer
