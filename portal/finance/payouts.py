"""Payouts to the bank: each Stripe payout matched to the balance transactions it carried,
and ticked off against the deposit on the lender's bank statement.

Three ways in, each its own transaction:

- ``store_seen``: a reconciliation run upserts every payout it listed (by Stripe's id),
  with what each automatic payout carried, and ticks off any waiting deposit the rules
  match. It runs inside the run's own transaction and never commits: the run commits it
  (``portal.finance.reconcile.reconcile_with``), so a run and its payouts stand or fall
  together.
- ``import_statement``: a bank statement file (ISO 20022 camt.053, or MT940) adds its credit
  entries as deposits and ticks off what the rules match. Commits once, at its end; a
  file already imported (same SHA-256) changes nothing, and a file that cannot be read
  changes nothing either.
- ``tick_off`` and ``match_deposit``: a person ticks a payout off by hand, from the
  statement they hold or against a deposit already imported. Each commits once.

The rules (``pairs``): same currency and amount; booked on the payout's arrival date or
within ``WINDOW_BUSINESS_DAYS`` business days after it; a deposit whose text names the
payout (its Stripe id or statement descriptor) is preferred over one that only agrees in
amount. A deposit is ticked off only when the rules leave it exactly one payout and that
payout exactly one deposit: anything ambiguous is left for a person, never guessed.

Money is integer minor units throughout.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.audit import trail
from portal.core.currency import to_minor_exact
from portal.core.db import by_id
from portal.models import (
    BankDeposit,
    BankStatement,
    DepositMatch,
    Payout,
    PayoutTransaction,
    ReconciliationItem,
    ReconciliationRun,
    RunStatus,
    StaffMember,
    StatementFormat,
)
from portal.payments.stripe_gateway import BalanceLine, ChargeState, PayoutLine

if TYPE_CHECKING:
    from portal.finance.reconcile import StripeReader

# How late a payout may be booked: Stripe's arrival date is an estimate, and a bank may
# book it a day or two later (a weekend does not count).
WINDOW_BUSINESS_DAYS = 3
# The largest statement file read: a month of a busy account's camt.053 is well under it.
STATEMENT_LIMIT = 5 * 1024 * 1024
# A payout that never reached the bank: no deposit to tick off.
NOT_PAID = frozenset({"failed", "canceled"})
PAYOUTS_SHOWN = 200
STATEMENTS_SHOWN = 20
REFERENCE_LENGTH = 128
# camt.053 entry statuses that are money on the account (BOOK; absent in older versions).
BOOKED = frozenset({None, "BOOK"})


# Reading what a run saw ----------------------------------------------------------------


class Recorder:
    """A ``StripeReader`` that remembers the payouts it listed and what each carried, so
    the run's payouts are stored without asking Stripe twice."""

    def __init__(self, reader: StripeReader) -> None:
        self.reader = reader
        self.listed: list[PayoutLine] = []
        self.carried: dict[str, list[BalanceLine]] = {}

    def balance_lines(self, since: datetime, until: datetime) -> Iterable[BalanceLine]:
        """The period's balance history, as the reader gives it."""
        return self.reader.balance_lines(since, until)

    def payouts(self, since: datetime, until: datetime) -> Iterable[PayoutLine]:
        """The period's payouts, remembered."""
        self.listed = list(self.reader.payouts(since, until))
        return self.listed

    def payout_lines(self, payout_id: str) -> Iterable[BalanceLine]:
        """What an automatic payout carried, remembered."""
        lines = list(self.reader.payout_lines(payout_id))
        self.carried[payout_id] = lines
        return lines

    def charge(self, charge_id: str) -> ChargeState:
        """A charge as it stands now."""
        return self.reader.charge(charge_id)

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        """An intent's successful charge, if any."""
        return self.reader.intent_charge(intent_id)


def recording(reader: StripeReader) -> Recorder:
    """``reader``, remembering the payouts a run reads through it."""
    return reader if isinstance(reader, Recorder) else Recorder(reader)


