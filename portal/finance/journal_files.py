"""The journals as files an accounting system imports: a general-ledger CSV with
documented columns, and a Beancount ledger written by the ``beancount`` package's own
printer (so what it writes is what its loader reads). Amounts in the currency's major
unit with its exponent (``portal.core.currency.to_major``), never a float.

CSV columns (one row per journal line; docs/finance.md):

=============  ===========================================================================
date           the day the journal is for, in the finance timezone (YYYY-MM-DD)
journal_id     ``<date>-<source>-<currency>``: stable, so a re-export names the same entry
account        the chart of accounts' name (``Assets:Loans:Receivable:Principal``)
debit          the amount debited, in major units (``1234.50``); ``0.00`` on a credit line
credit         the amount credited, in major units; ``0.00`` on a debit line
currency       ISO 4217 code
memo           the source and the chart kinds the line sums, and the loan product
reference      ``<journal_id>/<product>/<rows>``: the rows of the source the line sums
=============  ===========================================================================
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from negotiation.accounts import Chart
from portal.core import settings
from portal.core.csv_export import csv_lines
from portal.core.currency import to_major
from portal.finance.journals import Journal, journals_for_days

if TYPE_CHECKING:
    from beancount.core import data as bean

CSV_HEADER = ("date", "journal_id", "account", "debit", "credit", "currency", "memo", "reference")
FORMATS = ("csv", "beancount")


def journal_csv(journals: Iterable[Journal]) -> Iterator[str]:
    """The journals' lines as CSV text, the header first, one line at a time."""
    rows = (
        (
            journal.day.isoformat(),
            journal.journal_id,
            line.account,
            str(to_major(line.debit, line.currency)),
            str(to_major(line.credit, line.currency)),
            line.currency,
            line.memo,
            line.reference,
        )
        for journal in journals
        for line in journal.lines
    )
    return csv_lines(CSV_HEADER, rows)


def journal_beancount(
    journals: Iterable[Journal], chart: Chart, opened: datetime.date
) -> Iterator[str]:
    """The journals as a Beancount ledger: every account of the chart opened on
    ``opened`` (the period's first day), then a transaction per journal, its debits
    positive and its credits negative, printed by Beancount's printer."""
    # Imported here: Beancount (and the regex package it brings) would otherwise sit in
    # every web worker's memory for an export made a few times a month.
    from beancount.core import data as bean
    from beancount.parser import printer

    yield "; Haohuan general-ledger journals (haohuan ledger journal)\n"
    yield 'option "title" "Haohuan journals"\n\n'
    for account in chart.accounts():
        yield printer.format_entry(bean.Open(_meta(), opened, account, [], None))
    yield "\n"
    for journal in journals:
        yield printer.format_entry(transaction(journal)) + "\n"


def transaction(journal: Journal) -> bean.Transaction:
    """One journal as a Beancount transaction (its id kept as metadata and a link)."""
    from beancount.core import amount as bean_amount
    from beancount.core import data as bean

    postings = [
        bean.Posting(
            line.account,
            bean_amount.Amount(to_major(line.debit - line.credit, line.currency), line.currency),
            None,
            None,
            None,
            {"memo": line.memo, "reference": line.reference},
        )
        for line in journal.lines
    ]
    return bean.Transaction(
        _meta(journal_id=journal.journal_id),
        journal.day,
        "*",
        None,
        f"{journal.source} {journal.currency}",
        frozenset(),
        frozenset({journal.journal_id}),
        postings,
    )


def _meta(**values: str) -> dict[str, object]:
    # Beancount's printer leaves out filename and lineno; entries need them to exist.
    return {"filename": "<haohuan>", "lineno": 0, **values}


def export(
    db: Session, first: datetime.date, last: datetime.date, form: str, zone: ZoneInfo
) -> Iterator[str]:
    """The journals of ``first`` to ``last`` (days in ``zone``) as ``form`` (csv or
    beancount), with the configured chart of accounts, a day's sums at a time."""
    chart = settings.current().chart_of_accounts
    found = journals_for_days(db, first, last, zone, chart)
    if form == "beancount":
        return journal_beancount(found, chart, first)
    return journal_csv(found)
