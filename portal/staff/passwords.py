"""Staff passwords: scrypt hashes through Werkzeug, and the rules a new password meets.

The cost is read from the configuration (``SCRYPT_COST``, which tests lower); a stored
hash carries its own parameters, so raising the cost later keeps old hashes valid.
"""

from __future__ import annotations

from enum import StrEnum

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

# scrypt N for passwords: Werkzeug's own default (32 MiB of memory per check).
DEFAULT_PASSWORD_COST = 2**15
MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing it cannot be used to tire us.
MAX_LENGTH = 256

# One throwaway hash per cost, checked against when the email is unknown, so that an
# unknown email takes as long to refuse as a known one.
_UNKNOWN_ACCOUNT_HASHES: dict[str, str] = {}


class PasswordProblem(StrEnum):
    """Why a new password is refused."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"


# Werkzeug bounds scrypt's memory at 132 * N * r bytes, which OpenSSL's own overhead
# exceeds below N = 256: a test's cheaper cost is raised to that.
LOWEST_COST = 256


def _method() -> str:
    cost = max(int(current_app.config.get("SCRYPT_COST", DEFAULT_PASSWORD_COST)), LOWEST_COST)
    return f"scrypt:{cost}:8:1"


def password_problem(password: str) -> PasswordProblem | None:
    """What is wrong with ``password`` as a new password, or None."""
    if len(password) < MIN_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_LENGTH:
        return PasswordProblem.TOO_LONG
    return None


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, with its parameters."""
    return generate_password_hash(password, method=_method())


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (constant time)."""
    if len(password) > MAX_LENGTH:
        return False
    return check_password_hash(stored_hash, password)


def spend_the_same_time(password: str) -> None:
    """Check ``password`` against a throwaway hash of the current cost: the work a real
    check does, for an email that names no account."""
    method = _method()
    if method not in _UNKNOWN_ACCOUNT_HASHES:
        _UNKNOWN_ACCOUNT_HASHES[method] = generate_password_hash("unknown account", method=method)
    check_password_hash(_UNKNOWN_ACCOUNT_HASHES[method], password[:MAX_LENGTH])