def store_seen(
    db: Session,
    reader: StripeReader,
    run: ReconciliationRun,
    actor: StaffMember | str,
    now: datetime,
) -> list[Payout]:
    """Upsert every payout ``run`` listed through ``reader`` (a ``Recorder``), with the
    transactions each automatic payout carried, then tick off the waiting deposits the
    rules match. A failed run stores nothing. Does not commit: the run's transaction
    does."""
    if run.status != RunStatus.COMPLETED or not isinstance(reader, Recorder):
        return []
    stored = []
    for line in reader.listed:
        payout = db.scalar(select(Payout).where(Payout.stripe_id == line.id))
        if payout is None:
            payout = Payout(stripe_id=line.id, first_seen_at=now)
            db.add(payout)
        _update(db, payout, line, reader.carried.get(line.id), run, now)
        stored.append(payout)
    db.flush()
    _match_waiting(db, actor, now, "finance.payouts.auto_match", run_id=run.id)
    return stored


def _update(
    db: Session,
    payout: Payout,
    line: PayoutLine,
    carried: list[BalanceLine] | None,
    run: ReconciliationRun,
    now: datetime,
) -> None:
    payout.amount, payout.currency, payout.status = line.amount, line.currency, line.status
    payout.automatic, payout.created_at = line.automatic, line.created
    payout.arrival_date = line.arrival_date or payout.arrival_date
    payout.statement_descriptor = line.statement_descriptor or payout.statement_descriptor
    payout.last_seen_at, payout.last_run_id = now, run.id
    if carried is None:
        return  # a manual or failed payout: Stripe ties no transactions to it
    # Its own payout transaction is not something it carried (as the run sums them).
    lines = [each for each in carried if each.type != "payout"]
    # The old lines go first: the unit of work would insert the new ones before deleting
    # the old, and the (payout, transaction) pair is unique.
    payout.transactions.clear()
    db.flush()
    payout.transactions = [
        PayoutTransaction(
            balance_transaction=each.id,
            type=each.type,
            amount=each.amount,
            fee=each.fee,
            net=each.net,
            currency=each.currency,
            created_at=each.created,
            payment_intent=each.payment_intent,
        )
        for each in lines
    ]
    payout.transaction_count = len(lines)
    payout.transaction_sum = sum(each.net for each in lines)


# The matching rules (values in, pairs out) -------------------------------------------------


def business_days_after(start: date, end: date) -> int | None:
    """Weekdays in ``(start, end]``: how many business days after ``start`` the day
    ``end`` is (0 on the day itself, or on the weekend after a Friday); None before it."""
    if end < start:
        return None
    weeks, rest = divmod((end - start).days, 7)
    days = 5 * weeks  # every whole week has five
    for offset in range(1, rest + 1):
        if (start + timedelta(days=weeks * 7 + offset)).weekday() < 5:
            days += 1
    return days


def names_payout(text: str, payout: Payout) -> bool:
    """Whether a deposit's text names ``payout``: its Stripe id, or its statement
    descriptor (both compared without case, spaces ignored in the descriptor)."""
    folded = text.casefold()
    if payout.stripe_id.casefold() in folded:
        return True
    descriptor = (payout.statement_descriptor or "").strip().casefold()
    if not descriptor:
        return False
    return _squeezed(descriptor) in _squeezed(folded)


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def same_money(deposit: BankDeposit, payout: Payout) -> bool:
    """Whether a deposit is the payout's currency and amount."""
    return (deposit.currency, deposit.amount) == (payout.currency, payout.amount)


def could_be(deposit: BankDeposit, payout: Payout, window: int = WINDOW_BUSINESS_DAYS) -> bool:
    """Whether ``deposit`` could be ``payout``: same currency and amount, booked on the
    arrival date or within ``window`` business days after it."""
    if not same_money(deposit, payout) or payout.status in NOT_PAID:
        return False
    arrival = payout.arrival_date or payout.created_at.date()
    late = business_days_after(arrival, deposit.booking_date)
    return late is not None and late <= window


@dataclass
class Pairing:
    """What the rules made of some deposits: pairs to tick off (deposit, payout), and the
    deposits left for a person with several candidates or with none."""

    pairs: list[tuple[BankDeposit, Payout]] = field(default_factory=list)
    ambiguous: list[BankDeposit] = field(default_factory=list)
    unmatched: list[BankDeposit] = field(default_factory=list)


