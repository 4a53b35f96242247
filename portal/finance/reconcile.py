"""Reconciliation: Stripe's balance history and payouts against our payments.

A run reads every balance transaction created in ``[since, until)`` and the payouts
created then, matches each charge to our payment by its PaymentIntent, checks refunds
against what we recorded, looks for our succeeded payments Stripe has no money for, and
checks that each automatic payout's transactions sum to the payout. It stores one
``ReconciliationRun`` with a ``ReconciliationItem`` per line and commits once. A run that
could not read Stripe is stored as failed, with no items: never half a report; its
``error`` is a ``RunError`` code, never the exception's text.

Each line's note is a ``Note`` code and its values (amounts in minor units with their
currency, Stripe's codes), worded in the reader's language only when shown
(``portal.wording.finance.note_sentence``).

Money is integer minor units throughout.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.core import settings as app_settings
from portal.core.csv_export import csv_lines
from portal.core.currency import to_major
from portal.finance import closing, exceptions, payouts
from portal.finance.sandbox_reader import SandboxStripe
from portal.models import (
    Dispute,
    Payment,
    PaymentStatus,
    ReconciliationItem,
    ReconciliationRun,
    RunStatus,
    StaffMember,
)
from portal.payments import stripe_gateway
from portal.payments.stripe_gateway import (
    PAGE_SIZE,
    BalanceLine,
    ChargeState,
    PayoutLine,
    StripeSettings,
)
from portal.wording.finance import note_sentence, run_error_sentence

if TYPE_CHECKING:
    import stripe
else:
    from portal.payments import stripe_sdk as stripe

log = logging.getLogger(__name__)

MATCHED = "matched"
MISSING_HERE = "missing_here"
MISSING_AT_STRIPE = "missing_at_stripe"
AMOUNT_MISMATCH = "amount_mismatch"
OUTSIDE_WINDOW = "outside_window"
PAYOUT_OK = "payout_ok"
PAYOUT_MISMATCH = "payout_mismatch"
PAYOUT_UNCHECKED = "payout_unchecked"
# The kinds that need a person: what ReconciliationRun.unmatched counts.
UNMATCHED_KINDS = (MISSING_HERE, MISSING_AT_STRIPE, AMOUNT_MISMATCH, PAYOUT_MISMATCH)

# Stripe's balance transaction types for money in from a payment, and back out of one.
CHARGE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
# Payout transactions are checked through the payouts themselves.
PAYOUT_TYPES = frozenset({"payout", "payout_cancel", "payout_failure"})


class Note(StrEnum):
    """What a line's note says; its values are stored beside it (``note_values``)."""

    UNMATCHED_TYPE = "unmatched_type"  # values: type: Stripe's balance transaction type
    NO_PAYMENT = "no_payment"
    SECOND_CHARGE = "second_charge"
    NOT_SUCCEEDED = "not_succeeded"  # values: status: our payment's status
    STRIPE_CHARGED = "stripe_charged"  # values: amount, currency: what Stripe charged
    REFUND_OF_NOTHING = "refund_of_nothing"
    REFUNDED_IN_ALL = "refunded_in_all"  # values: amount, currency
    REFUNDS_DIFFER = "refunds_differ"  # values: stripe, ours, currency
    NO_CHARGE_AT_STRIPE = "no_charge_at_stripe"
    RECORDED_AT = "recorded_at"  # values: at: an ISO 8601 UTC time
    NOT_IN_HISTORY = "not_in_history"
    MANUAL_PAYOUT = "manual_payout"
    PAYOUT_NOT_PAID = "payout_not_paid"  # values: status: failed or canceled
    PAYOUT_SUM = "payout_sum"  # values: count, net, currency
    # A chargeback's money at Stripe, matched to our dispute: values: dispute (Stripe's
    # id), status (ours of it); taken back (the amount negative) or returned when won.
    DISPUTE_TAKEN = "dispute_taken"
    DISPUTE_RETURNED = "dispute_returned"


