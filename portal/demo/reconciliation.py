"""The demo's reconciliation: four discrepancies planted in the sandbox's books
(``portal.finance.sandbox_reader``), so that the finance user can run last month's
reconciliation, find each kind of exception, work each to an end and close the month.

Planted once (re-running adds nothing), on the payments of the last whole month in the
finance timezone (or the latest ones, if that month has too few), each small enough to
write off without a second finance member: a stray charge, a refund the sandbox made
that we never recorded, a payment it never took, and one it took for another amount.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.core import settings as app_settings
from portal.finance import closing
from portal.finance.approval import approval_limit
from portal.models import Payment, PaymentStatus, PlantKind, SandboxPlant

STRAY_CHARGE = {"TWD": 88_800, "CNY": 18_800, "HKD": 18_800}  # NT$888, ¥188, HK$188
SHORT_BY = 5_000  # the amount the sandbox took short of one payment, in minor units


def plant_discrepancies(db: Session, now: datetime) -> int:
    """Plant the four discrepancies, unless planted before; how many were. Commits."""
    if db.scalars(select(SandboxPlant.id)).first() is not None:
        return 0
    zone = app_settings.current().finance_zone
    since, until = closing.month_bounds(last_month(now, zone), zone)
    payments = _candidates(db, since, until) or _candidates(db, now - timedelta(days=31), now)
    if len(payments) < 3:
        return 0
    refunded, missing, short = payments[0], payments[1], payments[2]
    stray_at = refunded.confirmed_at or now
    plants = [
        SandboxPlant(
            kind=PlantKind.STRAY_CHARGE,
            amount=STRAY_CHARGE.get(refunded.currency, 10_000),
            currency=refunded.currency,
            at=stray_at + timedelta(hours=1),
        ),
        SandboxPlant(
            kind=PlantKind.UNRECORDED_REFUND,
            payment_id=refunded.id,
            amount=refunded.amount // 4,
            currency=refunded.currency,
            at=stray_at + timedelta(hours=2),
        ),
        SandboxPlant(
            kind=PlantKind.NOT_AT_GATEWAY,
            payment_id=missing.id,
            amount=0,
            currency=missing.currency,
            at=missing.confirmed_at or now,
        ),
        SandboxPlant(
            kind=PlantKind.OTHER_AMOUNT,
            payment_id=short.id,
            amount=short.amount - SHORT_BY,
            currency=short.currency,
            at=short.confirmed_at or now,
        ),
    ]
    db.add_all(plants)
    db.commit()
    return len(plants)


def last_month(now: datetime, zone: ZoneInfo) -> str:
    """The last whole month before ``now`` in the finance timezone (``YYYY-MM``): the one
    the finance user reconciles and closes."""
    month = closing.month_of(now, zone)
    return closing.month_of(closing.month_bounds(month, zone)[0] - timedelta(1), zone)


def _candidates(db: Session, since: datetime, until: datetime) -> list[Payment]:
    """The sandbox's succeeded payments confirmed in ``[since, until)``, nothing taken
    back, each at most its currency's write-off limit; smallest first."""
    found = db.scalars(
        select(Payment)
        .where(
            Payment.gateway == "sandbox",
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.refunded == 0,
            Payment.disputed == 0,
            Payment.confirmed_at >= since,
            Payment.confirmed_at < until,
        )
        .order_by(Payment.amount, Payment.id)
    )
    return [p for p in found if p.amount <= (approval_limit(p.currency) or 0)]
