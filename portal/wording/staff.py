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


# Why an admin's change to a staff account or team was refused, by the service's reason
# (portal.staff.accounts, portal.staff.directory).
ACCOUNT_REFUSALS = {
    "self_deactivate": _l("You cannot deactivate your own account."),
    "self_admin": _l("You cannot remove your own admin role."),
    "last_admin": _l("This is the last active admin: make someone else an admin first."),
    "no_roles": _l("Choose at least one role."),
    "email_taken": _l("That email address already has an account."),
    "bad_email": _l("Enter a valid email address."),
    "link_invalid": _l(
        "This set-up link has expired, was already used or was replaced by a newer one. "
        "Ask an admin for a new link."
    ),
    "team_taken": _l("Another team already has that name."),
    "team_name": _l("A team's name has 1 to 80 characters."),
    "agency_only": _l(
        "A partner agency's staff have the agency role alone, and only they have it: "
        "make their account from the command line with their agency."
    ),
}


def account_refusal(reason: str) -> str:
    """Why an account change was refused, in the current language (the reason itself
    when it has no words: a password's reasons are in ``password_refusal``)."""
    words = ACCOUNT_REFUSALS.get(reason)
    return str(words) if words is not None else reason


ROLE_NAMES = {
    "agent": _l("Agent"),
    "supervisor": _l("Supervisor"),
    "finance": _l("Finance"),
    "admin": _l("Admin"),
    "field": _l("Field visits"),
    "agency": _l("Partner agency"),
}