class RunError(StrEnum):
    """Why a run could not read Stripe: what ``ReconciliationRun.error`` holds."""

    UNREACHABLE = "unreachable"  # no connection, or no answer in time
    REFUSED = "refused"  # our key was refused or lacks the permission
    BUSY = "busy"  # Stripe asked us to slow down
    FAILED = "stripe_error"  # any other error Stripe answered with


def run_error(error: stripe.StripeError) -> RunError:
    """The code of a Stripe error: the exception's text is never stored or shown."""
    if isinstance(error, stripe.APIConnectionError):
        return RunError.UNREACHABLE
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return RunError.REFUSED
    if isinstance(error, stripe.RateLimitError):
        return RunError.BUSY
    return RunError.FAILED


def configured(settings: StripeSettings) -> bool:
    """True when Stripe is set up to be read (a secret key)."""
    return bool(settings.secret_key)


def available(settings: StripeSettings) -> bool:
    """True when there is something to reconcile with: Stripe set up, or the sandbox
    gateway, whose own books stand in for Stripe's (``SandboxStripe``)."""
    return configured(settings) or app_settings.current().payment_gateway == "sandbox"


# SQLite takes at most 999 bound parameters in older builds: look payments up in chunks.
LOOKUP_CHUNK = 500


class StripeReader(Protocol):
    """What reconciliation reads from Stripe (a fake in tests, Stripe itself in use)."""

    def balance_lines(self, since: datetime, until: datetime) -> Iterable[BalanceLine]: ...
    def payouts(self, since: datetime, until: datetime) -> Iterable[PayoutLine]: ...
    def payout_lines(self, payout_id: str) -> Iterable[BalanceLine]: ...
    def charge(self, charge_id: str) -> ChargeState: ...
    def intent_charge(self, intent_id: str) -> ChargeState | None: ...


@dataclass(frozen=True)
class LiveStripe:
    """The reader over the configured Stripe (or localstripe)."""

    settings: StripeSettings
    page_size: int = PAGE_SIZE

    def balance_lines(self, since: datetime, until: datetime) -> Iterable[BalanceLine]:
        """The period's balance history."""
        return stripe_gateway.balance_lines(self.settings, since, until, self.page_size)

    def payouts(self, since: datetime, until: datetime) -> Iterable[PayoutLine]:
        """The period's payouts."""
        return stripe_gateway.payouts_between(self.settings, since, until, self.page_size)

    def payout_lines(self, payout_id: str) -> Iterable[BalanceLine]:
        """What an automatic payout carried."""
        return stripe_gateway.payout_lines(self.settings, payout_id, self.page_size)

    def charge(self, charge_id: str) -> ChargeState:
        """A charge as it stands now."""
        return stripe_gateway.charge_state(self.settings, charge_id)

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        """An intent's successful charge, if any."""
        return stripe_gateway.intent_charge(self.settings, intent_id)


@dataclass
class CurrencyTotals:
    """One settlement currency's money in the period, in minor units: charges (gross),
    refunds (as a positive amount), Stripe's fees, and the net of every transaction."""

    gross: int = 0
    fees: int = 0
    net: int = 0
    refunded: int = 0


def reconcile(
    db: Session,
    settings: StripeSettings,
    since: datetime,
    until: datetime,
    started_by: StaffMember | str,
    now: datetime,
    *,
    page_size: int = PAGE_SIZE,
) -> ReconciliationRun:
    """Reconcile ``[since, until)`` against the configured Stripe; store the run, audit
    it in ``started_by``'s name (a staff member, or ``"cli"``) and commit. The run's status
    is "completed", or "failed" when Stripe could not be read."""
    if configured(settings):
        reader: StripeReader = LiveStripe(settings, page_size)
        return reconcile_with(db, reader, since, until, started_by, now)
    # The sandbox demo: its own books stand in for Stripe's (``SandboxStripe``).
    return reconcile_with(db, SandboxStripe(db), since, until, started_by, now, gateway="sandbox")