def pairs(deposits: Sequence[BankDeposit], payouts: Sequence[Payout]) -> Pairing:
    """Pair waiting deposits with waiting payouts by the rules. Each candidate pair has a
    strength (2 when the deposit names the payout, 1 when only amount and date agree);
    each side keeps its strongest candidates, and a pair is made only when each side
    has exactly one strongest candidate and it is the other."""
    # Only a payout of the same currency and amount can be a deposit's: look those up.
    by_money: dict[tuple[str, int], list[int]] = defaultdict(list)
    for p, payout in enumerate(payouts):
        by_money[payout.currency, payout.amount].append(p)
    strength: dict[tuple[int, int], int] = {}
    for d, deposit in enumerate(deposits):
        for p in by_money.get((deposit.currency, deposit.amount), []):
            if could_be(deposit, payouts[p]):
                strength[d, p] = 2 if names_payout(deposit.details or "", payouts[p]) else 1
    by_deposit: dict[int, list[tuple[int, int]]] = defaultdict(list)
    by_payout: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (d, p), score in strength.items():
        by_deposit[d].append((score, p))
        by_payout[p].append((score, d))
    found = Pairing()
    for d, deposit in enumerate(deposits):
        best = _strongest(by_deposit.get(d, []))
        if not by_deposit.get(d):
            found.unmatched.append(deposit)
        elif len(best) == 1 and _strongest(by_payout[best[0]]) == [d]:
            found.pairs.append((deposit, payouts[best[0]]))
        else:
            found.ambiguous.append(deposit)
    return found


def _strongest(candidates: list[tuple[int, int]]) -> list[int]:
    if not candidates:
        return []
    top = max(score for score, _ in candidates)
    return sorted(other for score, other in candidates if score == top)


def _waiting_payouts(db: Session) -> list[Payout]:
    return list(
        db.scalars(
            select(Payout)
            .outerjoin(BankDeposit, BankDeposit.payout_id == Payout.id)
            .where(BankDeposit.id.is_(None), Payout.status.not_in(NOT_PAID))
            .order_by(Payout.id)
        )
    )


def _waiting_deposits(db: Session) -> list[BankDeposit]:
    return list(
        db.scalars(
            select(BankDeposit).where(BankDeposit.payout_id.is_(None)).order_by(BankDeposit.id)
        )
    )


def _match_waiting(
    db: Session, actor: StaffMember | str, now: datetime, action: str, **details: Any
) -> Pairing:
    """Tick off every waiting deposit the rules pair with a waiting payout, and record
    the pairs (when there are any) in ``actor``'s name. Does not commit."""
    found = pairs(_waiting_deposits(db), _waiting_payouts(db))
    who = _who(actor)
    for deposit, payout in found.pairs:
        deposit.payout = payout
        deposit.matched_how, deposit.matched_by, deposit.matched_at = DepositMatch.AUTO, who, now
    db.flush()
    if found.pairs or action != "finance.payouts.auto_match":
        trail.record(
            db,
            actor,
            action,
            now,
            matched=[[deposit.id, payout.stripe_id] for deposit, payout in found.pairs],
            **details,
        )
    return found


def _who(actor: StaffMember | str) -> str:
    return actor.email if isinstance(actor, StaffMember) else actor


# Reading a statement --------------------------------------------------------------------


