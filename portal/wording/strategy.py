"""The contact strategy's words: when a step fires (its event and offset), its channels
and templates, what a planned step became, and why a step was skipped. Shared by the
supervisors' strategy page and the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from negotiation.contact import ContactRefusal
from negotiation.strategy import Event, Skip, Step, StepChannel, Template
from portal.core.i18n import listed
from portal.wording.engine import STAGE_NAMES

CHANNEL_NAMES: dict[str, Any] = {
    StepChannel.SMS: _l("SMS"),
    StepChannel.EMAIL: _l("email"),
    StepChannel.LETTER: _l("letter"),
    StepChannel.CALL: _l("call"),
    StepChannel.LINE: _l("LINE"),
    StepChannel.WECHAT: _l("WeChat"),
}

TEMPLATE_NAMES: dict[str, Any] = {
    Template.REMINDER: _l("Reminder"),
    Template.REMINDER_PLAN: _l("Reminder leading with an affordable plan"),
    Template.COURTESY: _l("Courtesy reminder"),
    Template.PLAN_DUE: _l("Plan installment coming up"),
    Template.PLAN_MISSED: _l("Plan installment missed"),
    Template.PLAN_BROKEN: _l("Plan broken"),
    Template.PROMISE_DUE: _l("Promise to pay coming up"),
    Template.PROMISE_BROKEN: _l("Promise to pay not kept"),
    Template.FOLLOWUP: _l("Follow-up after a visit without a plan"),
    Template.OFFER: _l("An agent's offer"),
}

# Why a due step sent nothing: the strategy's own reasons (``negotiation.strategy.Skip``),
# the contact rules' refusals that waiting does not lift, and no address on any channel.
SKIP_REASONS: dict[str, Any] = {
    Skip.STAGE: _l("Not in a stage the step is for"),
    Skip.MARKET: _l("Not in a market the step is for"),
    Skip.CURRENCY: _l("Not in a currency the step is for"),
    Skip.AMOUNT_BAND: _l("Overdue amount outside the step's band"),
    Skip.HAS_PLAN: _l("Has a plan: the step is for cases without one"),
    Skip.NO_PLAN: _l("No plan: the step is for cases with one"),
    Skip.OPEN_PROMISE: _l("Promised to pay: no reminder meanwhile"),
    Skip.NO_PROMISE: _l("No open promise to pay"),
    Skip.OPENED: _l("Opened a link recently: the step is for silence"),
    Skip.NO_CHANNEL: _l("No address on any of the step's channels"),
    Skip.RESOLVED: _l("Case resolved"),
    Skip.NO_OWNER: _l("A call or letter for the owner, and nobody owns the case"),
    Skip.NOTHING_OWED: _l("Nothing overdue"),
    ContactRefusal.ON_HOLD: _l("On hold (a dispute or hardship)"),
    ContactRefusal.OPTED_OUT: _l("Opted out of the step's channels"),
    ContactRefusal.THIRD_PARTY: _l("Only the borrower may be contacted"),
    ContactRefusal.VALIDATION_NOTICE_PENDING: _l("Validation notice not sent yet"),
    "no_address": _l("No address on the channel"),
    "unknown": _l("No reason recorded"),
}

STATUS_NAMES: dict[str, Any] = {
    "queued": _l("Queued"),
    "deferred": _l("Deferred"),
    "task": _l("Tasks"),
    "skipped": _l("Skipped"),
}


def skip_reason(code: str) -> str:
    """Why a step was skipped, in words; an unknown code as itself (never a blank)."""
    words = SKIP_REASONS.get(code)
    return str(words) if words is not None else code


def channels_text(channels: Iterable[str]) -> str:
    """A step's channels in order of preference: "SMS, else email"."""
    names = [str(CHANNEL_NAMES.get(channel, channel)) for channel in channels]
    if not names:
        return ""
    text = names[0]
    for name in names[1:]:
        text = _("%(first)s, else %(then)s", first=text, then=name)
    return text


def template_name(code: str) -> str:
    """A message template's name; an unknown one as its code."""
    words = TEMPLATE_NAMES.get(code)
    return str(words) if words is not None else code


