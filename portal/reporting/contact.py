"""Contact: the attempts made on the period's cases and the right-party contacts they
reached, the contacts the contact gate refused (by reason), and the opt-outs.

Definitions (``docs/reporting.md``, "Contact"):

- **Attempts**: the contact log's outbound rows (``ContactAttempt``, not ``inbound``)
  dated in the period (days of the finance timezone, both included), by channel: calls
  made, and messages and letters sent.
- **Right-party contacts**: the log's rows where the borrower themselves was reached
  (``connected``: a call the borrower answered), whoever called; **inbound**: the calls
  the borrower made to us, counted apart.
- **Per case**: over the cases with any row in the log in the period (attempted or
  called in), as exact fractions.
- **Refusals**: each contact the gate refused in the period, as the audit log records it:
  a call (``call.refused``), a letter (``letter.refused``), a message asked for alone or
  in a batch (``message.refused``), and a scheduled message canceled at sending time
  (``message.cancel``). One refused contact of one case is one refusal; it counts under
  each of the gate's reasons it gave (``negotiation.contact.ContactRefusal``), so the
  reasons may add up to more than the refusals. Reasons that are not the gate's (no
  address, a stale message, the letter rules) are left out, and so is a refusal that
  gave only those. The contact strategy's skipped steps are its own report
  (``portal.strategy.reporting``), not counted here.
- **Opt-outs**: the opt-outs recorded in the period (``OptOut.at``), by channel, of
  borrowers with a case in the slice.

Reads only: a statement for the attempts, one for the cases, one for the refusals (and
one per 10,000 refused cases to slice them), one for the opt-outs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation.contact import ContactRefusal
from portal.finance.reports import day_bounds
from portal.models import AuditEntry, Case, ContactAttempt, Loan, OptOut
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.slices import WHOLE_BOOK, narrowed, share, slice_cases

# The audit actions that record a contact the gate refused.
REFUSED_ACTIONS = ("call.refused", "letter.refused", "message.refused", "message.cancel")
REASONS = tuple(reason.value for reason in ContactRefusal)
CHANNELS = ("call", "sms", "email", "letter")
# Case ids sliced per statement.
CHUNK = 10_000


@dataclass(frozen=True)
class Contact:
    """The period's contact (see the module's docstring)."""

    first: date
    last: date
    chosen: Slice
    attempts_by_channel: Mapping[str, int]
    right_party_contacts: int
    inbound: int
    cases: int
    refusals: int
    refusals_by_reason: Mapping[str, int]
    opt_outs_by_channel: Mapping[str, int]

    @property
    def attempts(self) -> int:
        """Every outbound attempt."""
        return sum(self.attempts_by_channel.values())

    @property
    def attempts_per_case(self) -> Fraction | None:
        """Attempts over the cases in the log."""
        return share(self.attempts, self.cases)

    @property
    def right_party_contacts_per_case(self) -> Fraction | None:
        """Right-party contacts over the cases in the log."""
        return share(self.right_party_contacts, self.cases)

    @property
    def opt_outs(self) -> int:
        """Every opt-out recorded."""
        return sum(self.opt_outs_by_channel.values())

    def as_json(self) -> dict[str, object]:
        """``contact``: attempts (and by channel), right-party contacts, inbound calls,
        cases, the two per-case fractions (``"n/d"``), refusals (and by reason: every
        reason, zeros included) and opt-outs (and by channel)."""
        return {
            "contact": {
                "attempts": self.attempts,
                "attempts_by_channel": dict(self.attempts_by_channel),
                "right_party_contacts": self.right_party_contacts,
                "inbound": self.inbound,
                "cases": self.cases,
                "attempts_per_case": share_text(self.attempts_per_case),
                "right_party_contacts_per_case": share_text(self.right_party_contacts_per_case),
                "refusals": self.refusals,
                "refusals_by_reason": dict(self.refusals_by_reason),
                "opt_outs": self.opt_outs,
                "opt_outs_by_channel": dict(self.opt_outs_by_channel),
            }
        }


def contact(
    db: Session, first: date, last: date, zone: ZoneInfo, chosen: Slice = WHOLE_BOOK
) -> Contact:
    """The contact from ``first`` to ``last`` (days in ``zone``, both included) with the
    cases of the slice ``chosen`` (see the module's docstring)."""
    start, end = day_bounds(first, last, zone)
    in_period = (ContactAttempt.at >= start, ContactAttempt.at < end)
    attempts = dict.fromkeys(CHANNELS, 0)
    right_party = inbound = 0
    rows = db.execute(
        narrowed(
            select(
                ContactAttempt.channel,
                ContactAttempt.inbound,
                ContactAttempt.connected,
                func.count(),
            ),
            ContactAttempt.case_id,
            chosen,
        )
        .where(*in_period)
        .group_by(ContactAttempt.channel, ContactAttempt.inbound, ContactAttempt.connected)
    )
    for channel, called_in, connected, number in rows:
        if called_in:
            inbound += number
        else:
            attempts[channel] = attempts.get(channel, 0) + number
        if connected:
            right_party += number
    cases = db.scalar(
        narrowed(
            select(func.count(func.distinct(ContactAttempt.case_id))),
            ContactAttempt.case_id,
            chosen,
        ).where(*in_period)
    )
    refused = _refusals(db, start, end, chosen)
    return Contact(
        first,
        last,
        chosen,
        MappingProxyType(attempts),
        right_party,
        inbound,
        int(cases or 0),
        len(refused),
        MappingProxyType(_by_reason(refused)),
        MappingProxyType(_opt_outs(db, start, end, chosen)),
    )


def _refusals(
    db: Session, start: datetime, end: datetime, chosen: Slice
) -> list[tuple[int, tuple[str, ...]]]:
    """Each refused contact in the period: its case and the gate's reasons."""
    found: list[tuple[int | None, tuple[str, ...]]] = []
    entries = db.execute(
        select(AuditEntry.case_id, AuditEntry.details).where(
            AuditEntry.action.in_(REFUSED_ACTIONS), AuditEntry.at >= start, AuditEntry.at < end
        )
    )
    for case_id, details in entries:
        found.extend(_refused_in(case_id, details or {}))
    gate = [(case_id, reasons) for case_id, reasons in found if case_id is not None and reasons]
    if chosen == WHOLE_BOOK:
        return gate
    kept = _in_slice(db, {case_id for case_id, _ in gate}, chosen)
    return [(case_id, reasons) for case_id, reasons in gate if case_id in kept]


def _refused_in(
    case_id: int | None, details: Mapping[str, Any]
) -> Iterable[tuple[int | None, tuple[str, ...]]]:
    """The refused contacts one audit entry records: its own case's (``reasons``), or a
    batch's (``refused``: each reason with its cases), each with the gate's reasons only."""
    if "refused" in details and case_id is None:
        for reason, case_ids in dict(details["refused"]).items():
            for refused_case in case_ids:
                yield int(refused_case), _gate_reasons([reason])
        return
    yield case_id, _gate_reasons(details.get("reasons") or ())


def _gate_reasons(reasons: Iterable[object]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(r) for r in reasons if str(r) in REASONS))


def _in_slice(db: Session, case_ids: set[int], chosen: Slice) -> set[int]:
    ordered = sorted(case_ids)
    kept: set[int] = set()
    for at in range(0, len(ordered), CHUNK):
        chunk = ordered[at : at + CHUNK]
        kept.update(db.scalars(slice_cases(chosen).where(Case.id.in_(chunk))))
    return kept


def _by_reason(refused: list[tuple[int, tuple[str, ...]]]) -> dict[str, int]:
    counted = Counter(reason for _, reasons in refused for reason in reasons)
    return {reason: counted[reason] for reason in REASONS}


def _opt_outs(db: Session, start: datetime, end: datetime, chosen: Slice) -> dict[str, int]:
    query = select(OptOut.channel, func.count()).where(OptOut.at >= start, OptOut.at < end)
    if chosen != WHOLE_BOOK:
        query = query.where(
            slice_cases(chosen).where(Loan.borrower_id == OptOut.borrower_id).exists()
        )
    counted = dict.fromkeys(CHANNELS, 0)
    for channel, number in db.execute(query.group_by(OptOut.channel)):
        counted[channel] = counted.get(channel, 0) + number
    return counted
