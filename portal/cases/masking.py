"""Personal data as the console shows it until an agent asks to see it: enough to tell
cases apart and to recognise a borrower on the phone, never enough to copy out.

Every function is total: any stored value (empty, odd spacing, another script) gives a
masked string, never an exception and never the value itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

STAR = "*"


def _is_cjk(character: str) -> bool:
    """A character of a script written without spaces between names (Han, kana, hangul)."""
    name = unicodedata.name(character, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


# Kept for the names and phones a queue's pages show again (a reloaded page masked the
# same fifty of each every time): what the stored value alone decides.
@lru_cache(maxsize=4096)
def mask_name(name: str | None) -> str:
    """A name with only its first character kept: 陳怡君 → 陳**, Chan Ka Yan →
    C*** K*** Y***. Latin words hide their length; Chinese names keep theirs, as the
    usual 陳** does."""
    text = (name or "").strip()
    if not text:
        return ""
    if any(_is_cjk(character) for character in text):
        compact = "".join(text.split())
        return compact[0] + STAR * (len(compact) - 1)
    return " ".join(word[0] + STAR * 3 for word in text.split())


@lru_cache(maxsize=4096)
def mask_phone(phone: str | None) -> str:
    """A phone number with its country code, the first digit after it and the last three
    digits kept, the layout too: +886 912 345 678 → +886 9** *** 678."""
    text = (phone or "").strip()
    digits = [index for index, character in enumerate(text) if character.isdigit()]
    if not digits:
        return STAR * 3 if text else ""
    code: list[int] = []
    if text.startswith("+"):
        # The country code: the digits before the first separator (never more than 3).
        code_end = next((i for i, c in enumerate(text) if i and not c.isdigit()), len(text))
        code = [i for i in digits if i < code_end][:3]
    national = [i for i in digits if i not in code]
    keep = set(national[:1] if code else national[:2]) | set(national[-3:])
    # Short numbers: never show more than half of the number's own digits.
    if len(keep) * 2 > len(national):
        keep = set(national[-2:]) if len(national) > 3 else set()
    keep |= set(code)
    return "".join(
        character if (not character.isdigit() or index in keep) else STAR
        for index, character in enumerate(text)
    )


def mask_email(email: str | None) -> str:
    """An address with the first character of its mailbox and its domain kept:
    mei.lin@example.com → m***@example.com."""
    text = (email or "").strip()
    if not text:
        return ""
    mailbox, at, domain = text.rpartition("@")
    if not at:
        return text[0] + STAR * 3
    return (mailbox[:1] or STAR) + STAR * 3 + "@" + domain


def mask_address(address: str | None) -> str:
    """A postal address reduced to its first line's first few characters (the city or
    district in a Chinese address, the house number in an English one), the rest
    starred."""
    text = (address or "").strip()
    if not text:
        return ""
    first = text.splitlines()[0].strip()
    shown = first[:3]
    return shown + STAR * 6


def mask_text(
    text: str | None,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
) -> str:
    """``text`` (a message's words) with the borrower's personal data in it masked as
    the case page masks each field: the name (however it is spaced), the phone number,
    the email address (in any case) and each line of the postal address. Longer values
    are masked first, so a name inside an address line cannot leak."""
    masked = text or ""
    found: list[tuple[str, str, str]] = []  # (value, its pattern, its masked form)
    compact = "".join((name or "").split())
    if len(compact) >= 2:  # one character is no personal datum, and is everywhere
        spaced = r"\s*".join(re.escape(character) for character in compact)
        found.append((compact, spaced, mask_name(name)))
    for value, shown in (
        (phone, mask_phone(phone)),
        (email, mask_email(email)),
        *((line, mask_address(line)) for line in (address or "").splitlines()),
    ):
        value = (value or "").strip()
        if len(value) >= 2:
            found.append((value, re.escape(value), shown))
    for _value, pattern, shown in sorted(found, key=lambda each: len(each[0]), reverse=True):
        # A pattern, not a plain replace: an email address in capitals is still theirs.
        # The masked form is given as a function, so nothing in it is read as a group.
        masked = re.compile(pattern, re.IGNORECASE).sub(_constant(shown), masked)
    return masked


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement that is ``text`` whatever was matched."""
    return lambda _match: text
