"""LINE and WeChat accounts, linked by the borrower with their explicit consent.

Nobody is messaged on a chat app before they link it, and the link is theirs alone:

1. From the portal's contact page (a verified session), the borrower ticks the consent
   and asks to link LINE or WeChat (``request_link``): a ``pending`` row records the
   consent's time and the terms' version (and a case event says so), and a one-time
   linking token is drawn; only its hash is kept. The page shows the token as a link
   (LINE's ``oaMessage`` link, which opens our official account with the token typed in)
   and as a code to send.
2. The borrower sends it from the app; the platform's webhook, signed with our channel
   secret (LINE: ``X-Line-Signature``, an HMAC-SHA256 of the body; WeChat: the SHA1 of
   our token, the timestamp and the nonce), names the account that sent it
   (``confirm_link``): the row becomes ``linked`` with the platform's id (LINE's userId,
   WeChat's openid). A token is used once, within ``LINK_VALID``; anything else changes
   nothing.
3. One click on the contact page (``unlink``), or unfollowing the account on the
   platform (``unlink_account``), ends the link: what is scheduled on the channel is
   cancelled, and nothing more goes there.

A linked channel is still a message channel like SMS: the contact gate's hours, caps,
holidays, holds and opt-outs decide each message (``portal.messaging.service``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.contact.gate import cancel_scheduled, lift_opt_out
from portal.core.clock import as_utc
from portal.core.db import lock_row
from portal.core.hashing import new_token, token_hash
from portal.messaging.providers import SendError
from portal.models import Borrower, Case, CaseEvent, CaseStatus, ChatAccount, ChatLinkStatus, Loan

log = logging.getLogger(__name__)

# How long a linking token may be used after the borrower asked for it.
LINK_VALID = timedelta(minutes=30)
# How far a WeChat message's timestamp may be from our clock (its signature does not
# cover the body, so an old signature is not accepted again later).
WECHAT_CLOCK_SKEW = timedelta(minutes=5)
# Who ended a link.
BY_BORROWER = "borrower_portal"
BY_PLATFORM = "platform"
EXPIRED = "expired"


def linked_accounts(
    db: Session | None, borrower_ids: Iterable[int]
) -> dict[tuple[int, Channel], str]:
    """The chat accounts the borrowers have linked: the platform's id of each, by
    borrower and channel."""
    wanted = sorted(set(borrower_ids))
    if db is None or not wanted:
        return {}
    rows = db.execute(
        select(ChatAccount.borrower_id, ChatAccount.channel, ChatAccount.account_id).where(
            ChatAccount.borrower_id.in_(wanted), ChatAccount.status == ChatLinkStatus.LINKED
        )
    )
    return {
        (borrower_id, Channel(channel)): account
        for borrower_id, channel, account in rows
        if account
    }


def accounts_of(db: Session, borrower_id: int) -> dict[Channel, ChatAccount]:
    """The borrower's latest chat account row on each chat channel (linked, pending or
    ended), for the contact page."""
    rows = db.scalars(
        select(ChatAccount)
        .where(ChatAccount.borrower_id == borrower_id)
        .order_by(ChatAccount.requested_at, ChatAccount.id)
    )
    return {Channel(row.channel): row for row in rows}


def _event(
    db: Session, borrower_id: int, kind: str, moment: datetime, data: dict[str, object]
) -> None:
    """A case event on each of the borrower's open cases (the agents' timelines)."""
    case_ids = db.scalars(
        select(Case.id)
        .join(Loan, Loan.id == Case.loan_id)
        .where(Loan.borrower_id == borrower_id, Case.status != CaseStatus.RESOLVED)
    ).all()
    db.add_all(
        CaseEvent(case_id=case_id, kind=kind, actor="borrower", at=moment, data=data)
        for case_id in case_ids
    )


def request_link(
    db: Session, case: Case, channel: Channel, moment: datetime, terms_version: str
) -> str:
    """Record the borrower's consent to be messaged on ``channel`` and draw a one-time
    linking token (returned, never stored). An earlier pending request on the channel
    is ended. Commits."""
    if not channel.is_chat:
        raise ValueError(f"{channel} is not a chat channel")
    borrower_id = case.loan.borrower_id
    lock_row(db, Borrower, borrower_id)
    for row in db.scalars(
        select(ChatAccount).where(
            ChatAccount.borrower_id == borrower_id,
            ChatAccount.channel == channel.value,
            ChatAccount.status == ChatLinkStatus.PENDING,
        )
    ):
        row.status = ChatLinkStatus.UNLINKED
        row.token_hash = None
        row.unlinked_at = moment
        row.unlinked_by = EXPIRED
    token = new_token()
    db.add(
        ChatAccount(
            borrower_id=borrower_id,
            channel=channel.value,
            status=ChatLinkStatus.PENDING,
            token_hash=token_hash(token),
            requested_at=moment,
            expires_at=moment + LINK_VALID,
            consented_at=moment,
            terms_version=terms_version,
        )
    )
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="chat_consent",
            actor="borrower",
            at=moment,
            data={"channel": channel.value, "terms_version": terms_version},
        )
    )
    db.commit()
    return token


def confirm_link(
    db: Session, channel: Channel, token: str, account_id: str, moment: datetime
) -> bool:
    """Link the account ``account_id`` (LINE's userId, WeChat's openid) to the borrower
    whose pending request drew ``token``: the platform's webhook said that account sent
    it. False, nothing changed, for an unknown, used or expired token, or an account
    linked to another borrower already. Linking is the borrower's own say: it lifts an
    opt-out of the channel. Commits."""
    account_id = account_id.strip()
    if not channel.is_chat or not token or len(token) > 100 or not 0 < len(account_id) <= 64:
        return False
    row = db.scalars(
        select(ChatAccount).where(
            ChatAccount.token_hash == token_hash(token),
            ChatAccount.channel == channel.value,
            ChatAccount.status == ChatLinkStatus.PENDING,
        )
    ).first()
    if row is None:
        db.rollback()
        return False
    borrower_id = row.borrower_id
    lock_row(db, Borrower, borrower_id)
    db.refresh(row)
    if row.status != ChatLinkStatus.PENDING or as_utc(row.expires_at) <= moment:
        db.rollback()
        return False
    taken = db.scalar(
        select(ChatAccount.id).where(
            ChatAccount.channel == channel.value,
            ChatAccount.account_id == account_id,
            ChatAccount.status == ChatLinkStatus.LINKED,
            ChatAccount.borrower_id != borrower_id,
        )
    )
    if taken is not None:
        # One app account, one borrower: another's reminders must never reach it.
        db.rollback()
        return False
    for old in db.scalars(
        select(ChatAccount).where(
            ChatAccount.borrower_id == borrower_id,
            ChatAccount.channel == channel.value,
            ChatAccount.status == ChatLinkStatus.LINKED,
        )
    ):
        old.status = ChatLinkStatus.UNLINKED
        old.unlinked_at = moment
        old.unlinked_by = BY_BORROWER
    row.status = ChatLinkStatus.LINKED
    row.account_id = account_id
    row.linked_at = moment
    row.token_hash = None
    lift_opt_out(db, borrower_id, channel, moment)
    _event(db, borrower_id, "chat_linked", moment, {"channel": channel.value})
    try:
        db.commit()
    except IntegrityError:
        # Another borrower's request linked the same account at the same moment (each
        # held only their own row's lock): the unique index on linked accounts refused
        # this one, as the check above would have.
        db.rollback()
        return False
    return True


def _end(db: Session, rows: list[ChatAccount], moment: datetime, by: str) -> int:
    for row in rows:
        row.status = ChatLinkStatus.UNLINKED
        row.token_hash = None
        row.unlinked_at = moment
        row.unlinked_by = by
    for borrower_id, channel in {(row.borrower_id, Channel(row.channel)) for row in rows}:
        cancel_scheduled(db, borrower_id, channel, "unlinked")
        _event(db, borrower_id, "chat_unlinked", moment, {"channel": channel.value, "by": by})
    return len(rows)


def unlink(db: Session, borrower_id: int, channel: Channel, moment: datetime) -> bool:
    """End the borrower's link (and any pending request) on ``channel``, from the
    portal; what is scheduled there is cancelled. False when there was none. Commits."""
    lock_row(db, Borrower, borrower_id)
    rows = list(
        db.scalars(
            select(ChatAccount).where(
                ChatAccount.borrower_id == borrower_id,
                ChatAccount.channel == channel.value,
                ChatAccount.status != ChatLinkStatus.UNLINKED,
            )
        )
    )
    ended = _end(db, rows, moment, BY_BORROWER)
    db.commit()
    return bool(ended)


def unlink_account(db: Session, channel: Channel, account_id: str, moment: datetime) -> int:
    """The account unfollowed us on the platform (LINE's "unfollow", WeChat's
    "unsubscribe"): end every link to it. How many. Commits."""
    rows = list(
        db.scalars(
            select(ChatAccount).where(
                ChatAccount.channel == channel.value,
                ChatAccount.account_id == account_id,
                ChatAccount.status == ChatLinkStatus.LINKED,
            )
        )
    )
    for borrower_id in sorted({row.borrower_id for row in rows}):
        lock_row(db, Borrower, borrower_id)
    ended = _end(db, rows, moment, BY_PLATFORM)
    db.commit()
    return ended


def wechat_scene_qr(sender: object, token: str) -> str | None:
    """What the WeChat linking page's QR code holds: a parametric QR code of the
    account carrying ``token`` as its scene (scanning it follows us and links), from
    WeChat's API; None with the outbox (or when WeChat does not answer): the page then
    shows the code to send."""
    make = getattr(sender, "scene_qr", None)
    if make is None:
        return None
    try:
        found = make(token, int(LINK_VALID.total_seconds()))
    except SendError as error:
        log.warning("no WeChat QR code for a link: %s", error.reason)
        return None
    return str(found)


# Webhook signatures ---------------------------------------------------------------------


def line_signature(secret: str, body: bytes) -> str:
    """LINE's ``X-Line-Signature`` of ``body``: the HMAC-SHA256 with the channel secret,
    base64."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def line_signed(secret: str, body: bytes, signature: str) -> bool:
    """Whether LINE signed ``body`` (compared in constant time); never without a secret."""
    return bool(secret) and hmac.compare_digest(line_signature(secret, body), signature or "")


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's ``signature``: the SHA1 of the token, timestamp and nonce, sorted and
    joined, as its server verification documents."""
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 (WeChat's own scheme)


def wechat_signed(token: str, timestamp: str, nonce: str, signature: str, moment: datetime) -> bool:
    """Whether WeChat signed the request (and recently: the signature does not cover the
    body, so a stale one is refused); never without a token."""
    # Ten digits reach the year 2286; a longer number is no moment datetime can hold.
    if not token or not timestamp.isdigit() or len(timestamp) > 10 or len(nonce) > 64:
        return False
    sent = datetime.fromtimestamp(int(timestamp), tz=moment.tzinfo)
    if abs(sent - moment) > WECHAT_CLOCK_SKEW:
        return False
    return hmac.compare_digest(wechat_signature(token, timestamp, nonce), signature or "")
