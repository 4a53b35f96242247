"""The senders of SMS and email, behind two small interfaces, chosen by configuration.

``SMS_PROVIDER``: ``outbox`` (the default: nothing leaves the machine; the stored
message row is the outbox the agent console shows) or ``http`` (Twilio's Messages API
shape: a form-encoded POST with HTTP basic auth, answered with JSON carrying the
message's ``sid``; any provider that speaks it, or a gateway in front of another one).

``EMAIL_PROVIDER``: ``outbox`` (the default) or ``smtp`` (STARTTLS, implicit TLS or
plain, with optional authentication).

``LINE_PROVIDER``: ``outbox`` (the default) or ``http`` (the LINE Messaging API's push
endpoint: ``POST {LINE_API_URL}/v2/bot/message/push`` with the channel access token as a
bearer token, a JSON body, and an ``X-Line-Retry-Key`` that LINE uses to accept a
retried request only once). ``WECHAT_PROVIDER``: ``outbox`` or ``http`` (a WeChat
service account's template message, ``POST {WECHAT_API_URL}/cgi-bin/message/template/send``
with an access token fetched from ``/cgi-bin/token`` and kept until it expires).

Every call to a provider has a timeout, and every failure is a ``SendError`` with a
``SendFailure`` code (the console words it in the reader's language) and, where the
provider said something useful (its status and error code), a short technical detail:
never the message body, never a credential. ``SendError.certain`` says
whether the provider certainly did not take the message: a refusal (HTTP 4xx, an SMTP
5xx) is certain; a timeout after the request went out is not, because the provider may
have accepted it before the answer was lost.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
import uuid
from dataclasses import dataclass, field
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

# smtplib, urllib.request and the email package's header classes are imported by the
# sends that use them: a web worker with the outbox providers, the default, never sends,
# and every worker would otherwise carry smtplib and the headers (with argon2's, left to
# the password checks, 0.8 MiB of a worker's RSS; urllib.request comes with Flask-WTF).
if TYPE_CHECKING:
    import smtplib
    import urllib.error
    from email.message import EmailMessage

# How long one call to a provider may take before it is given up.
DEFAULT_TIMEOUT = 10.0
# The most of a provider's error text kept on a failed message.
REASON_LENGTH = 300


class SendFailure(StrEnum):
    """Why a provider did not take a message: a code, worded where it is shown."""

    SMS_TIMEOUT = "sms_timeout"  # no answer in time: it may have been sent
    SMS_UNREACHABLE = "sms_unreachable"  # not reached at all: certainly not sent
    SMS_REFUSED = "sms_refused"  # an HTTP 4xx: the provider said no
    SMS_PROVIDER_ERROR = "sms_provider_error"  # an HTTP 5xx: it may have been sent
    SMS_NO_REFERENCE = "sms_no_reference"  # an answer without a reference
    CHAT_TIMEOUT = "chat_timeout"  # LINE or WeChat: no answer in time
    CHAT_UNREACHABLE = "chat_unreachable"
    CHAT_REFUSED = "chat_refused"  # an HTTP 4xx, or WeChat's non-zero errcode
    CHAT_PROVIDER_ERROR = "chat_provider_error"  # an HTTP 5xx
    CHAT_NO_REFERENCE = "chat_no_reference"
    MAIL_TIMEOUT = "mail_timeout"
    MAIL_UNREACHABLE = "mail_unreachable"
    MAIL_REFUSED = "mail_refused"  # an SMTP 4xx or 5xx
    MAIL_RECIPIENT_REFUSED = "mail_recipient_refused"


class SendError(Exception):
    """A provider did not take a message. ``reason`` is what is stored on the message:
    the ``failure`` code, then after ": " any technical ``detail`` (the provider's status
    and error code), short and safe to store. ``certain`` is False when the provider may
    have taken it after all (a timeout)."""

    def __init__(self, failure: SendFailure, detail: str = "", *, certain: bool = True) -> None:
        reason = f"{failure.value}: {detail}" if detail else failure.value
        super().__init__(reason)
        self.failure = failure
        self.reason = reason[:REASON_LENGTH]
        self.certain = certain


class ConfigError(ValueError):
    """The message providers' configuration cannot work."""


