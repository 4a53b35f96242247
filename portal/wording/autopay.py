"""Words for the stored codes of automatic payments: a saved card's brand (as the
borrower and staff see it), and, for staff, a mandate's status and why it ended, a
saved card's status, and what an attempt came to."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# Card brands as the provider names them, as they are written on the card.
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "discover": "Discover",
    "diners": "Diners Club",
}


def brand_name(brand: str) -> str:
    """A card's brand as printed on it."""
    return BRANDS.get(brand.lower(), brand.title())


AUTOPAY_STATUSES = {
    "on": _l("On"),
    "pending": _l("Waiting for a card"),
    "off": _l("Off"),
}

AUTOPAY_ENDS = {
    "borrower": _l("turned off by the borrower"),
    "card_expired": _l("the card expired"),
    "card_unusable": _l("the card can no longer be charged"),
    "plan_ended": _l("the plan ended"),
    "replaced": _l("replaced by a new consent"),
}

CARD_STATUSES = {
    "active": _l("in use"),
    "removed": _l("removed"),
    "expired": _l("expired"),
    "detached": _l("no longer usable"),
}

ATTEMPT_OUTCOMES = {
    "succeeded": _l("Charged"),
    "declined": _l("Declined"),
    "needs_authentication": _l("Waiting for the borrower to confirm"),
    "card_unusable": _l("Card unusable"),
    "unknown": _l("Not known yet: asked again next run"),
    "charging": _l("Being charged"),
}
