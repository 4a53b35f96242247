"""Who may be contacted about a debt, on which channel, and when: the contact rules in code.

``may_contact`` judges one intended contact against the policy's contact rules and the
recipient's history of contact attempts across every agent. A refusal carries every
reason that applies (enums, never text) and the earliest moment the same contact becomes
allowed, or None when it never will by waiting: a third party, a hold or an opt-out.
``next_allowed`` is the same answer for bulk sending: a message whose desired time falls
outside the allowed hours is scheduled for the next allowed moment, not dropped.

Local time is the borrower's (an IANA zone, read with ``zoneinfo``): the allowed hours,
the blackout dates and the "per day" caps are all in the borrower's local calendar. All
arithmetic is done in UTC, so a day with a daylight-saving change is 23 or 25 hours long
and an hour that does not exist locally is never returned.

Decisions documented here, for the lender to confirm:

- A hold (dispute, hardship) stops every collection contact on every channel, letters
  included. Messages the borrower asked for (a receipt, the hold's own acknowledgement)
  are not collection contact and are not judged here.
- Letters are exempt from the allowed hours (they arrive when the post comes) and have no
  frequency cap, but not from holds, opt-outs or holiday blackouts: a letter is not posted
  during a blackout.
- A letter's deadline allows for the post: ``letter_deadline`` never asks the borrower to
  act sooner than ``letter_notice_days`` after the letter's date.
- Calls: at most ``max_connected_calls_per_day`` connected calls on one local day; every
  attempt counts toward ``max_call_attempts_per_7_days``. A call is judged before it is
  placed, so it is refused once the connected calls of the day reach the cap.
- Messages (SMS and email together) have their own per-day and per-7-days caps.
- The 7 days are seven consecutive local calendar days. History may hold attempts later
  than the requested moment (contacts already scheduled): a contact is allowed only if
  every 7-day window containing its day stays within the cap.
- History is the recipient's: the borrower's own, or a guarantor's own.
- After a telephone conversation (a connected call), a jurisdiction may forbid further
  calls for ``days_after_conversation`` local days, the conversation's day counting as
  the first (US Regulation F, 12 CFR 1006.14(b)(2)(ii): 7 days).
- Where two jurisdictions meet (the borrower's own, their loan's market, the lender's),
  ``strictest`` combines their rules, each rule taking its strictest value: the narrower
  hours (the latest start, the earliest end), every blackout, the lower cap, the longer
  pause after a conversation and the longer notice for a letter.
- The borrower may narrow contact further (``borrower_layer``): times not to be contacted
  (``QuietWindow``: e.g. 09:00 to 18:00 on weekdays, "at work"), one more layer that
  ``strictest`` combines with the rest. They bind calls, SMS and email, refused with
  ``BORROWER_HOURS``; letters are exempt, as from the allowed hours. The channels they
  turn off are opt-outs (``ContactRequest.opted_out``), not part of the rules.
- A blackout may bind some channels only: a public holiday (``holidays`` in the policy)
  stops calls, SMS and chat messages (LINE, WeChat) by default, the channels that
  interrupt the borrower's day.
- LINE and WeChat are messages like SMS: they share the message caps, the hours and the
  borrower's quiet times, and say as little (a locked screen shows them).
- Where a jurisdiction asks for a validation notice (``validation_notice``: the US,
  Regulation F, 12 CFR 1006.34), no call, SMS or chat message is made about a debt until
  the notice has been sent (``ContactRequest.validation_notice_sent``), refused with
  ``VALIDATION_NOTICE_PENDING`` (waiting alone never lifts it: sending the notice does).
  Emails and letters are not held back: the notice itself is one (the initial
  communication, 1006.34(a)(1)(i)(A)), and any other email is followed by the notice,
  which the daily work queues the same day, within the five days 1006.34(a)(1)(i)(B)
  allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from negotiation.snapshot import Hold

WEEK_DAYS = 7


class Channel(StrEnum):
    """The ways a recipient can be contacted."""

    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    CALL = "call"
    # The chat apps most borrowers read first (LINE in Taiwan, WeChat in mainland China):
    # reached only on an account the borrower linked with their consent.
    LINE = "line"
    WECHAT = "wechat"

    @property
    def is_message(self) -> bool:
        """True for the electronic messages that share the message caps."""
        return self in (Channel.SMS, Channel.EMAIL, Channel.LINE, Channel.WECHAT)

    @property
    def is_chat(self) -> bool:
        """True for the chat apps (LINE, WeChat): messages to a linked account."""
        return self in (Channel.LINE, Channel.WECHAT)

    @property
    def is_text(self) -> bool:
        """True for the short texts a phone's locked screen shows (SMS, LINE, WeChat):
        discreet words, and the day-interrupting kind held back where an SMS is."""
        return self is Channel.SMS or self.is_chat


class Recipient(StrEnum):
    """Who a contact is addressed to. Only the borrower or a registered guarantor may be."""

    BORROWER = "borrower"
    GUARANTOR = "guarantor"
    THIRD_PARTY = "third_party"


class ContactRefusal(StrEnum):
    """Each reason a contact may not be made now."""

    THIRD_PARTY = "third_party"
    ON_HOLD = "on_hold"
    OPTED_OUT = "opted_out"
    QUIET_HOURS = "quiet_hours"
    HOLIDAY_BLACKOUT = "holiday_blackout"
    CONNECTED_CALLS_PER_DAY = "connected_calls_per_day"
    CALL_ATTEMPTS_PER_7_DAYS = "call_attempts_per_7_days"
    MESSAGES_PER_DAY = "messages_per_day"
    MESSAGES_PER_7_DAYS = "messages_per_7_days"
    RECENT_CONVERSATION = "recent_conversation"
    BORROWER_HOURS = "borrower_hours"
    VALIDATION_NOTICE_PENDING = "validation_notice_pending"

    @property
    def is_permanent(self) -> bool:
        """True for reasons that waiting does not lift."""
        return self in (
            ContactRefusal.THIRD_PARTY,
            ContactRefusal.ON_HOLD,
            ContactRefusal.OPTED_OUT,
            ContactRefusal.VALIDATION_NOTICE_PENDING,
        )


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime")


@dataclass(frozen=True)
class ContactWindow:
    """One jurisdiction's allowed hours, local wall-clock time, ``start`` to before ``end``."""

    jurisdiction: str
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"contact window {self.jurisdiction}: start must be before end")