class StatementProblem(StrEnum):
    """Why a statement file was refused (worded by ``portal.wording.payouts``)."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNSAFE = "unsafe"  # a DTD or entity declaration: no bank statement has one
    UNKNOWN_FORMAT = "unknown_format"  # neither XML nor MT940
    NOT_XML = "not_xml"  # it starts as XML, but is not well-formed
    NOT_CAMT053 = "not_camt053"
    BAD_ENTRY = "bad_entry"  # an entry whose amount, currency or date cannot be read


class StatementError(Exception):
    """A statement file that cannot be read; ``problem`` says why."""

    def __init__(self, problem: StatementProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class StatementEntry:
    """A credit entry of a statement: money in on the account."""

    booking_date: date
    value_date: date | None
    amount: int
    currency: str
    bank_reference: str | None
    details: str
    account: str


@dataclass(frozen=True)
class ReadStatement:
    """A statement file, read: its format, its date and its credit entries."""

    format: StatementFormat
    statement_date: date | None
    entries: list[StatementEntry]


# Any DTD at all is refused before parsing: camt.053 has none, and refusing it closes off
# external entities and entity expansion whatever the parser would do with them.
UNSAFE_MARKUP = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


# An MT940 statement starts with its reference (:20:), after any SWIFT header blocks.
MT940_START = re.compile(rb"^(\{[^\n]*\}\s*)*:20:", re.ASCII)


def read_statement(data: bytes) -> ReadStatement:
    """A statement file's booked credit entries, in whichever format it is: camt.053
    (XML) or MT940. Raises ``StatementError`` for anything else."""
    if not data.strip():
        raise StatementError(StatementProblem.EMPTY)
    if len(data) > STATEMENT_LIMIT:
        raise StatementError(StatementProblem.TOO_LARGE)
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        return read_camt053(data)
    if MT940_START.match(start):
        return read_mt940(data)
    raise StatementError(StatementProblem.UNKNOWN_FORMAT)


def read_camt053(data: bytes) -> ReadStatement:
    """A camt.053 file's credit entries that are booked and not reversals, read with
    ``pycamt`` (lxml with entities unresolved and no network). Raises
    ``StatementError`` for anything that is not a readable camt.053 statement."""
    if UNSAFE_MARKUP.search(data):
        raise StatementError(StatementProblem.UNSAFE)
    # Imported here: pycamt brings lxml (some 10 MiB with Beancount and mt-940) into
    # every web worker that imports this module, for a file read a few times a month.
    from pycamt.parser import Camt053ParseError, Camt053Parser

    try:
        parser = Camt053Parser(data)
    except (SyntaxError, ValueError, TypeError) as error:  # lxml's XMLSyntaxError
        raise StatementError(StatementProblem.NOT_XML) from error
    if "camt.053" not in str(parser.tree.tag):
        raise StatementError(StatementProblem.NOT_CAMT053)
    try:
        transactions = parser.get_transactions()
        info = parser.get_statement_info()
        header = parser.get_group_header()
    except (Camt053ParseError, AttributeError, TypeError) as error:
        raise StatementError(StatementProblem.NOT_CAMT053) from error
    account = _account(parser) or (info[0].get("IBAN") if info else None) or ""
    stated = _day(info[0].get("ClosingBalanceDate")) if info else None
    statement_date = stated or _day(header.get("CreationDateTime"))
    entries = [
        _entry(transaction, account)
        for transaction in transactions
        if transaction.get("CreditDebitIndicator") == "CRDT"
        and str(transaction.get("ReversalIndicator") or "").lower() != "true"
        and transaction.get("Status") in BOOKED
    ]
    return ReadStatement(StatementFormat.CAMT053, statement_date, entries)


def read_mt940(data: bytes) -> ReadStatement:
    """An MT940 file's credit entries (status C: not debits, not reversals), read with
    ``mt-940``. Its ``Transactions.parse`` is given the decoded text itself: the
    package's ``mt940.parse`` would read a file named by the text. Raises
    ``StatementError`` for anything that is not a readable MT940 statement."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # SWIFT's character set is a subset of both
    import mt940  # as pycamt above: only when a statement is read

    statement = mt940.models.Transactions()
    try:
        lines = statement.parse(text)
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise StatementError(StatementProblem.BAD_ENTRY) from error
    if not statement.data and not lines:
        raise StatementError(StatementProblem.UNKNOWN_FORMAT)
    account = str(statement.data.get("account_identification") or "").strip()[:64]
    closing = statement.data.get("final_closing_balance")
    stated = getattr(closing, "date", None)
    entries = [_mt940_entry(line.data, account) for line in lines if line.data.get("status") == "C"]
    return ReadStatement(
        StatementFormat.MT940, date.fromordinal(stated.toordinal()) if stated else None, entries
    )


def _mt940_entry(data: dict[str, Any], account: str) -> StatementEntry:
    money = data.get("amount")
    currency = str(getattr(money, "currency", "") or data.get("currency") or "").upper()
    booked = data.get("entry_date") or data.get("date")
    if money is None or booked is None or not CURRENCY_CODE.fullmatch(currency):
        raise StatementError(StatementProblem.BAD_ENTRY)
    try:
        amount = to_minor_exact(Decimal(money.amount), currency)
    except (InvalidOperation, ValueError, TypeError) as error:
        raise StatementError(StatementProblem.BAD_ENTRY) from error
    if amount <= 0:
        raise StatementError(StatementProblem.BAD_ENTRY)
    texts = (
        data.get(key) for key in ("transaction_details", "customer_reference", "extra_details")
    )
    details = " ".join(
        dict.fromkeys(str(t).replace("\n", " ").strip() for t in texts if t and t != "NONREF")
    )
    reference = str(data.get("bank_reference") or "").strip()
    value = data.get("date")
    return StatementEntry(
        booking_date=date.fromordinal(booked.toordinal()),
        value_date=date.fromordinal(value.toordinal()) if value else None,
        amount=amount,
        currency=currency,
        bank_reference=reference[:REFERENCE_LENGTH] or None,
        details=details,
        account=account,
    )


