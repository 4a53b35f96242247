"""Staff accounts in words: why a new password is refused."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.staff.passwords import MAX_LENGTH, MIN_LENGTH, PasswordProblem


def password_refusal(problem: PasswordProblem) -> str:
    """Why a new password was refused, in the current language."""
    if problem is PasswordProblem.TOO_SHORT:
        return str(_l("Use at least %(count)d characters.", count=MIN_LENGTH))
    if problem is PasswordProblem.TOO_LONG:
        return str(_l("Use at most %(count)d characters.", count=MAX_LENGTH))
    if problem is PasswordProblem.COMMON:
        return str(
            _l(
                "This password is one of the most common ones (digits or symbols added "
                "around a common password do not help). Choose one nobody would guess, "
                "such as a few unrelated words."
            )
        )
    if problem is PasswordProblem.REPEATED:
        return str(_l("This password repeats a few characters. Use more different characters."))
    return str(
        _l(
            "This password is a sequence of characters, such as abcd, 1234 or a row of "
            "keys. Choose one nobody would guess, such as a few unrelated words."
        )
    )
