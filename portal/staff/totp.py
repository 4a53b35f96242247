"""Time-based one-time passwords (RFC 6238, on RFC 4226's HOTP) with the standard
library: HMAC-SHA1, 30-second steps, 6 digits, the way every authenticator app reads an
``otpauth://`` URI. A code is accepted for the step before and after the current one
(clocks drift, people type slowly), and never for a step at or before the last accepted
one, so an overheard code cannot be used again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now that are still accepted.
TOLERANCE = 1
ISSUER = "Haohuan"


def new_secret() -> str:
    """A fresh 160-bit secret (RFC 4226's recommended length), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    # Apps show the secret in groups and sometimes lower case; padding is ours to restore.
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def step_at(moment: datetime) -> int:
    """The time step ``moment`` falls in (seconds since the epoch over 30)."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_for(secret: str, step: int) -> str:
    """The code of ``step``: HOTP with the step as the counter (RFC 4226, section 5.3)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def matching_step(secret: str, code: str, moment: datetime, last_step: int | None) -> int | None:
    """The step whose code ``code`` is, near ``moment`` and after ``last_step``; None
    when the code is wrong, too old or already used."""
    typed = "".join(code.split())
    if len(typed) != DIGITS or not (typed.isascii() and typed.isdigit()):
        return None
    current = step_at(moment)
    found = None
    # Every candidate is compared (in constant time), so timing tells nothing of which.
    for step in range(current - TOLERANCE, current + TOLERANCE + 1):
        if hmac.compare_digest(code_for(secret, step), typed) and (
            last_step is None or step > last_step
        ):
            found = step if found is None else found
    return found


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (Key URI Format)."""
    label = quote(f"{ISSUER}:{email}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"
