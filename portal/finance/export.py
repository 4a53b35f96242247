"""CSV exports that a spreadsheet opens safely: streamed row by row, amounts as integer
minor units beside the formatted amount, and no cell a spreadsheet would run as a
formula (OWASP's CSV injection advice: a leading apostrophe)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from portal.finance.reports import PaymentRow

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

PAYMENT_COLUMNS = (
    "payment_id",
    "created_at_utc",
    "confirmed_at_utc",
    "status",
    "gateway",
    "gateway_reference",
    "purpose",
    "currency",
    "amount_minor",
    "amount",
    "refunded_minor",
    "disputed_minor",
    "kept_minor",
    "kept",
    "case_id",
    "loan_number",
    "borrower_name",
)


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: text that a spreadsheet would run gets an apostrophe in
    front; numbers and empty cells are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The header, then each row, as CSV text one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _with_header(header, rows):
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _with_header(
    header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Iterator[Sequence[object]]:
    yield header
    yield from rows


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def payment_lines(rows: Iterable[PaymentRow], money: Callable[[int, str], str]) -> Iterator[str]:
    """The payments export, formatted amounts in the language ``money`` writes."""
    return csv_lines(
        PAYMENT_COLUMNS,
        (
            (
                row.payment.id,
                _utc(row.payment.created_at),
                _utc(row.payment.confirmed_at),
                row.payment.status,
                row.payment.gateway,
                row.payment.gateway_reference or "",
                row.payment.purpose,
                row.payment.currency,
                row.payment.amount,
                money(row.payment.amount, row.payment.currency),
                row.payment.refunded,
                row.payment.disputed,
                row.payment.kept,
                money(row.payment.kept, row.payment.currency),
                row.payment.case_id,
                row.loan_number,
                row.borrower_name,
            )
            for row in rows
        ),
    )
