"""The demo's LINE borrower (issue 20): 黃淑芬 ticked the consent box on her contact page
yesterday morning and linked the lender's LINE official account, through the chat
service's own steps, and the reminder that followed went to LINE through the same gate,
caps and opt-outs as an SMS. With the outbox provider (the demo's), nothing leaves the
machine: the message row is what the agent console's outbox shows.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.messaging import chat
from portal.messaging.service import send_message
from portal.models import Borrower, Case, ChatAccount, Loan

LINE_BORROWER = "B-00003"  # 黃淑芬, nine days behind on a TWD loan
# A LINE userId's shape (U and 32 hex digits); the demo's own, no real account.
LINE_USER = "U" + "4a6f" * 8
TERMS_VERSION = "2026-12"
ACTOR = "demo"  # who sent it, as the console shows it


def seed_line_borrower(db: Session, now: datetime) -> Case | None:
    """Link the demo borrower's LINE account and send her a reminder there (or keep it
    for the first moment the rules allow). None when she is linked already (a re-run adds
    nothing) or not in this database. Commits."""
    case = db.scalars(
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.reference == LINE_BORROWER)
    ).first()
    if case is None:
        return None
    if db.scalar(select(ChatAccount.id).where(ChatAccount.account_id == LINE_USER)):
        return None
    zone = ZoneInfo(case.loan.borrower.timezone)
    yesterday = (now.astimezone(zone) - timedelta(days=1)).date()
    consented = datetime.combine(yesterday, time(9, 30), zone)
    token = chat.request_link(db, case, Channel.LINE, consented, TERMS_VERSION)
    # LINE's webhook: the account the token was typed into, a minute later.
    chat.confirm_link(db, Channel.LINE, token, LINE_USER, consented + timedelta(minutes=1))
    send_message(
        db,
        case,
        Channel.LINE,
        actor=ACTOR,
        moment=consented + timedelta(minutes=30),
        schedule=True,
    )
    return case
