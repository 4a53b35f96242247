"""Chargebacks worked from the finance console: the disputes, open first by the date
their evidence is due; one dispute's file, with the evidence the system assembles from
what it holds (the borrower's consent to the plan, the plan and its schedule, the
messages sent to the borrower, the case's payments); and that evidence, as finance
reviewed and edited it, submitted through the payment gateway.

The dispute's rows are kept current from the gateway's events
(``portal.payments.disputes``); a decision (won, lost) moves the ledger there, through
the path every dispute event takes. What is here only reads, and ``submit`` writes the
evidence sent, its time and sender, and the audit entry, and commits once.

The evidence is written in English on purpose: it is read by the card network and the
issuing bank, not by the borrower or by finance's own pages (which are translated).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case as when
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.core.clock import as_utc
from portal.core.currency import to_major
from portal.core.db import by_id, lock_row
from portal.models import (
    ANSWERABLE_DISPUTE_STATUSES,
    Case,
    Consent,
    Dispute,
    DisputeStatus,
    Message,
    MessageStatus,
    Payment,
    PaymentStatus,
    Plan,
    StaffMember,
)
from portal.payments.gateway import DisputeRefusedError, Gateway, GatewayUnavailableError

# Stripe's evidence fields the system fills, in the order finance reviews them
# (https://docs.stripe.com/api/disputes/update#update_dispute-evidence). All are text:
# ``customer_communication`` is a file upload at Stripe, so the messages sent go in
# ``uncategorized_text`` with the plan and the payments.
EVIDENCE_FIELDS = (
    "customer_name",
    "customer_email_address",
    "customer_purchase_ip",
    "service_date",
    "product_description",
    "access_activity_log",
    "uncategorized_text",
)
# Stripe takes at most 150,000 characters of text evidence in all: each field is kept
# well under a seventh of it.
LONGEST_FIELD = 20_000
# The fields Stripe limits to one short line.
SHORT_FIELDS = ("customer_name", "customer_email_address", "customer_purchase_ip", "service_date")
LONGEST_SHORT_FIELD = 500
MESSAGES_LISTED = 50
PAYMENTS_LISTED = 50


class Refusal(StrEnum):
    """Why evidence was not submitted (the page words each)."""

    CLOSED = "closed"  # decided, or no longer waiting for evidence
    SUBMITTED = "submitted"  # evidence was submitted already: only once
    PAST_DUE = "past_due"  # after the date evidence was due
    REFUSED = "refused"  # the gateway refused it
    UNAVAILABLE = "unavailable"  # the gateway could not be reached: try again


class EvidenceRefusedError(Exception):
    """Evidence not submitted, for ``reason``; nothing was written."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class DisputeLine:
    """One dispute in the list: the row, and whose payment it is (None when the
    gateway's payment is not one of ours)."""

    dispute: Dispute
    case_id: int | None
    borrower: str | None


@dataclass(frozen=True)
class DisputeFile:
    """One dispute and everything its evidence is made from."""

    dispute: Dispute
    payment: Payment | None
    case: Case | None
    plan: Plan | None
    consent: Consent | None
    messages: list[Message]
    payments: list[Payment]

    @property
    def evidence(self) -> dict[str, str]:
        """The evidence as submitted, or as the system assembles it until then."""
        return dict(self.dispute.evidence or assemble(self))


def dispute_list(db: Session) -> list[DisputeLine]:
    """Every dispute: those still waiting for evidence first, soonest due first, then
    those under review, then the decided ones, latest first."""
    waiting = Dispute.status.in_(ANSWERABLE_DISPUTE_STATUSES) & Dispute.evidence_submitted_at.is_(
        None
    )
    rank = when((waiting, 0), (Dispute.closed_at.is_(None), 1), else_=2)
    found = db.execute(
        select(Dispute, Payment.case_id)
        .outerjoin(Payment, Payment.id == Dispute.payment_id)
        .order_by(
            rank,
            Dispute.evidence_due_by.is_(None),
            Dispute.evidence_due_by,
            Dispute.closed_at.desc(),
            Dispute.id.desc(),
        )
    ).all()
    cases = {c.id: c for c in _cases(db, {case_id for _, case_id in found if case_id})}
    return [
        DisputeLine(d, case_id, cases[case_id].loan.borrower.full_name if case_id else None)
        for d, case_id in found
    ]


