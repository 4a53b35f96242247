"""A borrower's reply to an SMS: whether it asks us to stop, and which stored phone
numbers the number it came from may be written as.

Standard library only. The keywords are the ones carriers and Twilio honour in English
(``STOP``, ``STOPALL``, ``UNSUBSCRIBE``, ``CANCEL``, ``END``, ``QUIT``) and the Chinese
ones borrowers in Taiwan and mainland China send (退訂, 退订, 取消訂閱, 取消订阅).
A reply is read the way a person means it: any case, full-width or half-width letters
(NFKC), spaces and punctuation around it ignored. Anything else is not a request to
stop: "please stop calling me at work" is a sentence for an agent, not an opt-out.
"""

from __future__ import annotations

import unicodedata

# The one list of the words that stop SMS (compared after ``keyword``'s folding).
STOP_KEYWORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "退訂",
        "退订",
        "取消訂閱",
        "取消订阅",
    }
)

# Country calling codes of the markets we lend in, with the jurisdiction whose borrowers
# may have their number stored the local way, and the prefixes the local way adds (a
# trunk zero in Taiwan; mainland mobiles are written without one, landlines with it).
NATIONAL_FORMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("886", "TW", ("0",)),
    ("852", "HK", ("",)),
    ("86", "CN", ("0", "")),
    ("1", "US", ("",)),
)


def _trimmed(text: str) -> str:
    """``text`` without the spaces, punctuation and symbols around it."""
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _edge(char: str) -> bool:
    category = unicodedata.category(char)
    return char.isspace() or category[0] in ("P", "S", "Z", "C")


def keyword(body: str) -> str:
    """The reply folded for comparison: NFKC (full-width letters are letters), case
    folded, and trimmed of spaces and punctuation at either end."""
    return _trimmed(unicodedata.normalize("NFKC", body)).casefold()


def asks_to_stop(body: str) -> bool:
    """Whether the reply, as a whole, is one of the stop keywords."""
    return keyword(body) in STOP_KEYWORDS


def phone_digits(phone: str) -> str:
    """The digits of a phone number (what ``borrowers.phone_digits`` stores)."""
    return "".join(char for char in phone if "0" <= char <= "9")


def national_forms(international: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """For an international number's digits (``886912345678``), each jurisdiction that
    may have stored it the local way and those local digits (``TW``, ``0912345678``)."""
    found = []
    for code, jurisdiction, prefixes in NATIONAL_FORMS:
        national = international.removeprefix(code)
        if national != international and len(national) >= 6:
            found.append((jurisdiction, tuple(prefix + national for prefix in prefixes)))
    return tuple(found)
