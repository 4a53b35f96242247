"""The lender's collection policy: stages, plan bounds, affordability and authority.

The defaults live in ``default_policy.toml`` beside this module. A product overrides any
key with a TOML file of the same shape; the JSON command line takes the same keys.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from negotiation.contact import (
    ALL_CHANNELS,
    Blackout,
    Channel,
    ContactRules,
    ContactWindow,
    strictest,
)
from negotiation.dates import Frequency
from negotiation.jurisdiction import COUNTRIES, layers
from negotiation.legal import LegalCost, LegalMilestone, LegalRules, MarketPath
from negotiation.money import Currency

E = TypeVar("E", bound=StrEnum)


class Stage(StrEnum):
    """Where a loan stands in the collection process, by days past due."""

    CURRENT = "current"
    EARLY = "early"
    MID = "mid"
    LATE = "late"


class PlanKind(StrEnum):
    """The kinds of arrangement a borrower may choose or an agent may offer."""

    PAY_IN_FULL = "pay_in_full"
    DEFERRAL = "deferral"
    ARREARS_PLAN = "arrears_plan"
    RESTRUCTURE = "restructure"
    SETTLEMENT = "settlement"

    @property
    def is_installment_plan(self) -> bool:
        """True for kinds paid over several installments."""
        return self in (PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE)

    @property
    def covers_whole_balance(self) -> bool:
        """True when the kind deals with the not-yet-due principal too, not only arrears."""
        return self in (PlanKind.RESTRUCTURE, PlanKind.SETTLEMENT)


class ExpenseCategory(StrEnum):
    """Expense lines of an income-and-expenditure statement that have guideline figures."""

    FOOD = "food"
    UTILITIES = "utilities"
    TRANSPORT = "transport"
    OTHER = "other"


class PolicyError(ValueError):
    """A policy value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class StageRules:
    """What a borrower may choose alone while the loan is in one stage."""

    self_service: bool
    plan_kinds: frozenset[PlanKind]
    frequencies: tuple[Frequency, ...]
    max_installments: int
    max_restructure_installments: int
    minimum_installment: Mapping[Currency, int]
    minimum_down_payment_pct: Decimal
    max_days_to_first_payment: int
    max_penalty_waiver_pct: Decimal
    max_fee_waiver_pct: Decimal
    conditional_waivers: bool
    plan_interest_rate_pct: Decimal
    settlement_discount_cap_pct: Decimal

    @cached_property
    def bounds(self) -> Bounds:
        """These rules as bounds; a borrower's plan carries the stage's own rate (built
        once per rules: the engine asks for them on every proposal)."""
        return Bounds(
            plan_kinds=self.plan_kinds,
            frequencies=frozenset(self.frequencies),
            max_installments=self.max_installments,
            max_restructure_installments=self.max_restructure_installments,
            max_days_to_first_payment=self.max_days_to_first_payment,
            minimum_down_payment_pct=self.minimum_down_payment_pct,
            max_penalty_waiver_pct=self.max_penalty_waiver_pct,
            max_fee_waiver_pct=self.max_fee_waiver_pct,
            settlement_discount_cap_pct=self.settlement_discount_cap_pct,
            min_plan_interest_rate_pct=self.plan_interest_rate_pct,
        )


@dataclass(frozen=True)
class Bounds:
    """The limits a plan must keep: a stage's self-service limits or a staff role's."""

    plan_kinds: frozenset[PlanKind]
    frequencies: frozenset[Frequency]
    max_installments: int
    max_restructure_installments: int
    max_days_to_first_payment: int
    minimum_down_payment_pct: Decimal
    max_penalty_waiver_pct: Decimal
    max_fee_waiver_pct: Decimal
    settlement_discount_cap_pct: Decimal
    min_plan_interest_rate_pct: Decimal

    def allows(self, kind: PlanKind) -> bool:
        """True when a plan of ``kind`` is within these bounds; paying in full always is."""
        return kind is PlanKind.PAY_IN_FULL or kind in self.plan_kinds

    def max_term(self, kind: PlanKind) -> int:
        """The most installments a plan of ``kind`` may have."""
        if kind is PlanKind.RESTRUCTURE:
            return self.max_restructure_installments
        if kind is PlanKind.ARREARS_PLAN:
            return self.max_installments
        return 1

    def widened_by(self, other: Bounds) -> Bounds:
        """Bounds that allow whatever either of the two allows."""
        return Bounds(
            plan_kinds=self.plan_kinds | other.plan_kinds,
            frequencies=self.frequencies | other.frequencies,
            max_installments=max(self.max_installments, other.max_installments),
            max_restructure_installments=max(
                self.max_restructure_installments, other.max_restructure_installments
            ),
            max_days_to_first_payment=max(
                self.max_days_to_first_payment, other.max_days_to_first_payment
            ),
            minimum_down_payment_pct=min(
                self.minimum_down_payment_pct, other.minimum_down_payment_pct
            ),
            max_penalty_waiver_pct=max(self.max_penalty_waiver_pct, other.max_penalty_waiver_pct),
            max_fee_waiver_pct=max(self.max_fee_waiver_pct, other.max_fee_waiver_pct),
            settlement_discount_cap_pct=max(
                self.settlement_discount_cap_pct, other.settlement_discount_cap_pct
            ),
            min_plan_interest_rate_pct=min(
                self.min_plan_interest_rate_pct, other.min_plan_interest_rate_pct
            ),
        )


