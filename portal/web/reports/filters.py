"""The portfolio page's query string read into a period and a slice, as the queue's
``parse_filter`` reads its own: never raises; anything unusable is left out (or falls back
to the default period) with a sentence saying so in the request's language.

A period is a run of month pairs, each named by its first month-end (as
``portal.reporting.portfolio.month_ends`` lists them): ``from`` the first pair, ``to``
the last, both counted. By default the last twelve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.reporting.portfolio import Slice, SliceChoices
from portal.reporting.snapshots import month_end_of

# The default period: the last twelve month pairs (fewer when the history is shorter).
DEFAULT_PAIRS = 12
# The query's names of the slice's fields.
SLICE_KEYS: dict[str, str] = {
    "product": "product",
    "currency": "currency",
    "market": "market",
    "stage": "stage",
    "owner": "owner_id",
    "team": "team_id",
    "arm": "arm",
}
FIELD_LABELS: dict[str, Any] = {
    "from": _l("First month pair"),
    "to": _l("Last month pair"),
    "product": _l("Product"),
    "currency": _l("Currency"),
    "market": _l("Market"),
    "stage": _l("Stage"),
    "owner": _l("Owner"),
    "team": _l("Team"),
    "arm": _l("Strategy arm"),
}
# What is echoed back of a value typed into the address, at most.
SHOWN_CHARACTERS = 40


@dataclass(frozen=True)
class Period:
    """The month pairs chosen: ``first`` and ``last`` are their first month-ends (what
    the service counts, both included); ``until`` is the month-end the last pair ends on."""

    first: date
    last: date

    @property
    def until(self) -> date:
        """The month-end after ``last``: where the period's last pair ends."""
        return month_end_of(self.last + timedelta(days=1))


@dataclass(frozen=True)
class Chosen:
    """What the page shows: the period (None while there is no month pair yet) and the
    slice."""

    period: Period | None
    slice: Slice

    def to_args(self) -> dict[str, str]:
        """The query string that asks for this again (defaults left out but the period,
        so a link says which months it meant)."""
        arguments: dict[str, str] = {}
        if self.period is not None:
            arguments["from"] = self.period.first.isoformat()
            arguments["to"] = self.period.last.isoformat()
        for key, name in SLICE_KEYS.items():
            value = getattr(self.slice, name)
            if value is not None:
                arguments[key] = str(value)
        return arguments

    @property
    def slices_set(self) -> int:
        """How many slice fields narrow the book."""
        return sum(getattr(self.slice, f.name) is not None for f in fields(self.slice))


def choice_values(choices: SliceChoices) -> dict[str, dict[str, str]]:
    """Each slice field's choices as the query writes them, with what each value is
    called (codes as they are: the template puts the words on them)."""
    return {
        "product": {value: value for value in choices.products},
        "currency": {value: value for value in choices.currencies},
        "market": {value: value for value in choices.markets},
        "stage": {value: value for value in choices.stages},
        "owner": {str(member_id): name for member_id, name in choices.owners},
        "team": {str(team_id): name for team_id, name in choices.teams},
        "arm": {value: value for value in choices.arms},
    }


def _problem(key: str, value: str) -> str:
    shown = value if len(value) <= SHOWN_CHARACTERS else value[: SHOWN_CHARACTERS - 1] + "…"
    # gettext, not lazy_gettext: a lazy string counts as safe HTML in Jinja, and this one
    # carries what was typed.
    return _(
        "%(field)s: “%(value)s” is not one of the choices, so it was left out.",
        field=FIELD_LABELS[key],
        value=shown,
    )


def _month_end(raw: str, ends: list[date]) -> date | None:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if day in ends else None


def parse_choice(
    args: Mapping[str, str], ends: list[date], choices: SliceChoices
) -> tuple[Chosen, list[str]]:
    """The period and slice ``args`` ask for among the month-ends ``ends`` (ascending)
    and the slices' ``choices``, and the problems found (sentences in the request's
    language: call it inside a request). Never raises."""
    problems: list[str] = []
    offered = choice_values(choices)
    values: dict[str, Any] = {}
    for key, name in SLICE_KEYS.items():
        raw = (args.get(key) or "").strip()
        if not raw:
            continue
        if raw not in offered[key]:
            problems.append(_problem(key, raw))
            continue
        values[name] = int(raw) if key in ("owner", "team") else raw
    return Chosen(_period(args, ends, problems), Slice(**values)), problems


def _period(args: Mapping[str, str], ends: list[date], problems: list[str]) -> Period | None:
    """The chosen period, the default one for what is missing or wrong; None when no
    month pair is counted yet."""
    if not ends:
        return None
    picked: dict[str, date | None] = {}
    for key in ("from", "to"):
        raw = (args.get(key) or "").strip()
        picked[key] = _month_end(raw, ends) if raw else None
        if raw and picked[key] is None:
            problems.append(_problem(key, raw))
    last = picked["to"] or ends[-1]
    default_first = ends[max(ends.index(last) - DEFAULT_PAIRS + 1, 0)]
    first = picked["from"] or default_first
    if first > last:
        problems.append(
            _(
                "The first month pair comes after the last, so the twelve pairs up to "
                "the last are shown."
            )
        )
        first = default_first
    return Period(first=first, last=last)
