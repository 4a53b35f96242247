"""The addresses a message carries: the borrower's reminder link and the opt-out link.

Messages are composed in a request (an agent's send) or outside one (the scheduled
sender), and their links must name the borrower-facing site, not whatever host the
agent's console answers on: ``HAOHUAN_PUBLIC_URL`` says which, falling back to the
request's own host, then to the development server.

An opt-out link names a borrower and a channel, signed with the app's secret (and its
fallbacks, so rotating the secret does not break the links in messages already sent).
It never expires: an opt-out must work from any old message. It grants nothing but
stopping messages, so it needs no verification; a tampered one names nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from itsdangerous import BadSignature, URLSafeSerializer

from negotiation.contact import Channel
from portal.core import settings

DEVELOPMENT_URL = "http://127.0.0.1:5000/"
OPT_OUT_SALT = "haohuan.opt-out"
# One letter per channel keeps the token, and so the SMS, short.
CHANNEL_CODES = {Channel.SMS: "s", Channel.EMAIL: "e", Channel.LINE: "l", Channel.WECHAT: "w"}
CODE_CHANNELS = {code: channel for channel, code in CHANNEL_CODES.items()}


def public_base() -> str:
    """The borrower-facing site's base URL, ending in a slash."""
    configured = settings.current().public_url
    if configured:
        return configured.rstrip("/") + "/"
    if has_request_context():
        return request.host_url
    return DEVELOPMENT_URL


def public_url(endpoint: str, **values: object) -> str:
    """The full URL of a borrower-facing page, built from the app's routes."""
    parts = urlsplit(public_base())
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def reminder_url(token: str) -> str:
    """The reminder link that opens the borrower's case (and offer, if it carries one)."""
    return public_url("borrower.open_link", token=token)


def _serializer() -> URLSafeSerializer:
    keys = [*(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.secret_key]
    # itsdangerous signs with the last key and accepts any of them.
    return URLSafeSerializer(keys, salt=OPT_OUT_SALT)


def opt_out_token(borrower_id: int, channel: Channel) -> str:
    """The signed token of one borrower's opt-out of one message channel."""
    return str(_serializer().dumps([borrower_id, CHANNEL_CODES[channel]]))


@dataclass(frozen=True)
class OptOutRequest:
    """Whom an opt-out token names, and for which channel."""

    borrower_id: int
    channel: Channel


def read_opt_out_token(token: str) -> OptOutRequest | None:
    """The opt-out a token names, or None when it was not signed by us."""
    if len(token) > 200:
        return None
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or isinstance(value[0], bool)
        or value[1] not in CODE_CHANNELS
    ):
        return None
    return OptOutRequest(value[0], CODE_CHANNELS[value[1]])


def opt_out_url(borrower_id: int, channel: Channel) -> str:
    """The opt-out page for one borrower and channel."""
    return public_url("optout.confirm", token=opt_out_token(borrower_id, channel))


# A link's token in a message's words: a reminder link (/r/...) or an opt-out (/opt-out/...).
TOKEN_IN_LINK = re.compile(r"(/(?:r|opt-out)/)[A-Za-z0-9_.-]+")
TOKEN_HIDDEN = "…"  # noqa: S105 (a placeholder, not a secret)


def hide_link_tokens(text: str) -> str:
    """``text`` with every link's token replaced by "…": a reminder link opens the
    borrower's case, so its token is as personal as their name."""
    return TOKEN_IN_LINK.sub(lambda match: match.group(1) + TOKEN_HIDDEN, text)
