"""Contact strategies: which message goes to a case, when, on which channel, in which words.

A strategy is a document (TOML beside the lending policy, ``default_strategy.toml``; or
the same keys as JSON once a supervisor has promoted a challenger) of **steps**. Each step
is keyed to an event and an offset in days:

========================  ===============================================================
event                     fires on
========================  ===============================================================
``before_due``            ``days`` before a regular loan installment falls due (courtesy)
``plan_due``              ``days`` before a plan installment falls due
``overdue``               the day the loan is ``days`` days past due
``stage_entry``           ``days`` after the case entered the stage its ``when.stages`` names
``plan_missed``           ``days`` after a plan installment was missed
``plan_at_risk``          ``days`` after a miss that leaves the plan one miss from breaking
``plan_broken``           ``days`` after a plan broke
``promise_due``           ``days`` before a promise to pay falls due
``promise_broken``        ``days`` after a promise was broken (or only partly kept)
``offer_unopened``        ``days`` after an agent's offer was made, while nobody opened it
``link_no_plan``          ``days`` after the borrower opened a link without choosing a plan
========================  ===============================================================

A step names its channels in order (the first the borrower can be reached on is used:
no email address, or opted out of SMS, falls to the next), a message template (the
portal words it in the borrower's language), conditions on the case, and a preferred
local time. ``call`` and ``letter`` are tasks for the case's owner, not messages: calls
and letters stay human.

**Experiments** test a challenger against the champion: a step's variants (wording,
channel, timing), or a whole challenger strategy. A case's arm is a stable hash of the
case and the experiment (``arm_for``), so it never changes between runs and needs no
coordination; the portal records it the first time the case meets the experiment.

Pure: values in, values out; the portal reads the events, judges contact and persists.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from negotiation.jurisdiction import COUNTRIES
from negotiation.policy import Stage

DEFAULT_FILE = "default_strategy.toml"
# A step that was due while the command did not run is still planned this many days
# late (a missed cron is caught up), never older: a borrower does not get a "day 1"
# text on day 9.
CATCH_UP_DAYS = 2
# The local time a message is planned for when a step names none, or asks for the hour
# the borrower last opened a link and they never did.
DEFAULT_SEND_AT = time(10, 0)
MAX_OFFSET_DAYS = 365
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
E = TypeVar("E", bound=StrEnum)


class Event(StrEnum):
    """What a step is keyed to (see the module's table)."""

    BEFORE_DUE = "before_due"
    PLAN_DUE = "plan_due"
    OVERDUE = "overdue"
    STAGE_ENTRY = "stage_entry"
    PLAN_MISSED = "plan_missed"
    PLAN_AT_RISK = "plan_at_risk"
    PLAN_BROKEN = "plan_broken"
    PROMISE_DUE = "promise_due"
    PROMISE_BROKEN = "promise_broken"
    OFFER_UNOPENED = "offer_unopened"
    LINK_NO_PLAN = "link_no_plan"

    @property
    def counts_before(self) -> bool:
        """Whether the step's ``days`` count back from the event (a due date) rather than
        forward from it."""
        return self in (Event.BEFORE_DUE, Event.PLAN_DUE, Event.PROMISE_DUE)

    @property
    def is_collection(self) -> bool:
        """Whether a message on this event asks for overdue money. An open promise to pay
        suppresses these by default: the borrower said when they will pay."""
        return self in (
            Event.OVERDUE,
            Event.STAGE_ENTRY,
            Event.OFFER_UNOPENED,
            Event.LINK_NO_PLAN,
        )


class StepChannel(StrEnum):
    """How a step reaches the borrower: a message, or a task for the case's owner."""

    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    CALL = "call"
    # Only to a borrower who linked the app with their consent; else the next channel.
    LINE = "line"
    WECHAT = "wechat"

    @property
    def is_task(self) -> bool:
        """Calls and letters are made by people: the step asks the case's owner."""
        return self in (StepChannel.LETTER, StepChannel.CALL)


class Template(StrEnum):
    """The message templates the portal words (``portal.messaging.compose``)."""

    REMINDER = "reminder"
    REMINDER_PLAN = "reminder_plan"
    COURTESY = "courtesy"
    PLAN_DUE = "plan_due"
    PLAN_MISSED = "plan_missed"
    PLAN_BROKEN = "plan_broken"
    PROMISE_DUE = "promise_due"
    PROMISE_BROKEN = "promise_broken"
    FOLLOWUP = "followup"
    OFFER = "offer"


class Skip(StrEnum):
    """Why a due step sends nothing to a case (recorded, counted on the strategy page)."""

    STAGE = "stage"  # the case is not in a stage the step names
    MARKET = "market"
    CURRENCY = "currency"
    AMOUNT_BAND = "amount_band"
    HAS_PLAN = "has_plan"  # the step is for cases without a plan
    NO_PLAN = "no_plan"  # the step is for cases with a plan
    OPEN_PROMISE = "open_promise"  # the borrower promised to pay: no reminder meanwhile
    NO_PROMISE = "no_promise"
    OPENED = "opened"  # the borrower opened a link recently: the step is for silence
    NO_CHANNEL = "no_channel"  # no address on any of the step's channels
    RESOLVED = "resolved"
    NO_OWNER = "no_owner"  # a call or letter task, and nobody owns the case
    NOTHING_OWED = "nothing_owed"


@dataclass(frozen=True)
class When:
    """A step's conditions; ``None`` means "any". Amount bands are per currency, in its
    minor unit: ``arrears_at_least`` inclusive, ``arrears_below`` exclusive."""

    stages: frozenset[Stage] | None = None
    markets: frozenset[str] | None = None
    currencies: frozenset[str] | None = None
    arrears_at_least: Mapping[str, int] = field(default_factory=dict)
    arrears_below: Mapping[str, int] = field(default_factory=dict)
    has_plan: bool | None = None
    has_open_promise: bool | None = None
    not_opened_within_days: int | None = None


@dataclass(frozen=True)
class Step:
    """One step of a strategy (see the module docstring)."""

    name: str
    event: Event
    days: int
    channels: tuple[StepChannel, ...]
    template: Template
    when: When = When()
    send_at: time | None = DEFAULT_SEND_AT  # None: the hour the borrower last opened a link
    label: str = ""


@dataclass(frozen=True)
class Arm:
    """One arm of an experiment: a weight, and either changes to some champion steps
    (``overrides``: step name to changed fields) or a whole strategy (``steps``)."""

    name: str
    weight: int
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    steps: tuple[Step, ...] | None = None


@dataclass(frozen=True)
class Experiment:
    """Champion (the first arm) against one or more challengers."""

    name: str
    arms: tuple[Arm, ...]
    label: str = ""

    @property
    def champion(self) -> Arm:
        """The first arm: the strategy as it runs without the experiment."""
        return self.arms[0]

    @property
    def whole(self) -> bool:
        """Whether a challenger is a whole strategy rather than variants of steps."""
        return any(arm.steps is not None for arm in self.arms)

    def touches(self, step: str) -> bool:
        """Whether the experiment changes ``step`` for some arm."""
        return self.whole or any(step in arm.overrides for arm in self.arms)


@dataclass(frozen=True)
class Strategy:
    """A validated strategy document."""

    name: str
    steps: tuple[Step, ...]
    experiments: tuple[Experiment, ...] = ()
    label: str = ""

    def step(self, name: str) -> Step | None:
        """The champion step called ``name``."""
        return next((step for step in self.steps if step.name == name), None)

    def all_steps(self) -> tuple[Step, ...]:
        """Every step any arm may run: the champion's, then each challenger's own."""
        found = {step.name: step for step in self.steps}
        for experiment in self.experiments:
            for arm in experiment.arms:
                for step in arm.steps or ():
                    found.setdefault(step.name, step)
        return tuple(found.values())


class StrategyError(ValueError):
    """A strategy document is invalid; ``problems`` names each key at fault."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


# Reading and validating --------------------------------------------------------------------


def default_document() -> dict[str, Any]:
    """The shipped default strategy, as a table."""
    text = resources.files("negotiation").joinpath(DEFAULT_FILE).read_text("utf-8")
    return tomllib.loads(text)


def read_document(path: Path | str) -> dict[str, Any]:
    """A strategy file: TOML, or JSON when it ends in ``.json``."""
    raw = Path(path).read_bytes()
    if str(path).endswith(".json"):
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise StrategyError([f"{path}: must hold a table"])
        return loaded
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise StrategyError([f"{path}: not valid TOML ({error})"]) from error


def canonical(document: Mapping[str, Any]) -> str:
    """The document as canonical JSON: what a version stores and its digest covers."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)


def digest(document: Mapping[str, Any]) -> str:
    """The SHA-256 of the canonical document: the same strategy is the same version."""
    return hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()


def load_strategy(document: Mapping[str, Any]) -> Strategy:
    """Validate a strategy document. Raises ``StrategyError`` naming every problem."""
    problems: list[str] = []
    name = _name(document.get("name", "default"), "name", problems)
    label = _text(document.get("label", ""), "label", problems)
    steps = _steps(document.get("steps"), "steps", problems)
    champion = {step.name for step in steps}
    experiments = tuple(
        _experiment(raw, f"experiments[{index}]", champion, problems)
        for index, raw in enumerate(_list(document.get("experiments", []), "experiments", problems))
    )
    _check_experiments(experiments, champion, problems)
    unknown = set(document) - {"name", "label", "steps", "experiments"}
    problems += [f"{key}: unknown key" for key in sorted(unknown)]
    if problems:
        raise StrategyError(problems)
    return Strategy(name, steps, experiments, label)


def _list(value: Any, where: str, problems: list[str]) -> list[Any]:
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list")
        return []
    return value


def _name(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        problems.append(
            f"{where}: must be a name of lower-case letters, digits, - and _ (at most 48)"
        )
        return "invalid"
    return value


def _text(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or len(value) > 200:
        problems.append(f"{where}: must be text of at most 200 characters")
        return ""
    return value


def _steps(value: Any, where: str, problems: list[str]) -> tuple[Step, ...]:
    raw_steps = _list(value, where, problems)
    if isinstance(value, list) and not value:
        problems.append(f"{where}: a strategy needs at least one step")
    steps = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(name, str) and name in seen:
            problems.append(f"{where}[{index}].name: {name!r} is used twice")
        if isinstance(name, str):
            seen.add(name)
        step = _step(raw, f"{where}[{index}]", problems)
        if step is not None:
            steps.append(step)
    return tuple(steps)


STEP_KEYS = frozenset({"name", "event", "days", "channels", "template", "when", "send_at", "label"})
WHEN_KEYS = frozenset(
    {
        "stages",
        "markets",
        "currencies",
        "arrears_at_least",
        "arrears_below",
        "has_plan",
        "has_open_promise",
        "not_opened_within_days",
    }
)


def _step(raw: Any, where: str, problems: list[str]) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    problems += [f"{where}.{key}: unknown key" for key in sorted(set(raw) - STEP_KEYS)]
    name = _name(raw.get("name"), f"{where}.name", problems)
    event = _enum(Event, raw.get("event"), f"{where}.event", problems)
    days = _days(raw.get("days"), f"{where}.days", problems)
    channels = _channels(raw.get("channels"), f"{where}.channels", problems)
    template = _enum(Template, raw.get("template", "reminder"), f"{where}.template", problems)
    when = _when(raw.get("when", {}), f"{where}.when", event, problems)
    send_at = _send_at(raw.get("send_at", "10:00"), f"{where}.send_at", problems)
    label = _text(raw.get("label", ""), f"{where}.label", problems)
    if event is Event.OVERDUE and days is not None and days < 1:
        problems.append(f"{where}.days: an overdue step starts on day 1 or later")
    if template is Template.COURTESY and event not in (Event.BEFORE_DUE, Event.PLAN_DUE, None):
        problems.append(f"{where}.template: a courtesy reminder is for before a due date only")
    if event is Event.BEFORE_DUE and template is not None and template is not Template.COURTESY:
        problems.append(f"{where}.template: before a due date only a courtesy reminder goes")
    if event is Event.STAGE_ENTRY and when is not None and not when.stages:
        problems.append(f"{where}.when.stages: a stage_entry step names the stage it is for")
    if len(problems) > before or event is None or days is None or template is None:
        return None
    if when is None:  # only None when a problem was added, which returned above
        return None
    return Step(name, event, days, channels, template, when, send_at, label)


def _enum(kind: type[E], value: Any, where: str, problems: list[str]) -> E | None:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        problems.append(f"{where}: {value!r} is not one of {choices}")
        return None


def _days(value: Any, where: str, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OFFSET_DAYS:
        problems.append(f"{where}: must be a whole number of days from 0 to {MAX_OFFSET_DAYS}")
        return None
    return value


def _channels(value: Any, where: str, problems: list[str]) -> tuple[StepChannel, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        problems.append(
            f"{where}: must list one channel or more (sms, email, letter, call, line, wechat)"
        )
        return ()
    found = []
    for index, item in enumerate(value):
        channel = _enum(StepChannel, item, f"{where}[{index}]", problems)
        if channel is not None:
            if channel in found:
                problems.append(f"{where}[{index}]: {channel} is listed twice")
            found.append(channel)
    return tuple(found)


def _send_at(value: Any, where: str, problems: list[str]) -> time | None:
    if value == "last_opened":
        return None
    if isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    problems.append(f'{where}: must be a local time HH:MM or "last_opened"')
    return DEFAULT_SEND_AT


def _when(raw: Any, where: str, event: Event | None, problems: list[str]) -> When | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    problems += [f"{where}.{key}: unknown key" for key in sorted(set(raw) - WHEN_KEYS)]
    stages = _set_of(raw, "stages", where, problems, {stage.value for stage in Stage})
    markets = _set_of(raw, "markets", where, problems, set(COUNTRIES))
    currencies = _set_of(raw, "currencies", where, problems, None)
    has_plan = _flag(raw, "has_plan", where, problems)
    promise = _flag(raw, "has_open_promise", where, problems)
    if promise is None and event is not None and event.is_collection:
        # An open promise suppresses overdue reminders unless the step says otherwise.
        promise = False
    if has_plan is None and event in (Event.PLAN_DUE, Event.PLAN_MISSED, Event.PLAN_AT_RISK):
        has_plan = True
    if has_plan is None and event is not None and event.is_collection:
        # A plan in force pauses collection: no overdue reminder unless a step says so.
        has_plan = False
    opened = raw.get("not_opened_within_days")
    if opened is not None:
        opened = _days(opened, f"{where}.not_opened_within_days", problems)
    return When(
        stages=(
            frozenset(Stage(stage) for stage in stages if stage in set(Stage))
            if stages is not None
            else None
        ),
        markets=markets,
        currencies=currencies,
        arrears_at_least=_band(raw, "arrears_at_least", where, problems),
        arrears_below=_band(raw, "arrears_below", where, problems),
        has_plan=has_plan,
        has_open_promise=promise,
        not_opened_within_days=opened,
    )


def _set_of(
    raw: Mapping[str, Any], key: str, where: str, problems: list[str], allowed: set[str] | None
) -> frozenset[str] | None:
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}.{key}: must be a list of one or more names")
        return None
    if allowed is not None:
        wrong = sorted(set(value) - allowed)
        if wrong:
            problems.append(
                f"{where}.{key}: {', '.join(wrong)} not among {', '.join(sorted(allowed))}"
            )
    if allowed is None and not all(re.fullmatch(r"[A-Z]{3}", v) for v in value):
        problems.append(f"{where}.{key}: currencies are ISO 4217 codes (TWD, CNY, HKD, USD)")
    return frozenset(value)


def _flag(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        problems.append(f"{where}.{key}: must be true or false")
        return None
    return value


def _band(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> dict[str, int]:
    value = raw.get(key, {})
    ok = isinstance(value, Mapping) and all(
        isinstance(currency, str)
        and re.fullmatch(r"[A-Z]{3}", currency)
        and isinstance(amount, int)
        and not isinstance(amount, bool)
        and amount >= 0
        for currency, amount in value.items()
    )
    if not ok:
        problems.append(
            f"{where}.{key}: must map currencies to whole amounts in the minor unit, "
            "e.g. {{ TWD = 500000 }}"
        )
        return {}
    return dict(value)


ARM_KEYS = frozenset({"name", "weight", "steps", "strategy", "label"})
OVERRIDABLE = frozenset({"days", "channels", "template", "send_at", "label"})


def _experiment(raw: Any, where: str, champion: set[str], problems: list[str]) -> Experiment:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return Experiment("invalid", ())
    problems += [
        f"{where}.{key}: unknown key" for key in sorted(set(raw) - {"name", "arms", "label"})
    ]
    name = _name(raw.get("name"), f"{where}.name", problems)
    arms = []
    for index, arm in enumerate(_list(raw.get("arms"), f"{where}.arms", problems)):
        arms.append(_arm(arm, f"{where}.arms[{index}]", champion, problems))
    if len(arms) < 2:
        problems.append(f"{where}.arms: an experiment needs a champion and a challenger")
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        problems.append(f"{where}.arms: arm names must differ")
    if arms and (arms[0].overrides or arms[0].steps is not None):
        problems.append(f"{where}.arms[0]: the first arm is the champion: it changes nothing")
    return Experiment(name, tuple(arms), _text(raw.get("label", ""), f"{where}.label", problems))


def _arm(raw: Any, where: str, champion: set[str], problems: list[str]) -> Arm:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return Arm("invalid", 0)
    problems += [f"{where}.{key}: unknown key" for key in sorted(set(raw) - ARM_KEYS)]
    name = _name(raw.get("name"), f"{where}.name", problems)
    weight = raw.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
        problems.append(f"{where}.weight: must be a whole percentage from 1 to 100")
        weight = 0
    if "strategy" in raw:
        steps = _steps(raw["strategy"], f"{where}.strategy", problems)
        return Arm(name, weight, {}, steps)
    overrides: dict[str, Mapping[str, Any]] = {}
    raw_overrides = raw.get("steps", {})
    if not isinstance(raw_overrides, Mapping):
        problems.append(f"{where}.steps: must map champion step names to changed fields")
        raw_overrides = {}
    for step_name, changes in raw_overrides.items():
        at = f"{where}.steps.{step_name}"
        if step_name not in champion:
            problems.append(f"{at}: no champion step has this name")
            continue
        if not isinstance(changes, Mapping) or not changes:
            problems.append(f"{at}: must change one of {', '.join(sorted(OVERRIDABLE))}")
            continue
        problems += [
            f"{at}.{key}: only {', '.join(sorted(OVERRIDABLE))} may vary"
            for key in sorted(set(changes) - OVERRIDABLE)
        ]
        overrides[step_name] = dict(changes)
    return Arm(name, weight, overrides)


def _check_experiments(
    experiments: tuple[Experiment, ...], champion: set[str], problems: list[str]
) -> None:
    names = [experiment.name for experiment in experiments]
    if len(set(names)) != len(names):
        problems.append("experiments: names must differ")
    for index, experiment in enumerate(experiments):
        total = sum(arm.weight for arm in experiment.arms)
        if experiment.arms and total != 100:
            problems.append(f"experiments[{index}].arms: weights add up to {total}, not 100")
    if any(experiment.whole for experiment in experiments) and len(experiments) > 1:
        problems.append(
            "experiments: a whole challenger strategy is tested alone (end the other "
            "experiments first)"
        )
    claimed: dict[str, str] = {}
    for experiment in experiments:
        for arm in experiment.arms:
            for step in arm.overrides:
                owner = claimed.setdefault(step, experiment.name)
                if owner != experiment.name:
                    problems.append(
                        f"experiments: step {step!r} is varied by both {owner!r} and "
                        f"{experiment.name!r}"
                    )
    # Overrides must themselves make valid steps.
    for index, experiment in enumerate(experiments):
        for arm_index, arm in enumerate(experiment.arms):
            for step_name, changes in arm.overrides.items():
                where = f"experiments[{index}].arms[{arm_index}].steps.{step_name}"
                _overridden_raw(changes, where, problems)


def _overridden_raw(changes: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if "days" in changes:
        _days(changes["days"], f"{where}.days", problems)
    if "channels" in changes:
        _channels(changes["channels"], f"{where}.channels", problems)
    if "template" in changes:
        _enum(Template, changes["template"], f"{where}.template", problems)
    if "send_at" in changes:
        _send_at(changes["send_at"], f"{where}.send_at", problems)


# Arms ---------------------------------------------------------------------------------------


def arm_for(experiment: Experiment, case_id: int) -> Arm:
    """The arm of ``experiment`` a case belongs to: a stable hash of the experiment's name
    and the case, spread over the arms in proportion to their weights. The same case is
    always in the same arm; another experiment's arms are independent of this one's."""
    seed = hashlib.sha256(f"{experiment.name}:{case_id}".encode()).digest()
    point = int.from_bytes(seed[:8], "big") * 100 >> 64  # 0..99, uniform to within 2**-57
    reached = 0
    for arm in experiment.arms:
        reached += arm.weight
        if point < reached:
            return arm
    return experiment.arms[-1]


def steps_for(strategy: Strategy, arms: Mapping[str, str]) -> dict[str, tuple[Step, str | None]]:
    """The steps a case in ``arms`` (experiment name to arm name) runs, by name, each
    with the experiment arm that shaped it (``"experiment:arm"``) or None."""
    steps: dict[str, tuple[Step, str | None]] = {step.name: (step, None) for step in strategy.steps}
    for experiment in strategy.experiments:
        chosen = next(
            (arm for arm in experiment.arms if arm.name == arms.get(experiment.name)),
            experiment.champion,
        )
        tag = f"{experiment.name}:{chosen.name}"
        if experiment.whole:
            own = chosen.steps if chosen.steps is not None else strategy.steps
            return {step.name: (step, tag) for step in own}
        for step_name in {name for arm in experiment.arms for name in arm.overrides}:
            base = steps[step_name][0]
            steps[step_name] = (vary(base, chosen.overrides.get(step_name, {})), tag)
    return steps


def vary(step: Step, changes: Mapping[str, Any]) -> Step:
    """A champion step with an arm's changes (already validated)."""
    problems: list[str] = []
    updated = step
    if "days" in changes:
        updated = replace(updated, days=int(changes["days"]))
    if "channels" in changes:
        updated = replace(updated, channels=_channels(changes["channels"], "", problems))
    if "template" in changes:
        updated = replace(updated, template=Template(changes["template"]))
    if "send_at" in changes:
        updated = replace(updated, send_at=_send_at(changes["send_at"], "", problems))
    if "label" in changes:
        updated = replace(updated, label=str(changes["label"]))
    return updated


def promoted(document: Mapping[str, Any], experiment: str, arm: str) -> dict[str, Any]:
    """The document with ``arm`` of ``experiment`` made the champion and the experiment
    ended: its steps (or its changes to steps) become the strategy's own."""
    strategy = load_strategy(document)
    found = next((e for e in strategy.experiments if e.name == experiment), None)
    if found is None:
        raise StrategyError([f"experiments: no experiment {experiment!r}"])
    chosen = next((a for a in found.arms if a.name == arm), None)
    if chosen is None:
        raise StrategyError([f"experiments.{experiment}: no arm {arm!r}"])
    new = json.loads(canonical(document))
    raw = next(e for e in new.get("experiments", []) if e.get("name") == experiment)
    raw_arm = next(a for a in raw["arms"] if a.get("name") == arm)
    if "strategy" in raw_arm:
        new["steps"] = raw_arm["strategy"]
    else:
        for raw_step in new["steps"]:
            raw_step.update(raw_arm.get("steps", {}).get(raw_step["name"], {}))
    new["experiments"] = [e for e in new["experiments"] if e.get("name") != experiment]
    load_strategy(new)
    return dict(new)


# Timing and matching ---------------------------------------------------------------------------


def event_window(step: Step, as_of: date, catch_up: int = CATCH_UP_DAYS) -> tuple[date, date]:
    """The event dates (due dates for the events counted before, else the day the event
    happened) for which ``step`` is due on ``as_of``, a missed run's days included."""
    if step.event.counts_before:
        last = as_of + timedelta(days=step.days)
        return last - timedelta(days=catch_up), last
    last = as_of - timedelta(days=step.days)
    return last - timedelta(days=catch_up), last


def planned_moment(
    step: Step, as_of: date, zone: str, now: datetime, opened_hour: int | None = None
) -> datetime:
    """When a step's message is wanted: ``as_of`` at the step's local time where the
    borrower lives (the hour they last opened a link, for ``last_opened``), or now if
    that has passed. The contact rules may move it later, never earlier."""
    wanted = step.send_at
    if wanted is None:
        wanted = time(opened_hour) if opened_hour is not None else DEFAULT_SEND_AT
    local = datetime.combine(as_of, wanted, tzinfo=ZoneInfo(zone))
    return max(local, now)


@dataclass(frozen=True)
class CaseFacts:
    """What a step's conditions read about one case on the day."""

    stage: Stage
    market: str
    currency: str
    arrears: int
    has_plan: bool
    has_open_promise: bool
    resolved: bool = False
    last_opened: date | None = None


def mismatch(step: Step, facts: CaseFacts, as_of: date) -> Skip | None:
    """Why ``step`` does not go to a case with ``facts`` on ``as_of``; None when it does."""
    when = step.when
    checks: list[tuple[bool, Skip]] = [
        (facts.resolved, Skip.RESOLVED),
        (when.stages is not None and facts.stage not in when.stages, Skip.STAGE),
        (when.markets is not None and facts.market not in when.markets, Skip.MARKET),
        (when.currencies is not None and facts.currency not in when.currencies, Skip.CURRENCY),
        (not _in_band(when, facts), Skip.AMOUNT_BAND),
        (when.has_plan is False and facts.has_plan, Skip.HAS_PLAN),
        (when.has_plan is True and not facts.has_plan, Skip.NO_PLAN),
        (when.has_open_promise is False and facts.has_open_promise, Skip.OPEN_PROMISE),
        (when.has_open_promise is True and not facts.has_open_promise, Skip.NO_PROMISE),
        (_opened_recently(when, facts, as_of), Skip.OPENED),
        (step.event.is_collection and facts.arrears <= 0, Skip.NOTHING_OWED),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _in_band(when: When, facts: CaseFacts) -> bool:
    low = when.arrears_at_least.get(facts.currency)
    high = when.arrears_below.get(facts.currency)
    return (low is None or facts.arrears >= low) and (high is None or facts.arrears < high)


def _opened_recently(when: When, facts: CaseFacts, as_of: date) -> bool:
    days = when.not_opened_within_days
    if days is None or facts.last_opened is None:
        return False
    return facts.last_opened > as_of - timedelta(days=days)