ALL_CHANNELS = frozenset(Channel)
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Blackout:
    """A holiday on which no contact is made on ``channels`` (every channel unless
    narrowed): ``first`` to ``last`` local dates, inclusive."""

    jurisdiction: str
    first: date
    last: date
    channels: frozenset[Channel] = ALL_CHANNELS

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"blackout {self.jurisdiction}: last must not be before first")
        if not self.channels:
            raise ValueError(f"blackout {self.jurisdiction}: must bind at least one channel")

    def covers(self, day: date, channel: Channel | None = None) -> bool:
        """True when ``day`` falls in this blackout (for ``channel``, when given)."""
        return self.first <= day <= self.last and (channel is None or channel in self.channels)


@dataclass(frozen=True)
class QuietWindow:
    """A time the borrower asked not to be contacted: on ``days`` (0 Monday to 6 Sunday)
    from ``start`` to before ``end``, minutes after local midnight (``end`` 1440: to the
    end of the day)."""

    days: frozenset[int]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not self.days or not all(0 <= day <= 6 for day in self.days):
            raise ValueError("a quiet window needs days from 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError("a quiet window must start before it ends, within one day")

    def covers(self, local: datetime) -> bool:
        """True when the local wall-clock moment ``local`` falls in this window."""
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start <= minute < self.end


@dataclass(frozen=True)
class ContactRules:
    """The contact rules of the jurisdictions that apply, from the policy's [contact] table.

    The allowed hours are the intersection of every window (the stricter rule wins); the
    blackouts are all of them.
    """

    windows: tuple[ContactWindow, ...]
    blackouts: tuple[Blackout, ...]
    max_connected_calls_per_day: int
    max_call_attempts_per_7_days: int
    max_messages_per_day: int
    max_messages_per_7_days: int
    # The fewest days a posted letter gives the borrower to act: the post, then time to
    # read it and answer.
    letter_notice_days: int = 14
    # Local days, the conversation's own day first, on which no call follows a
    # telephone conversation with the borrower; 0: no such pause.
    days_after_conversation: int = 0
    # Times the borrower asked not to be contacted (``borrower_layer``).
    quiet: tuple[QuietWindow, ...] = ()
    # No call, SMS or chat message before a validation notice has been sent (US
    # Regulation F).
    validation_notice: bool = False

    def __post_init__(self) -> None:
        if self.days_after_conversation < 0:
            raise ValueError("the pause after a conversation cannot be negative")
        if self.letter_notice_days < 1:
            raise ValueError("a letter must give at least 1 day's notice")
        if not self.windows:
            raise ValueError("contact rules need at least one window")
        if not self.allowed_from < self.allowed_until:
            raise ValueError("the contact windows do not overlap: no hour is allowed")
        caps = (
            self.max_connected_calls_per_day,
            self.max_call_attempts_per_7_days,
            self.max_messages_per_day,
            self.max_messages_per_7_days,
        )
        if any(cap < 1 for cap in caps):
            raise ValueError("every contact cap must be at least 1")

    @property
    def allowed_from(self) -> time:
        """The local time contact may start: the latest start of all windows."""
        return max(window.start for window in self.windows)

    @property
    def allowed_until(self) -> time:
        """The local time contact must stop by: the earliest end of all windows."""
        return min(window.end for window in self.windows)

    def blacked_out(self, day: date, channel: Channel | None = None) -> bool:
        """True when ``day`` is in any blackout (one that binds ``channel``, when given)."""
        return any(blackout.covers(day, channel) for blackout in self.blackouts)

    def borrower_quiet(self, local: datetime) -> bool:
        """True when the borrower asked not to be contacted at ``local`` (their clock)."""
        return any(window.covers(local) for window in self.quiet)

    def open_minutes(self, weekday: int) -> list[tuple[int, int]]:
        """The spans of minutes on a ``weekday`` (0 Monday) in which calls and messages
        are allowed by the hours and the borrower's quiet windows: [start, end) pairs."""
        start = self.allowed_from.hour * 60 + self.allowed_from.minute
        until = self.allowed_until
        end = until.hour * 60 + until.minute + (1 if until.second or until.microsecond else 0)
        spans = [(start, end)]
        for window in self.quiet:
            if weekday not in window.days:
                continue
            spans = [
                piece
                for low, high in spans
                for piece in ((low, min(high, window.start)), (max(low, window.end), high))
                if piece[0] < piece[1]
            ]
        return spans

    @property
    def leaves_time(self) -> bool:
        """True when some minute of the week is still open to calls and messages."""
        return any(self.open_minutes(day) for day in range(WEEK_DAYS))


# A cap no jurisdiction reaches: the borrower's layer narrows times, never the caps.
_UNCAPPED = 1_000_000
_WHOLE_DAY = ContactWindow("borrower", time(0), time.max)


def borrower_layer(quiet: Iterable[QuietWindow]) -> ContactRules:
    """The borrower's own narrowing as a layer for ``strictest``: their quiet windows,
    leaving every other rule to the jurisdictions'."""
    return ContactRules(
        windows=(_WHOLE_DAY,),
        blackouts=(),
        max_connected_calls_per_day=_UNCAPPED,
        max_call_attempts_per_7_days=_UNCAPPED,
        max_messages_per_day=_UNCAPPED,
        max_messages_per_7_days=_UNCAPPED,
        letter_notice_days=1,
        quiet=tuple(quiet),
    )


def strictest(first: ContactRules, *others: ContactRules) -> ContactRules:
    """The rules that apply where several jurisdictions meet: each rule at its strictest.

    Hours: every window applies, so contact is allowed only when all allow it (the latest
    start, the earliest end). Blackouts: all of them. Caps: the lowest. The pause after a
    conversation and a letter's notice: the longest. Raises ValueError when the hours
    leave no time at all (the windows do not overlap).
    """
    every = (first, *others)
    return ContactRules(
        windows=tuple(dict.fromkeys(w for rules in every for w in rules.windows)),
        blackouts=tuple(dict.fromkeys(b for rules in every for b in rules.blackouts)),
        max_connected_calls_per_day=min(r.max_connected_calls_per_day for r in every),
        max_call_attempts_per_7_days=min(r.max_call_attempts_per_7_days for r in every),
        max_messages_per_day=min(r.max_messages_per_day for r in every),
        max_messages_per_7_days=min(r.max_messages_per_7_days for r in every),
        letter_notice_days=max(r.letter_notice_days for r in every),
        days_after_conversation=max(r.days_after_conversation for r in every),
        quiet=tuple(dict.fromkeys(q for rules in every for q in rules.quiet)),
        validation_notice=any(r.validation_notice for r in every),
    )


def narrowed(rules: ContactRules, quiet: Iterable[QuietWindow]) -> ContactRules:
    """``rules`` with the borrower's quiet windows as one more layer (``strictest``)."""
    windows = tuple(quiet)
    return strictest(rules, borrower_layer(windows)) if windows else rules


# The most quiet windows a borrower keeps: enough for work, sleep and a weekly class; a
# longer list is a sign the choice belongs in "which channels".
MAX_QUIET_WINDOWS = 3


class NarrowingProblem(StrEnum):
    """Why the borrower's choice of how to be contacted cannot be kept as it is."""

    NO_CHANNEL = "no_channel"
    TOO_MANY_WINDOWS = "too_many_windows"
    NO_TIME_LEFT = "no_time_left"


def check_narrowing(
    rules: ContactRules, channels: Iterable[Channel], quiet: Iterable[QuietWindow]
) -> NarrowingProblem | None:
    """Whether the borrower may narrow contact to ``channels`` outside ``quiet``, under
    the ``rules`` of where they live: at least one channel stays open (a borrower who
    wants no contact at all disputes or asks us to stop, which an agent handles); at most
    ``MAX_QUIET_WINDOWS`` windows; and when a call, SMS or email stays open, some minute
    of the week is left to it."""
    kept = frozenset(channels)
    windows = tuple(quiet)
    if not kept:
        return NarrowingProblem.NO_CHANNEL
    if len(windows) > MAX_QUIET_WINDOWS:
        return NarrowingProblem.TOO_MANY_WINDOWS
    if kept - {Channel.LETTER} and not narrowed(rules, windows).leaves_time:
        return NarrowingProblem.NO_TIME_LEFT
    return None


def letter_deadline(rules: ContactRules, dated: date, next_event: date | None) -> date | None:
    """The day a letter dated ``dated`` asks the borrower to act before: the next thing
    that happens (``next_event``), but never sooner than the post allows
    (``rules.letter_notice_days`` after the letter's date). None when nothing is coming."""
    if next_event is None:
        return None
    return max(next_event, dated + timedelta(days=rules.letter_notice_days))


@dataclass(frozen=True)
class ContactRequest:
    """One intended contact: who, how, when, and what stands in its way on the case.

    ``time_zone`` is the borrower's IANA zone (e.g. ``Asia/Taipei``); ``moment`` is aware.
    ``validation_notice_sent``: whether the debt's validation notice has gone to the
    borrower (read only where the rules ask for one).
    """

    channel: Channel
    recipient: Recipient
    moment: datetime
    time_zone: str
    holds: frozenset[Hold] = field(default_factory=frozenset)
    opted_out: frozenset[Channel] = field(default_factory=frozenset)
    validation_notice_sent: bool = False

    def __post_init__(self) -> None:
        _aware(self.moment, "moment")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {self.time_zone!r}") from None

    @property
    def zone(self) -> ZoneInfo:
        """The borrower's time zone."""
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class ContactAttempt:
    """One past (or already scheduled) contact attempt, by any agent or system.

    ``agent`` is kept for the record only: the caps count every agent's attempts alike.
    """

    moment: datetime
    channel: Channel
    connected: bool = False
    agent: str = ""

    def __post_init__(self) -> None:
        _aware(self.moment, "attempt moment")


@dataclass(frozen=True)
class ContactHistory:
    """The recipient's contact attempts across all agents, in any order."""

    attempts: tuple[ContactAttempt, ...] = ()

    def with_attempt(self, attempt: ContactAttempt) -> ContactHistory:
        """This history with one more attempt, e.g. a message just scheduled."""
        return ContactHistory((*self.attempts, attempt))


@dataclass(frozen=True)
class ContactDecision:
    """Whether a contact may be made, why not, and from when it may.

    ``allowed_from`` is the requested moment when allowed, the earliest later moment the
    same contact becomes allowed when refused for a while (in the borrower's zone), and
    None when waiting will never allow it.
    """

    moment: datetime
    reasons: tuple[ContactRefusal, ...]
    allowed_from: datetime | None

    @property
    def allowed(self) -> bool:
        """True when the contact may be made at the requested moment."""
        return not self.reasons


class _Counts:
    """The history's attempts counted by local day, for the capped kinds of contact."""

    def __init__(self, history: ContactHistory, zone: ZoneInfo) -> None:
        self.connected_calls: Counter[date] = Counter()
        self.call_attempts: Counter[date] = Counter()
        self.messages: Counter[date] = Counter()
        for attempt in history.attempts:
            day = attempt.moment.astimezone(zone).date()
            if attempt.channel is Channel.CALL:
                self.call_attempts[day] += 1
                if attempt.connected:
                    self.connected_calls[day] += 1
            elif attempt.channel.is_message:
                self.messages[day] += 1


def _week_full(counts: Counter[date], day: date, cap: int) -> bool:
    """True when one more on ``day`` would put some 7-day window containing it over ``cap``."""
    for end in range(WEEK_DAYS):
        last = day + timedelta(days=end)
        total = sum(counts[last - timedelta(days=back)] for back in range(WEEK_DAYS))
        if total >= cap:
            return True
    return False


def _day_refusals(
    channel: Channel, day: date, counts: _Counts, rules: ContactRules
) -> list[ContactRefusal]:
    reasons: list[ContactRefusal] = []
    if rules.blacked_out(day, channel):
        reasons.append(ContactRefusal.HOLIDAY_BLACKOUT)
    if channel is Channel.CALL:
        if counts.connected_calls[day] >= rules.max_connected_calls_per_day:
            reasons.append(ContactRefusal.CONNECTED_CALLS_PER_DAY)
        if _week_full(counts.call_attempts, day, rules.max_call_attempts_per_7_days):
            reasons.append(ContactRefusal.CALL_ATTEMPTS_PER_7_DAYS)
        if any(
            counts.connected_calls[day - timedelta(days=back)]
            for back in range(rules.days_after_conversation)
        ):
            reasons.append(ContactRefusal.RECENT_CONVERSATION)
    elif channel.is_message:
        if counts.messages[day] >= rules.max_messages_per_day:
            reasons.append(ContactRefusal.MESSAGES_PER_DAY)
        if _week_full(counts.messages, day, rules.max_messages_per_7_days):
            reasons.append(ContactRefusal.MESSAGES_PER_7_DAYS)
    return reasons


def _in_hours(channel: Channel, wall: time, rules: ContactRules) -> bool:
    return channel is Channel.LETTER or rules.allowed_from <= wall < rules.allowed_until


def _borrower_quiet(channel: Channel, local: datetime, rules: ContactRules) -> bool:
    return channel is not Channel.LETTER and rules.borrower_quiet(local)


def _quiet_until(local: datetime, rules: ContactRules) -> int:
    """The minute of the day the borrower's quiet windows covering ``local`` end (the
    latest end of the windows that chain on from it)."""
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    moved = True
    while moved and minute < MINUTES_PER_DAY:
        moved = False
        for window in rules.quiet:
            if day in window.days and window.start <= minute < window.end:
                minute, moved = window.end, True
    return minute


def _first_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the local clock on ``day`` reads ``wall`` or later.

    Usually ``wall`` itself; when the clocks jump forward over it, the moment they jump.
    """
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if second >= first:
        # An ordinary time (both equal), or a repeated one: its first occurrence.
        return first
    # A gap: the offset after the jump puts ``second`` before it, the offset before puts
    # ``first`` after it; search between by the minute (transitions fall on whole minutes).
    moment = second
    while moment.astimezone(zone).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    return moment


def _earliest(request: ContactRequest, counts: _Counts, rules: ContactRules) -> datetime | None:
    """The first moment at or after the request's at which the contact is allowed, or
    None when the borrower's quiet windows leave no time in any week.

    Terminates: blackouts are finite, and days beyond the last attempt plus a week have no
    capped contact. Which minutes of a day are open depends only on its day of the week,
    so once each of the seven has been seen closed from its start to its end (a day
    refused by a cap or a blackout says nothing of its hours), none ever opens.
    """
    zone = request.zone
    moment = request.moment.astimezone(UTC)
    closed_weekdays: set[int] = set()
    # The request's own day is judged from its moment, not from its start: its closing
    # says nothing of the hours before.
    whole_day = False
    while len(closed_weekdays) < WEEK_DAYS:
        local = moment.astimezone(zone)
        day = local.date()
        next_day = _first_instant(day + timedelta(days=1), time(0), zone)
        closed = False
        if _day_refusals(request.channel, day, counts, rules):
            moment = next_day
        elif not _in_hours(request.channel, local.time(), rules):
            if local.time() < rules.allowed_from:
                moment = _first_instant(day, rules.allowed_from, zone)
                continue
            closed, moment = True, next_day
        elif _borrower_quiet(request.channel, local, rules):
            until = _quiet_until(local, rules)
            if until < MINUTES_PER_DAY:
                moment = _first_instant(day, time(until // 60, until % 60), zone)
                continue
            closed, moment = True, next_day
        else:
            return local
        if closed and whole_day:
            closed_weekdays.add(day.weekday())
        whole_day = True
    return None


def may_contact(
    request: ContactRequest, history: ContactHistory, rules: ContactRules
) -> ContactDecision:
    """Judge one intended contact against the rules and the recipient's history.

    Returns every reason that refuses it at the requested moment and the earliest moment
    it becomes allowed (None for a third party, a hold, an opted-out channel or a
    validation notice not yet sent).
    """
    reasons: list[ContactRefusal] = []
    if request.recipient is Recipient.THIRD_PARTY:
        reasons.append(ContactRefusal.THIRD_PARTY)
    if request.holds:
        reasons.append(ContactRefusal.ON_HOLD)
    if request.channel in request.opted_out:
        reasons.append(ContactRefusal.OPTED_OUT)
    if (
        rules.validation_notice
        and not request.validation_notice_sent
        and (request.channel is Channel.CALL or request.channel.is_text)
    ):
        reasons.append(ContactRefusal.VALIDATION_NOTICE_PENDING)
    zone = request.zone
    local = request.moment.astimezone(zone)
    counts = _Counts(history, zone)
    if not _in_hours(request.channel, local.time(), rules):
        reasons.append(ContactRefusal.QUIET_HOURS)
    if _borrower_quiet(request.channel, local, rules):
        reasons.append(ContactRefusal.BORROWER_HOURS)
    reasons.extend(_day_refusals(request.channel, local.date(), counts, rules))
    if any(reason.is_permanent for reason in reasons):
        allowed_from = None
    elif reasons:
        allowed_from = _earliest(request, counts, rules)
    else:
        allowed_from = local
    return ContactDecision(moment=request.moment, reasons=tuple(reasons), allowed_from=allowed_from)


def next_allowed(
    request: ContactRequest, history: ContactHistory, rules: ContactRules
) -> datetime | None:
    """For bulk sending: when to send a contact wanted at ``request.moment``.

    The desired moment itself when allowed, else the next allowed moment (in the
    borrower's zone); None when it must never be sent. Add each scheduled contact to the
    history before scheduling the next one to the same recipient.
    """
    return may_contact(request, history, rules).allowed_from


def schedule(
    requests: Iterable[ContactRequest], history: ContactHistory, rules: ContactRules
) -> list[datetime | None]:
    """Schedule several contacts to one recipient in order, each counting toward the caps."""
    planned: list[datetime | None] = []
    for request in requests:
        moment = next_allowed(request, history, rules)
        planned.append(moment)
        if moment is not None:
            history = history.with_attempt(ContactAttempt(moment, request.channel))
    return planned
