"""SMS borrowers send us: a reply of STOP (or 退訂, 退订...) opts them out of SMS.

The SMS provider is in Twilio's shape (``portal.messaging.providers.HttpSms``), so its
inbound webhook is too: a form-encoded POST (``From``, ``To``, ``Body``, ``MessageSid``
and more), signed in ``X-Twilio-Signature`` with the account's auth token as Twilio
documents (``twilio_signature``). The web layer checks the signature; ``receive`` then
acts on a delivery once, by its ``MessageSid`` (``inbound_sms``).

A stop keyword (``negotiation.replies``) opts every borrower whose stored phone is the
sender's number out of SMS, through the same opt-out as a message's link
(``service.opt_out``, source ``sms_reply``): what is scheduled to them by SMS is
cancelled, and the contact gate refuses SMS from then on. Email, calls and letters are
untouched; lifting the opt-out is an agent's, with the borrower's consent, as for any
other. Any other text changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from negotiation.replies import asks_to_stop, national_forms, phone_digits
from portal.messaging import service
from portal.models import Borrower, InboundSms

log = logging.getLogger(__name__)

# How an opt-out made by replying to an SMS is recorded (``opt_outs.source``).
SOURCE = "sms_reply"
# The shortest sender taken for a phone number: short codes and alphanumeric senders
# (a carrier's own messages) never name a borrower.
MIN_DIGITS = 7


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: the base64 HMAC-SHA1, with the auth token, of the
    full URL Twilio requested followed by each POST parameter's name and value, sorted
    by name (then value, for a name given twice)."""
    joined = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode("utf-8"), joined.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def twilio_signed(token: str, url: str, params: Iterable[tuple[str, str]], signature: str) -> bool:
    """Whether Twilio signed the request (compared in constant time); never without a
    token."""
    if not token or not signature:
        return False
    expected = twilio_signature(token, url, params)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


@dataclass(frozen=True)
class Received:
    """What one inbound SMS did: ``duplicate`` when its id was seen before (nothing was
    done again), ``stop`` when it asked to stop, ``opted_out`` how many borrowers it
    newly opted out."""

    duplicate: bool
    stop: bool
    opted_out: int


def borrowers_with_phone(db: Session, sender: str) -> list[int]:
    """The borrowers whose stored phone is ``sender`` (an international number, as the
    provider gives it): the same digits, or the same number written the local way by a
    borrower of that country (``0912 345 678`` for ``+886912345678``)."""
    digits = phone_digits(sender)
    if len(digits) < MIN_DIGITS:
        return []
    stored = Borrower.__table__.c.phone_digits
    matches = [stored == digits]
    for jurisdiction, forms in national_forms(digits):
        matches.append(and_(Borrower.jurisdiction.startswith(jurisdiction), stored.in_(forms)))
    return list(db.scalars(select(Borrower.id).where(or_(*matches)).order_by(Borrower.id)))


def receive(db: Session, message_sid: str, sender: str, body: str, moment: datetime) -> Received:
    """Act on one inbound SMS once: a stop keyword opts every borrower with the sender's
    number out of SMS. Commits. A ``message_sid`` seen before does nothing."""
    if db.scalar(select(exists().where(InboundSms.message_sid == message_sid))):
        return Received(duplicate=True, stop=False, opted_out=0)
    stop = asks_to_stop(body)
    added = 0
    if stop:
        # Each opt-out commits on its own and is idempotent: were this cut short, the
        # provider's retry (its id not yet recorded) finishes the rest.
        for borrower_id in borrowers_with_phone(db, sender):
            added += int(service.opt_out(db, borrower_id, Channel.SMS, moment, source=SOURCE))
    db.add(InboundSms(message_sid=message_sid, received_at=moment, stop=stop, opted_out=added))
    try:
        db.commit()
    except IntegrityError:
        # The same message delivered twice at once: the other delivery recorded it (and
        # the opt-outs, being idempotent, were made once).
        db.rollback()
        return Received(duplicate=True, stop=stop, opted_out=0)
    if stop:
        log.info("inbound SMS %s asked to stop: %d borrower(s) opted out", message_sid, added)
    return Received(duplicate=False, stop=stop, opted_out=added)
