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

import secrets
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
from portal.core.clock import as_utc
from portal.core.db import by_id, lock_row
from portal.core.hashing import new_token, token_hash
from portal.models import StaffMember, StaffSetUpLink, StaffSignInAttempt
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
# ``agency``: a partner agency's staff (``portal.agencies``), who hold no other role and
# have their agency set; they reach only the cases placed with it.
ROLES = ("agent", "supervisor", "finance", "admin", "field", "agency")
AGENCY = "agency"
ACCOUNT_WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
ADDRESS_WINDOW = timedelta(hours=1)
FAILURES_PER_ADDRESS = 100


class SignInVerdict(StrEnum):
    """The outcome of one sign-in attempt."""

    SIGNED_IN = "signed_in"
    NEEDS_CODE = "needs_code"
    NEEDS_ENROLMENT = "needs_enrolment"
    WRONG = "wrong"
    ACCOUNT_LIMITED = "account_limited"
    ADDRESS_LIMITED = "address_limited"


@dataclass(frozen=True)
class SignInResult:
    """A verdict, and the member when it is ``SIGNED_IN``, ``NEEDS_CODE`` or
    ``NEEDS_ENROLMENT``."""

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
    agency_id: int | None = None,
) -> StaffMember:
    """Create an active account (named after the email's local part when no name is
    given); ``agency_id``: a partner agency's member, who must hold the ``agency`` role
    alone (``agency_problem``). Raises ``AccountError`` for a taken email, an unknown
    role, an agency without its role (or the role without one) or a weak password.
    Commits."""
    email = normalise_email(email)
    wanted = sorted(set(roles))
    if unknown_roles(wanted) or not wanted:
        raise AccountError(f"roles must be among {', '.join(ROLES)}")
    if agency_problem(wanted, agency_id):
        raise AccountError(AGENCY_ONLY)
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
        agency_id=agency_id,
    )
    db.add(member)
    db.commit()
    return member


def agency_problem(roles: Iterable[str], agency_id: int | None) -> bool:
    """True when ``roles`` and ``agency_id`` do not go together: an agency's member holds
    the ``agency`` role and no other, and only an agency's member holds it."""
    wanted = set(roles)
    if agency_id is None:
        return AGENCY in wanted
    return wanted != {AGENCY}


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


def deactivate(db: Session, member: StaffMember, by: StaffMember | str, now: datetime) -> None:
    """Stop the account from signing in, and end its sessions (its cases go to others at
    the next ``haohuan cases assign``); audited. An admin cannot deactivate themselves,
    nor the last active admin be deactivated (``AccountError``). Commits."""
    set_active(db, member, False, by, now)


def set_active(
    db: Session, member: StaffMember, active: bool, by: StaffMember | str, now: datetime
) -> None:
    """Deactivate (ending the member's sessions) or reactivate an account; audited as
    ``staff.deactivate`` or ``staff.reactivate``. Refused (``AccountError``): an admin
    deactivating themselves, or the last active admin. Commits."""
    if member.active == active:
        return
    if not active:
        if isinstance(by, StaffMember) and by.id == member.id:
            raise AccountError(SELF_DEACTIVATE)
        _keep_an_admin(db, member)
        member.session_generation += 1
    member.active = active
    trail.record(
        db, by, "staff.reactivate" if active else "staff.deactivate", now, member=member.id
    )
    db.commit()


# Why an admin's change to an account was refused (portal.wording.staff words them).
SELF_DEACTIVATE = "self_deactivate"
SELF_ADMIN = "self_admin"
LAST_ADMIN = "last_admin"
NO_ROLES = "no_roles"
EMAIL_TAKEN = "email_taken"
BAD_EMAIL = "bad_email"
LINK_INVALID = "link_invalid"
CAPACITY = "capacity"
AGENCY_ONLY = "agency_only"


def _keep_an_admin(db: Session, member: StaffMember) -> None:
    """Refuse a change that would leave no active admin: ``member`` is losing the role or
    the account. The admins' rows are locked, so two admins removing each other at once
    cannot both succeed."""
    if "admin" not in member.role_set or not member.active:
        return
    admins = db.scalars(
        select(StaffMember)
        .where(StaffMember.active, StaffMember.roles.like("%admin%"))
        .order_by(StaffMember.id)
        .with_for_update()
    ).all()
    others = [m for m in admins if m.id != member.id and "admin" in m.role_set]
    if not others:
        raise AccountError(LAST_ADMIN)


