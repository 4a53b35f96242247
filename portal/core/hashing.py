"""Hashes for what must never be stored in the clear: link tokens and verification facts."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import date
from enum import StrEnum

from flask import current_app

# scrypt's cost: strong in production; tests lower it through configuration.
DEFAULT_SCRYPT_COST = 2**14


def new_token() -> str:
    """A 256-bit random token for a link."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 of a token: a link is found by it, the token itself is never kept."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_salt() -> str:
    """A per-borrower salt."""
    return secrets.token_hex(16)


def fact_hash(fact: str, salt: str) -> str:
    """A salted, deliberately slow hash of a normalised verification fact."""
    cost = int(current_app.config.get("SCRYPT_COST", DEFAULT_SCRYPT_COST))
    digest = hashlib.scrypt(fact.encode("utf-8"), salt=bytes.fromhex(salt), n=cost, r=8, p=1)
    return digest.hex()


def fact_matches(fact: str, salt: str, expected: str) -> bool:
    """Compare in constant time."""
    return hmac.compare_digest(fact_hash(fact, salt), expected)


_DATE_PARTS = re.compile(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})$")
_MINGUO_PARTS = re.compile(r"^(\d{2,3})\D(\d{1,2})\D(\d{1,2})$")
MINGUO_OFFSET = 1911  # year 1 of the Republic of China calendar used in Taiwan is 1912
# Day and month before the year (25/12/1980, 25.12.1980, 25-12-1980).
_YEAR_LAST_PARTS = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


class DateOrder(StrEnum):
    """Which comes first in a market's all-numeric dates with the year last."""

    DAY_FIRST = "day_first"  # Hong Kong: 03/04/1980 is 3 April
    MONTH_FIRST = "month_first"  # the United States: 03/04/1980 is 4 March


def normalise_date_of_birth(answer: str, order: DateOrder | None = None) -> str | None:
    """An ISO date from what a borrower typed, or None: 1985-03-07, 1985/3/7, 19850307,
    1985年3月7日, a Taiwan (Minguo) date such as 74/3/7 or 民國74年3月7日, or day and month
    before the year (25/12/1980). The last is taken when it reads one way only (25/12
    is a day then a month, 12/25 a month then a day, 03/03 either); a date such as
    03/04/1980 is read by the market's ``order``, and is unreadable without one."""
    text = unicodedata.normalize("NFKC", answer).strip().replace(" ", "")
    text = text.removeprefix("民國").removeprefix("民国").removesuffix("日")
    year_last = _YEAR_LAST_PARTS.match(text)
    if year_last:
        first, second, year = (int(part) for part in year_last.groups())
        return _year_last(first, second, year, order)
    offset = 0
    match = _DATE_PARTS.match(text)
    if not match:
        match = _MINGUO_PARTS.match(text)
        offset = MINGUO_OFFSET
    if not match:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year + offset, month, day).isoformat()
    except ValueError:
        return None


def _year_last(first: int, second: int, year: int, order: DateOrder | None) -> str | None:
    readings = {
        DateOrder.DAY_FIRST: _valid_date(year, second, first),
        DateOrder.MONTH_FIRST: _valid_date(year, first, second),
    }
    found = {reading for reading in readings.values() if reading is not None}
    if len(found) == 1:
        return found.pop()
    return readings[order] if order is not None else None


def _valid_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def is_ambiguous_date(answer: str) -> bool:
    """True for a date with the year last that reads two ways (03/04/1980)."""
    text = unicodedata.normalize("NFKC", answer).strip().replace(" ", "")
    match = _YEAR_LAST_PARTS.match(text)
    if match is None:
        return False
    first, second, year = (int(part) for part in match.groups())
    return (
        first != second
        and _valid_date(year, second, first) is not None
        and _valid_date(year, first, second) is not None
    )


def normalise_id_last4(answer: str) -> str | None:
    """The last four characters of an ID number, upper-cased, spaces and brackets removed
    (a Hong Kong ID's check digit is often written in brackets)."""
    text = unicodedata.normalize("NFKC", answer).upper()
    text = re.sub("[\\s()\uff08\uff09\\-]", "", text)
    if len(text) != 4 or not text.isalnum():
        return None
    return text