@dataclass(frozen=True)
class VisitRules:
    """When a home visit (上門拜訪) may be proposed and when it may take place: the
    policy's ``[visits]`` table (``negotiation.visits`` applies it)."""

    # The earliest stage a visit may be proposed in (mid or late: never early).
    min_stage: Stage
    # The fewest days past due, and the least overdue amount per currency (minor units).
    min_days_past_due: int
    min_overdue: Mapping[Currency, int]
    # Days between the written notice and the first day a visit may take place.
    notice_days: int
    # How many days the notice's date range spans.
    window_days: int
    # The hours a visit may take place, the borrower's local time (inside the contact
    # rules' own hours: the stricter holds).
    visit_from: time
    visit_until: time


# The markets a per-market table may name (``[legal.market.<code>]``, the keys of
# ``combined_plans.allowed``): where a loan was made, by its currency.
MARKETS = ("TW", "CN", "HK")


@dataclass(frozen=True)
class CombinedPlanRules:
    """Whether one plan may cover several loans of one borrower: the policy's
    ``[combined_plans]`` table (``negotiation.allocation`` splits its payments).

    The loans must always be in one currency; that is no setting."""

    # Per market (TW, CN, HK): whether a combined plan may be agreed for its loans.
    allowed: Mapping[str, bool]
    # The most loans one plan may cover (at least 2).
    max_loans: int

    def allows(self, market: str) -> bool:
        """True when loans made in ``market`` may share one plan."""
        return self.allowed.get(market, False)


DEFAULT_COMBINED_PLAN_RULES = CombinedPlanRules(
    allowed={"TW": True, "CN": True, "HK": True}, max_loans=4
)


DEFAULT_VISIT_RULES = VisitRules(
    min_stage=Stage.MID,
    min_days_past_due=45,
    min_overdue={
        Currency.TWD: 3_000_000,
        Currency.CNY: 600_000,
        Currency.HKD: 600_000,
        Currency.USD: 100_000,
    },
    notice_days=7,
    window_days=14,
    visit_from=time(9),
    visit_until=time(19),
)