class SmsProvider(Protocol):
    """Sends one SMS. Returns the provider's reference; raises ``SendError``."""

    @property
    def name(self) -> str:
        """Which provider it is, for the message's record."""

    def send(self, to: str, body: str, reference: str) -> str:
        """Send ``body`` to the phone number ``to``; ``reference`` is ours (the
        message's id), for the provider's records and for ours."""
        ...


class ChatSender(Protocol):
    """Sends one chat message (LINE, WeChat) to a linked account. Returns the provider's
    reference; raises ``SendError``."""

    @property
    def name(self) -> str:
        """Which provider it is, for the message's record."""

    def send(self, to: str, text: str, link: str, reference: str) -> str:
        """Send ``text`` to the platform's id of the borrower ``to``; ``link`` is the
        reminder link the text carries (a template message opens it when tapped);
        ``reference`` is ours (the message's id)."""
        ...


@dataclass(frozen=True)
class Email:
    """One email as composed: who to, what, and how to stop receiving them."""

    to: str
    subject: str
    text: str
    html: str | None
    unsubscribe_url: str
    reference: str
    to_name: str | None = None


class EmailSender(Protocol):
    """Sends one email. Returns its Message-ID (or the provider's reference); raises
    ``SendError``."""

    @property
    def name(self) -> str:
        """Which provider it is, for the message's record."""

    def send(self, email: Email) -> str:
        """Send ``email``."""
        ...


class OutboxSms:
    """Keeps SMS in the outbox: the stored message is the only copy, shown in the agent
    console (where a demonstration opens its link). Nothing leaves the machine."""

    name = "outbox"

    def send(self, to: str, body: str, reference: str) -> str:
        """Accept the message at once."""
        return f"outbox-{reference}"


class OutboxEmail:
    """Keeps email in the outbox, like ``OutboxSms``."""

    name = "outbox"

    def send(self, email: Email) -> str:
        """Accept the message at once."""
        return f"outbox-{email.reference}"


class OutboxChat:
    """Keeps LINE and WeChat messages in the outbox, like ``OutboxSms``."""

    name = "outbox"

    def send(self, to: str, text: str, link: str, reference: str) -> str:
        """Accept the message at once."""
        return f"outbox-{reference}"


