"""The payments export: streamed row by row, amounts as integer minor units beside the
formatted amount, written by ``portal.core.csv_export`` (no cell a spreadsheet would run
as a formula)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from portal.core.csv_export import csv_lines, utc_text
from portal.finance.reports import PaymentRow

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
    # Charged by the autopay run (1), or paid by the borrower (0).
    "automatic",
)


def payment_lines(rows: Iterable[PaymentRow], money: Callable[[int, str], str]) -> Iterator[str]:
    """The payments export, formatted amounts in the language ``money`` writes."""
    return csv_lines(
        PAYMENT_COLUMNS,
        (
            (
                row.payment.id,
                utc_text(row.payment.created_at),
                utc_text(row.payment.confirmed_at),
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
                int(row.payment.automatic),
            )
            for row in rows
        ),
    )