@dataclass(frozen=True)
class Policy:
    """A complete, validated collection policy."""

    early_from_days: int
    mid_from_days: int
    late_from_days: int
    credit_report_days: int
    legal_referral_days: int
    penalty_monthly_pct: Decimal
    penalty_max_accruals: int
    affordability_ratio_pct: Decimal
    max_restructures_per_12_months: int
    grace_days: int
    misses_before_broken: int
    max_deferral_days: int
    max_installment_move_days: int
    # The least a part payment (without a plan) may be, per currency, in minor units;
    # what is overdue may always be paid in whole, even when it is less.
    minimum_part_payment: Mapping[Currency, int]
    stages: Mapping[Stage, StageRules]
    agent: Bounds
    supervisor: Bounds
    expense_guidelines: Mapping[Currency, Mapping[ExpenseCategory, tuple[int, int]]]
    # The lender's own contact rules, applied to every borrower; each jurisdiction's by
    # its code (``TW``, ``US``, ``US-MA``): ``contact_for`` combines them.
    contact: ContactRules
    contact_tables: Mapping[str, ContactRules]
    # How long a declared hardship holds the case (a breathing space), and by when a
    # dispute must be reviewed, in days.
    hardship_breathing_space_days: int = 60
    dispute_review_days: int = 30
    # How many days before a breathing space ends an agent is asked to review it.
    hardship_review_days_before: int = 7
    # A declined automatic plan payment is tried again this many days after its due
    # date, then on the grace period's last day (``negotiation.autopay``); 0: only then.
    autopay_retry_after_days: int = 3
    # Each jurisdiction's public holidays, blackouts of its holiday channels: they apply
    # where the borrower lives only (``contact_for``'s first jurisdiction), not for the
    # lender's own jurisdictions or the loan's market.
    contact_holidays: Mapping[str, tuple[Blackout, ...]] = field(default_factory=dict)
    # The legal track (``negotiation.legal``): None only for a policy built by hand.
    legal: LegalRules | None = None
    # Home visits: when one may be proposed, the notice's lead and the visiting hours.
    visits: VisitRules = DEFAULT_VISIT_RULES
    # Combined plans: where one plan may cover several loans, and how many.
    combined_plans: CombinedPlanRules = DEFAULT_COMBINED_PLAN_RULES

    def contact_for(self, *jurisdictions: str) -> ContactRules:
        """The contact rules for a borrower where ``jurisdictions`` meet (their own first,
        then their loan's market): the lender's and each one's (a state's on top of its
        country's), every rule at its strictest (``negotiation.contact.strictest``), and
        the public holidays of the first, where they live."""
        tables = [
            self.contact_tables[layer]
            for code in dict.fromkeys(jurisdictions)
            for layer in layers(code)
            if layer in self.contact_tables
        ]
        combined = strictest(self.contact, *tables)
        holidays = tuple(
            holiday
            for layer in (layers(jurisdictions[0]) if jurisdictions else ())
            for holiday in self.contact_holidays.get(layer, ())
        )
        if not holidays:
            return combined
        return replace(combined, blackouts=(*combined.blackouts, *holidays))

    def stage_for(self, days_past_due: int) -> Stage:
        """The collection stage of a loan that is ``days_past_due`` days overdue."""
        if days_past_due >= self.late_from_days:
            return Stage.LATE
        if days_past_due >= self.mid_from_days:
            return Stage.MID
        if days_past_due >= self.early_from_days:
            return Stage.EARLY
        return Stage.CURRENT

    def stage_starts(self, stage: Stage) -> int:
        """The days past due on which ``stage`` begins."""
        return {
            Stage.CURRENT: 0,
            Stage.EARLY: self.early_from_days,
            Stage.MID: self.mid_from_days,
            Stage.LATE: self.late_from_days,
        }[stage]

    def rules_for(self, stage: Stage) -> StageRules | None:
        """The self-service bounds of ``stage``; None for a loan that is not overdue."""
        return self.stages.get(stage)

    def guideline(self, currency: Currency, category: ExpenseCategory, household: int) -> int:
        """The monthly guideline figure for one expense line and household size."""
        first, each_further = self.expense_guidelines[currency][category]
        return first + each_further * (household - 1)

    def guideline_lines(
        self, currency: Currency
    ) -> tuple[tuple[ExpenseCategory, str, int, int], ...]:
        """Each guideline-checked expense line in ``currency``, in order: its category,
        the statement's field for it, and the figure for the first person and for each
        further one (``guideline``). Read once per policy: every assessment asks."""
        return self._guideline_lines[currency]

    @cached_property
    def _guideline_lines(
        self,
    ) -> dict[Currency, tuple[tuple[ExpenseCategory, str, int, int], ...]]:
        return {
            currency: tuple(
                (category, category.value, *self.expense_guidelines[currency][category])
                for category in ExpenseCategory
            )
            for currency in self.expense_guidelines
        }


def _default_table() -> dict[str, Any]:
    text = resources.files("negotiation").joinpath("default_policy.toml").read_text("utf-8")
    return tomllib.loads(text, parse_float=Decimal)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, tables merged key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_policy(
    overrides: Mapping[str, Any] | None = None, *, path: Path | str | None = None
) -> Policy:
    """The default policy, overridden by a product's TOML file and then by ``overrides``.

    Raises ``PolicyError`` naming the first key that is missing or invalid.
    """
    table = _default_table()
    if path is not None:
        with Path(path).open("rb") as handle:
            table = merge(table, tomllib.load(handle, parse_float=Decimal))
    if overrides:
        table = merge(table, overrides)
    return _build(table)


# Validation of the raw tables. Each reader names the full key in its error so a product
# owner can find the mistake in their file.


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}{key}: must be a table")
    return value


# Upper limits keep every computation bounded whatever a product file says: no plan has
# more than 600 installments (50 years monthly), no threshold exceeds 100 years.
MAX_INSTALLMENTS = 600
MAX_DAYS = 36_500
# A move of more than a month is a new schedule, not a few more days: that is a
# restructure, agreed with its own terms.
MAX_INSTALLMENT_MOVE_DAYS = 31
MAX_AMOUNT = 10**15


def _whole(
    raw: Mapping[str, Any], key: str, where: str, minimum: int = 0, maximum: int = MAX_DAYS
) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise PolicyError(f"{where}{key}: must be a whole number from {minimum} to {maximum}")
    return value


