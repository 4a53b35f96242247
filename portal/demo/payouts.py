"""The payouts page's demo: last month's bank statement, written as ISO 20022 camt.053
into the demo's instance folder for the finance user to import on the Payouts page.

Its deposits are those of the sandbox's own payouts (``SandboxStripe.payouts``), the ones a
reconciliation run over that month lists and stores, so the statement and the payouts page
agree on whatever day the demo runs, in either order: reconcile then import, and the import
ticks the payouts off; import then reconcile, and the run does. The month is the one the
finance user reconciles and closes (``portal.demo.reconciliation.last_month``). One
statement per currency in the file (one multi-currency account, as banks report it), and in
it, in the payouts' order:

- a deposit per payout, booked on its arrival date, most naming the payout's Stripe id (the
  end-to-end reference Stripe sends with the transfer);
- one payout's deposit by amount and date alone, which the rules still tick off;
- one payout's deposit with a twin: another deposit of the same amount a business day later,
  so the rules leave both for a person to choose between;
- the bank's interest at the month's end, which is no payout's.

The sandbox's payouts carry no statement descriptor, so no deposit names one. Deterministic
for a given database and month.

Written from a small template of the structure of a real statement, not with a library: PyPI
has camt.053 readers (``pycamt``, which reads it back), not writers (``sepaxml`` writes only
the payment initiation files, pain.001 and pain.008).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from portal.core import settings as app_settings
from portal.core.currency import minor_per_major, to_major
from portal.demo.reconciliation import last_month
from portal.finance import closing
from portal.finance.sandbox_reader import SandboxStripe
from portal.payments.stripe_gateway import PayoutLine

# The demo lender's account at its bank: one account, a statement per currency.
ACCOUNT = "0012-345-678901"
STRIPE_NAME = "STRIPE PAYMENTS UK LTD"  # who a payout comes from, as the bank shows it
# The bank's interest at the month's end (minor units), and each statement's opening balance
# in whole units of its currency.
INTEREST = 4_217
OPENING = 100_000
INTEREST_CURRENCY = "TWD"

DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<!-- The demo lender's bank statement for {month} (ISO 20022 camt.053.001.02), written by
     `haohuan demo` (portal/demo/payouts.py) from the sandbox's payouts of that month. Import
     it on the finance console's Payouts page, or with
     `haohuan finance import-statement <this file>`. -->
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>DEMO-{month}</MsgId>
      <CreDtTm>{created}</CreDtTm>
    </GrpHdr>
{statements}  </BkToCstmrStmt>
</Document>
"""
STATEMENT = """    <Stmt>
      <Id>{month}-{currency}</Id>
      <CreDtTm>{created}</CreDtTm>
      <Acct>
        <Id><Othr><Id>{account}</Id></Othr></Id>
        <Ccy>{currency}</Ccy>
      </Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="{currency}">{opening}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>{first}</Dt></Dt>
      </Bal>
      <Bal>
        <Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="{currency}">{closing}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>{last}</Dt></Dt>
      </Bal>
{entries}    </Stmt>
"""
ENTRY = """      <Ntry>
        <Amt Ccy="{currency}">{amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{booked}</Dt></BookgDt>
        <ValDt><Dt>{booked}</Dt></ValDt>
        <AcctSvcrRef>{reference}</AcctSvcrRef>
{details}      </Ntry>
"""
DETAILS = """        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{end_to_end}</EndToEndId></Refs>
          <RmtInf><Ustrd>{remittance}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
"""
INFO = "        <AddtlNtryInf>{info}</AddtlNtryInf>\n"


@dataclass(frozen=True)
class Deposit:
    """A credit on the statement: what it names (a payout's id, or a text), if anything."""

    booked: date
    amount: int
    currency: str
    end_to_end: str | None = None
    remittance: str | None = None
    info: str | None = None


@dataclass(frozen=True)
class DemoStatement:
    """The statement written: its month, its file, and the payouts it pays."""

    month: str
    path: Path
    payouts: list[str]