def set_roles(
    db: Session, member: StaffMember, roles: Iterable[str], by: StaffMember | str, now: datetime
) -> None:
    """Give the member exactly ``roles`` (at least one; pages ask for theirs at each
    request, so the change holds at once); audited with before and after. Refused: an
    admin removing their own admin role, or the last active admin losing it. Commits."""
    wanted = sorted(set(roles))
    if not wanted or unknown_roles(wanted):
        raise AccountError(NO_ROLES)
    if agency_problem(wanted, member.agency_id):
        raise AccountError(AGENCY_ONLY)
    before = member.roles
    if "admin" in member.role_set and "admin" not in wanted:
        if isinstance(by, StaffMember) and by.id == member.id:
            raise AccountError(SELF_ADMIN)
        _keep_an_admin(db, member)
    after = ",".join(wanted)
    if after == before:
        return
    member.roles = after
    trail.record(db, by, "staff.roles", now, member=member.id, before=before, after=after)
    db.commit()


def set_team(
    db: Session, member: StaffMember, team_id: int | None, by: StaffMember | str, now: datetime
) -> None:
    """Put the member in a team (None: in none); audited. Commits."""
    if member.team_id == team_id:
        return
    before = member.team_id
    member.team_id = team_id
    trail.record(db, by, "staff.team", now, member=member.id, before=before, after=team_id)
    db.commit()


def reset_totp(db: Session, member: StaffMember, by: StaffMember | str, now: datetime) -> None:
    """Forget the member's one-time-code secret and end their sessions: at their next
    sign-in, after the password, they enrol a new one. Audited. Commits."""
    member.totp_secret = None
    member.totp_last_step = None
    member.totp_pending_secret = None
    member.totp_required = True
    member.session_generation += 1
    trail.record(db, by, "staff.totp_reset", now, member=member.id)
    db.commit()


# New members from the admin console: a one-time set-up link -----------------------------

SET_UP_LIFETIME = timedelta(hours=24)


def invite_member(
    db: Session,
    email: str,
    name: str | None,
    roles: Iterable[str],
    team_id: int | None,
    by: StaffMember | str,
    now: datetime,
) -> tuple[StaffMember, str]:
    """Create an account nobody knows the password of (a random one, hashed and thrown
    away), which must enrol a one-time code, and its set-up link: returns the member and
    the link's token, shown once to the admin who hands it over. Audited
    (``staff.create``, ``staff.set_up_link``). Commits once."""
    email = normalise_email(email)
    wanted = sorted(set(roles))
    if not wanted or unknown_roles(wanted):
        raise AccountError(NO_ROLES)
    if agency_problem(wanted, None):
        # An agency's member is made from the command line, with their agency.
        raise AccountError(AGENCY_ONLY)
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise AccountError(BAD_EMAIL)
    if find_member(db, email) is not None:
        raise AccountError(EMAIL_TAKEN)
    if name is None or not name.strip():
        name = email.split("@", 1)[0]
    member = StaffMember(
        email=email,
        name=name.strip()[:120],
        password_hash=hash_password(secrets.token_urlsafe(32)),
        roles=",".join(wanted),
        active=True,
        created_at=now,
        team_id=team_id,
        totp_required=True,
    )
    db.add(member)
    db.flush()
    trail.record(db, by, "staff.create", now, member=member.id, roles=member.roles, team=team_id)
    token = _new_link(db, member, by, now)
    db.commit()
    return member, token


def issue_set_up_link(
    db: Session, member: StaffMember, by: StaffMember | str, now: datetime
) -> str:
    """A new set-up link for the member (a lost or expired one): older links stop
    working. Returns the token, shown once. Audited. Commits."""
    token = _new_link(db, member, by, now)
    db.commit()
    return token


def _new_link(db: Session, member: StaffMember, by: StaffMember | str, now: datetime) -> str:
    for older in db.scalars(
        select(StaffSetUpLink).where(
            StaffSetUpLink.staff_id == member.id,
            StaffSetUpLink.used_at.is_(None),
            StaffSetUpLink.revoked_at.is_(None),
        )
    ):
        older.revoked_at = now
    token = new_token()
    link = StaffSetUpLink(
        staff_id=member.id,
        token_hash=token_hash(token),
        created_by=by.email if isinstance(by, StaffMember) else str(by),
        created_at=now,
        expires_at=now + SET_UP_LIFETIME,
    )
    db.add(link)
    db.flush()
    trail.record(
        db,
        by,
        "staff.set_up_link",
        now,
        member=member.id,
        link=link.id,
        expires=str(link.expires_at),
    )
    return token