def reconcile_with(
    db: Session,
    reader: StripeReader,
    since: datetime,
    until: datetime,
    started_by: StaffMember | str,
    now: datetime,
    *,
    gateway: str = "stripe",
) -> ReconciliationRun:
    """``reconcile`` over any reader of Stripe, matching our payments through
    ``gateway``. A period touching a closed month is refused
    (``closing.PeriodClosedError``) before Stripe is read: its books are locked.
    A completed run opens an exception for each line that needs a person, in the same
    transaction (``portal.finance.exceptions.track``)."""
    closing.refuse_closed(db, since, until)
    who = started_by.email if isinstance(started_by, StaffMember) else started_by
    reader = payouts.recording(reader)  # the payouts it lists are stored with the run
    run = ReconciliationRun(
        started_at=now, since=since, until=until, started_by=who, status=RunStatus.COMPLETED
    )
    try:
        items = _compare(db, reader, since, until, gateway)
    except stripe.StripeError as error:
        log.warning("reconciliation could not read Stripe: %s", type(error).__name__)
        run.status = RunStatus.FAILED
        run.error = run_error(error)
    else:
        run.items = items
        _count(run)
    db.add(run)
    db.flush()
    if run.status == RunStatus.COMPLETED:
        exceptions.track(db, run, UNMATCHED_KINDS, now)
    payouts.store_seen(db, reader, run, started_by, now)
    # The run and its record commit together: a run nobody can trace never exists.
    trail.record(
        db,
        started_by,
        "reconcile.run",
        now,
        run_id=run.id,
        since=since.isoformat(),
        until=until.isoformat(),
        status=run.status,
    )
    db.commit()
    return run


def record_export(
    db: Session, actor: StaffMember | str, run: ReconciliationRun, moment: datetime
) -> None:
    """Record that ``actor`` exported ``run``'s lines (they name payments and amounts).
    Commits: the export changes nothing else."""
    trail.record(db, actor, "reconcile.export", moment, run_id=run.id)
    db.commit()


def _compare(
    db: Session, reader: StripeReader, since: datetime, until: datetime, gateway: str
) -> list[ReconciliationItem]:
    lines = [line for line in reader.balance_lines(since, until) if line.type not in PAYOUT_TYPES]
    refunded = {
        charge: reader.charge(charge)
        for charge in {line.charge for line in lines if line.type in REFUND_TYPES}
        if charge is not None
    }
    intents = {line.payment_intent for line in lines} | {
        state.payment_intent for state in refunded.values()
    }
    payments = _payments_by_intent(db, {intent for intent in intents if intent}, gateway)
    disputes = _disputes_by_reference(db, {line.source for line in lines if _of_dispute(line)})
    seen: set[str] = set()
    items = [
        _dispute_item(line, disputes[line.source])
        if _of_dispute(line) and line.source in disputes
        else _line_item(line, payments, refunded, seen)
        for line in lines
    ]
    items.extend(_ours_not_listed(db, reader, since, until, seen, gateway))
    items.extend(_payout_items(reader, since, until))
    return items


def _line_item(
    line: BalanceLine,
    payments: dict[str, Row[Any]],
    refunded: dict[str, ChargeState],
    seen: set[str],
) -> ReconciliationItem:
    if line.type in CHARGE_TYPES:
        return _charge_item(line, payments.get(line.payment_intent or ""), seen)
    if line.type in REFUND_TYPES:
        state = refunded.get(line.charge or "")
        intent = state.payment_intent if state else line.payment_intent
        return _refund_item(line, state, payments.get(intent or ""))
    # Adjustments (disputes among them), Stripe's own fees, transfers: a person looks.
    return _item(line, MISSING_HERE, (Note.UNMATCHED_TYPE, {"type": line.type}))


def _of_dispute(line: BalanceLine) -> bool:
    """Whether the line is a dispute's adjustment: the money a chargeback took (with its
    fee) or, won, gave back (https://docs.stripe.com/disputes/how-disputes-work)."""
    return line.type == "adjustment" and (line.source or "").startswith(("dp_", "du_"))


def _disputes_by_reference(db: Session, references: set[str | None]) -> dict[str, Dispute]:
    """Our disputes by Stripe's id, for the period's dispute adjustments (a few a month)."""
    wanted = sorted(reference for reference in references if reference)
    found = db.scalars(select(Dispute).where(Dispute.reference.in_(wanted))) if wanted else ()
    return {dispute.reference: dispute for dispute in found}


