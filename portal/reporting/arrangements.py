"""Arrangements: the plans accepted in a period and how they stand, by plan kind and by
first-payment channel; the discount and waiver they gave; the settlement rate; summed
from the month's cells (``plan_cells``) the month-end step counts (``count_arrangements``).

Definitions (``docs/reporting.md``, "Arrangements"):

- **Accepted**: the plans ``portal.finance.plan_keeping`` counts: accepted
  (``Plan.accepted_at``) in the month, days of the finance timezone; canceled plans
  (withdrawn before they started) left out. A period is its months' sum.
- **Kept** (to term): completed. **Broken**, **lapsed**: their status. **Live**: still
  pending or active, so neither kept nor broken yet. As they stood when their month was
  last counted: a month holding a live plan is counted again at each month-end.
- **First-payment channel**: *autopay* when the plan's first succeeded payment was
  charged automatically (``Payment.automatic``); otherwise the plan's origin: *agent
  offer* when it was an agent's offer the borrower took (``Plan.offer_id``), else
  *portal* (the borrower chose it in the portal). A plan not paid yet counts by origin.
- **Discount**: ``Plan.discount``; **waiver**: the penalties and fees the plan waived
  (``waived_penalties + waived_fees``). Totals and averages per plan accepted, by
  currency, never summed across currencies; averages in whole minor units rounded half
  to even.
- **Settlement rate**: settlement plans accepted over all plans accepted (an exact
  fraction); kept settlements: settlement plans completed.
- **Slice**: the case's at the month's start (``cells.month_slices``).

The reader reads the cells only, one statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from types import MappingProxyType
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    Table,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.orm import Session

from negotiation.policy import PlanKind
from portal.finance.plan_keeping import counted_plans
from portal.models import (
    LIVE_PLAN_STATUSES,
    FirstPaymentChannel,
    Offer,
    Payment,
    PaymentStatus,
    Plan,
    PlanCell,
    PlanInstallment,
    PlanStatus,
)
from portal.reporting.cells import (
    days_of,
    in_period,
    month_bounds,
    month_slices,
)
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.slices import WHOLE_BOOK, average, share
from portal.reporting.snapshots import SLICES, rows_at

CELLS = cast(Table, PlanCell.__table__)
# The cells' money columns, summed.
MONEY = ("discount", "waiver", "total", "paid")
PORTAL = FirstPaymentChannel.PORTAL.value
AGENT_OFFER = FirstPaymentChannel.AGENT_OFFER.value
AUTOPAY = FirstPaymentChannel.AUTOPAY.value
# The first-payment channels, in the order reports show them.
CHANNELS = (PORTAL, AGENT_OFFER, AUTOPAY)
# Where a plan stands, by its status.
OUTCOMES: Mapping[str, str] = MappingProxyType(
    {
        PlanStatus.COMPLETED.value: "kept",
        PlanStatus.BROKEN.value: "broken",
        PlanStatus.LAPSED.value: "lapsed",
        PlanStatus.PENDING.value: "live",
        PlanStatus.ACTIVE.value: "live",
    }
)
KINDS = tuple(kind.value for kind in PlanKind)


@dataclass(frozen=True)
class PlanTally:
    """Plans accepted, and how they stand: kept (completed), broken, lapsed, live."""

    kept: int = 0
    broken: int = 0
    lapsed: int = 0
    live: int = 0

    @property
    def accepted(self) -> int:
        """Every plan counted."""
        return self.kept + self.broken + self.lapsed + self.live

    @property
    def kept_rate(self) -> Fraction | None:
        """The plans kept to term over the plans decided (accepted less those still
        live); None while none is decided."""
        return share(self.kept, self.accepted - self.live)

    def __add__(self, other: PlanTally) -> PlanTally:
        return PlanTally(
            self.kept + other.kept,
            self.broken + other.broken,
            self.lapsed + other.lapsed,
            self.live + other.live,
        )

    def with_outcome(self, outcome: str, number: int) -> PlanTally:
        """The tally with ``number`` more plans of ``outcome``."""
        return self + PlanTally(**{outcome: number})

    def as_json(self) -> dict[str, int]:
        """accepted, kept, broken, lapsed, live."""
        return {
            "accepted": self.accepted,
            "kept": self.kept,
            "broken": self.broken,
            "lapsed": self.lapsed,
            "live": self.live,
        }


@dataclass(frozen=True)
class Forgone:
    """What the plans accepted in one currency gave: how many, their total discount and
    waiver (minor units), and the averages per plan."""

    currency: str
    plans: int
    discount: int
    waiver: int

    @property
    def average_discount(self) -> int | None:
        """The discount per plan, in whole minor units rounded half to even."""
        return average(self.discount, self.plans)

    @property
    def average_waiver(self) -> int | None:
        """The waiver per plan, in whole minor units rounded half to even."""
        return average(self.waiver, self.plans)

    @property
    def exact_average_discount(self) -> Fraction | None:
        """The discount per plan, exactly."""
        return share(self.discount, self.plans)

    @property
    def exact_average_waiver(self) -> Fraction | None:
        """The waiver per plan, exactly."""
        return share(self.waiver, self.plans)

    def as_json(self) -> dict[str, object]:
        """Amounts as integers in minor units of ``currency``."""
        return {
            "currency": self.currency,
            "plans": self.plans,
            "discount": self.discount,
            "waiver": self.waiver,
            "average_discount": self.average_discount,
            "average_waiver": self.average_waiver,
        }


@dataclass(frozen=True)
class Arrangements:
    """The period's plans (see the module's docstring)."""

    first: date
    last: date
    chosen: Slice
    by_kind: Mapping[str, PlanTally]
    by_channel: Mapping[str, PlanTally]
    # By currency, in code order.
    forgone: tuple[Forgone, ...]
    settlements_kept: int
    total: PlanTally = field(default_factory=PlanTally)

    @property
    def settlements_accepted(self) -> int:
        """Settlement plans accepted."""
        return self.by_kind[PlanKind.SETTLEMENT.value].accepted

    @property
    def settlement_rate(self) -> Fraction | None:
        """Settlement plans accepted over all plans accepted."""
        return share(self.settlements_accepted, self.total.accepted)

    def as_json(self) -> dict[str, object]:
        """``plans`` (every kind: accepted, kept, broken, lapsed, live), ``plans_by_channel``,
        ``plans_total``, ``discount_and_waiver`` (by currency) and ``settlement``."""
        return {
            "plans": {kind: tally.as_json() for kind, tally in self.by_kind.items()},
            "plans_by_channel": {
                channel: tally.as_json() for channel, tally in self.by_channel.items()
            },
            "plans_total": self.total.as_json(),
            "discount_and_waiver": [row.as_json() for row in self.forgone],
            "settlement": {
                "accepted": self.settlements_accepted,
                "kept": self.settlements_kept,
                "rate": share_text(self.settlement_rate),
            },
        }


def count_arrangements(db: Session | Connection, month_end: date, zone: ZoneInfo) -> int:
    """The cells of the plans accepted in the month ending ``month_end`` (days in
    ``zone``), replaced: per slice at the month's start, kind, status, first-payment
    channel and offer maker, the plans, their discount, waiver and totals, and what has
    been paid on their installments so far (as ``agents`` reads it). Set-based: one
    ``INSERT … SELECT`` over the month's plans. Returns the cells written."""
    db.execute(delete(CELLS).where(CELLS.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    counted = counted_plans(start, end)
    counted_ids = select(Plan.id).where(*counted)
    # Each counted plan's succeeded payments in the order they were confirmed (ties by
    # id): the first says whether autopay took it. One pass, not one lookup per plan.
    ranked = (
        select(
            Payment.plan_id.label("plan_id"),
            Payment.automatic.label("automatic"),
            func.row_number()
            .over(partition_by=Payment.plan_id, order_by=(Payment.confirmed_at, Payment.id))
            .label("rank"),
        )
        .where(Payment.status == PaymentStatus.SUCCEEDED, Payment.plan_id.in_(counted_ids))
        .subquery()
    )
    first_paid = select(ranked.c.plan_id, ranked.c.automatic).where(ranked.c.rank == 1).subquery()
    paid = (
        select(
            PlanInstallment.plan_id.label("plan_id"),
            func.sum(PlanInstallment.paid).label("paid"),
        )
        .where(PlanInstallment.plan_id.in_(counted_ids))
        .group_by(PlanInstallment.plan_id)
        .subquery("paid")
    )
    slices = month_slices(month_end, select(Plan.case_id).where(*counted).distinct())
    channel = case(
        (first_paid.c.automatic == true(), AUTOPAY),
        (Plan.offer_id.is_not(None), AGENT_OFFER),
        else_=PORTAL,
    )
    # One row per plan first, so the channel is grouped by name (PostgreSQL does not see
    # two renderings of one CASE with its own parameters as the same expression).
    plans = (
        select(
            *(slices.c[name] for name in SLICES),
            Plan.kind.label("kind"),
            Plan.status.label("status"),
            channel.label("channel"),
            Offer.created_by.label("arranged_by"),
            Plan.discount.label("discount"),
            (Plan.waived_penalties + Plan.waived_fees).label("waiver"),
            Plan.total.label("total"),
            func.coalesce(paid.c.paid, 0).label("paid"),
        )
        .select_from(Plan)
        .join(slices, slices.c.case_id == Plan.case_id)
        .outerjoin(first_paid, first_paid.c.plan_id == Plan.id)
        .outerjoin(Offer, Offer.id == Plan.offer_id)
        .outerjoin(paid, paid.c.plan_id == Plan.id)
        .where(*counted)
        .subquery("plans")
    )
    keys = [*SLICES, "kind", "status", "channel", "arranged_by"]
    grouped = select(
        literal(month_end, Date),
        *(plans.c[name] for name in keys),
        func.count(),
        *(func.sum(plans.c[name]) for name in MONEY),
    ).group_by(*(plans.c[name] for name in keys))
    db.execute(insert(CELLS).from_select(["month_end", *keys, "plans", *MONEY], grouped))
    return rows_at(db, CELLS, month_end)


def unsettled(db: Session | Connection) -> date | None:
    """The month-end of the oldest month whose cells hold a plan still pending or active
    when last counted (None: none). Read from the cells, not the plans: a plan decided
    since must still have its month counted again to show it."""
    oldest = db.execute(
        select(func.min(CELLS.c.month_end)).where(CELLS.c.status.in_(LIVE_PLAN_STATUSES))
    )
    return oldest.scalar_one_or_none()


def arrangements(db: Session, first: date, last: date, chosen: Slice = WHOLE_BOOK) -> Arrangements:
    """The plans accepted in the months of the pairs ``first`` to ``last`` (their first
    month-ends: ``cells.period_months``) in the slice ``chosen``, summed from the cells
    (see the module's docstring)."""
    columns = CELLS.c
    rows = db.execute(
        select(
            columns.kind,
            columns.status,
            columns.currency,
            columns.channel,
            func.sum(columns.plans),
            func.sum(columns.discount),
            func.sum(columns.waiver),
        )
        .where(*in_period(CELLS, first, last, chosen))
        .group_by(columns.kind, columns.status, columns.currency, columns.channel)
    )
    by_kind = dict.fromkeys(KINDS, PlanTally())
    by_channel = dict.fromkeys(CHANNELS, PlanTally())
    forgone: dict[str, tuple[int, int, int]] = {}
    settlements_kept = 0
    for kind, status, currency, way, summed_plans, summed_discount, summed_waiver in rows:
        # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
        number, discount, waiver = int(summed_plans), int(summed_discount), int(summed_waiver)
        kind, way = str(kind), str(way)
        outcome = OUTCOMES[str(status)]
        by_kind[kind] = by_kind.get(kind, PlanTally()).with_outcome(outcome, number)
        by_channel[way] = by_channel[way].with_outcome(outcome, number)
        plans_of, discount_of, waiver_of = forgone.get(currency, (0, 0, 0))
        forgone[currency] = (plans_of + number, discount_of + discount, waiver_of + waiver)
        if kind == PlanKind.SETTLEMENT.value and outcome == "kept":
            settlements_kept += number
    total = sum(by_kind.values(), PlanTally())
    first_day, last_day = days_of(first, last)
    return Arrangements(
        first_day,
        last_day,
        chosen,
        MappingProxyType(by_kind),
        MappingProxyType(by_channel),
        tuple(Forgone(currency, *forgone[currency]) for currency in sorted(forgone)),
        settlements_kept,
        total,
    )