def _percent(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = raw.get(key)
    message = f"{where}{key}: must be a percentage from 0 to 100"
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise PolicyError(message)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PolicyError(message) from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise PolicyError(message)
    return number


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise PolicyError(f"{where}{key}: must be true or false")
    return value


def _choices(raw: Mapping[str, Any], key: str, where: str, kind: type[E]) -> list[E]:
    value = raw.get(key)
    allowed = ", ".join(member.value for member in kind)
    if not isinstance(value, list) or not value:
        raise PolicyError(f"{where}{key}: must be a non-empty list of: {allowed}")
    try:
        return [kind(item) for item in value]
    except ValueError:
        raise PolicyError(f"{where}{key}: must be a non-empty list of: {allowed}") from None


def _minimums(
    raw: Mapping[str, Any], where: str, key: str = "minimum_installment"
) -> dict[Currency, int]:
    table = _table(raw, key, where)
    inner = f"{where}{key}."
    return {currency: _whole(table, currency.value, inner, 1, MAX_AMOUNT) for currency in Currency}


def _stage_rules(raw: Mapping[str, Any], where: str) -> StageRules:
    return StageRules(
        self_service=_flag(raw, "self_service", where),
        plan_kinds=frozenset(_choices(raw, "plan_kinds", where, PlanKind)),
        frequencies=tuple(dict.fromkeys(_choices(raw, "frequencies", where, Frequency))),
        max_installments=_whole(raw, "max_installments", where, 2, MAX_INSTALLMENTS),
        max_restructure_installments=_whole(
            raw, "max_restructure_installments", where, 0, MAX_INSTALLMENTS
        ),
        minimum_installment=_minimums(raw, where),
        minimum_down_payment_pct=_percent(raw, "minimum_down_payment_pct", where),
        max_days_to_first_payment=_whole(raw, "max_days_to_first_payment", where, 0),
        max_penalty_waiver_pct=_percent(raw, "max_penalty_waiver_pct", where),
        max_fee_waiver_pct=_percent(raw, "max_fee_waiver_pct", where),
        conditional_waivers=_flag(raw, "conditional_waivers", where),
        plan_interest_rate_pct=_percent(raw, "plan_interest_rate_pct", where),
        settlement_discount_cap_pct=_percent(raw, "settlement_discount_cap_pct", where),
    )


def _authority(raw: Mapping[str, Any], where: str) -> Bounds:
    return Bounds(
        plan_kinds=frozenset(_choices(raw, "plan_kinds", where, PlanKind)),
        frequencies=frozenset(_choices(raw, "frequencies", where, Frequency)),
        max_installments=_whole(raw, "max_installments", where, 2, MAX_INSTALLMENTS),
        max_restructure_installments=_whole(
            raw, "max_restructure_installments", where, 0, MAX_INSTALLMENTS
        ),
        max_days_to_first_payment=_whole(raw, "max_days_to_first_payment", where, 0),
        minimum_down_payment_pct=_percent(raw, "minimum_down_payment_pct", where),
        max_penalty_waiver_pct=_percent(raw, "max_penalty_waiver_pct", where),
        max_fee_waiver_pct=_percent(raw, "max_fee_waiver_pct", where),
        settlement_discount_cap_pct=_percent(raw, "settlement_discount_cap_pct", where),
        min_plan_interest_rate_pct=_percent(raw, "min_plan_interest_rate_pct", where),
    )


def _guidelines(raw: Mapping[str, Any]) -> dict[Currency, dict[ExpenseCategory, tuple[int, int]]]:
    table = _table(raw, "expense_guidelines", "")
    result: dict[Currency, dict[ExpenseCategory, tuple[int, int]]] = {}
    for currency in Currency:
        lines = _table(table, currency.value, "expense_guidelines.")
        result[currency] = {}
        for category in ExpenseCategory:
            pair = lines.get(category.value)
            key = f"expense_guidelines.{currency.value}.{category.value}"
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_AMOUNT
                    for v in pair
                )
            ):
                raise PolicyError(f"{key}: must be [first person, each further person] amounts")
            result[currency][category] = (pair[0], pair[1])
    return result


# Contact caps above these are no limit at all; a blackout range longer than a year is a
# ban, not a holiday.
MAX_CONTACTS = 100
MAX_BLACKOUT_DAYS = 366
# A letter's deadline more than a quarter away is no deadline.
MAX_LETTER_NOTICE = 90


def _clock(raw: Mapping[str, Any], key: str, where: str) -> time:
    value = raw.get(key)
    message = f'{where}{key}: must be a local time "HH:MM"'
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise PolicyError(message)
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise PolicyError(message) from None