def _dispute_item(line: BalanceLine, dispute: Dispute) -> ReconciliationItem:
    """A dispute's adjustment matched to our dispute: the amount it moves is the dispute's
    (taken back, or returned when won), in the dispute's currency; in another (Stripe
    converted it) only the dispute itself is matched."""
    note = Note.DISPUTE_RETURNED if line.amount > 0 else Note.DISPUTE_TAKEN
    values: dict[str, str | int] = {"dispute": dispute.reference, "status": dispute.status}
    item = _item(line, MATCHED, (note, values))
    item.payment_id = dispute.payment_id
    item.payment_intent = line.payment_intent or dispute.payment_reference
    expected = dispute.amount if line.amount > 0 else -dispute.amount
    item.our_amount = expected
    if line.currency == dispute.currency and line.amount != expected:
        item.kind = AMOUNT_MISMATCH
    return item


def _charge_item(line: BalanceLine, payment: Row[Any] | None, seen: set[str]) -> ReconciliationItem:
    if payment is None:
        return _item(line, MISSING_HERE, (Note.NO_PAYMENT, {}))
    item = _item(line, MATCHED, None, payment)
    item.our_amount = payment.amount
    if payment.gateway_reference in seen:
        item.kind = MISSING_HERE
        _note(item, Note.SECOND_CHARGE)
    elif payment.status != PaymentStatus.SUCCEEDED:
        item.kind = MISSING_HERE
        _note(item, Note.NOT_SUCCEEDED, status=str(payment.status))
    elif (line.charged, line.charged_currency) != (payment.amount, payment.currency):
        item.kind = AMOUNT_MISMATCH
        _note(
            item,
            Note.STRIPE_CHARGED,
            amount=line.charged or 0,
            currency=line.charged_currency or "",
        )
    seen.add(payment.gateway_reference)
    return item


def _refund_item(
    line: BalanceLine, state: ChargeState | None, payment: Row[Any] | None
) -> ReconciliationItem:
    if state is None or payment is None:
        return _item(line, MISSING_HERE, (Note.REFUND_OF_NOTHING, {}))
    currency = state.currency
    refunded: tuple[Note, dict[str, str | int]] = (
        Note.REFUNDED_IN_ALL,
        {"amount": state.refunded, "currency": currency},
    )
    item = _item(line, MATCHED, refunded, payment)
    # Stripe's refunds are negative amounts; ours is what we recorded refunded in all.
    item.our_amount = -payment.refunded
    if state.refunded != payment.refunded:
        item.kind = AMOUNT_MISMATCH
        _note(
            item,
            Note.REFUNDS_DIFFER,
            stripe=state.refunded,
            ours=payment.refunded,
            currency=currency,
        )
    return item


def _ours_not_listed(
    db: Session,
    reader: StripeReader,
    since: datetime,
    until: datetime,
    seen: set[str],
    gateway: str,
) -> Iterator[ReconciliationItem]:
    """Our succeeded payments confirmed in the period that the balance history did not
    show. Each intent is asked about directly: a charge Stripe dated just outside the
    period is no alarm."""
    for payment in _confirmed_between(db, since, until, gateway):
        if payment.gateway_reference in seen:
            continue
        state = reader.intent_charge(payment.gateway_reference)
        yield _unlisted_item(payment, state, since, until)


def _unlisted_item(
    payment: Row[Any], state: ChargeState | None, since: datetime, until: datetime
) -> ReconciliationItem:
    item = ReconciliationItem(
        kind=MISSING_AT_STRIPE,
        currency=payment.currency,
        payment_id=payment.id,
        payment_intent=payment.gateway_reference,
        our_amount=payment.amount,
    )
    _note(item, Note.NO_CHARGE_AT_STRIPE)
    if state is None:
        return item
    item.stripe_amount, item.occurred_at = state.amount, state.settled_at
    if (state.amount, state.currency) != (payment.amount, payment.currency):
        item.kind = AMOUNT_MISMATCH
        _note(item, Note.STRIPE_CHARGED, amount=state.amount, currency=state.currency)
    elif state.settled_at is not None and not since <= state.settled_at < until:
        item.kind = OUTSIDE_WINDOW
        _note(item, Note.RECORDED_AT, at=state.settled_at.isoformat())
    else:
        _note(item, Note.NOT_IN_HISTORY)
    return item


