"""The JSON contract of the command line: parse a case, write the engine's answers.

Parsing is strict and names the offending field, so a caller learns exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from negotiation.affordability import MAX_HOUSEHOLD, Assessment, Statement
from negotiation.consequences import TimelineEvent
from negotiation.dates import Frequency
from negotiation.money import Currency
from negotiation.offers import OfferJudgement
from negotiation.plans import Plan, Terms
from negotiation.policy import MAX_AMOUNT, MAX_DAYS, MAX_INSTALLMENTS, PlanKind, Policy
from negotiation.proposals import Decision, PlanRequest, Proposal
from negotiation.reasons import Rejection
from negotiation.snapshot import Arrears, Hold, LoanSnapshot

E = TypeVar("E", Currency, Frequency, PlanKind, Hold)


class InputError(ValueError):
    """The input is not a valid case; the message names the field."""


def _amount(raw: Mapping[str, Any], key: str, where: str = "", default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise InputError(f"{where}{key}: must be a whole number of minor units from 0 to 10^15")
    return value


def _count(
    raw: Mapping[str, Any], key: str, where: str, default: int, maximum: int, minimum: int = 0
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InputError(f"{where}{key}: must be a whole number from {minimum} to {maximum}")
    return value


def _date(raw: Mapping[str, Any], key: str, where: str = "", default: date | None = None) -> date:
    value = raw.get(key)
    if value is None and default is not None:
        return default
    try:
        if isinstance(value, str) and len(value) == len("2026-11-30"):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InputError(f"{where}{key}: must be a date like 2026-11-30")


def _choice(
    raw: Mapping[str, Any], key: str, kind: type[E], where: str = "", default: E | None = None
) -> E:
    value = raw.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value in kind.__members__.values():
        return kind(value)
    allowed = ", ".join(member.value for member in kind)
    raise InputError(f"{where}{key}: must be one of {allowed}")


def _percent(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = raw.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InputError(f"{where}{key}: must be a percentage from 0 to 100")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise InputError(f"{where}{key}: must be a percentage from 0 to 100") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InputError(f"{where}{key}: must be a percentage from 0 to 100")
    return number


def _table(raw: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise InputError(f"{where}{key}: must be an object")
    return value


def parse_case(raw: Any) -> tuple[LoanSnapshot, date]:
    """The loan snapshot and ``today`` (default: ``as_of``) from a JSON case."""
    if not isinstance(raw, Mapping):
        raise InputError("the input must be a JSON object")
    arrears = _table(raw, "arrears")
    holds = raw.get("holds", [])
    if not isinstance(holds, list):
        raise InputError("holds: must be a list of: dispute, hardship")
    as_of = _date(raw, "as_of")
    try:
        snapshot = LoanSnapshot(
            as_of=as_of,
            currency=_choice(raw, "currency", Currency),
            arrears=Arrears(
                principal=_amount(arrears, "principal", "arrears.", 0),
                interest=_amount(arrears, "interest", "arrears.", 0),
                fees=_amount(arrears, "fees", "arrears.", 0),
                penalties=_amount(arrears, "penalties", "arrears.", 0),
            ),
            not_yet_due_principal=_amount(raw, "not_yet_due_principal", default=0),
            regular_installment=_amount(raw, "regular_installment", default=0),
            days_past_due=_count(raw, "days_past_due", "", 0, MAX_DAYS),
            frequency=_choice(raw, "frequency", Frequency, default=Frequency.MONTHLY),
            restructures_last_12_months=_count(raw, "restructures_last_12_months", "", 0, 100),
            holds=frozenset(_choice({"holds": item}, "holds", Hold) for item in holds),
        )
    except InputError:
        raise
    except ValueError as error:
        raise InputError(str(error)) from None
    today = _date(raw, "today", default=as_of)
    if today < as_of:
        raise InputError("today: must not be before as_of")
    return snapshot, today


def parse_statement(raw: Mapping[str, Any]) -> Statement | None:
    """The optional income-and-expenditure statement."""
    table = raw.get("statement")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise InputError("statement: must be an object")
    where = "statement."
    return Statement(
        net_monthly_income=_amount(table, "net_monthly_income", where),
        household_size=_count(table, "household_size", where, 1, MAX_HOUSEHOLD, minimum=1),
        housing=_amount(table, "housing", where, 0),
        utilities=_amount(table, "utilities", where, 0),
        food=_amount(table, "food", where, 0),
        transport=_amount(table, "transport", where, 0),
        other_debt_payments=_amount(table, "other_debt_payments", where, 0),
        other=_amount(table, "other", where, 0),
    )


def parse_policy_overrides(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The optional policy overrides, same keys as the TOML."""
    overrides = raw.get("policy", {})
    if not isinstance(overrides, Mapping):
        raise InputError("policy: must be an object")
    return overrides


