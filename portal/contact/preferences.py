"""How the borrower asked to be contacted: the channels we may use and the times not to.

A borrower narrows contact from the portal. The channels they turn off are opt-outs
(``opt_outs``, source ``borrower_portal``), the same rows an opt-out link or an agent
writes, so every path that already honours an opt-out honours these; turning a channel
back on lifts them. The times are quiet windows (``quiet_hours``), which the gate adds to
the rules of where they live as one more layer (``portal.contact.gate.narrowed_rules``).
Each change is a case event; ``save_choice`` commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from negotiation.contact import (
    Channel,
    NarrowingProblem,
    QuietWindow,
    check_narrowing,
)
from portal.contact.gate import (
    borrower_rules,
    cancel_scheduled,
    lift_opt_out,
    opted_out_channels,
    quiet_windows,
    record_opt_out,
)
from portal.core.db import lock_row
from portal.models import Borrower, Case, CaseEvent, QuietHours

SOURCE = "borrower_portal"
# The channels the contact page's choice turns on and off; LINE and WeChat are linked and
# unlinked on their own (``portal.messaging.chat``), never opted into by this form.
CHOOSABLE = frozenset({Channel.CALL, Channel.SMS, Channel.EMAIL, Channel.LETTER})


@dataclass(frozen=True)
class ContactChoice:
    """The channels the borrower lets us use, and the times they asked us not to."""

    channels: frozenset[Channel]
    quiet: tuple[QuietWindow, ...] = ()

    def as_data(self) -> dict[str, object]:
        """The choice for a case event: channel codes, windows as days and HH:MM."""
        return {
            "channels": sorted(channel.value for channel in self.channels),
            "quiet": [
                {
                    "days": sorted(window.days),
                    "from": clock(window.start),
                    "until": clock(window.end),
                }
                for window in self.quiet
            ],
        }


class NarrowingError(ValueError):
    """The choice cannot be kept as it is (``problem`` says why)."""

    def __init__(self, problem: NarrowingProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def clock(minute: int) -> str:
    """A minute of the day as HH:MM (1440 is 24:00, the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def day_bits(days: frozenset[int]) -> int:
    """Weekdays (0 Monday) as the stored bits (1 Monday to 64 Sunday)."""
    return sum(1 << day for day in days)


def current_choice(db: Session, borrower_id: int) -> ContactChoice:
    """What the borrower has chosen so far (every channel not opted out of)."""
    return ContactChoice(
        channels=CHOOSABLE - opted_out_channels(db, borrower_id),
        quiet=quiet_windows(db, [borrower_id]).get(borrower_id, ()),
    )


def save_choice(db: Session, case: Case, choice: ContactChoice, moment: datetime) -> bool:
    """Keep the borrower's choice of how to be contacted, and commit. Turning a channel
    off opts out of it (what is scheduled on it is canceled); turning it on lifts the
    opt-out, whoever recorded it: it is the borrower's own say. Returns False when
    nothing changed (no event). Raises ``NarrowingError`` (nothing changed) when the
    choice leaves no channel, too many windows, or no time at all under the rules of
    where they live."""
    borrower = case.loan.borrower
    lock_row(db, Borrower, borrower.id)
    db.refresh(borrower)
    problem = check_narrowing(
        borrower_rules(borrower, case.loan.currency), choice.channels, choice.quiet
    )
    if problem is not None:
        db.rollback()
        raise NarrowingError(problem)
    before = current_choice(db, borrower.id)
    if before.channels == choice.channels and set(before.quiet) == set(choice.quiet):
        db.rollback()
        return False
    for channel in sorted(CHOOSABLE):
        if channel in choice.channels:
            lift_opt_out(db, borrower.id, channel, moment)
        elif record_opt_out(db, borrower.id, channel, moment, SOURCE):
            cancel_scheduled(db, borrower.id, channel, "opted_out")
    db.execute(delete(QuietHours).where(QuietHours.borrower_id == borrower.id))
    db.add_all(
        QuietHours(
            borrower_id=borrower.id,
            days=day_bits(window.days),
            start_minute=window.start,
            end_minute=window.end,
            set_at=moment,
        )
        for window in choice.quiet
    )
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="contact_preferences_set",
            actor="borrower",
            at=moment,
            data={"before": before.as_data(), "after": choice.as_data()},
        )
    )
    db.commit()
    return True