def _cases(db: Session, ids: set[int]) -> list[Case]:
    return list(db.scalars(select(Case).where(Case.id.in_(ids)))) if ids else []


def dispute_file(db: Session, dispute_id: int) -> DisputeFile | None:
    """One dispute with its payment, case, plan, consent, messages and payments; None
    for an id there is no dispute with."""
    dispute = by_id(db, Dispute, dispute_id)
    if dispute is None:
        return None
    payment = db.get(Payment, dispute.payment_id) if dispute.payment_id else None
    if payment is None:
        return DisputeFile(dispute, None, None, None, None, [], [])
    case = db.get(Case, payment.case_id)
    assert case is not None  # a payment always belongs to a case  # noqa: S101
    plan = _plan_of(db, payment)
    consent = (
        db.scalars(select(Consent).where(Consent.plan_id == plan.id)).first() if plan else None
    )
    messages = db.scalars(
        select(Message)
        .where(Message.case_id == case.id, Message.status == MessageStatus.SENT)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(MESSAGES_LISTED)
    ).all()
    payments = db.scalars(
        select(Payment)
        .where(Payment.case_id == case.id, Payment.status == PaymentStatus.SUCCEEDED)
        .order_by(Payment.confirmed_at.desc(), Payment.id.desc())
        .limit(PAYMENTS_LISTED)
    ).all()
    return DisputeFile(dispute, payment, case, plan, consent, list(messages), list(payments))


def _plan_of(db: Session, payment: Payment) -> Plan | None:
    """The plan the payment's money counted for, or else the last plan the borrower
    accepted before paying."""
    if payment.plan_id is not None:
        return db.get(Plan, payment.plan_id)
    return db.scalars(
        select(Plan)
        .where(Plan.case_id == payment.case_id, Plan.accepted_at <= payment.created_at)
        .order_by(Plan.accepted_at.desc(), Plan.id.desc())
    ).first()


def assemble(found: DisputeFile) -> dict[str, str]:
    """Stripe's evidence fields, as text, from what the system holds of the dispute."""
    payment, case, plan, consent = found.payment, found.case, found.plan, found.consent
    if payment is None or case is None:
        return dict.fromkeys(EVIDENCE_FIELDS, "")
    loan = case.loan
    borrower = loan.borrower
    paid_on = as_utc(payment.confirmed_at or payment.created_at)
    description = (
        f"Repayment of {_amount(payment.amount, payment.currency)} toward installment loan "
        f"{loan.number} ({loan.product}), owed by the cardholder and paid online by them"
    )
    if plan is not None:
        description += (
            f", under a repayment plan ({plan.kind}, {len(plan.installments)} installments, "
            f"{_amount(plan.total, plan.currency)} in all) that they accepted on "
            f"{_day(plan.accepted_at)}"
        )
    evidence = {
        "customer_name": borrower.full_name,
        "customer_email_address": borrower.email or "",
        "customer_purchase_ip": consent.ip_address if consent else "",
        "service_date": paid_on.date().isoformat(),
        "product_description": description + ".",
        "access_activity_log": _consent_text(consent),
        "uncategorized_text": "\n\n".join(
            (_plan_text(plan), _payments_text(found.payments), _messages_text(found.messages))
        ),
    }
    return fitted(evidence)


def fitted(evidence: dict[str, str]) -> dict[str, str]:
    """Only the known fields, each within what Stripe takes."""
    return {
        name: (evidence.get(name) or "").strip()[
            : LONGEST_SHORT_FIELD if name in SHORT_FIELDS else LONGEST_FIELD
        ]
        for name in EVIDENCE_FIELDS
    }


def _amount(amount: int, currency: str) -> str:
    return f"{currency} {to_major(amount, currency):,}"


def _day(moment: datetime) -> str:
    return as_utc(moment).date().isoformat()


