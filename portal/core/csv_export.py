"""CSV that a spreadsheet opens safely: streamed one line at a time, and no cell a
spreadsheet would run as a formula (OWASP's CSV injection advice: a leading apostrophe).
Every export writes through ``csv_lines`` (payments, reconciliation runs, the audit log)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from portal.core.clock import as_utc

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def utc_text(moment: datetime | None) -> str:
    """A time as a CSV cell: ISO 8601 in UTC to the second with a "Z" ("" for none); a
    time without a zone is taken as UTC, as every stored time is."""
    if moment is None:
        return ""
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