def month_payouts(db: Session, month: str) -> list[PayoutLine]:
    """The sandbox's payouts made in ``month`` (finance timezone), as a run over the month
    lists them."""
    since, until = closing.month_bounds(month, app_settings.current().finance_zone)
    return list(SandboxStripe(db).payouts(since, until))


def deposits(listed: list[PayoutLine], month: str) -> list[Deposit]:
    """The statement's credits for the payouts ``listed``: each payout's, named by its id
    but for one paid by amount and date alone and one with a twin; then the twin and the
    bank's interest."""
    counts = Counter((p.currency, p.amount) for p in listed)
    # Only a payout whose amount no other shares can be picked out by amount alone.
    alone = [p for p in listed if counts[p.currency, p.amount] == 1]
    twinned = alone[len(alone) // 2] if len(alone) >= 2 else None
    unnamed = alone[-1] if len(alone) >= 2 else None
    found: list[Deposit] = []
    for payout in listed:
        booked = payout.arrival_date or payout.created.date()
        if payout in (twinned, unnamed):
            found.append(Deposit(booked, payout.amount, payout.currency, info=STRIPE_NAME))
        else:
            found.append(Deposit(booked, payout.amount, payout.currency, payout.id, STRIPE_NAME))
    if twinned is not None:
        booked = _next_weekday(twinned.arrival_date or twinned.created.date())
        found.append(Deposit(booked, twinned.amount, twinned.currency, info=STRIPE_NAME))
    month_end = closing.month_start(closing.next_month(month)) - timedelta(days=1)
    taken = {p.amount for p in listed if p.currency == INTEREST_CURRENCY}
    interest = INTEREST
    while interest in taken:  # nobody's, even by chance
        interest += 1
    found.append(Deposit(month_end, interest, INTEREST_CURRENCY, info="INTEREST"))
    return found


def camt053(found: list[Deposit], month: str) -> bytes:
    """The deposits as a camt.053 file: a statement per currency, entries by booking day."""
    zone = app_settings.current().finance_zone
    first = closing.month_start(month)
    last = max([d.booked for d in found] + [first])
    created = datetime.combine(last, time(18), tzinfo=zone).isoformat()
    statements = []
    for currency in sorted({d.currency for d in found}):
        mine = sorted((d for d in found if d.currency == currency), key=lambda d: d.booked)
        entries = []
        for number, deposit in enumerate(mine, 1):
            details = ""
            if deposit.end_to_end:
                details = DETAILS.format(
                    end_to_end=escape(deposit.end_to_end),
                    remittance=escape(deposit.remittance or ""),
                )
            if deposit.info:
                details += INFO.format(info=escape(deposit.info))
            entries.append(
                ENTRY.format(
                    currency=currency,
                    amount=_major(deposit.amount, currency),
                    booked=deposit.booked.isoformat(),
                    reference=f"{currency}{deposit.booked:%Y%m%d}-{number:04d}",
                    details=details,
                )
            )
        opening = OPENING * minor_per_major(currency)
        statements.append(
            STATEMENT.format(
                month=month,
                currency=currency,
                created=created,
                account=ACCOUNT,
                opening=_major(opening, currency),
                closing=_major(opening + sum(d.amount for d in mine), currency),
                first=first.isoformat(),
                last=last.isoformat(),
                entries="".join(entries),
            )
        )
    text = DOCUMENT.format(month=month, created=created, statements="".join(statements))
    return text.encode("utf-8")


def write_statement(db: Session, folder: Path, now: datetime) -> DemoStatement:
    """Write last month's statement (as of ``now``) into ``folder``, the demo's instance
    folder (never the repository), replacing the one written before; what was written."""
    month = last_month(now, app_settings.current().finance_zone)
    listed = month_payouts(db, month)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"camt053-demo-{month}.xml"
    path.write_bytes(camt053(deposits(listed, month), month))
    return DemoStatement(month, path, [p.id for p in listed])


def _next_weekday(day: date) -> date:
    following = day + timedelta(days=1)
    while following.weekday() >= 5:
        following += timedelta(days=1)
    return following


def _major(amount: int, currency: str) -> str:
    return format(to_major(amount, currency), "f")