def _time(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _consent_text(consent: Consent | None) -> str:
    if consent is None:
        return "No plan consent is on record for this payment."
    return "\n".join(
        (
            "The cardholder accepted the repayment plan online, after verifying their "
            "identity through a personal link, by ticking an explicit consent box:",
            f"- accepted at: {_time(consent.at)}",
            f"- from IP address: {consent.ip_address}",
            f"- browser: {consent.user_agent}",
            f"- language shown: {consent.locale}",
            f"- terms version: {consent.terms_version}",
            f"- SHA-256 of the terms and schedule shown: {consent.shown_hash}",
        )
    )


def _plan_text(plan: Plan | None) -> str:
    if plan is None:
        return "Repayment plan: none (a payment toward the overdue loan)."
    lines = [
        f"Repayment plan {plan.id} ({plan.kind}), accepted {_time(plan.accepted_at)}, "
        f"status {plan.status}, {_amount(plan.total, plan.currency)} in all. Schedule:"
    ]
    lines += [
        f"- {i.sequence}. due {i.due_date.isoformat()}: {_amount(i.amount, plan.currency)}, "
        f"paid {_amount(i.paid, plan.currency)}"
        for i in plan.installments
    ]
    return "\n".join(lines)


def _payments_text(payments: list[Payment]) -> str:
    lines = ["Payments received from the cardholder on this loan:"]
    lines += [
        f"- {_time(p.confirmed_at)}: {_amount(p.amount, p.currency)} ({p.purpose}, "
        f"reference {p.gateway_reference or p.id})"
        for p in payments
    ] or ["- none"]
    return "\n".join(lines)


def _messages_text(messages: list[Message]) -> str:
    lines = ["Messages sent to the cardholder about this loan:"]
    lines += [
        f"- {_time(m.sent_at)}: {m.channel} to {m.address or '-'} ({m.purpose})"
        + (f', "{m.subject}"' if m.subject else "")
        for m in messages
    ] or ["- none"]
    return "\n".join(lines)


def submit(
    db: Session,
    gateway: Gateway,
    dispute_id: int,
    evidence: dict[str, str],
    staff: StaffMember,
    now: datetime,
) -> Dispute:
    """Submit ``evidence`` (as finance reviewed it) for the dispute through ``gateway``:
    once, before its due date, while it waits for evidence. Records what was sent, when
    and by whom, and the audit entry; commits. Raises ``EvidenceRefusedError`` (having
    written nothing) when it cannot be submitted."""
    lock_row(db, Dispute, dispute_id)
    dispute = db.get(Dispute, dispute_id)
    assert dispute is not None  # the caller found it  # noqa: S101
    try:
        _check(dispute, now)
        sent = fitted(evidence)
        # The same evidence again (a double click) is the same request to the gateway.
        digest = hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest()[:24]
        key = f"haohuan-dispute-{dispute.reference}-{digest}"
        status = gateway.submit_dispute_evidence(dispute.reference, sent, key)
    except DisputeRefusedError:
        db.rollback()
        raise EvidenceRefusedError(Refusal.REFUSED) from None
    except GatewayUnavailableError:
        db.rollback()
        raise EvidenceRefusedError(Refusal.UNAVAILABLE) from None
    except EvidenceRefusedError:
        db.rollback()
        raise
    dispute.evidence = sent
    dispute.evidence_submitted_at = now
    dispute.evidence_submitted_by = staff.email
    if status in ("under_review", "warning_under_review"):
        # The gateway's answer moves the row on; its event confirms it later.
        dispute.status = DisputeStatus(status)
    payment = db.get(Payment, dispute.payment_id) if dispute.payment_id else None
    trail.record(
        db,
        staff,
        "finance.dispute.submit",
        now,
        case_id=payment.case_id if payment else None,
        dispute_id=dispute.id,
        dispute=dispute.reference,
        payment_id=dispute.payment_id,
        fields=sorted(k for k, v in sent.items() if v),
    )
    db.commit()
    return dispute


def _check(dispute: Dispute, now: datetime) -> None:
    if dispute.evidence_submitted_at is not None:
        raise EvidenceRefusedError(Refusal.SUBMITTED)
    if dispute.status not in ANSWERABLE_DISPUTE_STATUSES:
        raise EvidenceRefusedError(Refusal.CLOSED)
    if dispute.evidence_due_by is not None and now > as_utc(dispute.evidence_due_by):
        raise EvidenceRefusedError(Refusal.PAST_DUE)
