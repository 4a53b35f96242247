"""Staff accounts and signing in: the service functions behind the sign-in page and the
``haohuan staff`` commands. Each commits once (the sign-in's audit entries, through
``record_sign_in`` and ``record_refused_sign_in``, after the attempt's own commit).

Guessing is limited two ways, as borrower verification is (``portal.access.verification``): failures
per email address typed (5 in 15 minutes) and per client address (100 in an hour: an
office of agents behind one address shares it, so one typo each at shift start must not
lock them all out). The
limit per email counts what was typed, whether or not an account has it, so a refusal
never tells anyone which emails are staff. With a one-time code (TOTP) enabled, the
right password leads to the code step, and a wrong code counts as a failure like a
wrong password.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from portal.access.addresses import address_hash
from portal.audit import trail
from portal.core.db import by_id, lock_row
from portal.models import StaffMember, StaffSignInAttempt
from portal.staff import totp
from portal.staff.passwords import (
    PasswordProblem,
    hash_password,
    needs_rehash,
    password_matches,
    password_problem,
    spend_the_same_time,
)

# The one list of staff roles: the CLI offers these, and ``staff_required`` refuses others.
ROLES = ("agent", "supervisor", "finance", "admin")
ACCOUNT_WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
ADDRESS_WINDOW = timedelta(hours=1)
FAILURES_PER_ADDRESS = 100


class SignInVerdict(StrEnum):
    """The outcome of one sign-in attempt."""

    SIGNED_IN = "signed_in"
    NEEDS_CODE = "needs_code"
    WRONG = "wrong"
    ACCOUNT_LIMITED = "account_limited"
    ADDRESS_LIMITED = "address_limited"


@dataclass(frozen=True)
class SignInResult:
    """A verdict, and the member when it is ``SIGNED_IN`` or ``NEEDS_CODE``."""

    verdict: SignInVerdict
    member: StaffMember | None = None


class AccountError(ValueError):
    """A staff account cannot be created or changed as asked; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_email(email: str) -> str:
    """An email as it is stored and compared: full-width forms folded, trimmed, lower case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def find_member(db: Session, email: str) -> StaffMember | None:
    """The account with this email, active or not."""
    return db.scalars(
        select(StaffMember).where(StaffMember.email == normalise_email(email))
    ).first()


class WeakPasswordError(AccountError):
    """A new password is refused; ``problem`` says why (``portal.wording.staff`` has it
    in words, in each language)."""

    def __init__(self, problem: PasswordProblem) -> None:
        super().__init__(WEAK_PASSWORD_REASONS[problem])
        self.problem = problem


# Plain reasons for logs and tests; people read portal.wording.staff's translations.
WEAK_PASSWORD_REASONS = {
    PasswordProblem.TOO_SHORT: "the password must be at least 12 characters",
    PasswordProblem.TOO_LONG: "the password must be at most 256 characters",
    PasswordProblem.COMMON: "the password is one of the most common passwords",
    PasswordProblem.REPEATED: "the password repeats a few characters",
    PasswordProblem.SEQUENTIAL: "the password is a sequence of characters",
}


def _checked_password(password: str) -> str:
    problem = password_problem(password)
    if problem is not None:
        raise WeakPasswordError(problem)
    return hash_password(password)


def unknown_roles(roles: Iterable[str]) -> list[str]:
    """Those of ``roles`` that are not staff roles."""
    return sorted(set(roles) - set(ROLES))


def add_member(
    db: Session,
    email: str,
    name: str | None,
    roles: Iterable[str],
    password: str,
    now: datetime,
) -> StaffMember:
    """Create an active account (named after the email's local part when no name is
    given). Raises ``AccountError`` for a taken email, an unknown role or a weak
    password. Commits."""
    email = normalise_email(email)
    wanted = sorted(set(roles))
    if unknown_roles(wanted) or not wanted:
        raise AccountError(f"roles must be among {', '.join(ROLES)}")
    if name is None or not name.strip():
        name = email.split("@", 1)[0]
    if "@" not in email or not name.strip():
        raise AccountError("an email address and a name are needed")
    if find_member(db, email) is not None:
        raise AccountError(f"{email} already has an account")
    member = StaffMember(
        email=email,
        name=name.strip(),
        password_hash=_checked_password(password),
        roles=",".join(wanted),
        active=True,
        created_at=now,
    )
    db.add(member)
    db.commit()
    return member


def change_password(db: Session, member: StaffMember, password: str) -> None:
    """Set a new password and end every session of the account. Commits."""
    member.password_hash = _checked_password(password)
    member.session_generation += 1
    db.commit()


def sign_out(db: Session, member: StaffMember, now: datetime) -> None:
    """End every session of the account (a copied cookie stops working too), recorded in
    the audit log as its sign-out. Commits both together."""
    trail.record(db, member, "staff.sign_out", now)
    member.session_generation += 1
    db.commit()


def deactivate(db: Session, member: StaffMember) -> None:
    """Stop the account from signing in, and end its sessions. Commits."""
    member.active = False
    member.session_generation += 1
    db.commit()


def enable_totp(db: Session, member: StaffMember) -> str:
    """Give the account a new one-time-code secret (replacing any earlier one) and end its
    sessions, so every session from now on has passed the code. Returns the secret.
    Commits."""
    secret = totp.new_secret()
    member.totp_secret = secret
    member.totp_last_step = None
    member.session_generation += 1
    db.commit()
    return secret


def disable_totp(db: Session, member: StaffMember) -> None:
    """Stop asking the account for a one-time code. Commits."""
    member.totp_secret = None
    member.totp_last_step = None
    db.commit()


def _limited(
    db: Session, email: str, member: StaffMember | None, hashed_address: str, now: datetime
) -> SignInVerdict | None:
    """The limit this attempt is over, if any."""
    if _failures(db, StaffSignInAttempt.address == hashed_address, now - ADDRESS_WINDOW) >= (
        FAILURES_PER_ADDRESS
    ):
        return SignInVerdict.ADDRESS_LIMITED
    of_account = [StaffSignInAttempt.email == email]
    if member is not None and member.last_sign_in_at is not None:
        # A successful sign-in forgives the typing mistakes before it.
        of_account.append(StaffSignInAttempt.at > member.last_sign_in_at)
    if _failures(db, and_(*of_account), now - ACCOUNT_WINDOW) >= FAILURES_PER_ACCOUNT:
        return SignInVerdict.ACCOUNT_LIMITED
    return None


def sign_in(db: Session, email: str, password: str, address: str, now: datetime) -> SignInResult:
    """Check an email and password within the limits, recording the attempt; an older
    hash of a right password is replaced by an Argon2 one. With a one-time code enabled,
    a right password gives ``NEEDS_CODE`` and records nothing yet: the code step records
    the attempt. Commits."""
    email = normalise_email(email)[:254]
    hashed_address = address_hash(address)
    member = find_member(db, email)
    if member is not None:
        # Concurrent guesses at one account are serialised, so no burst outruns the limit.
        lock_row(db, StaffMember, member.id)
        db.refresh(member)
    limited = _limited(db, email, member, hashed_address, now)
    if limited is not None:
        db.rollback()
        return SignInResult(limited)
    if member is None:
        spend_the_same_time(password)
        succeeded = False
    else:
        succeeded = password_matches(member.password_hash, password) and member.active
    if succeeded and member is not None and needs_rehash(member.password_hash):
        # The only moment the password is known: move the account to the current hash.
        member.password_hash = hash_password(password)
    if succeeded and member is not None and member.totp_secret:
        db.commit()
        return SignInResult(SignInVerdict.NEEDS_CODE, member)
    db.add(StaffSignInAttempt(email=email, address=hashed_address, at=now, succeeded=succeeded))
    if succeeded and member is not None:
        member.last_sign_in_at = now
    db.commit()
    if succeeded:
        return SignInResult(SignInVerdict.SIGNED_IN, member)
    return SignInResult(SignInVerdict.WRONG)


def check_code(
    db: Session, member_id: int, generation: int, code: str, address: str, now: datetime
) -> SignInResult:
    """The second step: check the one-time code of the account whose password was just
    right, within the same limits, recording the attempt; a code is accepted once only.
    ``generation`` is the account's session generation at the password step, so a
    password change or deactivation in between ends the sign-in. Commits."""
    hashed_address = address_hash(address)
    member = db.get(StaffMember, member_id)
    if member is None:
        return SignInResult(SignInVerdict.WRONG)
    # Serialised per account: two tabs sending one code cannot both have it accepted.
    lock_row(db, StaffMember, member.id)
    db.refresh(member)
    limited = _limited(db, member.email, member, hashed_address, now)
    if limited is not None:
        db.rollback()
        return SignInResult(limited)
    step = None
    if member.active and member.totp_secret and member.session_generation == generation:
        step = totp.matching_step(member.totp_secret, code, now, member.totp_last_step)
    succeeded = step is not None
    db.add(
        StaffSignInAttempt(email=member.email, address=hashed_address, at=now, succeeded=succeeded)
    )
    if succeeded:
        member.totp_last_step = step
        member.last_sign_in_at = now
    db.commit()
    if succeeded:
        return SignInResult(SignInVerdict.SIGNED_IN, member)
    return SignInResult(SignInVerdict.WRONG)


def record_sign_in(db: Session, member: StaffMember, now: datetime) -> None:
    """The audit log's entry for a sign-in that begins a session. Commits: its own
    transaction, after the one ``sign_in`` or ``check_code`` committed."""
    trail.record(db, member, "staff.sign_in", now)
    db.commit()


def record_refused_sign_in(
    db: Session, who: StaffMember | str | int, verdict: SignInVerdict, now: datetime, step: str
) -> None:
    """A refused sign-in in the audit log: the account when known (``who`` may be its id),
    else the email typed, normalised (never the password). Commits: its own transaction,
    after the one that recorded the attempt."""
    if isinstance(who, int):
        who = by_id(db, StaffMember, who) or str(who)
    actor = who if isinstance(who, StaffMember) else normalise_email(who)[:254]
    trail.record(db, actor, "staff.sign_in_failed", now, step=step, verdict=verdict.value)
    db.commit()


def _failures(db: Session, who: ColumnElement[bool], since: datetime) -> int:
    query = select(func.count(StaffSignInAttempt.id)).where(
        who,
        StaffSignInAttempt.succeeded.is_(False),
        StaffSignInAttempt.at >= since,
    )
    return int(db.scalar(query) or 0)
