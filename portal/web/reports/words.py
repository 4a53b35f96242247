"""The portfolio page's words: the buckets' names, the slices' values in the reader's
language, and shares as percentages (exact fractions to Decimal, formatted by Babel in the
page's language; never a float)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from babel import Locale
from babel.dates import format_skeleton
from flask_babel import format_decimal, format_percent, get_locale, lazy_pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from negotiation.portfolio import Bucket
from portal.cases.queue import DPD_BANDS
from portal.core.i18n import DEFAULT
from portal.reporting.snapshots import month_end_of
from portal.wording.cases import PRODUCT_NAMES, STAGE_LABELS

# The buckets in the queue's words for the same bands of days past due.
BUCKET_NAMES: dict[Bucket, Any] = {
    Bucket.CURRENT: DPD_BANDS["0"],
    Bucket.D1_30: DPD_BANDS["1-30"],
    Bucket.D31_60: DPD_BANDS["31-60"],
    Bucket.D61_90: DPD_BANDS["61-90"],
    Bucket.D91_180: DPD_BANDS["91-180"],
    Bucket.D181_PLUS: DPD_BANDS["181+"],
    Bucket.CLOSED: _l("Closed"),
}

# How a share is written: a percentage to one decimal.
PERCENT = "#,##0.0%"


def as_decimal(share: Fraction) -> Decimal:
    """An exact fraction as a Decimal (to the context's 28 significant digits)."""
    return Decimal(share.numerator) / Decimal(share.denominator)


def percent(share: Fraction | None) -> str:
    """A share as a percentage to one decimal in the page's language; a dash for none
    (a row with no case has no share)."""
    if share is None:
        return "—"
    return str(format_percent(as_decimal(share), PERCENT))


def product_name(code: str) -> str:
    """A product's name, or its code when the lender's product has no words here."""
    return str(PRODUCT_NAMES.get(code, code))


def stage_name(code: str) -> str:
    """A stage's name, or its code."""
    return str(STAGE_LABELS.get(code, code))


def market_name(code: str) -> str:
    """A market (a territory code, TW, CN, HK, US) as the page's language names it, with
    the code: Babel's names, so no catalog entry per country."""
    locale = get_locale() or Locale.parse(DEFAULT)
    name = locale.territories.get(code)
    return f"{name} ({code})" if name else code


def whole(number: int) -> str:
    """A count with the page's language's grouping (1,234)."""
    return str(format_decimal(number))


def month_name(day: date) -> str:
    """A month-end's month and year, as the page's language writes them (Nov 2026,
    2026年11月)."""
    return str(format_skeleton("yMMM", day, locale=get_locale() or DEFAULT))


def pair_name(first: date) -> str:
    """A month pair, named by its first month-end: its two months (Oct 2026 to Nov 2026)."""
    then = month_end_of(first + timedelta(days=1))
    return _("%(first)s to %(last)s", first=month_name(first), last=month_name(then))


# The sections beside the roll rates ----------------------------------------------------

# Where a plan accepted stands (``portal.reporting.arrangements``).
PLAN_OUTCOMES: dict[str, Any] = {
    "accepted": lazy_pgettext("plans", "Accepted"),
    "kept": _l("Kept to term"),
    "broken": lazy_pgettext("plans", "Broken"),
    "lapsed": lazy_pgettext("plans", "Lapsed"),
    "live": _l("Still live"),
}

# How a plan's first payment came (``arrangements.CHANNELS``).
FIRST_PAYMENT_CHANNELS: dict[str, Any] = {
    "portal": _l("Chosen in the portal"),
    "agent_offer": _l("An agent's offer"),
    "autopay": _l("Autopay"),
}

# Promises made, by how they stand (``portal.reporting.promises``).
PROMISE_OUTCOMES: dict[str, Any] = {
    "made": _l("Made"),
    "kept": lazy_pgettext("promises", "Kept"),
    "partly_kept": _l("Partly kept"),
    "broken": lazy_pgettext("promises", "Broken"),
    "open": lazy_pgettext("promises", "Open"),
    "superseded": _l("Replaced"),
}

# The portal funnel's steps, in order (``portal.reporting.funnel.STEPS``).
FUNNEL_STEPS: dict[str, Any] = {
    "reminder_sent": _l("Reminder with a link sent"),
    "link_opened": _l("Link opened (an answer given)"),
    "verified": _l("Verified"),
    "options_seen": _l("Plan options seen"),
    "plan_reviewed": _l("A plan reviewed"),
    "accepted": _l("Plan accepted"),
    "first_payment": _l("First payment made"),
}

# The device classes the funnel keeps (``portal.reporting.funnel.DEVICES``).
DEVICE_NAMES: dict[str, Any] = {
    "phone": lazy_pgettext("device", "Phone"),
    "tablet": _l("Tablet"),
    "desktop": _l("Computer"),
    "unknown": _l("Not known (never verified)"),
}


def per_case(ratio: Fraction | None) -> str:
    """A count per case (attempts, contacts) to two decimals in the page's language; a
    dash when no case was counted."""
    if ratio is None:
        return "—"
    return str(format_decimal(as_decimal(ratio), "#,##0.00"))


def device_name(code: str) -> str:
    """A device class in words; an unknown code as itself."""
    return str(DEVICE_NAMES.get(code, code))