# The shipped strategy's own labels (negotiation/default_strategy.toml), in the console's
# language; a lender's own document's labels are shown as it writes them.
DEFAULT_LABELS: dict[str, Any] = {
    "Early stage by the founding document: SMS, email, call, letter": _l(
        "Early stage by the founding document: SMS, email, call, letter"
    ),
    "Courtesy reminder 3 days before a plan installment": _l(
        "Courtesy reminder 3 days before a plan installment"
    ),
    "The day before a promise to pay falls due": _l("The day before a promise to pay falls due"),
    "Day 1: SMS reminder": _l("Day 1: SMS reminder"),
    "Day 3: email, when the SMS link was not opened": _l(
        "Day 3: email, when the SMS link was not opened"
    ),
    "Day 5: a call for the case's owner": _l("Day 5: a call for the case's owner"),
    "Day 10: second SMS": _l("Day 10: second SMS"),
    "Day 20: email": _l("Day 20: email"),
    "Mid stage: a letter when no electronic channel has answered": _l(
        "Mid stage: a letter when no electronic channel has answered"
    ),
    "The day a plan installment is missed": _l("The day a plan installment is missed"),
    "The day a plan breaks": _l("The day a plan breaks"),
    "The day after a promise to pay was broken": _l("The day after a promise to pay was broken"),
    "An agent's offer not opened after 2 days": _l("An agent's offer not opened after 2 days"),
    "Opened the link, chose no plan: a nudge after 2 days": _l(
        "Opened the link, chose no plan: a nudge after 2 days"
    ),
    "Day-1 SMS: plain reminder, or lead with an affordable plan": _l(
        "Day-1 SMS: plain reminder, or lead with an affordable plan"
    ),
}


def label(text: str, name: str = "") -> str:
    """A document's label in the console's language when it is the shipped strategy's,
    else as the document writes it; the name when there is no label."""
    if not text:
        return name
    words = DEFAULT_LABELS.get(text)
    return str(words) if words is not None else text


def step_label(step: Step) -> str:
    """What the page calls a step: the document's label, else its name."""
    return label(step.label, step.name)


def timing(step: Step) -> str:
    """When a step fires, in words: "Day 3 past due", "3 days before a plan installment"."""
    days = step.days
    event = step.event
    if event is Event.OVERDUE:
        return _("Day %(num)d past due", num=days)
    if event is Event.STAGE_ENTRY:
        stages = listed(STAGE_NAMES[stage] for stage in sorted(step.when.stages or ()))
        if days == 0:
            return _("The day the case enters: %(stages)s", stages=stages)
        return ngettext(
            "%(num)d day after the case enters: %(stages)s",
            "%(num)d days after the case enters: %(stages)s",
            days,
            stages=stages,
        )
    if days == 0:
        return str(ON_THE_DAY[event])
    return OFFSET[event](days)


# The day of the event itself (``days`` = 0).
ON_THE_DAY: dict[Event, Any] = {
    Event.BEFORE_DUE: _l("The day an installment falls due"),
    Event.PLAN_DUE: _l("The day a plan installment falls due"),
    Event.PLAN_MISSED: _l("The day a plan installment is missed"),
    Event.PLAN_AT_RISK: _l("The day a miss leaves a plan one miss from breaking"),
    Event.PLAN_BROKEN: _l("The day a plan breaks"),
    Event.PROMISE_DUE: _l("The day a promise to pay falls due"),
    Event.PROMISE_BROKEN: _l("The day a promise to pay is not kept"),
    Event.OFFER_UNOPENED: _l("The day an agent's offer is made, while unopened"),
    Event.LINK_NO_PLAN: _l("The day the borrower opens a link and chooses no plan"),
}

# ``days`` before or after the event (literal calls, so the catalogs extract them).
OFFSET: dict[Event, Callable[[int], str]] = {
    Event.BEFORE_DUE: lambda n: ngettext(
        "%(num)d day before an installment falls due",
        "%(num)d days before an installment falls due",
        n,
    ),
    Event.PLAN_DUE: lambda n: ngettext(
        "%(num)d day before a plan installment", "%(num)d days before a plan installment", n
    ),
    Event.PLAN_MISSED: lambda n: ngettext(
        "%(num)d day after a plan installment was missed",
        "%(num)d days after a plan installment was missed",
        n,
    ),
    Event.PLAN_AT_RISK: lambda n: ngettext(
        "%(num)d day after a miss left a plan one miss from breaking",
        "%(num)d days after a miss left a plan one miss from breaking",
        n,
    ),
    Event.PLAN_BROKEN: lambda n: ngettext(
        "%(num)d day after a plan broke", "%(num)d days after a plan broke", n
    ),
    Event.PROMISE_DUE: lambda n: ngettext(
        "%(num)d day before a promise to pay falls due",
        "%(num)d days before a promise to pay falls due",
        n,
    ),
    Event.PROMISE_BROKEN: lambda n: ngettext(
        "%(num)d day after a promise to pay was not kept",
        "%(num)d days after a promise to pay was not kept",
        n,
    ),
    Event.OFFER_UNOPENED: lambda n: ngettext(
        "%(num)d day after an agent's offer, while unopened",
        "%(num)d days after an agent's offer, while unopened",
        n,
    ),
    Event.LINK_NO_PLAN: lambda n: ngettext(
        "%(num)d day after the borrower opened a link and chose no plan",
        "%(num)d days after the borrower opened a link and chose no plan",
        n,
    ),
}