def _day(value: Any, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PolicyError(f"{key}: each blackout must be a date or a [first, last] pair of dates")


def _blackouts(
    raw: Mapping[str, Any],
    jurisdiction: str,
    where: str,
    name: str = "blackouts",
    channels: frozenset[Channel] = ALL_CHANNELS,
) -> list[Blackout]:
    value = raw.get(name, [])
    key = f"{where}{name}"
    if not isinstance(value, list):
        raise PolicyError(f"{key}: must be a list of dates or [first, last] pairs of dates")
    result = []
    for item in value:
        if isinstance(item, list):
            if len(item) != 2:
                raise PolicyError(f"{key}: a range must be a [first, last] pair of dates")
            first, last = _day(item[0], key), _day(item[1], key)
        else:
            first = last = _day(item, key)
        if not 0 <= (last - first).days < MAX_BLACKOUT_DAYS:
            raise PolicyError(
                f"{key}: a range must end on or after its first day, "
                f"within {MAX_BLACKOUT_DAYS} days"
            )
        result.append(Blackout(jurisdiction, first, last, channels))
    return result


def _channels(raw: Mapping[str, Any], key: str, where: str) -> frozenset[Channel]:
    value = raw.get(key)
    names = {channel.value for channel in Channel}
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item in names for item in value)
    ):
        raise PolicyError(f"{where}{key}: must be a non-empty list of {sorted(names)}")
    return frozenset(Channel(item) for item in value)


_CAPS = (
    "max_connected_calls_per_day",
    "max_call_attempts_per_7_days",
    "max_messages_per_day",
    "max_messages_per_7_days",
)
# Regulation F's pause is 7 days; a month's silence after every conversation is no
# collection at all.
MAX_PAUSE_DAYS = 31


def _holidays(
    rules: Mapping[str, Any], name: str, holiday_channels: frozenset[Channel]
) -> tuple[Blackout, ...]:
    """One jurisdiction's public holidays: blackouts of its ``holiday_channels`` (its own,
    else the lender's)."""
    where = f"contact.jurisdiction.{name}."
    if "holiday_channels" in rules:
        holiday_channels = _channels(rules, "holiday_channels", where)
    return tuple(_blackouts(rules, name, where, "holidays", holiday_channels))


def _jurisdiction(rules: Mapping[str, Any], name: str, defaults: Mapping[str, int]) -> ContactRules:
    """One jurisdiction's table: its hours and blackouts, and any cap or pause it sets
    (a cap it leaves out is the lender's own, from ``[contact]``)."""
    where = f"contact.jurisdiction.{name}."
    start = _clock(rules, "allowed_from", where)
    end = _clock(rules, "allowed_until", where)
    if not start < end:
        raise PolicyError(f"{where}allowed_from: must be before allowed_until")
    caps = {
        key: _whole(rules, key, where, 1, MAX_CONTACTS) if key in rules else defaults[key]
        for key in _CAPS
    }
    pause = (
        _whole(rules, "days_after_conversation", where, 0, MAX_PAUSE_DAYS)
        if "days_after_conversation" in rules
        else 0
    )
    notice = rules.get("validation_notice", False)
    if not isinstance(notice, bool):
        raise PolicyError(f"{where}validation_notice: must be true or false")
    return ContactRules(
        windows=(ContactWindow(name, start, end),),
        validation_notice=notice,
        blackouts=tuple(_blackouts(rules, name, where)),
        letter_notice_days=defaults["letter_notice_days"],
        days_after_conversation=pause,
        max_connected_calls_per_day=caps["max_connected_calls_per_day"],
        max_call_attempts_per_7_days=caps["max_call_attempts_per_7_days"],
        max_messages_per_day=caps["max_messages_per_day"],
        max_messages_per_7_days=caps["max_messages_per_7_days"],
    )


def _contact_holidays(raw: Mapping[str, Any]) -> dict[str, tuple[Blackout, ...]]:
    """Each jurisdiction's public holidays, by its code."""
    table = _table(raw, "contact", "")
    jurisdictions = _table(table, "jurisdiction", "contact.")
    holiday_channels = _channels(table, "holiday_channels", "contact.")
    return {
        str(name): _holidays(
            _table(jurisdictions, name, "contact.jurisdiction."), name, holiday_channels
        )
        for name in jurisdictions
    }