def open_set_up_link(db: Session, token: str, now: datetime) -> StaffSetUpLink | None:
    """The set-up link of ``token`` while it may still be used (unused, not revoked, not
    expired, its member active), else None. Reads only."""
    if not token or len(token) > 128:
        return None
    link = db.scalars(
        select(StaffSetUpLink).where(StaffSetUpLink.token_hash == token_hash(token))
    ).first()
    if link is None or link.used_at is not None or link.revoked_at is not None:
        return None
    if as_utc(link.expires_at) <= now:
        return None
    member = db.get(StaffMember, link.staff_id)
    if member is None or not member.active:
        return None
    return link


def complete_set_up(db: Session, token: str, password: str, now: datetime) -> StaffMember:
    """The new member sets their password through the link, which is then spent; their
    one-time code is enrolled next (``enrolment_secret``, ``confirm_enrolment``). Raises
    ``AccountError(LINK_INVALID)`` for a link that cannot be used (a second use too: the
    link's row is locked) and ``WeakPasswordError``. Audited. Commits."""
    link = open_set_up_link(db, token, now)
    if link is None:
        raise AccountError(LINK_INVALID)
    lock_row(db, StaffSetUpLink, link.id)
    db.refresh(link)
    if link.used_at is not None or link.revoked_at is not None:
        db.rollback()
        raise AccountError(LINK_INVALID)
    member = db.get(StaffMember, link.staff_id)
    if member is None:
        raise AccountError(LINK_INVALID)
    try:
        member.password_hash = _checked_password(password)
    except WeakPasswordError:
        db.rollback()
        raise
    link.used_at = now
    member.session_generation += 1
    trail.record(db, member, "staff.set_up", now, link=link.id)
    db.commit()
    return member


def enrolment_secret(db: Session, member: StaffMember) -> str:
    """The one-time-code secret the member is enrolling (made once, kept until its first
    code is confirmed, so a reload shows the same one). Commits when it is new."""
    if member.totp_pending_secret is None:
        member.totp_pending_secret = totp.new_secret()
        db.commit()
    return member.totp_pending_secret


def confirm_enrolment(
    db: Session, member_id: int, generation: int, code: str, address: str, now: datetime
) -> SignInResult:
    """The enrolment step of a sign-in (or of the set-up): the first code from the new
    secret, within the sign-in limits, recorded as an attempt. On success the secret is
    the account's (audited) and the member is signed in. Commits."""
    return _code_step(db, member_id, generation, code, address, now, enrolling=True)


def enable_totp(db: Session, member: StaffMember) -> str:
    """Give the account a new one-time-code secret (replacing any earlier one) and end its
    sessions, so every session from now on has passed the code. Returns the secret.
    Commits."""
    secret = totp.new_secret()
    member.totp_secret = secret
    member.totp_last_step = None
    member.totp_pending_secret = None
    member.session_generation += 1
    db.commit()
    return secret


def disable_totp(db: Session, member: StaffMember) -> None:
    """Stop asking the account for a one-time code (nor to enrol one). Commits."""
    member.totp_secret = None
    member.totp_last_step = None
    member.totp_pending_secret = None
    member.totp_required = False
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
    if succeeded and member is not None and member.totp_required:
        # A code is required and none is enrolled yet: the enrolment step records it.
        db.commit()
        return SignInResult(SignInVerdict.NEEDS_ENROLMENT, member)
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
    return _code_step(db, member_id, generation, code, address, now, enrolling=False)


def _code_step(
    db: Session,
    member_id: int,
    generation: int,
    code: str,
    address: str,
    now: datetime,
    *,
    enrolling: bool,
) -> SignInResult:
    """A one-time code after a right password: the enrolled secret's (accepted once), or
    with ``enrolling`` the first code of the secret being enrolled, which then becomes
    the account's. Within the sign-in limits, the attempt recorded. Commits."""
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
    secret = member.totp_pending_secret if enrolling else member.totp_secret
    last = None if enrolling else member.totp_last_step
    step = None
    if member.active and secret and member.session_generation == generation:
        step = totp.matching_step(secret, code, now, last)
    succeeded = step is not None
    db.add(
        StaffSignInAttempt(email=member.email, address=hashed_address, at=now, succeeded=succeeded)
    )
    if succeeded:
        if enrolling:
            member.totp_secret = secret
            member.totp_pending_secret = None
            trail.record(db, member, "staff.totp_enrol", now)
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