def _payout_items(
    reader: StripeReader, since: datetime, until: datetime
) -> Iterator[ReconciliationItem]:
    for payout in reader.payouts(since, until):
        item = ReconciliationItem(
            kind=PAYOUT_UNCHECKED,
            currency=payout.currency,
            payout=payout.id,
            stripe_amount=payout.amount,
            occurred_at=payout.created,
        )
        if not payout.automatic:
            _note(item, Note.MANUAL_PAYOUT)
        elif payout.status in ("failed", "canceled"):
            _note(item, Note.PAYOUT_NOT_PAID, status=payout.status)
        else:
            carried = [line for line in reader.payout_lines(payout.id) if line.type != "payout"]
            item.net = sum(line.net for line in carried)
            item.kind = PAYOUT_OK if item.net == payout.amount else PAYOUT_MISMATCH
            _note(item, Note.PAYOUT_SUM, count=len(carried), net=item.net, currency=payout.currency)
        yield item


def _note(item: ReconciliationItem, code: Note, **values: str | int) -> None:
    """Set a line's note: its code and the values it is worded with."""
    item.note_code, item.note_values = code, values


def _item(
    line: BalanceLine,
    kind: str,
    note: tuple[Note, dict[str, str | int]] | None,
    payment: Row[Any] | None = None,
) -> ReconciliationItem:
    item = ReconciliationItem(
        kind=kind,
        currency=line.currency,
        transaction_type=line.type,
        payment_id=payment.id if payment is not None else None,
        payment_intent=line.payment_intent or (payment.gateway_reference if payment else None),
        balance_transaction=line.id,
        stripe_amount=line.amount,
        fee=line.fee,
        net=line.net,
        occurred_at=line.created,
    )
    if note is not None:
        _note(item, note[0], **note[1])
    return item


_PAYMENT_COLUMNS = (
    Payment.id,
    Payment.gateway_reference,
    Payment.amount,
    Payment.currency,
    Payment.status,
    Payment.refunded,
)


def _payments_by_intent(
    db: Session, intents: set[str], gateway: str
) -> dict[str, Row[*tuple[Any, ...]]]:
    """Our Stripe payments by PaymentIntent id: plain rows, not tracked objects, so ten
    thousand of them stay cheap."""
    ordered = sorted(intents)
    found: dict[str, Row[*tuple[Any, ...]]] = {}
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        rows = db.execute(
            select(*_PAYMENT_COLUMNS).where(
                Payment.gateway == gateway, Payment.gateway_reference.in_(chunk)
            )
        )
        found.update((row.gateway_reference, row) for row in rows)
    return found


def _confirmed_between(
    db: Session, since: datetime, until: datetime, gateway: str
) -> list[Row[Any]]:
    return list(
        db.execute(
            select(*_PAYMENT_COLUMNS)
            .where(
                Payment.gateway == gateway,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.gateway_reference.is_not(None),
                Payment.confirmed_at >= since,
                Payment.confirmed_at < until,
            )
            .order_by(Payment.id)
        )
    )


def _count(run: ReconciliationRun) -> None:
    kinds = Counter(item.kind for item in run.items)
    run.matched = kinds[MATCHED]
    run.missing_here = kinds[MISSING_HERE]
    run.missing_at_stripe = kinds[MISSING_AT_STRIPE]
    run.amount_mismatches = kinds[AMOUNT_MISMATCH]
    run.payout_mismatches = kinds[PAYOUT_MISMATCH]