def _account(parser: Any) -> str | None:
    """The statement's account: its IBAN, or the bank's own number (``Othr/Id``), which
    pycamt does not read. Any namespace: each camt.053 version has its own."""
    for path in (".//{*}Stmt/{*}Acct/{*}Id/{*}IBAN", ".//{*}Stmt/{*}Acct/{*}Id/{*}Othr/{*}Id"):
        found = parser.tree.find(path)
        if found is not None and found.text:
            return str(found.text).strip()[:64]
    return None


def _entry(transaction: dict[str, Any], account: str) -> StatementEntry:
    currency = str(transaction.get("Currency") or "").strip().upper()
    booked = _day(transaction.get("BookingDate")) or _day(transaction.get("ValueDate"))
    if not CURRENCY_CODE.fullmatch(currency) or booked is None:
        raise StatementError(StatementProblem.BAD_ENTRY)
    try:
        amount = to_minor_exact(Decimal(str(transaction.get("Amount") or "").strip()), currency)
    except (InvalidOperation, ValueError) as error:
        raise StatementError(StatementProblem.BAD_ENTRY) from error
    if amount <= 0:
        raise StatementError(StatementProblem.BAD_ENTRY)
    texts = (
        transaction.get(key)
        for key in (
            "RemittanceInformationFull",
            "RemittanceInformation",
            "AdditionalRemittanceInformation",
            "EndToEndId",
            "AdditionalEntryInformation",
        )
    )
    details = " ".join(dict.fromkeys(str(text).strip() for text in texts if text))
    reference = transaction.get("TransactionID")
    return StatementEntry(
        booking_date=booked,
        value_date=_day(transaction.get("ValueDate")),
        amount=amount,
        currency=currency,
        bank_reference=str(reference).strip()[:REFERENCE_LENGTH] if reference else None,
        details=details,
        account=account,
    )


def _day(text: object) -> date | None:
    """A camt.053 date (YYYY-MM-DD) or date and time, as its day; None if unreadable."""
    if not text:
        return None
    try:
        return date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        return None