def _contact(raw: Mapping[str, Any]) -> tuple[ContactRules, dict[str, ContactRules]]:
    """The lender's own contact rules (every jurisdiction in ``contact.jurisdictions``
    together, applied to every borrower) and each jurisdiction's table by its code."""
    table = _table(raw, "contact", "")
    jurisdictions = _table(table, "jurisdiction", "contact.")
    applied = table.get("jurisdictions")
    if (
        not isinstance(applied, list)
        or not applied
        or not all(isinstance(name, str) and name in jurisdictions for name in applied)
    ):
        raise PolicyError(
            "contact.jurisdictions: must be a non-empty list of names from contact.jurisdiction"
        )
    defaults = {key: _whole(table, key, "contact.", 1, MAX_CONTACTS) for key in _CAPS}
    defaults["letter_notice_days"] = _whole(
        table, "letter_notice_days", "contact.", 1, MAX_LETTER_NOTICE
    )
    tables = {
        str(name): _jurisdiction(
            _table(jurisdictions, name, "contact.jurisdiction."), name, defaults
        )
        for name in jurisdictions
    }
    for country in COUNTRIES:
        if country not in tables:
            raise PolicyError(f"contact.jurisdiction.{country}: must be a table")
    try:
        lender = strictest(*(tables[name] for name in dict.fromkeys(applied)))
    except ValueError:
        raise PolicyError("contact.jurisdictions: their allowed hours do not overlap") from None
    # Every borrower's rules must leave some hour: the lender's, their own jurisdiction's
    # (its country's and its state's) and their loan's market's, together.
    for one in tables:
        for other in tables:
            try:
                strictest(
                    lender, *(tables[n] for n in (*layers(one), *layers(other)) if n in tables)
                )
            except ValueError:
                raise PolicyError(
                    f"contact.jurisdiction.{one}: its allowed hours do not overlap "
                    f"those of {other} and contact.jurisdictions"
                ) from None
    return lender, tables


# The markets a legal path may be written for (``[legal.market.<code>]``).
LEGAL_MARKETS = MARKETS


def _legal(raw: Mapping[str, Any], referral_days: int) -> LegalRules:
    """The ``[legal]`` table: the referral minimum per currency, the final notice's days
    (at least ``contact.letter_notice_days``: the post must have time), and each market's
    path, its waiting periods and the costs its law lets the lender add."""
    table = _table(raw, "legal", "")
    markets = _table(table, "market", "legal.")
    paths = {}
    for code in markets:
        where = f"legal.market.{code}."
        if code not in LEGAL_MARKETS:
            raise PolicyError(f"legal.market.{code}: must be one of {', '.join(LEGAL_MARKETS)}")
        market = _table(markets, code, "legal.market.")
        milestones = _choices(market, "milestones", where, LegalMilestone)
        if len(set(milestones)) != len(milestones):
            raise PolicyError(f"{where}milestones: each milestone at most once")
        waits = _table(market, "wait_days", where)
        wait_days = {}
        for name in waits:
            if name not in milestones:
                raise PolicyError(f"{where}wait_days.{name}: must be one of the milestones")
            wait_days[LegalMilestone(name)] = _whole(waits, name, f"{where}wait_days.", 0, 366)
        costs = market.get("recoverable_costs")
        if not isinstance(costs, list) or not all(c in set(LegalCost) for c in costs):
            allowed = ", ".join(LegalCost)
            raise PolicyError(f"{where}recoverable_costs: must be a list of: {allowed}")
        paths[str(code)] = MarketPath(
            tuple(milestones), wait_days, frozenset(LegalCost(c) for c in costs)
        )
    notice_days = _whole(table, "final_notice_days", "legal.", 1, 90)
    contact = _table(raw, "contact", "")
    if notice_days < contact.get("letter_notice_days", 0):
        raise PolicyError(
            "legal.final_notice_days: must be at least contact.letter_notice_days "
            "(the final notice goes by post)"
        )
    return LegalRules(
        referral_days=referral_days,
        referral_minimum={
            currency.value: amount
            for currency, amount in _minimums(table, "legal.", "referral_minimum").items()
        },
        final_notice_days=notice_days,
        paths=paths,
    )


# A visit's notice and date range: at least a day's notice, at most two months'; a
# date range of at least a day and at most two months.
MAX_VISIT_NOTICE_DAYS = 60
MAX_VISIT_WINDOW_DAYS = 60


def _visits(raw: Mapping[str, Any]) -> VisitRules:
    """The ``[visits]`` table: a visit is never proposed in the early stage."""
    table = _table(raw, "visits", "")
    where = "visits."
    stage = table.get("min_stage")
    if stage not in (Stage.MID.value, Stage.LATE.value):
        raise PolicyError(f'{where}min_stage: must be "mid" or "late"')
    start = _clock(table, "visit_from", where)
    end = _clock(table, "visit_until", where)
    if not start < end:
        raise PolicyError(f"{where}visit_from: must be before visit_until")
    return VisitRules(
        min_stage=Stage(stage),
        min_days_past_due=_whole(table, "min_days_past_due", where, 1),
        min_overdue=_minimums(table, where, "min_overdue"),
        notice_days=_whole(table, "notice_days", where, 1, MAX_VISIT_NOTICE_DAYS),
        window_days=_whole(table, "window_days", where, 1, MAX_VISIT_WINDOW_DAYS),
        visit_from=start,
        visit_until=end,
    )