def e164(phone: str) -> str:
    """A phone number as providers want it (E.164): the plus and the digits only."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits


@dataclass(frozen=True)
class HttpSms:
    """An SMS provider over HTTP in Twilio's Messages API shape.

    ``url`` is the full endpoint (Twilio's is
    ``https://api.twilio.com/2010-04-01/Accounts/<AccountSid>/Messages.json``); with an
    ``account``, the request authenticates with HTTP basic auth (account and token, as
    Twilio does), without one with ``Authorization: Bearer <token>``. The body is
    form-encoded ``To``, ``From`` (``sender``: a number or an alphanumeric sender id)
    and ``Body``; the answer is JSON whose ``sid`` (or ``id``) is the reference.
    """

    url: str
    token: str
    sender: str
    account: str = ""
    timeout: float = DEFAULT_TIMEOUT
    name: str = "http"

    def _authorization(self) -> str:
        if self.account:
            pair = f"{self.account}:{self.token}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return f"Bearer {self.token}"

    def send(self, to: str, body: str, reference: str) -> str:
        """POST the message; a 2xx answer with a reference means it was accepted."""
        import urllib.error
        import urllib.request

        data = urllib.parse.urlencode({"To": e164(to), "From": self.sender, "Body": body})
        request = urllib.request.Request(  # noqa: S310 (the URL is configured, checked at start)
            self.url,
            data=data.encode("utf-8"),
            method="POST",
            headers={
                "Authorization": self._authorization(),
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
                "User-Agent": "haohuan-sms/1",
                # Ours, for the provider's logs: which message this was. Twilio ignores
                # it; it is never used to decide anything.
                "X-Haohuan-Reference": reference,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = _json(response.read())
        except urllib.error.HTTPError as error:
            certain = error.code < 500
            failure = SendFailure.SMS_REFUSED if certain else SendFailure.SMS_PROVIDER_ERROR
            raise SendError(failure, _http_reason(error), certain=certain) from None
        except TimeoutError:
            raise SendError(SendFailure.SMS_TIMEOUT, certain=False) from None
        except urllib.error.URLError as error:
            # Refused or unresolvable before anything was sent: certainly not taken.
            cause = error.reason
            if isinstance(cause, TimeoutError):
                raise SendError(SendFailure.SMS_TIMEOUT, certain=False) from None
            raise SendError(SendFailure.SMS_UNREACHABLE, type(cause).__name__) from None
        found = answer.get("sid") or answer.get("id") or answer.get("message_id")
        if not isinstance(found, str) or not found:
            raise SendError(SendFailure.SMS_NO_REFERENCE, certain=False)
        return found[:128]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _http_reason(error: urllib.error.HTTPError) -> str:
    """Twilio answers errors as JSON ``{"code": 21211, "message": "..."}``; others may
    not, so the status alone is the fallback."""
    try:
        answer = _json(error.read())
    except OSError:
        answer = {}
    found = [
        f"code {answer['code']}" if answer.get("code") else "",
        str(answer.get("message") or ""),
    ]
    detail = ", ".join(part for part in found if part)
    return f"HTTP {error.code}: {detail}" if detail else f"HTTP {error.code}"


# LINE's retry keys are UUIDs; ours are derived from the message's id, so every attempt
# to send one message (a retry here, or after a restart) carries the same key.
RETRY_KEY_NAMESPACE = uuid.UUID("6f1d9a52-7c1e-4d8a-9b8e-2f0c5a4e3b71")
# How often a LINE send is tried when the answer is lost or LINE errs (the retry key
# makes a repeat harmless: LINE answers 409 to a key it already accepted).
LINE_ATTEMPTS = 3


def retry_key(reference: str) -> str:
    """The ``X-Line-Retry-Key`` of our message ``reference``: the same for every try."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"haohuan-message-{reference}"))


@dataclass(frozen=True)
class LinePush:
    """LINE messages through the Messaging API's push endpoint.

    ``base`` is the API's origin (``https://api.line.me``); the request is ``POST
    {base}/v2/bot/message/push`` with ``Authorization: Bearer <channel access token>``
    and the JSON body ``{"to": userId, "messages": [{"type": "text", "text": ...}]}``.
    Each message carries an ``X-Line-Retry-Key`` made from its id: when the answer is
    lost (a timeout) or LINE answers 5xx, the same request is sent again with the same
    key, and LINE delivers it at most once (a 409 says it had accepted it already:
    sent). So, unlike SMS, an uncertain first try does not leave the message unknown.
    """

    base: str
    token: str
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = LINE_ATTEMPTS
    name: str = "line"

    def send(self, to: str, text: str, link: str, reference: str) -> str:
        """POST the message, retrying an uncertain outcome with the same retry key."""
        import urllib.error
        import urllib.request

        body = json.dumps(
            {"to": to, "messages": [{"type": "text", "text": text}]}, ensure_ascii=False
        ).encode("utf-8")
        key = retry_key(reference)
        last: SendError | None = None
        for _attempt in range(max(1, self.attempts)):
            request = urllib.request.Request(  # noqa: S310 (the URL is configured, checked at start)
                self.base.rstrip("/") + "/v2/bot/message/push",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "haohuan-line/1",
                    "X-Line-Retry-Key": key,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    answer = _json(response.read())
                    request_id = response.headers.get("x-line-request-id") or ""
            except urllib.error.HTTPError as error:
                if error.code == 409:
                    # The key was accepted before (our earlier try got through).
                    accepted = error.headers.get("x-line-accepted-request-id") or key
                    return str(accepted)[:128]
                if error.code < 500:
                    raise SendError(SendFailure.CHAT_REFUSED, _line_reason(error)) from None
                last = SendError(
                    SendFailure.CHAT_PROVIDER_ERROR, f"HTTP {error.code}", certain=False
                )
                continue
            except TimeoutError:
                last = SendError(SendFailure.CHAT_TIMEOUT, certain=False)
                continue
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    last = SendError(SendFailure.CHAT_TIMEOUT, certain=False)
                    continue
                if last is not None:
                    # An earlier try may have got through: still uncertain.
                    raise last from None
                raise SendError(SendFailure.CHAT_UNREACHABLE, type(error.reason).__name__) from None
            sent = answer.get("sentMessages")
            found = (
                sent[0].get("id")
                if isinstance(sent, list) and sent and isinstance(sent[0], dict)
                else None
            )
            found = found or request_id
            if not isinstance(found, str) or not found:
                raise SendError(SendFailure.CHAT_NO_REFERENCE, certain=False)
            return found[:128]
        assert last is not None  # noqa: S101 (the loop ran at least once and failed)
        raise last


def _line_reason(error: urllib.error.HTTPError) -> str:
    """LINE answers errors as JSON ``{"message": "..."}``: kept with the status."""
    try:
        answer = _json(error.read())
    except OSError:
        answer = {}
    message = str(answer.get("message") or "")
    return f"HTTP {error.code}: {message}" if message else f"HTTP {error.code}"


# WeChat's errcodes that say the access token is no longer good: the next send fetches
# a new one.
WECHAT_TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Fetch a new WeChat access token this long before the one held expires.
WECHAT_TOKEN_MARGIN = 300


class WechatTemplate:
    """WeChat messages as a service account's template messages.

    ``POST {base}/cgi-bin/message/template/send?access_token=...`` with the JSON body
    ``{"touser": openid, "template_id": ..., "url": link, "data": {...}}``, answered
    ``{"errcode": 0, "errmsg": "ok", "msgid": ...}``; a non-zero ``errcode`` is a
    refusal. The access token comes from ``GET {base}/cgi-bin/token`` (the app id and
    secret) and is kept until shortly before it expires. WeChat takes no idempotency
    key, so, as for SMS, a send whose answer is lost is never repeated: at most once.
    The template's ``data`` holds the discreet words: ``first`` (the opening), ``remark``
    (how to stop), and the link as the message's ``url``.
    """

    name = "wechat"

    def __init__(
        self,
        base: str,
        app_id: str,
        secret: str,
        template_id: str,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Any = None,
    ) -> None:
        import threading
        import time

        self.base = base.rstrip("/")
        self.app_id = app_id
        self._secret = secret
        self.template_id = template_id
        self.timeout = timeout
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    def _access_token(self) -> str:
        import urllib.error
        import urllib.request

        with self._lock:
            if self._token and self._clock() < self._expires:
                return self._token
            query = urllib.parse.urlencode(
                {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            )
            try:
                with urllib.request.urlopen(  # noqa: S310 (the URL is configured, checked at start)
                    f"{self.base}/cgi-bin/token?{query}", timeout=self.timeout
                ) as response:
                    answer = _json(response.read())
            except urllib.error.HTTPError as error:
                raise SendError(SendFailure.CHAT_REFUSED, f"token: HTTP {error.code}") from None
            except TimeoutError:
                # Nothing was sent yet: certainly not delivered.
                raise SendError(SendFailure.CHAT_TIMEOUT, "token") from None
            except urllib.error.URLError as error:
                raise SendError(SendFailure.CHAT_UNREACHABLE, type(error.reason).__name__) from None
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise SendError(SendFailure.CHAT_REFUSED, f"token: errcode {answer.get('errcode')}")
            lifetime = answer.get("expires_in")
            seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else 7200
            self._token = token
            self._expires = self._clock() + max(0, seconds - WECHAT_TOKEN_MARGIN)
            return token

    def _forget_token(self) -> None:
        with self._lock:
            self._token = ""
            self._expires = 0.0

    def scene_qr(self, scene: str, seconds: int) -> str:
        """A temporary parametric QR code's content (``POST {base}/cgi-bin/qrcode/create``,
        ``QR_STR_SCENE``): scanned in WeChat, it follows the account and sends us a
        ``subscribe`` or ``SCAN`` event carrying ``scene``. Raises ``SendError``."""
        import urllib.error
        import urllib.request

        body = json.dumps(
            {
                "expire_seconds": seconds,
                "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}},
            }
        ).encode("utf-8")
        query = urllib.parse.urlencode({"access_token": self._access_token()})
        request = urllib.request.Request(  # noqa: S310 (the URL is configured, checked at start)
            f"{self.base}/cgi-bin/qrcode/create?{query}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = _json(response.read())
        except (urllib.error.URLError, TimeoutError) as error:
            raise SendError(SendFailure.CHAT_UNREACHABLE, type(error).__name__) from None
        found = answer.get("url")
        if answer.get("errcode", 0) != 0 or not isinstance(found, str) or not found:
            raise SendError(SendFailure.CHAT_REFUSED, f"errcode {answer.get('errcode')}")
        return found

    def _post_template(self, body: bytes) -> dict[str, Any]:
        """One POST of a template message with the token held; WeChat's JSON answer."""
        import urllib.error
        import urllib.request

        query = urllib.parse.urlencode({"access_token": self._access_token()})
        request = urllib.request.Request(  # noqa: S310 (the URL is configured, checked at start)
            f"{self.base}/cgi-bin/message/template/send?{query}",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "haohuan-wechat/1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = _json(response.read())
        except urllib.error.HTTPError as error:
            certain = error.code < 500
            failure = SendFailure.CHAT_REFUSED if certain else SendFailure.CHAT_PROVIDER_ERROR
            raise SendError(failure, f"HTTP {error.code}", certain=certain) from None
        except TimeoutError:
            raise SendError(SendFailure.CHAT_TIMEOUT, certain=False) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise SendError(SendFailure.CHAT_TIMEOUT, certain=False) from None
            raise SendError(SendFailure.CHAT_UNREACHABLE, type(error.reason).__name__) from None
        return answer

    def send(self, to: str, text: str, link: str, reference: str) -> str:
        """POST the template message; errcode 0 with a msgid means it was accepted."""
        lines = text.split("\n")
        # The template's fields: the opening line first, the rest (the opt-out) as remark.
        first = lines[0]
        remark = "\n".join(line for line in lines[1:] if line != link)
        body = json.dumps(
            {
                "touser": to,
                "template_id": self.template_id,
                "url": link,
                "data": {"first": {"value": first}, "remark": {"value": remark}},
            },
            ensure_ascii=False,
        ).encode("utf-8")
        answer = self._post_template(body)
        if answer.get("errcode", 0) in WECHAT_TOKEN_ERRORS:
            # The token was refused, so the message was not taken: once more with a new
            # one (another process fetching its own token voids ours before it expires).
            self._forget_token()
            answer = self._post_template(body)
        code = answer.get("errcode", 0)
        if code != 0:
            if code in WECHAT_TOKEN_ERRORS:
                self._forget_token()
            # errmsg is WeChat's own short text (never ours: no body, no token in it).
            detail = f"errcode {code}: {str(answer.get('errmsg') or '')[:80]}"
            raise SendError(SendFailure.CHAT_REFUSED, detail) from None
        found = answer.get("msgid")
        if found is None or isinstance(found, bool) or not str(found):
            raise SendError(SendFailure.CHAT_NO_REFERENCE, certain=False)
        return str(found)[:128]


SECURITIES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpEmail:
    """Email through an SMTP server: ``security`` is ``starttls`` (upgrade a plain
    connection, port 587), ``ssl`` (TLS from the first byte, port 465) or ``none`` (a
    local relay only); the server's certificate is always verified."""

    host: str
    port: int
    sender: str
    security: str = "starttls"
    username: str = ""
    password: str = ""
    timeout: float = DEFAULT_TIMEOUT
    name: str = "smtp"

    def send(self, email: Email) -> str:
        """Build the MIME message and hand it to the server; the Message-ID is the
        reference."""
        import smtplib

        message = build_email(email, self.sender)
        try:
            with self._connect() as server:
                if self.security == "starttls":
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if self.username:
                    server.login(self.username, self.password)
                refused = server.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise SendError(SendFailure.MAIL_RECIPIENT_REFUSED) from None
        except smtplib.SMTPResponseException as error:
            # 4xx is a temporary refusal and 5xx a permanent one: either way not taken.
            reply = error.smtp_error  # bytes from the server, str when smtplib made it up
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
            detail = f"SMTP {error.smtp_code}: {text}".strip()
            raise SendError(SendFailure.MAIL_REFUSED, detail) from None
        except TimeoutError:
            raise SendError(SendFailure.MAIL_TIMEOUT, certain=False) from None
        except (smtplib.SMTPException, OSError) as error:
            raise SendError(SendFailure.MAIL_UNREACHABLE, type(error).__name__) from None
        if refused:
            raise SendError(SendFailure.MAIL_RECIPIENT_REFUSED)
        return str(message["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        import smtplib

        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def build_email(email: Email, sender: str) -> EmailMessage:
    """The MIME message: UTF-8 text (and HTML when given), encoded headers, a
    Message-ID, and one-click unsubscription (RFC 2369 ``List-Unsubscribe`` with RFC
    8058's ``List-Unsubscribe-Post``), which mail clients show as an unsubscribe button
    and large mailbox providers require of bulk senders."""
    from email.headerregistry import Address
    from email.message import EmailMessage

    message = EmailMessage()
    name, address = parseaddr(sender)
    message["From"] = formataddr((name, address)) if name else address
    message["To"] = Address(display_name=email.to_name or "", addr_spec=email.to)
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = address.rpartition("@")[2] or "haohuan.invalid"
    message["Message-ID"] = make_msgid(idstring=f"m{email.reference}", domain=domain)
    message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Collection mail is one to one, not a campaign: no automatic replies to it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text, charset="utf-8")
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8")
    return message


@dataclass(frozen=True)
class Providers:
    """The configured SMS provider, email sender and chat senders (LINE, WeChat)."""

    sms: SmsProvider
    email: EmailSender
    line: ChatSender = field(default_factory=OutboxChat)
    wechat: ChatSender = field(default_factory=OutboxChat)


def from_config(config: Any) -> Providers:
    """Build the providers the configuration names, or raise ``ConfigError`` saying
    which setting is missing or wrong."""
    return Providers(
        sms=_sms(config), email=_email(config), line=_line(config), wechat=_wechat(config)
    )


def _timeout(config: Any, key: str) -> float:
    raw = str(config.get(key) or DEFAULT_TIMEOUT)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number of seconds") from None
    if not 0 < value <= 120:
        raise ConfigError(f"{key} must be between 0 and 120 seconds")
    return value


def _local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def _sms(config: Any) -> SmsProvider:
    kind = str(config.get("SMS_PROVIDER") or "outbox")
    if kind == "outbox":
        return OutboxSms()
    if kind != "http":
        raise ConfigError(f"unknown SMS_PROVIDER {kind!r} (outbox or http)")
    url = str(config.get("SMS_HTTP_URL") or "")
    missing = [
        key for key in ("SMS_HTTP_URL", "SMS_HTTP_TOKEN", "SMS_SENDER") if not config.get(key)
    ]
    if missing:
        raise ConfigError(f"SMS_PROVIDER=http needs {', '.join(missing)}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("SMS_HTTP_URL must be an http(s) URL")
    if parts.scheme == "http" and not _local(parts.hostname):
        # The token and every borrower's phone number travel in the request.
        raise ConfigError("SMS_HTTP_URL must use https (plain http only to this machine)")
    return HttpSms(
        url=url,
        token=str(config["SMS_HTTP_TOKEN"]),
        sender=str(config["SMS_SENDER"]),
        account=str(config.get("SMS_HTTP_ACCOUNT") or ""),
        timeout=_timeout(config, "SMS_HTTP_TIMEOUT"),
    )


def _api_base(config: Any, key: str, default: str) -> str:
    url = str(config.get(key) or default)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{key} must be an http(s) URL")
    if parts.scheme == "http" and not _local(parts.hostname):
        # The token and every borrower's account id travel in the request.
        raise ConfigError(f"{key} must use https (plain http only to this machine)")
    return url


def _line(config: Any) -> ChatSender:
    kind = str(config.get("LINE_PROVIDER") or "outbox")
    if kind == "outbox":
        return OutboxChat()
    if kind != "http":
        raise ConfigError(f"unknown LINE_PROVIDER {kind!r} (outbox or http)")
    if not config.get("LINE_CHANNEL_TOKEN"):
        raise ConfigError("LINE_PROVIDER=http needs LINE_CHANNEL_TOKEN")
    return LinePush(
        base=_api_base(config, "LINE_API_URL", "https://api.line.me"),
        token=str(config["LINE_CHANNEL_TOKEN"]),
        timeout=_timeout(config, "LINE_TIMEOUT"),
    )


def _wechat(config: Any) -> ChatSender:
    kind = str(config.get("WECHAT_PROVIDER") or "outbox")
    if kind == "outbox":
        return OutboxChat()
    if kind != "http":
        raise ConfigError(f"unknown WECHAT_PROVIDER {kind!r} (outbox or http)")
    keys = ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TEMPLATE_ID")
    missing = [key for key in keys if not config.get(key)]
    if missing:
        raise ConfigError(f"WECHAT_PROVIDER=http needs {', '.join(missing)}")
    return WechatTemplate(
        base=_api_base(config, "WECHAT_API_URL", "https://api.weixin.qq.com"),
        app_id=str(config["WECHAT_APP_ID"]),
        secret=str(config["WECHAT_APP_SECRET"]),
        template_id=str(config["WECHAT_TEMPLATE_ID"]),
        timeout=_timeout(config, "WECHAT_TIMEOUT"),
    )


def _email(config: Any) -> EmailSender:
    kind = str(config.get("EMAIL_PROVIDER") or "outbox")
    if kind == "outbox":
        return OutboxEmail()
    if kind != "smtp":
        raise ConfigError(f"unknown EMAIL_PROVIDER {kind!r} (outbox or smtp)")
    missing = [key for key in ("SMTP_HOST", "MAIL_FROM") if not config.get(key)]
    if missing:
        raise ConfigError(f"EMAIL_PROVIDER=smtp needs {', '.join(missing)}")
    security = str(config.get("SMTP_SECURITY") or "starttls")
    if security not in SECURITIES:
        raise ConfigError(f"SMTP_SECURITY must be one of {', '.join(SECURITIES)}")
    host = str(config["SMTP_HOST"])
    username = str(config.get("SMTP_USERNAME") or "")
    if security == "none" and username and not _local(host):
        raise ConfigError("SMTP_SECURITY=none would send the password in clear: use starttls")
    sender = str(config["MAIL_FROM"])
    if "@" not in parseaddr(sender)[1]:
        raise ConfigError("MAIL_FROM must be an email address")
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    try:
        port = int(config.get("SMTP_PORT") or default_port)
    except ValueError:
        raise ConfigError("SMTP_PORT must be a port number") from None
    return SmtpEmail(
        host=host,
        port=port,
        sender=sender,
        security=security,
        username=username,
        password=str(config.get("SMTP_PASSWORD") or ""),
        timeout=_timeout(config, "SMTP_TIMEOUT"),
    )