# Importing a statement --------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the statement (new, or the same file imported before), and
    its credit entries: added as deposits, skipped as already held, matched, and left."""

    statement: BankStatement
    already: bool
    added: int = 0
    skipped: int = 0
    matched: int = 0
    ambiguous: int = 0
    unmatched: int = 0


def import_statement(
    db: Session, data: bytes, file_name: str, actor: StaffMember | str, now: datetime
) -> ImportResult:
    """Import a bank statement (camt.053 or MT940): its credit entries become deposits
    (an entry already held from another file, same account, bank reference, day and
    amount, is skipped), then every waiting deposit the rules pair with a payout is
    ticked off. Audited and
    committed once. The same file again changes nothing; a file that cannot be read raises
    ``StatementError`` and changes nothing."""
    read = read_statement(data)
    try:
        return _import(db, data, read, file_name, actor, now)
    except IntegrityError:
        # Someone imported the same file, or ticked off one of its payouts, a moment
        # ago (the unique SHA-256 and payout caught it): once more, on what is there now.
        db.rollback()
        return _import(db, data, read, file_name, actor, now)


def _import(
    db: Session,
    data: bytes,
    read: ReadStatement,
    file_name: str,
    actor: StaffMember | str,
    now: datetime,
) -> ImportResult:
    digest = hashlib.sha256(data).hexdigest()
    existing = db.scalar(select(BankStatement).where(BankStatement.sha256 == digest))
    if existing is not None:
        return ImportResult(existing, already=True)
    # The name as the person's computer had it, without any folders a browser sent.
    shown_name = file_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    statement = BankStatement(
        sha256=digest,
        file_name=(shown_name or "statement")[:255],
        format=read.format,
        statement_date=read.statement_date,
        imported_at=now,
        imported_by=_who(actor),
    )
    db.add(statement)
    added = skipped = 0
    for entry in read.entries:
        if _held(db, entry):
            skipped += 1
            continue
        db.add(_deposit(entry, statement, now))
        added += 1
    db.flush()
    found = _match_waiting(
        db,
        actor,
        now,
        "finance.payouts.statement_import",
        statement_id=statement.id,
        file_name=statement.file_name,
        sha256=digest,
        added=added,
        skipped=skipped,
    )
    result = ImportResult(
        statement,
        already=False,
        added=added,
        skipped=skipped,
        matched=len(found.pairs),
        ambiguous=len(found.ambiguous),
        unmatched=len(found.unmatched),
    )
    db.commit()
    return result


def _held(db: Session, entry: StatementEntry) -> bool:
    """Whether an entry is held already, from an overlapping statement: the bank's own
    reference on the same account, day and amount."""
    if not entry.bank_reference:
        return False
    found = db.scalar(
        select(BankDeposit.id).where(
            BankDeposit.bank_reference == entry.bank_reference,
            BankDeposit.account == entry.account,
            BankDeposit.booking_date == entry.booking_date,
            BankDeposit.amount == entry.amount,
            BankDeposit.currency == entry.currency,
        )
    )
    return found is not None


def _deposit(entry: StatementEntry, statement: BankStatement, now: datetime) -> BankDeposit:
    return BankDeposit(
        statement=statement,
        statement_date=statement.statement_date,
        booking_date=entry.booking_date,
        value_date=entry.value_date,
        amount=entry.amount,
        currency=entry.currency,
        bank_reference=entry.bank_reference,
        details=entry.details,
        account=entry.account,
        created_at=now,
    )


# A person ticks a payout off --------------------------------------------------------------


class Refusal(StrEnum):
    """Why a tick-off was refused (worded by ``portal.wording.payouts``)."""

    ALREADY_MATCHED = "already_matched"  # the payout has its deposit already
    NOT_PAID = "not_paid"  # a failed or canceled payout reached no bank
    NO_SUCH_DEPOSIT = "no_such_deposit"
    DEPOSIT_TAKEN = "deposit_taken"  # that deposit is another payout's
    DEPOSIT_DIFFERS = "deposit_differs"  # another currency or amount
    BEFORE_PAYOUT = "before_payout"  # booked before Stripe even made the payout


class TickOffError(Exception):
    """A tick-off the rules refuse; ``reason`` says why."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


def tick_off(
    db: Session,
    payout: Payout,
    booking_date: date,
    reference: str,
    actor: StaffMember,
    now: datetime,
) -> BankDeposit:
    """Tick ``payout`` off by hand against the deposit on the statement a person holds:
    booked on ``booking_date`` with the bank's ``reference``, for the payout's amount.
    Audited; commits."""
    _ready(payout)
    if booking_date < payout.created_at.date():
        raise TickOffError(Refusal.BEFORE_PAYOUT)
    deposit = BankDeposit(
        statement_date=booking_date,
        booking_date=booking_date,
        amount=payout.amount,
        currency=payout.currency,
        bank_reference=reference.strip()[:REFERENCE_LENGTH] or None,
        details="",
        account="",
        created_at=now,
    )
    db.add(deposit)
    return _tick(db, deposit, payout, actor, now)


def match_deposit(
    db: Session, payout: Payout, deposit_id: int, actor: StaffMember, now: datetime
) -> BankDeposit:
    """Tick ``payout`` off against an imported deposit a person chose (one the rules left
    ambiguous): same currency and amount, not another payout's. Audited; commits."""
    _ready(payout)
    deposit = by_id(db, BankDeposit, deposit_id)
    if deposit is None:
        raise TickOffError(Refusal.NO_SUCH_DEPOSIT)
    if deposit.payout_id is not None:
        raise TickOffError(Refusal.DEPOSIT_TAKEN)
    if not same_money(deposit, payout):
        raise TickOffError(Refusal.DEPOSIT_DIFFERS)
    return _tick(db, deposit, payout, actor, now)


def _ready(payout: Payout) -> None:
    if payout.deposit is not None:
        raise TickOffError(Refusal.ALREADY_MATCHED)
    if payout.status in NOT_PAID:
        raise TickOffError(Refusal.NOT_PAID)