# A plan covering more loans than this is no longer one a borrower can follow on a phone.
MAX_COMBINED_LOANS = 10


def _combined_plans(raw: Mapping[str, Any]) -> CombinedPlanRules:
    """The ``[combined_plans]`` table: ``allowed`` names every market, each true or
    false; ``max_loans`` from 2 to ``MAX_COMBINED_LOANS``."""
    table = _table(raw, "combined_plans", "")
    where = "combined_plans."
    allowed = _table(table, "allowed", where)
    for code in allowed:
        if code not in MARKETS:
            raise PolicyError(f"{where}allowed.{code}: must be one of {', '.join(MARKETS)}")
    return CombinedPlanRules(
        allowed={code: _flag(allowed, code, f"{where}allowed.") for code in MARKETS},
        max_loans=_whole(table, "max_loans", where, 2, MAX_COMBINED_LOANS),
    )


def _build(raw: Mapping[str, Any]) -> Policy:
    stages = _table(raw, "stages", "")
    consequences = _table(raw, "consequences", "")
    plans = _table(raw, "plans", "")
    stage_tables = _table(raw, "stage", "")
    authority = _table(raw, "authority", "")
    holds = _table(raw, "holds", "")
    lender_contact, contact_tables = _contact(raw)
    policy = Policy(
        early_from_days=_whole(stages, "early_from_days", "stages.", 1),
        mid_from_days=_whole(stages, "mid_from_days", "stages.", 2),
        late_from_days=_whole(stages, "late_from_days", "stages.", 3),
        credit_report_days=_whole(consequences, "credit_report_days", "consequences.", 1),
        legal_referral_days=_whole(consequences, "legal_referral_days", "consequences.", 1),
        penalty_monthly_pct=_percent(consequences, "penalty_monthly_pct", "consequences."),
        penalty_max_accruals=_whole(consequences, "penalty_max_accruals", "consequences."),
        affordability_ratio_pct=_percent(plans, "affordability_ratio_pct", "plans."),
        max_restructures_per_12_months=_whole(plans, "max_restructures_per_12_months", "plans."),
        grace_days=_whole(plans, "grace_days", "plans."),
        misses_before_broken=_whole(plans, "misses_before_broken", "plans.", 1),
        max_deferral_days=_whole(plans, "max_deferral_days", "plans.", 1),
        autopay_retry_after_days=_whole(plans, "autopay_retry_after_days", "plans.", 0, 30),
        # 0 is allowed: a product that lets no borrower move an installment.
        max_installment_move_days=_whole(
            plans, "max_installment_move_days", "plans.", 0, MAX_INSTALLMENT_MOVE_DAYS
        ),
        minimum_part_payment=_minimums(plans, "plans.", "minimum_part_payment"),
        stages={
            stage: _stage_rules(_table(stage_tables, stage.value, "stage."), f"stage.{stage}.")
            for stage in (Stage.EARLY, Stage.MID, Stage.LATE)
        },
        agent=_authority(_table(authority, "agent", "authority."), "authority.agent."),
        supervisor=_authority(
            _table(authority, "supervisor", "authority."), "authority.supervisor."
        ),
        expense_guidelines=_guidelines(raw),
        contact=lender_contact,
        contact_tables=contact_tables,
        contact_holidays=_contact_holidays(raw),
        hardship_breathing_space_days=_whole(
            holds, "hardship_breathing_space_days", "holds.", 1, 366
        ),
        dispute_review_days=_whole(holds, "dispute_review_days", "holds.", 1, 366),
        hardship_review_days_before=_whole(holds, "hardship_review_days_before", "holds.", 0, 365),
        legal=_legal(raw, _whole(consequences, "legal_referral_days", "consequences.", 1)),
        visits=_visits(raw),
        combined_plans=_combined_plans(raw),
    )
    if policy.hardship_review_days_before >= policy.hardship_breathing_space_days:
        raise PolicyError(
            "holds.hardship_review_days_before: must be less than hardship_breathing_space_days"
        )
    if not policy.early_from_days < policy.mid_from_days < policy.late_from_days:
        raise PolicyError("stages: early_from_days < mid_from_days < late_from_days is required")
    # visits.min_days_past_due below the day min_stage begins is no error: a visit needs
    # both (negotiation.visits), so the stage governs, and moving a stage's first day
    # needs no edit of the visits table.
    return policy


