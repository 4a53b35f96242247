"""Handing a batch of prepared messages to their providers: concurrently, within each
provider's limits.

The scheduled sender (``portal.messaging.service.dispatch_due``) records a batch as
``sending`` and commits, then gives its messages here. Each provider gets a pool of
``connections`` threads (a provider's answer is mostly waiting on the network) and a
``rate``: requests start no faster than that many a second, spread evenly, whichever
thread starts them. The outbox takes a message at once, so it is called in this thread,
without a pool or a limit.

Nothing here touches the database: what comes back is each message's outcome (the
provider's reference, or its ``SendError``), recorded by the caller in one transaction.
A provider raising anything other than ``SendError`` is a bug or a crash: the messages
whose outcome is known are still returned, the exception is kept on ``Delivered.crash``
and the messages it left are not in the result (they stay ``sending`` and become failed,
``interrupted``, as after any crash: at most once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from portal.messaging.providers import Email, SendError

OUTBOX = "outbox"


class RateLimiter:
    """At most ``rate`` starts a second, evenly spaced, shared by every thread that asks
    (``rate`` 0: no limit). A start waits for its slot; slots are handed out in the order
    asked for."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until this caller may start one request."""
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)


@dataclass(frozen=True)
class Limits:
    """One provider's limits: requests a second (0: none) and parallel connections."""

    rate: float = 0.0
    connections: int = 1


@dataclass(frozen=True)
class Parcel:
    """One message ready for its provider: an SMS or a chat message (``to`` and
    ``text``; a chat message's ``link`` apart too), or an email."""

    message_id: int
    to: str
    text: str
    email: Email | None = None
    channel: str = "sms"
    link: str = ""


@dataclass
class Delivered:
    """What became of a batch: each message's reference or error, by message id, and
    the first unexpected exception a provider raised (the rest of its messages are
    left out of ``outcomes``)."""

    outcomes: dict[int, str | SendError] = field(default_factory=dict)
    crash: BaseException | None = None


class Courier:
    """Delivers batches to one provider within its ``Limits``; open for a whole run of
    the sender (``close`` ends its threads)."""

    def __init__(self, send: Callable[[Parcel], str], name: str, limits: Limits) -> None:
        self._send = send
        self.inline = name == OUTBOX
        self.limits = limits
        self._limiter = RateLimiter(0 if self.inline else limits.rate)
        self._pool: ThreadPoolExecutor | None = None
        if not self.inline:
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, limits.connections), thread_name_prefix=f"send-{name}"
            )

    def _one(self, parcel: Parcel) -> str | SendError:
        self._limiter.wait()
        try:
            return self._send(parcel)
        except SendError as error:
            return error

    def deliver(self, parcels: Sequence[Parcel], into: Delivered) -> None:
        """Send ``parcels``, adding each outcome to ``into``; returns when all are done."""
        if self._pool is None:
            for parcel in parcels:
                try:
                    into.outcomes[parcel.message_id] = self._one(parcel)
                except Exception as error:
                    into.crash = into.crash or error
                    return
            return
        futures = [(parcel, self._pool.submit(self._one, parcel)) for parcel in parcels]
        for parcel, future in futures:
            try:
                into.outcomes[parcel.message_id] = future.result()
            except Exception as error:
                into.crash = into.crash or error

    def close(self) -> None:
        """Stop the pool's threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _chat_send(sender: Any) -> Callable[[Parcel], str]:
    """A chat sender's send, as a courier calls it."""

    def send(parcel: Parcel) -> str:
        return str(sender.send(parcel.to, parcel.text, parcel.link, str(parcel.message_id)))

    return send


class Couriers:
    """The SMS, email and chat (LINE, WeChat) couriers of one run, used together: a
    batch's messages go out on every channel at the same time, each within its
    provider's limits."""

    def __init__(
        self, providers: Any, sms: Limits, email: Limits, chat: Limits | None = None
    ) -> None:
        self.sms = Courier(
            lambda parcel: providers.sms.send(parcel.to, parcel.text, str(parcel.message_id)),
            providers.sms.name,
            sms,
        )
        self.email = Courier(
            lambda parcel: providers.email.send(parcel.email), providers.email.name, email
        )
        self.chats = {
            channel: Courier(_chat_send(sender), sender.name, chat or Limits())
            for channel, sender in (("line", providers.line), ("wechat", providers.wechat))
        }

    def _all(self) -> list[Courier]:
        return [self.sms, self.email, *self.chats.values()]

    def deliver(self, parcels: Sequence[Parcel]) -> Delivered:
        """Send a batch: each channel's messages in a thread of their own (the outbox's
        inline) while this one sends the SMS (each courier spreading its share over its
        own pool)."""
        into = Delivered()
        shares: list[tuple[Courier, list[Parcel]]] = [
            (self.email, [parcel for parcel in parcels if parcel.email is not None]),
            *(
                (courier, [p for p in parcels if p.email is None and p.channel == channel])
                for channel, courier in self.chats.items()
            ),
        ]
        texts = [
            parcel
            for parcel in parcels
            if parcel.email is None and parcel.channel not in self.chats
        ]
        threads = []
        for courier, share in shares:
            if not share:
                continue
            if courier.inline:
                courier.deliver(share, into)
                continue
            thread = threading.Thread(target=courier.deliver, args=(share, into))
            thread.start()
            threads.append(thread)
        self.sms.deliver(texts, into)
        for thread in threads:
            thread.join()
        return into

    def slowest_rate(self) -> float:
        """The lowest rate limit of the providers (0: none is limited): what the sender
        sizes its batches by, so that none stays ``sending`` for long."""
        rates = [c.limits.rate for c in self._all() if not c.inline and c.limits.rate]
        return min(rates) if rates else 0.0

    def close(self) -> None:
        """Stop every courier's threads."""
        for courier in self._all():
            courier.close()