def totals(run: ReconciliationRun) -> dict[str, CurrencyTotals]:
    """The period's money per settlement currency, from the run's balance-history lines
    (each balance transaction is one line; payout checks and our own lines add nothing)."""
    found: dict[str, CurrencyTotals] = {}
    for item in run.items:
        if item.transaction_type is None:
            continue
        money = found.setdefault(item.currency, CurrencyTotals())
        amount = item.stripe_amount or 0
        if item.transaction_type in CHARGE_TYPES:
            money.gross += amount
        elif item.transaction_type in REFUND_TYPES:
            money.refunded -= amount
        money.fees += item.fee
        money.net += item.net or 0
    return dict(sorted(found.items()))


def major(amount: int | None, currency: str) -> Decimal | None:
    """Minor units as an exact decimal amount of the currency (12345 TWD is 123.45)."""
    if amount is None:
        return None
    return to_major(amount, currency)


CSV_COLUMNS = (
    "run_id",
    "kind",
    "currency",
    "stripe_type",
    "balance_transaction",
    "payment_intent",
    "payout",
    "payment_id",
    "stripe_amount_minor",
    "stripe_amount",
    "our_amount_minor",
    "our_amount",
    "fee_minor",
    "fee",
    "net_minor",
    "net",
    "occurred_at_utc",
    "note_code",
    "note",
)


def write_run_csv(run: ReconciliationRun, stream: TextIO) -> None:
    """Write the run as CSV, one row per item: amounts as integer minor units beside the
    exact decimal amount, each note as its code and in the current language, and no text
    cell a spreadsheet would run as a formula."""
    for line in csv_lines(CSV_COLUMNS, (_csv_row(run, item) for item in run.items)):
        stream.write(line)


def _csv_row(run: ReconciliationRun, item: ReconciliationItem) -> tuple[object, ...]:
    def amount(value: int | None) -> tuple[object, object]:
        return ("", "") if value is None else (value, major(value, item.currency))

    return (
        run.id,
        item.kind,
        item.currency,
        item.transaction_type or "",
        item.balance_transaction or "",
        item.payment_intent or "",
        item.payout or "",
        item.payment_id or "",
        *amount(item.stripe_amount),
        *amount(item.our_amount),
        *amount(item.fee),
        *amount(item.net),
        _utc(item.occurred_at),
        item.note_code or "",
        note_text(item),
    )


def note_text(item: ReconciliationItem) -> str:
    """A line's note in the current language, amounts formatted, times in the finance
    timezone."""
    if not item.note_code:
        return item.note or ""  # a line stored before notes were codes
    zone = str(app_settings.current().finance_zone)
    return note_sentence(item.note_code, item.note_values, zone)


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.isoformat(timespec="seconds")


def describe(run: ReconciliationRun) -> list[str]:
    """The run for a person reading a terminal: counts, totals, every unmatched line."""
    head = f"reconciliation {run.id}: {run.status}, {_utc(run.since)} to {_utc(run.until)}"
    if run.status != RunStatus.COMPLETED:
        return [head, f"  Stripe could not be read: {run_error_sentence(run.error)}"]
    kinds = Counter(item.kind for item in run.items)
    lines = [head, "  " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))]
    for currency, money in totals(run).items():
        lines.append(
            f"  {currency}: gross {_shown(money.gross, currency)}"
            f"  fees {_shown(money.fees, currency)}"
            f"  refunded {_shown(money.refunded, currency)}"
            f"  net {_shown(money.net, currency)}"
        )
    unmatched = [item for item in run.items if item.kind in UNMATCHED_KINDS]
    lines.append(f"  {len(unmatched)} unmatched" + (":" if unmatched else ""))
    lines.extend(f"    {_describe_item(item)}" for item in unmatched)
    return lines


def _describe_item(item: ReconciliationItem) -> str:
    refs = " ".join(
        ref for ref in (item.balance_transaction, item.payment_intent, item.payout) if ref
    )
    ours = "" if item.payment_id is None else f" payment {item.payment_id}"
    return (
        f"{item.kind} {item.currency} {refs}{ours}"
        f" stripe {_shown(item.stripe_amount, item.currency)}"
        f" ours {_shown(item.our_amount, item.currency)}: {note_text(item)}"
    )


def _shown(amount: int | None, currency: str) -> str:
    value = major(amount, currency)
    return "-" if value is None else f"{value:,}"