def _tick(
    db: Session, deposit: BankDeposit, payout: Payout, actor: StaffMember, now: datetime
) -> BankDeposit:
    deposit.payout = payout
    deposit.matched_how, deposit.matched_by, deposit.matched_at = (
        DepositMatch.MANUAL,
        actor.email,
        now,
    )
    try:
        db.flush()
    except IntegrityError as error:
        # Another person ticked it off a moment ago (the unique payout_id caught it).
        db.rollback()
        raise TickOffError(Refusal.ALREADY_MATCHED) from error
    trail.record(
        db,
        actor,
        "finance.payouts.tick_off",
        now,
        payout=payout.stripe_id,
        deposit_id=deposit.id,
        booking_date=deposit.booking_date.isoformat(),
        bank_reference=deposit.bank_reference,
        imported=deposit.statement_id is not None,
    )
    db.commit()
    return deposit


# What the pages show ----------------------------------------------------------------------


def payout_list(db: Session, limit: int = PAYOUTS_SHOWN) -> list[Payout]:
    """Payouts, those still waiting for their bank deposit first (a failed or canceled
    one waits for nothing), latest arrival first."""
    waiting = case((and_(BankDeposit.id.is_(None), Payout.status.not_in(NOT_PAID)), 0), else_=1)
    return list(
        db.scalars(
            select(Payout)
            .outerjoin(BankDeposit, BankDeposit.payout_id == Payout.id)
            .options(selectinload(Payout.deposit))
            .order_by(
                waiting,
                Payout.arrival_date.desc().nulls_last(),
                Payout.id.desc(),
            )
            .limit(limit)
        )
    )


def recent_statements(db: Session, limit: int = STATEMENTS_SHOWN) -> list[BankStatement]:
    """The latest statement files imported."""
    return list(db.scalars(select(BankStatement).order_by(BankStatement.id.desc()).limit(limit)))


def waiting_deposits(db: Session, limit: int = PAYOUTS_SHOWN) -> list[BankDeposit]:
    """Deposits no payout has claimed, latest first: what a person looks at when a
    payout is not ticked off by itself."""
    return list(
        db.scalars(
            select(BankDeposit)
            .where(BankDeposit.payout_id.is_(None))
            .order_by(BankDeposit.booking_date.desc(), BankDeposit.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class CarriedLine:
    """A transaction a payout carried, and our payment the reconciliation matched it to."""

    line: PayoutTransaction
    payment_id: int | None


@dataclass(frozen=True)
class PayoutView:
    """One payout's page: its transactions, their sum, its deposit or the candidates."""

    payout: Payout
    lines: list[CarriedLine]
    total: int | None
    candidates: list[BankDeposit]

    @property
    def sums_up(self) -> bool | None:
        """Whether the transactions sum to the payout (None when Stripe lists none)."""
        return None if self.total is None else self.total == self.payout.amount


def payout_view(db: Session, payout_id: int) -> PayoutView | None:
    """A payout with what it carried and, while it waits, the waiting deposits of its
    currency and amount (a person may know better than the rules' window which one it
    is); None when there is no such payout."""
    payout = by_id(db, Payout, payout_id)
    if payout is None:
        return None
    ids = [line.balance_transaction for line in payout.transactions]
    payments: dict[str, int] = {}
    if ids:
        rows = db.execute(
            select(ReconciliationItem.balance_transaction, ReconciliationItem.payment_id)
            .where(
                ReconciliationItem.balance_transaction.in_(ids),
                ReconciliationItem.payment_id.is_not(None),
            )
            .order_by(ReconciliationItem.id)
        )
        # The latest run's word on each transaction.
        payments.update((str(txn), payment) for txn, payment in rows if payment is not None)
    lines = [
        CarriedLine(line, payments.get(line.balance_transaction)) for line in payout.transactions
    ]
    total = payout.transaction_sum if payout.transaction_count is not None else None
    candidates = []
    if payout.deposit is None and payout.status not in NOT_PAID:
        candidates = list(
            db.scalars(
                select(BankDeposit)
                .where(
                    BankDeposit.payout_id.is_(None),
                    BankDeposit.currency == payout.currency,
                    BankDeposit.amount == payout.amount,
                )
                .order_by(BankDeposit.booking_date, BankDeposit.id)
                .limit(PAYOUTS_SHOWN)
            )
        )
    return PayoutView(payout, lines, total, candidates)
