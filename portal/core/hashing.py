"""Hashes for what must never be stored in the clear: link tokens and verification facts."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import date

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


def normalise_date_of_birth(answer: str) -> str | None:
    """An ISO date from what a borrower typed, or None: 1985-03-07, 1985/3/7, 19850307,
    1985年3月7日, or a Taiwan (Minguo) date such as 74/3/7 or 民國74年3月7日."""
    text = unicodedata.normalize("NFKC", answer).strip().replace(" ", "")
    text = text.removeprefix("民國").removeprefix("民国").removesuffix("日")
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


def normalise_id_last4(answer: str) -> str | None:
    """The last four characters of an ID number, upper-cased, spaces and brackets removed
    (a Hong Kong ID's check digit is often written in brackets)."""
    text = unicodedata.normalize("NFKC", answer).upper()
    text = re.sub("[\\s()\uff08\uff09\\-]", "", text)
    if len(text) != 4 or not text.isalnum():
        return None
    return text
