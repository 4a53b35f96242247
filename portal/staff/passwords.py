"""Staff passwords: Argon2id hashes, the older scrypt hashes they replace, and the rules a
new password meets.

New and changed passwords are hashed with Argon2id (argon2-cffi). Accounts made before
that carry Werkzeug scrypt hashes (``scrypt:N:r:p$salt$hash``); those still verify, and
``needs_rehash`` tells the sign-in to replace them with Argon2 once the password is known
to be right. The Argon2 cost is read from the configuration (``ARGON2_TIME_COST``,
``ARGON2_MEMORY_COST`` in KiB, ``ARGON2_PARALLELISM``; tests lower it); a stored hash
carries its own parameters, so changing the cost later keeps old hashes valid, and a
hash made at another cost is re-hashed at the next sign-in too.

A new password must also not be guessable: not one of the 30,000 most common passwords
(nor one with only digits or symbols around it, ``password1234``), and not a run of
repeated or sequential characters (``aaaaaaaaaaaa``, ``abcdefgh1234``, ``qwertyuiop12``).
The list ships with the package, compressed, as ``common-passwords.txt.gz``: it is the
``passwords`` frequency list of the zxcvbn package (PyPI ``zxcvbn`` 4.5.0, MIT licence,
``common-passwords.LICENSE`` beside it), which zxcvbn drew from Mark Burnett's 10 million
password list.
"""

from __future__ import annotations

import functools
import gzip
import itertools
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING

from flask import current_app
from werkzeug.security import check_password_hash

# argon2-cffi, and cffi with it, is imported by the functions that hash or check a
# password: only sign-ins and password changes do, not every worker's every page.
if TYPE_CHECKING:
    from argon2 import PasswordHasher

# argon2-cffi's own defaults (RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes).
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_COST = 64 * 1024
DEFAULT_PARALLELISM = 4
MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing it cannot be used to tire us.
MAX_LENGTH = 256
ARGON2_PREFIX = "$argon2"

# One throwaway hash per cost, checked against when the email is unknown, so that an
# unknown email takes as long to refuse as a known one.
_UNKNOWN_ACCOUNT_HASHES: dict[tuple[int, int, int], str] = {}


# A password of fewer distinct characters than this is a few keys pressed again and again.
MIN_DISTINCT = 5
# Rows of keys and the digits in the order a keyboard has them, for sequences of keys.
KEY_SEQUENCES = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


class PasswordProblem(StrEnum):
    """Why a new password is refused (portal.wording.staff says it in words)."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    REPEATED = "repeated"
    SEQUENTIAL = "sequential"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (read once)."""
    packed = resources.files("portal.staff").joinpath("common-passwords.txt.gz").read_bytes()
    lines = gzip.decompress(packed).decode("utf-8").splitlines()
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def _is_common(password: str) -> bool:
    """One of the common passwords, or one with only digits, symbols and spaces around
    it (what people add to a common word to pass a length rule)."""
    lowered = password.lower()
    core = lowered.strip("0123456789 !@#$%^&*()-_=+.,;:?/'\"[]{}<>|`~")
    return lowered in common_passwords() or (len(core) >= 4 and core in common_passwords())


def _step(before: str, after: str) -> int | None:
    """How ``after`` follows ``before``: 0 the same key, +1 or -1 the next one along the
    alphabet, the digits or a keyboard row; None when it does not."""
    if before == after:
        return 0
    for row in ("abcdefghijklmnopqrstuvwxyz", *KEY_SEQUENCES):
        if before in row and after in row:
            distance = row.index(after) - row.index(before)
            if distance in (1, -1):
                return distance
    return None


def _runs(password: str) -> list[int]:
    """The password cut into runs of repeated or sequential characters; each run's step
    (0 for a repeated character, +1 or -1 for a sequence)."""
    lowered = password.lower()
    steps: list[int] = []
    current: int | None = None
    for before, after in itertools.pairwise(lowered):
        step = _step(before, after)
        if step is None or (current is not None and step != current):
            steps.append(current if current is not None else 0)
            current = None if step is None else step
        else:
            current = step
    steps.append(current if current is not None else 0)
    return steps


def _pattern_problem(password: str) -> PasswordProblem | None:
    """Repeated or sequential characters: few distinct ones, or a password made of a few
    runs (at most one run per four characters)."""
    if len(set(password.lower())) < MIN_DISTINCT:
        return PasswordProblem.REPEATED
    runs = _runs(password)
    if len(runs) * 4 <= len(password):
        return PasswordProblem.REPEATED if not any(runs) else PasswordProblem.SEQUENTIAL
    return None


def _parameters() -> tuple[int, int, int]:
    config = current_app.config
    time_cost = max(int(config.get("ARGON2_TIME_COST", DEFAULT_TIME_COST)), 1)
    parallelism = max(int(config.get("ARGON2_PARALLELISM", DEFAULT_PARALLELISM)), 1)
    # Argon2 needs at least 8 KiB per lane; a test's cheaper cost is raised to that.
    memory_cost = max(int(config.get("ARGON2_MEMORY_COST", DEFAULT_MEMORY_COST)), 8 * parallelism)
    return time_cost, memory_cost, parallelism


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    time_cost, memory_cost, parallelism = _parameters()
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def password_problem(password: str) -> PasswordProblem | None:
    """What is wrong with ``password`` as a new password, or None."""
    if len(password) < MIN_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_LENGTH:
        return PasswordProblem.TOO_LONG
    if _is_common(password):
        return PasswordProblem.COMMON
    return _pattern_problem(password)


def hash_password(password: str) -> str:
    """A salted Argon2id hash of ``password``, with its parameters (PHC string format)."""
    return _hasher().hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (constant time), for
    an Argon2 hash or an older Werkzeug scrypt one."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if len(password) > MAX_LENGTH:
        return False
    if stored_hash.startswith(ARGON2_PREFIX):
        try:
            return _hasher().verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            # A mismatch, or a damaged hash: either way not this password.
            return False
    return check_password_hash(stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` should be replaced, once the password is known: anything
    not Argon2id at the configured cost (an older scrypt hash above all)."""
    if not stored_hash.startswith(f"{ARGON2_PREFIX}id$"):
        return True
    from argon2.exceptions import InvalidHashError

    try:
        return _hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def spend_the_same_time(password: str) -> None:
    """Check ``password`` against a throwaway Argon2 hash of the current cost: the work a
    real check does, for an email that names no account."""
    parameters = _parameters()
    if parameters not in _UNKNOWN_ACCOUNT_HASHES:
        _UNKNOWN_ACCOUNT_HASHES[parameters] = hash_password("unknown account")
    password_matches(_UNKNOWN_ACCOUNT_HASHES[parameters], password[:MAX_LENGTH])