# Policy versions (portal.policy): a version is an override file's text, laid over the
# defaults. These read and compare such texts without touching anything else.


def read_overrides(text: str) -> dict[str, Any]:
    """An override file's text as a table; raises ``PolicyError`` on bad TOML (naming the
    line) or on a key the policy does not have (a typo would otherwise change nothing)."""
    try:
        table = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"toml: {error}") from None
    unknown = unknown_keys(table)
    if unknown:
        raise PolicyError(f"{unknown[0]}: is not a key of the policy")
    return table


def parse_overrides(text: str) -> Policy:
    """The policy an override file's ``text`` makes: the defaults with it laid over them.
    Raises ``PolicyError`` naming the first bad key."""
    return load_policy(read_overrides(text))


# Tables whose keys are names chosen by the product (a jurisdiction's code): under them,
# any name, each holding the keys of an existing one.
_NAMED_TABLES = ("contact.jurisdiction",)


def unknown_keys(table: Mapping[str, Any]) -> list[str]:
    """The dotted keys of ``table`` that the default policy does not have, in order."""
    defaults = _default_table()
    jurisdiction_keys = (
        {
            key
            for name in defaults["contact"]["jurisdiction"].values()
            for key in name
            if isinstance(name, Mapping)
        }
        | set(_CAPS)
        | {"days_after_conversation", "validation_notice"}
    )
    found: list[str] = []

    def walk(raw: Mapping[str, Any], known: Mapping[str, Any], where: str) -> None:
        for key, value in raw.items():
            path = f"{where}{key}"
            if where.rstrip(".") in _NAMED_TABLES:
                if not isinstance(value, Mapping):
                    continue  # _build names it as "must be a table"
                found.extend(f"{path}.{inner}" for inner in value if inner not in jurisdiction_keys)
                continue
            if key not in known:
                found.append(path)
            elif key == "wait_days":
                continue  # its keys are milestones, checked by _build
            elif isinstance(value, Mapping) and isinstance(known[key], Mapping):
                walk(value, known[key], f"{path}.")

    walk(table, defaults, "")
    return found


def flatten(table: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """A nested table as dotted keys and their leaf values (lists stay whole)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{where}{key}."))
        else:
            flat[f"{where}{key}"] = value
    return flat


def effective_table(text: str) -> dict[str, Any]:
    """Every key of the policy an override file's ``text`` makes, dotted, with its value:
    the defaults with the file laid over them. Raises ``PolicyError`` as ``read_overrides``."""
    return flatten(merge(_default_table(), read_overrides(text)))


@dataclass(frozen=True)
class PolicyChange:
    """One key whose value differs between two policies; None where a side lacks it."""

    key: str
    old: Any
    new: Any


def changes(old_text: str, new_text: str) -> tuple[PolicyChange, ...]:
    """What changes, key by key, when the policy of ``old_text`` gives way to that of
    ``new_text`` (both override files): the effective values, so a key moved into the
    file with its default value is no change."""
    old, new = effective_table(old_text), effective_table(new_text)
    return tuple(
        PolicyChange(key, old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    )


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes and backslashes escaped, every control character
    (DEL included, which JSON leaves as it is) as a \\u escape."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            raise PolicyError(f"{text!r}: cannot be written as a policy value")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise PolicyError(f"{value!r}: cannot be written as a policy value")


def dump_overrides(table: Mapping[str, Any]) -> str:
    """An override table as TOML text that ``read_overrides`` reads back the same: a
    table's values first, then each inner table under its own dotted header."""
    lines: list[str] = []

    def write(raw: Mapping[str, Any], path: tuple[str, ...]) -> None:
        inner = {k: v for k, v in raw.items() if isinstance(v, Mapping)}
        plain = {k: v for k, v in raw.items() if k not in inner}
        if path and (plain or not inner):
            lines.append(("\n" if lines else "") + "[" + ".".join(map(_toml_key, path)) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items())
        for key, value in inner.items():
            write(value, (*path, key))

    write(table, ())
    return "\n".join(lines) + "\n" if lines else ""


def with_values(text: str, values: Mapping[str, Any]) -> str:
    """The override file ``text`` with some dotted keys set to ``values`` (each left out
    when it already has that value in effect), written back as TOML. Comments in
    ``text`` are not kept."""
    effective = effective_table(text)
    table = read_overrides(text)
    for key, value in values.items():
        if effective.get(key) == value:
            continue
        *tables, leaf = key.split(".")
        inner = table
        for name in tables:
            inner = inner.setdefault(name, {})
        inner[leaf] = value
    return dump_overrides(table)
