"""The policy's versions in words: why a change was refused, what a parser error means,
and the names of the keys admins change most (the raw key is always shown beside them)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from portal.models import PolicyVersionStatus
from portal.policy.versions import PolicyChangeError, Refusal

REFUSALS = {
    Refusal.INVALID: _l("The policy file is not valid."),
    Refusal.TOO_LONG: _l("The text is too long."),
    Refusal.NO_REASON: _l("Say why the policy should change."),
    Refusal.NO_NOTE: _l("Say why the proposal is rejected."),
    Refusal.NO_CHANGE: _l("This file changes nothing in the policy in force."),
    Refusal.OPEN_PROPOSAL: _l(
        "Another proposal is waiting for a second admin: approve or reject it first."
    ),
    Refusal.NOT_PROPOSED: _l("This version is no longer waiting for a decision."),
    Refusal.SAME_PERSON: _l("You made this proposal: a different admin must approve or reject it."),
    Refusal.STALE: _l(
        "The policy in force changed after this proposal was made: reject it and propose it again."
    ),
    Refusal.NOT_ADMIN: _l("Only an active admin may change the policy."),
    Refusal.NO_SUCH_VERSION: _l("There is no such policy version."),
}

HISTORY_LINK = _l("All policy versions")

STATUS_NAMES = {
    PolicyVersionStatus.PROPOSED: _l("Waiting for a second admin"),
    PolicyVersionStatus.ACTIVE: _l("In force"),
    PolicyVersionStatus.REJECTED: _l("Rejected"),
    PolicyVersionStatus.SUPERSEDED: _l("Superseded"),
}

# The last part of a key, for the keys admins change most.
KEY_NAMES = {
    "plan_kinds": _l("Kinds of plan"),
    "frequencies": _l("Payment frequencies"),
    "max_installments": _l("Maximum payments, arrears plan"),
    "max_restructure_installments": _l("Maximum payments, restructure"),
    "max_days_to_first_payment": _l("First payment within (days)"),
    "minimum_down_payment_pct": _l("Minimum first payment (share of the overdue amount)"),
    "max_penalty_waiver_pct": _l("Maximum penalties waived"),
    "max_fee_waiver_pct": _l("Maximum fees waived"),
    "settlement_discount_cap_pct": _l("Maximum settlement discount"),
    "min_plan_interest_rate_pct": _l("Least restructure interest rate (a year)"),
    "hardship_breathing_space_days": _l("Hardship breathing space (days)"),
    "dispute_review_days": _l("Dispute reviewed within (days)"),
    "early_from_days": _l("Early stage from (days past due)"),
    "mid_from_days": _l("Middle stage from (days past due)"),
    "late_from_days": _l("Late stage from (days past due)"),
}
TABLE_NAMES = {
    "authority.agent": _l("Agent"),
    "authority.supervisor": _l("Supervisor"),
}


def key_label(key: str) -> str | None:
    """A dotted key's name in the current language (``Agent: Maximum fees waived``), or
    None for a key without one (its raw name stands alone)."""
    table, _, leaf = key.rpartition(".")
    name = KEY_NAMES.get(leaf)
    if name is None or table not in (*TABLE_NAMES, "holds", "stages"):
        return None
    owner = TABLE_NAMES.get(table)
    return str(_l("%(who)s: %(what)s", who=owner, what=name)) if owner else str(name)


_PROBLEMS = (
    (re.compile(r"must be a table"), _l("%(key)s must be a table of keys.")),
    (
        re.compile(r"must be a whole number from (?P<low>\d+) to (?P<high>\d+)"),
        _l("%(key)s must be a whole number from %(low)s to %(high)s."),
    ),
    (
        re.compile(r"must be a percentage from 0 to 100"),
        _l("%(key)s must be a percentage from 0 to 100."),
    ),
    (re.compile(r"must be true or false"), _l("%(key)s must be true or false.")),
    (
        re.compile(r"must be a non-empty list of: (?P<allowed>.+)"),
        _l("%(key)s must be a list of one or more of: %(allowed)s."),
    ),
    (re.compile(r"is not a key of the policy"), _l("%(key)s is not a key of the policy.")),
)


def parser_error(detail: str) -> str:
    """The parser's message (``key: problem``) in the current language, naming the key;
    a problem without its own wording keeps the parser's English after the key."""
    key, _, problem = detail.partition(": ")
    if key == "toml":
        return str(_l("The text is not valid TOML: %(problem)s", problem=problem))
    for pattern, wording in _PROBLEMS:
        found = pattern.search(problem)
        if found:
            return str(wording % {"key": key, **found.groupdict()})
    return str(_l("%(key)s is not valid: %(problem)s", key=key, problem=problem))


def refusal_text(error: PolicyChangeError) -> str:
    """Why a change was refused, in the current language; a parse error names its key."""
    if error.refusal is Refusal.INVALID:
        return f"{REFUSALS[Refusal.INVALID]} {parser_error(error.detail)}"
    return str(REFUSALS[error.refusal])


# The HTTP status of each refusal: a conflict with the state of the versions (409), or
# a request that cannot be taken as it is (422).
CONFLICTS = frozenset(
    {Refusal.OPEN_PROPOSAL, Refusal.NOT_PROPOSED, Refusal.SAME_PERSON, Refusal.STALE}
)


def refusal_status(error: PolicyChangeError) -> int:
    """409 or 422 (404 for a version that does not exist)."""
    if error.refusal is Refusal.NO_SUCH_VERSION:
        return 404
    return 409 if error.refusal in CONFLICTS else 422