def parse_request(raw: Mapping[str, Any], today: date) -> PlanRequest:
    """A borrower's custom plan request, under ``request``."""
    table = _table(raw, "request")
    where = "request."
    down = table.get("down_payment")
    return PlanRequest(
        kind=_choice(table, "kind", PlanKind, where),
        first_due_date=_date(table, "first_due_date", where, default=today),
        installments=_count(table, "installments", where, 1, MAX_INSTALLMENTS),
        frequency=_choice(table, "frequency", Frequency, where, default=Frequency.MONTHLY),
        down_payment=None if down is None else _amount(table, "down_payment", where),
    )


def parse_offer(raw: Mapping[str, Any], today: date) -> Terms:
    """An agent's offer, under ``offer``: a request plus waivers, discount and rate."""
    table = _table(raw, "offer")
    where = "offer."
    request = parse_request({"request": table}, today)
    return Terms(
        kind=request.kind,
        first_due_date=request.first_due_date,
        installments=request.installments,
        frequency=request.frequency,
        down_payment=request.down_payment,
        penalty_waiver_pct=_percent(table, "penalty_waiver_pct", where),
        fee_waiver_pct=_percent(table, "fee_waiver_pct", where),
        settlement_discount_pct=_percent(table, "settlement_discount_pct", where),
        interest_rate_pct=_percent(table, "interest_rate_pct", where),
    )


# Output: plain JSON types only; amounts stay integers, percentages become strings.


def dump_event(event: TimelineEvent) -> dict[str, Any]:
    """One timeline event as JSON."""
    return {
        "date": event.date.isoformat(),
        "event": event.kind.value,
        "stage": event.stage.value if event.stage else None,
        "amount": event.amount,
        "past": event.past,
    }


def dump_plan(plan: Plan) -> dict[str, Any]:
    """A plan's schedule and sums as JSON; a single payment has no frequency."""
    return {
        "kind": plan.kind.value,
        "frequency": plan.frequency.value if len(plan.installments) > 1 else None,
        "installments": [
            {"due_date": item.due_date.isoformat(), "amount": item.amount}
            for item in plan.installments
        ],
        "total": plan.total,
        "waived": plan.waiver.total,
        "waived_detail": {
            "penalties": plan.waiver.penalties,
            "fees": plan.waiver.fees,
            "discount": plan.waiver.discount,
        },
        "restructured": plan.restructured,
        "interest": plan.interest,
        "interest_rate_pct": str(plan.interest_rate_pct),
    }


def dump_proposal(
    proposal: Proposal, timeline: tuple[TimelineEvent, ...] | None = None
) -> dict[str, Any]:
    """A proposal as JSON: its plan, affordability and labels, and its timeline."""
    data = dump_plan(proposal.plan)
    data.update(
        affordable=proposal.affordable,
        conditional_waiver=proposal.conditional_waiver,
        monthly_burden=proposal.monthly_burden,
        labels=sorted(label.value for label in proposal.labels),
    )
    if timeline is not None:
        data["timeline"] = [dump_event(event) for event in timeline]
    return data


def dump_assessment(assessment: Assessment) -> dict[str, Any]:
    """What a statement says the borrower can afford, as JSON."""
    return {
        "disposable_income": assessment.disposable_income,
        "affordable_monthly": assessment.affordable_monthly,
        "flags": [
            {"category": f.category.value, "amount": f.amount, "guideline": f.guideline}
            for f in assessment.flags
        ],
    }


def dump_rejection(rejection: Rejection) -> dict[str, Any]:
    """One refusal reason and the nearest allowed value, as JSON."""
    nearest: int | str | None
    if isinstance(rejection.nearest, date | Decimal):
        nearest = str(rejection.nearest)
    else:
        nearest = rejection.nearest
    return {"reason": rejection.reason.value, "nearest": nearest}


def dump_decision(decision: Decision, timeline: tuple[TimelineEvent, ...] | None) -> dict[str, Any]:
    """A custom request's answer as JSON."""
    return {
        "accepted": decision.accepted,
        "proposal": dump_proposal(decision.proposal, timeline) if decision.proposal else None,
        "plan": dump_plan(decision.plan) if decision.plan else None,
        "rejections": [dump_rejection(r) for r in decision.rejections],
    }


def dump_judgement(judgement: OfferJudgement) -> dict[str, Any]:
    """An offer's verdict as JSON."""
    return {
        "authority": judgement.authority.value,
        "plan": dump_plan(judgement.plan) if judgement.plan else None,
        "reasons": [dump_rejection(r) for r in judgement.reasons],
        "affordable": judgement.affordable,
    }


def policy_summary(policy: Policy) -> dict[str, Any]:
    """The stage thresholds in force, for the ``stage`` command's output."""
    return {
        "early_from_days": policy.early_from_days,
        "mid_from_days": policy.mid_from_days,
        "late_from_days": policy.late_from_days,
    }
