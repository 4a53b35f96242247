"""Why a plan request or an offer is refused: enumerated reasons, never text.

The portal maps each reason to a translated sentence; ``nearest`` carries the closest
value that would be allowed, so the borrower can be told what to change it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class RejectionReason(StrEnum):
    """Each way a requested or offered plan can fall outside the bounds."""

    NOTHING_OVERDUE = "nothing_overdue"
    SELF_SERVICE_NOT_ALLOWED = "self_service_not_allowed"
    KIND_NOT_ALLOWED = "kind_not_allowed"
    FREQUENCY_NOT_ALLOWED = "frequency_not_allowed"
    TOO_MANY_RESTRUCTURES = "too_many_restructures"
    TERM_TOO_SHORT = "term_too_short"
    TERM_TOO_LONG = "term_too_long"
    INSTALLMENT_BELOW_MINIMUM = "installment_below_minimum"
    DOWN_PAYMENT_TOO_LOW = "down_payment_too_low"
    DOWN_PAYMENT_TOO_HIGH = "down_payment_too_high"
    FIRST_PAYMENT_IN_PAST = "first_payment_in_past"
    FIRST_PAYMENT_TOO_LATE = "first_payment_too_late"
    NOT_AFFORDABLE = "not_affordable"
    PENALTY_WAIVER_TOO_HIGH = "penalty_waiver_too_high"
    FEE_WAIVER_TOO_HIGH = "fee_waiver_too_high"
    DISCOUNT_TOO_HIGH = "discount_too_high"
    INTEREST_RATE_TOO_LOW = "interest_rate_too_low"


Nearest = int | Decimal | date | None


@dataclass(frozen=True)
class Rejection:
    """One reason a plan is refused, with the nearest value that would be allowed.

    ``nearest`` is a number of installments, an amount in minor units, a percentage or a
    date, depending on the reason; None when no value of that parameter would do.
    """

    reason: RejectionReason
    nearest: Nearest = None
